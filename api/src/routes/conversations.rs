//! Conversations (sessions): the database rows plus, while a session is open, the live state of
//! its Conversation workflow. Takeover and hand-back are workflow updates, so the caller learns
//! the new state only once the workflow has accepted it.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;
use temporalio_client::errors::{WorkflowQueryError, WorkflowUpdateError};
use temporalio_client::{WorkflowExecuteUpdateOptions, WorkflowQueryOptions};
use uuid::Uuid;
use ventros_workflows::{Conversation, ConversationState, TakeoverRequest};

use crate::auth::Tenant;
use crate::error::ApiError;
use crate::{AppState, parse_id};

type Time = chrono::DateTime<chrono::Utc>;

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub limit: Option<i64>,
}

fn session_view(r: &sqlx::postgres::PgRow) -> Result<Value, sqlx::Error> {
    Ok(json!({
        "id": r.try_get::<Uuid, _>("id")?,
        "channel_id": r.try_get::<Uuid, _>("channel_id")?,
        "contact_id": r.try_get::<Uuid, _>("contact_id")?,
        "status": r.try_get::<String, _>("status")?,
        "assigned_to": r.try_get::<String, _>("assigned_to")?,
        "assignee": r.try_get::<Option<String>, _>("assignee")?,
        "workflow_id": r.try_get::<String, _>("workflow_id")?,
        "opened_at": r.try_get::<Time, _>("opened_at")?,
        "closed_at": r.try_get::<Option<Time>, _>("closed_at")?,
        "close_reason": r.try_get::<Option<String>, _>("close_reason")?,
        "last_activity_at": r.try_get::<Time, _>("last_activity_at")?,
        "handoff_reason": r.try_get::<Option<String>, _>("handoff_reason")?,
    }))
}

macro_rules! session_columns {
    () => {
        "id, channel_id, contact_id, status, assigned_to, assignee, workflow_id, opened_at, closed_at, close_reason, last_activity_at, handoff_reason"
    };
}

pub async fn list(State(state): State<AppState>, tenant: Tenant, Query(q): Query<ListQuery>) -> Result<Json<Value>, ApiError> {
    if let Some(status) = q.status.as_deref()
        && !matches!(status, "open" | "closed")
    {
        return Err(ApiError::BadRequest("status must be open or closed".into()));
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 200".into()));
    }
    let rows = sqlx::query(concat!(
        "SELECT ",
        session_columns!(),
        " FROM conversation_sessions WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)
         ORDER BY last_activity_at DESC LIMIT $3"
    ))
    .bind(tenant.tenant_id)
    .bind(q.status)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    let items = rows.iter().map(session_view).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "items": items })))
}

struct SessionRef {
    status: String,
    workflow_id: String,
}

async fn load_session(state: &AppState, tenant: Tenant, id: Uuid) -> Result<(sqlx::postgres::PgRow, SessionRef), ApiError> {
    let row = sqlx::query(concat!("SELECT ", session_columns!(), " FROM conversation_sessions WHERE id = $1 AND tenant_id = $2"))
        .bind(id)
        .bind(tenant.tenant_id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("conversation {id} not found")))?;
    let session = SessionRef { status: row.try_get("status")?, workflow_id: row.try_get("workflow_id")? };
    Ok((row, session))
}

/// Queries the workflow with a deadline; a missing worker or server never hangs the request.
async fn live_state(state: &AppState, workflow_id: &str) -> Value {
    let client = match state.temporal.client().await {
        Ok(c) => c,
        Err(_) => return json!({"available": false, "reason": "Temporal is not reachable"}),
    };
    let handle = client.get_workflow_handle::<Conversation>(workflow_id.to_owned());
    let query = handle.query(Conversation::state, (), WorkflowQueryOptions::default());
    match tokio::time::timeout(state.config.temporal_deadline / 2, query).await {
        Ok(Ok(s)) => json!({"available": true, "state": s}),
        Ok(Err(WorkflowQueryError::NotFound(_))) => json!({"available": false, "reason": "workflow not found"}),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, workflow.id = %workflow_id, "conversation query failed");
            json!({"available": false, "reason": "query failed"})
        }
        Err(_) => json!({"available": false, "reason": "query deadline exceeded"}),
    }
}

