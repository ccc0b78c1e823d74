//! Memory latency and scale: synthetic CRM memories for many contacts (100k or 1M), then p50/p95/p99
//! of contact-scoped HYBRID search and of tenant-wide VECTOR_ONLY search (HNSW), HNSW recall@10
//! against exact search, and ingestion throughput.
//!
//!     cargo run --release --bin ventros-memory-bench -- --memories 1000000
//!
//! Memories are sentences composed from CRM templates (English and Portuguese: purchases,
//! tickets, preferences, profile, chit-chat). Embedding a million sentences with MiniLM on two
//! cores takes about an hour, so the bulk load embeds each distinct template sentence once with
//! the real model and gives every memory the normalised sum of two of those real vectors (its own
//! sentence twice, a second one once): clustered like real traffic, never two identical vectors.
//! Ingestion throughput is measured separately on real episodes (embedding, extraction, graph).
//! The database (`memory_bench_<n>`) is kept so a rerun skips the load; `--fresh` rebuilds it.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use pgvector::Vector;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;
use ventros_memory::MemoryEngine;
use ventros_memory::embed::EmbeddingSettings;
use ventros_memory::engine::{Episode, HitKind, Mode, SearchQuery};

#[derive(Parser)]
struct Args {
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long, default_value_t = 100_000)]
    memories: i64,
    /// Memories per contact (contacts = memories / this).
    #[arg(long, default_value_t = 100)]
    per_contact: i64,
    #[arg(long, default_value_t = 10)]
    tenants: i64,
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Episodes ingested for the throughput figure.
    #[arg(long, default_value_t = 300)]
    ingest: usize,
    /// Skip the contact-scoped and ingestion parts (tuning the tenant-wide search).
    #[arg(long)]
    tenant_wide_only: bool,
    /// Drop and rebuild the benchmark database.
    #[arg(long)]
    fresh: bool,
    #[command(flatten)]
    embedding: EmbeddingSettings,
}

/// Deterministic pseudo-random numbers (xorshift): the same data on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const PRODUCTS: &[&str] = &[
    "Pro blender",
    "air fryer",
    "espresso machine",
    "robot vacuum",
    "smart watch",
    "wireless earbuds",
    "4K TV",
    "gaming laptop",
    "office chair",
    "standing desk",
    "mesh router",
    "electric scooter",
    "coffee grinder",
    "phone case",
    "yoga mat",
    "running shoes",
    "Plano Pro",
    "Plano Básico",
    "assinatura anual",
    "geladeira frost free",
    "máquina de lavar",
    "ar condicionado",
    "notebook",
    "celular",
];
const CITIES: &[&str] = &[
    "São Paulo",
    "Rio de Janeiro",
    "Curitiba",
    "Belo Horizonte",
    "Porto Alegre",
    "Recife",
    "Lisbon",
    "Porto",
    "Madrid",
    "Austin",
    "Toronto",
    "Salvador",
];
const ISSUES: &[&str] = &[
    "stopped working",
    "arrived broken",
    "is making a weird noise",
    "won't turn on",
    "was charged twice",
    "never arrived",
    "chegou quebrado",
    "parou de funcionar",
    "veio com defeito",
];
const ORGS: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Petrobras",
    "Itaú",
    "Natura",
    "Ambev",
    "Nubank",
    "Magalu",
    "Embraer",
];
const CHANNELS: &[&str] = &["WhatsApp", "email", "phone calls", "Instagram", "SMS"];
const TIMES: &[&str] = &[
    "in the morning",
    "after 6pm",
    "on weekends",
    "during lunch",
    "de manhã",
    "à noite",
];

