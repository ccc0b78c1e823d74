//! What the benchmark binaries (`ventros-bench`, `ventros-campaign-bench`) share: a tenant of their
//! own whose WhatsApp channel points at a WAHA simulator they host in-process (so they see both
//! ends: the webhooks they send and every `sendText` that comes back), and peak-memory readings of
//! the stack's processes.

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
