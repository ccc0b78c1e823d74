//! Delivery you can trust (the issue "Delivery you can trust"): messages in the order they were
//! written, whatever order they arrived in.

use std::time::Duration;

use crate::support;
use crate::support::{TestApp, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

/// No automatic replies: only the customer's messages.
fn quiet() -> Value {
    json!({"debounce_ms": 0})
}

#[tokio::test]
async fn a_message_that_arrives_late_takes_its_place_everywhere() {
    let app = TestApp::spawn(quiet()).await;
    let now = chrono::Utc::now().timestamp();
    // Written second, delivered first; then the one written a minute earlier arrives.
    app.customer_writes(
        "5511999990301@c.us",
        json!([{"body": "segunda", "timestamp": now}]),
        1,
        false,
    )
    .await;
    eventually("the first arrival", WAIT, || async {
        (app.count("messages").await == 1).then_some(())
    })
    .await;
    app.customer_writes(
        "5511999990301@c.us",
        json!([{"body": "primeira", "timestamp": now - 60}]),
        1,
        false,
    )
    .await;
    eventually("both stored", WAIT, || async {
        (app.count("messages").await == 2).then_some(())
    })
    .await;

    let conversation = app.only_conversation().await;
    let id = conversation["id"].as_str().unwrap();
    let bodies = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["body"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, page) = app
        .get(&format!("/api/v1/conversations/{id}/messages"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        bodies(&page),
        ["primeira", "segunda"],
        "the list reads in the order written"
    );
    let (_, page) = app
        .get(&format!("/api/v1/conversations/{id}/messages?sort=-at"))
        .await;
    assert_eq!(bodies(&page), ["segunda", "primeira"]);
    let (_, page) = app
        .get(&format!(
            "/api/v1/conversations/{id}/messages?sort=created_at"
        ))
        .await;
    assert_eq!(
        bodies(&page),
        ["segunda", "primeira"],
        "arrival order stays available"
    );
    // Page by page, the order holds across the cursor.
    let (_, first) = app
        .get(&format!("/api/v1/conversations/{id}/messages?limit=1"))
        .await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .get(&format!(
            "/api/v1/conversations/{id}/messages?limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(
        [bodies(&first), bodies(&second)].concat(),
        ["primeira", "segunda"]
    );
    // The conversation's detail and the list's last message agree.
    let (_, detail) = app.get(&format!("/api/v1/conversations/{id}")).await;
    let detail: Vec<&str> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(detail, ["primeira", "segunda"]);
    let (_, list) = app.get("/api/v1/conversations").await;
    assert_eq!(
        list["items"][0]["last_message"]["body"], "segunda",
        "the latest written, not the latest arrived"
    );
}

const GREETING: &str = "Olá! Já vamos te atender.";

fn greeting() -> Value {
    json!({"debounce_ms": 0, "greeting": GREETING})
}

/// Waits until `n` replies are read, failing at once if any is stored `failed` (a reply lost).
async fn all_read(app: &TestApp, n: usize, within: Duration) {
    eventually(&format!("{n} replies read"), within, || async {
        let rows = app.outbound_statuses().await;
        if let Some((id, _, reason)) = rows.iter().find(|(_, s, _)| s == "failed") {
            panic!("reply {id} was stored failed: {reason:?}");
        }
        (rows.len() == n && rows.iter().all(|(_, s, _)| s == "read")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn replies_whose_sends_fail_ambiguously_are_sent_once_without_the_old_history_endpoint() {
    use ventros_simulators::waha::Faults;
    let app = TestApp::spawn(greeting()).await;
    // WAHA fails half of the first sends: five before taking the message, five after (the customer
    // has it, we got a 500); and this WAHA has only the per-chat history endpoint. Counted, not
    // random, so that no reply waits out a long losing streak of backoffs.
    app.sim.set_faults(Faults {
        fail_before_sending: 5,
        fail_after_sending: 5,
        legacy_messages_removed: true,
        ..Faults::default()
    });
    let chats: Vec<String> = (0..10).map(|i| format!("55119999904{i:02}@c.us")).collect();
    for chat in &chats {
        app.customer_writes(chat, json!([{"body": "Oi, tudo bem?"}]), 1, false)
            .await;
    }
    all_read(&app, 10, Duration::from_secs(240)).await;
    for chat in &chats {
        assert_eq!(
            app.sent_to(chat),
            [GREETING],
            "{chat}: exactly one greeting"
        );
    }
    assert!(
        app.sim.history_calls() >= 5,
        "the ambiguous sends were reconciled from the chat's history"
    );
    assert_eq!(
        app.sim.rejected_calls(),
        10,
        "every injected failure was met"
    );
}

#[tokio::test]
async fn a_send_in_flight_when_the_worker_dies_is_recorded_as_sent() {
    use ventros_simulators::waha::Faults;
    let mut app = TestApp::spawn(greeting()).await;
    app.sim.set_faults(Faults {
        answer_delay_ms: 5_000,
        legacy_messages_removed: true,
        ..Faults::default()
    });
    let chat = "5511999990500@c.us";
    app.customer_writes(chat, json!([{"body": "Bom dia"}]), 1, false)
        .await;
    // WAHA has taken the greeting (the customer has it) and has not answered yet: crash.
    eventually("the greeting taken by WAHA", WAIT, || async {
        (!app.sent_to(chat).is_empty()).then_some(())
    })
    .await;
    app.kill_worker();
    app.sim.set_faults(Faults {
        legacy_messages_removed: true,
        ..Faults::default()
    });
    app.start_worker();
    all_read(&app, 1, Duration::from_secs(90)).await;
    assert_eq!(
        app.sent_to(chat),
        [GREETING],
        "sent once, and recorded as sent"
    );
    let provider_id: Option<String> =
        sqlx::query_scalar("SELECT provider_message_id FROM messages WHERE direction = 'outbound'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        provider_id,
        app.sim.sent().first().map(|m| m.id.clone()),
        "the provider's id, so receipts find it"
    );
}

#[tokio::test]
async fn while_waha_cannot_answer_history_the_reply_stays_pending_and_is_never_sent_twice() {
    use ventros_simulators::waha::Faults;
    let app = TestApp::spawn(greeting()).await;
    app.sim.set_faults(Faults {
        fail_after_sending: 1,
        history_unavailable: true,
        ..Faults::default()
    });
    let chat = "5511999990600@c.us";
    app.customer_writes(chat, json!([{"body": "Olá"}]), 1, false)
        .await;
    // The send went through but was answered 500, and the history cannot be read: the outcome is
    // unknown, so the reply waits (pending, retried), neither failed nor sent again.
    eventually("lookups retried", WAIT, || async {
        (app.sim.history_calls() >= 3).then_some(())
    })
    .await;
    let rows = app.outbound_statuses().await;
    assert_eq!((rows.len(), rows[0].1.as_str()), (1, "pending"), "{rows:?}");
    assert_eq!(app.sent_to(chat).len(), 1);
    // WAHA answers again: the earlier send is found and recorded, not repeated.
    app.sim.set_faults(Faults::default());
    all_read(&app, 1, Duration::from_secs(90)).await;
    assert_eq!(app.sent_to(chat), [GREETING]);
}

#[tokio::test]
async fn receipts_that_beat_the_send_are_kept_and_applied_once_it_is_recorded() {
    use ventros_simulators::waha::Faults;
    let app = TestApp::spawn(greeting()).await;
    // WAHA takes the greeting, reports it delivered and read, and only then answers sendText.
    app.sim.set_faults(Faults {
        answer_delay_ms: 2_000,
        ..Faults::default()
    });
    let chat = "5511999990700@c.us";
    app.customer_writes(chat, json!([{"body": "Oi"}]), 1, false)
        .await;
    all_read(&app, 1, WAIT).await;
    let (id, _, _) = app.outbound_statuses().await.remove(0);
    assert_eq!(
        app.status_history(id).await,
        ["pending", "sent", "delivered", "read"]
    );
    // Kept and applied, not refused in the hope that WAHA retries the webhook.
    assert_eq!(
        app.sim.webhook_failures(),
        0,
        "every receipt was accepted the first time"
    );
    assert_eq!(app.count("held_receipts").await, 0, "nothing left held");
    let (_, message) = app.get(&format!("/api/v1/messages/{id}")).await;
    app.record_history(
        message["workflow_id"].as_str().unwrap(),
        "conversation-reply-held-receipts",
    )
    .await;
}

/// Receipts are recorded by the webhook, not signalled to the message's workflow (issue 23): the
/// Conversation that sent a read reply holds no signal but the customer's message, and a reply
/// WAHA never acknowledges is called `undelivered` by the sweeper once its ack timeout has passed.
#[tokio::test]
async fn receipts_wake_no_workflow_and_a_reply_never_delivered_becomes_undelivered() {
    use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
    use ventros_simulators::waha::Faults;
    let mut app =
        TestApp::spawn(json!({"debounce_ms": 0, "greeting": GREETING, "ack_timeout_secs": 2}))
            .await;
    app.kill_worker();
    app.worker_env
        .push(("INBOX_SWEEP_INTERVAL_SECS".into(), "1".into()));
    app.start_worker();
    app.customer_writes("5511999990710@c.us", json!([{"body": "Oi"}]), 1, false)
        .await;
    all_read(&app, 1, WAIT).await;
    let (read_id, _, _) = app.outbound_statuses().await.remove(0);
    let (_, message) = app.get(&format!("/api/v1/messages/{read_id}")).await;
    let workflow_id = message["workflow_id"].as_str().unwrap().to_owned();
    let conversation = app.only_conversation().await;
    assert_eq!(workflow_id, conversation["workflow_id"].as_str().unwrap());
    let events = app.history_events(&workflow_id).await;
    let signals: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.attributes {
            Some(Attributes::WorkflowExecutionSignaledEventAttributes(a)) => {
                Some(a.signal_name.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        signals,
        [ventros_workflows::contract::names::SIGNAL_INBOUND],
        "no receipt woke the message's workflow"
    );
    assert_eq!(
        app.status_history(read_id).await,
        ["pending", "sent", "delivered", "read"]
    );
    app.record_history(&workflow_id, "outbound-read-receipts-in-database")
        .await;

    // WAHA takes the next greeting and never acknowledges it.
    app.sim.set_faults(Faults {
        no_acks: true,
        ..Faults::default()
    });
    app.customer_writes("5511999990711@c.us", json!([{"body": "Oi"}]), 1, false)
        .await;
    let (lost, _, reason) = eventually("the unacknowledged reply undelivered", WAIT, || async {
        app.outbound_statuses()
            .await
            .into_iter()
            .find(|(id, status, _)| *id != read_id && status == "undelivered")
    })
    .await;
    assert_eq!(
        app.status_history(lost).await,
        ["pending", "sent", "undelivered"]
    );
    assert_eq!(
        reason.as_deref(),
        Some("no delivery receipt within the ack timeout")
    );
    // The read one was never touched by the sweeper.
    assert_eq!(
        app.status_history(read_id).await,
        ["pending", "sent", "delivered", "read"]
    );
    app.temporal
        .get_schedule_handle(format!("inbox-sweep:{}", app.task_queue))
        .delete(temporalio_client::schedules::DeleteScheduleOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_stored_webhook_whose_hand_over_failed_is_re_driven_once_by_the_sweeper() {
    let mut app = TestApp::spawn(greeting()).await;
    app.kill_worker();
    app.worker_env
        .push(("INBOX_SWEEP_INTERVAL_SECS".into(), "1".into()));
    app.worker_env
        .push(("INBOX_SWEEP_AFTER_SECS".into(), "1".into()));
    app.start_worker();
    // An API replica that cannot reach Temporal: the webhook is stored, the hand-over fails (503),
    // and the sender gives up (WAHA's retries are finite; many setups have none).
    let broken = app
        .api()
        .temporal(ventros_api::TemporalHandle::connect_in_background(
            "http://127.0.0.1:9".into(),
            "default".into(),
        ))
        .spawn()
        .await;
    let chat = "5511999990800@c.us";
    let body = serde_json::to_vec(&json!({
        "id": "evt_stranded", "event": "message", "session": "default", "timestamp": chrono::Utc::now().timestamp_millis(),
        "payload": {"id": format!("false_{chat}_3EB0STRANDED"), "timestamp": chrono::Utc::now().timestamp(), "from": chat,
                    "fromMe": false, "body": "Alguém aí?", "hasMedia": false},
    }))
    .unwrap();
    let resp = app
        .http
        .post(format!("{broken}/webhooks/waha/{}", app.channel_id))
        .header("Content-Type", "application/json")
        .header(
            "X-Webhook-Hmac",
            ventros_channels::waha::sign_body(support::HMAC_KEY, &body),
        )
        .header("X-Webhook-Hmac-Algorithm", "sha512")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        app.count("webhook_inbox WHERE processed_at IS NULL").await,
        1,
        "stored, not processed"
    );

    // The sweeper hands it to its Conversation: stored once, answered once.
    all_read(&app, 1, WAIT).await;
    assert_eq!(app.count("messages WHERE direction = 'inbound'").await, 1);
    assert_eq!(app.sent_to(chat), [GREETING]);
    eventually("the inbox row processed", WAIT, || async {
        (app.count("webhook_inbox WHERE processed_at IS NULL").await == 0).then_some(())
    })
    .await;
    // Later passes find nothing more to do (the schedule keeps firing every second).
    let before = app.sim.sent().len();
    let schedule = app
        .temporal
        .get_schedule_handle(format!("inbox-sweep:{}", app.task_queue));
    let actions = || async {
        schedule
            .describe(temporalio_client::RpcOptions::default())
            .await
            .map_or(0, |d| d.action_count())
    };
    let seen = actions().await;
    eventually("two more sweeps", WAIT, || async {
        (actions().await >= seen + 2).then_some(())
    })
    .await;
    assert_eq!(app.sim.sent().len(), before, "nothing sent twice");
    if std::env::var("VENTROS_RECORD_HISTORIES").is_ok() {
        // A sweep's history for the replay tests (its shape is the same whether or not it found rows).
        use futures::StreamExt;
        let query = format!(
            "WorkflowType = 'InboxSweep' AND ExecutionStatus = 'Completed' AND WorkflowId STARTS_WITH 'inbox-sweep:{}'",
            app.task_queue
        );
        let sweeps: Vec<_> = app
            .temporal
            .list_workflows(query, Default::default())
            .collect()
            .await;
        let first = sweeps
            .into_iter()
            .filter_map(Result::ok)
            .min_by_key(temporalio_client::WorkflowExecution::start_time)
            .expect("a completed sweep");
        app.record_history(first.id(), "inbox-sweep").await;
    }
    schedule
        .delete(temporalio_client::schedules::DeleteScheduleOptions::default())
        .await
        .unwrap();
}

/// The contacts that are not folded into another, each with its identities (sorted).
async fn live_contacts(app: &TestApp) -> Vec<Vec<String>> {
    let rows: Vec<(uuid::Uuid, Vec<String>)> = sqlx::query_as(
        "SELECT c.id, coalesce(array_agg(i.external_id ORDER BY i.external_id) FILTER (WHERE i.id IS NOT NULL), '{}')
           FROM contacts c LEFT JOIN contact_identities i ON i.contact_id = c.id
          WHERE c.merged_into IS NULL GROUP BY c.id ORDER BY c.id",
    )
    .fetch_all(&app.pool)
    .await
    .expect("contacts");
    rows.into_iter().map(|(_, ids)| ids).collect()
}

/// A customer message that carries the sender's other address as WAHA's NOWEB engine does.
async fn writes_with_alternate(app: &TestApp, from: &str, alternate: &str, body: &str) {
    let resp = app
        .http
        .post(format!("{}/sim/inbound", app.sim_url))
        .json(&json!({"from": from, "alternate": alternate, "messages": [{"body": body}]}))
        .send()
        .await
        .expect("sim inbound");
    assert!(resp.status().is_success());
}

#[tokio::test]
async fn one_person_writing_from_a_hidden_id_and_a_phone_number_is_one_contact() {
    let app = TestApp::spawn(quiet()).await;
    // WAHA's lid map knows this person: the hidden id is resolved on the first message.
    app.sim.set_lid("81234567890123@lid", "5511999990401@c.us");
    app.customer_writes(
        "81234567890123@lid",
        json!([{"body": "oi, sou eu"}]),
        1,
        false,
    )
    .await;
    eventually("the phone number found through WAHA", WAIT, || async {
        (live_contacts(&app).await
            == [vec![
                "5511999990401@c.us".to_owned(),
                "81234567890123@lid".to_owned(),
            ]])
        .then_some(())
    })
    .await;
    app.customer_writes(
        "5511999990401@c.us",
        json!([{"body": "agora do outro aparelho"}]),
        1,
        false,
    )
    .await;
    eventually("both messages stored", WAIT, || async {
        (app.count("messages").await == 2).then_some(())
    })
    .await;
    let contacts: i64 = sqlx::query_scalar("SELECT count(DISTINCT contact_id) FROM messages")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(contacts, 1, "both chats belong to one contact");
    assert_eq!(live_contacts(&app).await.len(), 1);

    // Another person, whose message names the phone number itself (WAHA's map does not know it):
    // linked without asking.
    writes_with_alternate(&app, "81234567890999@lid", "5511999990402@c.us", "olá").await;
    eventually("the phone number taken from the message", WAIT, || async {
        let contacts = live_contacts(&app).await;
        contacts
            .contains(&vec![
                "5511999990402@c.us".to_owned(),
                "81234567890999@lid".to_owned(),
            ])
            .then_some(())
    })
    .await;
    assert_eq!(
        app.count("contact_merges").await,
        0,
        "nothing to fold: the addresses met on one contact"
    );
}

#[tokio::test]
async fn a_mapping_learned_later_folds_the_two_contacts_into_one() {
    let app = TestApp::spawn(quiet()).await;
    // WAHA does not know the hidden id yet: a contact with only the hidden id.
    app.customer_writes(
        "81234567890555@lid",
        json!([{"body": "primeira mensagem"}]),
        1,
        false,
    )
    .await;
    eventually("the hidden id looked up", WAIT, || async {
        (app.sim.lid_calls() >= 1).then_some(())
    })
    .await;
    eventually("the hidden-id contact", WAIT, || async {
        (live_contacts(&app).await == [vec!["81234567890555@lid".to_owned()]]).then_some(())
    })
    .await;
    // Later WhatsApp shares the phone number, and the person writes from it: the new phone number
    // is looked up, found to be the same person, and the two contacts are folded.
    app.sim.set_lid("81234567890555@lid", "5511999990403@c.us");
    app.customer_writes(
        "5511999990403@c.us",
        json!([{"body": "segunda, pelo número"}]),
        1,
        false,
    )
    .await;
    eventually("one contact with both addresses", WAIT, || async {
        (live_contacts(&app).await
            == [vec![
                "5511999990403@c.us".to_owned(),
                "81234567890555@lid".to_owned(),
            ]])
        .then_some(())
    })
    .await;
    let requested_by: String = sqlx::query_scalar("SELECT requested_by FROM contact_merges")
        .fetch_one(&app.pool)
        .await
        .expect("one merge");
    assert_eq!(requested_by, "system:whatsapp-identity");
    eventually("the merge completes", WAIT, || async {
        let done: Option<String> =
            sqlx::query_scalar("SELECT status FROM contact_merges WHERE status = 'completed'")
                .fetch_optional(&app.pool)
                .await
                .unwrap();
        done.map(|_| ())
    })
    .await;
    eventually("every message on the surviving contact", WAIT, || async {
        let contacts: i64 = sqlx::query_scalar("SELECT count(DISTINCT contact_id) FROM messages")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        (contacts == 1 && app.count("messages").await == 2).then_some(())
    })
    .await;
    let phone_chat: String = sqlx::query_scalar(
        "SELECT s.workflow_id FROM conversation_sessions s JOIN contact_identities i ON i.id = s.identity_id WHERE i.kind = 'wa_user'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("the phone number's conversation");
    app.record_history(&phone_chat, "conversation-identity-merge")
        .await;
    let (_, contacts) = app.get("/api/v1/contacts").await;
    assert_eq!(
        contacts["items"].as_array().map(Vec::len),
        Some(1),
        "the folded contact is not listed: {contacts}"
    );
}

#[tokio::test]
async fn a_retried_reply_is_not_mistaken_for_an_earlier_one_with_the_same_text() {
    use ventros_simulators::waha::Faults;
    let app = TestApp::spawn(quiet()).await;
    let chat = "5511999990501@c.us";
    app.customer_writes(chat, json!([{"body": "Vocês abrem amanhã?"}]), 1, false)
        .await;
    let conversation = eventually("a conversation", WAIT, || async {
        let (_, list) = app.get("/api/v1/conversations").await;
        list["items"].as_array().and_then(|i| i.first().cloned())
    })
    .await;
    let path = format!(
        "/api/v1/conversations/{}/messages",
        conversation["id"].as_str().unwrap()
    );
    let reply = |key: &'static str| {
        let (http, url, token) = (
            app.http.clone(),
            format!("{}{path}", app.api),
            app.api_key.clone(),
        );
        async move {
            let resp = http
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&json!({"text": "Sim!"}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::ACCEPTED);
        }
    };
    reply("first").await;
    app.wait_outbound(1, "read", WAIT).await;
    // The same words again, and WAHA answers 500 without taking them: the retry finds the first
    // "Sim!" in the chat's history, which is already another message's send, so it sends.
    app.sim.set_faults(Faults {
        fail_before_sending: 1,
        ..Faults::default()
    });
    reply("second").await;
    all_read(&app, 2, Duration::from_secs(120)).await;
    assert_eq!(
        app.sent_to(chat),
        ["Sim!", "Sim!"],
        "both replies reached the customer, once each"
    );
    assert!(
        app.sim.history_calls() >= 1,
        "the ambiguous failure was reconciled"
    );
}
