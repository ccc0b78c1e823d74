//! `ventros-chaos`: the load and the verdict of the chaos soak. Run it through `scripts/chaos.sh`,
//! which starts a private stack and, on a schedule, kills the worker, restarts the Temporal dev
//! server and PostgreSQL, and stops the agent service while this offers load.
//!
//! It creates two tenants whose WhatsApp channels point at WAHA simulators it hosts in-process (so
//! it counts every `sendText` by the id the CRM recorded): one answers with a greeting, one with
//! the AI agent. It writes as many customers at a steady rate, runs a small campaign, and takes
//! WAHA down itself for a while. Once the load and the faults are over it waits (with a deadline)
//! for the stack to settle and checks what must hold whatever the faults were:
//! every accepted inbound message stored once, every reply sent once, every status history
//! monotonic and final, no workflow left running, no inbox row unprocessed, and no campaign
//! recipient sent twice. Exits 1 when any of them does not hold.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use uuid::Uuid;
use ventros_bench::{BenchTenant, waha_tenant_with_retries};
use ventros_simulators::waha::{Faults, WahaSimulator};

#[derive(Parser)]
#[command(about = "Ventros chaos soak: load and verdict")]
struct Args {
    #[arg(long, env = "VENTROS_API_URL", default_value = "http://127.0.0.1:8080")]
    api_url: String,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// How long the load lasts, in seconds.
    #[arg(long, default_value_t = 600)]
    duration_secs: u64,
    /// Customer messages per second, over both channels.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Distinct customers (chats); every fifth writes to the AI channel.
    #[arg(long, default_value_t = 300)]
    chats: usize,
    /// Contacts the campaign goes to.
    #[arg(long, default_value_t = 20)]
    campaign_recipients: usize,
    /// WAHA answers 503 to everything from these offsets (seconds into the load)…
    #[arg(long = "waha-down-at")]
    waha_down_at: Vec<u64>,
    /// …for this long.
    #[arg(long, default_value_t = 60)]
    waha_down_secs: u64,
    /// Written by the fault schedule when its last fault is healed; the checks wait for it.
    #[arg(long)]
    faults_done: Option<PathBuf>,
    /// The Temporal CLI and server, to count running workflows.
    #[arg(long, default_value = "temporal")]
    temporal_cli: String,
    #[arg(long, default_value = "127.0.0.1:7233")]
    temporal_address: String,
    /// How long the stack may take to settle after the load, in seconds.
    #[arg(long, default_value_t = 600)]
    settle_secs: u64,
}