fn sentence(rng: &mut Rng) -> (String, &'static str) {
    let p = rng.pick(PRODUCTS);
    match rng.next() % 14 {
        0 => (format!("I bought the {p} last month"), "purchase"),
        1 => (format!("Comprei o {p} na Black Friday"), "purchase"),
        2 => (
            format!(
                "My order #{} with the {p} has not arrived yet",
                10_000 + rng.next() % 90_000
            ),
            "purchase",
        ),
        3 => (format!("The {p} {}", rng.pick(ISSUES)), "support_ticket"),
        4 => (format!("Meu {p} {}", rng.pick(ISSUES)), "support_ticket"),
        5 => (format!("I want a refund for the {p}"), "support_ticket"),
        6 => (
            format!(
                "I prefer to be contacted on {} {}",
                rng.pick(CHANNELS),
                rng.pick(TIMES)
            ),
            "preference",
        ),
        7 => (
            format!(
                "Prefiro falar pelo {} {}",
                rng.pick(CHANNELS),
                rng.pick(TIMES)
            ),
            "preference",
        ),
        8 => (
            format!(
                "I live in {} and work at {}",
                rng.pick(CITIES),
                rng.pick(ORGS)
            ),
            "profile",
        ),
        9 => (
            format!(
                "Moro em {} e trabalho na {}",
                rng.pick(CITIES),
                rng.pick(ORGS)
            ),
            "profile",
        ),
        10 => (
            format!("Do you have the {p} in another color?"),
            "conversation",
        ),
        11 => (
            format!("Quanto custa o {p} com frete para {}?", rng.pick(CITIES)),
            "conversation",
        ),
        12 => (
            format!("I'm interested in the {p}, is there a discount?"),
            "conversation",
        ),
        _ => ("Thanks, see you tomorrow!".to_owned(), "conversation"),
    }
}

const QUERIES: &[&str] = &[
    "what did the customer buy",
    "problem with a product",
    "how does she like to be contacted",
    "where does the customer live",
    "refund request",
    "order that did not arrive",
    "o que o cliente comprou",
    "reclamação de produto com defeito",
    "kitchen appliance",
    "which company does he work for",
    "discount on headphones",
    "best time to call",
];

