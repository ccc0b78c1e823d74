//! What the benchmark binaries (`ventros-bench`, `ventros-campaign-bench`) share: a tenant of their
//! own whose WhatsApp channel points at a WAHA simulator they host in-process (so they see both
//! ends: the webhooks they send and every `sendText` that comes back), peak-memory readings of
//! the stack's processes, and what a set of workflows cost Temporal, read from their histories.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;
use ventros_simulators::waha::WahaSimulator;

/// A benchmark's tenant, its API key, and its channel wired to an in-process WAHA simulator.
pub struct BenchTenant {
    pub tenant_id: Uuid,
    pub api_key: String,
    pub channel_id: Uuid,
    pub sim: WahaSimulator,
}

/// Creates a tenant named `name` (through the schema owner's `pool`), a WAHA channel with
/// `settings` through the API at `api_url`, and a simulator session whose signed webhooks go to
/// that channel (retried every 0.2 s, 50 times).
pub async fn waha_tenant(
    pool: &sqlx::PgPool,
    http: &reqwest::Client,
    api_url: &str,
    name: &str,
    settings: Value,
) -> anyhow::Result<BenchTenant> {
    waha_tenant_with_retries(
        pool,
        http,
        api_url,
        name,
        settings,
        json!({"policy": "constant", "delaySeconds": 0.2, "attempts": 50}),
    )
    .await
}

/// [`waha_tenant`] with WAHA's webhook `retries` configuration.
pub async fn waha_tenant_with_retries(
    pool: &sqlx::PgPool,
    http: &reqwest::Client,
    api_url: &str,
    name: &str,
    settings: Value,
    retries: Value,
) -> anyhow::Result<BenchTenant> {
    let sim_key = format!("bench-{}", Uuid::new_v4().simple());
    let sim = WahaSimulator::new(&sim_key, Duration::from_millis(20));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim_url = format!("http://{}", listener.local_addr()?);
    let router = sim.router();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let (tenant_id, key) = ventros_api::auth::create_tenant(pool, name).await?;
    let hmac_key = format!("bench-hmac-{}", Uuid::new_v4().simple());
    let resp = http
        .post(format!("{api_url}/api/v1/channels"))
        .bearer_auth(&key.secret)
        .json(&json!({"name": name, "provider_config": {"base_url": sim_url, "api_key": sim_key, "session": "default", "hmac_key": hmac_key},
                      "settings": settings}))
        .send()
        .await?;
    let status = resp.status();
    let channel: Value = resp.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(
        status.is_success(),
        "creating the benchmark channel: {status} {channel}"
    );
    let channel_id: Uuid = channel["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no channel id: {channel}"))?
        .parse()?;
    http.post(format!("{sim_url}/api/sessions"))
        .header("X-Api-Key", &sim_key)
        .json(&json!({"name": "default", "config": {"webhooks": [{
            "url": format!("{api_url}/webhooks/waha/{channel_id}"),
            "events": ["message", "message.ack", "session.status"],
            "hmac": {"key": hmac_key},
            "retries": retries,
        }]}}))
        .send()
        .await?
        .error_for_status()?;
    Ok(BenchTenant {
        tenant_id,
        api_key: key.secret,
        channel_id,
        sim,
    })
}

/// `--process name=pid` arguments.
pub fn parse_process(s: &str) -> Result<(String, u32), String> {
    let (name, pid) = s.split_once('=').ok_or("expected name=pid")?;
    Ok((
        name.to_owned(),
        pid.parse().map_err(|_| "pid must be a number")?,
    ))
}

/// A process's peak resident memory (`VmHWM`), in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// What a set of workflow histories cost the Temporal server: every event, and the operations
/// that are round trips between a worker and the server.
#[derive(Debug, Default, Clone, Copy)]
pub struct HistoryProfile {
    pub workflows: usize,
    pub events: usize,
    /// Workflow tasks completed (each a poll and a completion).
    pub workflow_tasks: usize,
    /// Activities run through the server (each a poll and a completion).
    pub activities: usize,
    /// Markers: local activities' results and `patched` records (no round trip of their own).
    pub markers: usize,
    /// Signals received (each a client call, or another workflow's command).
    pub signals: usize,
    pub child_starts: usize,
    pub timers: usize,
}

impl HistoryProfile {
    /// Round trips to the server: starting each workflow, its workflow tasks, its activities and
    /// the signals it receives.
    pub fn operations(&self) -> usize {
        self.workflows + self.workflow_tasks + self.activities + self.signals
    }

    /// Both profiles' counts together.
    pub fn plus(self, other: &HistoryProfile) -> HistoryProfile {
        HistoryProfile {
            workflows: self.workflows + other.workflows,
            events: self.events + other.events,
            workflow_tasks: self.workflow_tasks + other.workflow_tasks,
            activities: self.activities + other.activities,
            markers: self.markers + other.markers,
            signals: self.signals + other.signals,
            child_starts: self.child_starts + other.child_starts,
            timers: self.timers + other.timers,
        }
    }

    /// One line of figures per message.
    pub fn per_message(&self, messages: usize) -> String {
        let per = |n: usize| n as f64 / messages.max(1) as f64;
        format!(
            "{:.1} operations per message (workflow starts {:.1}, workflow tasks {:.1}, activities {:.1}, signals {:.1}); \
             {:.1} history events, {:.1} markers (local activities, patches), {:.1} child starts, {:.1} timers",
            per(self.operations()),
            per(self.workflows),
            per(self.workflow_tasks),
            per(self.activities),
            per(self.signals),
            per(self.events),
            per(self.markers),
            per(self.child_starts),
            per(self.timers)
        )
    }
}

/// Fetches the histories of `workflow_ids` (latest run of each; ids with no workflow are skipped)
/// and counts what they hold.
pub async fn history_profile(
    client: &temporalio_client::Client,
    workflow_ids: Vec<String>,
) -> anyhow::Result<HistoryProfile> {
    use futures::StreamExt;
    use temporalio_client::{UntypedWorkflow, WorkflowFetchHistoryOptions};
    use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
    let histories = futures::stream::iter(workflow_ids)
        .map(|id| async move {
            client
                .get_workflow_handle::<UntypedWorkflow>(id)
                .fetch_history(WorkflowFetchHistoryOptions::default())
                .into_events()
                .await
                .ok()
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    let mut profile = HistoryProfile::default();
    for events in histories.into_iter().flatten() {
        profile.workflows += 1;
        profile.events += events.len();
        for event in events {
            let counter = match event.attributes {
                Some(Attributes::WorkflowTaskCompletedEventAttributes(_)) => {
                    &mut profile.workflow_tasks
                }
                Some(Attributes::ActivityTaskScheduledEventAttributes(_)) => {
                    &mut profile.activities
                }
                Some(Attributes::MarkerRecordedEventAttributes(_)) => &mut profile.markers,
                Some(Attributes::WorkflowExecutionSignaledEventAttributes(_)) => {
                    &mut profile.signals
                }
                Some(Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(_)) => {
                    &mut profile.child_starts
                }
                Some(Attributes::TimerStartedEventAttributes(_)) => &mut profile.timers,
                _ => continue,
            };
            *counter += 1;
        }
    }
    Ok(profile)
}
