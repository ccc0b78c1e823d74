//! A message with its delivery history and the workflow that handles it.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;

use crate::auth::Principal;
use crate::db::{fetch_one_json, tenant_tx};
use crate::error::ApiError;
use crate::{AppState, parse_id};

/// A message: body, delivery status with its history, the agent's intent and confidence.
#[utoipa::path(get, path = "/api/v1/messages/{id}", tag = "messages", params(("id" = String, Path)),
    responses((status = 200, description = "The message", body = Value), (status = 404, description = "No such message")))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "message")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let mut message = fetch_one_json(
        &mut tx,
        sqlx::query(
            "SELECT jsonb_build_object(
                'id', m.id, 'conversation_id', m.session_id, 'contact_id', m.contact_id, 'channel_id', m.channel_id, 'direction', m.direction,
                'provider_message_id', m.provider_message_id, 'provider_timestamp', m.provider_timestamp, 'body', m.body, 'media', m.media,
                'status', m.status, 'failure_reason', m.failure_reason, 'origin', m.origin, 'intent', m.intent, 'confidence', m.confidence,
                'agent_type', m.agent_type, 'customer_reaction', m.customer_reaction, 'workflow_id', m.handled_by_workflow, 'created_at', m.created_at, 'updated_at', m.updated_at,
                'status_history', coalesce((SELECT jsonb_agg(jsonb_build_object('status', h.status, 'reason', h.reason, 'at', h.occurred_at) ORDER BY h.id)
                                              FROM message_status_history h WHERE h.message_id = m.id), '[]'::jsonb))
               FROM messages m WHERE m.id = $1",
        )
        .bind(id),
        || format!("message {id}"),
    )
    .await?;
    let workflow_id = message["workflow_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    message["workflow"] = state.config.workflow_link(&workflow_id);
    Ok(Json(message))
}
