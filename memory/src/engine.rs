//! The memory engine: storing episodes, memories and bitemporal facts, and searching them four
//! ways (vector, keyword, graph, and a reciprocal-rank fusion of the three) inside PostgreSQL.
//!
//! Both the gRPC MemoryService (for the Python agents) and the ingestion activities call this
//! in-process. Every query carries the tenant; a contact-scoped search scans that contact's rows
//! exactly (a few hundred rows: faster and more accurate than an approximate index), a tenant-wide
//! vector search goes through the model's HNSW index.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row, Transaction};
use uuid::Uuid;

use ventros_proto::v1::AgentExecutionRequest;

use pgvector::Vector;

use crate::embed::{EmbedError, SharedEmbedder};
use crate::extract::{self, Cardinality, Predicate};
use ventros_activities::agents::AgentApi;

/// Upper bound on results per search; asking for more is an error, not a silent clamp.
pub const MAX_LIMIT: usize = 100;
/// Longest query accepted (characters).
pub const MAX_QUERY_CHARS: usize = 2_000;
/// Reciprocal-rank-fusion constant (the usual 60: a rank-1 hit is worth ~1.6× a rank-10 hit).
const RRF_K: f32 = 60.0;
/// An entity is linked to a query by meaning when its name is at least this similar.
const ENTITY_LINK_SIMILARITY: f32 = 0.55;

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Embedding(#[from] EmbedError),
    #[error("fact extraction: {0}")]
    Extraction(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Hybrid,
    Vector,
    Keyword,
    Graph,
}

impl Mode {
    pub fn parse(value: &str) -> Option<Mode> {
        match value.to_ascii_lowercase().as_str() {
            "" | "hybrid" => Some(Mode::Hybrid),
            "vector" | "vector_only" => Some(Mode::Vector),
            "keyword" | "keyword_only" => Some(Mode::Keyword),
            "graph" | "graph_only" => Some(Mode::Graph),
            _ => None,
        }
    }
}

/// How much each ranked list counts in HYBRID.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    pub vector: f32,
    pub keyword: f32,
    pub graph: f32,
}

