//! `ventros-campaign-bench`: runs one campaign to N synthetic contacts through a running stack and
//! prints recipients per second end to end, time to first send, Temporal history sizes per
//! workflow, peak memory, and whether anything was duplicated or lost. Run it through
//! `scripts/campaign-bench.sh`, which starts the stack.
//!
//! It creates its own tenant, a channel pointing at a WAHA simulator it hosts in-process (so it sees
//! every `sendText`, with receipts), N contacts with a WhatsApp identity and a tag, a segment of that
//! tag, and a campaign with the rate limit lifted and best-time waiting off. Every message is still
//! personalised by the agent service, one call per recipient.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use serde_json::{Value, json};
use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, WorkflowDescribeOptions,
    WorkflowListOptions,
};
use uuid::Uuid;
use ventros_bench::{BenchTenant, parse_process, peak_rss_mib, waha_tenant};

#[derive(Parser)]
#[command(about = "Ventros campaign benchmark")]
struct Args {
    #[arg(long, env = "VENTROS_API_URL", default_value = "http://127.0.0.1:8080")]
    api_url: String,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    #[arg(
        long,
        env = "TEMPORAL_ADDRESS",
        default_value = "http://127.0.0.1:7233"
    )]
    temporal_address: String,
    /// How many contacts the campaign targets.
    #[arg(long, default_value_t = 10_000)]
    recipients: usize,
    /// PIDs whose peak resident memory (VmHWM) is reported, as name=pid.
    #[arg(long = "process", value_parser = parse_process)]
    processes: Vec<(String, u32)>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 1_800)]
    timeout_secs: u64,
    /// How many recipient workflows to sample for history sizes.
    #[arg(long, default_value_t = 50)]
    sample: usize,
}

async fn api(
    http: &reqwest::Client,
    args: &Args,
    key: &str,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let resp = http
        .post(format!("{}{path}", args.api_url))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "POST {path}: {status} {body}");
    Ok(body)
}

