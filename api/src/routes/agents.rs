//! `GET /api/v1/agents`: the agents the Python service offers, with their measured latency.
//! Cached for a short while so a busy UI does not turn into gRPC traffic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use ventros_activities::agents::AgentApi;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;

const TTL: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct AgentDirectory {
    client: Option<Arc<dyn AgentApi>>,
    cache: Arc<Mutex<Option<(Instant, Value)>>>,
}

impl AgentDirectory {
    pub fn new(client: Option<Arc<dyn AgentApi>>) -> Self {
        AgentDirectory { client, cache: Arc::default() }
    }

    /// The agent service client, when one is configured (campaign previews call it directly).
    pub fn client(&self) -> Option<Arc<dyn AgentApi>> {
        self.client.clone()
    }

    pub async fn agents(&self) -> Result<Value, ApiError> {
        let mut cache = self.cache.lock().await;
        if let Some((at, value)) = cache.as_ref()
            && at.elapsed() < TTL
        {
            return Ok(value.clone());
        }
        let client = self.client.as_ref().ok_or_else(|| ApiError::Unavailable("no agent service is configured".into()))?;
        let agents = client.list(Duration::from_secs(3)).await.map_err(|err| {
            tracing::warn!(error = %err, "listing agents failed");
            ApiError::Unavailable("the agent service is not answering; retry shortly".into())
        })?;
        let items: Vec<Value> = agents
            .into_iter()
            .map(|a| {
                json!({"type": a.r#type, "name": a.name, "description": a.description, "capabilities": a.capabilities,
                       "avg_latency_ms": a.avg_latency_ms, "executions": a.executions, "pattern": a.pattern})
            })
            .collect();
        let value = json!({ "items": items });
        *cache = Some((Instant::now(), value.clone()));
        Ok(value)
    }
}

/// The agents the agent service offers, with their measured latency.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents",
    responses((status = 200, description = "Agents", body = Value), (status = 503, description = "The agent service is not configured or not answering")))]
pub async fn list(State(state): State<AppState>, _principal: Principal) -> Result<Json<Value>, ApiError> {
    state.agents.agents().await.map(Json)
}
