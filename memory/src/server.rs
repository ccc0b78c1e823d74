//! MemoryService over gRPC: what the Python agents may know about a contact.
//!
//! Agents never touch CRM tables; their tools call this service, which answers for one tenant at a
//! time through the [`MemoryEngine`]: hybrid search, the contact's profile, recent messages and
//! stats, the knowledge graph, and memories the agents store. Every call must carry internal
//! credentials ([`internal_auth`]) naming the tenant, and the contact when the caller is an agent
//! working on one conversation: the tenant in the request is checked against them, never trusted.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;
use ventros_proto::v1::memory_service_server::MemoryService;
use ventros_proto::v1::{
    ContactContextRequest, ContactContextResponse, ContactProfile, ContactStats, Entity, Graph,
    KnowledgePassage, KnowledgeSearchRequest, KnowledgeSearchResponse, Memory, MemorySearchMode,
    MemorySearchRequest, MemorySearchResponse, Message, RelatedEntitiesRequest,
    RelatedEntitiesResponse, Relation, StoreMemoryRequest, StoreMemoryResponse,
};

use ventros_activities::internal_auth;

use crate::engine::{GraphView, Hit, MemoryEngine, MemoryError, Mode, SearchQuery, Weights};

pub struct MemoryServer {
    pool: PgPool,
    engine: Arc<MemoryEngine>,
}

impl MemoryServer {
    pub fn new(engine: Arc<MemoryEngine>) -> Self {
        MemoryServer {
            pool: engine.pool().clone(),
            engine,
        }
    }
}

fn engine_error(err: MemoryError) -> Status {
    match err {
        MemoryError::Invalid(reason) => Status::invalid_argument(reason),
        MemoryError::NotFound(reason) => Status::not_found(reason),
        MemoryError::Database(e) => db(e),
        MemoryError::Embedding(e) => {
            tracing::warn!(error = %e, "embedding failed");
            Status::unavailable("the embedding model is not answering; retry")
        }
        MemoryError::Extraction(e) => {
            tracing::warn!(error = %e, "fact extraction failed");
            Status::unavailable("fact extraction is not answering; retry")
        }
    }
}

fn from_timestamp(t: &prost_types::Timestamp) -> Result<DateTime<Utc>, Status> {
    DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
        .ok_or_else(|| Status::invalid_argument("as_of is out of range"))
}

fn string_map(value: &serde_json::Map<String, Value>) -> HashMap<String, String> {
    value
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect()
}

fn memory_from_hit(hit: Hit) -> Memory {
    Memory {
        id: hit.id.to_string(),
        content: hit.content,
        memory_type: hit.memory_type,
        relevance_score: hit.score,
        created_at: Some(timestamp(hit.created_at)),
        embedding: hit.embedding,
        metadata: string_map(&hit.metadata),
        valid_from: Some(timestamp(hit.valid_from)),
        valid_until: hit.valid_until.map(timestamp),
        sources: hit.sources,
    }
}

/// The wire form of a contact's graph.
pub fn graph_message(view: GraphView) -> Graph {
    Graph {
        entities: view
            .entities
            .into_iter()
            .map(|e| Entity {
                id: e.id.to_string(),
                name: e.name,
                entity_type: e.entity_type,
                attributes: HashMap::new(),
                summary: e.summary,
            })
            .collect(),
        relations: view
            .facts
            .into_iter()
            .map(|f| Relation {
                source_id: f.subject_id.to_string(),
                target_id: f.object_id.to_string(),
                relation_type: f.predicate,
                valid_from: Some(timestamp(f.valid_at)),
                valid_until: f.invalid_at.map(timestamp),
                id: f.id.to_string(),
                fact: f.fact,
                created_at: Some(timestamp(f.created_at)),
                expired_at: f.expired_at.map(timestamp),
                sources: f.sources,
            })
            .collect(),
    }
}

fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

fn parse(field: &str, value: &str) -> Result<Uuid, Status> {
    if value.is_empty() {
        return Err(Status::invalid_argument(format!("{field} is required")));
    }
    Uuid::parse_str(value).map_err(|_| Status::invalid_argument(format!("{field} must be a UUID")))
}

