//! Messenger and Instagram end to end, against the real Temporal dev server and PostgreSQL: the
//! Meta simulator signs webhooks the way Meta does and answers the Send API by Meta's rules; the
//! same Conversation and OutboundMessage workflows as WhatsApp carry the messages.

use std::time::Duration;

use crate::support;
use crate::support::{TestApp, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use uuid::Uuid;
use ventros_channels::meta::{MetaPlatform, sign_body, to_escaped_json};
use ventros_simulators::meta::{MetaFaults, MetaSimulator, SimPage};

const WAIT: Duration = Duration::from_secs(60);
const GREETING: &str = "Olá! Como posso ajudar? 👋";
const APP_SECRET: &str = "meta-app-secret-0123456789";
const VERIFY_TOKEN: &str = "verify-me-please";

/// A Messenger or Instagram channel of the test tenant, wired to its own Meta simulator.
struct MetaChannel {
    sim: MetaSimulator,
    sim_url: String,
    id: Uuid,
    page_id: String,
}

impl MetaChannel {
    async fn create(
        app: &TestApp,
        platform: MetaPlatform,
        page_id: &str,
        settings: Value,
    ) -> MetaChannel {
        let sim = MetaSimulator::new(Duration::from_millis(30));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim_url = format!("http://{}", listener.local_addr().unwrap());
        let router = sim.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let (status, channel) = app
            .post(
                "/api/v1/channels",
                json!({"name": format!("{} test", platform.kind()), "kind": platform.kind(), "settings": settings,
                       "provider_config": {"page_id": page_id, "access_token": "page-token-123", "app_secret": APP_SECRET,
                                           "verify_token": VERIFY_TOKEN, "graph_base_url": sim_url}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{channel}");
        assert_eq!(channel["provider_config"]["app_secret_set"], true);
        assert!(
            channel["provider_config"].get("app_secret").is_none(),
            "secrets are never returned: {channel}"
        );
        assert_eq!(channel["webhook"]["object"], platform.webhook_object());
        let webhook_url = channel["webhook"]["url"].as_str().unwrap().to_owned();
        // Subscribing performs Meta's verify-token handshake against our endpoint.
        sim.register(SimPage {
            page_id: page_id.into(),
            platform,
            access_token: "page-token-123".into(),
            app_secret: APP_SECRET.into(),
            verify_token: VERIFY_TOKEN.into(),
            webhook_url,
        })
        .await
        .expect("the handshake succeeds");
        MetaChannel {
            sim,
            sim_url,
            id: channel["id"].as_str().unwrap().parse().unwrap(),
            page_id: page_id.into(),
        }
    }

    /// A customer writes through the simulator; every webhook must be accepted.
    async fn customer_writes(
        &self,
        app: &TestApp,
        from: &str,
        messages: Value,
        options: Value,
    ) -> Value {
        let mut body = json!({"page_id": self.page_id, "from": from, "messages": messages});
        for (k, v) in options.as_object().unwrap() {
            body[k] = v.clone();
        }
        let resp = app
            .http
            .post(format!("{}/sim/inbound", self.sim_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let answer: Value = resp.json().await.unwrap();
        for status in answer["statuses"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
        {
            assert_eq!(
                status.as_u64(),
                Some(200),
                "the API must accept every delivery: {answer}"
            );
        }
        answer
    }

    async fn post_raw(
        &self,
        app: &TestApp,
        body: Vec<u8>,
        signature: Option<String>,
    ) -> (StatusCode, Value) {
        let mut req = app
            .http
            .post(format!("{}/webhooks/meta/{}", app.api, self.id))
            .header("content-type", "application/json")
            .body(body);
        if let Some(sig) = signature {
            req = req.header("X-Hub-Signature-256", sig);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Posts a webhook signed as Meta signs it.
    async fn post_signed(&self, app: &TestApp, body: &Value) -> (StatusCode, Value) {
        let bytes = to_escaped_json(body);
        let sig = sign_body(APP_SECRET, &bytes);
        self.post_raw(app, bytes, Some(sig)).await
    }

    async fn outbound(&self, app: &TestApp) -> Vec<(Uuid, String, Option<String>)> {
        sqlx::query_as("SELECT id, status, failure_reason FROM messages WHERE direction = 'outbound' AND channel_id = $1 ORDER BY created_at")
            .bind(self.id)
            .fetch_all(&app.pool)
            .await
            .unwrap()
    }

    async fn wait_outbound(
        &self,
        app: &TestApp,
        n: usize,
        status: &str,
    ) -> Vec<(Uuid, String, Option<String>)> {
        eventually(
            &format!("{n} outbound message(s) {status}"),
            WAIT,
            || async {
                let rows = self.outbound(app).await;
                (rows.len() == n && rows.iter().all(|(_, s, _)| s == status)).then_some(rows)
            },
        )
        .await
    }

    async fn inbound_texts(&self, app: &TestApp) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT body FROM messages WHERE direction = 'inbound' AND channel_id = $1 ORDER BY provider_timestamp, created_at",
        )
        .bind(self.id)
        .fetch_all(&app.pool)
        .await
        .unwrap()
    }
}

fn messaging(page: &str, from: &str, item: Value) -> Value {
    let mut v = json!({"sender": {"id": from}, "recipient": {"id": page}, "timestamp": chrono::Utc::now().timestamp_millis()});
    for (k, x) in item.as_object().unwrap() {
        v[k] = x.clone();
    }
    json!({"object": "page", "entry": [{"id": page, "time": chrono::Utc::now().timestamp_millis(), "messaging": [v]}]})
}

#[tokio::test]
async fn handshake_and_signatures_guard_the_webhook() {
    let app = TestApp::spawn(json!({})).await;
    let fb = MetaChannel::create(
        &app,
        MetaPlatform::Messenger,
        "1001",
        json!({"debounce_ms": 0}),
    )
    .await;
    let verify = |token: &str, mode: &str, channel: String| {
        app.http
            .get(format!("{}/webhooks/meta/{channel}", app.api))
            .query(&[
                ("hub.mode", mode),
                ("hub.verify_token", token),
                ("hub.challenge", "1158201444"),
            ])
            .send()
    };
    let good = verify(VERIFY_TOKEN, "subscribe", fb.id.to_string())
        .await
        .unwrap();
    assert_eq!(good.status(), StatusCode::OK);
    assert_eq!(
        good.text().await.unwrap(),
        "1158201444",
        "the raw challenge, nothing else"
    );
    assert_eq!(
        verify("wrong-token", "subscribe", fb.id.to_string())
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        verify(VERIFY_TOKEN, "unsubscribe", fb.id.to_string())
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        verify(VERIFY_TOKEN, "subscribe", Uuid::now_v7().to_string())
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    // The WhatsApp channel is not a Meta channel.
    assert_eq!(
        verify(VERIFY_TOKEN, "subscribe", app.channel_id.to_string())
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // Non-ASCII text: Meta signs its \u-escaped serialisation; we hash the raw bytes as received.
    let text = "Olá, ação ✓ 😀";
    let body = messaging(
        "1001",
        "2001",
        json!({"message": {"mid": "m_nonascii", "text": text}}),
    );
    let escaped = to_escaped_json(&body);
    assert!(
        String::from_utf8(escaped.clone())
            .unwrap()
            .contains(r"\u00e1")
    );
    let unescaped = serde_json::to_vec(&body).unwrap();
    let (status, problem) = fb
        .post_raw(
            &app,
            escaped.clone(),
            Some(sign_body(APP_SECRET, &unescaped)),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a signature over another serialisation: {problem}"
    );
    let (status, _) = fb.post_raw(&app, escaped.clone(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = fb
        .post_raw(
            &app,
            escaped.clone(),
            Some(sign_body("another-app-secret-000", &escaped)),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut tampered = escaped.clone();
    let at = tampered.iter().position(|b| *b == b'2').unwrap();
    tampered[at] = b'3';
    let (status, _) = fb
        .post_raw(&app, tampered, Some(sign_body(APP_SECRET, &escaped)))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let malformed = b"{not json".to_vec();
    let (status, _) = fb
        .post_raw(
            &app,
            malformed.clone(),
            Some(sign_body(APP_SECRET, &malformed)),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut instagram = body.clone();
    instagram["object"] = json!("instagram");
    let (status, problem) = fb.post_signed(&app, &instagram).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        app.count("webhook_inbox").await,
        0,
        "refused deliveries store nothing"
    );

    let (status, answer) = fb
        .post_raw(&app, escaped.clone(), Some(sign_body(APP_SECRET, &escaped)))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    eventually("the message stored", WAIT, || async {
        (fb.inbound_texts(&app).await == [text]).then_some(())
    })
    .await;
    let identity: (String, String) =
        sqlx::query_as("SELECT kind, external_id FROM contact_identities WHERE channel_id = $1")
            .bind(fb.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(identity, ("psid".to_owned(), "2001".to_owned()));
}

#[tokio::test]
async fn messenger_batches_duplicates_echoes_and_watermarks() {
    let app = TestApp::spawn(json!({})).await;
    let fb = MetaChannel::create(
        &app,
        MetaPlatform::Messenger,
        "1002",
        json!({"greeting": GREETING, "debounce_ms": 300}),
    )
    .await;

    // One webhook with three entries, delivered twice and in reverse order: each message once,
    // in the customer's order, and one greeting.
    let base = chrono::Utc::now().timestamp_millis() - 2_000;
    let messages = json!([{"text": "primeira", "timestamp_ms": base}, {"text": "segunda", "timestamp_ms": base + 10},
                          {"text": "terceira", "timestamp_ms": base + 20}]);
    fb.customer_writes(
        &app,
        "2002",
        messages,
        json!({"batched": true, "reverse": true, "deliveries": 2}),
    )
    .await;
    let greeting = fb.wait_outbound(&app, 1, "read").await;
    assert_eq!(
        fb.inbound_texts(&app).await,
        ["primeira", "segunda", "terceira"]
    );
    assert_eq!(
        app.status_history(greeting[0].0).await,
        ["pending", "sent", "delivered", "read"]
    );
    let sent = fb.sim.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].text.as_str(), sent[0].messaging_type.as_deref()),
        (GREETING, Some("RESPONSE"))
    );
    assert_eq!(
        sent[0].metadata.as_deref(),
        Some(greeting[0].0.to_string().as_str()),
        "our id travels as metadata"
    );
    // The echo of our greeting was not taken for a customer message.
    assert_eq!(app.count("messages WHERE direction = 'inbound'").await, 3);
    let (status, conversations) = app.get("/api/v1/conversations").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(conversations["items"].as_array().unwrap().len(), 1);
    let conversation = conversations["items"][0]["id"].as_str().unwrap().to_owned();
    app.record_history(
        conversations["items"][0]["workflow_id"].as_str().unwrap(),
        "conversation-messenger-batch-outbound-started",
    )
    .await;

    // Watermarks: two operator replies with no receipts from Meta, then one delivery watermark
    // and one read watermark cover both.
    fb.sim.set_faults(MetaFaults {
        no_receipts: true,
        ..MetaFaults::default()
    });
    for (i, text) in ["Seu pedido saiu.", "Chega amanhã."].iter().enumerate() {
        let (status, body) = app
            .http
            .post(format!(
                "{}/api/v1/conversations/{conversation}/messages",
                app.api
            ))
            .bearer_auth(&app.api_key)
            .header("Idempotency-Key", format!("wm-{i}"))
            .json(&json!({"text": text}))
            .send()
            .await
            .map(|r| (r.status(), r))
            .unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "{:?}", body.text().await);
    }
    let rows = eventually("both replies sent", WAIT, || async {
        let rows = fb.outbound(&app).await;
        (rows.len() == 3 && rows[1..].iter().all(|(_, s, _)| s == "sent")).then_some(rows)
    })
    .await;
    let watermark = chrono::Utc::now().timestamp_millis() + 1;
    let (status, answer) = fb
        .post_signed(
            &app,
            &messaging(
                "1002",
                "2002",
                json!({"delivery": {"watermark": watermark}}),
            ),
        )
        .await;
    assert_eq!(
        (status, &answer["receipts"]),
        (StatusCode::OK, &json!(2)),
        "{answer}"
    );
    eventually("both delivered", WAIT, || async {
        let rows = fb.outbound(&app).await;
        rows[1..]
            .iter()
            .all(|(_, s, _)| s == "delivered")
            .then_some(())
    })
    .await;
    let (status, answer) = fb
        .post_signed(
            &app,
            &messaging("1002", "2002", json!({"read": {"watermark": watermark}})),
        )
        .await;
    assert_eq!(
        (status, &answer["receipts"]),
        (StatusCode::OK, &json!(2)),
        "{answer}"
    );
    fb.wait_outbound(&app, 3, "read").await;
    // A late delivery receipt moves nothing backwards.
    let (status, answer) = fb
        .post_signed(
            &app,
            &messaging(
                "1002",
                "2002",
                json!({"delivery": {"watermark": watermark}}),
            ),
        )
        .await;
    assert_eq!(
        (status, &answer["receipts"]),
        (StatusCode::OK, &json!(0)),
        "{answer}"
    );
    for (id, _, _) in &rows[1..] {
        assert_eq!(
            app.status_history(*id).await,
            ["pending", "sent", "delivered", "read"]
        );
    }

    // A reaction to our message is kept on it.
    let mid: String = sqlx::query_scalar("SELECT provider_message_id FROM messages WHERE id = $1")
        .bind(rows[1].0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let (status, _) = fb
        .post_signed(&app, &messaging("1002", "2002", json!({"reaction": {"mid": mid, "action": "react", "reaction": "love", "emoji": "❤"}})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, message) = app.get(&format!("/api/v1/messages/{}", rows[1].0)).await;
    assert_eq!(message["customer_reaction"], "❤");
    assert!(
        app.outbox()
            .await
            .iter()
            .any(|(e, _)| e == "message.reaction")
    );
}

#[tokio::test]
async fn instagram_loop_with_the_changes_shape_seen_receipts_and_a_merge() {
    let app = TestApp::spawn(json!({})).await;
    let ig = MetaChannel::create(
        &app,
        MetaPlatform::Instagram,
        "1003",
        json!({"greeting": GREETING, "debounce_ms": 0}),
    )
    .await;
    ig.customer_writes(
        &app,
        "3003",
        json!([{"text": "oi pelo insta"}]),
        json!({"changes_shape": true}),
    )
    .await;
    // Instagram reports no deliveries: sent, then read ("seen"), never "undelivered".
    let greeting = ig.wait_outbound(&app, 1, "read").await;
    assert_eq!(
        app.status_history(greeting[0].0).await,
        ["pending", "sent", "delivered", "read"],
        "a read implies delivered"
    );
    assert_eq!(ig.sim.sent()[0].text, GREETING);
    let (_, message) = app
        .get(&format!("/api/v1/messages/{}", greeting[0].0))
        .await;
    app.record_history(
        message["workflow_id"].as_str().unwrap(),
        "conversation-instagram-reply-seen",
    )
    .await;
    // A postback is a message too (its title as text, its payload kept).
    ig.customer_writes(
        &app,
        "3003",
        json!([{"postback": {"title": "Ver catálogo", "payload": "CATALOG"}}]),
        json!({}),
    )
    .await;
    eventually("the postback stored", WAIT, || async {
        (ig.inbound_texts(&app).await == ["oi pelo insta", "Ver catálogo"]).then_some(())
    })
    .await;

    // The same person on WhatsApp and Instagram becomes one contact with both identities.
    let ig_contact: Uuid = sqlx::query_scalar(
        "SELECT contact_id FROM contact_identities WHERE channel_id = $1 AND kind = 'igsid'",
    )
    .bind(ig.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let (status, wa) = app
        .post("/api/v1/contacts", json!({"display_name": "Ana", "identities": [{"channel_id": app.channel_id, "kind": "wa_user", "external_id": "5511988887777@c.us"}]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{wa}");
    let (status, merge) = app
        .post(
            &format!("/api/v1/contacts/{}/merge", wa["id"].as_str().unwrap()),
            json!({"merge_contact_id": ig_contact}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{merge}");
    let merge_id = merge["id"].as_str().unwrap().to_owned();
    eventually("the merge to complete", WAIT, || async {
        let (_, merge) = app.get(&format!("/api/v1/contact-merges/{merge_id}")).await;
        (merge["status"] == "completed").then_some(())
    })
    .await;
    let (_, contact) = app
        .get(&format!("/api/v1/contacts/{}", wa["id"].as_str().unwrap()))
        .await;
    let mut kinds: Vec<&str> = contact["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["igsid", "wa_user"], "{contact}");
}

#[tokio::test]
async fn the_messaging_window_rate_limits_and_refusals() {
    let app = TestApp::spawn(json!({})).await;
    let fb = MetaChannel::create(
        &app,
        MetaPlatform::Messenger,
        "1004",
        json!({"greeting": GREETING, "debounce_ms": 0}),
    )
    .await;
    let hours_ago = |h: i64| chrono::Utc::now().timestamp_millis() - h * 3_600_000;

    // A customer whose last message is 25 hours old: the automatic greeting is refused, with the
    // reason, and Meta is never called.
    fb.customer_writes(
        &app,
        "4001",
        json!([{"text": "mensagem antiga", "timestamp_ms": hours_ago(25)}]),
        json!({}),
    )
    .await;
    let failed = fb.wait_outbound(&app, 1, "failed").await;
    assert!(
        failed[0].2.as_deref().unwrap().contains("24-hour"),
        "{failed:?}"
    );
    assert!(fb.sim.sent().is_empty());
    // An operator may still answer, as a human agent, with the HUMAN_AGENT tag.
    let (_, conversations) = app.get("/api/v1/conversations").await;
    let late = conversations["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel_id"] == json!(fb.id))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, reply) = app
        .call(
            Method::POST,
            &format!("/api/v1/conversations/{late}/messages"),
            &app.api_key,
            Some(json!({"text": "Desculpe a demora!"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    eventually("the human reply sent", WAIT, || async {
        (!fb.sim.sent().is_empty()).then_some(())
    })
    .await;
    let sent = fb.sim.sent();
    assert_eq!(
        (sent[0].messaging_type.as_deref(), sent[0].tag.as_deref()),
        (Some("MESSAGE_TAG"), Some("HUMAN_AGENT"))
    );

    // Eight days: not even a human may answer; the API says why and sends nothing.
    fb.customer_writes(
        &app,
        "4002",
        json!([{"text": "muito antiga", "timestamp_ms": hours_ago(24 * 8)}]),
        json!({}),
    )
    .await;
    let old = eventually("the second conversation", WAIT, || async {
        let (_, list) = app.get("/api/v1/conversations").await;
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["channel_id"] == json!(fb.id))
            .count()
            .eq(&2)
            .then_some(list)
    })
    .await;
    let old = old["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] != json!(late))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/api/v1/conversations/{old}/messages"),
            &app.api_key,
            Some(json!({"text": "Oi?"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("7 days"),
        "{problem}"
    );
    // Starting a conversation is refused the same way, up front; and a Messenger chat cannot be
    // started from a phone number at all.
    let stale_contact = eventually("the old customer's contact", WAIT, || async {
        let (_, c) = app.get(&format!("/api/v1/conversations/{old}")).await;
        c["contact_id"].as_str().map(str::to_owned)
    })
    .await;
    let (status, problem) = app
        .post(
            "/api/v1/conversations",
            json!({"channel_id": fb.id, "contact_id": stale_contact, "text": "Oi?"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("7 days"),
        "{problem}"
    );
    let (status, problem) = app
        .post(
            "/api/v1/conversations",
            json!({"channel_id": fb.id, "phone": "+55 11 99999-0001", "text": "Oi?"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    // Rate limited: retried with backoff, then sent once.
    fb.sim.set_faults(MetaFaults {
        rate_limit_calls: 1,
        ..MetaFaults::default()
    });
    fb.customer_writes(&app, "4003", json!([{"text": "oi agora"}]), json!({}))
        .await;
    eventually("the rate-limited greeting sent", WAIT, || async {
        (fb.sim.sent().iter().filter(|m| m.user_id == "4003").count() == 1).then_some(())
    })
    .await;
    // Refused for good: failed with Meta's code.
    fb.sim.set_faults(MetaFaults {
        reject_recipient_ids: vec!["4004".into()],
        ..MetaFaults::default()
    });
    fb.customer_writes(&app, "4004", json!([{"text": "oi também"}]), json!({}))
        .await;
    let reason = eventually("the refused greeting failed", WAIT, || async {
        let reason: Option<Option<String>> = sqlx::query_scalar(
            "SELECT m.failure_reason FROM messages m JOIN contact_identities i ON i.id = m.identity_id
              WHERE i.external_id = '4004' AND m.direction = 'outbound' AND m.status = 'failed'",
        )
        .fetch_optional(&app.pool)
        .await
        .unwrap();
        reason.flatten()
    })
    .await;
    assert!(reason.contains("code 551"), "{reason}");
    let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM messages m JOIN contact_identities i ON i.id = m.identity_id WHERE i.external_id = '4003' AND m.status IN ('sent', 'delivered', 'read')")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        counted, 1,
        "the rate-limited greeting was sent exactly once"
    );

    // A campaign on this channel skips the customer outside the window, with the reason.
    let stale: Uuid = sqlx::query_scalar(
        "SELECT contact_id FROM contact_identities WHERE external_id = '4001' AND channel_id = $1",
    )
    .bind(fb.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let (status, _) = app
        .post(
            &format!("/api/v1/contacts/{stale}/tags"),
            json!({"tag": "fb-campaign"}),
        )
        .await;
    assert!(status.is_success(), "{status}");
    let (status, segment) = app
        .post(
            "/api/v1/segments",
            json!({"name": "FB", "filter": {"tags_all": ["fb-campaign"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{segment}");
    let (status, campaign) = app
        .post(
            "/api/v1/campaigns",
            json!({"name": "Cold", "channel_id": fb.id, "segment_id": segment["id"], "objective": "Black Friday: 30% off.",
                   "schedule": {"kind": "now"}, "best_send_time": false}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let id = campaign["id"].as_str().unwrap();
    let (status, body) = app
        .post(&format!("/api/v1/campaigns/{id}/schedule"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reason = eventually("the recipient skipped", WAIT, || async {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT reason FROM campaign_recipients WHERE contact_id = $1 AND status = 'skipped'",
        )
        .bind(stale)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
        .flatten()
    })
    .await;
    assert_eq!(reason, "outside_messaging_window");
}

#[tokio::test]
async fn an_agent_answers_on_messenger_with_seen_and_typing_through_the_send_api() {
    let memory = format!("127.0.0.1:{}", support::free_port());
    let agents = support::AgentService::start(&memory).await;
    let app = TestApp::builder()
        .agents(&agents.address, &memory)
        .spawn()
        .await;
    let fb = MetaChannel::create(
        &app,
        MetaPlatform::Messenger,
        "1005",
        json!({"debounce_ms": 0, "ai": {"agent_type": "RouterAgent", "confidence_threshold": 0.3}}),
    )
    .await;
    fb.customer_writes(
        &app,
        "5005",
        json!([{"text": "I want to buy product X"}]),
        json!({}),
    )
    .await;
    let reply = fb.wait_outbound(&app, 1, "read").await;
    let (intent, agent_type): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT intent, agent_type FROM messages WHERE id = $1")
            .bind(reply[0].0)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (intent.as_deref(), agent_type.as_deref()),
        (Some("purchase_intent"), Some("SalesAgent"))
    );
    assert_eq!(
        app.status_history(reply[0].0).await,
        ["pending", "sent", "delivered", "read"]
    );
    // While the agent worked the customer saw "seen" and "typing…", as Meta sender actions.
    assert!(fb.sim.sender_actions("mark_seen") >= 1, "mark_seen");
    // (A sent message ends "typing…" by itself on Messenger, as on WhatsApp.)
    assert!(fb.sim.sender_actions("typing_on") >= 1, "typing_on");
    let sent = fb.sim.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].user_id, "5005");
}

/// Messenger's files both ways: a customer's photo (from Meta's CDN link) and location are
/// stored and shown; an operator's image goes out as an attachment Meta fetches from a signed
/// link, with receipts; a caption is refused with the reason (Meta's attachments have none).
#[tokio::test]
async fn messenger_attachments_in_and_out() {
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
        .unwrap();
    let app = TestApp::spawn(json!({})).await;
    let fb = MetaChannel::create(
        &app,
        MetaPlatform::Messenger,
        "1007",
        json!({"debounce_ms": 0}),
    )
    .await;
    fb.customer_writes(
        &app,
        "7001",
        json!([{"text": "Chegou assim", "attachments": [
            {"type": "image", "mimetype": "image/png", "data": base64::engine::general_purpose::STANDARD.encode(&png)},
            {"type": "location", "payload": {"coordinates": {"lat": -22.9068, "long": -43.1729}}},
        ]}]),
        json!({}),
    )
    .await;
    let (conversation, attachments) = eventually("the photo stored", WAIT, || async {
        let (_, list) = app.get("/api/v1/conversations").await;
        let id = list["items"][0]["id"].as_str()?.to_owned();
        let (_, page) = app
            .get(&format!("/api/v1/conversations/{id}/messages"))
            .await;
        let files = page["items"][0]["attachments"].as_array()?.clone();
        (files.len() == 2 && files[0]["status"] == "stored").then_some((id, files))
    })
    .await;
    assert_eq!(
        (
            attachments[0]["kind"].as_str(),
            attachments[0]["content_type"].as_str()
        ),
        (Some("image"), Some("image/png"))
    );
    assert_eq!(attachments[1]["kind"], "location");
    assert_eq!(attachments[1]["details"]["longitude"], json!(-43.1729));
    let url = attachments[0]["url"].as_str().unwrap();
    let bytes = app
        .http
        .get(format!("{}{url}", app.api))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.to_vec(), png);

    let upload = app
        .http
        .post(format!("{}/api/v1/media?filename=troca.png", app.api))
        .bearer_auth(&app.api_key)
        .header("content-type", "image/png")
        .body(png.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::CREATED);
    let uploaded: Value = upload.json().await.unwrap();
    let path = format!("/api/v1/conversations/{conversation}/messages");
    let (status, problem) = app
        .call(
            Method::POST,
            &path,
            &app.api_key,
            Some(json!({"media_id": uploaded["id"], "text": "Veja"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("without captions"),
        "{problem}"
    );
    let (status, accepted) = app
        .call(
            Method::POST,
            &path,
            &app.api_key,
            Some(json!({"media_id": uploaded["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    fb.wait_outbound(&app, 1, "read").await;
    let sent = fb.sim.sent();
    let ours: Vec<_> = sent.iter().filter(|m| m.from_page).collect();
    assert_eq!(ours.len(), 1);
    let attachment = ours[0].attachment.as_ref().expect("an attachment");
    assert_eq!(
        (
            attachment["type"].as_str(),
            attachment["content_type"].as_str()
        ),
        (Some("image"), Some("image/png"))
    );
    assert_eq!(attachment["sha256"], uploaded["sha256"]);
}