impl Default for Weights {
    fn default() -> Self {
        // The graph list is short and precise on CRM facts but says nothing about free
        // conversation; at half weight it lifts the facts it finds without crowding the rest
        // (LoCoMo: see README "Memory quality").
        Weights {
            vector: 1.0,
            keyword: 1.0,
            graph: 0.5,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub tenant_id: Uuid,
    /// None: the whole tenant.
    pub contact_id: Option<Uuid>,
    pub query: String,
    pub mode: Mode,
    pub limit: usize,
    pub memory_types: Vec<String>,
    /// None: what is true now; Some(d): what was true at d.
    pub as_of: Option<DateTime<Utc>>,
    pub weights: Weights,
    pub include_embeddings: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HitKind {
    Memory,
    Fact,
}

#[derive(Debug, Clone)]
pub struct Hit {
    pub id: Uuid,
    pub kind: HitKind,
    pub content: String,
    pub memory_type: String,
    /// 0..1, comparable within one response.
    pub score: f32,
    pub created_at: DateTime<Utc>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub metadata: Map<String, Value>,
    /// Provenance: `source_type:source_id` of every episode behind the hit.
    pub sources: Vec<String>,
    pub embedding: Vec<f32>,
}

#[derive(Debug, Clone)]
pub struct SearchOutcome {
    pub hits: Vec<Hit>,
    /// Distinct candidates the selected lists produced (before the limit).
    pub total_count: usize,
    pub latency_ms: f32,
}

type Key = (HitKind, Uuid);

/// A graph node as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityRef {
    pub name: String,
    pub entity_type: String,
}

impl EntityRef {
    pub fn new(name: impl Into<String>, entity_type: impl Into<String>) -> Self {
        EntityRef {
            name: name.into(),
            entity_type: entity_type.into(),
        }
    }
    fn normalized(&self) -> String {
        self.name
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    }
}

/// A fact to apply. `subject: None` is the contact.
#[derive(Debug, Clone)]
pub struct FactInput {
    pub subject: Option<EntityRef>,
    pub predicate: String,
    pub object: EntityRef,
}

/// Something that happened, to remember. `source_type` + `source_id` identify it: ingesting the
/// same source twice changes nothing.
#[derive(Debug, Clone)]
pub struct Episode {
    pub tenant_id: Uuid,
    pub contact_id: Uuid,
    pub kind: &'static str,
    pub source_type: String,
    pub source_id: String,
    pub role: &'static str,
    pub content: String,
    pub occurred_at: DateTime<Utc>,
    pub metadata: Value,
    /// Keep the content itself as a searchable memory.
    pub remember: bool,
    /// What came just before (the previous message of the conversation), embedded with the
    /// content so a short answer is found by the question it answers.
    pub context: Option<String>,
    /// Run the offline extractor over the content (customer's own words only).
    pub extract: bool,
    /// Facts known without extraction (CRM events).
    pub facts: Vec<FactInput>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    pub episode_id: Uuid,
    pub already_ingested: bool,
    pub memory_id: Option<Uuid>,
    pub facts_added: usize,
    pub facts_reinforced: usize,
    pub facts_invalidated: usize,
}

#[derive(Debug, Clone)]
pub struct EntityView {
    pub id: Uuid,
    pub name: String,
    pub entity_type: String,
    pub summary: String,
}

#[derive(Debug, Clone)]
pub struct FactView {
    pub id: Uuid,
    pub subject_id: Uuid,
    pub predicate: String,
    pub object_id: Uuid,
    pub fact: String,
    pub valid_at: DateTime<Utc>,
    pub invalid_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub expired_at: Option<DateTime<Utc>>,
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct GraphView {
    pub entities: Vec<EntityView>,
    pub facts: Vec<FactView>,
}

/// Who reads facts out of a customer's free text.
#[derive(Clone, Default)]
pub enum FactExtractor {
    /// The offline rules in [`extract`]: deterministic, instant, English and Portuguese.
    #[default]
    Rules,
    /// The Python FactExtractionAgent (an LLM when the agent service is configured with one);
    /// its JSON answer is read with the same predicate vocabulary.
    Agent(Arc<dyn AgentApi>),
}

pub struct MemoryEngine {
    pool: PgPool,
    embedder: SharedEmbedder,
    default_weights: Weights,
    extractor: FactExtractor,
}

/// Words of a query, safe to splice into a tsquery (letters and digits only).
fn query_terms(query: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .map(str::to_lowercase)
        .filter(|w| seen.insert(w.clone()))
        .take(32)
        .collect()
}

/// Query words that point at a relation rather than a thing ("where does she live" → lives_in).
fn linked_predicates(terms: &[String]) -> Vec<String> {
    const TRIGGERS: &[(&str, &[&str])] = &[
        (
            "lives_in",
            &[
                "live",
                "lives",
                "living",
                "moved",
                "move",
                "city",
                "where",
                "address",
                "mora",
                "moro",
                "cidade",
                "mudou",
                "endereço",
                "onde",
            ],
        ),
        (
            "works_at",
            &[
                "work", "works", "job", "company", "employer", "trabalha", "trabalho", "empresa",
                "emprego",
            ],
        ),
        ("email", &["email", "mail", "e-mail"]),
        ("name", &["name", "called", "nome"]),
        (
            "birthday",
            &["birthday", "born", "aniversário", "aniversario", "nasceu"],
        ),
        (
            "likes",
            &[
                "like",
                "likes",
                "love",
                "enjoy",
                "favorite",
                "favourite",
                "gosta",
                "adora",
                "preferido",
                "favorito",
            ],
        ),
        ("dislikes", &["dislike", "hate", "odeia"]),
        (
            "prefers",
            &["prefer", "prefers", "preference", "prefere", "preferência"],
        ),
        (
            "purchased",
            &[
                "bought",
                "buy",
                "purchase",
                "purchased",
                "order",
                "ordered",
                "comprou",
                "compra",
                "pedido",
            ],
        ),
        (
            "wants",
            &["want", "wants", "interested", "quer", "interesse"],
        ),
        (
            "has_problem_with",
            &[
                "problem",
                "issue",
                "broken",
                "complaint",
                "support",
                "problema",
                "defeito",
                "reclamação",
            ],
        ),
        (
            "in_stage",
            &[
                "stage", "deal", "pipeline", "status", "etapa", "negócio", "funil",
            ],
        ),
        ("has_deal", &["deal", "deals", "negócio", "oportunidade"]),
        ("tagged", &["tag", "tags", "tagged", "label", "etiqueta"]),
    ];
    TRIGGERS
        .iter()
        .filter(|(_, words)| terms.iter().any(|t| words.contains(&t.as_str())))
        .map(|(p, _)| (*p).to_owned())
        .collect()
}

fn predicate_info(name: &str) -> Predicate {
    if name.starts_with("attribute:") {
        extract::attribute_predicate()
    } else {
        extract::predicate(name).copied().unwrap_or(Predicate {
            name: "related_to",
            cardinality: Cardinality::Many,
            object_type: "thing",
            memory_type: "fact",
            phrase: "is related to",
            opposite: None,
        })
    }
}

/// What a memory's vector is computed from: the preceding message, then the memory itself.
pub fn embedding_text(context: Option<&str>, content: &str) -> String {
    match context.map(str::trim).filter(|c| !c.is_empty()) {
        Some(context) => format!("{context}\n{content}"),
        None => content.to_owned(),
    }
}

fn fact_text(subject: &str, predicate: &str, object: &str) -> String {
    match predicate.strip_prefix("attribute:") {
        Some(key) => format!("{subject} has {}: {object}", key.replace('_', " ")),
        None => format!("{subject} {} {object}", predicate_info(predicate).phrase),
    }
}

/// Reciprocal-rank fusion of ranked lists, normalised so a hit ranked first everywhere scores 1.
fn fuse(lists: &[(f32, &[(Key, f32)])]) -> Vec<(Key, f32)> {
    let mut scores: HashMap<Key, f32> = HashMap::new();
    let best: f32 = lists
        .iter()
        .filter(|(_, l)| !l.is_empty())
        .map(|(w, _)| w / (RRF_K + 1.0))
        .sum();
    for (weight, list) in lists {
        for (rank, (key, _)) in list.iter().enumerate() {
            *scores.entry(*key).or_default() += weight / (RRF_K + 1.0 + rank as f32);
        }
    }
    let mut fused: Vec<(Key, f32)> = scores
        .into_iter()
        .map(|(k, s)| (k, if best > 0.0 { s / best } else { 0.0 }))
        .collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    fused
}

/// Scores of one list rescaled to 0..1 by its best hit.
fn normalised(list: Vec<(Key, f32)>) -> Vec<(Key, f32)> {
    let max = list.iter().map(|(_, s)| *s).fold(0.0f32, f32::max);
    list.into_iter()
        .map(|(k, s)| {
            (
                k,
                if max > 0.0 {
                    (s / max).clamp(0.0, 1.0)
                } else {
                    0.0
                },
            )
        })
        .collect()
}

fn rows_to_keys(rows: Vec<sqlx::postgres::PgRow>) -> Result<Vec<(Key, f32)>, sqlx::Error> {
    rows.into_iter()
        .map(|r| {
            let kind = if r.try_get::<String, _>("kind")? == "m" {
                HitKind::Memory
            } else {
                HitKind::Fact
            };
            Ok(((kind, r.try_get("id")?), r.try_get::<f32, _>("score")?))
        })
        .collect()
}

fn sort_desc(list: &mut [(Key, f32)]) {
    list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
}

impl MemoryEngine {
    pub fn new(pool: PgPool, embedder: SharedEmbedder) -> Self {
        MemoryEngine {
            pool,
            embedder,
            default_weights: Weights::default(),
            extractor: FactExtractor::Rules,
        }
    }

    pub fn with_extractor(mut self, extractor: FactExtractor) -> Self {
        self.extractor = extractor;
        self
    }

    /// Facts in a customer's message, by the configured extractor.
    async fn extract(&self, episode: &Episode) -> Result<Vec<extract::Extracted>, MemoryError> {
        match &self.extractor {
            FactExtractor::Rules => Ok(extract::extract_facts(&episode.content)),
            FactExtractor::Agent(agents) => {
                let request = AgentExecutionRequest {
                    agent_type: "FactExtractionAgent".into(),
                    contact_id: episode.contact_id.to_string(),
                    message: episode.content.clone(),
                    tenant_id: episode.tenant_id.to_string(),
                    request_id: format!("memory:{}:{}", episode.source_type, episode.source_id),
                    ..Default::default()
                };
                let answer = agents
                    .execute(request, std::time::Duration::from_secs(20))
                    .await
                    .map_err(|e| MemoryError::Extraction(e.to_string()))?;
                Ok(extract::parse_agent_facts(&answer.response))
            }
        }
    }

    pub fn with_weights(mut self, weights: Weights) -> Self {
        self.default_weights = weights;
        self
    }

    pub fn default_weights(&self) -> Weights {
        self.default_weights
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn embedder(&self) -> &SharedEmbedder {
        &self.embedder
    }

    fn model(&self) -> &str {
        self.embedder.model()
    }

    async fn embed_one(&self, text: &str) -> Result<Vector, MemoryError> {
        let mut vectors = self.embedder.embed(&[text.to_owned()]).await?;
        Ok(Vector::from(vectors.swap_remove(0)))
    }

    /// The contact must exist in the tenant; another tenant's contact is "not found".
    pub async fn contact_name(
        &self,
        tenant_id: Uuid,
        contact_id: Uuid,
    ) -> Result<String, MemoryError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT display_name FROM contacts WHERE id = $1 AND tenant_id = $2")
                .bind(contact_id)
                .bind(tenant_id)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some((name,)) => Ok(name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| "The customer".to_owned())),
            None => Err(MemoryError::NotFound(format!(
                "contact {contact_id} not found"
            ))),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Embedding spaces
    // -----------------------------------------------------------------------------------------

    /// Registers this engine's model and its HNSW indexes. The first model becomes active; a
    /// different model is registered as `building` and returned, for the re-embed workflow.
    pub async fn ensure_space(&self) -> Result<SpaceStatus, MemoryError> {
        let model = self.model().to_owned();
        let dims = self.embedder.dimensions() as i32;
        let existing: Option<(i32, String)> =
            sqlx::query_as("SELECT dimensions, state FROM embedding_spaces WHERE model = $1")
                .bind(&model)
                .fetch_optional(&self.pool)
                .await?;
        if let Some((stored, state)) = &existing {
            if *stored != dims {
                return Err(MemoryError::Invalid(format!(
                    "model {model} was registered with {stored} dimensions, now reports {dims}"
                )));
            }
            if state == "retired" {
                // Switching back to a model used before: its vectors are stale, rebuild them.
                sqlx::query("UPDATE embedding_spaces SET state = 'building' WHERE model = $1")
                    .bind(&model)
                    .execute(&self.pool)
                    .await?;
            }
        }
        let has_active: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM embedding_spaces WHERE state = 'active')",
        )
        .fetch_one(&self.pool)
        .await?;
        let state = if has_active { "building" } else { "active" };
        sqlx::query("INSERT INTO embedding_spaces (model, dimensions, state) VALUES ($1, $2, $3) ON CONFLICT (model) DO NOTHING")
            .bind(&model)
            .bind(dims)
            .bind(state)
            .execute(&self.pool)
            .await?;
        self.ensure_indexes().await?;
        let state: String =
            sqlx::query_scalar("SELECT state FROM embedding_spaces WHERE model = $1")
                .bind(&model)
                .fetch_one(&self.pool)
                .await?;
        Ok(if state == "active" {
            SpaceStatus::Active
        } else {
            SpaceStatus::NeedsReembed {
                model,
                dimensions: dims as usize,
            }
        })
    }

    /// One partial HNSW index per table for this model: vectors of other models (other
    /// dimensions) are outside the index predicate, so they are never compared.
    pub async fn ensure_indexes(&self) -> Result<(), MemoryError> {
        let model = self.model();
        if !model
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            || model.len() > 48
        {
            return Err(MemoryError::Invalid(format!(
                "embedding model id {model:?} is not a safe identifier"
            )));
        }
        let dims = self.embedder.dimensions();
        for table in ["memories", "memory_facts"] {
            let sql = format!(
                "CREATE INDEX IF NOT EXISTS {table}_hnsw_{model} ON {table} USING hnsw ((embedding::vector({dims})) vector_cosine_ops)
                 WITH (m = 16, ef_construction = 64) WHERE embedding_model = '{model}'"
            );
            sqlx::query(AssertSqlSafe(sql)).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Rows (memories, facts, entities) whose vectors are not from this engine's model yet.
    pub async fn reembed_batch(&self, batch: i64) -> Result<u64, MemoryError> {
        let model = self.model().to_owned();
        // One table per call, memories first; the caller repeats until nothing is left.
        for (table, context, text) in [
            ("memories", "context", "content"),
            ("memory_facts", "NULL", "fact"),
            ("memory_entities", "NULL", "name"),
        ] {
            let sql = format!(
                "SELECT id, {context}::text AS context, {text} AS text FROM {table} WHERE embedding_model IS DISTINCT FROM $1 ORDER BY id LIMIT $2"
            );
            let rows: Vec<(Uuid, Option<String>, String)> = sqlx::query_as(AssertSqlSafe(sql))
                .bind(&model)
                .bind(batch)
                .fetch_all(&self.pool)
                .await?;
            if rows.is_empty() {
                continue;
            }
            // The same text each row was first embedded from (memories: context, then content).
            let texts: Vec<String> = rows
                .iter()
                .map(|(_, context, text)| embedding_text(context.as_deref(), text))
                .collect();
            let vectors: Vec<Vector> = self
                .embedder
                .embed(&texts)
                .await?
                .into_iter()
                .map(Vector::from)
                .collect();
            let ids: Vec<Uuid> = rows.iter().map(|(id, _, _)| *id).collect();
            let sql = format!(
                "UPDATE {table} t SET embedding = u.v::vector, embedding_model = $3 FROM unnest($1::uuid[], $2::vector[]) AS u(id, v) WHERE t.id = u.id"
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(&ids)
                .bind(&vectors)
                .bind(&model)
                .execute(&self.pool)
                .await?;
            return Ok(rows.len() as u64);
        }
        Ok(0)
    }

    /// Makes this engine's model the one searches use; the previous one is retired.
    pub async fn activate_space(&self) -> Result<(), MemoryError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE embedding_spaces SET state = 'retired' WHERE state = 'active' AND model <> $1",
        )
        .bind(self.model())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE embedding_spaces SET state = 'active' WHERE model = $1")
            .bind(self.model())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Search
    // -----------------------------------------------------------------------------------------

    pub async fn search(&self, q: &SearchQuery) -> Result<SearchOutcome, MemoryError> {
        let started = Instant::now();
        let query = q.query.trim();
        if query.is_empty() {
            return Err(MemoryError::Invalid("query must not be empty".into()));
        }
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(MemoryError::Invalid(format!(
                "query is longer than {MAX_QUERY_CHARS} characters"
            )));
        }
        if q.limit == 0 || q.limit > MAX_LIMIT {
            return Err(MemoryError::Invalid(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        for w in [q.weights.vector, q.weights.keyword, q.weights.graph] {
            if !(0.0..=10.0).contains(&w) {
                return Err(MemoryError::Invalid(
                    "weights must be between 0 and 10".into(),
                ));
            }
        }
        if let Some(contact_id) = q.contact_id {
            self.contact_name(q.tenant_id, contact_id).await?;
        }
        let depth = if q.mode == Mode::Hybrid {
            (q.limit * 3).max(30)
        } else {
            q.limit
        };
        let terms = query_terms(query);
        let vector = match q.mode {
            Mode::Keyword => None,
            _ => Some(self.embed_one(query).await?),
        };

        // Keyword mode computes no vector and never reads this one.
        let no_vector = Vector::from(Vec::new());
        let v = vector.as_ref().unwrap_or(&no_vector);
        let (vec_list, kw_list, graph_list) = match q.mode {
            Mode::Vector => (self.vector_list(q, v, depth).await?, vec![], vec![]),
            Mode::Keyword => (vec![], self.keyword_list(q, &terms, depth).await?, vec![]),
            Mode::Graph => (vec![], vec![], self.graph_list(q, &terms, v, depth).await?),
            Mode::Hybrid => {
                let (a, b, c) = tokio::try_join!(
                    self.vector_list(q, v, depth),
                    self.keyword_list(q, &terms, depth),
                    self.graph_list(q, &terms, v, depth)
                )?;
                (a, b, c)
            }
        };
        let distinct: BTreeSet<Key> = vec_list
            .iter()
            .chain(&kw_list)
            .chain(&graph_list)
            .map(|(k, _)| *k)
            .collect();
        let ranked = match q.mode {
            Mode::Vector => vec_list,
            Mode::Keyword => normalised(kw_list),
            Mode::Graph => normalised(graph_list),
            Mode::Hybrid => fuse(&[
                (q.weights.vector, &vec_list),
                (q.weights.keyword, &kw_list),
                (q.weights.graph, &graph_list),
            ]),
        };
        let top: Vec<(Key, f32)> = ranked.into_iter().take(q.limit).collect();
        let hits = self
            .hydrate(q.tenant_id, &top, q.include_embeddings)
            .await?;
        Ok(SearchOutcome {
            hits,
            total_count: distinct.len(),
            latency_ms: started.elapsed().as_secs_f32() * 1000.0,
        })
    }

    /// Nearest memories and facts by cosine similarity (score = similarity, floored at 0).
    async fn vector_list(
        &self,
        q: &SearchQuery,
        vector: &Vector,
        depth: usize,
    ) -> Result<Vec<(Key, f32)>, MemoryError> {
        let rows = match q.contact_id {
            // One contact: an exact scan of its rows (the untyped expression keeps the planner off
            // the approximate index).
            Some(contact_id) => {
                sqlx::query(
                    "(SELECT 'm' AS kind, id, greatest(0, 1 - (embedding <=> $3::vector))::float4 AS score FROM memories
                       WHERE tenant_id = $1 AND contact_id = $2 AND embedding_model = $4
                         AND (cardinality($5::text[]) = 0 OR memory_type = ANY($5))
                         AND CASE WHEN $6::timestamptz IS NULL THEN valid_until IS NULL
                                  ELSE valid_from <= $6 AND (valid_until IS NULL OR valid_until > $6) END
                       ORDER BY embedding <=> $3::vector LIMIT $7)
                     UNION ALL
                     (SELECT 'f', id, greatest(0, 1 - (embedding <=> $3::vector))::float4 FROM memory_facts
                       WHERE tenant_id = $1 AND contact_id = $2 AND embedding_model = $4
                         AND (cardinality($5::text[]) = 0 OR memory_type = ANY($5))
                         AND CASE WHEN $6::timestamptz IS NULL THEN invalid_at IS NULL
                                  ELSE valid_at <= $6 AND (invalid_at IS NULL OR invalid_at > $6) END
                       ORDER BY embedding <=> $3::vector LIMIT $7)",
                )
                .bind(q.tenant_id)
                .bind(contact_id)
                .bind(vector)
                .bind(self.model())
                .bind(&q.memory_types)
                .bind(q.as_of)
                .bind(depth as i64)
                .fetch_all(&self.pool)
                .await?
            }
            // The whole tenant: the model's HNSW index, with iterative scans so the tenant and
            // type filters do not starve the result.
            None => {
                let (model, dims) = (self.model(), self.embedder.dimensions());
                let sql = format!(
                    "(SELECT 'm' AS kind, id, greatest(0, 1 - (embedding::vector({dims}) <=> $2::vector({dims})))::float4 AS score FROM memories
                       WHERE embedding_model = '{model}' AND tenant_id = $1
                         AND (cardinality($3::text[]) = 0 OR memory_type = ANY($3))
                         AND CASE WHEN $4::timestamptz IS NULL THEN valid_until IS NULL
                                  ELSE valid_from <= $4 AND (valid_until IS NULL OR valid_until > $4) END
                       ORDER BY embedding::vector({dims}) <=> $2::vector({dims}) LIMIT $5)
                     UNION ALL
                     (SELECT 'f', id, greatest(0, 1 - (embedding::vector({dims}) <=> $2::vector({dims})))::float4 FROM memory_facts
                       WHERE embedding_model = '{model}' AND tenant_id = $1
                         AND (cardinality($3::text[]) = 0 OR memory_type = ANY($3))
                         AND CASE WHEN $4::timestamptz IS NULL THEN invalid_at IS NULL
                                  ELSE valid_at <= $4 AND (invalid_at IS NULL OR invalid_at > $4) END
                       ORDER BY embedding::vector({dims}) <=> $2::vector({dims}) LIMIT $5)"
                );
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT set_config('hnsw.ef_search', '200', true), set_config('hnsw.iterative_scan', 'relaxed_order', true)")
                    .execute(&mut *tx)
                    .await?;
                // Relaxed-order iterative scans return neighbours roughly in order: fetch 100
                // candidates and let the exact scores below pick the best `depth`.
                let rows = sqlx::query(AssertSqlSafe(sql))
                    .bind(q.tenant_id)
                    .bind(vector)
                    .bind(&q.memory_types)
                    .bind(q.as_of)
                    .bind(depth.max(100) as i64)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                rows
            }
        };
        let mut list = rows_to_keys(rows)?;
        sort_desc(&mut list);
        list.truncate(depth);
        Ok(list)
    }

    /// Full-text matches (any query word, stemmed in English and Portuguese), by ts_rank; a whole
    /// tenant (one contact goes through [`Self::bm25_list`]).
    async fn keyword_list(
        &self,
        q: &SearchQuery,
        terms: &[String],
        depth: usize,
    ) -> Result<Vec<(Key, f32)>, MemoryError> {
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(contact_id) = q.contact_id {
            return self.bm25_list(q, contact_id, terms, depth).await;
        }
        let tsquery = terms.join(" | ");
        let rows = sqlx::query(
            "WITH q AS (SELECT to_tsquery('english', $3) || to_tsquery('portuguese', $3) AS q)
             (SELECT 'm' AS kind, id, ts_rank(search, q.q, 1)::float4 AS score FROM memories, q
               WHERE tenant_id = $1 AND $2::uuid IS NULL AND search @@ q.q
                 AND (cardinality($4::text[]) = 0 OR memory_type = ANY($4))
                 AND CASE WHEN $5::timestamptz IS NULL THEN valid_until IS NULL
                          ELSE valid_from <= $5 AND (valid_until IS NULL OR valid_until > $5) END
               ORDER BY score DESC LIMIT $6)
             UNION ALL
             (SELECT 'f', id, ts_rank(search, q.q, 1)::float4 FROM memory_facts, q
               WHERE tenant_id = $1 AND $2::uuid IS NULL AND search @@ q.q
                 AND (cardinality($4::text[]) = 0 OR memory_type = ANY($4))
                 AND CASE WHEN $5::timestamptz IS NULL THEN invalid_at IS NULL
                          ELSE valid_at <= $5 AND (invalid_at IS NULL OR invalid_at > $5) END
               ORDER BY 3 DESC LIMIT $6)",
        )
        .bind(q.tenant_id)
        .bind(q.contact_id)
        .bind(&tsquery)
        .bind(&q.memory_types)
        .bind(q.as_of)
        .bind(depth as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut list = rows_to_keys(rows)?;
        sort_desc(&mut list);
        list.truncate(depth);
        Ok(list)
    }

    /// BM25 over one contact's memories and facts. ts_rank has no notion of how rare a word is,
    /// so in a long history the contact's own name or "order" outweighs the one rare word that
    /// matters; here every query word is weighted by its inverse document frequency within the
    /// contact's rows (a few hundred to a few thousand: cheap to count exactly).
    async fn bm25_list(
        &self,
        q: &SearchQuery,
        contact_id: Uuid,
        terms: &[String],
        depth: usize,
    ) -> Result<Vec<(Key, f32)>, MemoryError> {
        let rows = sqlx::query(
            "WITH docs AS MATERIALIZED (
                 SELECT 'm' AS kind, id, search, length(search) AS len FROM memories
                  WHERE tenant_id = $1 AND contact_id = $2
                    AND (cardinality($4::text[]) = 0 OR memory_type = ANY($4))
                    AND CASE WHEN $5::timestamptz IS NULL THEN valid_until IS NULL
                             ELSE valid_from <= $5 AND (valid_until IS NULL OR valid_until > $5) END
                 UNION ALL
                 SELECT 'f', id, search, length(search) FROM memory_facts
                  WHERE tenant_id = $1 AND contact_id = $2
                    AND (cardinality($4::text[]) = 0 OR memory_type = ANY($4))
                    AND CASE WHEN $5::timestamptz IS NULL THEN invalid_at IS NULL
                             ELSE valid_at <= $5 AND (invalid_at IS NULL OR invalid_at > $5) END),
             terms AS (SELECT DISTINCT ON (q::text) q FROM (
                 SELECT to_tsquery('english', t) || to_tsquery('portuguese', t) AS q FROM unnest($3::text[]) AS t) x
                 WHERE numnode(q) > 0),
             stats AS (SELECT count(*)::float8 AS n, greatest(avg(len), 1)::float8 AS avgdl FROM docs),
             df AS (SELECT terms.q, count(docs.id)::float8 AS df FROM terms LEFT JOIN docs ON docs.search @@ terms.q GROUP BY terms.q)
             SELECT d.kind, d.id,
                    sum(ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5)) * 2.2 / (1 + 1.2 * (0.25 + 0.75 * d.len / s.avgdl)))::float4 AS score
               FROM docs d JOIN df ON d.search @@ df.q CROSS JOIN stats s
              GROUP BY d.kind, d.id ORDER BY score DESC, d.id LIMIT $6",
        )
        .bind(q.tenant_id)
        .bind(contact_id)
        .bind(terms)
        .bind(&q.memory_types)
        .bind(q.as_of)
        .bind(depth as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows_to_keys(rows)?)
    }

    /// Facts reached from the entities the query names (by name or by meaning) and the relations
    /// it asks about, plus the memories of the episodes those facts came from.
    async fn graph_list(
        &self,
        q: &SearchQuery,
        terms: &[String],
        vector: &Vector,
        depth: usize,
    ) -> Result<Vec<(Key, f32)>, MemoryError> {
        let name_terms: Vec<&String> = terms.iter().filter(|t| t.chars().count() >= 3).collect();
        let simple_query = name_terms
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(" | ");
        // The scope is a fixed fragment rather than `($2 IS NULL OR contact_id = $2)`: with a
        // prepared statement's generic plan that form cannot use the per-contact indexes.
        let (scope, fact_scope) = if q.contact_id.is_some() {
            ("contact_id = $2", "f.contact_id = $2")
        } else {
            ("$2::uuid IS NULL", "$2::uuid IS NULL")
        };
        let linked: Vec<(Uuid, f32)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT id, 1.0::float4 FROM memory_entities
              WHERE tenant_id = $1 AND {scope} AND entity_type <> 'contact'
                AND $3 <> '' AND search @@ to_tsquery('simple', $3)
             UNION ALL
             (SELECT id, greatest(0, 1 - (embedding <=> $4::vector))::float4 FROM memory_entities
               WHERE tenant_id = $1 AND {scope} AND entity_type <> 'contact' AND embedding_model = $5
               ORDER BY embedding <=> $4::vector LIMIT 8)"
        )))
        .bind(q.tenant_id)
        .bind(q.contact_id)
        .bind(&simple_query)
        .bind(vector)
        .bind(self.model())
        .fetch_all(&self.pool)
        .await?;
        let mut entity_scores: HashMap<Uuid, f32> = HashMap::new();
        for (id, score) in linked
            .into_iter()
            .filter(|(_, s)| *s >= ENTITY_LINK_SIMILARITY)
        {
            let slot = entity_scores.entry(id).or_default();
            *slot = slot.max(score);
        }
        let predicates = linked_predicates(terms);
        if entity_scores.is_empty() && predicates.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, scores): (Vec<Uuid>, Vec<f32>) = entity_scores.into_iter().unzip();
        let rows = sqlx::query(AssertSqlSafe(format!(
            "WITH linked(id, s) AS (SELECT * FROM unnest($3::uuid[], $4::float4[])),
             facts AS (
               SELECT f.id, f.episode_ids, f.valid_at,
                      (2 * coalesce((SELECT max(s) FROM linked WHERE linked.id IN (f.subject_id, f.object_id)), 0)
                       + CASE WHEN f.predicate = ANY($5) THEN 1 ELSE 0 END)::float4 AS score
                 FROM memory_facts f
                WHERE f.tenant_id = $1 AND {fact_scope}
                  AND (f.subject_id = ANY($3) OR f.object_id = ANY($3) OR f.predicate = ANY($5))
                  AND (cardinality($6::text[]) = 0 OR f.memory_type = ANY($6))
                  AND CASE WHEN $7::timestamptz IS NULL THEN f.invalid_at IS NULL
                           ELSE f.valid_at <= $7 AND (f.invalid_at IS NULL OR f.invalid_at > $7) END
                ORDER BY score DESC, f.valid_at DESC LIMIT $8)
             SELECT 'f' AS kind, id, score FROM facts
             UNION ALL
             SELECT DISTINCT ON (m.id) 'm', m.id, (f.score * 0.9)::float4 FROM facts f JOIN memories m ON m.episode_id = ANY(f.episode_ids)
              WHERE m.tenant_id = $1 AND (cardinality($6::text[]) = 0 OR m.memory_type = ANY($6))
                AND CASE WHEN $7::timestamptz IS NULL THEN m.valid_until IS NULL
                         ELSE m.valid_from <= $7 AND (m.valid_until IS NULL OR m.valid_until > $7) END"
        )))
        .bind(q.tenant_id)
        .bind(q.contact_id)
        .bind(&ids)
        .bind(&scores)
        .bind(&predicates)
        .bind(&q.memory_types)
        .bind(q.as_of)
        .bind(depth as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut list = rows_to_keys(rows)?;
        sort_desc(&mut list);
        list.truncate(depth);
        Ok(list)
    }

    async fn hydrate(
        &self,
        tenant_id: Uuid,
        top: &[(Key, f32)],
        include_embeddings: bool,
    ) -> Result<Vec<Hit>, MemoryError> {
        let memory_ids: Vec<Uuid> = top
            .iter()
            .filter(|((k, _), _)| *k == HitKind::Memory)
            .map(|((_, id), _)| *id)
            .collect();
        let fact_ids: Vec<Uuid> = top
            .iter()
            .filter(|((k, _), _)| *k == HitKind::Fact)
            .map(|((_, id), _)| *id)
            .collect();
        let mut found: HashMap<Key, Hit> = HashMap::new();
        if !memory_ids.is_empty() {
            let rows = sqlx::query(
                "SELECT m.id, m.content, m.memory_type, m.metadata, m.created_at, m.valid_from, m.valid_until,
                        m.episode_id, e.source_type || ':' || e.source_id AS source,
                        CASE WHEN $3 THEN m.embedding::float4[] END AS embedding
                   FROM memories m LEFT JOIN memory_episodes e ON e.id = m.episode_id
                  WHERE m.id = ANY($1) AND m.tenant_id = $2",
            )
            .bind(&memory_ids)
            .bind(tenant_id)
            .bind(include_embeddings)
            .fetch_all(&self.pool)
            .await?;
            for r in rows {
                let id: Uuid = r.try_get("id")?;
                let mut metadata = match r.try_get::<Value, _>("metadata")? {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                metadata.insert("kind".into(), json!("memory"));
                if let Some(episode) = r.try_get::<Option<Uuid>, _>("episode_id")? {
                    metadata.insert("episode_id".into(), json!(episode));
                }
                found.insert(
                    (HitKind::Memory, id),
                    Hit {
                        id,
                        kind: HitKind::Memory,
                        content: r.try_get("content")?,
                        memory_type: r.try_get("memory_type")?,
                        score: 0.0,
                        created_at: r.try_get("created_at")?,
                        valid_from: r.try_get("valid_from")?,
                        valid_until: r.try_get("valid_until")?,
                        metadata,
                        sources: r
                            .try_get::<Option<String>, _>("source")?
                            .into_iter()
                            .collect(),
                        embedding: r
                            .try_get::<Option<Vec<f32>>, _>("embedding")?
                            .unwrap_or_default(),
                    },
                );
            }
        }
        if !fact_ids.is_empty() {
            let rows = sqlx::query(
                "SELECT f.id, f.fact, f.memory_type, f.predicate, s.name AS subject, o.name AS object, f.created_at,
                        f.valid_at, f.invalid_at, f.expired_at,
                        array(SELECT e.source_type || ':' || e.source_id FROM memory_episodes e WHERE e.id = ANY(f.episode_ids) ORDER BY e.occurred_at) AS sources,
                        CASE WHEN $3 THEN f.embedding::float4[] END AS embedding
                   FROM memory_facts f JOIN memory_entities s ON s.id = f.subject_id JOIN memory_entities o ON o.id = f.object_id
                  WHERE f.id = ANY($1) AND f.tenant_id = $2",
            )
            .bind(&fact_ids)
            .bind(tenant_id)
            .bind(include_embeddings)
            .fetch_all(&self.pool)
            .await?;
            for r in rows {
                let id: Uuid = r.try_get("id")?;
                let mut metadata = Map::new();
                metadata.insert("kind".into(), json!("fact"));
                metadata.insert("subject".into(), json!(r.try_get::<String, _>("subject")?));
                metadata.insert(
                    "predicate".into(),
                    json!(r.try_get::<String, _>("predicate")?),
                );
                metadata.insert("object".into(), json!(r.try_get::<String, _>("object")?));
                if let Some(expired) = r.try_get::<Option<DateTime<Utc>>, _>("expired_at")? {
                    metadata.insert("expired_at".into(), json!(expired.to_rfc3339()));
                }
                found.insert(
                    (HitKind::Fact, id),
                    Hit {
                        id,
                        kind: HitKind::Fact,
                        content: r.try_get("fact")?,
                        memory_type: r.try_get("memory_type")?,
                        score: 0.0,
                        created_at: r.try_get("created_at")?,
                        valid_from: r.try_get("valid_at")?,
                        valid_until: r.try_get("invalid_at")?,
                        metadata,
                        sources: r.try_get("sources")?,
                        embedding: r
                            .try_get::<Option<Vec<f32>>, _>("embedding")?
                            .unwrap_or_default(),
                    },
                );
            }
        }
        Ok(top
            .iter()
            .filter_map(|(key, score)| {
                found.remove(key).map(|mut hit| {
                    hit.score = *score;
                    hit
                })
            })
            .collect())
    }

    // -----------------------------------------------------------------------------------------
    // Writing
    // -----------------------------------------------------------------------------------------

    /// A memory stated directly (an agent's `StoreMemory`): its own episode for provenance, no
    /// fact extraction (an agent's words are not the customer's). Idempotent on `idempotency_key`.
    pub async fn store_memory(
        &self,
        tenant_id: Uuid,
        contact_id: Uuid,
        content: &str,
        memory_type: &str,
        metadata: Value,
        idempotency_key: Option<&str>,
    ) -> Result<(Uuid, bool), MemoryError> {
        self.contact_name(tenant_id, contact_id).await?;
        if let Some(key) = idempotency_key {
            let existing: Option<Uuid> = sqlx::query_scalar(
                "SELECT id FROM memories WHERE tenant_id = $1 AND idempotency_key = $2",
            )
            .bind(tenant_id)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(id) = existing {
                return Ok((id, false));
            }
        }
        let vector = self.embed_one(content).await?;
        let mut tx = self.pool.begin().await?;
        let source_id = idempotency_key.map_or_else(|| Uuid::now_v7().to_string(), str::to_owned);
        let episode_id: Uuid = sqlx::query_scalar(
            "INSERT INTO memory_episodes (id, tenant_id, contact_id, kind, source_type, source_id, role, content, occurred_at, ingested_at)
             VALUES ($1, $2, $3, 'note', 'store_memory', $4, 'agent', $5, now(), now())
             ON CONFLICT (tenant_id, source_type, source_id) DO UPDATE SET updated_at = now() RETURNING id",
        )
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(contact_id)
        .bind(&source_id)
        .bind(content)
        .fetch_one(&mut *tx)
        .await?;
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO memories (id, tenant_id, contact_id, content, memory_type, metadata, idempotency_key, episode_id, language, embedding, embedding_model)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::regconfig, $10::vector, $11)
             ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id",
        )
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(contact_id)
        .bind(content)
        .bind(memory_type)
        .bind(metadata)
        .bind(idempotency_key)
        .bind(episode_id)
        .bind(extract::detect_language(content))
        .bind(&vector)
        .bind(self.model())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        match inserted {
            Some(id) => Ok((id, true)),
            None => {
                let id = sqlx::query_scalar(
                    "SELECT id FROM memories WHERE tenant_id = $1 AND idempotency_key = $2",
                )
                .bind(tenant_id)
                .bind(idempotency_key)
                .fetch_one(&self.pool)
                .await?;
                Ok((id, false))
            }
        }
    }

    /// Stores an episode and everything derived from it, exactly once: the episode row is unique
    /// per source and `ingested_at` is set in the same transaction as the memory and the facts.
    pub async fn ingest(&self, episode: &Episode) -> Result<IngestOutcome, MemoryError> {
        let contact_name = self
            .contact_name(episode.tenant_id, episode.contact_id)
            .await?;
        let row: (Uuid, Option<DateTime<Utc>>) = sqlx::query_as(
            "INSERT INTO memory_episodes (id, tenant_id, contact_id, kind, source_type, source_id, role, content, occurred_at, metadata)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (tenant_id, source_type, source_id) DO UPDATE SET updated_at = memory_episodes.updated_at
             RETURNING id, ingested_at",
        )
        .bind(Uuid::now_v7())
        .bind(episode.tenant_id)
        .bind(episode.contact_id)
        .bind(episode.kind)
        .bind(&episode.source_type)
        .bind(&episode.source_id)
        .bind(episode.role)
        .bind(&episode.content)
        .bind(episode.occurred_at)
        .bind(&episode.metadata)
        .fetch_one(&self.pool)
        .await?;
        let (episode_id, ingested_at) = row;
        if ingested_at.is_some() {
            return Ok(IngestOutcome {
                episode_id,
                already_ingested: true,
                ..Default::default()
            });
        }

        // Everything to embed, in one batch, before the transaction (inference is the slow part).
        let mut facts: Vec<FactInput> = episode.facts.clone();
        if episode.extract && episode.role == "contact" {
            for f in self.extract(episode).await? {
                let p = predicate_info(f.predicate);
                facts.push(FactInput {
                    subject: None,
                    predicate: f.predicate.to_owned(),
                    object: EntityRef::new(f.object, p.object_type),
                });
            }
        }
        let remember = episode.remember && !episode.content.trim().is_empty();
        let mut texts = Vec::new();
        if remember {
            texts.push(embedding_text(episode.context.as_deref(), &episode.content));
        }
        let fact_texts: Vec<String> = facts
            .iter()
            .map(|f| {
                fact_text(
                    f.subject
                        .as_ref()
                        .map_or(&contact_name, |s| s.name.as_str()),
                    &f.predicate,
                    &f.object.name,
                )
            })
            .collect();
        texts.extend(fact_texts.iter().cloned());
        let mut entity_refs: Vec<EntityRef> = Vec::new();
        for f in &facts {
            for e in f.subject.iter().chain(std::iter::once(&f.object)) {
                if !entity_refs.contains(e) {
                    entity_refs.push(e.clone());
                }
            }
        }
        texts.extend(entity_refs.iter().map(|e| e.name.clone()));
        let vectors: Vec<Vector> = self
            .embedder
            .embed(&texts)
            .await?
            .into_iter()
            .map(Vector::from)
            .collect();
        let mut vectors = vectors.into_iter();

        let mut tx = self.pool.begin().await?;
        // One writer per contact graph at a time, whoever calls (workflow, tools, evaluation).
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7))")
            .bind(episode.contact_id)
            .execute(&mut *tx)
            .await?;
        let still_pending: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM memory_episodes WHERE id = $1 AND ingested_at IS NULL FOR UPDATE",
        )
        .bind(episode_id)
        .fetch_optional(&mut *tx)
        .await?;
        if still_pending.is_none() {
            return Ok(IngestOutcome {
                episode_id,
                already_ingested: true,
                ..Default::default()
            });
        }
        let mut outcome = IngestOutcome {
            episode_id,
            ..Default::default()
        };
        let language = extract::detect_language(&episode.content);
        if remember {
            let memory_type = if episode.kind == "message" {
                extract::classify_memory(&episode.content)
            } else {
                "conversation"
            };
            let memory_type = if episode.kind == "crm_event" {
                "crm_event"
            } else {
                memory_type
            };
            let mut metadata = match &episode.metadata {
                Value::Object(m) => m.clone(),
                _ => Map::new(),
            };
            metadata.insert("role".into(), json!(episode.role));
            outcome.memory_id = sqlx::query_scalar(
                "INSERT INTO memories (id, tenant_id, contact_id, content, memory_type, metadata, episode_id, language, embedding, embedding_model, valid_from, context)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8::regconfig, $9::vector, $10, $11, $12)
                 ON CONFLICT (episode_id, memory_type) WHERE episode_id IS NOT NULL DO NOTHING RETURNING id",
            )
            .bind(Uuid::now_v7())
            .bind(episode.tenant_id)
            .bind(episode.contact_id)
            .bind(&episode.content)
            .bind(memory_type)
            .bind(Value::Object(metadata))
            .bind(episode_id)
            .bind(language)
            .bind(vectors.next())
            .bind(self.model())
            .bind(episode.occurred_at)
            .bind(episode.context.as_deref())
            .fetch_optional(&mut *tx)
            .await?;
        }
        let fact_vectors: Vec<Option<Vector>> = fact_texts.iter().map(|_| vectors.next()).collect();
        let mut entity_ids: HashMap<usize, Uuid> = HashMap::new();
        for (i, e) in entity_refs.iter().enumerate() {
            let id = upsert_entity(&mut tx, episode, e, vectors.next(), self.model()).await?;
            entity_ids.insert(i, id);
        }
        let contact_entity = upsert_entity(
            &mut tx,
            episode,
            &EntityRef::new(contact_name.clone(), "contact"),
            None,
            self.model(),
        )
        .await?;
        let id_of = |e: &EntityRef| {
            entity_refs
                .iter()
                .position(|x| x == e)
                .map(|i| entity_ids[&i])
                .expect("entity upserted")
        };
        let mut touched: BTreeSet<Uuid> = BTreeSet::from([contact_entity]);
        for (i, f) in facts.iter().enumerate() {
            let subject = f.subject.as_ref().map_or(contact_entity, id_of);
            let object = id_of(&f.object);
            touched.extend([subject, object]);
            let applied = apply_fact(
                &mut tx,
                episode,
                episode_id,
                i,
                subject,
                object,
                &f.predicate,
                &fact_texts[i],
                language,
                fact_vectors[i].as_ref(),
                self.model(),
            )
            .await?;
            match applied {
                Applied::Added { invalidated } => {
                    outcome.facts_added += 1;
                    outcome.facts_invalidated += invalidated;
                }
                Applied::Reinforced => outcome.facts_reinforced += 1,
                Applied::Duplicate => {}
            }
        }
        // Entity summaries evolve with what is currently true about them.
        sqlx::query(
            "UPDATE memory_entities e SET summary = coalesce((
                 SELECT left(string_agg(fact, '; ' ORDER BY valid_at DESC), 600) FROM (
                   SELECT fact, valid_at FROM memory_facts f WHERE (f.subject_id = e.id OR f.object_id = e.id) AND f.invalid_at IS NULL
                   ORDER BY valid_at DESC LIMIT 12) recent), '')
              WHERE e.id = ANY($1)",
        )
        .bind(touched.into_iter().collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE memory_episodes SET ingested_at = now() WHERE id = $1")
            .bind(episode_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    // -----------------------------------------------------------------------------------------
    // Reading the graph
    // -----------------------------------------------------------------------------------------

    /// A contact's knowledge graph: facts true at `as_of` (now when None), or every fact ever
    /// recorded with `include_history`. `depth` 1 keeps facts about the contact itself; each
    /// extra hop adds facts about the entities reached.
    pub async fn graph(
        &self,
        tenant_id: Uuid,
        contact_id: Uuid,
        as_of: Option<DateTime<Utc>>,
        include_history: bool,
        depth: u32,
        entity_type: Option<&str>,
    ) -> Result<GraphView, MemoryError> {
        self.contact_name(tenant_id, contact_id).await?;
        let entities: Vec<EntityView> = sqlx::query("SELECT id, name, entity_type, summary FROM memory_entities WHERE tenant_id = $1 AND contact_id = $2")
            .bind(tenant_id)
            .bind(contact_id)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| -> Result<EntityView, sqlx::Error> {
                Ok(EntityView { id: r.try_get("id")?, name: r.try_get("name")?, entity_type: r.try_get("entity_type")?, summary: r.try_get("summary")? })
            })
            .collect::<Result<_, _>>()?;
        let facts: Vec<FactView> = sqlx::query(
            "SELECT f.id, f.subject_id, f.predicate, f.object_id, f.fact, f.valid_at, f.invalid_at, f.created_at, f.expired_at,
                    array(SELECT e.source_type || ':' || e.source_id FROM memory_episodes e WHERE e.id = ANY(f.episode_ids) ORDER BY e.occurred_at) AS sources
               FROM memory_facts f
              WHERE f.tenant_id = $1 AND f.contact_id = $2
                AND ($4 OR CASE WHEN $3::timestamptz IS NULL THEN f.invalid_at IS NULL
                                ELSE f.valid_at <= $3 AND (f.invalid_at IS NULL OR f.invalid_at > $3) END)
              ORDER BY f.valid_at, f.created_at",
        )
        .bind(tenant_id)
        .bind(contact_id)
        .bind(as_of)
        .bind(include_history)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| -> Result<FactView, sqlx::Error> {
            Ok(FactView {
                id: r.try_get("id")?,
                subject_id: r.try_get("subject_id")?,
                predicate: r.try_get("predicate")?,
                object_id: r.try_get("object_id")?,
                fact: r.try_get("fact")?,
                valid_at: r.try_get("valid_at")?,
                invalid_at: r.try_get("invalid_at")?,
                created_at: r.try_get("created_at")?,
                expired_at: r.try_get("expired_at")?,
                sources: r.try_get("sources")?,
            })
        })
        .collect::<Result<_, _>>()?;
        // Breadth-first from the contact entity, `depth` hops.
        let mut reached: BTreeSet<Uuid> = entities
            .iter()
            .filter(|e| e.entity_type == "contact")
            .map(|e| e.id)
            .collect();
        let mut kept: BTreeSet<Uuid> = BTreeSet::new();
        for _ in 0..depth.clamp(1, 5) {
            let frontier: Vec<Uuid> = reached.iter().copied().collect();
            for f in &facts {
                if frontier.contains(&f.subject_id) || frontier.contains(&f.object_id) {
                    kept.insert(f.id);
                    reached.insert(f.subject_id);
                    reached.insert(f.object_id);
                }
            }
        }
        let type_of: HashMap<Uuid, &str> = entities
            .iter()
            .map(|e| (e.id, e.entity_type.as_str()))
            .collect();
        let facts: Vec<FactView> = facts
            .into_iter()
            .filter(|f| kept.contains(&f.id))
            .filter(|f| {
                entity_type.is_none_or(|t| {
                    type_of.get(&f.object_id) == Some(&t) || type_of.get(&f.subject_id) == Some(&t)
                })
            })
            .collect();
        let used: BTreeSet<Uuid> = facts
            .iter()
            .flat_map(|f| [f.subject_id, f.object_id])
            .collect();
        let entities = entities
            .into_iter()
            .filter(|e| used.contains(&e.id) || e.entity_type == "contact")
            .collect();
        Ok(GraphView { entities, facts })
    }
}