/// (history length, history bytes) of each run of a workflow id (continue-as-new makes several).
async fn runs_of(client: &Client, workflow_id: &str) -> anyhow::Result<Vec<(i64, i64)>> {
    let query = format!("WorkflowId = '{workflow_id}'");
    let mut stream = client.list_workflows(query, WorkflowListOptions::default());
    let mut runs = Vec::new();
    while let Some(entry) = stream.next().await {
        let info = entry?;
        let raw = info.raw();
        runs.push((raw.history_length, raw.history_size_bytes));
    }
    Ok(runs)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&args.database_url)
        .await?;
    let http = reqwest::Client::new();
    let url: temporalio_client::Url = args.temporal_address.parse()?;
    let temporal = Client::new(
        Connection::connect(ConnectionOptions::new(url).build()).await?,
        ClientOptions::new("default").build(),
    )?;

    // The engine's throughput, not a WhatsApp number's safe pace: the channel's campaign pacing
    // (30-60 s between messages on WAHA by default) is switched off, as an admin can for a
    // number cleared for volume.
    let settings = json!({"debounce_ms": 0, "campaign_pacing": {"min_interval_secs": 0, "max_interval_secs": 0, "daily_cap": null, "typing": false}});
    let BenchTenant {
        tenant_id,
        api_key,
        channel_id,
        sim,
    } = waha_tenant(&pool, &http, &args.api_url, "Campaign benchmark", settings).await?;

    // N contacts with a WhatsApp identity each, in one statement (the schema owner's connection).
    let tag = format!("bench-{}", Uuid::new_v4().simple());
    let loaded = Instant::now();
    sqlx::query(
        "WITH c AS (
             INSERT INTO contacts (id, tenant_id, display_name, tags)
             SELECT uuidv7(), $1, 'Customer ' || g, ARRAY[$3] FROM generate_series(1, $4) g
             RETURNING id, display_name)
         INSERT INTO contact_identities (id, tenant_id, contact_id, channel_id, kind, external_id)
         SELECT uuidv7(), $1, c.id, $2, 'wa_user', '55' || (11900000000 + substring(c.display_name FROM 10)::bigint) || '@c.us' FROM c",
    )
    .bind(tenant_id)
    .bind(channel_id)
    .bind(&tag)
    .bind(args.recipients as i64)
    .execute(&pool)
    .await?;
    println!(
        "ventros-campaign-bench: {} contacts loaded in {:.1} s (tenant {tenant_id})",
        args.recipients,
        loaded.elapsed().as_secs_f64()
    );

    let segment = api(
        &http,
        &args,
        &api_key,
        "/api/v1/segments",
        json!({"name": "Benchmark", "filter": {"tags_all": [tag]}}),
    )
    .await?;
    let campaign = api(
        &http,
        &args,
        &api_key,
        "/api/v1/campaigns",
        json!({"name": "Benchmark", "channel_id": channel_id, "segment_id": segment["id"], "objective": "Our spring collection is in: 15% off this week.",
               "schedule": {"kind": "now"}, "best_send_time": false, "attribution_window_hours": 1}),
    )
    .await?;
    let campaign_id = campaign["id"].as_str().unwrap_or_default().to_owned();

    let started = Instant::now();
    let scheduled_ms = chrono::Utc::now().timestamp_millis();
    api(
        &http,
        &args,
        &api_key,
        &format!("/api/v1/campaigns/{campaign_id}/schedule"),
        json!({}),
    )
    .await?;
    let deadline = started + Duration::from_secs(args.timeout_secs);
    let mut last_report = Instant::now();
    loop {
        let sent = sim.sent().len();
        if sent >= args.recipients {
            break;
        }
        if Instant::now() > deadline {
            println!(
                "timed out after {} s with {sent} of {} sent",
                args.timeout_secs, args.recipients
            );
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(15) {
            println!(
                "  {:>6.0} s: {sent} sent ({:.1}/s)",
                started.elapsed().as_secs_f64(),
                sent as f64 / started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let sent = sim.sent();
    let first_ms = sent
        .iter()
        .map(|m| m.received_at_ms)
        .min()
        .unwrap_or(scheduled_ms);
    let last_ms = sent
        .iter()
        .map(|m| m.received_at_ms)
        .max()
        .unwrap_or(scheduled_ms);
    let mut per_chat: HashMap<&str, usize> = HashMap::new();
    for m in &sent {
        *per_chat.entry(m.chat_id.as_str()).or_default() += 1;
    }
    let duplicated = per_chat.values().filter(|n| **n > 1).count();
    let personalised = sent
        .iter()
        .filter(|m| m.body.starts_with("Hi Customer!") || m.body.contains("spring collection"))
        .count();
    println!(
        "sent {} of {} in {:.1} s end to end (schedule request → last sendText): {:.1} recipients/s; time to first send {:.2} s",
        per_chat.len(),
        args.recipients,
        (last_ms - scheduled_ms) as f64 / 1000.0,
        per_chat.len() as f64 / ((last_ms - scheduled_ms).max(1) as f64 / 1000.0),
        (first_ms - scheduled_ms) as f64 / 1000.0,
    );
    println!(
        "duplicated: {duplicated} contacts got more than one message; lost: {}; personalised by the agent: {personalised}; wall time {elapsed:.1} s",
        args.recipients.saturating_sub(per_chat.len())
    );

    // Let the run settle (receipts), then the history sizes.
    let settle_deadline = Instant::now() + Duration::from_secs(120);
    let run_workflow = loop {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT workflow_id, status FROM campaign_runs WHERE campaign_id = $1::uuid",
        )
        .bind(&campaign_id)
        .fetch_optional(&pool)
        .await?;
        match row {
            Some((workflow_id, status))
                if status != "running" || Instant::now() > settle_deadline =>
            {
                break workflow_id;
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    let statuses: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM campaign_recipients WHERE campaign_id = $1::uuid GROUP BY 1 ORDER BY 1").bind(&campaign_id).fetch_all(&pool).await?;
    println!("recipients by status: {statuses:?}");
    let runs = runs_of(&temporal, &run_workflow).await?;
    let (events, bytes): (i64, i64) = runs
        .iter()
        .fold((0, 0), |(e, b), (le, lb)| (e + le, b + lb));
    let biggest = runs.iter().map(|r| r.0).max().unwrap_or_default();
    println!(
        "Campaign workflow: {} runs (continue-as-new), {events} events / {:.0} KiB in total, largest run {biggest} events",
        runs.len(),
        bytes as f64 / 1024.0
    );
    let recipients: Vec<String> = sqlx::query_scalar("SELECT workflow_id FROM campaign_recipients WHERE campaign_id = $1::uuid ORDER BY random() LIMIT $2")
        .bind(&campaign_id)
        .bind(args.sample as i64)
        .fetch_all(&pool)
        .await?;
    let mut sizes = Vec::new();
    for workflow_id in recipients {
        let description = temporal
            .get_workflow_handle::<temporalio_client::UntypedWorkflow>(workflow_id)
            .describe(WorkflowDescribeOptions::default())
            .await?;
        if let Some(info) = description.raw_description.workflow_execution_info {
            sizes.push((info.history_length, info.history_size_bytes));
        }
    }
    if !sizes.is_empty() {
        let n = sizes.len() as f64;
        println!(
            "CampaignRecipient workflow ({} sampled, still open for the attribution window): {:.1} events / {:.1} KiB on average, at most {} events",
            sizes.len(),
            sizes.iter().map(|s| s.0 as f64).sum::<f64>() / n,
            sizes.iter().map(|s| s.1 as f64).sum::<f64>() / n / 1024.0,
            sizes.iter().map(|s| s.0).max().unwrap_or_default()
        );
    }
    for (name, pid) in &args.processes {
        match peak_rss_mib(*pid) {
            Some(mib) => println!("peak RSS {name}: {mib:.0} MiB"),
            None => println!("peak RSS {name}: unavailable (pid {pid})"),
        }
    }
    anyhow::ensure!(
        duplicated == 0,
        "{duplicated} contacts got more than one message"
    );
    Ok(())
}
