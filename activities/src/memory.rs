//! MemoryService: what the Python agents may know about a contact, served over gRPC by the worker.
//!
//! Agents never touch CRM tables; their tools call this service, which answers from PostgreSQL for
//! one tenant at a time: the contact's profile, recent messages and stats, and memories. Search is
//! PostgreSQL full text over stored memories and the contact's own messages for now; the hybrid
//! (vector + keyword + graph) search replaces it without changing the contract.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Row};
use tonic::{Request, Response, Status};
use uuid::Uuid;
use ventros_proto::v1::memory_service_server::MemoryService;
use ventros_proto::v1::{
    ContactContextRequest, ContactContextResponse, ContactProfile, ContactStats, Entity, Graph, Memory,
    MemorySearchMode, MemorySearchRequest, MemorySearchResponse, Message, Relation, RelatedEntitiesRequest,
    RelatedEntitiesResponse, StoreMemoryRequest, StoreMemoryResponse,
};

pub struct MemoryServer {
    pool: PgPool,
}

impl MemoryServer {
    pub fn new(pool: PgPool) -> Self {
        MemoryServer { pool }
    }
}

fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
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

impl MemoryServer {
    /// The contact must exist in the caller's tenant; another tenant's contact is NOT_FOUND.
    async fn contact(&self, tenant_id: Uuid, contact_id: Uuid) -> Result<sqlx::postgres::PgRow, Status> {
        sqlx::query("SELECT id, display_name, custom_attributes, tags, created_at FROM contacts WHERE id = $1 AND tenant_id = $2")
            .bind(contact_id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or_else(|| Status::not_found(format!("contact {contact_id} not found")))
    }

    async fn recent_memories(&self, tenant_id: Uuid, contact_id: Uuid, limit: i64) -> Result<Vec<Memory>, Status> {
        let rows = sqlx::query(
            "SELECT id, content, memory_type, metadata, created_at, valid_from, valid_until FROM memories
             WHERE tenant_id = $1 AND contact_id = $2 AND valid_until IS NULL ORDER BY created_at DESC LIMIT $3",
        )
        .bind(tenant_id)
        .bind(contact_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(|r| memory_from_row(r, 1.0)).collect()
    }
}

fn memory_from_row(r: &sqlx::postgres::PgRow, relevance: f32) -> Result<Memory, Status> {
    let metadata: Value = r.try_get("metadata").map_err(db)?;
    let metadata = metadata
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))).collect())
        .unwrap_or_default();
    Ok(Memory {
        id: r.try_get::<Uuid, _>("id").map_err(db)?.to_string(),
        content: r.try_get("content").map_err(db)?,
        memory_type: r.try_get("memory_type").map_err(db)?,
        relevance_score: relevance,
        created_at: Some(timestamp(r.try_get("created_at").map_err(db)?)),
        embedding: Vec::new(),
        metadata,
        valid_from: Some(timestamp(r.try_get("valid_from").map_err(db)?)),
        valid_until: r.try_get::<Option<DateTime<Utc>>, _>("valid_until").map_err(db)?.map(timestamp),
    })
}

