//! A message with its delivery history and the workflow that handles it.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_domain::{Direction, MessageStatus};

use crate::auth::Principal;
use crate::db::tenant_tx;
use crate::error::ApiError;
use crate::ids::Id;
use crate::routes::conversations::{ConversationMessage, KnowledgeSource};
use crate::{AppState, TemporalLink};

/// One step of a message's delivery, as the provider reported it.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusChange {
    pub status: MessageStatus,
    /// Why it failed, when it did.
    #[schema(required = true)]
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// A message, its delivery history, and the workflow that handled it: the conversation view's
/// message plus where it belongs and how it was delivered.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    #[serde(flatten)]
    pub message: ConversationMessage,
    pub conversation_id: Uuid,
    pub contact_id: Uuid,
    pub channel_id: Uuid,
    /// The provider's id (WAHA's or Meta's), once it has one.
    #[schema(required = true)]
    pub provider_message_id: Option<String>,
    pub workflow: TemporalLink,
    pub updated_at: DateTime<Utc>,
    pub status_history: Vec<StatusChange>,
}

impl crate::ids::Resource for Message {
    const NAME: &'static str = "message";
}

/// A message: body, delivery status with its history, the agent's intent and confidence.
#[utoipa::path(get, path = "/api/v1/messages/{id}", tag = "messages", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The message", body = Message), (status = 404, description = "No such message")))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Message>,
) -> Result<Json<Message>, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let m = sqlx::query!(
        r#"SELECT id, session_id, contact_id, channel_id, direction AS "direction: Direction", provider_message_id,
                  provider_timestamp, body, media, status AS "status: MessageStatus", failure_reason, origin, intent,
                  confidence, agent_type, customer_reaction, handled_by_workflow, created_at, updated_at,
                  coalesce(provider_timestamp, created_at) AS "at!",
                  (SELECT (r.metadata->>'knowledge_passages')::jsonb FROM agent_runs r WHERE r.id = messages.id)
                      AS "knowledge_sources: sqlx::types::Json<Vec<KnowledgeSource>>"
             FROM messages WHERE id = $1"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("message {id} not found")))?;
    let status_history = sqlx::query_as!(
        StatusChange,
        r#"SELECT status AS "status: MessageStatus", reason, occurred_at AS at
             FROM message_status_history WHERE message_id = $1 ORDER BY id"#,
        id
    )
    .fetch_all(&mut *tx)
    .await?;
    let attachments =
        crate::routes::media::attachments_of(&mut tx, &state, principal.tenant_id, &[id])
            .await?
            .remove(&id)
            .unwrap_or_default();
    Ok(Json(Message {
        workflow: state
            .config
            .temporal_link("workflows", &m.handled_by_workflow),
        message: ConversationMessage {
            id: m.id,
            direction: m.direction,
            body: m.body,
            media: m.media,
            attachments,
            status: m.status,
            failure_reason: m.failure_reason,
            origin: m.origin,
            intent: m.intent,
            confidence: m.confidence,
            agent_type: m.agent_type,
            customer_reaction: m.customer_reaction,
            provider_timestamp: m.provider_timestamp,
            created_at: m.created_at,
            at: m.at,
            workflow_id: m.handled_by_workflow,
            knowledge_sources: m.knowledge_sources,
        },
        conversation_id: m.session_id,
        contact_id: m.contact_id,
        channel_id: m.channel_id,
        provider_message_id: m.provider_message_id,
        updated_at: m.updated_at,
        status_history,
    }))
}
