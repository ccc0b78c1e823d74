//! Delivery you can trust (the issue "Delivery you can trust"): messages in the order they were
//! written, whatever order they arrived in.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, eventually};

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
    app.customer_writes("5511999990301@c.us", json!([{"body": "segunda", "timestamp": now}]), 1, false).await;
    eventually("the first arrival", WAIT, || async { (app.count("messages").await == 1).then_some(()) }).await;
    app.customer_writes("5511999990301@c.us", json!([{"body": "primeira", "timestamp": now - 60}]), 1, false).await;
    eventually("both stored", WAIT, || async { (app.count("messages").await == 2).then_some(()) }).await;

    let conversation = app.only_conversation().await;
    let id = conversation["id"].as_str().unwrap();
    let bodies = |page: &Value| -> Vec<String> { page["items"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap().to_owned()).collect() };
    let (status, page) = app.get(&format!("/api/v1/conversations/{id}/messages")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bodies(&page), ["primeira", "segunda"], "the list reads in the order written");
    let (_, page) = app.get(&format!("/api/v1/conversations/{id}/messages?sort=-at")).await;
    assert_eq!(bodies(&page), ["segunda", "primeira"]);
    let (_, page) = app.get(&format!("/api/v1/conversations/{id}/messages?sort=created_at")).await;
    assert_eq!(bodies(&page), ["segunda", "primeira"], "arrival order stays available");
    // Page by page, the order holds across the cursor.
    let (_, first) = app.get(&format!("/api/v1/conversations/{id}/messages?limit=1")).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app.get(&format!("/api/v1/conversations/{id}/messages?limit=1&cursor={cursor}")).await;
    assert_eq!([bodies(&first), bodies(&second)].concat(), ["primeira", "segunda"]);
    // The conversation's detail and the list's last message agree.
    let (_, detail) = app.get(&format!("/api/v1/conversations/{id}")).await;
    let detail: Vec<&str> = detail["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(detail, ["primeira", "segunda"]);
    let (_, list) = app.get("/api/v1/conversations").await;
    assert_eq!(list["items"][0]["last_message"]["body"], "segunda", "the latest written, not the latest arrived");
}
