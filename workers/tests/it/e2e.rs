//! End to end, against the real Temporal dev server and PostgreSQL: WAHA webhooks through the API
//! into the Conversation and OutboundMessage workflows, out through the WAHA simulator and back as
//! receipts.

use std::time::Duration;

use crate::support;
use crate::support::{HMAC_KEY, TestApp, ai_app, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};
use ventros_channels::waha::sign_body;
use ventros_simulators::waha::Faults;

const WAIT: Duration = Duration::from_secs(60);
const GREETING: &str = "Olá! Como posso ajudar?";

fn greeting_settings() -> Value {
    json!({"greeting": GREETING, "debounce_ms": 0})
}

fn text(body: &str) -> Value {
    json!([{ "body": body }])
}

#[tokio::test]
async fn inbound_message_gets_a_greeting_that_ends_read_with_outbox_events_in_order() {
    let app = TestApp::spawn(greeting_settings()).await;
    let chat = "5511999990001@c.us";
    app.customer_writes(chat, text("Oi, quero saber do meu pedido"), 1, false)
        .await;

    let outbound = app.wait_outbound(1, "read", WAIT).await;
    assert_eq!(app.sent_to(chat), vec![GREETING.to_owned()]);
    assert_eq!(app.count("contacts").await, 1);
    assert_eq!(app.count("contact_identities").await, 1);
    assert_eq!(app.count("conversation_sessions").await, 1);
    assert_eq!(app.count("messages WHERE direction = 'inbound'").await, 1);

    let events: Vec<String> = app
        .outbox()
        .await
        .into_iter()
        .map(|(e, p)| match p.get("status") {
            Some(s) => format!("{e}:{}", s.as_str().unwrap_or_default()),
            None => e,
        })
        .collect();
    assert_eq!(
        events,
        [
            "contact.created",
            "session.opened",
            "message.received",
            "message.sent",
            "message.status_changed:delivered",
            "message.status_changed:read"
        ]
    );

    // The API shows the same story: the message's status history, the conversation with its
    // messages and live workflow state, the contact with its WhatsApp identity.
    let (status, message) = app
        .get(&format!("/api/v1/messages/{}", outbound[0].0))
        .await;
    assert_eq!(status, StatusCode::OK);
    let history: Vec<&str> = message["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["pending", "sent", "delivered", "read"]);
    assert_eq!(message["origin"], "greeting");

    let conversation = app.only_conversation().await;
    let (status, detail) = app
        .get(&format!(
            "/api/v1/conversations/{}",
            conversation["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["messages"].as_array().unwrap().len(), 2);
    assert_eq!(
        detail["live"]["available"], true,
        "live state: {}",
        detail["live"]
    );
    assert_eq!(detail["live"]["state"]["replies_sent"], 1);
    assert_eq!(detail["live"]["state"]["last_decision"], "greeting");

    let (status, contact) = app
        .get(&format!(
            "/api/v1/contacts/{}",
            conversation["contact_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(contact["display_name"], "Test Customer");
    assert_eq!(contact["identities"][0]["external_id"], chat);
    assert_eq!(contact["identities"][0]["kind"], "wa_user");

    app.record_history(
        conversation["workflow_id"].as_str().unwrap(),
        "conversation-greeting-outbound-started",
    )
    .await;
    app.record_history(message["workflow_id"].as_str().unwrap(), "outbound-read")
        .await;
}

/// A greeting given per language reaches each customer in theirs: read from their words on a
/// channel that never asks the agent service, Portuguese when the words say nothing.
#[tokio::test]
async fn a_greeting_given_per_language_greets_each_customer_in_theirs() {
    const PT: &str = "Olá! Como podemos ajudar?";
    const EN: &str = "Hi! How can we help?";
    const ES: &str = "¡Hola! ¿Cómo podemos ayudar?";
    let app = TestApp::spawn(json!({
        "greeting": {"pt": PT, "en": EN, "es": ES},
        "debounce_ms": 0,
    }))
    .await;
    let chats = [
        (
            "5511999990101@c.us",
            "Hello, do you deliver to Lisbon on weekends?",
            EN,
        ),
        (
            "5511999990102@c.us",
            "Oi, quero saber se vocês entregam em Curitiba",
            PT,
        ),
        (
            "5511999990103@c.us",
            "Hola, ¿hacen envíos a Madrid este fin de semana?",
            ES,
        ),
        ("5511999990104@c.us", "ok", PT),
    ];
    for (chat, words, _) in chats {
        app.customer_writes(chat, text(words), 1, false).await;
    }
    app.wait_outbound(chats.len(), "read", WAIT).await;
    for (chat, words, greeting) in chats {
        assert_eq!(app.sent_to(chat), vec![greeting.to_owned()], "{words}");
    }

    // The API takes the texts by language and refuses a language it does not know, changing nothing.
    let channel = app.channel_id;
    let (status, problem) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/channels/{channel}"),
            &app.api_key,
            Some(json!({"settings": {"greeting": {"pt": PT, "fr": "Bonjour"}, "debounce_ms": 0}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("\"fr\""),
        "{problem}"
    );
    let (_, shown) = app.get(&format!("/api/v1/channels/{channel}")).await;
    assert_eq!(shown["settings"]["greeting"]["en"], EN, "{shown}");
}

#[tokio::test]
async fn the_same_webhook_three_times_stores_one_message_and_sends_one_reply() {
    let app = TestApp::spawn(greeting_settings()).await;
    let chat = "5511999990002@c.us";
    app.customer_writes(chat, text("Oi"), 3, false).await;

    app.wait_outbound(1, "read", WAIT).await;
    assert_eq!(app.count("messages WHERE direction = 'inbound'").await, 1);
    assert_eq!(app.count("webhook_inbox").await, 1);
    // Once the read receipt is in, every delivery has been through the workflow: still one reply.
    let conversation = app.only_conversation().await;
    let (_, detail) = app
        .get(&format!(
            "/api/v1/conversations/{}",
            conversation["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(detail["live"]["state"]["messages_persisted"], 1);
    assert_eq!(detail["live"]["state"]["replies_sent"], 1);
    assert_eq!(app.sent_to(chat).len(), 1);
}

#[tokio::test]
async fn messages_delivered_out_of_order_are_kept_in_provider_order() {
    let app = TestApp::spawn(json!({"greeting": GREETING, "debounce_ms": 300})).await;
    let chat = "5511999990003@c.us";
    let t0 = chrono::Utc::now().timestamp() - 60;
    let messages = json!([
        {"body": "primeira", "timestamp": t0},
        {"body": "segunda", "timestamp": t0 + 5},
        {"body": "terceira", "timestamp": t0 + 9},
    ]);
    app.customer_writes(chat, messages, 1, true).await;

    app.wait_outbound(1, "read", WAIT).await;
    let conversation = app.only_conversation().await;
    let (_, detail) = app
        .get(&format!(
            "/api/v1/conversations/{}",
            conversation["id"].as_str().unwrap()
        ))
        .await;
    let inbound: Vec<&str> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "inbound")
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(inbound, ["primeira", "segunda", "terceira"]);
    // The burst, delivered newest first, still got one reply.
    assert_eq!(app.sent_to(chat).len(), 1);
}

fn envelope(event: &str, payload: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": "evt_01jexampleexampleexamplexa", "timestamp": chrono::Utc::now().timestamp_millis(),
        "event": event, "session": "default", "payload": payload, "engine": "WEBJS",
    }))
    .unwrap()
}

fn inbound_payload(id: &str) -> Value {
    json!({"id": id, "timestamp": chrono::Utc::now().timestamp(), "from": "5511999990004@c.us", "fromMe": false,
           "body": "hello", "hasMedia": false})
}

#[tokio::test]
async fn bad_signatures_malformed_oversized_and_unsupported_webhooks_change_nothing() {
    let app = TestApp::spawn(greeting_settings()).await;
    let channel = app.channel_id.to_string();
    let body = envelope("message", inbound_payload("false_5511999990004@c.us_AAAA"));

    let (status, problem, content_type) = app
        .raw_webhook(
            &channel,
            body.clone(),
            Some(sign_body("wrong-key-0123456789", &body)),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(problem["status"], 401);
    let (status, _, _) = app.raw_webhook(&channel, body.clone(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let malformed = b"{\"event\": \"message\", ".to_vec();
    let (status, problem, _) = app
        .raw_webhook(
            &channel,
            malformed.clone(),
            Some(sign_body(HMAC_KEY, &malformed)),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["detail"].as_str().unwrap().contains("envelope"),
        "{problem}"
    );

    let oversized = vec![b' '; 2 * 1024 * 1024];
    let (status, _, content_type) = app
        .raw_webhook(
            &channel,
            oversized.clone(),
            Some(sign_body(HMAC_KEY, &oversized)),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(content_type, "application/problem+json");

    let unsupported = envelope("presence.update", json!({"id": "x"}));
    let (status, _, _) = app
        .raw_webhook(
            &channel,
            unsupported.clone(),
            Some(sign_body(HMAC_KEY, &unsupported)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let no_id = envelope("message", json!({"from": "5511999990004@c.us"}));
    let (status, _, _) = app
        .raw_webhook(&channel, no_id.clone(), Some(sign_body(HMAC_KEY, &no_id)))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, _, _) = app
        .raw_webhook(
            &uuid::Uuid::new_v4().to_string(),
            body.clone(),
            Some(sign_body(HMAC_KEY, &body)),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = app
        .raw_webhook(
            "not-a-channel",
            body.clone(),
            Some(sign_body(HMAC_KEY, &body)),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for table in [
        "webhook_inbox",
        "messages",
        "contacts",
        "conversation_sessions",
        "outbox_events",
    ] {
        assert_eq!(app.count(table).await, 0, "{table} must be untouched");
    }

    // The same body, correctly signed, is accepted: the rejections above were about the input.
    let (status, accepted, _) = app
        .raw_webhook(&channel, body.clone(), Some(sign_body(HMAC_KEY, &body)))
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    app.wait_outbound(1, "read", WAIT).await;
}

#[tokio::test]
async fn a_worker_killed_between_the_message_and_the_reply_replies_exactly_once_after_restart() {
    // A long debounce leaves the workflow waiting on a timer after the message is stored.
    let mut app = TestApp::spawn(json!({"greeting": GREETING, "debounce_ms": 2000})).await;
    let chat = "5511999990005@c.us";
    app.customer_writes(chat, text("Oi, alguém aí?"), 1, false)
        .await;
    eventually("the inbound message stored", WAIT, || async {
        (app.count("messages WHERE direction = 'inbound'").await == 1).then_some(())
    })
    .await;
    assert!(
        app.sent_to(chat).is_empty(),
        "the reply must not have gone out before the crash"
    );

    app.kill_worker();
    app.start_worker();

    app.wait_outbound(1, "read", Duration::from_secs(90)).await;
    assert_eq!(app.sent_to(chat), vec![GREETING.to_owned()]);
}

#[tokio::test]
async fn waha_down_while_replying_delivers_exactly_once_when_it_is_back() {
    let app = TestApp::spawn(greeting_settings()).await;
    let chat = "5511999990006@c.us";
    app.sim.set_faults(Faults {
        outage: true,
        ..Faults::default()
    });
    app.customer_writes(chat, text("Oi"), 1, false).await;

    // The send is being retried against the outage.
    eventually("retries against the outage", WAIT, || async {
        (app.sim.rejected_calls() >= 3).then_some(())
    })
    .await;
    assert!(app.sent_to(chat).is_empty());
    // The Conversation's one attempt failed and it handed the message over: from now on only the
    // OutboundMessage may attempt it. A repeat of the Conversation's attempt (its workflow task
    // retried after a crash) is refused before it records or sends anything, so the two cannot
    // both send it.
    let conversation = app.only_conversation().await;
    let conversation = conversation["workflow_id"].as_str().unwrap().to_owned();
    let (id, _, _) = app.outbound_statuses().await.remove(0);
    let outbound = ventros_workflows::ids::outbound_workflow_id(app.tenant_id, id);
    eventually("the reply handed over", WAIT, || async {
        let (_, message) = app.get(&format!("/api/v1/messages/{id}")).await;
        (message["workflow_id"] == outbound.as_str()).then_some(())
    })
    .await;
    let receipts = ventros_store::ReceiptsTo::Webhook {
        ack_timeout_secs: None,
    };
    let repeated =
        ventros_store::mark_send_attempt(&app.pool, app.tenant_id, id, receipts, &conversation)
            .await
            .unwrap();
    assert!(!repeated, "the Conversation no longer holds the message");

    app.sim.set_faults(Faults::default());
    let rows = app.wait_outbound(1, "read", WAIT).await;
    assert_eq!(app.sent_to(chat), vec![GREETING.to_owned()]);
    // The OutboundMessage's retries sent it, and the message links to that run.
    let (_, message) = app.get(&format!("/api/v1/messages/{}", rows[0].0)).await;
    assert_eq!(message["workflow_id"], outbound.as_str());
    let conversation = conversation.as_str();
    let events = app.history_events(conversation).await;
    let sends = support::local_activities(
        &events,
        ventros_workflows::contract::names::ACTIVITY_SEND_OUTBOUND,
    );
    assert_eq!(sends, 1, "the Conversation tried once and handed over");
    app.record_history(conversation, "conversation-reply-handed-over")
        .await;
}

#[tokio::test]
async fn a_permanent_refusal_marks_the_reply_failed_with_the_reason() {
    let app = TestApp::spawn(greeting_settings()).await;
    app.sim.set_faults(Faults {
        reject_status: Some(422),
        ..Faults::default()
    });
    app.customer_writes("5511999990007@c.us", text("Oi"), 1, false)
        .await;

    let rows = app.wait_outbound(1, "failed", WAIT).await;
    let reason = rows[0].2.clone().expect("a failure reason");
    assert!(reason.contains("422"), "reason: {reason}");
    let (_, message) = app.get(&format!("/api/v1/messages/{}", rows[0].0)).await;
    assert_eq!(message["status"], "failed");
    assert_eq!(message["failure_reason"], reason);
    let events: Vec<String> = app.outbox().await.into_iter().map(|(e, _)| e).collect();
    assert_eq!(
        events.last().map(String::as_str),
        Some("message.status_changed")
    );
    // Refused once and recorded by the Conversation that asked: no run of its own retries it.
    assert_eq!(app.sim.rejected_calls(), 1);
    let conversation = app.only_conversation().await;
    assert_eq!(message["workflow_id"], conversation["workflow_id"]);
    let outbound = ventros_workflows::ids::outbound_workflow_id(app.tenant_id, rows[0].0);
    assert!(app.history_events_if_any(&outbound).await.is_none());
    app.record_history(
        message["workflow_id"].as_str().unwrap(),
        "conversation-reply-refused",
    )
    .await;
}

#[tokio::test]
async fn a_human_takeover_silences_auto_replies_until_hand_back() {
    // Always closed, away message on every message: every customer message would get a reply.
    let settings = json!({
        "away_message": "Estamos fechados.",
        "business_hours": {"utc_offset_minutes": 0, "windows": []},
        "away_cooldown_secs": 0,
        "debounce_ms": 0,
    });
    let app = TestApp::spawn(settings).await;
    let chat = "5511999990008@c.us";
    app.customer_writes(chat, text("primeira"), 1, false).await;
    app.wait_outbound(1, "read", WAIT).await;
    let conversation = app.only_conversation().await;
    let id = conversation["id"].as_str().unwrap().to_owned();

    let (status, taken) = app
        .post(
            &format!("/api/v1/conversations/{id}/takeover"),
            json!({"assignee": "ana@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{taken}");
    assert_eq!(taken["state"]["assignment"], "human");

    app.customer_writes(chat, text("segunda"), 1, false).await;
    let state = eventually("the second message decided", WAIT, || async {
        let (_, detail) = app.get(&format!("/api/v1/conversations/{id}")).await;
        let state = detail["live"]["state"].clone();
        (state["messages_persisted"] == 2
            && state["awaiting_reply"] == 0
            && state["last_decision"] == "assigned_to_human")
            .then_some(detail)
    })
    .await;
    assert_eq!(state["assigned_to"], "human");
    assert_eq!(state["assignee"], "ana@example.com");
    assert_eq!(
        app.sent_to(chat).len(),
        1,
        "no automatic reply while a human holds the chat"
    );

    let (status, back) = app
        .post(&format!("/api/v1/conversations/{id}/handback"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["state"]["assignment"], "bot");
    app.customer_writes(chat, text("terceira"), 1, false).await;
    app.wait_outbound(2, "read", WAIT).await;
    assert_eq!(
        app.sent_to(chat),
        vec![
            "Estamos fechados.".to_owned(),
            "Estamos fechados.".to_owned()
        ]
    );
    app.record_history(
        conversation["workflow_id"].as_str().unwrap(),
        "conversation-takeover-outbound-started",
    )
    .await;
}

#[tokio::test]
async fn tenants_only_see_their_own_data_and_unknown_ids_are_404() {
    let app = TestApp::spawn(greeting_settings()).await;
    app.customer_writes("5511999990009@c.us", text("Oi"), 1, false)
        .await;
    app.wait_outbound(1, "read", WAIT).await;
    let conversation = app.only_conversation().await;
    let id = conversation["id"].as_str().unwrap();
    let contact = conversation["contact_id"].as_str().unwrap();

    let (_, other) = ventros_api::auth::create_tenant(&app.pool, "Other tenant")
        .await
        .unwrap();
    for path in [
        format!("/api/v1/conversations/{id}"),
        format!("/api/v1/contacts/{contact}"),
        format!("/api/v1/channels/{}", app.channel_id),
    ] {
        let (status, problem) = app.get_as(&path, &other.secret).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {problem}");
    }
    let (_, list) = app.get_as("/api/v1/conversations", &other.secret).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let (status, _) = app
        .get_as(&format!("/api/v1/conversations/{id}"), "vtr_nope_nope")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .get(&format!("/api/v1/messages/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get("/api/v1/conversations/not-a-uuid").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &format!("/api/v1/conversations/{}/takeover", uuid::Uuid::new_v4()),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn channels_show_their_webhook_hide_secrets_and_record_session_status() {
    let app = TestApp::spawn(greeting_settings()).await;
    let (status, channel) = app
        .get(&format!("/api/v1/channels/{}", app.channel_id))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        channel["webhook"]["url"],
        format!("{}/webhooks/waha/{}", app.api, app.channel_id)
    );
    assert!(
        !channel.to_string().contains(HMAC_KEY),
        "secrets must not be returned"
    );
    assert_eq!(channel["provider_config"]["hmac_key_set"], true);

    let resp = app
        .http
        .post(format!("{}/sim/session-status", app.sim_url))
        .json(&json!({"status": "SCAN_QR_CODE"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let (_, channel) = app
        .get(&format!("/api/v1/channels/{}", app.channel_id))
        .await;
    assert_eq!(channel["status"], "SCAN_QR_CODE");

    let (status, problem) = app
        .post(
            "/api/v1/channels",
            json!({"name": "x", "provider_config": {"base_url": "ftp://nope", "api_key": "k"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, _) = app.post("/api/v1/channels", json!({"name": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, list) = app.get("/api/v1/channels").await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "rejected channels are not stored"
    );
}

#[tokio::test]
async fn temporal_unreachable_means_503_so_waha_retries() {
    let app = TestApp::spawn(greeting_settings()).await;
    // A second API over the same database whose Temporal never answers.
    let dead = ventros_api::TemporalHandle::connect_in_background(
        "http://127.0.0.1:9".into(),
        "default".into(),
    );
    let api = app.api().temporal(dead).spawn().await;
    let body = envelope("message", inbound_payload("false_5511999990004@c.us_BBBB"));
    let resp = app
        .http
        .post(format!("{api}/webhooks/waha/{}", app.channel_id))
        .header("X-Webhook-Hmac", sign_body(HMAC_KEY, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(app.count("messages").await, 0);

    let (status, ready) = {
        let resp = app.http.get(format!("{api}/readyz")).send().await.unwrap();
        (resp.status(), resp.json::<Value>().await.unwrap())
    };
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready["checks"]["postgres"], "ok");
    assert_eq!(ready["checks"]["temporal"], "unavailable");
    let resp = app
        .http
        .get(format!("{}/readyz", app.api))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Every secret the production compose file requires, with throwaway values.
const COMPOSE_SECRETS: &[(&str, &str)] = &[
    ("VENTROS_POSTGRES_PASSWORD", "validation-only-owner"),
    ("VENTROS_API_DB_PASSWORD", "validation-only-api-login"),
    (
        "VENTROS_REPORTS_DB_PASSWORD",
        "validation-only-reports-login",
    ),
    ("TEMPORAL_POSTGRES_PASSWORD", "validation-only-temporal"),
    ("WAHA_API_KEY", "validation-only-waha-key"),
    ("WAHA_HMAC_KEY", "validation-only-waha-hmac"),
    ("API_TOKEN_SECRET", "validation-only-validation-only-32"),
    ("INTERNAL_AUTH_SECRET", "validation-only-internal-secret-32"),
    ("GRAFANA_ADMIN_PASSWORD", "validation-only-grafana"),
];

fn compose_config(file: &str, secrets: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new("docker-compose");
    command
        .args(["-f", file, "config"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in secrets {
        command.env(k, v);
    }
    command
        .output()
        .expect("docker-compose is installed by scripts/test.sh")
}

#[test]
fn the_production_compose_file_validates_against_the_compose_specification() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docker-compose.temporal.yml"
    );
    let output = compose_config(file, COMPOSE_SECRETS);
    assert!(
        output.status.success(),
        "docker-compose config failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let config = String::from_utf8_lossy(&output.stdout);

    // No default secrets: each missing one stops the deployment with its name.
    for (missing, _) in COMPOSE_SECRETS {
        let rest: Vec<(&str, &str)> = COMPOSE_SECRETS
            .iter()
            .copied()
            .filter(|(k, _)| k != missing)
            .collect();
        let output = compose_config(file, &rest);
        assert!(!output.status.success(), "{missing} unset must fail");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(missing),
            "{missing}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(!config.contains("change-me"), "a default secret is left");
    // Nothing published that needs no publishing: Temporal not at all, its UI and WAHA on
    // loopback only, the API as the one public port.
    assert!(
        !config.contains("7233:7233") && !config.contains("published: 7233"),
        "Temporal's frontend is published"
    );
    for line in config.lines().filter(|l| {
        l.trim_start().starts_with("- ")
            && l.contains(':')
            && l.matches(':').count() >= 2
            && l.contains("/tcp")
    }) {
        let port = line.trim_start().trim_start_matches("- ");
        assert!(
            port.starts_with("127.0.0.1:") || port.starts_with("8080:"),
            "published beyond loopback: {port}"
        );
    }
    for line in config.lines().filter(|l| l.contains("published:")) {
        assert_eq!(
            line.trim().trim_start_matches("- "),
            "published: 8080",
            "only the API is published"
        );
    }
    // The API logs in as its restricted roles, never as the owner.
    assert!(
        config.contains("postgres://ventros_api:validation-only-api-login@"),
        "{config}"
    );
    assert!(
        config.contains("postgres://ventros_report:validation-only-reports-login@"),
        "{config}"
    );
    assert_eq!(
        config.matches("postgres://ventros:").count(),
        1,
        "only the worker logs in as the owner"
    );
    // What the local stack runs runs here too: the MCP server as its own service, both processes'
    // metrics for the compose file's Prometheus, and Grafana with the Ventros dashboard.
    for needed in [
        "target: mcp",
        "API_METRICS_BIND: 0.0.0.0:9464",
        "WORKER_METRICS_BIND: 0.0.0.0:9465",
        "deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml",
        "deploy/grafana/dashboards:/var/lib/grafana/dashboards",
    ] {
        assert!(config.contains(needed), "{needed} missing: {config}");
    }

    // The validator is strict: the same file with an unknown service key is refused.
    let broken = std::env::temp_dir().join(format!("compose-{}.yml", uuid::Uuid::new_v4()));
    let original = std::fs::read_to_string(file).unwrap();
    std::fs::write(
        &broken,
        original.replacen(
            "    restart: unless-stopped",
            "    restart: unless-stopped\n    restart_policy_typo: always",
            1,
        ),
    )
    .unwrap();
    let output = compose_config(broken.to_str().unwrap(), COMPOSE_SECRETS);
    let _ = std::fs::remove_file(&broken);
    assert!(
        !output.status.success(),
        "an invalid compose file must be rejected"
    );
}

// ---------------------------------------------------------------------------------------------
// The AI path: the Python agent service (a real process) answering through the workflow, calling
// MemoryService back on this app's worker.
// ---------------------------------------------------------------------------------------------

fn ai_settings(threshold: f32) -> Value {
    json!({"debounce_ms": 0, "ai": {"agent_type": "RouterAgent", "confidence_threshold": threshold}})
}

#[tokio::test]
async fn an_agent_answers_through_the_router_with_memory_and_its_suggested_lead_becomes_a_deal() {
    let (app, _agents) = ai_app(ai_settings(0.3)).await;
    let chat = "5511999990010@c.us";
    app.customer_writes(chat, text("I want to buy product X"), 1, false)
        .await;

    let outbound = app.wait_outbound(1, "read", WAIT).await;
    let (intent, confidence, agent_type, body): (
        Option<String>,
        Option<f32>,
        Option<String>,
        Option<String>,
    ) = sqlx::query_as("SELECT intent, confidence, agent_type, body FROM messages WHERE id = $1")
        .bind(outbound[0].0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(intent.as_deref(), Some("purchase_intent"));
    assert!(confidence.unwrap() >= 0.3);
    assert_eq!(
        agent_type.as_deref(),
        Some("SalesAgent"),
        "the router picked the sales specialist"
    );
    // "Test Customer" is the push name stored on the contact: it reached the agent only through
    // MemoryService (GetContactContext), served by the worker from PostgreSQL.
    assert!(
        body.as_deref().unwrap().starts_with("Hi Test!"),
        "reply: {body:?}"
    );
    let tools: String = sqlx::query_scalar("SELECT metadata->>'tools_called' FROM agent_runs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        tools.contains("get_contact_context") && tools.contains("search_memories"),
        "{tools}"
    );

    // The suggested actions: a lead (deal) in the default pipeline.
    let deals: Vec<(String, String)> = sqlx::query_as(
        "SELECT d.title, s.key FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        deals,
        vec![("Interested in product x".to_owned(), "new".to_owned())]
    );
    let events: Vec<String> = app.outbox().await.into_iter().map(|(e, _)| e).collect();
    assert!(
        events.contains(&"deal.created".to_owned()) && events.contains(&"agent.replied".to_owned()),
        "{events:?}"
    );

    // While the agent worked the customer saw blue ticks and "typing…".
    let resp: Value = app
        .http
        .get(format!("{}/sim/sent", app.sim_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        resp["counters"]["seen"].as_u64().unwrap() >= 1
            && resp["counters"]["typing"].as_u64().unwrap() >= 1,
        "{resp}"
    );

    let conversation = app.only_conversation().await;
    let (_, detail) = app
        .get(&format!(
            "/api/v1/conversations/{}",
            conversation["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        detail["live"]["state"]["last_agent"]["agent_type"],
        "SalesAgent"
    );
    assert_eq!(detail["live"]["state"]["last_decision"], "agent");
    assert_eq!(detail["assigned_to"], "bot");
    let reply = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["direction"] == "outbound")
        .unwrap();
    assert_eq!(reply["intent"], "purchase_intent");
    assert_eq!(reply["agent_type"], "SalesAgent");

    let (status, agents) = app.get("/api/v1/agents").await;
    assert_eq!(status, StatusCode::OK, "{agents}");
    let items = agents["items"].as_array().unwrap();
    assert!(items.len() >= 20);
    let router = items.iter().find(|a| a["type"] == "RouterAgent").unwrap();
    assert!(
        router["executions"].as_i64().unwrap() >= 1,
        "latency is measured from real executions: {router}"
    );
    app.record_history(
        conversation["workflow_id"].as_str().unwrap(),
        "conversation-agent-outbound-started",
    )
    .await;
}

#[tokio::test]
async fn a_portuguese_customer_is_answered_in_portuguese_and_the_conversation_keeps_the_language() {
    let (app, _agents) = ai_app(ai_settings(0.0)).await;
    let chat = "5511999990014@c.us";
    app.customer_writes(
        chat,
        text("Oi, quero comprar o produto X, vocês entregam em Curitiba?"),
        1,
        false,
    )
    .await;
    app.wait_outbound(1, "read", WAIT).await;
    let first = app.sent_to(chat);
    assert!(
        first[0].starts_with("Olá"),
        "answered in Portuguese: {first:?}"
    );
    let languages: (Option<String>, Option<String>) =
        sqlx::query_as("SELECT s.language, c.language FROM conversation_sessions s JOIN contacts c ON c.id = s.contact_id")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        languages,
        (Some("pt".to_owned()), Some("pt".to_owned())),
        "kept on the session and the contact"
    );
    // "ok" alone could be any language: the conversation's decides.
    app.customer_writes(chat, text("ok"), 1, false).await;
    app.wait_outbound(2, "read", WAIT).await;
    let replies = app.sent_to(chat);
    assert!(
        replies[1].starts_with("Olá"),
        "still Portuguese: {replies:?}"
    );
    let conversation = app.only_conversation().await;
    assert_eq!(
        conversation["language"], "pt",
        "the API shows it: {conversation}"
    );
    let (_, contact) = app
        .get(&format!(
            "/api/v1/contacts/{}",
            conversation["contact_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(contact["language"], "pt", "{contact}");
}

#[tokio::test]
async fn low_confidence_hands_the_chat_to_a_human_and_keeps_the_message() {
    let (app, _agents) = ai_app(ai_settings(0.999)).await;
    app.customer_writes("5511999990011@c.us", text("hmm"), 1, false)
        .await;
    let session = eventually("a human handoff", WAIT, || async {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT assigned_to, handoff_reason FROM conversation_sessions")
                .fetch_optional(&app.pool)
                .await
                .unwrap();
        row.filter(|(a, _)| a == "human")
    })
    .await;
    assert_eq!(session.1.as_deref(), Some("low_confidence"));
    assert_eq!(app.count("messages WHERE direction = 'inbound'").await, 1);
    assert_eq!(app.count("messages WHERE direction = 'outbound'").await, 0);
}

#[tokio::test]
async fn a_restarted_agent_service_is_retried_and_answers_once() {
    let (app, mut agents) = ai_app(ai_settings(0.3)).await;
    agents.kill();
    app.customer_writes("5511999990012@c.us", text("where is my order?"), 1, false)
        .await;
    eventually(
        "the message stored while the agent service is down",
        WAIT,
        || async { (app.count("messages WHERE direction = 'inbound'").await == 1).then_some(()) },
    )
    .await;
    // Back on the same address within the retry budget: the activity's retries reach it.
    let _agents = support::AgentService::start_on(&app.memory_address, &agents.address).await;
    let outbound = app.wait_outbound(1, "read", WAIT).await;
    let agent_type: Option<String> =
        sqlx::query_scalar("SELECT agent_type FROM messages WHERE id = $1")
            .bind(outbound[0].0)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(agent_type.as_deref(), Some("OrderStatusAgent"));
    assert_eq!(app.count("agent_runs").await, 1);
    // The agent cannot see orders: its reply says a colleague will answer, and one does get the chat.
    let (assigned, reason): (String, Option<String>) =
        eventually("the chat handed to a colleague", WAIT, || async {
            let row: (String, Option<String>) =
                sqlx::query_as("SELECT assigned_to, handoff_reason FROM conversation_sessions")
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
            (row.0 == "human").then_some(row)
        })
        .await;
    assert_eq!(
        (assigned.as_str(), reason.as_deref()),
        ("human", Some("agent_requested"))
    );
}

#[tokio::test]
async fn an_agent_service_down_past_the_retry_budget_hands_off_and_keeps_the_message() {
    let (app, mut agents) = ai_app(ai_settings(0.3)).await;
    agents.kill();
    app.customer_writes("5511999990013@c.us", text("where is my order?"), 1, false)
        .await;
    let session = eventually(
        "a human handoff after the retry budget",
        Duration::from_secs(90),
        || async {
            let row: Option<(String, Option<String>)> =
                sqlx::query_as("SELECT assigned_to, handoff_reason FROM conversation_sessions")
                    .fetch_optional(&app.pool)
                    .await
                    .unwrap();
            row.filter(|(a, _)| a == "human")
        },
    )
    .await;
    assert_eq!(session.1.as_deref(), Some("agent_unavailable"));
    assert_eq!(app.count("messages WHERE direction = 'inbound'").await, 1);
    assert_eq!(app.count("messages WHERE direction = 'outbound'").await, 0);
}

#[tokio::test]
async fn memory_service_serves_only_the_callers_tenant_and_rejects_bad_requests() {
    use ventros_proto::v1::{ContactContextRequest, MemorySearchRequest, StoreMemoryRequest};

    let app = TestApp::spawn(greeting_settings()).await;
    app.customer_writes(
        "5511999990014@c.us",
        text("My blender broke, I bought it last month"),
        1,
        false,
    )
    .await;
    app.wait_outbound(1, "read", WAIT).await;
    let contact = app.only_conversation().await["contact_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tenant = app.tenant_id.to_string();
    let mut client = eventually("MemoryService to listen", WAIT, || async {
        support::memory_client(&app.memory_address, app.tenant_id).await
    })
    .await;

    let context = client
        .get_contact_context(ContactContextRequest {
            contact_id: contact.clone(),
            tenant_id: tenant.clone(),
            history_limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(context.profile.unwrap().display_name, "Test Customer");
    assert_eq!(context.recent_messages.len(), 2);
    assert_eq!(context.stats.unwrap().sessions, 1);

    let stored = client
        .store_memory(StoreMemoryRequest {
            contact_id: contact.clone(),
            tenant_id: tenant.clone(),
            content: "Owns a Pro blender".into(),
            memory_type: "purchase".into(),
            idempotency_key: "k-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(stored.created);
    let again = client
        .store_memory(StoreMemoryRequest {
            contact_id: contact.clone(),
            tenant_id: tenant.clone(),
            content: "Owns a Pro blender".into(),
            memory_type: "purchase".into(),
            idempotency_key: "k-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!again.created);
    assert_eq!(again.memory_id, stored.memory_id);

    // The stored memory at once; the customer's message once its memory queue has taken it in.
    let contents = eventually("the message ingested as a memory", WAIT, || {
        let mut client = client.clone();
        let (contact, tenant) = (contact.clone(), tenant.clone());
        async move {
            let found = client
                .search_memories(MemorySearchRequest {
                    contact_id: contact,
                    tenant_id: tenant,
                    query: "blender".into(),
                    limit: 5,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            let contents: Vec<String> = found.memories.into_iter().map(|m| m.content).collect();
            contents
                .iter()
                .any(|c| c.contains("broke"))
                .then_some(contents)
        }
    })
    .await;
    assert!(
        contents.iter().any(|c| c == "Owns a Pro blender"),
        "{contents:?}"
    );

    // The tenant in a request is checked against the credentials, never trusted.
    let other_tenant = uuid::Uuid::new_v4().to_string();
    let err = client
        .get_contact_context(ContactContextRequest {
            contact_id: contact.clone(),
            tenant_id: other_tenant,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    let victim = ContactContextRequest {
        contact_id: contact.clone(),
        tenant_id: tenant.clone(),
        history_limit: 10,
        ..Default::default()
    };
    // No credentials at all (what the outside review did): refused.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", app.memory_address))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut bare =
        ventros_proto::v1::memory_service_client::MemoryServiceClient::new(channel.clone());
    assert_eq!(
        bare.get_contact_context(victim.clone())
            .await
            .unwrap_err()
            .code(),
        tonic::Code::Unauthenticated
    );
    // Another tenant's genuine credentials: refused.
    let mut intruder =
        ventros_proto::v1::memory_service_client::MemoryServiceClient::with_interceptor(
            channel.clone(),
            support::TenantToken(uuid::Uuid::now_v7()),
        );
    assert_eq!(
        intruder
            .get_contact_context(victim.clone())
            .await
            .unwrap_err()
            .code(),
        tonic::Code::PermissionDenied
    );
    // Credentials signed with another secret, or bound to another contact: refused.
    let forger = ventros_activities::internal_auth::InternalAuth::new(
        "not-the-shared-secret-0123456789abcdef",
    )
    .unwrap();
    let mut request = tonic::Request::new(victim.clone());
    forger.attach(
        &mut request,
        Some(app.tenant_id),
        None,
        Duration::from_secs(60),
    );
    assert_eq!(
        bare.get_contact_context(request).await.unwrap_err().code(),
        tonic::Code::Unauthenticated
    );
    let mut request = tonic::Request::new(victim.clone());
    support::internal_auth().attach(
        &mut request,
        Some(app.tenant_id),
        Some(uuid::Uuid::now_v7()),
        Duration::from_secs(60),
    );
    assert_eq!(
        bare.get_contact_context(request).await.unwrap_err().code(),
        tonic::Code::PermissionDenied
    );
    let mut request = tonic::Request::new(victim);
    support::internal_auth().attach(
        &mut request,
        Some(app.tenant_id),
        uuid::Uuid::parse_str(&contact).ok(),
        Duration::from_secs(60),
    );
    assert!(
        bare.get_contact_context(request).await.is_ok(),
        "the contact's own agent call is answered"
    );
    let err = client
        .search_memories(MemorySearchRequest {
            contact_id: contact.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("tenant_id"));
    let err = client
        .store_memory(StoreMemoryRequest {
            contact_id: contact,
            tenant_id: tenant,
            content: "  ".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

/// A reply's OutboundMessage is started by the Conversation's local activity, not as its child:
/// the Conversation's history holds no child events (each woke it for a workflow task), and the
/// message's workflow, with its own id and history, has no parent. It sends from a local activity
/// of its one workflow task: no activity task, and no second workflow task for its completion.
#[tokio::test]
async fn a_reply_is_sent_from_the_conversations_own_workflow_task() {
    use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
    let app = TestApp::spawn(greeting_settings()).await;
    app.customer_writes("5511999990002@c.us", text("Oi, tudo bem?"), 1, false)
        .await;
    let outbound = app.wait_outbound(1, "read", WAIT).await;
    let conversation = app.only_conversation().await;
    let conversation = conversation["workflow_id"].as_str().unwrap();
    let events = app.history_events(conversation).await;
    let count = |wanted: fn(&Attributes) -> bool| {
        events
            .iter()
            .filter(|e| e.attributes.as_ref().is_some_and(wanted))
            .count()
    };
    assert_eq!(
        count(|a| matches!(
            a,
            Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(_)
                | Attributes::ActivityTaskScheduledEventAttributes(_)
        )),
        0,
        "no child workflow and no activity task"
    );
    assert_eq!(
        support::local_activities(
            &events,
            ventros_workflows::contract::names::ACTIVITY_SEND_OUTBOUND
        ),
        1,
        "sent by a local activity of the Conversation"
    );
    assert_eq!(
        support::local_activities(
            &events,
            ventros_workflows::contract::names::ACTIVITY_START_OUTBOUND
        ),
        0,
        "no OutboundMessage started"
    );

    // The message names the Conversation as its workflow (the Temporal UI link), and no
    // OutboundMessage workflow exists for it.
    let (status, message) = app
        .get(&format!("/api/v1/messages/{}", outbound[0].0))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(message["workflow_id"], conversation);
    let own = ventros_workflows::ids::outbound_workflow_id(app.tenant_id, outbound[0].0);
    assert!(app.history_events_if_any(&own).await.is_none());
    app.record_history(conversation, "conversation-reply-sent-inline")
        .await;
}
