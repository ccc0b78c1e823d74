//! Retrieval quality on LoCoMo: each conversation is ingested as one contact's history (every turn
//! an episode, through the same `MemoryEngine::ingest` the MemoryIngestion workflow calls), every
//! question is run as a search in each mode, and the turns it returns are scored against the
//! question's evidence: recall@5, recall@10 and MRR, per category and overall.
//!
//!     cargo run --release --bin ventros-memory-eval -- --dataset ../shared/datasets/locomo
//!
//! `DATABASE_URL` names a server (and a database to connect to first); the evaluation creates its
//! own database and drops it afterwards.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use clap::Parser;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;
use ventros_memory::MemoryEngine;
use ventros_memory::embed::EmbeddingSettings;
use ventros_memory::engine::{Episode, Mode, SearchQuery, Weights};

#[derive(Parser)]
struct Args {
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The folder with LoCoMo conversation files (`*.json`).
    #[arg(long, default_value = "../shared/datasets/locomo")]
    dataset: PathBuf,
    /// Evaluate only the first N conversations.
    #[arg(long)]
    conversations: Option<usize>,
    /// Evaluate only these conversations (file stems, e.g. `26,30`); with `--exclude`, all others.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Leave these conversations out (a held-out split while tuning).
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    /// Keep the evaluation database under this name and reuse what it already holds: a
    /// conversation ingested by an earlier run is not ingested again (search-side changes are
    /// then measured in seconds). Without it the database is created and dropped.
    #[arg(long)]
    reuse: Option<String>,
    /// Print this many HYBRID misses (question, evidence, what came back) to see what fails.
    #[arg(long, default_value_t = 0)]
    show_misses: usize,
    /// HYBRID weights `vector,keyword,graph`.
    #[arg(long, default_value = "1,1,0.5", value_parser = ventros_workers::parse_weights)]
    weights: Weights,
    /// Run HYBRID only (quicker while tuning).
    #[arg(long)]
    hybrid_only: bool,
    /// Write every HYBRID question's reranked pool here, one JSON line per question (each
    /// candidate's sources and features, the question's evidence): what `rerank/train.py`
    /// learns the reranker's weights from.
    #[arg(long)]
    dump_candidates: Option<PathBuf>,
    #[command(flatten)]
    embedding: EmbeddingSettings,
}

const CATEGORIES: [(u64, &str); 5] = [
    (1, "multi-hop"),
    (2, "temporal"),
    (3, "open-domain"),
    (4, "single-hop"),
    (5, "adversarial"),
];
const MODES: [(Mode, &str); 4] = [
    (Mode::Hybrid, "HYBRID"),
    (Mode::Vector, "VECTOR_ONLY"),
    (Mode::Keyword, "KEYWORD_ONLY"),
    (Mode::Graph, "GRAPH_ONLY"),
];

#[derive(Default, Clone, Copy)]
struct Score {
    questions: usize,
    recall5: f64,
    recall10: f64,
    mrr: f64,
}

impl Score {
    fn add(&mut self, other: Score) {
        self.questions += other.questions;
        self.recall5 += other.recall5;
        self.recall10 += other.recall10;
        self.mrr += other.mrr;
    }
    fn show(&self) -> String {
        let n = self.questions.max(1) as f64;
        format!(
            "{:>5}  {:>6.3}  {:>6.3}  {:>6.3}",
            self.questions,
            self.recall5 / n,
            self.recall10 / n,
            self.mrr / n
        )
    }
}

/// "1:56 pm on 8 May, 2023"
fn session_time(raw: &str) -> Option<DateTime<Utc>> {
    let naive =
        NaiveDateTime::parse_from_str(&raw.replace(" on ", " "), "%I:%M %p %d %B, %Y").ok()?;
    Some(Utc.from_utc_datetime(&naive))
}

fn evidence_ids(raw: &Value) -> Vec<String> {
    raw.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .flat_map(|s| {
            s.split([';', ',', ' '])
                .map(str::trim)
                .filter(|s| s.starts_with('D'))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let weights = args.weights;

    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&args.database_url)
        .await
        .context("DATABASE_URL")?;
    let name = match &args.reuse {
        Some(name) => {
            anyhow::ensure!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "--reuse takes lowercase letters, digits and _"
            );
            name.clone()
        }
        None => format!("memory_eval_{}", Uuid::new_v4().simple()),
    };
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&admin)
            .await?;
    if !exists {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await?;
    }
    let (base, _) = args
        .database_url
        .rsplit_once('/')
        .context("DATABASE_URL must end with /database")?;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&format!("{base}/{name}"))
        .await?;
    let result = evaluate(&args, pool.clone(), weights).await;
    pool.close().await;
    if args.reuse.is_none() {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
            .execute(&admin)
            .await?;
    }
    result
}

