//! Campaigns end to end: a Temporal Schedule starts the Campaign run, each contact gets a
//! CampaignRecipient child that asks the real agent service for a personalised message, sends it
//! through OutboundMessage to the WAHA simulator and follows receipts and replies. Covered: skips
//! with reasons (opt-out, no identity), WAHA failing (retried, or refused → failed with the
//! reason), reply attribution, metrics; pause, resume and cancel; a worker SIGKILL mid-campaign
//! (every recipient exactly once); bad input refused with nothing created; and, on Temporal's
//! time-skipping test server, the durable waits for the best send time and the send window.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{AgentService, TestApp, eventually};
use uuid::Uuid;
use ventros_activities::waha_sim::Faults;

const WAIT: Duration = Duration::from_secs(90);

fn quiet_settings() -> Value {
    // No auto-reply: every outbound message in these tests is a campaign's.
    json!({"debounce_ms": 0})
}

async fn with_agents() -> (AgentService, TestApp) {
    let memory_address = format!("127.0.0.1:{}", support::free_port());
    let agents = AgentService::start(&memory_address).await;
    let app = TestApp::spawn_with(quiet_settings(), Some((agents.address.clone(), memory_address))).await;
    (agents, app)
}

fn chat(n: u32) -> String {
    format!("55119{n:08}@c.us")
}