pub async fn show(State(state): State<AppState>, tenant: Tenant, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "conversation")?;
    let (row, session) = load_session(&state, tenant, id).await?;
    let messages = sqlx::query(
        "SELECT id, direction, body, status, origin, intent, confidence, agent_type, provider_timestamp, created_at FROM messages
         WHERE session_id = $1 AND tenant_id = $2 ORDER BY coalesce(provider_timestamp, created_at), created_at LIMIT 500",
    )
    .bind(id)
    .bind(tenant.tenant_id)
    .fetch_all(&state.pool)
    .await?
    .iter()
    .map(|r| -> Result<Value, sqlx::Error> {
        Ok(json!({
            "id": r.try_get::<Uuid, _>("id")?,
            "direction": r.try_get::<String, _>("direction")?,
            "body": r.try_get::<Option<String>, _>("body")?,
            "status": r.try_get::<String, _>("status")?,
            "origin": r.try_get::<Option<String>, _>("origin")?,
            "intent": r.try_get::<Option<String>, _>("intent")?,
            "confidence": r.try_get::<Option<f32>, _>("confidence")?,
            "agent_type": r.try_get::<Option<String>, _>("agent_type")?,
            "provider_timestamp": r.try_get::<Option<Time>, _>("provider_timestamp")?,
            "created_at": r.try_get::<Time, _>("created_at")?,
        }))
    })
    .collect::<Result<Vec<_>, _>>()?;
    let live = if session.status == "open" {
        live_state(&state, &session.workflow_id).await
    } else {
        // The workflow id may already run a later session of the same chat.
        json!({"available": false, "reason": "conversation closed"})
    };
    let mut body = session_view(&row)?;
    body["messages"] = Value::Array(messages);
    body["live"] = live;
    Ok(Json(body))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TakeoverBody {
    #[serde(default)]
    pub assignee: Option<String>,
}

pub async fn takeover(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    // The body is optional: an empty one means "take over, unnamed".
    let assignee = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<TakeoverBody>(&body).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?.assignee
    };
    if assignee.as_deref().is_some_and(|a| a.is_empty() || a.chars().count() > 200) {
        return Err(ApiError::Unprocessable("assignee must be 1 to 200 characters".into()));
    }
    change_assignment(&state, tenant, &id, Some(TakeoverRequest { assignee })).await
}

pub async fn handback(State(state): State<AppState>, tenant: Tenant, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    change_assignment(&state, tenant, &id, None).await
}

async fn change_assignment(
    state: &AppState,
    tenant: Tenant,
    id: &str,
    takeover: Option<TakeoverRequest>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(id, "conversation")?;
    let (_, session) = load_session(state, tenant, id).await?;
    if session.status != "open" {
        return Err(ApiError::Conflict(format!("conversation {id} is closed")));
    }
    let client = state.temporal.client().await?;
    let handle = client.get_workflow_handle::<Conversation>(session.workflow_id.clone());
    let options = WorkflowExecuteUpdateOptions::default();
    let result: Result<Result<ConversationState, WorkflowUpdateError>, _> = match takeover {
        Some(req) => tokio::time::timeout(state.config.temporal_deadline, handle.execute_update(Conversation::takeover, req, options)).await,
        None => tokio::time::timeout(state.config.temporal_deadline, handle.execute_update(Conversation::handback, (), options)).await,
    };
    match result {
        Ok(Ok(s)) => Ok(Json(json!({"id": id, "state": s}))),
        Ok(Err(WorkflowUpdateError::NotFound(_))) => Err(ApiError::Conflict(format!("conversation {id} is no longer running"))),
        Ok(Err(err)) => {
            tracing::error!(error = %err, workflow.id = %session.workflow_id, "assignment update failed");
            Err(ApiError::Unavailable("the conversation did not accept the change; retry".into()))
        }
        Err(_) => Err(ApiError::Unavailable("the conversation did not answer in time; retry".into())),
    }
}
