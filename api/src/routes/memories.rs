//! A contact's memories and knowledge graph over REST, for the web UI and integrations.
//!
//! The worker owns the embedding model and serves MemoryService; the API calls it over gRPC (with
//! a deadline) instead of loading a second copy of the model, and adds only tenancy and HTTP.

use std::time::Duration;

use axum::Json;
use std::collections::HashMap;

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tonic::transport::{Channel, Endpoint};
use utoipa::ToSchema;
use ventros_proto::v1::memory_service_client::MemoryServiceClient;
use ventros_proto::v1::{Graph, MemorySearchMode, MemorySearchRequest, RelatedEntitiesRequest};

use ventros_activities::internal_auth::InternalAuth;

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiQuery};
use crate::ids::Id;
use crate::routes::contacts::Contact;

const DEADLINE: Duration = Duration::from_secs(5);

/// MemoryService over a lazily connected channel (the API starts while the worker is down). Each
/// call carries a token for the caller's tenant only.
#[derive(Clone)]
pub struct MemoryClient(Option<(MemoryServiceClient<Channel>, InternalAuth)>);

impl MemoryClient {
    /// `address` is `host:port` or a URL; None answers 503 on the memory routes.
    pub fn connect_lazy(
        address: Option<&str>,
        auth: InternalAuth,
    ) -> Result<Self, tonic::transport::Error> {
        let Some(address) = address else {
            return Ok(MemoryClient(None));
        };
        let url = if address.contains("://") {
            address.to_owned()
        } else {
            format!("http://{address}")
        };
        let endpoint = Endpoint::from_shared(url)?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true);
        Ok(MemoryClient(Some((
            MemoryServiceClient::new(endpoint.connect_lazy()),
            auth,
        ))))
    }

    /// A client, and `request` readied for `tenant_id` (deadline, credentials, and the request's
    /// trace, so the worker's MemoryService span joins it).
    fn client<T>(
        &self,
        request: &mut tonic::Request<T>,
        tenant_id: uuid::Uuid,
    ) -> Result<MemoryServiceClient<Channel>, ApiError> {
        let (client, auth) = self.0.clone().ok_or_else(|| {
            ApiError::Unavailable("no memory service is configured (MEMORY_ADDRESS)".into())
        })?;
        request.set_timeout(DEADLINE);
        auth.attach(
            request,
            Some(tenant_id),
            None,
            DEADLINE + Duration::from_secs(5),
        );
        ventros_activities::traces::inject_into_metadata(request.metadata_mut());
        Ok(client)
    }
}

impl MemoryClient {
    /// The tenant's knowledge passages for a question (the agents' `search_knowledge` tool).
    pub async fn search_knowledge(
        &self,
        tenant_id: uuid::Uuid,
        request: ventros_proto::v1::KnowledgeSearchRequest,
    ) -> Result<ventros_proto::v1::KnowledgeSearchResponse, ApiError> {
        let mut request = tonic::Request::new(request);
        let mut client = self.client(&mut request, tenant_id)?;
        Ok(client
            .search_knowledge(request)
            .await
            .map_err(status_error)?
            .into_inner())
    }
}

fn status_error(status: tonic::Status) -> ApiError {
    match status.code() {
        tonic::Code::InvalidArgument => ApiError::BadRequest(status.message().to_owned()),
        tonic::Code::NotFound => ApiError::NotFound(status.message().to_owned()),
        _ => {
            tracing::warn!(code = ?status.code(), "memory service call failed");
            ApiError::Unavailable("the memory service is not answering; retry shortly".into())
        }
    }
}

/// RFC 3339 with an explicit offset (`+00:00`), as these routes have always written it.
fn ts(t: &Option<prost_types::Timestamp>) -> Option<String> {
    t.as_ref()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|d| d.to_rfc3339())
}

/// A memory or a fact, as a search finds it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Memory {
    /// The memory's (or fact's) id.
    pub id: String,
    pub content: String,
    /// `purchase`, `preference`, `support_ticket`, `conversation`, `fact`, ...
    pub memory_type: String,
    /// 0 to 1, higher is more relevant.
    pub relevance_score: f32,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub created_at: Option<String>,
    /// When it became true in the world.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub valid_from: Option<String>,
    /// When it stopped being true (null: still true).
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub valid_until: Option<String>,
    /// `kind` (`memory` or `fact`), and for facts `subject`, `predicate`, `object`.
    pub metadata: HashMap<String, String>,
    /// Where it came from (`message:<id>`, `outbox:<id>`, ...).
    pub sources: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemorySearch {
    pub items: Vec<Memory>,
    /// Distinct candidates found before the limit.
    pub total_count: i32,
    pub search_latency_ms: f32,
}

/// A node of a contact's knowledge graph.
#[derive(Debug, Serialize, ToSchema)]
pub struct Entity {
    pub id: String,
    pub name: String,
    /// `contact`, `product`, `place`, `deal`, `stage`, `tag`, ...
    pub entity_type: String,
    /// What is currently true about it.
    pub summary: String,
}

/// An edge of the graph, bitemporal: true in the world from `valid_at` to `invalid_at`, known
/// to us from `created_at` until `expired_at`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Fact {
    pub id: String,
    pub subject_id: String,
    pub predicate: String,
    pub object_id: String,
    /// The fact as a sentence.
    pub fact: String,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub valid_at: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub invalid_at: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub created_at: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub expired_at: Option<String>,
    pub sources: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KnowledgeGraph {
    pub entities: Vec<Entity>,
    pub facts: Vec<Fact>,
}

