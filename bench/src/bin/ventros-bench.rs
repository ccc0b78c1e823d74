//! `ventros-bench`: drives inbound WhatsApp messages through a running stack and prints latency,
//! throughput, loss and memory figures. Run it through `scripts/bench.sh`, which starts the stack.
//!
//! It creates its own tenant and channel (greeting on, debounce 0) pointing at a WAHA simulator it
//! hosts in-process, so it sees both ends: when each signed `message` webhook left, and when the
//! greeting for that chat reached `sendText`. Each message comes from a distinct chat (a new
//! customer), so every one must get exactly one reply.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use tokio::sync::Semaphore;
use ventros_bench::{
    BenchTenant, HistoryProfile, history_profile, parse_process, peak_rss_mib, waha_tenant,
};

#[derive(Parser)]
#[command(about = "Ventros inbound-message benchmark")]
struct Args {
    #[arg(long, env = "VENTROS_API_URL", default_value = "http://127.0.0.1:8080")]
    api_url: String,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// How many inbound messages to send.
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Offered load, messages per second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Most webhooks in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// PIDs whose peak resident memory (VmHWM) is reported, as name=pid.
    #[arg(long = "process", value_parser = parse_process)]
    processes: Vec<(String, u32)>,
    /// Give up waiting for replies after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
    /// Answer with the AI agent (RouterAgent through the agent service) instead of the greeting.
    #[arg(long)]
    ai: bool,
    /// First, this many messages from as many new customers into a second tenant that sends no
    /// replies, as fast as `--concurrency` allows: the measured messages then arrive while that
    /// burst's memory ingestion is still running (replies must not wait behind it).
    #[arg(long, default_value_t = 0)]
    backlog: usize,
    /// The stack's Temporal, whose histories give the operations per message.
    #[arg(
        long,
        env = "TEMPORAL_ADDRESS",
        default_value = "http://127.0.0.1:7233"
    )]
    temporal_address: String,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// What the benchmark's messages cost Temporal, by workflow: each chat's Conversation, the