async fn contact(app: &TestApp, name: &str, tags: &[&str], chat_id: Option<&str>) -> Uuid {
    let identities = match chat_id {
        Some(chat) => json!([{"channel_id": app.channel_id, "kind": "wa_user", "external_id": chat}]),
        None => json!([]),
    };
    let (status, body) = app.post("/api/v1/contacts", json!({"display_name": name, "tags": tags, "identities": identities})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().parse().unwrap()
}

async fn segment(app: &TestApp, name: &str, filter: Value) -> Uuid {
    let (status, body) = app.post("/api/v1/segments", json!({"name": name, "filter": filter})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().parse().unwrap()
}

async fn create_campaign(app: &TestApp, body: Value) -> Uuid {
    let (status, campaign) = app.post("/api/v1/campaigns", body).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    assert_eq!(campaign["status"], "draft");
    campaign["id"].as_str().unwrap().parse().unwrap()
}

async fn schedule(app: &TestApp, id: Uuid) -> Value {
    let (status, body) = app.post(&format!("/api/v1/campaigns/{id}/schedule"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Recipient statuses by contact (every run).
async fn statuses(app: &TestApp, campaign: Uuid) -> HashMap<Uuid, (String, Option<String>)> {
    let rows: Vec<(Uuid, String, Option<String>)> =
        sqlx::query_as("SELECT contact_id, status, reason FROM campaign_recipients WHERE campaign_id = $1")
            .bind(campaign)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    rows.into_iter().map(|(c, s, r)| (c, (s, r))).collect()
}

async fn campaign_status(app: &TestApp, id: Uuid) -> String {
    let (status, body) = app.get(&format!("/api/v1/campaigns/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["status"].as_str().unwrap().to_owned()
}

/// How many messages the simulator received per chat.
fn sends_per_chat(app: &TestApp) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for message in app.sim.sent() {
        *counts.entry(message.chat_id).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn a_campaign_personalises_skips_sends_tracks_receipts_and_attributes_replies() {
    let (_agents, app) = with_agents().await;
    let ana = contact(&app, "Ana Souza", &["vip"], Some(&chat(1))).await;
    let bruno = contact(&app, "Bruno Lima", &["vip"], Some(&chat(2))).await;
    let carla = contact(&app, "Carla Dias", &["vip"], None).await;
    let davi = contact(&app, "Davi Rocha", &["vip"], Some(&chat(4))).await;
    let elis = contact(&app, "Elis Prado", &["vip"], Some(&chat(5))).await;
    let _other = contact(&app, "Fora Segmento", &["lead"], Some(&chat(6))).await;
    let (status, _) = app.call(Method::PATCH, &format!("/api/v1/contacts/{bruno}"), &app.api_key, Some(json!({"opted_out": true}))).await;
    assert_eq!(status, StatusCode::OK);
    let vip = segment(&app, "VIPs", json!({"tags_all": ["vip"]})).await;
    let empty = segment(&app, "Nobody", json!({"tags_all": ["no-such-tag"]})).await;

    // Bad input is refused and creates nothing.
    let valid = json!({"name": "Winter", "channel_id": app.channel_id, "segment_id": vip, "objective": "Our winter collection is out: 20% off this week.",
                       "schedule": {"kind": "now"}, "best_send_time": false, "attribution_window_hours": 1});
    let with = |patch: Value| {
        let mut body = valid.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for (bad, expected) in [
        (with(json!({"schedule": {"kind": "once", "at": "2020-01-01T00:00:00Z"}})), "in the past"),
        (with(json!({"segment_id": empty})), "selects no contact"),
        (with(json!({"segment_id": Uuid::now_v7()})), "does not exist"),
        (with(json!({"channel_id": Uuid::now_v7()})), "does not exist"),
        (with(json!({"send_window": {"days": [], "start": "09:00", "end": "18:00"}})), "never opens"),
        (with(json!({"send_window": {"days": [1], "start": "18:00", "end": "09:00"}})), "never opens"),
        (with(json!({"time_zone": "Mars/Olympus"})), "time zone"),
        (with(json!({"schedule": {"kind": "cron", "expression": "whenever"}})), "cron"),
        (with(json!({"rate_limit_per_minute": -5})), "rate_limit"),
    ] {
        let (status, body) = app.post("/api/v1/campaigns", bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} → {body}");
        assert!(body["detail"].as_str().unwrap_or_default().contains(expected), "{bad} → {body}");
    }
    let (status, _) = app.post("/api/v1/campaigns", with(json!({"surprise": 1}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown fields are refused");
    let resp = app.http.post(format!("{}/api/v1/campaigns", app.api)).bearer_auth(&app.api_key).header("content-type", "application/json").body("{not json").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.count("campaigns").await, 0, "refused requests create nothing");
    let (status, _) = app.get(&format!("/api/v1/campaigns/{}", Uuid::now_v7())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let id = create_campaign(&app, valid.clone()).await;
    // Who it would reach, and what Ana would get, before anything is sent.
    let (status, preview) = app.get(&format!("/api/v1/campaigns/{id}/preview")).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["segment_count"], 5);
    assert_eq!(preview["reachable_count"], 3, "Bruno opted out, Carla has no WhatsApp: {preview}");
    let (status, draft) = app.post(&format!("/api/v1/campaigns/{id}/preview-message"), json!({"contact_id": ana})).await;
    assert_eq!(status, StatusCode::OK, "{draft}");
    assert!(draft["text"].as_str().unwrap().starts_with("Hi Ana!"), "{draft}");
    assert!(draft["text"].as_str().unwrap().contains("winter collection"), "{draft}");
    let (status, _) = app.post(&format!("/api/v1/campaigns/{id}/preview-message"), json!({"contact_id": Uuid::now_v7()})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(app.sim.sent().is_empty(), "previews send nothing");

    // Elis's number is not on WhatsApp; every other send fails half the time before it works.
    app.sim.set_faults(Faults { error_rate: 0.5, reject_chat_ids: vec![chat(5)], ..Faults::default() });
    let scheduled = schedule(&app, id).await;
    assert_eq!(scheduled["status"], "scheduled");
    let (status, again) = app.post(&format!("/api/v1/campaigns/{id}/schedule"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");

    let final_statuses = eventually("every recipient settled", WAIT, || async {
        let s = statuses(&app, id).await;
        (s.len() == 5 && s.values().all(|(st, _)| matches!(st.as_str(), "read" | "skipped" | "failed"))).then_some(s)
    })
    .await;
    assert_eq!(final_statuses[&bruno], ("skipped".into(), Some("opted_out".into())));
    assert_eq!(final_statuses[&carla], ("skipped".into(), Some("no_identity_on_channel".into())));
    assert_eq!(final_statuses[&ana].0, "read");
    assert_eq!(final_statuses[&davi].0, "read");
    let (elis_status, elis_reason) = &final_statuses[&elis];
    assert_eq!(elis_status, "failed");
    assert!(elis_reason.as_deref().unwrap_or_default().contains("not registered"), "{elis_reason:?}");
    let sends = sends_per_chat(&app);
    assert_eq!(sends.get(&chat(1)), Some(&1), "retries never send twice: {sends:?}");
    assert_eq!(sends.get(&chat(4)), Some(&1));
    assert_eq!(sends.len(), 2, "{sends:?}");
    assert!(app.sim.rejected_calls() > 0, "the failures really happened");
    let to_ana = app.sent_to(&chat(1));
    assert!(to_ana[0].starts_with("Hi Ana!") && to_ana[0].contains("winter collection"), "{to_ana:?}");
    let to_davi = app.sent_to(&chat(4));
    assert!(to_davi[0].starts_with("Hi Davi!"), "personalised per contact: {to_davi:?}");

    // The run completes once every send has an outcome; the one-off campaign is then completed.
    eventually("the campaign completed", WAIT, || async { (campaign_status(&app, id).await == "completed").then_some(()) }).await;

    // Ana answers: her Conversation continues the campaign's session and attributes the reply.
    app.customer_writes(&chat(1), json!([{"body": "Yes please, send me the catalogue"}]), 1, false).await;
    eventually("the reply attributed", WAIT, || async { (statuses(&app, id).await[&ana].0 == "replied").then_some(()) }).await;
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM conversation_sessions WHERE contact_id = $1").bind(ana).fetch_one(&app.pool).await.unwrap();
    assert_eq!(sessions, 1, "the reply lands in the session the campaign opened");
    assert!(app.sent_to(&chat(1)).len() == 1, "no greeting after a campaign message");

    let (status, metrics) = app.get(&format!("/api/v1/campaigns/{id}/metrics?bucket=minute")).await;
    assert_eq!(status, StatusCode::OK, "{metrics}");
    let counts = &metrics["counts"];
    assert_eq!(
        (counts["targeted"].as_i64(), counts["skipped"].as_i64(), counts["sent"].as_i64(), counts["delivered"].as_i64(),
         counts["read"].as_i64(), counts["replied"].as_i64(), counts["failed"].as_i64()),
        (Some(5), Some(2), Some(2), Some(2), Some(2), Some(1), Some(1)),
        "{metrics}"
    );
    assert_eq!(metrics["rates"]["reply"], 0.5);
    assert_eq!(metrics["skip_and_failure_reasons"]["opted_out"], 1);
    assert!(!metrics["timeline"].as_array().unwrap().is_empty());
    let (status, failed) = app.get(&format!("/api/v1/campaigns/{id}/recipients?status=failed")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(failed["items"].as_array().unwrap().len(), 1);
    assert_eq!(failed["items"][0]["id"], elis.to_string());
    let (status, replied) = app.get(&format!("/api/v1/campaigns/{id}/recipients?status=replied")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(replied["items"][0]["personalised_text"].as_str().unwrap().starts_with("Hi Ana!"));
    let (status, _) = app.get(&format!("/api/v1/campaigns/{id}/recipients?status=bogus")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The Temporal Schedule started the run; the run is linked from the campaign.
    let (_, detail) = app.get(&format!("/api/v1/campaigns/{id}")).await;
    let run_workflow = detail["runs"][0]["workflow_id"].as_str().unwrap();
    assert!(run_workflow.starts_with(&format!("campaign:{}:{id}", app.tenant_id)), "{detail}");
    assert!(detail["runs"][0]["workflow"]["url"].as_str().unwrap().contains("/workflows/"));
    let events: Vec<String> = app.outbox().await.into_iter().map(|(t, _)| t).collect();
    for expected in ["campaign.created", "campaign.scheduled", "campaign.run_started", "campaign.recipient.skipped", "campaign.recipient.sent",
                     "campaign.recipient.failed", "campaign.recipient.replied", "campaign.run_completed"] {
        assert!(events.iter().any(|e| e == expected), "missing {expected} in {events:?}");
    }
    app.record_history(run_workflow, "campaign-run").await;
}
