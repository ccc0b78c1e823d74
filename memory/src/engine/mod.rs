//! The memory engine: storing episodes, memories and bitemporal facts, and searching them four
//! ways (vector, keyword, graph, and a reciprocal-rank fusion of the three) inside PostgreSQL.
//!
//! Both the gRPC MemoryService (for the Python agents) and the ingestion activities call this
//! in-process. Every query carries the tenant; a contact-scoped search scans that contact's rows
//! exactly (a few hundred rows: faster and more accurate than an approximate index), a tenant-wide
//! vector search too while the tenant is small and through the tenant's own HNSW index once it is
//! large ([`tenant_index`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::PgPool;
use uuid::Uuid;

use ventros_proto::v1::AgentExecutionRequest;

use pgvector::Vector;

use crate::embed::{EmbedError, SharedEmbedder};
use crate::extract;
use ventros_activities::agents::AgentApi;

mod graph;
mod lists;
mod query;
mod rerank;
mod when;
pub(crate) use query::query_terms;
mod search;
mod space;
mod tenant_index;
mod write;

pub use rerank::{FEATURES, Features, LISTS};
pub use space::SpaceStatus;
pub use tenant_index::{DEFAULT_TENANT_INDEX_MIN_ROWS, TenantIndexPass, tenant_index_name};
pub use write::embedding_text;

/// Upper bound on results per search; asking for more is an error, not a silent clamp.
pub const MAX_LIMIT: usize = 100;
/// Longest query accepted (characters).
pub const MAX_QUERY_CHARS: usize = 2_000;

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

/// What writing memory needs to know about the contact.
pub(crate) struct ContactInfo {
    pub(crate) name: String,
    pub(crate) language: Option<String>,
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
    tenant_index_min_rows: i64,
    /// Vectors of recent search queries: a campaign's personalisation asks the same objective for
    /// every recipient and agents repeat their questions; a hit saves a forward pass (7–11 ms of a
    /// core at 384 dimensions).
    /// None: every query embedded (the latency benchmark, whose queries repeat).
    query_vectors: Option<std::sync::Mutex<lru::LruCache<String, Vector>>>,
}

/// Distinct queries whose vectors are kept (~1.6 KB each at 384 dimensions).
const QUERY_VECTORS: std::num::NonZeroUsize = std::num::NonZeroUsize::new(2_048).unwrap();

impl MemoryEngine {
    pub fn new(pool: PgPool, embedder: SharedEmbedder) -> Self {
        MemoryEngine {
            pool,
            embedder,
            default_weights: Weights::default(),
            extractor: FactExtractor::Rules,
            tenant_index_min_rows: DEFAULT_TENANT_INDEX_MIN_ROWS,
            query_vectors: Some(std::sync::Mutex::new(lru::LruCache::new(QUERY_VECTORS))),
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

    async fn embed_question(&self, query: &str) -> Result<Vector, MemoryError> {
        let mut vectors = self.embedder.embed_query(&[query.to_owned()]).await?;
        Ok(Vector::from(vectors.swap_remove(0)))
    }

    /// Every search query embedded anew (for measuring the embedding's share of a search).
    pub fn without_query_cache(mut self) -> Self {
        self.query_vectors = None;
        self
    }

    /// A search query's vector, from the cache of recent ones when it is there.
    async fn query_vector(&self, query: &str) -> Result<Vector, MemoryError> {
        let Some(cache) = &self.query_vectors else {
            return self.embed_question(query).await;
        };
        let cached = cache
            .lock()
            .expect("query vector cache")
            .get(query)
            .cloned();
        if let Some(vector) = cached {
            return Ok(vector);
        }
        let vector = self.embed_question(query).await?;
        cache
            .lock()
            .expect("query vector cache")
            .put(query.to_owned(), vector.clone());
        Ok(vector)
    }

    /// The contact must exist in the tenant; another tenant's contact is "not found".
    pub async fn contact_name(
        &self,
        tenant_id: Uuid,
        contact_id: Uuid,
    ) -> Result<String, MemoryError> {
        Ok(self.contact(tenant_id, contact_id).await?.name)
    }

    /// The contact's name (for facts about them) and the language they write in, as the agent
    /// service detected it (`pt`, `en`, `es`; None until it has).
    pub(crate) async fn contact(
        &self,
        tenant_id: Uuid,
        contact_id: Uuid,
    ) -> Result<ContactInfo, MemoryError> {
        let row = sqlx::query!(
            "SELECT display_name, language FROM contacts WHERE id = $1 AND tenant_id = $2",
            contact_id,
            tenant_id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| MemoryError::NotFound(format!("contact {contact_id} not found")))?;
        Ok(ContactInfo {
            name: row
                .display_name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| "The customer".to_owned()),
            language: row.language,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Embedding spaces
    // -----------------------------------------------------------------------------------------
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::embed::{EmbedError, Embedder};

    /// Counts the texts it embeds.
    struct Counting(AtomicUsize);

    #[async_trait::async_trait]
    impl Embedder for Counting {
        fn model(&self) -> &str {
            "counting"
        }
        fn dimensions(&self) -> usize {
            2
        }
        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
            self.0.fetch_add(texts.len(), Ordering::SeqCst);
            Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
        }
    }

    #[tokio::test]
    async fn a_repeated_query_is_embedded_once() {
        let embedder = Arc::new(Counting(AtomicUsize::new(0)));
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://unused@127.0.0.1:1/unused")
            .unwrap();
        let engine = MemoryEngine::new(pool, embedder.clone());
        let first = engine.query_vector("quando chega meu sofá?").await.unwrap();
        let again = engine.query_vector("quando chega meu sofá?").await.unwrap();
        assert_eq!(first, again);
        assert_eq!(embedder.0.load(Ordering::SeqCst), 1);
        engine.query_vector("another question").await.unwrap();
        assert_eq!(embedder.0.load(Ordering::SeqCst), 2);
        let uncached =
            MemoryEngine::new(engine.pool.clone(), embedder.clone()).without_query_cache();
        uncached.query_vector("another question").await.unwrap();
        uncached.query_vector("another question").await.unwrap();
        assert_eq!(embedder.0.load(Ordering::SeqCst), 4);
    }
}
