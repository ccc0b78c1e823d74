//! `ventros-api-memory`: how much memory the API process takes under the requests that make it
//! hold the most at once, and how much it keeps afterwards. Run it through
//! `scripts/api-memory-bench.sh`, which starts the stack.
//!
//! Why it exists: the API was seen at 521 MiB resident after a session of large report responses
//! and oversized requests, against 18 MiB under the message benchmark. Each phase below is one of
//! those loads, run with many requests at once; between phases the process's peak (`VmHWM`) is
//! reset through `/proc/<pid>/clear_refs`, so each phase's peak is its own.
//!
//! - reports: several tenants, each running its two reports at once, again and again, with the
//!   result that weighs most once parsed (a thousand rows of small numbers, just under the byte cap);
//! - webhooks: signed-looking WAHA webhooks of just under the size limit with a wrong signature
//!   (anyone can send them: the body is read before the signature can be checked), and oversized ones;
//! - uploads: media uploads of just under and just over the 16 MB limit by an authorised agent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::future::join_all;
use serde_json::json;
use uuid::Uuid;
use ventros_bench::{BenchTenant, peak_rss_mib, waha_tenant};

#[derive(Parser)]
#[command(about = "Ventros API peak-memory benchmark")]
struct Args {
    #[arg(long, env = "VENTROS_API_URL", default_value = "http://127.0.0.1:8080")]
    api_url: String,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// The API process.
    #[arg(long)]
    api_pid: u32,
    /// Tenants running reports at once (each runs two at a time, its limit).
    #[arg(long, default_value_t = 8)]
    tenants: usize,
    /// Reports each of a tenant's two loops runs.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Requests at once in the webhook and upload phases.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

/// The report that weighs most once parsed: rows of a thousand small numbers each.
const HEAVY_REPORT: &str = "SELECT a.id, array_agg(0) AS zeros, array_agg(1) AS ones \
                            FROM contacts a CROSS JOIN contacts b GROUP BY a.id";

fn rss_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Starts a new peak: `VmHWM` becomes the current resident size.
fn reset_peak(pid: u32) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .map_err(|e| anyhow::anyhow!("resetting the API's peak memory (clear_refs): {e}"))
}

struct Phase {
    name: &'static str,
    statuses: BTreeMap<u16, usize>,
    took: Duration,
}

fn report(pid: u32, phase: &Phase) {
    let statuses: Vec<String> = phase
        .statuses
        .iter()
        .map(|(s, n)| format!("{n}×{s}"))
        .collect();
    println!(
        "{:<9} peak {:>6.1} MiB, resident after {:>6.1} MiB, {} requests in {:.1} s ({})",
        phase.name,
        peak_rss_mib(pid).unwrap_or(f64::NAN),
        rss_mib(pid, "VmRSS:"),
        phase.statuses.values().sum::<usize>(),
        phase.took.as_secs_f64(),
        statuses.join(", ")
    );
}

/// Waits until the process has given back what it frees (its resident size stopped falling for
/// twelve seconds — jemalloc gives pages back over ten — or a minute passed), so that each phase
/// starts from the process's resting size.
async fn settle(pid: u32) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut lowest, mut since) = (rss_mib(pid, "VmRSS:"), Instant::now());
    while Instant::now() < deadline && since.elapsed() < Duration::from_secs(12) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = rss_mib(pid, "VmRSS:");
        if now < lowest - 0.5 {
            (lowest, since) = (now, Instant::now());
        }
    }
    rss_mib(pid, "VmRSS:")
}

async fn run_phase<F>(name: &'static str, pid: u32, requests: Vec<F>) -> anyhow::Result<Phase>
where
    F: Future<Output = Vec<u16>>,
{
    let resting = settle(pid).await;
    println!("{name:<9} starts at {resting:>6.1} MiB resident");
    reset_peak(pid)?;
    let started = Instant::now();
    let mut statuses = BTreeMap::new();
    for status in join_all(requests).await.into_iter().flatten() {
        *statuses.entry(status).or_default() += 1;
    }
    let phase = Phase {
        name,
        statuses,
        took: started.elapsed(),
    };
    report(pid, &phase);
    Ok(phase)
}

async fn seed_contacts(pool: &sqlx::PgPool, tenant_id: Uuid, n: i32) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO contacts (id, tenant_id, display_name)
         SELECT gen_random_uuid(), $1, 'Contato ' || i FROM generate_series(1, $2) i",
    )
    .bind(tenant_id)
    .bind(n)
    .execute(pool)
    .await?;
    Ok(())
}

