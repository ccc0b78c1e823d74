//! No promise without an action, end to end: a customer's refund request answered by the real
//! agent service becomes a ticket and a follow-up task whose FollowUpTask timer runs on the real
//! worker; operators manage tickets and tasks through the API, a task's timer announces
//! `task.due` once (and not for a task completed in time), and another tenant's or a viewer's
//! requests change nothing.

use super::*;

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PATCH, path, token, Some(body)).await
}

/// RFC 3339, `seconds` from the database's now.
async fn in_seconds(app: &TestApp, seconds: f64) -> String {
    let at: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT now() + make_interval(secs => $1)")
            .bind(seconds)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    at.to_rfc3339()
}

async fn notified(app: &TestApp, task: &str) -> bool {
    let (_, task) = app.get(&format!("/api/v1/tasks/{task}")).await;
    !task["notified_at"].is_null()
}

async fn due_events(app: &TestApp, task: &str) -> usize {
    app.outbox()
        .await
        .iter()
        .filter(|(t, p)| t == "task.due" && p["task_id"] == task)
        .count()
}

#[tokio::test]
async fn a_refund_request_becomes_a_ticket_with_a_timed_follow_up_and_a_handoff() {
    let (app, agents) = support::ai_app(
        json!({"debounce_ms": 0, "ai": {"agent_type": "RouterAgent", "confidence_threshold": 0.3}}),
    )
    .await;
    app.customer_writes(
        "5511999990401@c.us",
        text("O produto veio quebrado, quero meu dinheiro de volta"),
        1,
        false,
    )
    .await;
    let sent = app.wait_outbound(1, "read", WAIT).await;
    let body: String = sqlx::query_scalar("SELECT body FROM messages WHERE id = $1")
        .bind(sent[0].0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        body.to_lowercase()
            .contains("registrei o seu pedido de reembolso"),
        "{body}"
    );
    let conversation = app.only_conversation().await;
    let session = conversation["id"].as_str().unwrap();
    // What the reply says was recorded is a ticket, linked to the conversation and the run.
    let tickets = eventually("the ticket", WAIT, || async {
        let (_, page) = app
            .get(&format!("/api/v1/tickets?session_id={session}"))
            .await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        (!items.is_empty()).then_some(items)
    })
    .await;
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    let ticket = &tickets[0];
    assert_eq!(ticket["kind"], "refund");
    assert_eq!(ticket["status"], "open");
    assert_eq!(ticket["subject"], "Pedido de reembolso");
    assert_eq!(ticket["language"], "pt");
    assert_eq!(ticket["created_by"], "agent:RefundAgent");
    assert_eq!(ticket["contact_id"], conversation["contact_id"]);
    assert_eq!(
        ticket["agent_run_id"].as_str(),
        Some(sent[0].0.to_string().as_str())
    );
    // Its follow-up: due in four hours, timed by a FollowUpTask workflow that is waiting for it.
    let ticket_id = ticket["id"].as_str().unwrap();
    let (_, tasks) = app
        .get(&format!("/api/v1/tasks?ticket_id={ticket_id}"))
        .await;
    let task = &tasks["items"][0];
    assert_eq!(task["status"], "open", "{tasks}");
    assert!(
        task["title"].as_str().unwrap().contains("reembolso"),
        "{task}"
    );
    let due = chrono::DateTime::parse_from_rfc3339(task["due_at"].as_str().unwrap()).unwrap();
    let ahead = due.signed_duration_since(chrono::Utc::now()).num_minutes();
    assert!((230..=240).contains(&ahead), "due in {ahead} minutes");
    let task_id: Uuid = task["id"].as_str().unwrap().parse().unwrap();
    let workflow_id = ventros_workflows::ids::follow_up_task_workflow_id(app.tenant_id, task_id);
    let waiting: Option<i64> = eventually("the task's timer", WAIT, || async {
        let handle = app
            .temporal
            .get_workflow_handle::<ventros_workflows::FollowUpTask>(workflow_id.clone());
        handle
            .query(
                ventros_workflows::FollowUpTask::state,
                (),
                temporalio_client::WorkflowQueryOptions::default(),
            )
            .await
            .ok()
            .flatten()
            .map(Some)
    })
    .await;
    assert_eq!(waiting, Some(due.timestamp_millis()));
    // And the chat is with a person, who sees the ticket in the queue.
    eventually("handed to a person", WAIT, || async {
        let assigned: String = sqlx::query_scalar("SELECT assigned_to FROM conversation_sessions")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        (assigned == "human").then_some(())
    })
    .await;
    let events: Vec<String> = app.outbox().await.into_iter().map(|(t, _)| t).collect();
    assert!(
        events.contains(&"ticket.opened".into()) && events.contains(&"task.created".into()),
        "{events:?}"
    );
    drop(agents);
}