#[tonic::async_trait]
impl MemoryService for MemoryServer {
    async fn search_memories(&self, request: Request<MemorySearchRequest>) -> Result<Response<MemorySearchResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let tenant_id = parse("tenant_id", &req.tenant_id)?;
        let contact_id = parse("contact_id", &req.contact_id)?;
        self.contact(tenant_id, contact_id).await?;
        let limit = clamp(req.limit, 10, 100);
        if req.mode == MemorySearchMode::GraphOnly as i32 {
            return Ok(Response::new(MemorySearchResponse { memories: vec![], search_latency_ms: 0.0, total_count: 0 }));
        }
        // Stored memories and the contact's own messages, ranked by full-text relevance to the
        // query (any word matches); with no match, the most recent memories.
        let rows = sqlx::query(
            "WITH q AS (SELECT to_tsquery('simple', coalesce(nullif(array_to_string(array(
                          SELECT quote_literal(w) || ':*' FROM regexp_split_to_table(lower($3), '[^[:alnum:]]+') AS w
                          WHERE length(w) > 2), ' | '), ''), 'x_no_terms_x')) AS query)
             SELECT id, content, memory_type, metadata, created_at, valid_from, valid_until, ts_rank(search, q.query) AS rank
               FROM memories, q
              WHERE tenant_id = $1 AND contact_id = $2 AND valid_until IS NULL
                AND (cardinality($5::text[]) = 0 OR memory_type = ANY($5))
                AND search @@ q.query
             UNION ALL
             SELECT id, body AS content, 'conversation' AS memory_type, '{}'::jsonb AS metadata, created_at,
                    created_at AS valid_from, NULL::timestamptz AS valid_until,
                    ts_rank(to_tsvector('simple', coalesce(body, '')), q.query) AS rank
               FROM messages, q
              WHERE tenant_id = $1 AND contact_id = $2 AND direction = 'inbound' AND body IS NOT NULL
                AND (cardinality($5::text[]) = 0 OR 'conversation' = ANY($5))
                AND to_tsvector('simple', body) @@ q.query
             ORDER BY rank DESC, created_at DESC LIMIT $4",
        )
        .bind(tenant_id)
        .bind(contact_id)
        .bind(&req.query)
        .bind(limit)
        .bind(&req.memory_types)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let max_rank = rows.iter().filter_map(|r| r.try_get::<f32, _>("rank").ok()).fold(0.0f32, f32::max).max(1e-6);
        let mut memories = rows
            .iter()
            .map(|r| memory_from_row(r, r.try_get::<f32, _>("rank").unwrap_or(0.0) / max_rank))
            .collect::<Result<Vec<_>, _>>()?;
        if memories.is_empty() {
            memories = self.recent_memories(tenant_id, contact_id, limit).await?;
            for m in &mut memories {
                m.relevance_score = 0.0;
            }
        }
        let total_count = memories.len() as i32;
        Ok(Response::new(MemorySearchResponse {
            memories,
            search_latency_ms: started.elapsed().as_secs_f32() * 1000.0,
            total_count,
        }))
    }

    async fn get_contact_context(&self, request: Request<ContactContextRequest>) -> Result<Response<ContactContextResponse>, Status> {
        let req = request.into_inner();
        let tenant_id = parse("tenant_id", &req.tenant_id)?;
        let contact_id = parse("contact_id", &req.contact_id)?;
        let contact = self.contact(tenant_id, contact_id).await?;
        let attributes: Value = contact.try_get("custom_attributes").map_err(db)?;
        let custom_attributes: HashMap<String, String> = attributes
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))).collect())
            .unwrap_or_default();
        let channels: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT c.kind FROM contact_identities i JOIN channels c ON c.id = i.channel_id WHERE i.contact_id = $1 AND i.tenant_id = $2",
        )
        .bind(contact_id)
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let limit = clamp(req.history_limit, 50, 200);
        let mut messages = sqlx::query(
            "SELECT id, direction, body, channel_id, intent, coalesce(provider_timestamp, created_at) AS at FROM messages
             WHERE tenant_id = $1 AND contact_id = $2 ORDER BY coalesce(provider_timestamp, created_at) DESC, created_at DESC LIMIT $3",
        )
        .bind(tenant_id)
        .bind(contact_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| -> Result<Message, Status> {
            Ok(Message {
                id: r.try_get::<Uuid, _>("id").map_err(db)?.to_string(),
                direction: r.try_get("direction").map_err(db)?,
                text: r.try_get::<Option<String>, _>("body").map_err(db)?.unwrap_or_default(),
                sent_at: Some(timestamp(r.try_get("at").map_err(db)?)),
                channel_id: r.try_get::<Uuid, _>("channel_id").map_err(db)?.to_string(),
                intent: r.try_get::<Option<String>, _>("intent").map_err(db)?.unwrap_or_default(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        let stats = sqlx::query(
            "SELECT count(*) AS total, count(*) FILTER (WHERE direction = 'inbound') AS inbound,
                    count(*) FILTER (WHERE direction = 'outbound') AS outbound,
                    min(created_at) AS first_seen, max(created_at) AS last_seen,
                    (SELECT count(*) FROM conversation_sessions WHERE tenant_id = $1 AND contact_id = $2) AS sessions,
                    (SELECT count(*) FROM deals WHERE tenant_id = $1 AND contact_id = $2 AND status = 'open') AS open_deals
             FROM messages WHERE tenant_id = $1 AND contact_id = $2",
        )
        .bind(tenant_id)
        .bind(contact_id)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let count = |name: &str| -> Result<i32, Status> { Ok(stats.try_get::<i64, _>(name).map_err(db)? as i32) };
        let knowledge_graph = if req.include_graph { Some(self.graph(tenant_id, contact_id).await?) } else { None };
        Ok(Response::new(ContactContextResponse {
            profile: Some(ContactProfile {
                contact_id: contact_id.to_string(),
                display_name: contact.try_get::<Option<String>, _>("display_name").map_err(db)?.unwrap_or_default(),
                custom_attributes,
                tags: contact.try_get("tags").map_err(db)?,
                channels,
                created_at: Some(timestamp(contact.try_get("created_at").map_err(db)?)),
            }),
            recent_memories: self.recent_memories(tenant_id, contact_id, 5).await?,
            recent_messages: messages,
            knowledge_graph,
            stats: Some(ContactStats {
                total_messages: count("total")?,
                inbound_messages: count("inbound")?,
                outbound_messages: count("outbound")?,
                sessions: count("sessions")?,
                first_seen: stats.try_get::<Option<DateTime<Utc>>, _>("first_seen").map_err(db)?.map(timestamp),
                last_seen: stats.try_get::<Option<DateTime<Utc>>, _>("last_seen").map_err(db)?.map(timestamp),
                open_deals: count("open_deals")?,
            }),
        }))
    }

    async fn store_memory(&self, request: Request<StoreMemoryRequest>) -> Result<Response<StoreMemoryResponse>, Status> {
        let req = request.into_inner();
        let tenant_id = parse("tenant_id", &req.tenant_id)?;
        let contact_id = parse("contact_id", &req.contact_id)?;
        let content = req.content.trim();
        if content.is_empty() || content.chars().count() > 4_000 {
            return Err(Status::invalid_argument("content must be 1 to 4000 characters"));
        }
        self.contact(tenant_id, contact_id).await?;
        let key = (!req.idempotency_key.is_empty()).then_some(req.idempotency_key.as_str());
        let memory_type = if req.memory_type.is_empty() { "fact" } else { req.memory_type.as_str() };
        let metadata = serde_json::to_value(&req.metadata).unwrap_or_default();
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO memories (id, tenant_id, contact_id, content, memory_type, metadata, idempotency_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id",
        )
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(contact_id)
        .bind(content)
        .bind(memory_type)
        .bind(metadata)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let (memory_id, created) = match inserted {
            Some(id) => (id, true),
            None => {
                let id: Uuid = sqlx::query_scalar("SELECT id FROM memories WHERE tenant_id = $1 AND idempotency_key = $2")
                    .bind(tenant_id)
                    .bind(key)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db)?;
                (id, false)
            }
        };
        Ok(Response::new(StoreMemoryResponse { memory_id: memory_id.to_string(), created }))
    }

    async fn get_related_entities(&self, request: Request<RelatedEntitiesRequest>) -> Result<Response<RelatedEntitiesResponse>, Status> {
        let req = request.into_inner();
        let tenant_id = parse("tenant_id", &req.tenant_id)?;
        let contact_id = parse("contact_id", &req.contact_id)?;
        self.contact(tenant_id, contact_id).await?;
        let mut graph = self.graph(tenant_id, contact_id).await?;
        if !req.entity_type.is_empty() {
            graph.entities.retain(|e| e.entity_type == req.entity_type);
            let kept: std::collections::BTreeSet<String> = graph.entities.iter().map(|e| e.id.clone()).collect();
            graph.relations.retain(|r| kept.contains(&r.target_id));
        }
        Ok(Response::new(RelatedEntitiesResponse { graph: Some(graph) }))
    }
}

impl MemoryServer {
    /// The contact's deals as entities (the temporal knowledge graph of the memory service extends it).
    async fn graph(&self, tenant_id: Uuid, contact_id: Uuid) -> Result<Graph, Status> {
        let rows = sqlx::query(
            "SELECT d.id, d.title, d.status, s.key AS stage, d.created_at FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id
             WHERE d.tenant_id = $1 AND d.contact_id = $2 ORDER BY d.created_at",
        )
        .bind(tenant_id)
        .bind(contact_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut graph = Graph::default();
        for r in rows {
            let id = r.try_get::<Uuid, _>("id").map_err(db)?.to_string();
            let created: DateTime<Utc> = r.try_get("created_at").map_err(db)?;
            graph.entities.push(Entity {
                id: id.clone(),
                name: r.try_get("title").map_err(db)?,
                entity_type: "deal".into(),
                attributes: HashMap::from([
                    ("status".to_owned(), r.try_get::<String, _>("status").map_err(db)?),
                    ("stage".to_owned(), r.try_get::<String, _>("stage").map_err(db)?),
                ]),
            });
            graph.relations.push(Relation {
                source_id: contact_id.to_string(),
                target_id: id,
                relation_type: "has_deal".into(),
                valid_from: Some(timestamp(created)),
                valid_until: None,
            });
        }
        Ok(graph)
    }
}