fn percentiles(mut samples: Vec<f64>) -> String {
    samples.sort_by(f64::total_cmp);
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    format!(
        "p50 {:>6.2} ms  p95 {:>6.2} ms  p99 {:>6.2} ms  (n={})",
        at(0.5),
        at(0.95),
        at(0.99),
        samples.len()
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&args.database_url)
        .await
        .context("DATABASE_URL")?;
    let name = format!("memory_bench_{}", args.memories);
    if args.fresh {
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&admin)
        .await?;
    }
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&admin)
            .await?;
    if !exists {
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
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
    ventros_migrations::run(&pool).await?;
    let embedder = args.embedding.build()?;
    // The bench's queries repeat: the engine's cache of recent query vectors would hide the
    // embedding's share of a search, which is what these figures report.
    let engine = Arc::new(MemoryEngine::new(pool.clone(), embedder.clone()).without_query_cache());
    engine.ensure_space().await?;

    let loaded: i64 = sqlx::query_scalar("SELECT count(*) FROM memories")
        .fetch_one(&pool)
        .await?;
    if loaded < args.memories {
        load(&args, &pool, &engine).await?;
    } else {
        println!("reusing {name}: {loaded} memories already loaded");
    }
    // What the worker's upkeep does: every tenant past the threshold gets its own HNSW index.
    let index_started = Instant::now();
    let built = engine.maintain_tenant_indexes().await?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    println!(
        "tenant vector indexes: {} built, {} dropped in {:.1}s (a tenant gets one from {} rows of a table)\n",
        built.created,
        built.dropped,
        index_started.elapsed().as_secs_f64(),
        ventros_memory::engine::DEFAULT_TENANT_INDEX_MIN_ROWS
    );
    let (memories, facts, contacts): (i64, i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM memories), (SELECT count(*) FROM memory_facts), (SELECT count(*) FROM contacts)")
            .fetch_one(&pool)
            .await?;
    println!(
        "dataset: {memories} memories, {facts} facts, {contacts} contacts, {} tenants, model {}\n",
        args.tenants,
        embedder.model()
    );

    // Queries: a random contact of a random tenant, a query from the list.
    let targets: Vec<(Uuid, Uuid)> =
        sqlx::query_as("SELECT tenant_id, id FROM contacts ORDER BY md5(id::text) LIMIT $1")
            .bind(args.queries as i64)
            .fetch_all(&pool)
            .await?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    if !args.tenant_wide_only {
        // Warm-up: caches and the model's first run are not what we measure.
        for (tenant, contact) in targets.iter().take(20) {
            contact_hybrid(&engine, *tenant, *contact, rng.pick(QUERIES)).await?;
        }
        let (mut embed_ms, mut hybrid_ms) = (Vec::new(), Vec::new());
        for (tenant, contact) in &targets {
            let text = rng.pick(QUERIES);
            let started = Instant::now();
            embedder.embed_query(&[text.to_owned()]).await?;
            embed_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            let started = Instant::now();
            engine
                .search(&query(*tenant, Some(*contact), text, Mode::Hybrid))
                .await?;
            hybrid_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "contact-scoped HYBRID search (end to end, query embedding included): {}",
            percentiles(hybrid_ms.clone())
        );
        println!(
            "  of which query embedding ({}, in-process):      {}",
            args.embedding.embedding_provider,
            percentiles(embed_ms.clone())
        );
        // The worker runs with RAYON_NUM_THREADS=1 (scripts/stack.sh, deploy/k8s); unset, candle
        // spreads each product over every core and reads /proc/cpuinfo for every product. ONNX
        // Runtime runs each call on one thread whatever it is set to.
        println!(
            "    (MiniLM runtime: {}; candle threads: RAYON_NUM_THREADS={})",
            args.embedding.embedding_runtime,
            std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset, every core".into())
        );
        let db_ms: Vec<f64> = hybrid_ms
            .iter()
            .zip(&embed_ms)
            .map(|(h, e)| (h - e).max(0.0))
            .collect();
        println!(
            "  PostgreSQL part (vector + BM25 + graph + fusion):                 {}\n",
            percentiles(db_ms)
        );
    }

    // Tenant-wide vector search as the engine runs it (its own index for a large tenant, an
    // exact scan for a small one), SQL only, and its recall against an exact scan.
    let tenants: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM tenants ORDER BY id")
        .fetch_all(&pool)
        .await?;
    let mut vector_ms = Vec::new();
    let mut recall = Vec::new();
    let mut recall_ties = Vec::new();
    let dims = embedder.dimensions();
    let model = embedder.model().to_owned();
    for i in 0..args.queries.min(500) {
        let tenant = tenants[i % tenants.len()];
        let text = QUERIES[i % QUERIES.len()];
        let vector = Vector::from(
            embedder
                .embed_query(&[text.to_owned()])
                .await?
                .swap_remove(0),
        );
        let started = Instant::now();
        let mut ann = engine.tenant_nearest(tenant, &vector, 10).await?;
        vector_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        // Recall of the index: the memories (facts are few per tenant here, read exactly, and
        // many share one vector, so their ids would tie at random).
        ann.retain(|(kind, _, _)| *kind == HitKind::Memory);
        ann.sort_by(|a, b| b.2.total_cmp(&a.2));
        ann.truncate(10);
        if i < 100 {
            let exact = exact_nearest(&pool, &model, dims, tenant, &vector).await?;
            recall.push(
                ann.iter()
                    .filter(|(_, id, _)| exact.iter().any(|(e, _)| e == id))
                    .count() as f64
                    / exact.len().max(1) as f64,
            );
            // Synthetic CRM text repeats itself: many neighbours sit at the same distance, and
            // an equally near neighbour is as good an answer. Counted separately.
            let tenth = exact.last().map_or(0.0, |(_, d)| *d);
            recall_ties.push(
                ann.iter()
                    .filter(|(_, _, score)| 1.0 - f64::from(*score) <= tenth + 1e-5)
                    .count() as f64
                    / exact.len().max(1) as f64,
            );
        }
    }
    println!(
        "tenant-wide VECTOR_ONLY, SQL only (1/{} of the rows per tenant): {}",
        args.tenants,
        percentiles(vector_ms)
    );
    println!(
        "tenant-wide vector recall@10 of the memories against exact search: {:.3} by id, {:.3} counting equally near neighbours (over {} queries)",
        recall.iter().sum::<f64>() / recall.len() as f64,
        recall_ties.iter().sum::<f64>() / recall_ties.len() as f64,
        recall.len()
    );
    let mut ts = Vec::new();
    for (tenant, _) in targets.iter().take(200) {
        let started = Instant::now();
        engine
            .search(&query(*tenant, None, rng.pick(QUERIES), Mode::Vector))
            .await?;
        ts.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "tenant-wide VECTOR_ONLY through the engine (embedding, memories + facts):  {}\n",
        percentiles(ts)
    );
    if args.tenant_wide_only {
        return Ok(());
    }

    // Ingestion: real episodes, one at a time, through the same call the workflow's activity makes.
    let (tenant, contact) = targets[0];
    let started = Instant::now();
    let mut rng = Rng(42);
    for _ in 0..args.ingest {
        let (text, _) = sentence(&mut rng);
        engine.ingest(&bench_episode(tenant, contact, text)).await?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "ingestion: {:.1} episodes/s (embed + extract + graph + one transaction each, {} episodes)",
        args.ingest as f64 / secs,
        args.ingest
    );
    // targets[0] took the one-at-a-time episodes above; the others are fresh contacts.
    let (ingested_into, others) = targets.split_first().expect("at least one contact");
    concurrent_ingestion(&engine, others, args.ingest).await?;
    // As the worker runs a backlog (MEMORY_MAX_CONCURRENT_ACTIVITIES=1), then eight at once: with
    // the int8 embedder, ingestion's database writes rather than its inference are what a search
    // competes with, and eight loops keep PostgreSQL busy on both cores.
    for ingesters in [1, 8] {
        searches_during_backlog(&engine, *ingested_into, others, ingesters).await?;
    }
    Ok(())
}