pub enum SpaceStatus {
    Active,
    NeedsReembed { model: String, dimensions: usize },
}

async fn upsert_entity(
    tx: &mut Transaction<'_, Postgres>,
    episode: &Episode,
    entity: &EntityRef,
    vector: Option<Vector>,
    model: &str,
) -> Result<Uuid, sqlx::Error> {
    // The contact's own node is keyed by role, not name: renaming the contact keeps one node.
    let normalized = if entity.entity_type == "contact" {
        "contact".to_owned()
    } else {
        entity.normalized()
    };
    sqlx::query_scalar(
        "INSERT INTO memory_entities (id, tenant_id, contact_id, name, normalized, entity_type, embedding, embedding_model)
         VALUES ($1, $2, $3, $4, $5, $6, $7::vector, CASE WHEN $7 IS NULL THEN NULL ELSE $8 END)
         ON CONFLICT (tenant_id, contact_id, entity_type, normalized) DO UPDATE
            SET name = CASE WHEN EXCLUDED.entity_type = 'contact' THEN EXCLUDED.name ELSE memory_entities.name END,
                embedding = coalesce(memory_entities.embedding, EXCLUDED.embedding),
                embedding_model = coalesce(memory_entities.embedding_model, EXCLUDED.embedding_model)
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(episode.tenant_id)
    .bind(episode.contact_id)
    .bind(&entity.name)
    .bind(normalized)
    .bind(&entity.entity_type)
    .bind(vector)
    .bind(model)
    .fetch_one(&mut **tx)
    .await
}

enum Applied {
    Added { invalidated: usize },
    Reinforced,
    Duplicate,
}

/// Adds one fact with Graphiti-style temporal resolution: a single-valued predicate's current
/// value, or the opposite statement about the same object, is invalidated at the new fact's
/// `valid_at` — unless the new fact is older than what we already know (messages can be ingested
/// out of order), in which case the new fact goes in already superseded.
#[allow(clippy::too_many_arguments)]
async fn apply_fact(
    tx: &mut Transaction<'_, Postgres>,
    episode: &Episode,
    episode_id: Uuid,
    ordinal: usize,
    subject: Uuid,
    object: Uuid,
    predicate: &str,
    text: &str,
    language: &str,
    vector: Option<&Vector>,
    model: &str,
) -> Result<Applied, sqlx::Error> {
    let key = format!("{episode_id}:{ordinal}");
    let seen: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM memory_facts WHERE tenant_id = $1 AND idempotency_key = $2",
    )
    .bind(episode.tenant_id)
    .bind(&key)
    .fetch_optional(&mut **tx)
    .await?;
    if seen.is_some() {
        return Ok(Applied::Duplicate);
    }
    let info = predicate_info(predicate);
    // Stating a current fact again adds provenance, not a duplicate.
    let same: Option<Uuid> = sqlx::query_scalar(
        "UPDATE memory_facts SET episode_ids = array_append(episode_ids, $4)
          WHERE subject_id = $1 AND predicate = $2 AND object_id = $3 AND invalid_at IS NULL AND NOT ($4 = ANY(episode_ids))
          RETURNING id",
    )
    .bind(subject)
    .bind(predicate)
    .bind(object)
    .bind(episode_id)
    .fetch_optional(&mut **tx)
    .await?;
    if same.is_some() {
        return Ok(Applied::Reinforced);
    }
    // Every statement that overlaps the new one in world time: the current value, and for a late
    // (out-of-order) statement also an older value whose validity we had extended past it.
    let at = episode.occurred_at;
    let conflicts: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, valid_at FROM memory_facts
          WHERE subject_id = $1 AND (invalid_at IS NULL OR invalid_at > $6)
            AND (($2 AND predicate = $3 AND object_id <> $4) OR (predicate = $5 AND object_id = $4))
          FOR UPDATE",
    )
    .bind(subject)
    .bind(info.cardinality == Cardinality::One)
    .bind(predicate)
    .bind(object)
    .bind(info.opposite.unwrap_or(""))
    .bind(at)
    .fetch_all(&mut **tx)
    .await?;
    // A newer statement already holds: this one was true only until that one.
    let superseded_by = conflicts
        .iter()
        .filter(|(_, valid_at)| *valid_at > at)
        .min_by_key(|(_, valid_at)| *valid_at)
        .copied();
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO memory_facts (id, tenant_id, contact_id, subject_id, predicate, object_id, fact, memory_type, language,
                                   embedding, embedding_model, valid_at, invalid_at, expired_at, invalidated_by, episode_ids, idempotency_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::regconfig, $10::vector, CASE WHEN $10 IS NULL THEN NULL ELSE $11 END,
                 $12, $13, CASE WHEN $13 IS NULL THEN NULL ELSE now() END, $14, ARRAY[$15]::uuid[], $16)",
    )
    .bind(id)
    .bind(episode.tenant_id)
    .bind(episode.contact_id)
    .bind(subject)
    .bind(predicate)
    .bind(object)
    .bind(text)
    .bind(info.memory_type)
    .bind(language)
    .bind(vector)
    .bind(model)
    .bind(at)
    .bind(superseded_by.map(|(_, t)| t))
    .bind(superseded_by.map(|(id, _)| id))
    .bind(episode_id)
    .bind(&key)
    .execute(&mut **tx)
    .await?;
    let older: Vec<Uuid> = conflicts
        .iter()
        .filter(|(_, valid_at)| *valid_at <= at)
        .map(|(id, _)| *id)
        .collect();
    if !older.is_empty() {
        sqlx::query(
            "UPDATE memory_facts SET invalid_at = $2, expired_at = coalesce(expired_at, now()), invalidated_by = $3 WHERE id = ANY($1)",
        )
        .bind(&older)
        .bind(at)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(Applied::Added {
        invalidated: older.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u128) -> Key {
        (HitKind::Memory, Uuid::from_u128(n))
    }

    #[test]
    fn fusion_rewards_agreement_and_normalises() {
        let vector = vec![(key(1), 0.9), (key(2), 0.8), (key(3), 0.7)];
        let keyword = vec![(key(2), 5.0), (key(4), 4.0)];
        let graph = vec![(key(2), 3.0)];
        let fused = fuse(&[(1.0, &vector), (1.0, &keyword), (1.0, &graph)]);
        assert_eq!(fused[0].0, key(2), "found by all three lists");
        assert!(fused.iter().all(|(_, s)| (0.0..=1.0).contains(s)));
        let alone = fuse(&[(1.0, &vector), (1.0, &[]), (1.0, &[])]);
        assert!(
            (alone[0].1 - 1.0).abs() < 1e-6,
            "first everywhere it could be = 1"
        );
        let weighted = fuse(&[(0.0, &vector), (1.0, &keyword), (0.0, &graph)]);
        assert_eq!(weighted[0].0, key(2));
        assert_eq!(
            weighted.iter().filter(|(_, s)| *s > 0.0).count(),
            2,
            "a zero weight silences a list"
        );
    }

    #[test]
    fn queries_link_relations() {
        let terms = query_terms("Where does Ana live now?");
        assert!(linked_predicates(&terms).contains(&"lives_in".to_owned()));
        assert_eq!(
            query_terms("a ' OR 1=1; --"),
            vec!["or".to_owned()],
            "only words reach tsquery"
        );
    }
}
