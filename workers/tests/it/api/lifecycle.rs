//! A conversation's lifecycle for the team, through the API and the chat's Conversation workflow:
//! pending and snoozed chats come back when the customer writes or (snooze) by a durable timer,
//! resolve closes the session, reopen and an operator's reply bring it back; an operator starts
//! conversations; search finds them by name, phone and Portuguese words.

use super::*;

/// The conversation's row as the inbox reads it.
async fn conversation(app: &TestApp, id: &str) -> Value {
    let (status, c) = app.get(&format!("/api/v1/conversations/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    c
}

async fn in_state(app: &TestApp, id: &str, state: &str) -> Value {
    eventually(&format!("conversation {state}"), WAIT, || async {
        let c = conversation(app, id).await;
        (c["state"] == state).then_some(c)
    })
    .await
}

/// Waits until the `session.state_changed` events include `change` (`state:cause`) `times` times:
/// a short snooze may end before a poll could see it, its events never do.
async fn changed(app: &TestApp, change: &str, times: usize) {
    eventually(&format!("{times} × {change}"), WAIT, || async {
        let seen = state_changes(app)
            .await
            .iter()
            .filter(|c| *c == change)
            .count();
        (seen >= times).then_some(())
    })
    .await;
}

/// The causes of the `session.state_changed` events so far, in order.
async fn state_changes(app: &TestApp) -> Vec<String> {
    app.outbox()
        .await
        .into_iter()
        .filter(|(t, _)| t == "session.state_changed")
        .map(|(_, p)| {
            format!(
                "{}:{}",
                p["state"].as_str().unwrap(),
                p["cause"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn pending_snooze_resolve_and_reopen_go_through_the_conversation_workflow() {
    let app = TestApp::spawn(quiet_settings()).await;
    let chat = "5511999990701@c.us";
    app.customer_writes(chat, text("Oi, preciso de ajuda com meu pedido"), 1, false)
        .await;
    let first = eventually("the conversation", WAIT, || async {
        let (_, list) = app.get("/api/v1/conversations").await;
        list["items"].as_array().and_then(|i| i.first().cloned())
    })
    .await;
    let id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(first["state"], "open");
    let path = |action: &str| format!("/api/v1/conversations/{id}/{action}");

    // Bad input and strangers change nothing.
    let past = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let (status, problem) = app.post(&path("snooze"), json!({"until": past})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let far = (chrono::Utc::now() + chrono::Duration::days(400)).to_rfc3339();
    let (status, _) = app.post(&path("snooze"), json!({"until": far})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post(&path("snooze"), json!({"until": "tomorrow"}))
        .await;
    assert!(status.is_client_error(), "{status}");
    let viewer = create_user(&app, "viewer@example.com", "viewer").await;
    let (status, _) = app
        .call(Method::POST, &path("resolve"), &viewer, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, other) = ventros_api::auth::create_tenant(&app.pool, "Other")
        .await
        .unwrap();
    for action in ["resolve", "reopen", "pending"] {
        let (status, _) = app
            .call(Method::POST, &path(action), &other.secret, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}");
    }
    let (status, _) = app.get("/api/v1/conversations?state=closed").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.get("/api/v1/conversations?q=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(conversation(&app, &id).await["state"], "open");
    assert!(state_changes(&app).await.is_empty(), "nothing changed");

    // Pending until the customer writes.
    let (status, accepted) = app.post(&path("pending"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["state"]["lifecycle"], "pending");
    in_state(&app, &id, "pending").await;
    let (_, counts) = app.get("/api/v1/conversations/counts").await;
    assert_eq!(
        (counts["open"].as_i64(), counts["pending"].as_i64()),
        (Some(0), Some(1)),
        "{counts}"
    );
    let (_, pending) = app.get("/api/v1/conversations?state=pending").await;
    assert_eq!(pending["items"][0]["id"], json!(id));
    app.customer_writes(chat, text("Alguma novidade?"), 1, false)
        .await;
    in_state(&app, &id, "open").await;

    // Snoozed for a few seconds: the workflow's timer brings it back by itself.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc3339();
    let (status, snoozed) = app.post(&path("snooze"), json!({"until": soon})).await;
    assert_eq!(status, StatusCode::OK, "{snoozed}");
    assert_eq!(snoozed["state"]["lifecycle"], "snoozed");
    changed(&app, "open:snooze_ended", 1).await;
    let back = in_state(&app, &id, "open").await;
    assert!(back["snoozed_until"].is_null(), "{back}");
    // Snoozed for an hour: the customer writing brings it back first.
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (status, _) = app.post(&path("snooze"), json!({"until": later})).await;
    assert_eq!(status, StatusCode::OK);
    in_state(&app, &id, "snoozed").await;
    app.customer_writes(chat, text("Oi de novo"), 1, false)
        .await;
    in_state(&app, &id, "open").await;
    assert_eq!(
        state_changes(&app).await,
        [
            "pending:operator",
            "open:customer_wrote",
            "snoozed:operator",
            "open:snooze_ended",
            "snoozed:operator",
            "open:customer_wrote"
        ]
    );

    // Resolved: the session closes; resolving again is harmless; other changes wait for a reopen.
    let (status, resolved) = app.post(&path("resolve"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    let row = in_state(&app, &id, "resolved").await;
    assert_eq!(row["status"], "closed");
    assert_eq!(row["close_reason"], "resolved");
    let (status, _) = app.post(&path("resolve"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = app.post(&path("pending"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let by: Option<String> =
        sqlx::query_scalar("SELECT resolved_by FROM conversation_sessions WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(by.unwrap().starts_with("api_key:"));

    // Reopened: the same conversation is open again, in a new run of the chat's workflow.
    let (status, reopened) = app.post(&path("reopen"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{reopened}");
    let row = in_state(&app, &id, "open").await;
    assert_eq!(row["status"], "open");
    let (status, _) = app.post(&path("resolve"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    in_state(&app, &id, "resolved").await;

    // An operator's reply to the resolved conversation reopens it and goes out in order.
    let (status, reply) = app
        .post(
            &path("messages"),
            json!({"text": "Seu pedido saiu para entrega."}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    eventually("the reply sent", WAIT, || async {
        (app.sent_to(chat) == ["Seu pedido saiu para entrega."]).then_some(())
    })
    .await;
    let row = in_state(&app, &id, "open").await;
    assert_eq!(row["status"], "open");
    let in_thread = row["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == reply["message_id"]);
    assert!(in_thread, "the reply is in the reopened conversation");
    // The reply restarted the chat's run, which holds the session: a snooze and a resolve reach it.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (status, _) = app.post(&path("snooze"), json!({"until": soon})).await;
    assert_eq!(status, StatusCode::OK);
    changed(&app, "open:snooze_ended", 2).await;
    in_state(&app, &id, "open").await;
    let (status, _) = app.post(&path("resolve"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    in_state(&app, &id, "resolved").await;
    let (_, counts) = app.get("/api/v1/conversations/counts").await;
    assert_eq!(counts["resolved"], 1, "{counts}");
    assert_eq!(
        app.count("conversation_sessions").await,
        1,
        "one conversation throughout"
    );
    let workflow_id = row["workflow_id"].as_str().unwrap().to_owned();
    eventually("the run finished", WAIT, || async {
        let desc = app
            .temporal
            .get_workflow_handle::<temporalio_client::UntypedWorkflow>(workflow_id.clone())
            .describe(temporalio_client::WorkflowDescribeOptions::default())
            .await
            .ok()?;
        (desc.status() != temporalio_client::WorkflowExecutionStatus::Running).then_some(())
    })
    .await;
    app.record_history(&workflow_id, "conversation-reply-reopens-snooze-resolve")
        .await;
}

#[tokio::test]
async fn an_operator_starts_conversations_and_search_finds_them() {
    let app = TestApp::spawn(quiet_settings()).await;
    let start = |body: Value| app.post("/api/v1/conversations", body);
    let channel = app.channel_id;

    // Bad input: refused with the reason, nothing recorded.
    let (_, other) = ventros_api::auth::create_tenant(&app.pool, "Other")
        .await
        .unwrap();
    for (body, why) in [
        (json!({"channel_id": channel, "text": "Oi"}), "neither"),
        (
            json!({"channel_id": channel, "phone": "+55 11 99999-0801", "contact_id": Uuid::now_v7(), "text": "Oi"}),
            "both",
        ),
        (
            json!({"channel_id": channel, "phone": "call me", "text": "Oi"}),
            "not a number",
        ),
        (
            json!({"channel_id": channel, "phone": "+55 11", "text": "Oi"}),
            "too short",
        ),
        (
            json!({"channel_id": channel, "phone": "+55 11 99999-0801", "text": "  "}),
            "empty",
        ),
        (
            json!({"channel_id": Uuid::now_v7(), "phone": "+55 11 99999-0801", "text": "Oi"}),
            "no channel",
        ),
        (
            json!({"channel_id": channel, "contact_id": Uuid::now_v7(), "text": "Oi"}),
            "no contact",
        ),
    ] {
        let (status, problem) = start(body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {problem}");
    }
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/conversations",
            &other.secret,
            Some(json!({"channel_id": channel, "phone": "+55 11 99999-0801", "text": "Oi"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another tenant's channel"
    );
    assert_eq!(app.count("outbound_requests").await, 0);
    assert_eq!(app.count("contacts").await, 0);

    // A new number with a name, and one without.
    let (status, started) = start(
        json!({"channel_id": channel, "phone": "+55 (11) 99999-0801", "name": "Joana Prado",
                                         "text": "Olá Joana, seu pedido chegou!"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let joana = opened(&app, &started).await;
    let (status, nameless) =
        start(json!({"channel_id": channel, "phone": "5511999990802", "text": "Bom dia!"})).await;
    assert_eq!(status, StatusCode::CREATED, "{nameless}");
    eventually("both first messages sent", WAIT, || async {
        (app.sent_to("5511999990801@c.us") == ["Olá Joana, seu pedido chegou!"]
            && app.sent_to("5511999990802@c.us") == ["Bom dia!"])
        .then_some(())
    })
    .await;
    let row = conversation(&app, &joana).await;
    assert_eq!(
        (row["contact_name"].as_str(), row["state"].as_str()),
        (Some("Joana Prado"), Some("open"))
    );
    let row = conversation(&app, &opened(&app, &nameless).await).await;
    assert!(row["contact_name"].is_null());
    assert_eq!(row["contact_phone"], "+5511999990802");

    // An existing contact: the message joins the chat's open conversation.
    let (status, again) = start(json!({"channel_id": channel, "contact_id": started["contact_id"], "text": "Precisa de algo mais?"})).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(opened(&app, &again).await, joana);
    eventually("the second message sent", WAIT, || async {
        (app.sent_to("5511999990801@c.us").len() == 2).then_some(())
    })
    .await;

    // Search: name, phone digits, and message words regardless of accents and endings.
    app.customer_writes(
        "5511999990803@c.us",
        text("Não recebi a entrega do meu pedido"),
        1,
        false,
    )
    .await;
    let search = |q: &'static str| {
        let app = &app;
        async move {
            let (status, page) = app
                .get(&format!(
                    "/api/v1/conversations?state=open&q={}",
                    urlencode(q)
                ))
                .await;
            assert_eq!(status, StatusCode::OK, "{page}");
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["contact_phone"].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        }
    };
    eventually("the customer's conversation", WAIT, || async {
        (search("entregas").await == ["+5511999990803"]).then_some(())
    })
    .await;
    assert_eq!(search("nao recebi").await, ["+5511999990803"]);
    assert_eq!(search("joana").await, ["+5511999990801"]);
    assert_eq!(search("9999-0802").await, ["+5511999990802"]);
    assert!(search("guarda-chuva").await.is_empty());
    let (_, theirs) = app
        .call(
            Method::GET,
            "/api/v1/conversations?q=Joana",
            &other.secret,
            None,
        )
        .await;
    assert_eq!(theirs["items"], json!([]), "another tenant finds nothing");
    let (_, counts) = app.get("/api/v1/conversations/counts").await;
    assert_eq!(counts["open"], 3, "{counts}");
}

/// The conversation a start opened: in the answer, or (when the workflow took longer than the
/// request's deadline, as on a loaded machine) in the list moments later.
async fn opened(app: &TestApp, started: &Value) -> String {
    if let Some(id) = started["conversation_id"].as_str() {
        return id.to_owned();
    }
    let contact = started["contact_id"].as_str().unwrap().to_owned();
    eventually("the started conversation", WAIT, || async {
        let (_, page) = app
            .get(&format!(
                "/api/v1/conversations?contact_id={contact}&state=open"
            ))
            .await;
        page["items"][0]["id"].as_str().map(str::to_owned)
    })
    .await
}

fn urlencode(q: &str) -> String {
    q.replace(' ', "+")
}

#[tokio::test]
async fn a_session_no_workflow_holds_is_still_resolved() {
    let app = TestApp::spawn(quiet_settings()).await;
    // A session as a campaign leaves it: open, with no Conversation run behind it.
    let (status, contact) = app
        .post("/api/v1/contacts", json!({"display_name": "Sem Resposta",
              "identities": [{"channel_id": app.channel_id, "kind": "wa_user", "external_id": "5511999990901@c.us"}]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    let session = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO conversation_sessions (id, tenant_id, channel_id, contact_id, identity_id, workflow_id, opened_by_batch)
         SELECT $1, i.tenant_id, i.channel_id, i.contact_id, i.id, 'conversation:nobody', 'campaign:x'
           FROM contact_identities i WHERE i.contact_id = $2::uuid",
    )
    .bind(session)
    .bind(contact["id"].as_str().unwrap())
    .execute(&app.pool)
    .await
    .unwrap();
    let path = |action: &str| format!("/api/v1/conversations/{session}/{action}");
    let (status, problem) = app.post(&path("pending"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (status, resolved) = app.post(&path("resolve"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    let row = conversation(&app, &session.to_string()).await;
    assert_eq!(
        (row["status"].as_str(), row["state"].as_str()),
        (Some("closed"), Some("resolved"))
    );
    assert!(
        app.outbox()
            .await
            .iter()
            .any(|(t, p)| t == "session.closed" && p["reason"] == "resolved")
    );
}