fn status_of(r: reqwest::Result<reqwest::Response>) -> u16 {
    match r {
        Ok(resp) => resp.status().as_u16(),
        // The connection closed before an answer (what an oversized body may get).
        Err(_) => 0,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let pid = args.api_pid;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&args.database_url)
        .await?;
    let http = reqwest::Client::new();
    let BenchTenant {
        tenant_id,
        api_key,
        channel_id,
        ..
    } = waha_tenant(&pool, &http, &args.api_url, "API memory", json!({})).await?;
    let mut keys = vec![api_key.clone()];
    seed_contacts(&pool, tenant_id, 1000).await?;
    for i in 1..args.tenants {
        let (tenant, key) =
            ventros_api::auth::create_tenant(&pool, &format!("API memory {i}")).await?;
        seed_contacts(&pool, tenant, 1000).await?;
        keys.push(key.secret);
    }
    println!(
        "ventros-api-memory: API pid {pid}, resident {:.1} MiB before (peak so far {:.1} MiB)",
        rss_mib(pid, "VmRSS:"),
        peak_rss_mib(pid).unwrap_or(f64::NAN)
    );

    let api_url = Arc::new(args.api_url.clone());
    let reports = keys.iter().flat_map(|key| {
        (0..2).map(|_| {
            let (http, key, url) = (http.clone(), key.clone(), api_url.clone());
            async move {
                let mut out = Vec::new();
                for _ in 0..args.rounds {
                    let r = http
                        .post(format!("{url}/api/v1/reports/query"))
                        .bearer_auth(&key)
                        .json(&json!({"sql": HEAVY_REPORT}))
                        .send()
                        .await;
                    let status = match r {
                        // Read the whole answer, as a client would.
                        Ok(resp) => {
                            let status = resp.status().as_u16();
                            let _ = resp.bytes().await;
                            status
                        }
                        Err(_) => 0,
                    };
                    out.push(status);
                }
                out
            }
        })
    });
    let reports: Vec<_> = reports.collect();
    run_phase("reports", pid, reports).await?;

    let webhook = |size: usize| {
        let (http, url) = (http.clone(), api_url.clone());
        async move {
            // Valid JSON of the given size; the signature cannot match.
            let mut body =
                br#"{"event":"message","session":"default","payload":{"body":""#.to_vec();
            body.resize(size.saturating_sub(4), b'a');
            body.extend_from_slice(br#""}}"#);
            let r = http
                .post(format!("{url}/webhooks/waha/{channel_id}"))
                .header("content-type", "application/json")
                .header("x-webhook-hmac", "00")
                .body(body)
                .send()
                .await;
            vec![status_of(r)]
        }
    };
    let webhooks: Vec<_> = (0..args.concurrency * 4)
        .map(|i| {
            webhook(if i % 2 == 0 {
                1024 * 1024 - 64
            } else {
                2 * 1024 * 1024
            })
        })
        .collect();
    run_phase("webhooks", pid, webhooks).await?;

    let upload = |size: usize| {
        let (http, url, key) = (http.clone(), api_url.clone(), api_key.clone());
        async move {
            // Bytes no file type starts with: refused after being read whole.
            let r = http
                .post(format!("{url}/api/v1/media?filename=big.bin"))
                .bearer_auth(&key)
                .header("content-type", "application/octet-stream")
                .body(vec![0u8; size])
                .send()
                .await;
            vec![status_of(r)]
        }
    };
    let uploads: Vec<_> = (0..args.concurrency)
        .map(|i| {
            upload(if i % 2 == 0 {
                16 * 1024 * 1024 - 64
            } else {
                17 * 1024 * 1024
            })
        })
        .collect();
    run_phase("uploads", pid, uploads).await?;

    let started = Instant::now();
    let resting = settle(pid).await;
    println!(
        "afterwards: resident {resting:.1} MiB ({:.0} s idle)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
