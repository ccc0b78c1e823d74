//! `GET /api/v1/agents`: the agents the Python service offers, with their measured latency.
//! Cached for a short while so a busy UI does not turn into gRPC traffic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use std::collections::HashMap;

use serde::Serialize;
use tokio::sync::Mutex;
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_activities::agents::AgentApi;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::routes::conversations::KnowledgeSource;

const TTL: Duration = Duration::from_secs(30);

/// One agent the agent service offers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Agent {
    /// What to pass as `agent_type` (for example `RouterAgent`).
    #[serde(rename = "type")]
    pub agent_type: String,
    pub name: String,
    pub description: String,
    pub capabilities: Vec<String>,
    /// Mean latency of its recent executions, in milliseconds.
    pub avg_latency_ms: i32,
    pub executions: i64,
    /// How it works (for example `router`, `llm`, `rules`).
    pub pattern: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Agents {
    pub items: Vec<Agent>,
}

/// An action the agent suggests; nothing is done until an operator or a workflow acts on it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SuggestedAction {
    /// The action, named as agent runs store it (for example `handoff`, `create_lead`).
    #[serde(rename = "type")]
    pub action_type: String,
    pub params: HashMap<String, String>,
    pub reason: String,
}

/// A draft reply, never stored or sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Draft {
    pub contact_id: Uuid,
    pub agent_type: String,
    pub intent: String,
    pub confidence: f32,
    pub draft: String,
    pub suggested_actions: Vec<SuggestedAction>,
    /// The language the draft is written in (`pt`, `en`, `es`), as the agent read the customer.
    #[schema(required = true)]
    pub language: Option<String>,
    /// The knowledge-base passages the draft quotes (empty when it quotes none).
    pub knowledge_sources: Vec<KnowledgeSource>,
    /// Always false: a draft is for review.
    pub sent: bool,
}

#[derive(Clone)]
pub struct AgentDirectory {
    client: Option<Arc<dyn AgentApi>>,
    cache: Arc<Mutex<Option<(Instant, Agents)>>>,
}

impl AgentDirectory {
    pub fn new(client: Option<Arc<dyn AgentApi>>) -> Self {
        AgentDirectory {
            client,
            cache: Arc::default(),
        }
    }

    /// The agent service client, when one is configured (campaign previews call it directly).
    pub fn client(&self) -> Option<Arc<dyn AgentApi>> {
        self.client.clone()
    }

    pub async fn agents(&self) -> Result<Agents, ApiError> {
        let mut cache = self.cache.lock().await;
        if let Some((at, value)) = cache.as_ref()
            && at.elapsed() < TTL
        {
            return Ok(value.clone());
        }
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| ApiError::Unavailable("no agent service is configured".into()))?;
        let agents = client.list(Duration::from_secs(3)).await.map_err(|err| {
            tracing::warn!(error = %err, "listing agents failed");
            ApiError::Unavailable("the agent service is not answering; retry shortly".into())
        })?;
        let items = agents
            .into_iter()
            .map(|a| Agent {
                agent_type: a.r#type,
                name: a.name,
                description: a.description,
                capabilities: a.capabilities,
                avg_latency_ms: a.avg_latency_ms,
                executions: a.executions,
                pattern: a.pattern,
            })
            .collect();
        let value = Agents { items };
        *cache = Some((Instant::now(), value.clone()));
        Ok(value)
    }
}

/// The agents the agent service offers, with their measured latency.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents",
    responses((status = 200, description = "Agents", body = Agents), (status = 503, description = "The agent service is not configured or not answering")))]
pub async fn list(
    State(state): State<AppState>,
    _principal: Principal,
) -> Result<Json<Agents>, ApiError> {
    state.agents.agents().await.map(Json)
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftRequest {
    /// The contact to answer.
    pub contact_id: uuid::Uuid,
    /// Which agent writes (default `RouterAgent`, which picks the specialist).
    #[serde(default)]
    pub agent_type: Option<String>,
    /// The customer message to answer (default: the contact's latest inbound message).
    #[serde(default)]
    pub message: Option<String>,
}

/// Asks an agent for a draft reply to a contact, with the contact's memory, without storing or
/// sending anything: for an operator (or an LLM client) to review first.
#[utoipa::path(post, path = "/api/v1/agents/draft", tag = "agents", request_body = DraftRequest,
    responses((status = 200, description = "The draft, its intent, confidence and suggested actions", body = Draft),
              (status = 404, description = "No such contact"), (status = 422, description = "Nothing to answer, or the agent refused"),
              (status = 503, description = "The agent service is not configured or not answering")))]