/// One episode for the benchmark's ingestion figures, as the workflow's activity builds it.
fn bench_episode(tenant_id: Uuid, contact_id: Uuid, content: String) -> Episode {
    Episode {
        tenant_id,
        contact_id,
        kind: "message",
        source_type: "bench".into(),
        source_id: Uuid::now_v7().to_string(),
        role: "contact",
        content,
        occurred_at: chrono::Utc::now(),
        metadata: serde_json::json!({}),
        remember: true,
        context: None,
        extract: true,
        facts: vec![],
    }
}

/// Ingestion as the worker runs it under load: several contacts' MemoryIngestion activities at
/// once (each contact's own episodes stay in order), so one's database round trips overlap
/// another's inference. One contact per task, from `contacts`.
async fn concurrent_ingestion(
    engine: &Arc<MemoryEngine>,
    contacts: &[(Uuid, Uuid)],
    total: usize,
) -> anyhow::Result<()> {
    const AT_ONCE: usize = 4;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (w, (tenant, contact)) in contacts.iter().take(AT_ONCE).enumerate() {
        let (engine, tenant, contact) = (Arc::clone(engine), *tenant, *contact);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(500 + w as u64);
            for _ in 0..total / AT_ONCE {
                let (text, _) = sentence(&mut rng);
                engine.ingest(&bench_episode(tenant, contact, text)).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    println!(
        "ingestion, {AT_ONCE} contacts at once: {:.1} episodes/s ({} episodes)",
        (total / AT_ONCE * AT_ONCE) as f64 / started.elapsed().as_secs_f64(),
        total / AT_ONCE * AT_ONCE
    );
    Ok(())
}

/// Contact-scoped HYBRID searches while `ingesters` ingestion loops run without pause, as a burst
/// of messages does: a reply's memory search must not queue behind the backlog.
/// The backlog goes into `backlogged`; the searches are over `searched`.
async fn searches_during_backlog(
    engine: &Arc<MemoryEngine>,
    backlogged: (Uuid, Uuid),
    searched: &[(Uuid, Uuid)],
    ingesters: u64,
) -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let (tenant, contact) = backlogged;
    let mut loops = Vec::new();
    for w in 0..ingesters {
        let (engine, stop) = (Arc::clone(engine), Arc::clone(&stop));
        loops.push(tokio::spawn(async move {
            let mut rng = Rng(1_000 + w);
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let (text, _) = sentence(&mut rng);
                engine.ingest(&bench_episode(tenant, contact, text)).await?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut rng = Rng(7);
    let mut during = Vec::new();
    let started = Instant::now();
    for (tenant, contact) in searched.iter().take(300) {
        let t = Instant::now();
        contact_hybrid(engine, *tenant, *contact, rng.pick(QUERIES)).await?;
        during.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    stop.store(true, Ordering::Relaxed);
    let mut ingested = 0;
    for l in loops {
        ingested += l.await??;
    }
    println!(
        "contact-scoped HYBRID search during an ingestion backlog ({ingesters} ingester{}, {:.1} episodes/s meanwhile): {}",
        if ingesters == 1 { "" } else { "s" },
        ingested as f64 / started.elapsed().as_secs_f64(),
        percentiles(during)
    );
    Ok(())
}

/// The tenant's 10 nearest memories (valid now) by an exact scan, index scans off.
async fn exact_nearest(
    pool: &PgPool,
    model: &str,
    dims: usize,
    tenant: Uuid,
    vector: &Vector,
) -> anyhow::Result<Vec<(Uuid, f64)>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL enable_indexscan = off")
        .execute(&mut *tx)
        .await?;
    let ids = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT id, embedding::vector({dims}) <=> $2::vector({dims}) AS distance FROM memories
          WHERE embedding_model = '{model}' AND tenant_id = $1 AND valid_until IS NULL
          ORDER BY distance LIMIT 10"
    )))
    .bind(tenant)
    .bind(vector)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ids)
}

/// A contact-scoped HYBRID search, as an agent's memory tool makes it.
async fn contact_hybrid(
    engine: &MemoryEngine,
    tenant: Uuid,
    contact: Uuid,
    text: &str,
) -> anyhow::Result<()> {
    engine
        .search(&query(tenant, Some(contact), text, Mode::Hybrid))
        .await?;
    Ok(())
}

fn query(tenant_id: Uuid, contact_id: Option<Uuid>, text: &str, mode: Mode) -> SearchQuery {
    SearchQuery {
        tenant_id,
        contact_id,
        query: text.to_owned(),
        mode,
        limit: 10,
        memory_types: vec![],
        as_of: None,
        weights: Default::default(),
        include_embeddings: false,
    }
}

/// Bulk load: tenants, contacts, memories (with vectors and full text), and a small graph per
/// contact. The tenants' HNSW indexes are built after it, once over the loaded rows (far faster
/// than row by row).
async fn load(args: &Args, pool: &PgPool, engine: &MemoryEngine) -> anyhow::Result<()> {
    let started = Instant::now();
    let embedder = engine.embedder();
    let model = embedder.model().to_owned();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut pool_texts: Vec<(String, &str)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    while pool_texts.len() < 3_000 {
        let (text, kind) = sentence(&mut rng);
        if seen.insert(text.clone()) {
            pool_texts.push((text, kind));
        }
    }
    let texts: Vec<String> = pool_texts.iter().map(|(t, _)| t.clone()).collect();
    let vectors = embedder.embed(&texts).await?;
    sqlx::query("CREATE UNLOGGED TABLE IF NOT EXISTS bench_pool (i int PRIMARY KEY, content text, kind text, v vector)").execute(pool).await?;
    sqlx::query("TRUNCATE bench_pool").execute(pool).await?;
    for (chunk, (texts, vecs)) in pool_texts.chunks(500).zip(vectors.chunks(500)).enumerate() {
        let ids: Vec<i32> = (0..texts.len()).map(|i| (chunk * 500 + i) as i32).collect();
        let contents: Vec<&str> = texts.iter().map(|(t, _)| t.as_str()).collect();
        let kinds: Vec<&str> = texts.iter().map(|(_, k)| *k).collect();
        let vecs: Vec<Vector> = vecs.iter().map(|v| Vector::from(v.clone())).collect();
        sqlx::query("INSERT INTO bench_pool SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::vector[])")
            .bind(&ids)
            .bind(&contents)
            .bind(&kinds)
            .bind(&vecs)
            .execute(pool)
            .await?;
    }
    println!(
        "embedded {} distinct template sentences in {:.1}s",
        pool_texts.len(),
        started.elapsed().as_secs_f64()
    );

    let contacts = (args.memories / args.per_contact).max(1);
    // Deterministic ids from numbers, so reruns and partial loads line up.
    sqlx::query(
        "INSERT INTO tenants (id, name) SELECT md5('tenant' || g)::uuid, 'bench ' || g FROM generate_series(1, $1) g ON CONFLICT DO NOTHING",
    )
    .bind(args.tenants)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO contacts (id, tenant_id, display_name)
         SELECT md5('contact' || g)::uuid, md5('tenant' || (1 + g % $2))::uuid, 'Contact ' || g FROM generate_series(1, $1) g
         ON CONFLICT DO NOTHING",
    )
    .bind(contacts)
    .bind(args.tenants)
    .execute(pool)
    .await?;
    let load_started = Instant::now();
    let already: i64 = sqlx::query_scalar("SELECT count(*) FROM memories")
        .fetch_one(pool)
        .await?;
    let step = 50_000i64;
    let mut from = already + 1;
    while from <= args.memories {
        let to = (from + step - 1).min(args.memories);
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO memories (id, tenant_id, contact_id, content, memory_type, language, embedding, embedding_model, valid_from, created_at, idempotency_key)
             SELECT md5('memory' || g)::uuid, c.tenant_id, c.id, a.content, a.kind,
                    CASE WHEN a.content ~ '(Comprei|Meu|Prefiro|Moro|Quanto)' THEN 'portuguese'::regconfig ELSE 'english'::regconfig END,
                    l2_normalize(a.v + a.v + b.v), '{model}',
                    now() - (g % 700) * interval '1 day', now() - (g % 700) * interval '1 day', 'bench-' || g
               FROM generate_series($1::bigint, $2::bigint) g
               JOIN bench_pool a ON a.i = (hashint8(g) & 2147483647) % 3000
               JOIN bench_pool b ON b.i = (hashint8(g * 7 + 1) & 2147483647) % 3000
               JOIN contacts c ON c.id = md5('contact' || (1 + g % {contacts}))::uuid"
        )))
        .bind(from)
        .bind(to)
        .execute(pool)
        .await?;
        println!(
            "  memories {to}/{} ({:.0} rows/s)",
            args.memories,
            (to - already) as f64 / load_started.elapsed().as_secs_f64()
        );
        from = to + 1;
    }
    // A small graph per contact: where they live, where they work, what they bought.
    let graph_started = Instant::now();
    sqlx::query(
        "INSERT INTO memory_entities (id, tenant_id, contact_id, name, normalized, entity_type)
         SELECT md5('self' || c.id)::uuid, c.tenant_id, c.id, c.display_name, 'contact', 'contact' FROM contacts c
         ON CONFLICT DO NOTHING",
    )
    .execute(pool)
    .await?;
    for (predicate, entity_type, values, phrase) in [
        ("lives_in", "place", CITIES, "lives in"),
        ("works_at", "organization", ORGS, "works at"),
        ("purchased", "product", PRODUCTS, "purchased"),
    ] {
        let fact_vectors = embedder
            .embed(
                &values
                    .iter()
                    .map(|v| format!("Contact {phrase} {v}"))
                    .collect::<Vec<_>>(),
            )
            .await?;
        let name_vectors = embedder
            .embed(&values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>())
            .await?;
        let fact_vecs: Vec<Vector> = fact_vectors.into_iter().map(Vector::from).collect();
        let name_vecs: Vec<Vector> = name_vectors.into_iter().map(Vector::from).collect();
        let n = values.len() as i32;
        sqlx::query(AssertSqlSafe(format!(
            "WITH v AS (SELECT (row_number() OVER ()) - 1 AS i, value, fv, nv
                          FROM unnest($1::text[], $2::vector[], $3::vector[]) AS x(value, fv, nv)),
                  chosen AS (SELECT c.id AS contact_id, c.tenant_id, c.display_name, v.* FROM contacts c
                               JOIN v ON v.i = (hashtext(c.id::text || '{predicate}') & 2147483647) % {n}),
                  ents AS (INSERT INTO memory_entities (id, tenant_id, contact_id, name, normalized, entity_type, embedding, embedding_model)
                           SELECT md5('{predicate}' || contact_id)::uuid, tenant_id, contact_id, value, lower(value), '{entity_type}', nv, '{model}'
                             FROM chosen ON CONFLICT DO NOTHING RETURNING id)
             INSERT INTO memory_facts (id, tenant_id, contact_id, subject_id, predicate, object_id, fact, memory_type, embedding, embedding_model,
                                       valid_at, episode_ids, idempotency_key)
             SELECT md5('fact{predicate}' || contact_id)::uuid, tenant_id, contact_id, md5('self' || contact_id)::uuid, '{predicate}',
                    md5('{predicate}' || contact_id)::uuid, display_name || ' {phrase} ' || value,
                    CASE '{predicate}' WHEN 'purchased' THEN 'purchase' ELSE 'profile' END, fv, '{model}', now() - interval '30 days', '{{}}',
                    'bench-fact-{predicate}-' || contact_id
               FROM chosen ON CONFLICT DO NOTHING"
        )))
        .bind(values.iter().map(|v| (*v).to_owned()).collect::<Vec<String>>())
        .bind(&fact_vecs)
        .bind(&name_vecs)
        .execute(pool)
        .await?;
    }
    println!(
        "graph: 3 facts per contact in {:.1}s",
        graph_started.elapsed().as_secs_f64()
    );
    let loaded = args.memories - already;
    println!(
        "bulk load: {loaded} memories in {:.1}s ({:.0} memories/s)",
        load_started.elapsed().as_secs_f64(),
        loaded as f64 / load_started.elapsed().as_secs_f64()
    );

    println!("load total {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}
