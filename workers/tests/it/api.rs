//! The public API end to end: row-level security, roles and tokens, rate and size limits, the
//! idempotent operator reply, the realtime stream, the contact merge workflow across a worker
//! crash, signed outbound webhooks retried until the receiver recovers, and the OpenAPI document
//! fuzzed by schemathesis.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support;
use crate::support::{TestApp, eventually};
use axum::http::HeaderMap;
use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

fn quiet_settings() -> Value {
    // No auto-reply: every outbound message in these tests is one we sent.
    json!({"debounce_ms": 0})
}

fn text(body: &str) -> Value {
    json!([{ "body": body }])
}

async fn login(app: &TestApp, email: &str, password: &str) -> (StatusCode, Value) {
    let resp = app
        .http
        .post(format!("{}/api/v1/auth/login", app.api))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn create_user(app: &TestApp, email: &str, role: &str) -> String {
    let (status, user) = app
        .call(Method::POST, "/api/v1/users", &app.api_key, Some(json!({"email": email, "name": email, "role": role, "password": "correct horse battery"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let (status, tokens) = login(app, email, "correct horse battery").await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn row_level_security_hides_other_tenants_even_from_a_query_without_a_tenant_filter() {
    let app = TestApp::spawn(quiet_settings()).await;
    app.customer_writes("5511999990101@c.us", text("Oi"), 1, false)
        .await;
    eventually("the inbound message", WAIT, || async {
        (app.count("messages").await == 1).then_some(())
    })
    .await;
    let (other_tenant, other_key) = ventros_api::auth::create_tenant(&app.pool, "Other")
        .await
        .unwrap();
    let (status, other_contact) = app
        .call(
            Method::POST,
            "/api/v1/contacts",
            &other_key.secret,
            Some(json!({"display_name": "Bruno"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // The role the API runs as: not a superuser, cannot bypass RLS, owns no table.
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'ventros_app'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(!superuser && !bypass);
    let unprotected: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT c.relrowsecurity
            AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(
        unprotected.is_empty(),
        "tenant tables without RLS: {unprotected:?}"
    );

    // A query that "forgets" its tenant filter, run the way every API request runs.
    // The owner cannot be the API's login: the pool refuses it.
    let Err(refused) = ventros_api::db::app_pool(&app.database_url, 1).await else {
        panic!("the owner is refused as the API's login")
    };
    assert!(refused.to_string().contains("must not log in"), "{refused}");
    let api_url =
        ventros_api::db::login_url(&app.database_url, ventros_api::db::API_LOGIN).unwrap();
    let api_pool = ventros_api::db::app_pool(&api_url, 2).await.unwrap();
    let mut tx = ventros_api::db::tenant_tx(&api_pool, app.tenant_id)
        .await
        .unwrap();
    let tenants: Vec<Uuid> = sqlx::query_scalar("SELECT DISTINCT tenant_id FROM contacts")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(tenants, vec![app.tenant_id]);
    for table in [
        "messages",
        "conversation_sessions",
        "contact_identities",
        "channels",
        "api_keys",
        "outbox_events",
    ] {
        let foreign: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE tenant_id <> $1"
        )))
        .bind(app.tenant_id)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        assert_eq!(foreign, 0, "{table} leaked another tenant's rows");
    }
    // Writing a row for another tenant is refused by the policy's WITH CHECK.
    let write = sqlx::query("INSERT INTO contacts (id, tenant_id) VALUES ($1, $2)")
        .bind(Uuid::now_v7())
        .bind(other_tenant)
        .execute(&mut *tx)
        .await;
    assert!(write.is_err(), "a cross-tenant insert must fail");
    drop(tx);
    // Without a tenant the same role sees nothing at all, and cannot leave its role's limits.
    let mut conn = api_pool.acquire().await.unwrap();
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(visible, 0);
    assert_eq!(
        app.count("contacts").await,
        2,
        "the owner (worker) still sees both tenants"
    );

    // The production shape: a login role that is only a member of ventros_app. It cannot become
    // anyone else, and sees one tenant per transaction like the API's pool.
    let login = format!("api_{}", Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {login} LOGIN PASSWORD 'only-for-this-test' IN ROLE ventros_app"
    )))
    .execute(&app.pool)
    .await
    .unwrap();
    let restricted_url =
        app.database_url
            .replacen("postgres@", &format!("{login}:only-for-this-test@"), 1);
    let restricted = ventros_api::db::app_pool(&restricted_url, 1)
        .await
        .expect("the restricted role connects");
    let mut conn = restricted.acquire().await.unwrap();
    assert!(
        sqlx::query("SET ROLE postgres")
            .execute(&mut *conn)
            .await
            .is_err(),
        "no way out of ventros_app"
    );
    drop(conn);
    let mut tx = ventros_api::db::tenant_tx(&restricted, other_tenant)
        .await
        .unwrap();
    let tenants: Vec<Uuid> = sqlx::query_scalar("SELECT DISTINCT tenant_id FROM contacts")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(tenants, vec![other_tenant]);
    drop(tx);

    // Through the API: other tenants' ids are unknown, for reads and as references in writes.
    let other_id = other_contact["id"].as_str().unwrap();
    let (status, _) = app.get(&format!("/api/v1/contacts/{other_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, problem) = app
        .call(
            Method::POST,
            "/api/v1/deals",
            &app.api_key,
            Some(json!({"contact_id": other_id, "title": "Steal"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/contacts/{other_id}"),
            &app.api_key,
            Some(json!({"display_name": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/contacts",
            &other_key.secret,
            Some(json!({"identities": [{"channel_id": app.channel_id, "kind": "wa_user", "external_id": "5511999990102@c.us"}]})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another tenant's channel is not a channel"
    );
    let (_, list) = app
        .call(Method::GET, "/api/v1/contacts", &other_key.secret, None)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn roles_tokens_and_limits_are_enforced() {
    let app = TestApp::spawn(quiet_settings()).await;
    app.customer_writes("5511999990111@c.us", text("Oi"), 1, false)
        .await;
    let conversation = eventually("a conversation", WAIT, || async {
        let (_, list) = app.get("/api/v1/conversations").await;
        list["items"].as_array().and_then(|i| i.first().cloned())
    })
    .await;
    let conversation_id = conversation["id"].as_str().unwrap().to_owned();
    let viewer = create_user(&app, "viewer@example.com", "viewer").await;
    let agent = create_user(&app, "agent@example.com", "agent").await;
    let channel = format!("/api/v1/channels/{}", app.channel_id);

    // A viewer reads but cannot send, take over, or change channels.
    assert_eq!(
        app.call(Method::GET, "/api/v1/contacts", &viewer, None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        app.call(
            Method::GET,
            &format!("/api/v1/conversations/{conversation_id}"),
            &viewer,
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            &viewer,
            Some(json!({"text": "hi"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["status"], 403);
    assert_eq!(
        app.call(
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/takeover"),
            &viewer,
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(Method::PATCH, &channel, &viewer, Some(json!({"name": "x"})))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(Method::POST, "/api/v1/contacts", &viewer, Some(json!({})))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // An agent works contacts and conversations but does not administer.
    assert_eq!(
        app.call(
            Method::POST,
            "/api/v1/contacts",
            &agent,
            Some(json!({"display_name": "Carla"}))
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        app.call(Method::PATCH, &channel, &agent, Some(json!({"name": "x"})))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(Method::POST, "/api/v1/users", &agent, Some(json!({})))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(Method::GET, "/api/v1/api-keys", &agent, None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // The admin does.
    let (status, renamed) = app
        .call(
            Method::PATCH,
            &channel,
            &app.api_key,
            Some(json!({"name": "WhatsApp vendas"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(renamed["name"], "WhatsApp vendas");

    // API keys carry roles too, and revoked keys stop working at once.
    let (status, key) = app
        .call(
            Method::POST,
            "/api/v1/api-keys",
            &app.api_key,
            Some(json!({"name": "BI export", "role": "viewer"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let viewer_key = key["api_key"].as_str().unwrap();
    assert_eq!(
        app.call(Method::GET, "/api/v1/deals", viewer_key, None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        app.call(Method::POST, "/api/v1/deals", viewer_key, Some(json!({})))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (_, keys) = app
        .call(Method::GET, "/api/v1/api-keys", &app.api_key, None)
        .await;
    let listed = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key["id"])
        .unwrap()
        .clone();
    assert!(
        listed["last_used_at"].is_string(),
        "last use is recorded: {listed}"
    );
    assert!(
        listed.get("api_key").is_none() && !keys.to_string().contains(viewer_key),
        "secrets are never listed"
    );
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/api/v1/api-keys/{}", key["id"].as_str().unwrap()),
            &app.api_key,
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.call(Method::GET, "/api/v1/deals", viewer_key, None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // Login: wrong passwords and unknown e-mails look the same; refresh tokens rotate, and a
    // reused one revokes its whole family.
    let (status, problem) = login(&app, "agent@example.com", "wrong password!").await;
    assert_eq!(
        (status, problem["detail"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("wrong e-mail or password"))
    );
    assert_eq!(
        login(&app, "nobody@example.com", "whatever it is").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, tokens) = login(&app, "agent@example.com", "correct horse battery").await;
    let refresh = |token: String| {
        let app = &app;
        async move {
            let resp = app
                .http
                .post(format!("{}/api/v1/auth/refresh", app.api))
                .json(&json!({"refresh_token": token}))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, rotated) = refresh(first.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let (_, me) = app
        .call(
            Method::GET,
            "/api/v1/me",
            rotated["access_token"].as_str().unwrap(),
            None,
        )
        .await;
    assert_eq!(
        (me["role"].as_str(), me["actor"]["email"].as_str()),
        (Some("agent"), Some("agent@example.com"))
    );
    assert_eq!(
        refresh(first).await.0,
        StatusCode::UNAUTHORIZED,
        "a used refresh token is dead"
    );
    assert_eq!(
        refresh(rotated["refresh_token"].as_str().unwrap().to_owned())
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "its family too"
    );
    assert_eq!(
        app.call(
            Method::GET,
            "/api/v1/me",
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );

    // Oversized bodies: 413, problem+json.
    let resp = app
        .http
        .post(format!("{}/api/v1/contacts", app.api))
        .bearer_auth(&app.api_key)
        .header("content-type", "application/json")
        .body(format!(
            "{{\"display_name\": \"{}\"}}",
            "x".repeat(300 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");

    // Rate limits: 429 with Retry-After once the burst is spent.
    let limited = app
        .api()
        .configure(|c| {
            c.rate_limit_per_minute = 30;
            c.rate_limit_burst = 3;
            c.cors_origins = vec!["http://localhost:5173".into()];
        })
        .spawn()
        .await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..5 {
        let resp = app
            .http
            .get(format!("{limited}/api/v1/channels"))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    assert!(
        retry_after.is_some_and(|s| (1..=2).contains(&s)),
        "Retry-After: {retry_after:?}"
    );
    // CORS for the web app's origin.
    let preflight = app
        .http
        .request(Method::OPTIONS, format!("{limited}/api/v1/contacts"))
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("http://localhost:5173")
    );
}

#[tokio::test]
async fn an_operator_reply_retried_with_the_same_idempotency_key_is_sent_once() {
    let app = TestApp::spawn(quiet_settings()).await;
    let chat = "5511999990121@c.us";
    app.customer_writes(chat, text("Preciso de ajuda"), 1, false)
        .await;
    let conversation = eventually("a conversation", WAIT, || async {
        let (_, list) = app.get("/api/v1/conversations").await;
        list["items"].as_array().and_then(|i| i.first().cloned())
    })
    .await;
    let path = format!(
        "{}/api/v1/conversations/{}/messages",
        app.api,
        conversation["id"].as_str().unwrap()
    );
    let send = |key: &'static str, text: &'static str| {
        let (http, path, token) = (app.http.clone(), path.clone(), app.api_key.clone());
        async move {
            let resp = http
                .post(path)
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&json!({"text": text}))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    // Three concurrent retries of one request, then a late one.
    let (a, b, c) = tokio::join!(
        send("reply-1", "Claro, já vejo."),
        send("reply-1", "Claro, já vejo."),
        send("reply-1", "Claro, já vejo.")
    );
    let late = send("reply-1", "Claro, já vejo.").await;
    let ids: Vec<&Value> = [&a, &b, &c, &late]
        .iter()
        .map(|(status, body)| {
            assert!(
                *status == StatusCode::ACCEPTED || *status == StatusCode::CONFLICT,
                "{status} {body}"
            );
            &body["message_id"]
        })
        .collect();
    let accepted: Vec<&Value> = ids.into_iter().filter(|id| id.is_string()).collect();
    assert!(
        !accepted.is_empty() && accepted.iter().all(|id| *id == accepted[0]),
        "one message id for one key: {accepted:?}"
    );
    // The same key for a different request is refused.
    let (status, problem) = send("reply-1", "Outra coisa").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    let outbound = app.wait_outbound(1, "read", WAIT).await;
    assert_eq!(app.sent_to(chat), vec!["Claro, já vejo.".to_owned()]);
    assert_eq!(json!(outbound[0].0), *accepted[0]);
    let (_, message) = app
        .get(&format!("/api/v1/messages/{}", outbound[0].0))
        .await;
    assert_eq!(message["origin"], "operator");
    assert!(
        message["workflow"]["url"]
            .as_str()
            .unwrap()
            .contains("/namespaces/default/workflows/message:"),
        "{}",
        message["workflow"]
    );
    // A retry after the send finished still answers with the same message and sends nothing.
    let (status, again) = send("reply-1", "Claro, já vejo.").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["message_id"], *accepted[0]);
    assert_eq!(app.sim.sent().len(), 1);

    // Assigning to a user is a takeover in that user's name, visible in the live state.
    let conversation_id = conversation["id"].as_str().unwrap();
    let (status, user) = app
        .post("/api/v1/users", json!({"email": "op@example.com", "name": "Operator", "role": "agent", "password": "correct horse battery"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, assigned) = app
        .post(
            &format!("/api/v1/conversations/{conversation_id}/assign"),
            json!({"user_id": user["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    assert_eq!(assigned["state"]["assignment"], "human", "{assigned}");
    let (_, mine) = app
        .get(&format!(
            "/api/v1/conversations?assignee={}",
            user["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let (status, _) = app
        .post(
            &format!("/api/v1/conversations/{conversation_id}/assign"),
            json!({"user_id": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    app.record_history(
        message["workflow_id"].as_str().unwrap(),
        "outbound-operator-reply",
    )
    .await;
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_stream(app: &TestApp, query: &str) -> Socket {
    let url = format!(
        "{}/api/v1/stream?access_token={}{query}",
        app.api.replacen("http", "ws", 1),
        app.api_key
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket");
    let ready = next_event(&mut socket).await;
    assert_eq!(ready["type"], "stream.ready", "{ready}");
    socket
}

async fn next_event(socket: &mut Socket) -> Value {
    loop {
        match tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("an event in time")
            .expect("open")
            .expect("frame")
        {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Close(_) => panic!("stream closed"),
            _ => {}
        }
    }
}

async fn event_of_type(socket: &mut Socket, event_type: &str) -> (Value, Instant) {
    loop {
        let event = next_event(socket).await;
        if event["type"] == event_type {
            return (event, Instant::now());
        }
    }
}

#[tokio::test]
async fn the_stream_pushes_an_inbound_message_live_and_resumes_after_a_reconnect() {
    let app = TestApp::spawn(quiet_settings()).await;
    let mut socket = open_stream(&app, "").await;
    app.customer_writes("5511999990131@c.us", text("Oi, tudo bem?"), 1, false)
        .await;
    // Pushed on the open socket, without asking (how fast is a benchmark's question, not a test's:
    // a busy machine must not fail it).
    let (event, _) = event_of_type(&mut socket, "message.received").await;
    assert!(event["id"].as_i64().unwrap() > 0 && event["aggregate_type"] == "message");
    let last_seen = event["id"].as_i64().unwrap();
    socket.close(None).await.ok();

    // While disconnected: a contact is created and tagged. Reconnecting with the last id seen
    // replays exactly what was missed, in order, then continues live.
    let (status, contact) = app
        .post(
            "/api/v1/contacts",
            json!({"display_name": "Dora", "tags": ["vip"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut socket = open_stream(&app, &format!("&last_event_id={last_seen}")).await;
    let mut missed = Vec::new();
    while !missed.contains(&"contact.tagged".to_owned()) {
        let event = next_event(&mut socket).await;
        assert!(
            event["id"].as_i64().unwrap() > last_seen,
            "nothing already seen comes again: {event}"
        );
        missed.push(event["type"].as_str().unwrap().to_owned());
    }
    assert!(
        missed.ends_with(&[
            "contact.created".to_owned(),
            "contact.updated".to_owned(),
            "contact.tagged".to_owned()
        ]),
        "{missed:?}"
    );
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/contacts/{}/tags", contact["id"].as_str().unwrap()),
            &app.api_key,
            Some(json!({"tag": "b2b"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (event, _) = event_of_type(&mut socket, "contact.tagged").await;
    assert_eq!(event["data"]["tag"], "b2b");

    // Another tenant's stream sees none of it; a bad credential is refused before the upgrade.
    let (_, other) = ventros_api::auth::create_tenant(&app.pool, "Other")
        .await
        .unwrap();
    let url = format!(
        "{}/api/v1/stream?access_token={}&last_event_id=0",
        app.api.replacen("http", "ws", 1),
        other.secret
    );
    let (mut foreign, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let ready = next_event(&mut foreign).await;
    assert_eq!(ready["type"], "stream.ready");
    assert_eq!(
        ready["last_event_id"], 0,
        "the other tenant has no events to catch up on"
    );
    let refused = tokio_tungstenite::connect_async(format!(
        "{}/api/v1/stream?access_token=vtr_x_y",
        app.api.replacen("http", "ws", 1)
    ))
    .await;
    assert!(refused.is_err());
    foreign.send(Message::Close(None)).await.ok();

    // A stream ends when its credential is revoked (checked periodically; here every 200 ms).
    let quick = app
        .api()
        .configure(|c| c.stream_reauthenticate_every = Duration::from_millis(200))
        .spawn()
        .await;
    let (status, key) = app
        .post(
            "/api/v1/api-keys",
            json!({"name": "dashboard", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let url = format!(
        "{}/api/v1/stream?access_token={}",
        quick.replacen("http", "ws", 1),
        key["api_key"].as_str().unwrap()
    );
    let (mut revocable, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(next_event(&mut revocable).await["type"], "stream.ready");
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/api-keys/{}", key["id"].as_str().unwrap()),
            &app.api_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let closed = loop {
        match tokio::time::timeout(WAIT, revocable.next())
            .await
            .expect("the stream closes in time")
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(closed.map(|f| u16::from(f.code)), Some(4001));
}

#[tokio::test]
async fn a_merge_interrupted_by_a_worker_kill_completes_and_moves_everything_once() {
    let mut app = TestApp::spawn(quiet_settings()).await;
    app.customer_writes("5511999990141@c.us", text("Oi, sou a Eva"), 1, false)
        .await;
    app.customer_writes(
        "5511999990142@c.us",
        text("Oi de novo, outro número"),
        1,
        false,
    )
    .await;
    let contacts: Vec<String> = eventually("two contacts", WAIT, || async {
        let (_, list) = app.get("/api/v1/contacts?sort=created_at").await;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 2).then(|| {
            items
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect()
        })
    })
    .await;
    let (keep, fold) = (&contacts[0], &contacts[1]);
    eventually("both conversations' messages", WAIT, || async {
        (app.count("messages").await == 2).then_some(())
    })
    .await;
    let (status, deal) = app
        .post(
            "/api/v1/deals",
            json!({"contact_id": fold, "title": "Plano anual"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deal}");
    app.post(
        &format!("/api/v1/contacts/{fold}/tags"),
        json!({"tag": "second-number"}),
    )
    .await;
    // Let the memory feed finish with both contacts (messages, deal, tag), so their memories and
    // graphs are there to move.
    let fold_uuid = Uuid::parse_str(fold).unwrap();
    eventually("the folded contact's memory episodes", WAIT, || async {
        let episodes: i64 = sqlx::query_scalar("SELECT count(*) FROM memory_episodes WHERE contact_id = $1 AND ingested_at IS NOT NULL")
            .bind(fold_uuid)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        (episodes >= 3).then_some(())
    })
    .await;

    let (status, merge) = app
        .post(
            &format!("/api/v1/contacts/{keep}/merge"),
            json!({"merge_contact_id": fold}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{merge}");
    app.kill_worker();
    let merge_id = merge["id"].as_str().unwrap().to_owned();
    // Repeating the request while it runs is the same merge; another merge of these contacts waits.
    let (status, again) = app
        .post(
            &format!("/api/v1/contacts/{keep}/merge"),
            json!({"merge_contact_id": fold}),
        )
        .await;
    assert_eq!(
        (status, &again["id"]),
        (StatusCode::ACCEPTED, &merge["id"]),
        "{again}"
    );
    let (status, third) = app
        .post("/api/v1/contacts", json!({"display_name": "Third"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, problem) = app
        .post(
            &format!("/api/v1/contacts/{}/merge", third["id"].as_str().unwrap()),
            json!({"merge_contact_id": fold}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    app.start_worker();

    let done = eventually("the merge to complete", WAIT, || async {
        let (_, merge) = app.get(&format!("/api/v1/contact-merges/{merge_id}")).await;
        (merge["status"] == "completed").then_some(merge)
    })
    .await;
    assert_eq!(done["moved"]["identities"], 1);
    assert_eq!(
        done["moved"]["conversations"], 2,
        "one session and its message: {}",
        done["moved"]
    );
    assert_eq!(done["moved"]["deals"], 1);
    let fold_rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM contact_identities WHERE contact_id = $1) + (SELECT count(*) FROM conversation_sessions WHERE contact_id = $1)
              + (SELECT count(*) FROM messages WHERE contact_id = $1) + (SELECT count(*) FROM deals WHERE contact_id = $1)",
    )
    .bind(Uuid::parse_str(fold).unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(fold_rows, 0);
    let fold_memory: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM memory_episodes WHERE contact_id = $1) + (SELECT count(*) FROM memories WHERE contact_id = $1)
              + (SELECT count(*) FROM memory_facts WHERE contact_id = $1) + (SELECT count(*) FROM memory_entities WHERE contact_id = $1)",
    )
    .bind(fold_uuid)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(fold_memory, 0, "memories and the graph moved too");
    assert!(
        done["moved"]["memories"].as_u64().unwrap() >= 3,
        "{}",
        done["moved"]
    );
    let (status, facts) = app.get(&format!("/api/v1/contacts/{keep}/graph")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        facts["facts"].to_string().contains("second-number"),
        "the folded contact's tag fact is in the kept graph: {facts}"
    );
    let (_, kept) = app.get(&format!("/api/v1/contacts/{keep}")).await;
    assert_eq!(kept["identities"].as_array().unwrap().len(), 2);
    assert_eq!(kept["conversations"].as_array().unwrap().len(), 2);
    assert_eq!(kept["deals"][0]["title"], "Plano anual");
    assert_eq!(kept["tags"], json!(["second-number"]));
    let (_, folded) = app.get(&format!("/api/v1/contacts/{fold}")).await;
    assert_eq!(folded["merged_into"], json!(keep));
    let (_, list) = app.get("/api/v1/contacts").await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        2,
        "merged contacts leave the list (the kept one and Third remain)"
    );
    assert_eq!(
        app.count("outbox_events WHERE event_type = 'contact.merged'")
            .await,
        1
    );
    // The next message on the folded number lands on the surviving contact.
    app.customer_writes("5511999990142@c.us", text("Ainda aqui"), 1, false)
        .await;
    eventually("the third message", WAIT, || async {
        (app.count("messages").await == 3).then_some(())
    })
    .await;
    let on_keep: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE contact_id = $1")
        .bind(Uuid::parse_str(keep).unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(on_keep, 3);
    // An event about the folded contact that reaches memory only after the merge (queued before
    // it) lands in the survivor's memory, not on the tombstone.
    let late: i64 = sqlx::query_scalar(
        "INSERT INTO outbox_events (tenant_id, event_type, aggregate_type, aggregate_id, payload)
         VALUES ($1, 'contact.tagged', 'contact', $2, jsonb_build_object('contact_id', $2, 'tag', 'late-tag')) RETURNING id",
    )
    .bind(app.tenant_id)
    .bind(fold_uuid)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let owner: Uuid = eventually("the late event's episode", WAIT, || async {
        sqlx::query_scalar("SELECT contact_id FROM memory_episodes WHERE source_type = 'outbox' AND source_id = $1 AND ingested_at IS NOT NULL")
            .bind(late.to_string())
            .fetch_optional(&app.pool)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(owner.to_string(), *keep);
    app.record_history(
        done["workflow_id"].as_str().unwrap(),
        "contact-merge-after-kill",
    )
    .await;
}

#[derive(Default)]
struct Receiver {
    calls: Vec<(HeaderMap, Vec<u8>)>,
    failures_left: usize,
}

#[tokio::test]
async fn webhook_deliveries_are_signed_and_retried_until_the_receiver_recovers() {
    let mut app = TestApp::spawn(quiet_settings()).await;
    app.kill_worker();
    app.worker_env.extend([
        ("WEBHOOK_RETRY_INITIAL_MS".into(), "200".into()),
        ("WEBHOOK_RETRY_MAX_MS".into(), "400".into()),
    ]);
    app.start_worker();

    // A receiver that is down (503) for its first two calls.
    let receiver = Arc::new(Mutex::new(Receiver {
        failures_left: 2,
        ..Default::default()
    }));
    let shared = receiver.clone();
    let router = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let shared = shared.clone();
            async move {
                let mut r = shared.lock().unwrap();
                r.calls.push((headers, body.to_vec()));
                if r.failures_left > 0 {
                    r.failures_left -= 1;
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let (status, subscription) = app
        .post(
            "/api/v1/webhook-subscriptions",
            json!({"url": url, "event_types": ["contact.created"], "description": "CRM sync"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{subscription}");
    let secret = subscription["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let (status, problem) = app
        .post(
            "/api/v1/webhook-subscriptions",
            json!({"url": "ftp://x", "event_types": ["contact.created"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, problem) = app
        .post(
            "/api/v1/webhook-subscriptions",
            json!({"url": url, "event_types": ["contact.exploded"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    let (status, contact) = app
        .post("/api/v1/contacts", json!({"display_name": "Fábio"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let sub_path = format!(
        "/api/v1/webhook-subscriptions/{}/deliveries",
        subscription["id"].as_str().unwrap()
    );
    let delivery = eventually("the delivery to succeed", WAIT, || async {
        let (_, page) = app.get(&sub_path).await;
        page["items"]
            .as_array()
            .and_then(|i| i.first().cloned())
            .filter(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(delivery["attempts"], 3, "{delivery}");
    assert_eq!(delivery["last_status_code"], 204);
    assert!(
        delivery["workflow"]["id"]
            .as_str()
            .unwrap()
            .starts_with("webhook:")
    );

    let calls = std::mem::take(&mut receiver.lock().unwrap().calls);
    assert_eq!(calls.len(), 3);
    let ids: Vec<&str> = calls
        .iter()
        .map(|(h, _)| h["webhook-id"].to_str().unwrap())
        .collect();
    assert!(
        ids.iter().all(|id| *id == delivery["id"].as_str().unwrap()),
        "one delivery id across retries: {ids:?}"
    );
    for (headers, body) in &calls {
        let timestamp: i64 = headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 120);
        let expected =
            ventros_activities::outbound_webhooks::sign(&secret, ids[0], timestamp, body).unwrap();
        assert_eq!(
            headers["webhook-signature"].to_str().unwrap(),
            expected,
            "valid signature"
        );
        let tampered = ventros_activities::outbound_webhooks::sign(
            &secret,
            ids[0],
            timestamp,
            &[body.as_slice(), b" "].concat(),
        )
        .unwrap();
        assert_ne!(headers["webhook-signature"].to_str().unwrap(), tampered);
        let event: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            (event["type"].as_str(), event["data"]["contact_id"].as_str()),
            (Some("contact.created"), contact["id"].as_str())
        );
    }
    // Events the subscription did not ask for are not delivered.
    assert_eq!(app.count("webhook_deliveries").await, 1);
    app.record_history(
        delivery["workflow"]["id"].as_str().unwrap(),
        "webhook-delivery-retried",
    )
    .await;
}

#[tokio::test]
async fn the_openapi_document_is_generated_served_and_survives_schemathesis() {
    // The whole stack, agent service included (GET /agents answers from it), and an API whose
    // rate limit will not turn the fuzzer's requests into 429s.
    let memory_address = format!("127.0.0.1:{}", support::free_port());
    let agents = support::AgentService::start(&memory_address).await;
    let app = TestApp::builder()
        .settings(quiet_settings())
        .agents(&agents.address, &memory_address)
        .spawn()
        .await;
    app.customer_writes("5511999990151@c.us", text("Oi"), 1, false)
        .await;
    let api = app
        .api()
        .agents(&agents.address)
        .memory(&memory_address)
        .configure(|c| {
            c.rate_limit_per_minute = 1_000_000;
            c.rate_limit_burst = 1_000_000;
        })
        .spawn()
        .await;
    let resp = app
        .http
        .get(format!("{api}/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let spec: Value = resp.json().await.unwrap();
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        spec["openapi"]
    );
    let operations: usize = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert!(operations >= 50, "{operations} operations documented");
    let docs = app
        .http
        .get(format!("{api}/api/docs/"))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(
        docs.text().await.unwrap().contains("swagger"),
        "the interactive docs page"
    );

    let schemathesis = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/schemathesis");
    let output = tokio::process::Command::new(schemathesis)
        .args([
            "run",
            &format!("{api}/api/openapi.json"),
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "15",
            "--workers",
            "2",
        ])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", app.api_key),
        ])
        .args([
            "--seed",
            "1",
            "--no-color",
            "--suppress-health-check",
            "all",
            "--request-timeout",
            "20",
            "--generation-database",
            "none",
        ])
        .output()
        .await
        .expect("schemathesis (installed by scripts/test.sh into .venv)");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        report.contains("passed") || report.contains("PASSED"),
        "{report}"
    );
}

#[tokio::test]
async fn contacts_deals_and_pipelines_support_search_pagination_and_moves() {
    let app = TestApp::spawn(quiet_settings()).await;
    let channel = app.channel_id;
    for (i, name) in ["Ana Souza", "Bruno Lima", "Carla Dias", "Ana Paula"]
        .iter()
        .enumerate()
    {
        let (status, body) = app
            .post(
                "/api/v1/contacts",
                json!({"display_name": name, "tags": if i % 2 == 0 { json!(["vip"]) } else { json!([]) },
                       "custom_attributes": {"plan": if i < 2 { "pro" } else { "free" }},
                       "identities": [{"channel_id": channel, "kind": "wa_user", "external_id": format!("55119888800{i}0@c.us")}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["display_name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&app.get("/api/v1/contacts?q=ana&sort=created_at").await.1),
        ["Ana Souza", "Ana Paula"]
    );
    assert_eq!(
        names(
            &app.get("/api/v1/contacts?phone=%2B55%2011%209888-8001&sort=created_at")
                .await
                .1
        ),
        ["Bruno Lima"]
    );
    assert_eq!(
        names(&app.get("/api/v1/contacts?tag=vip&sort=created_at").await.1),
        ["Ana Souza", "Carla Dias"]
    );
    assert_eq!(
        names(
            &app.get("/api/v1/contacts?attribute=plan:pro&sort=created_at")
                .await
                .1
        ),
        ["Ana Souza", "Bruno Lima"]
    );
    // Cursor pagination walks every contact exactly once.
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/contacts?limit=3&cursor={c}"),
            None => "/api/v1/contacts?limit=3".to_owned(),
        };
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(names(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["Ana Paula", "Carla Dias", "Bruno Lima", "Ana Souza"]);
    for bad in [
        "/api/v1/contacts?sort=name",
        "/api/v1/contacts?limit=0",
        "/api/v1/contacts?cursor=garbage",
        "/api/v1/conversations?status=maybe",
    ] {
        let (status, problem) = app.get(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {problem}");
    }
    // The same address cannot belong to two contacts.
    let (status, _) = app
        .post("/api/v1/contacts", json!({"identities": [{"channel_id": channel, "kind": "wa_user", "external_id": "5511988880000@c.us"}]}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Attributes merge, null removes; tags replace.
    let (_, list) = app.get("/api/v1/contacts?q=Bruno").await;
    let bruno = list["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/contacts/{bruno}"),
            &app.api_key,
            Some(json!({"custom_attributes": {"plan": null, "city": "Recife"}, "tags": ["b2b"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["custom_attributes"], json!({"city": "Recife"}));
    assert_eq!(updated["tags"], json!(["b2b"]));

    // A pipeline of our own; a deal moves across it and each move is an event.
    let (status, pipeline) = app
        .post("/api/v1/pipelines", json!({"name": "Onboarding", "stages": [{"key": "todo", "name": "To do"}, {"key": "doing", "name": "Doing"}, {"key": "won", "name": "Done"}]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pipeline}");
    let stage = |i: usize| pipeline["stages"][i]["id"].as_str().unwrap().to_owned();
    let (status, deal) = app
        .post(
            "/api/v1/deals",
            json!({"contact_id": bruno, "title": "Setup", "pipeline_id": pipeline["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deal}");
    assert_eq!(deal["stage_key"], "todo");
    let deal_id = deal["id"].as_str().unwrap();
    let (status, moved) = app
        .post(
            &format!("/api/v1/deals/{deal_id}/move"),
            json!({"stage_id": stage(2)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (moved["stage_key"].as_str(), moved["status"].as_str()),
        (Some("won"), Some("won"))
    );
    let (status, moved) = app
        .post(
            &format!("/api/v1/deals/{deal_id}/move"),
            json!({"stage_id": stage(1)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (moved["stage_key"].as_str(), moved["status"].as_str()),
        (Some("doing"), Some("open"))
    );
    let (_, other_pipeline) = app.get("/api/v1/pipelines").await;
    assert_eq!(other_pipeline["items"].as_array().unwrap().len(), 1);
    let (status, _) = app
        .post(
            &format!("/api/v1/deals/{deal_id}/move"),
            json!({"stage_id": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let moves: Vec<(String, String)> = sqlx::query_as(
        "SELECT payload->>'from_stage', payload->>'stage' FROM outbox_events WHERE event_type = 'deal.stage_changed' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        moves,
        [
            ("todo".to_owned(), "won".to_owned()),
            ("won".to_owned(), "doing".to_owned())
        ]
    );
    let (_, deals) = app
        .get(&format!(
            "/api/v1/deals?pipeline_id={}&status=open",
            pipeline["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(deals["items"].as_array().unwrap().len(), 1);
    // Stages reorder; a stage or pipeline holding deals cannot be deleted.
    let path = format!(
        "/api/v1/pipelines/{}/stages/{}",
        pipeline["id"].as_str().unwrap(),
        stage(2)
    );
    let (status, reordered) = app
        .call(
            Method::PATCH,
            &path,
            &app.api_key,
            Some(json!({"position": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reordered}");
    let keys: Vec<&str> = reordered["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["won", "todo", "doing"]);
    let doing = format!(
        "/api/v1/pipelines/{}/stages/{}",
        pipeline["id"].as_str().unwrap(),
        stage(1)
    );
    assert_eq!(
        app.call(Method::DELETE, &doing, &app.api_key, None).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/api/v1/pipelines/{}", pipeline["id"].as_str().unwrap()),
            &app.api_key,
            None
        )
        .await
        .0,
        StatusCode::CONFLICT
    );

    // The channel's provider session, as the (simulated) WAHA reports it now.
    let (status, session) = app
        .get(&format!("/api/v1/channels/{channel}/session"))
        .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["provider"]["available"], true, "{session}");
    assert_eq!(session["provider"]["name"], "default");
}

#[tokio::test]
async fn segments_select_by_tags_attributes_stage_activity_and_channel_and_skip_opted_out_contacts()
{
    let app = TestApp::spawn(quiet_settings()).await;
    // One contact who talked (a session, so an identity on the channel and recent activity) …
    app.customer_writes("5511999990161@c.us", text("Oi"), 1, false)
        .await;
    let talker = eventually("the talking contact", WAIT, || async {
        let (_, list) = app.get("/api/v1/contacts").await;
        list["items"]
            .as_array()
            .and_then(|i| i.first())
            .map(|c| c["id"].as_str().unwrap().to_owned())
    })
    .await;
    app.call(
        Method::PATCH,
        &format!("/api/v1/contacts/{talker}"),
        &app.api_key,
        Some(json!({"tags": ["vip"], "custom_attributes": {"plan": "pro"}})),
    )
    .await;
    // … and three created through the API.
    let mut ids = Vec::new();
    for (name, tags, plan) in [
        ("Gil", json!(["vip", "b2b"]), "pro"),
        ("Hana", json!(["b2b"]), "free"),
        ("Ivo", json!([]), "pro"),
    ] {
        let (status, c) = app
            .post(
                "/api/v1/contacts",
                json!({"display_name": name, "tags": tags, "custom_attributes": {"plan": plan}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    let (_, deal) = app
        .post(
            "/api/v1/deals",
            json!({"contact_id": ids[1], "title": "Trial"}),
        )
        .await;
    let stage = deal["stage_id"].clone();

    let count = |filter: Value| {
        let app = &app;
        async move {
            let (status, preview) = app
                .post("/api/v1/segments/preview", json!({"filter": filter}))
                .await;
            assert_eq!(status, StatusCode::OK, "{preview}");
            preview["count"].as_i64().unwrap()
        }
    };
    assert_eq!(count(json!({})).await, 4);
    assert_eq!(count(json!({"tags_all": ["vip"]})).await, 2);
    assert_eq!(
        count(json!({"tags_any": ["vip", "b2b"], "tags_none": ["vip"]})).await,
        1
    );
    assert_eq!(count(json!({"attributes": {"plan": "pro"}})).await, 3);
    assert_eq!(count(json!({"pipeline_stage_ids": [stage]})).await, 1);
    assert_eq!(
        count(json!({"channel_id": app.channel_id})).await,
        1,
        "only the talker has a WhatsApp identity"
    );
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    assert_eq!(count(json!({"last_activity_after": hour_ago})).await, 1);
    assert_eq!(
        count(json!({"last_activity_before": hour_ago})).await,
        3,
        "never talked counts as inactive"
    );

    // Opting out removes a contact from segments (unless asked for) and is an event.
    let (status, gil) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/contacts/{}", ids[0]),
            &app.api_key,
            Some(json!({"opted_out": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(gil["opted_out_at"].is_string());
    assert_eq!(count(json!({"tags_all": ["vip"]})).await, 1);
    assert_eq!(
        count(json!({"tags_all": ["vip"], "include_opted_out": true})).await,
        2
    );
    assert_eq!(
        app.count("outbox_events WHERE event_type = 'contact.opted_out'")
            .await,
        1
    );

    // Saved segments show their live count and a sample; bad filters change nothing.
    let (status, segment) = app
        .post(
            "/api/v1/segments",
            json!({"name": "Pro plan", "filter": {"attributes": {"plan": "pro"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{segment}");
    assert_eq!(segment["count"], 2, "Gil opted out");
    assert_eq!(segment["sample"].as_array().unwrap().len(), 2);
    for bad in [
        json!({"name": "x", "filter": {"tags_all": ["a"], "tags_none": ["a"]}}),
        json!({"name": "x", "filter": {"channel_id": Uuid::now_v7()}}),
        json!({"name": "x", "filter": {"pipeline_stage_ids": [Uuid::now_v7()]}}),
        json!({"name": "x", "filter": {"unknown": 1}}),
    ] {
        let (status, problem) = app.post("/api/v1/segments", bad.clone()).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{bad}: {status} {problem}"
        );
    }
    let (status, _) = app
        .post(
            "/api/v1/segments",
            json!({"name": "Pro plan", "filter": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(app.count("segments").await, 1);
    let (_, other) = ventros_api::auth::create_tenant(&app.pool, "Other")
        .await
        .unwrap();
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/segments/{}", segment["id"].as_str().unwrap()),
            &other.secret,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, theirs) = app
        .call(
            Method::POST,
            "/api/v1/segments/preview",
            &other.secret,
            Some(json!({"filter": {}})),
        )
        .await;
    assert_eq!(
        theirs["count"], 0,
        "another tenant's preview sees none of these contacts"
    );
}