pub async fn draft(
    State(state): State<AppState>,
    principal: Principal,
    crate::error::ApiJson(req): crate::error::ApiJson<DraftRequest>,
) -> Result<Json<Draft>, ApiError> {
    let agent_type = req.agent_type.unwrap_or_else(|| "RouterAgent".into());
    if agent_type.is_empty()
        || agent_type.len() > 100
        || !agent_type.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(ApiError::Unprocessable(
            "agent_type must be an agent type such as RouterAgent".into(),
        ));
    }
    let mut tx = crate::db::tenant_tx(&state.pool, principal.tenant_id).await?;
    let name = sqlx::query_scalar!(
        "SELECT display_name FROM contacts WHERE id = $1 AND merged_into IS NULL",
        req.contact_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("contact {} not found", req.contact_id)))?;
    let latest: Option<(String, uuid::Uuid, uuid::Uuid)> = sqlx::query!(
        r#"SELECT body AS "body!", channel_id, session_id FROM messages
            WHERE contact_id = $1 AND direction = 'inbound' AND body IS NOT NULL ORDER BY provider_timestamp DESC NULLS LAST, created_at DESC LIMIT 1"#,
        req.contact_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|m| (m.body, m.channel_id, m.session_id));
    drop(tx);
    let message = match (req.message.as_deref().map(str::trim), &latest) {
        (Some(m), _) if !m.is_empty() && m.chars().count() <= 4096 => m.to_owned(),
        (Some(_), _) => {
            return Err(ApiError::Unprocessable(
                "message must be 1 to 4096 characters".into(),
            ));
        }
        (None, Some((body, _, _))) => body.clone(),
        (None, None) => {
            return Err(ApiError::Unprocessable(
                "the contact has written nothing yet; pass the message to answer".into(),
            ));
        }
    };
    let client = state
        .agents
        .client()
        .ok_or_else(|| ApiError::Unavailable("no agent service is configured".into()))?;
    let mut context = std::collections::HashMap::new();
    if let Some(name) = name {
        context.insert("contact_name".to_owned(), name);
    }
    context.insert("mode".to_owned(), "draft".to_owned());
    let request = ventros_proto::v1::AgentExecutionRequest {
        agent_type,
        contact_id: req.contact_id.to_string(),
        message,
        channel_id: latest.as_ref().map(|l| l.1.to_string()).unwrap_or_default(),
        context,
        tenant_id: principal.tenant_id.to_string(),
        request_id: format!("draft:{}", uuid::Uuid::new_v4()),
        session_id: latest.as_ref().map(|l| l.2.to_string()).unwrap_or_default(),
    };
    let response = client
        .execute(request, Duration::from_secs(10))
        .await
        .map_err(|err| match err {
            ventros_activities::agents::AgentError::Rejected { message, .. } => {
                ApiError::Unprocessable(format!("the agent refused: {message}"))
            }
            other => {
                tracing::warn!(error = %other, "agent draft: agent unavailable");
                ApiError::Unavailable("the agent service is not answering; retry shortly".into())
            }
        })?;
    let suggested_actions = response
        .actions
        .iter()
        .filter_map(|action| {
            let kind = ventros_proto::v1::ActionType::try_from(action.r#type)
                .ok()
                .filter(|t| *t != ventros_proto::v1::ActionType::Unspecified)?;
            Some(SuggestedAction {
                action_type: kind.name(),
                params: action.params.clone(),
                reason: action.reason.clone(),
            })
        })
        .collect();
    let knowledge_sources = response
        .metadata
        .get("knowledge_passages")
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();
    Ok(Json(Draft {
        contact_id: req.contact_id,
        agent_type: response.agent_type,
        intent: response.intent,
        confidence: response.confidence,
        draft: response.response,
        suggested_actions,
        language: response.metadata.get("language").cloned(),
        knowledge_sources,
        sent: false,
    }))
}