async fn evaluate(args: &Args, pool: sqlx::PgPool, weights: Weights) -> anyhow::Result<()> {
    ventros_migrations::run(&pool).await?;
    let embedder = args.embedding.build()?;
    // Every question embedded: the printed search latency includes it.
    let engine = Arc::new(
        MemoryEngine::new(pool.clone(), embedder)
            .with_weights(weights)
            .without_query_cache(),
    );
    engine.ensure_space().await?;

    let mut files: Vec<PathBuf> = std::fs::read_dir(&args.dataset)
        .with_context(|| format!("reading {}", args.dataset.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let stem = |p: &PathBuf| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned()
    };
    files.retain(|p| {
        (args.only.is_empty() || args.only.contains(&stem(p))) && !args.exclude.contains(&stem(p))
    });
    files.truncate(args.conversations.unwrap_or(usize::MAX));

    let mut table: BTreeMap<(usize, u64), Score> = BTreeMap::new();
    let mut shown = 0;
    let mut dump = match &args.dump_candidates {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("{}", path.display()))?,
        )),
        None => None,
    };
    let mut ingested_turns = 0usize;
    let (mut turns, mut ingest_secs, mut searches, mut search_ms) =
        (0usize, 0f64, 0usize, Vec::new());
    for file in &files {
        let data: Value = serde_json::from_slice(&std::fs::read(file)?)?;
        let conversation = &data["conversation"];
        let conversation = if conversation.is_object() {
            conversation
        } else {
            &data
        };
        let (speaker_a, speaker_b) = (
            conversation["speaker_a"].as_str().unwrap_or("A"),
            conversation["speaker_b"].as_str().unwrap_or("B"),
        );
        let existing: Option<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT t.id, c.id FROM tenants t JOIN contacts c ON c.tenant_id = t.id
              WHERE t.name = $1 AND EXISTS (SELECT 1 FROM memory_episodes e WHERE e.tenant_id = t.id)",
        )
        .bind(tenant_name(file))
        .fetch_optional(&pool)
        .await?;
        let ingested = existing.is_some();
        let (tenant, contact) = match existing {
            Some(ids) => ids,
            None => {
                let tenant = create_tenant(&pool, file).await?;
                let contact = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO contacts (id, tenant_id, display_name) VALUES ($1, $2, $3)",
                )
                .bind(contact)
                .bind(tenant)
                .bind(speaker_a)
                .execute(&pool)
                .await?;
                (tenant, contact)
            }
        };

        let started = std::time::Instant::now();
        let mut turn_text: BTreeMap<String, String> = BTreeMap::new();
        for session in 1.. {
            let Some(dialogue) = conversation
                .get(format!("session_{session}"))
                .and_then(Value::as_array)
            else {
                break;
            };
            let at = conversation[format!("session_{session}_date_time")]
                .as_str()
                .and_then(session_time)
                .unwrap_or_else(Utc::now);
            // Context, as in a chat: the previous message of the same session.
            let mut previous: Option<String> = None;
            for (i, turn) in dialogue.iter().enumerate() {
                let speaker = turn["speaker"].as_str().unwrap_or_default();
                let mut text = format!("{speaker}: {}", turn["text"].as_str().unwrap_or_default());
                if let Some(caption) = turn["blip_caption"].as_str() {
                    text.push_str(&format!(" [shares {caption}]"));
                }
                // Who said it, as a chat's sender is known (the reranker tells the people a question
                // names from those it does not).
                // The contact is speaker A: their first-person statements become facts about the
                // contact; speaker B's turns are remembered but, like our side of a chat, not
                // read as facts about the contact.
                let is_contact = speaker != speaker_b;
                let current = text.clone();
                turn_text.insert(
                    turn["dia_id"].as_str().unwrap_or_default().to_owned(),
                    text.clone(),
                );
                let episode = Episode {
                    tenant_id: tenant,
                    contact_id: contact,
                    kind: "message",
                    source_type: "message".into(),
                    source_id: turn["dia_id"].as_str().unwrap_or_default().to_owned(),
                    role: if is_contact { "contact" } else { "operator" },
                    content: text,
                    occurred_at: at + chrono::Duration::seconds(i as i64),
                    metadata: serde_json::json!({"session": session, "speaker": speaker}),
                    remember: true,
                    context: previous.take(),
                    extract: is_contact,
                    facts: vec![],
                };
                if !ingested {
                    engine.ingest(&episode).await?;
                    ingested_turns += 1;
                }
                previous = Some(current);
                turns += 1;
            }
        }
        ingest_secs += started.elapsed().as_secs_f64();

        for qa in data["qa"].as_array().into_iter().flatten() {
            let evidence = evidence_ids(&qa["evidence"]);
            let (Some(question), Some(category)) =
                (qa["question"].as_str(), qa["category"].as_u64())
            else {
                continue;
            };
            if evidence.is_empty() {
                continue;
            }
            for (m, (mode, _)) in MODES.iter().enumerate() {
                if args.hybrid_only && *mode != Mode::Hybrid {
                    continue;
                }
                let query = SearchQuery {
                    tenant_id: tenant,
                    contact_id: Some(contact),
                    query: question.to_owned(),
                    mode: *mode,
                    limit: 10,
                    memory_types: vec![],
                    as_of: None,
                    weights,
                    include_embeddings: false,
                };
                let outcome = engine.search(&query).await?;
                if let Some(dump) = dump.as_mut()
                    && *mode == Mode::Hybrid
                {
                    let pool = engine.explain(&query).await?;
                    let candidates: Vec<Value> = pool
                        .iter()
                        .map(|(hit, features)| {
                            serde_json::json!({"sources": hit.sources, "features": features})
                        })
                        .collect();
                    let line = serde_json::json!({
                        // The names, in the order of each candidate's `features`: the trainer
                        // reads them here, so it cannot drift from the Rust order.
                        "feature_names": ventros_memory::engine::FEATURES,
                        "conversation": stem(file),
                        "category": category,
                        "question": question,
                        "evidence": evidence,
                        "candidates": candidates,
                    });
                    writeln!(dump, "{line}")?;
                }
                searches += 1;
                search_ms.push(outcome.latency_ms);
                let found = |k: usize| -> f64 {
                    let sources: Vec<&String> = outcome
                        .hits
                        .iter()
                        .take(k)
                        .flat_map(|h| &h.sources)
                        .collect();
                    let hit = evidence
                        .iter()
                        .filter(|e| {
                            sources
                                .iter()
                                .any(|s| s.strip_prefix("message:") == Some(e.as_str()))
                        })
                        .count();
                    hit as f64 / evidence.len() as f64
                };
                let first = outcome.hits.iter().position(|h| {
                    h.sources.iter().any(|s| {
                        evidence
                            .iter()
                            .any(|e| s.strip_prefix("message:") == Some(e.as_str()))
                    })
                });
                let score = Score {
                    questions: 1,
                    recall5: found(5),
                    recall10: found(10),
                    mrr: first.map_or(0.0, |r| 1.0 / (r as f64 + 1.0)),
                };
                table.entry((m, category)).or_default().add(score);
                if m == 0 && score.recall10 < 1.0 && shown < args.show_misses {
                    shown += 1;
                    let text_of = |id: &str| turn_text.get(id).cloned().unwrap_or_default();
                    eprintln!("\nMISS [cat {category}] {question}");
                    for e in &evidence {
                        eprintln!("  evidence {e}: {}", text_of(e));
                    }
                    for h in outcome.hits.iter().take(3) {
                        eprintln!(
                            "  got {:.2} {:?}: {}",
                            h.score,
                            h.sources,
                            h.content.chars().take(120).collect::<String>()
                        );
                    }
                }
            }
        }
        eprintln!("{}: {} turns ingested", file.display(), turns);
    }

    search_ms.sort_by(f32::total_cmp);
    let pct = |p: f64| {
        search_ms
            .get(((search_ms.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "LoCoMo evidence retrieval: {} conversations, {turns} turns, model {}",
        files.len(),
        engine.embedder().model()
    );
    if ingested_turns > 0 {
        println!(
            "ingestion: {:.1} turns/s (embedding + extraction + graph, one episode at a time)",
            ingested_turns as f64 / ingest_secs.max(1e-9)
        );
    } else {
        println!("ingestion: none (every conversation was already in the reused database)");
    }
    println!(
        "search latency over {searches} searches: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms\n",
        pct(0.5),
        pct(0.95),
        pct(0.99)
    );
    for (m, (_, mode)) in MODES.iter().enumerate() {
        println!(
            "{mode} (weights v={} k={} g={})",
            weights.vector, weights.keyword, weights.graph
        );
        println!(
            "  {:<22} {:>5}  {:>6}  {:>6}  {:>6}",
            "category", "n", "R@5", "R@10", "MRR"
        );
        let mut overall = Score::default();
        for (category, label) in CATEGORIES {
            if let Some(score) = table.get(&(m, category)) {
                println!("  {:<22} {}", format!("{category} {label}"), score.show());
                overall.add(*score);
            }
        }
        println!("  {:<22} {}\n", "overall", overall.show());
    }
    if let Some(mut dump) = dump {
        dump.flush()?;
    }
    Ok(())
}

/// A tenant per conversation (no API key needed: nothing here goes through the API).
async fn create_tenant(pool: &sqlx::PgPool, file: &std::path::Path) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO tenants (id, name) VALUES ($1, $2)")
        .bind(id)
        .bind(tenant_name(file))
        .execute(pool)
        .await?;
    Ok(id)
}

fn tenant_name(file: &std::path::Path) -> String {
    format!(
        "LoCoMo {}",
        file.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
    )
}