fn timestamp(d: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: d.timestamp(),
        nanos: d.timestamp_subsec_nanos() as i32,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The search text (required).
    q: Option<String>,
    /// `hybrid` (default), `vector`, `keyword` or `graph`.
    #[param(schema_with = mode_words)]
    mode: Option<String>,
    /// 1 to 100, default 10.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i32>,
    /// Comma-separated memory types.
    types: Option<String>,
    /// What was known then (RFC 3339).
    as_of: Option<DateTime<Utc>>,
}

fn mode_words() -> utoipa::openapi::schema::Object {
    crate::routes::one_of_words(&["hybrid", "vector", "keyword", "graph"])
}

/// Searches a contact's memories (hybrid, vector, keyword or graph).
#[utoipa::path(get, path = "/api/v1/contacts/{id}/memories", tag = "memories", params(("id" = Uuid, Path), SearchParams),
    responses((status = 200, description = "Memories, most relevant first", body = MemorySearch), (status = 400, description = "Bad parameters"),
              (status = 404, description = "No such contact"), (status = 503, description = "The memory service is not answering")))]
pub async fn search(
    State(state): State<AppState>,
    tenant: Principal,
    id: Id<Contact>,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<MemorySearch>, ApiError> {
    let contact_id = id.get();
    let query = params.q.unwrap_or_default();
    if query.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "q (the search text) is required".into(),
        ));
    }
    let mode = match params
        .mode
        .as_deref()
        .unwrap_or("hybrid")
        .to_ascii_lowercase()
        .as_str()
    {
        "hybrid" => MemorySearchMode::Hybrid,
        "vector" | "vector_only" => MemorySearchMode::VectorOnly,
        "keyword" | "keyword_only" => MemorySearchMode::KeywordOnly,
        "graph" | "graph_only" => MemorySearchMode::GraphOnly,
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown mode {other:?}: hybrid, vector, keyword or graph"
            )));
        }
    };
    let limit = params.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 100".into(),
        ));
    }
    let memory_types = params
        .types
        .map(|t| {
            t.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut request = tonic::Request::new(MemorySearchRequest {
        contact_id: contact_id.to_string(),
        query,
        limit,
        memory_types,
        mode: mode as i32,
        tenant_id: tenant.tenant_id.to_string(),
        as_of: params.as_of.map(timestamp),
        ..Default::default()
    });
    let response = state
        .memory
        .client(&mut request, tenant.tenant_id)?
        .search_memories(request)
        .await
        .map_err(status_error)?
        .into_inner();
    let items = response
        .memories
        .into_iter()
        .map(|m| Memory {
            created_at: ts(&m.created_at),
            valid_from: ts(&m.valid_from),
            valid_until: ts(&m.valid_until),
            id: m.id,
            content: m.content,
            memory_type: m.memory_type,
            relevance_score: m.relevance_score,
            metadata: m.metadata,
            sources: m.sources,
        })
        .collect();
    Ok(Json(MemorySearch {
        items,
        total_count: response.total_count,
        search_latency_ms: response.search_latency_ms,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GraphParams {
    /// The graph as it was then (RFC 3339).
    as_of: Option<DateTime<Utc>>,
    /// Include invalidated facts.
    #[serde(default)]
    history: bool,
    /// 1 to 5, default 2.
    #[param(minimum = 1, maximum = 5)]
    depth: Option<i32>,
    /// Only facts touching entities of this type (`product`, `place`, `deal`, ...).
    entity_type: Option<String>,
}

/// A contact's knowledge graph: entities and bitemporal facts.
#[utoipa::path(get, path = "/api/v1/contacts/{id}/graph", tag = "memories", params(("id" = Uuid, Path), GraphParams),
    responses((status = 200, description = "Entities and facts", body = KnowledgeGraph), (status = 400, description = "Bad parameters"),
              (status = 404, description = "No such contact"), (status = 503, description = "The memory service is not answering")))]
pub async fn graph(
    State(state): State<AppState>,
    tenant: Principal,
    id: Id<Contact>,
    ApiQuery(params): ApiQuery<GraphParams>,
) -> Result<Json<KnowledgeGraph>, ApiError> {
    let contact_id = id.get();
    let depth = params.depth.unwrap_or(2);
    if !(1..=5).contains(&depth) {
        return Err(ApiError::BadRequest("depth must be between 1 and 5".into()));
    }
    let mut request = tonic::Request::new(RelatedEntitiesRequest {
        contact_id: contact_id.to_string(),
        entity_type: params.entity_type.unwrap_or_default(),
        depth,
        tenant_id: tenant.tenant_id.to_string(),
        as_of: params.as_of.map(timestamp),
        include_history: params.history,
    });
    let graph: Graph = state
        .memory
        .client(&mut request, tenant.tenant_id)?
        .get_related_entities(request)
        .await
        .map_err(status_error)?
        .into_inner()
        .graph
        .unwrap_or_default();
    let entities = graph
        .entities
        .into_iter()
        .map(|e| Entity {
            id: e.id,
            name: e.name,
            entity_type: e.entity_type,
            summary: e.summary,
        })
        .collect();
    let facts = graph
        .relations
        .into_iter()
        .map(|r| Fact {
            valid_at: ts(&r.valid_from),
            invalid_at: ts(&r.valid_until),
            created_at: ts(&r.created_at),
            expired_at: ts(&r.expired_at),
            id: r.id,
            subject_id: r.source_id,
            predicate: r.relation_type,
            object_id: r.target_id,
            fact: r.fact,
            sources: r.sources,
        })
        .collect();
    Ok(Json(KnowledgeGraph { entities, facts }))
}