/// OutboundMessage of each reply it handed over (none when every first attempt succeeded), the
/// tenant's MemoryShard queues (what they have taken in by now), read from their histories.
async fn message_profile(
    args: &Args,
    pool: &sqlx::PgPool,
    tenant_id: uuid::Uuid,
) -> anyhow::Result<Vec<(&'static str, HistoryProfile)>> {
    use ventros_workflows::ids;
    let client = ventros_workers::connect_temporal(
        &args.temporal_address,
        "default",
        Duration::from_secs(10),
    )
    .await?;
    let conversations: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT workflow_id FROM conversation_sessions WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    // A reply its Conversation sent itself names the Conversation; one handed over names its
    // OutboundMessage.
    let replies: Vec<String> = sqlx::query_scalar(
        "SELECT handled_by_workflow FROM messages WHERE tenant_id = $1 AND direction = 'outbound'",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    let replies = replies
        .into_iter()
        .filter(|id| !conversations.contains(id))
        .collect();
    // The tenant's memory queues (the worker's default count); a shard that took no event has no
    // workflow and is skipped.
    let memory = (0..ids::DEFAULT_MEMORY_SHARDS)
        .map(|shard| ids::memory_shard_workflow_id(tenant_id, shard))
        .collect();
    Ok(vec![
        (
            "Conversation",
            history_profile(&client, conversations).await?,
        ),
        ("OutboundMessage", history_profile(&client, replies).await?),
        ("MemoryShard", history_profile(&client, memory).await?),
    ])
}

/// Sends `--backlog` messages from as many new chats into a tenant of their own whose channel
/// answers nothing, waits until all are stored, and returns that tenant: their memory ingestion
/// is what the measured messages then compete with.
async fn make_backlog(
    args: &Args,
    pool: &sqlx::PgPool,
    http: &reqwest::Client,
) -> anyhow::Result<uuid::Uuid> {
    let quiet = json!({"debounce_ms": 0, "max_debounce_ms": 0, "inactivity_timeout_secs": 900});
    let BenchTenant { tenant_id, sim, .. } =
        waha_tenant(pool, http, &args.api_url, "Benchmark backlog", quiet).await?;
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(args.concurrency));
    let mut tasks = Vec::with_capacity(args.backlog);
    for i in 0..args.backlog {
        let permit = gate.clone().acquire_owned().await?;
        let sim = sim.clone();
        tasks.push(tokio::spawn(async move {
            let chat = format!("5588{i:09}@c.us");
            let payload = json!({
                "id": format!("false_{chat}_{:032X}", i), "timestamp": chrono::Utc::now().timestamp(),
                "from": chat, "fromMe": false, "to": "15550001111@c.us",
                "body": "Comprei uma geladeira semana passada e ela chegou com a porta amassada.", "hasMedia": false,
            });
            let statuses = sim.deliver("default", "message", payload).await;
            drop(permit);
            statuses
        }));
    }
    for task in tasks {
        anyhow::ensure!(
            task.await?.iter().all(|s| *s == 200),
            "a backlog webhook was not accepted"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    loop {
        let stored: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM messages WHERE tenant_id = $1 AND direction = 'inbound'",
        )
        .bind(tenant_id)
        .fetch_one(pool)
        .await?;
        if stored as usize >= args.backlog {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the backlog was not stored in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ingested: i64 =
        sqlx::query_scalar("SELECT count(*) FROM memory_episodes WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(pool)
            .await?;
    println!(
        "backlog: {} messages from as many customers stored in {:.1} s ({ingested} ingested as memory so far)",
        args.backlog,
        started.elapsed().as_secs_f64()
    );
    Ok(tenant_id)
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

    // Sessions close 15 minutes later, so benchmark conversations do not pile up.
    let settings = if args.ai {
        json!({"debounce_ms": 0, "max_debounce_ms": 0, "inactivity_timeout_secs": 900,
               "ai": {"agent_type": "RouterAgent", "confidence_threshold": 0.0}})
    } else {
        json!({"greeting": "Olá! Recebemos sua mensagem.", "debounce_ms": 0, "max_debounce_ms": 0, "inactivity_timeout_secs": 900})
    };
    let BenchTenant { tenant_id, sim, .. } =
        waha_tenant(&pool, &http, &args.api_url, "Benchmark", settings).await?;
    let backlog = if args.backlog > 0 {
        Some(make_backlog(&args, &pool, &http).await?)
    } else {
        None
    };

    println!(
        "ventros-bench: {} messages at {} msg/s offered (concurrency {}), replies from {}, tenant {tenant_id}",
        args.messages,
        args.rate,
        args.concurrency,
        if args.ai {
            "the AI agent (RouterAgent)"
        } else {
            "the greeting rule"
        }
    );
    let started_ms = chrono::Utc::now().timestamp_millis();
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(args.concurrency));
    let mut tasks = Vec::with_capacity(args.messages);
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for i in 0..args.messages {
        ticker.tick().await;
        let permit = gate.clone().acquire_owned().await?;
        let sim = sim.clone();
        let chat = format!("5599{i:09}@c.us");
        tasks.push(tokio::spawn(async move {
            let payload = json!({
                "id": format!("false_{chat}_{:032X}", i), "timestamp": chrono::Utc::now().timestamp(),
                "from": chat, "fromMe": false, "to": "15550001111@c.us", "body": "Oi! Quero saber do meu pedido.", "hasMedia": false,
            });
            let sent_at = chrono::Utc::now().timestamp_millis();
            let t = Instant::now();
            let statuses = sim.deliver("default", "message", payload).await;
            drop(permit);
            (chat, sent_at, t.elapsed().as_secs_f64() * 1000.0, statuses)
        }));
    }
    let mut sent_at = BTreeMap::new();
    let mut webhook_ms = Vec::new();
    let mut rejected = 0;
    for task in tasks {
        let (chat, at, took, statuses) = task.await?;
        if statuses.iter().any(|s| *s != 200) {
            rejected += 1;
        }
        webhook_ms.push(took);
        sent_at.insert(chat, at);
    }
    let offered_secs = started.elapsed().as_secs_f64();

    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    let replies = loop {
        let sent = sim.sent();
        if sent.len() >= args.messages || Instant::now() > deadline {
            break sent;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut per_chat: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for m in &replies {
        per_chat
            .entry(m.chat_id.clone())
            .or_default()
            .push(m.received_at_ms);
    }
    let mut latencies: Vec<f64> = per_chat
        .iter()
        .filter_map(|(chat, times)| Some((times[0] - sent_at.get(chat)?) as f64))
        .collect();
    latencies.sort_by(f64::total_cmp);
    webhook_ms.sort_by(f64::total_cmp);
    let last_reply = replies
        .iter()
        .map(|m| m.received_at_ms)
        .max()
        .unwrap_or(started_ms);
    let span_secs = ((last_reply - started_ms) as f64 / 1000.0).max(offered_secs);

    let stored_inbound: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE tenant_id = $1 AND direction = 'inbound'",
    )
    .bind(tenant_id)
    .fetch_one(&pool)
    .await?;
    let stored_outbound: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE tenant_id = $1 AND direction = 'outbound'",
    )
    .bind(tenant_id)
    .fetch_one(&pool)
    .await?;
    // Where the time goes, from the rows' own timestamps.
    let rows: Vec<(String, f64, Option<f64>)> = sqlx::query_as(
        "SELECT ci.external_id,
                extract(epoch FROM i.created_at)::float8 * 1000,
                (SELECT extract(epoch FROM min(o.created_at))::float8 * 1000 FROM messages o
                  WHERE o.session_id = i.session_id AND o.direction = 'outbound')
         FROM messages i JOIN contact_identities ci ON ci.id = i.identity_id
         WHERE i.tenant_id = $1 AND i.direction = 'inbound'",
    )
    .bind(tenant_id)
    .fetch_all(&pool)
    .await?;
    let (mut to_stored, mut to_planned, mut to_sent) = (Vec::new(), Vec::new(), Vec::new());
    for (chat, stored_ms, planned_ms) in rows {
        let (Some(sent), Some(planned), Some(reply)) =
            (sent_at.get(&chat), planned_ms, per_chat.get(&chat))
        else {
            continue;
        };
        to_stored.push(stored_ms - *sent as f64);
        to_planned.push(planned - stored_ms);
        to_sent.push(reply[0] as f64 - planned);
    }
    for v in [&mut to_stored, &mut to_planned, &mut to_sent] {
        v.sort_by(f64::total_cmp);
    }
    let duplicates = per_chat.values().filter(|t| t.len() > 1).count();
    let answered = per_chat.len();
    let lost = args.messages - answered.min(args.messages);

    println!(
        "webhook accepted (2xx after Temporal has it): p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms",
        percentile(&webhook_ms, 50.0),
        percentile(&webhook_ms, 95.0),
        percentile(&webhook_ms, 99.0)
    );
    println!(
        "webhook -> reply sent:                        p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        percentile(&latencies, 50.0),
        percentile(&latencies, 95.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  where it goes (p50): webhook -> inbound stored {:.1} ms, stored -> reply planned {:.1} ms, planned -> sendText {:.1} ms",
        percentile(&to_stored, 50.0),
        percentile(&to_planned, 50.0),
        percentile(&to_sent, 50.0)
    );
    println!(
        "throughput: {:.1} messages/s sustained ({} answered in {:.2} s; offered for {:.2} s)",
        answered as f64 / span_secs,
        answered,
        span_secs,
        offered_secs
    );
    println!(
        "loss: {lost} unanswered, {duplicates} answered twice, {rejected} webhooks not accepted; stored {stored_inbound} inbound / {stored_outbound} replies for {} sent",
        args.messages
    );
    if let Some(backlog_tenant) = backlog {
        let ingested: i64 =
            sqlx::query_scalar("SELECT count(*) FROM memory_episodes WHERE tenant_id = $1")
                .bind(backlog_tenant)
                .fetch_one(&pool)
                .await?;
        println!(
            "backlog: {ingested} of its {} messages ingested as memory when the last reply was counted",
            args.backlog
        );
    }
    let profiles = message_profile(&args, &pool, tenant_id).await?;
    let total = profiles
        .iter()
        .fold(HistoryProfile::default(), |sum, (_, p)| sum.plus(p));
    println!(
        "Temporal, per message (read from the histories): {}",
        total.per_message(args.messages)
    );
    for (workflow, profile) in &profiles {
        println!("  {workflow}: {}", profile.per_message(args.messages));
    }
    for (name, pid) in &args.processes {
        match peak_rss_mib(*pid) {
            Some(mib) => println!("peak memory {name} (pid {pid}): {mib:.1} MiB"),
            None => println!("peak memory {name} (pid {pid}): unavailable"),
        }
    }
    let zero_loss = lost == 0
        && duplicates == 0
        && stored_inbound as usize == args.messages
        && stored_outbound as usize == args.messages;
    println!(
        "zero loss, exactly once: {}",
        if zero_loss { "yes" } else { "NO" }
    );
    if !zero_loss {
        std::process::exit(1);
    }
    Ok(())
}
