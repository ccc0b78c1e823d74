//! The public API end to end: row-level security, roles and tokens, rate and size limits, the
//! idempotent operator reply, the realtime stream, the contact merge workflow across a worker
//! crash, signed outbound webhooks retried until the receiver recovers, and the OpenAPI document
//! fuzzed by schemathesis. One file per concern; the helpers they share are here.

mod crm;
mod deadlocks;
mod inbox_tools;
mod invitations;
mod knowledge;
mod lifecycle;
mod media;
mod merges;
mod openapi;
mod outbound_webhooks;
mod replies;
mod stream;
mod tenancy;
mod tickets;
mod whatsapp;

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