fn db(err: sqlx::Error) -> Status {
    tracing::warn!(error = %err, "memory service query failed");
    Status::unavailable("the database is not answering; retry")
}

fn clamp(value: i32, default: i32, max: i32) -> i64 {
    i64::from(if value <= 0 { default } else { value.min(max) })
}

/// The contact a context is built for.
struct ContactRow {
    display_name: Option<String>,
    custom_attributes: Value,
    tags: Vec<String>,
    created_at: DateTime<Utc>,
}

/// A memory as the recent-memories list reads it.
struct MemoryRow {
    id: Uuid,
    content: String,
    memory_type: String,
    metadata: Value,
    created_at: DateTime<Utc>,
    valid_from: DateTime<Utc>,
    valid_until: Option<DateTime<Utc>>,
}

/// A JSON object's entries as a proto map (anything but an object is empty).
fn object_map(value: &Value) -> HashMap<String, String> {
    value.as_object().map(string_map).unwrap_or_default()
}

impl MemoryServer {
    /// The contact must exist in the caller's tenant; another tenant's contact is NOT_FOUND.
    async fn contact(&self, tenant_id: Uuid, contact_id: Uuid) -> Result<ContactRow, Status> {
        sqlx::query_as!(
            ContactRow,
            "SELECT display_name, custom_attributes, tags, created_at FROM contacts WHERE id = $1 AND tenant_id = $2",
            contact_id,
            tenant_id
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .ok_or_else(|| Status::not_found(format!("contact {contact_id} not found")))
    }

    async fn recent_memories(
        &self,
        tenant_id: Uuid,
        contact_id: Uuid,
        limit: i64,
        without_notes: bool,
    ) -> Result<Vec<Memory>, Status> {
        let rows = sqlx::query_as!(
            MemoryRow,
            "SELECT id, content, memory_type, metadata, created_at, valid_from, valid_until FROM memories
             WHERE tenant_id = $1 AND contact_id = $2 AND valid_until IS NULL AND NOT ($4 AND memory_type = $5)
             ORDER BY created_at DESC LIMIT $3",
            tenant_id,
            contact_id,
            limit,
            without_notes,
            OPERATOR_NOTE,
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(recent_memory).collect())
    }
}

/// The memory type of an operator's private note (see ingest/episodes.rs).
const OPERATOR_NOTE: &str = "operator_note";

/// A token bound to one contact is an agent answering that contact's conversation. It never sees
/// the team's private notes, so that no reply can quote one to the customer; the API's
/// tenant-wide tokens (operators searching a contact's memory) do.
fn for_an_agent(claims: &internal_auth::Claims) -> bool {
    claims.contact_id.is_some()
}

fn recent_memory(r: MemoryRow) -> Memory {
    Memory {
        id: r.id.to_string(),
        content: r.content,
        memory_type: r.memory_type,
        relevance_score: 1.0,
        created_at: Some(timestamp(r.created_at)),
        embedding: Vec::new(),
        metadata: object_map(&r.metadata),
        valid_from: Some(timestamp(r.valid_from)),
        valid_until: r.valid_until.map(timestamp),
        sources: Vec::new(),
    }
}

#[tonic::async_trait]
impl MemoryService for MemoryServer {
    async fn search_memories(
        &self,
        request: Request<MemorySearchRequest>,
    ) -> Result<Response<MemorySearchResponse>, Status> {
        let claims = internal_auth::claims(&request)?;
        let req = request.into_inner();
        let tenant_id = parse("tenant_id", &req.tenant_id)?;
        let contact_id = if req.contact_id.is_empty() {
            None
        } else {
            Some(parse("contact_id", &req.contact_id)?)
        };
        claims.allow(tenant_id, contact_id)?;
        let mode = match MemorySearchMode::try_from(req.mode) {
            Ok(MemorySearchMode::Unspecified | MemorySearchMode::Hybrid) => Mode::Hybrid,
            Ok(MemorySearchMode::VectorOnly) => Mode::Vector,
            Ok(MemorySearchMode::KeywordOnly) => Mode::Keyword,
            Ok(MemorySearchMode::GraphOnly) => Mode::Graph,
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "unknown search mode {}",
                    req.mode
                )));
            }
        };
        if req.limit < 0 {
            return Err(Status::invalid_argument("limit must not be negative"));
        }
        let weights = req
            .weights
            .map_or(self.engine.default_weights(), |w| Weights {
                vector: w.vector,
                keyword: w.keyword,
                graph: w.graph,
            });
        let query = SearchQuery {
            tenant_id,
            contact_id,
            query: req.query,
            mode,
            limit: if req.limit == 0 {
                10
            } else {
                req.limit as usize
            },
            memory_types: req.memory_types,
            as_of: req.as_of.as_ref().map(from_timestamp).transpose()?,
            weights,
            include_embeddings: req.include_embeddings,
        };
        let mut outcome = self.engine.search(&query).await.map_err(engine_error)?;
        if for_an_agent(&claims) {
            outcome.hits.retain(|hit| hit.memory_type != OPERATOR_NOTE);
        }
        Ok(Response::new(MemorySearchResponse {
            memories: outcome.hits.into_iter().map(memory_from_hit).collect(),
            search_latency_ms: outcome.latency_ms,
            total_count: outcome.total_count as i32,
        }))
    }

    async fn get_contact_context(
        &self,
        request: Request<ContactContextRequest>,
    ) -> Result<Response<ContactContextResponse>, Status> {
        let claims = internal_auth::claims(&request)?;
        let req = request.into_inner();
        let tenant_id = parse("tenant_id", &req.tenant_id)?;
        let contact_id = parse("contact_id", &req.contact_id)?;
        claims.allow(tenant_id, Some(contact_id))?;
        let contact = self.contact(tenant_id, contact_id).await?;
        let custom_attributes = object_map(&contact.custom_attributes);
        let channels: Vec<String> = sqlx::query_scalar!(
            "SELECT DISTINCT c.kind FROM contact_identities i JOIN channels c ON c.id = i.channel_id WHERE i.contact_id = $1 AND i.tenant_id = $2",
            contact_id,
            tenant_id
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let limit = clamp(req.history_limit, 50, 200);
        let mut messages: Vec<Message> = sqlx::query!(
            r#"SELECT id, direction, body, channel_id, intent, coalesce(provider_timestamp, created_at) AS "at!" FROM messages
             WHERE tenant_id = $1 AND contact_id = $2 ORDER BY coalesce(provider_timestamp, created_at) DESC, created_at DESC LIMIT $3"#,
            tenant_id,
            contact_id,
            limit
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .into_iter()
        .map(|r| Message {
            id: r.id.to_string(),
            direction: r.direction,
            text: r.body.unwrap_or_default(),
            sent_at: Some(timestamp(r.at)),
            channel_id: r.channel_id.to_string(),
            intent: r.intent.unwrap_or_default(),
        })
        .collect();
        messages.reverse();
        let stats = sqlx::query!(
            r#"SELECT count(*) AS "total!", count(*) FILTER (WHERE direction = 'inbound') AS "inbound!",
                    count(*) FILTER (WHERE direction = 'outbound') AS "outbound!",
                    min(created_at) AS first_seen, max(created_at) AS last_seen,
                    (SELECT count(*) FROM conversation_sessions WHERE tenant_id = $1 AND contact_id = $2) AS "sessions!",
                    (SELECT count(*) FROM deals WHERE tenant_id = $1 AND contact_id = $2 AND status = 'open') AS "open_deals!"
             FROM messages WHERE tenant_id = $1 AND contact_id = $2"#,
            tenant_id,
            contact_id
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let count = |n: i64| n as i32;
        let knowledge_graph = if req.include_graph {
            Some(graph_message(
                self.engine
                    .graph(tenant_id, contact_id, None, false, 2, None)
                    .await
                    .map_err(engine_error)?,
            ))
        } else {
            None
        };
        Ok(Response::new(ContactContextResponse {
            profile: Some(ContactProfile {
                contact_id: contact_id.to_string(),
                display_name: contact.display_name.unwrap_or_default(),
                custom_attributes,
                tags: contact.tags,
                channels,
                created_at: Some(timestamp(contact.created_at)),
            }),
            recent_memories: self
                .recent_memories(tenant_id, contact_id, 5, for_an_agent(&claims))
                .await?,
            recent_messages: messages,
            knowledge_graph,
            stats: Some(ContactStats {
                total_messages: count(stats.total),
                inbound_messages: count(stats.inbound),
                outbound_messages: count(stats.outbound),
                sessions: count(stats.sessions),
                first_seen: stats.first_seen.map(timestamp),
                last_seen: stats.last_seen.map(timestamp),
                open_deals: count(stats.open_deals),
            }),
        }))
    }

    async fn store_memory(
        &self,
        request: Request<StoreMemoryRequest>,
    ) -> Result<Response<StoreMemoryResponse>, Status> {
        let claims = internal_auth::claims(&request)?;
        let req = request.into_inner();
        let tenant_id = parse("tenant_id", &req.tenant_id)?;
        let contact_id = parse("contact_id", &req.contact_id)?;
        claims.allow(tenant_id, Some(contact_id))?;
        let content = req.content.trim();
        if content.is_empty() || content.chars().count() > 4_000 {
            return Err(Status::invalid_argument(
                "content must be 1 to 4000 characters",
            ));
        }
        if req.memory_type.len() > 64 || req.idempotency_key.len() > 200 {
            return Err(Status::invalid_argument(
                "memory_type or idempotency_key is too long",
            ));
        }
        let key = (!req.idempotency_key.is_empty()).then_some(req.idempotency_key.as_str());
        let memory_type = if req.memory_type.is_empty() {
            "fact"
        } else {
            req.memory_type.as_str()
        };
        let metadata = serde_json::to_value(&req.metadata).unwrap_or_default();
        let (memory_id, created) = self
            .engine
            .store_memory(tenant_id, contact_id, content, memory_type, metadata, key)
            .await
            .map_err(engine_error)?;
        Ok(Response::new(StoreMemoryResponse {
            memory_id: memory_id.to_string(),
            created,
        }))
    }

    async fn get_related_entities(
        &self,
        request: Request<RelatedEntitiesRequest>,
    ) -> Result<Response<RelatedEntitiesResponse>, Status> {
        let claims = internal_auth::claims(&request)?;
        let req = request.into_inner();
        let tenant_id = parse("tenant_id", &req.tenant_id)?;
        let contact_id = parse("contact_id", &req.contact_id)?;
        claims.allow(tenant_id, Some(contact_id))?;
        if !(0..=5).contains(&req.depth) {
            return Err(Status::invalid_argument("depth must be between 1 and 5"));
        }
        let as_of = req.as_of.as_ref().map(from_timestamp).transpose()?;
        let entity_type = (!req.entity_type.is_empty()).then_some(req.entity_type.as_str());
        let view = self
            .engine
            .graph(
                tenant_id,
                contact_id,
                as_of,
                req.include_history,
                req.depth.max(1) as u32,
                entity_type,
            )
            .await
            .map_err(engine_error)?;
        Ok(Response::new(RelatedEntitiesResponse {
            graph: Some(graph_message(view)),
        }))
    }
    async fn search_knowledge(
        &self,
        request: Request<KnowledgeSearchRequest>,
    ) -> Result<Response<KnowledgeSearchResponse>, Status> {
        let claims = internal_auth::claims(&request)?;
        let req = request.into_inner();
        let tenant_id = parse("tenant_id", &req.tenant_id)?;
        claims.allow_business(tenant_id)?;
        if req.limit < 0 {
            return Err(Status::invalid_argument("limit must not be negative"));
        }
        let hits = self
            .engine
            .search_knowledge(tenant_id, &req.query, clamp(req.limit, 5, 20) as usize)
            .await
            .map_err(engine_error)?;
        Ok(Response::new(KnowledgeSearchResponse {
            passages: hits
                .into_iter()
                .map(|h| KnowledgePassage {
                    id: h.passage_id.to_string(),
                    document_id: h.document_id.to_string(),
                    document_title: h.document_title,
                    heading: h.heading.unwrap_or_default(),
                    content: h.content,
                    fields: string_map(&h.fields),
                    score: h.score,
                    similarity: h.similarity,
                    keyword_match: h.keyword_match,
                    keyword_coverage: h.coverage,
                })
                .collect(),
        }))
    }
}