#[tokio::test]
async fn operators_manage_tickets_and_tasks_whose_timers_announce_them_once() {
    let app = TestApp::spawn(quiet_settings()).await;
    let (status, contact) = app
        .post("/api/v1/contacts", json!({"display_name": "Ana"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    let contact_id = contact["id"].as_str().unwrap();

    // Bad input: a clear 422 and nothing recorded.
    for bad in [
        json!({"contact_id": contact_id, "kind": "lawsuit", "subject": "x"}),
        json!({"contact_id": contact_id, "kind": "refund", "subject": "  "}),
        json!({"contact_id": Uuid::now_v7(), "kind": "refund", "subject": "x"}),
        json!({"contact_id": contact_id, "kind": "refund", "subject": "x", "assignee_id": Uuid::now_v7()}),
    ] {
        let (status, problem) = app.post("/api/v1/tickets", bad.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad} → {problem}"
        );
    }
    assert_eq!(app.count("tickets").await, 0);
    let (status, ticket) = app
        .post(
            "/api/v1/tickets",
            json!({"contact_id": contact_id, "kind": "support", "subject": "Impressora não liga"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    let ticket_path = format!("/api/v1/tickets/{}", ticket["id"].as_str().unwrap());

    // A viewer reads but changes nothing; another tenant does not even see it.
    let viewer = create_user(&app, "viewer@example.com", "viewer").await;
    let (status, _) = app.call(Method::GET, &ticket_path, &viewer, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = patch(&app, &ticket_path, &viewer, json!({"status": "resolved"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, other) = ventros_api::auth::create_tenant(&app.pool, "Other")
        .await
        .unwrap();
    let (status, _) = app
        .call(Method::GET, &ticket_path, &other.secret, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = patch(
        &app,
        &ticket_path,
        &other.secret,
        json!({"status": "closed"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/tasks",
            &other.secret,
            Some(json!({"title": "x", "due_at": in_seconds(&app, 60.0).await, "ticket_id": ticket["id"]})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another tenant's ticket is unknown"
    );

    // Resolving stamps it; reopening clears the stamp.
    let (status, resolved) = app
        .call(
            Method::PATCH,
            &ticket_path,
            &app.api_key,
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert!(!resolved["resolved_at"].is_null());
    let (_, reopened) = patch(
        &app,
        &ticket_path,
        &app.api_key,
        json!({"status": "in_progress"}),
    )
    .await;
    assert!(reopened["resolved_at"].is_null(), "{reopened}");
    let (status, _) = app.get("/api/v1/tickets?status=active").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/api/v1/tickets?status=someday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Tasks: a due time in the past or beyond 30 days is refused.
    for due in [-3600.0, 31.0 * 86400.0] {
        let (status, problem) = app
            .post(
                "/api/v1/tasks",
                json!({"title": "Ligar", "due_at": in_seconds(&app, due).await, "ticket_id": ticket["id"]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    }
    // One due in two seconds fires once; one completed before its due time never does; one moved
    // from an hour ahead to a second ahead fires at the new time.
    let (status, soon) = app
        .post(
            "/api/v1/tasks",
            json!({"title": "Ligar para a Ana", "due_at": in_seconds(&app, 2.0).await, "ticket_id": ticket["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{soon}");
    assert_eq!(soon["contact_id"], contact["id"], "the ticket's contact");
    let (_, done) = app
        .post(
            "/api/v1/tasks",
            json!({"title": "Conferir estoque", "due_at": in_seconds(&app, 3.0).await, "contact_id": contact_id}),
        )
        .await;
    let (_, later) = app
        .post(
            "/api/v1/tasks",
            json!({"title": "Retornar", "due_at": in_seconds(&app, 3600.0).await, "contact_id": contact_id}),
        )
        .await;
    let (soon, done, later) = (
        soon["id"].as_str().unwrap().to_owned(),
        done["id"].as_str().unwrap().to_owned(),
        later["id"].as_str().unwrap().to_owned(),
    );
    let (status, _) = patch(
        &app,
        &format!("/api/v1/tasks/{done}"),
        &app.api_key,
        json!({"status": "done"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = patch(
        &app,
        &format!("/api/v1/tasks/{later}"),
        &app.api_key,
        json!({"due_at": in_seconds(&app, 1.0).await}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    eventually("both open tasks announced", WAIT, || async {
        (notified(&app, &soon).await && notified(&app, &later).await).then_some(())
    })
    .await;
    assert_eq!(due_events(&app, &soon).await, 1);
    assert_eq!(due_events(&app, &later).await, 1);
    // The completed task's timer ended without a word.
    let workflow_id =
        ventros_workflows::ids::follow_up_task_workflow_id(app.tenant_id, done.parse().unwrap());
    eventually("the completed task's timer finished", WAIT, || async {
        let handle = app
            .temporal
            .get_workflow_handle::<ventros_workflows::FollowUpTask>(workflow_id.clone());
        handle.get_result(Default::default()).await.ok().map(|_| ())
    })
    .await;
    assert!(!notified(&app, &done).await);
    assert_eq!(due_events(&app, &done).await, 0);
    app.record_history(&workflow_id, "follow-up-task-completed")
        .await;
    let moved =
        ventros_workflows::ids::follow_up_task_workflow_id(app.tenant_id, later.parse().unwrap());
    eventually("the moved task's timer finished", WAIT, || async {
        app.temporal
            .get_workflow_handle::<ventros_workflows::FollowUpTask>(moved.clone())
            .get_result(Default::default())
            .await
            .ok()
    })
    .await;
    app.record_history(&moved, "follow-up-task-moved").await;
    let (_, open) = app.get("/api/v1/tasks?status=open&sort=due_at").await;
    let items = open["items"].as_array().unwrap();
    let mut titles: Vec<&str> = items.iter().map(|t| t["title"].as_str().unwrap()).collect();
    let dues: Vec<&str> = items
        .iter()
        .map(|t| t["due_at"].as_str().unwrap())
        .collect();
    assert!(
        dues.is_sorted_by(|a, b| chrono::DateTime::parse_from_rfc3339(a).unwrap()
            <= chrono::DateTime::parse_from_rfc3339(b).unwrap()),
        "{dues:?}"
    );
    titles.sort();
    assert_eq!(
        titles,
        ["Ligar para a Ana", "Retornar"],
        "the completed one is not open"
    );
}

/// Every commitment a reply makes, in every language, is something the system did: walked through
/// WhatsApp, the Conversation workflow, the real agent service and the worker's execution of the
/// actions, then read back from the database (not from what the agent suggested).
#[tokio::test]
async fn every_commitment_in_every_language_is_an_executed_record() {
    let (app, agents) = support::ai_app(
        json!({"debounce_ms": 0, "ai": {"agent_type": "RouterAgent", "confidence_threshold": 0.3}}),
    )
    .await;
    let messages = [
        ("pt", "O produto veio quebrado, quero meu dinheiro de volta"),
        ("pt", "Quero cancelar minha assinatura"),
        ("pt", "O aplicativo parou de funcionar e dá erro ao entrar"),
        ("pt", "Péssimo atendimento, estou muito insatisfeito"),
        ("pt", "Oi, quero comprar o café especial"),
        ("en", "The product arrived broken, I want a refund"),
        ("en", "I want to cancel my subscription"),
        (
            "en",
            "The app stopped working and shows an error when I log in",
        ),
        ("en", "This is unacceptable, terrible service"),
        ("en", "Hi, I want to buy the specialty coffee"),
        (
            "es",
            "El producto llegó roto, quiero que me devuelvan el dinero",
        ),
        ("es", "Quiero cancelar mi suscripción"),
        (
            "es",
            "La aplicación dejó de funcionar y da un error al entrar",
        ),
        ("es", "Es inaceptable, un servicio pésimo"),
        ("es", "Hola, quiero comprar el café especial"),
    ];
    for (i, (_, message)) in messages.iter().enumerate() {
        app.customer_writes(&format!("55119999905{i:02}@c.us"), text(message), 1, false)
            .await;
    }
    app.wait_outbound(messages.len(), "read", WAIT).await;
    // The phrases that commit to something, and what must exist for each (replies.COMMITMENTS).
    let handoff = [
        "encaminhei",
        "passando a sua conversa",
        "passed your",
        "passed it",
        "passing your",
        "pasé",
        "pasando tu",
        "lo pasé",
        "la pasé",
        "les pasé",
    ];
    let ticket = [
        "registrei o seu pedido",
        "abri um chamado",
        "recorded your",
        "opened a ticket",
        "registré tu solicitud",
        "abrí un ticket",
    ];
    let lead = [
        "registrei o seu interesse",
        "registered your interest",
        "registré tu interés",
    ];
    let mut checked = std::collections::BTreeMap::<&str, usize>::new();
    for (i, (lang, message)) in messages.iter().enumerate() {
        let chat = format!("55119999905{i:02}@c.us");
        let (session, contact, reply, language): (Uuid, Uuid, String, Option<String>) =
            sqlx::query_as(
                "SELECT s.id, s.contact_id, m.body, s.language FROM messages m
               JOIN conversation_sessions s ON s.id = m.session_id
               JOIN contact_identities ci ON ci.contact_id = s.contact_id
              WHERE m.direction = 'outbound' AND ci.external_id = $1",
            )
            .bind(&chat)
            .fetch_one(&app.pool)
            .await
            .unwrap_or_else(|e| panic!("{message}: {e}"));
        assert_eq!(language.as_deref(), Some(*lang), "{message} → {reply}");
        let said = reply.to_lowercase();
        let says = |phrases: &[&str]| phrases.iter().any(|p| said.contains(p));
        if says(&handoff) {
            eventually(&format!("{message}: handed over as said"), WAIT, || async {
                let assigned: String = sqlx::query_scalar(
                    "SELECT assigned_to FROM conversation_sessions WHERE id = $1",
                )
                .bind(session)
                .fetch_one(&app.pool)
                .await
                .unwrap();
                (assigned == "human").then_some(())
            })
            .await;
            *checked.entry("handoff").or_default() += 1;
        }
        if says(&ticket) {
            eventually(&format!("{message}: the ticket it said was recorded"), WAIT, || async {
                let tickets: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM tickets t JOIN tasks k ON k.ticket_id = t.id WHERE t.session_id = $1",
                )
                .bind(session)
                .fetch_one(&app.pool)
                .await
                .unwrap();
                (tickets == 1).then_some(())
            })
            .await;
            *checked.entry("ticket").or_default() += 1;
        }
        if says(&lead) {
            eventually(
                &format!("{message}: the lead it said was registered"),
                WAIT,
                || async {
                    let deals: i64 =
                        sqlx::query_scalar("SELECT count(*) FROM deals WHERE contact_id = $1")
                            .bind(contact)
                            .fetch_one(&app.pool)
                            .await
                            .unwrap();
                    (deals >= 1).then_some(())
                },
            )
            .await;
            *checked.entry("lead").or_default() += 1;
        }
    }
    // Each kind of commitment was made in each language, so none of the checks above was vacuous.
    assert!(
        checked["ticket"] >= 9 && checked["lead"] >= 3 && checked["handoff"] >= 12,
        "{checked:?}"
    );
    drop(agents);
}