/// Delivery ranks: a history must never go back.
fn rank(status: &str) -> Option<i32> {
    match status {
        "pending" => Some(0),
        "sent" => Some(1),
        "delivered" => Some(2),
        "read" => Some(3),
        "played" => Some(4),
        _ => None,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        .connect(&args.database_url)
        .await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    // WAHA retries a webhook the API did not take for about four minutes (exponential, capped by
    // the attempts), which covers a PostgreSQL or Temporal restart.
    let retries = json!({"policy": "exponential", "delaySeconds": 1, "attempts": 9});
    let common = json!({"debounce_ms": 500, "max_debounce_ms": 2000, "inactivity_timeout_secs": 30, "ack_timeout_secs": 300,
                        "campaign_pacing": {"min_interval_secs": 0, "max_interval_secs": 1, "daily_cap": null, "typing": false}});
    let mut greeting_settings = common.clone();
    greeting_settings["greeting"] = json!("Olá! Recebemos sua mensagem e já vamos responder.");
    let mut ai_settings = common;
    ai_settings["ai"] = json!({"agent_type": "RouterAgent", "confidence_threshold": 0.0});
    let greeting = waha_tenant_with_retries(
        &pool,
        &http,
        &args.api_url,
        "Chaos greeting",
        greeting_settings,
        retries.clone(),
    )
    .await?;
    let ai = waha_tenant_with_retries(
        &pool,
        &http,
        &args.api_url,
        "Chaos AI",
        ai_settings,
        retries,
    )
    .await?;
    println!(
        "ventros-chaos: {} s at {} msg/s over {} chats (every fifth with the AI agent), a campaign to {}, WAHA down at {:?} for {} s",
        args.duration_secs,
        args.rate,
        args.chats,
        args.campaign_recipients,
        args.waha_down_at,
        args.waha_down_secs
    );

    let campaign =
        start_campaign(&http, &args.api_url, &greeting, args.campaign_recipients).await?;
    let started = Instant::now();
    let outages = tokio::spawn(waha_outages(
        vec![greeting.sim.clone(), ai.sim.clone()],
        args.waha_down_at.clone(),
        args.waha_down_secs,
    ));
    let accepted = offer_load(&args, &greeting.sim, &ai.sim).await;
    outages.await?;
    let (offered, taken) = (accepted.len(), accepted.values().filter(|ok| **ok).count());
    println!(
        "load: {offered} messages offered in {:.0} s, {taken} accepted by the API (the rest WAHA gave up on)",
        started.elapsed().as_secs_f64()
    );

    if let Some(flag) = &args.faults_done {
        let deadline = Instant::now() + Duration::from_secs(args.settle_secs);
        while !flag.exists() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let settle_started = Instant::now();
    let deadline = settle_started + Duration::from_secs(args.settle_secs);
    let tenants = [&greeting, &ai];
    let mut reported = Instant::now();
    let verdict = loop {
        let verdict = check(&pool, &args, &tenants, &accepted, campaign).await;
        if verdict.problems.is_empty() || Instant::now() > deadline {
            break verdict;
        }
        if reported.elapsed() >= Duration::from_secs(30) {
            println!(
                "settling ({:.0} s): {}",
                settle_started.elapsed().as_secs_f64(),
                verdict.problems.join("; ")
            );
            reported = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    println!(
        "settled in {:.0} s after the faults",
        settle_started.elapsed().as_secs_f64()
    );
    for (name, value) in &verdict.figures {
        println!("  {name:<48} {value}");
    }
    if verdict.problems.is_empty() {
        println!("chaos soak: every guarantee held");
        Ok(())
    } else {
        for problem in &verdict.problems {
            println!("  VIOLATED: {problem}");
        }
        std::process::exit(1);
    }
}

/// Takes every simulator down (503 on every call) at each offset, for `secs`.
async fn waha_outages(sims: Vec<WahaSimulator>, at: Vec<u64>, secs: u64) {
    let started = Instant::now();
    for offset in at {
        tokio::time::sleep_until((started + Duration::from_secs(offset)).into()).await;
        for sim in &sims {
            sim.set_faults(Faults {
                outage: true,
                ..Faults::default()
            });
        }
        println!("fault: WAHA down at {offset} s for {secs} s");
        tokio::time::sleep(Duration::from_secs(secs)).await;
        for sim in &sims {
            sim.set_faults(Faults::default());
        }
    }
}

/// Customer messages at a steady rate; returns, per provider message id, whether the API took it.
async fn offer_load(
    args: &Args,
    greeting: &WahaSimulator,
    ai: &WahaSimulator,
) -> BTreeMap<String, bool> {
    let total = (args.rate * args.duration_secs as f64).round() as usize;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        ticker.tick().await;
        let chat_no = i % args.chats.max(1);
        let sim = if chat_no % 5 == 4 {
            ai.clone()
        } else {
            greeting.clone()
        };
        let chat = format!("5521{chat_no:09}@c.us");
        let id = format!("false_{chat}_{i:032X}");
        let body = [
            "Oi, tudo bem?",
            "Quero saber do meu pedido.",
            "Vocês entregam no sábado?",
            "Qual o preço do produto X?",
        ][i % 4];
        let payload = json!({"id": id, "timestamp": chrono::Utc::now().timestamp(), "from": chat, "fromMe": false, "to": "15550001111@c.us",
                             "body": body, "hasMedia": false, "_data": {"notifyName": format!("Cliente {chat_no}")}});
        tasks.push(tokio::spawn(async move {
            let statuses = sim.deliver("default", "message", payload).await;
            (id, statuses.last() == Some(&200))
        }));
    }
    let mut accepted = BTreeMap::new();
    for task in tasks {
        if let Ok((id, ok)) = task.await {
            accepted.insert(id, ok);
        }
    }
    accepted
}

/// A campaign "now" to `n` new contacts of the greeting channel; returns its id.
async fn start_campaign(
    http: &reqwest::Client,
    api_url: &str,
    tenant: &BenchTenant,
    n: usize,
) -> anyhow::Result<Uuid> {
    let post = |path: String, body: Value| {
        let req = http
            .post(format!("{api_url}/api/v1{path}"))
            .bearer_auth(&tenant.api_key)
            .json(&body);
        async move {
            let resp = req.send().await?;
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            anyhow::ensure!(status.is_success(), "POST {path}: {status} {body}");
            anyhow::Ok(body)
        }
    };
    for i in 0..n {
        let identities = json!([{"channel_id": tenant.channel_id, "kind": "wa_user", "external_id": format!("5531{i:09}@c.us")}]);
        post("/contacts".into(), json!({"display_name": format!("Campanha {i}"), "tags": ["chaos"], "identities": identities})).await?;
    }
    let segment = post(
        "/segments".into(),
        json!({"name": "Chaos", "filter": {"tags_all": ["chaos"]}}),
    )
    .await?;
    let campaign = post(
        "/campaigns".into(),
        json!({"name": "Chaos", "channel_id": tenant.channel_id, "segment_id": segment["id"], "objective": "Frete grátis neste fim de semana.",
               "schedule": {"kind": "now"}, "best_send_time": false, "attribution_window_hours": 1}),
    )
    .await?;
    let id: Uuid = campaign["id"].as_str().unwrap_or_default().parse()?;
    post(format!("/campaigns/{id}/schedule"), json!({})).await?;
    Ok(id)
}

struct Verdict {
    figures: Vec<(String, String)>,
    problems: Vec<String>,
}

async fn check(
    pool: &sqlx::PgPool,
    args: &Args,
    tenants: &[&BenchTenant],
    accepted: &BTreeMap<String, bool>,
    campaign: Uuid,
) -> Verdict {
    let mut v = Verdict {
        figures: Vec::new(),
        problems: Vec::new(),
    };
    match verdict(pool, args, tenants, accepted, campaign, &mut v).await {
        Ok(()) => {}
        Err(e) => v.problems.push(format!("could not check: {e}")),
    }
    v
}

async fn verdict(
    pool: &sqlx::PgPool,
    args: &Args,
    tenants: &[&BenchTenant],
    accepted: &BTreeMap<String, bool>,
    campaign: Uuid,
    v: &mut Verdict,
) -> anyhow::Result<()> {
    let tenant_ids: Vec<Uuid> = tenants.iter().map(|t| t.tenant_id).collect();
    // Inbound: every message the API accepted is stored, once (the unique provider id makes a
    // second copy impossible; a missing one is a lost message).
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT provider_message_id FROM messages WHERE tenant_id = ANY($1) AND direction = 'inbound'").bind(&tenant_ids).fetch_all(pool).await?;
    let stored: HashSet<String> = stored.into_iter().collect();
    let accepted_ids: Vec<&String> = accepted
        .iter()
        .filter(|(_, ok)| **ok)
        .map(|(id, _)| id)
        .collect();
    let lost = accepted_ids
        .iter()
        .filter(|id| !stored.contains(**id))
        .count();
    v.figures.push((
        "inbound accepted / stored".into(),
        format!("{} / {}", accepted_ids.len(), stored.len()),
    ));
    if lost > 0 {
        v.problems
            .push(format!("{lost} accepted inbound messages are not stored"));
    }

    // Replies: every send WAHA took is one the CRM recorded, and no recorded one was taken twice.
    let outbound: Vec<(Uuid, Option<String>, String, Option<String>)> = sqlx::query_as(
        "SELECT id, provider_message_id, status, origin FROM messages WHERE tenant_id = ANY($1) AND direction = 'outbound'",
    )
    .bind(&tenant_ids)
    .fetch_all(pool)
    .await?;
    let recorded: HashSet<&str> = outbound
        .iter()
        .filter_map(|(_, p, _, _)| p.as_deref())
        .collect();
    let taken: Vec<_> = tenants.iter().flat_map(|t| t.sim.sent()).collect();
    let unknown = taken
        .iter()
        .filter(|m| !recorded.contains(m.id.as_str()))
        .count();
    v.figures.push((
        "replies recorded / taken by WAHA".into(),
        format!("{} / {}", outbound.len(), taken.len()),
    ));
    if unknown > 0 {
        v.problems.push(format!(
            "{unknown} messages reached WAHA that the CRM did not record as sent (a duplicate send)"
        ));
    }
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, _, status, _) in &outbound {
        *by_status.entry(status.as_str()).or_default() += 1;
    }
    v.figures
        .push(("reply statuses".into(), format!("{by_status:?}")));
    let unfinished = outbound.iter().filter(|(_, _, s, _)| s != "read").count();
    if unfinished > 0 {
        v.problems.push(format!(
            "{unfinished} replies are not final (read): {by_status:?}"
        ));
    }

    // Histories never go back.
    let history: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT h.message_id, h.status FROM message_status_history h JOIN messages m ON m.id = h.message_id
          WHERE m.tenant_id = ANY($1) AND m.direction = 'outbound' ORDER BY h.message_id, h.id",
    )
    .bind(&tenant_ids)
    .fetch_all(pool)
    .await?;
    let mut last: HashMap<Uuid, i32> = HashMap::new();
    let mut backwards = 0;
    for (id, status) in &history {
        let Some(r) = rank(status) else {
            backwards += 1;
            continue;
        };
        if last.get(id).is_some_and(|prev| r < *prev) {
            backwards += 1;
        }
        last.insert(*id, r);
    }
    v.figures.push((
        "status history rows / out of order".into(),
        format!("{} / {backwards}", history.len()),
    ));
    if backwards > 0 {
        v.problems.push(format!(
            "{backwards} status history rows go backwards or are not delivery statuses"
        ));
    }

    // Nothing stranded in the inbox.
    let unprocessed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_inbox WHERE tenant_id = ANY($1) AND processed_at IS NULL",
    )
    .bind(&tenant_ids)
    .fetch_one(pool)
    .await?;
    v.figures
        .push(("inbox rows unprocessed".into(), unprocessed.to_string()));
    if unprocessed > 0 {
        v.problems
            .push(format!("{unprocessed} inbox rows were never processed"));
    }

    // The campaign: finished, each recipient sent at most once.
    let recipients: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT status, reason FROM campaign_recipients WHERE campaign_id = $1")
            .bind(campaign)
            .fetch_all(pool)
            .await?;
    let mut recipient_status: BTreeMap<String, usize> = BTreeMap::new();
    for (status, reason) in &recipients {
        *recipient_status
            .entry(match reason {
                Some(r) => format!("{status}:{r}"),
                None => status.clone(),
            })
            .or_default() += 1;
    }
    let campaign_chats: Vec<_> = tenants[0]
        .sim
        .sent()
        .into_iter()
        .filter(|m| m.chat_id.starts_with("5531"))
        .collect();
    let mut per_chat: HashMap<&str, usize> = HashMap::new();
    for m in &campaign_chats {
        *per_chat.entry(m.chat_id.as_str()).or_default() += 1;
    }
    let twice = per_chat.values().filter(|n| **n > 1).count();
    v.figures.push((
        "campaign recipients".into(),
        format!("{recipient_status:?}"),
    ));
    v.figures.push((
        "campaign messages taken by WAHA / sent twice".into(),
        format!("{} / {twice}", campaign_chats.len()),
    ));
    if twice > 0 {
        v.problems.push(format!(
            "{twice} campaign recipients got the message more than once"
        ));
    }
    let unsettled = recipients
        .iter()
        .filter(|(s, _)| {
            !["sent", "delivered", "read", "replied", "skipped", "failed"].contains(&s.as_str())
        })
        .count();
    if recipients.len() != args.campaign_recipients || unsettled > 0 {
        v.problems.push(format!(
            "the campaign has not settled: {recipient_status:?}"
        ));
    }

    // No workflow left behind: conversations close after 30 s of quiet, messages once read.
    for kind in ["Conversation", "OutboundMessage"] {
        let running = count_running(args, kind).await?;
        v.figures.push((
            format!("{kind} workflows still running"),
            running.to_string(),
        ));
        if running > 0 {
            v.problems
                .push(format!("{running} {kind} workflows are still running"));
        }
    }
    Ok(())
}

/// Running workflows of a type, through the Temporal CLI (its visibility store).
async fn count_running(args: &Args, kind: &str) -> anyhow::Result<u64> {
    let out = tokio::process::Command::new(&args.temporal_cli)
        .args([
            "workflow",
            "count",
            "--address",
            &args.temporal_address,
            "--query",
        ])
        .arg(format!(
            "ExecutionStatus=\"Running\" AND WorkflowType=\"{kind}\""
        ))
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "temporal workflow count failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let n = text
        .split_whitespace()
        .filter_map(|w| w.parse::<u64>().ok())
        .next()
        .unwrap_or(0);
    Ok(n)
}
