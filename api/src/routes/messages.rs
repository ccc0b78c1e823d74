//! A message with its delivery history.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use sqlx::Row;
use uuid::Uuid;

use crate::auth::Tenant;
use crate::error::ApiError;
use crate::{AppState, parse_id};

type Time = chrono::DateTime<chrono::Utc>;

pub async fn show(State(state): State<AppState>, tenant: Tenant, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "message")?;
    let m = sqlx::query(
        "SELECT id, session_id, contact_id, channel_id, direction, provider_message_id, provider_timestamp, body, media,
                status, failure_reason, origin, handled_by_workflow, intent, confidence, agent_type, created_at, updated_at
         FROM messages WHERE id = $1 AND tenant_id = $2",
    )
    .bind(id)
    .bind(tenant.tenant_id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("message {id} not found")))?;
    let history = sqlx::query("SELECT status, reason, occurred_at FROM message_status_history WHERE message_id = $1 AND tenant_id = $2 ORDER BY id")
        .bind(id)
        .bind(tenant.tenant_id)
        .fetch_all(&state.pool)
        .await?
        .iter()
        .map(|r| -> Result<Value, sqlx::Error> {
            Ok(json!({
                "status": r.try_get::<String, _>("status")?,
                "reason": r.try_get::<Option<String>, _>("reason")?,
                "at": r.try_get::<Time, _>("occurred_at")?,
            }))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({
        "id": id,
        "conversation_id": m.try_get::<Uuid, _>("session_id")?,
        "contact_id": m.try_get::<Uuid, _>("contact_id")?,
        "channel_id": m.try_get::<Uuid, _>("channel_id")?,
        "direction": m.try_get::<String, _>("direction")?,
        "provider_message_id": m.try_get::<Option<String>, _>("provider_message_id")?,
        "provider_timestamp": m.try_get::<Option<Time>, _>("provider_timestamp")?,
        "body": m.try_get::<Option<String>, _>("body")?,
        "media": m.try_get::<Option<Value>, _>("media")?,
        "status": m.try_get::<String, _>("status")?,
        "failure_reason": m.try_get::<Option<String>, _>("failure_reason")?,
        "origin": m.try_get::<Option<String>, _>("origin")?,
        "intent": m.try_get::<Option<String>, _>("intent")?,
        "confidence": m.try_get::<Option<f32>, _>("confidence")?,
        "agent_type": m.try_get::<Option<String>, _>("agent_type")?,
        "workflow_id": m.try_get::<String, _>("handled_by_workflow")?,
        "status_history": history,
        "created_at": m.try_get::<Time, _>("created_at")?,
        "updated_at": m.try_get::<Time, _>("updated_at")?,
    })))
}
