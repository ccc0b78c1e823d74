//! An operator's reply: recorded once per `Idempotency-Key`, then sent by its own
//! OutboundMessage workflow (a retry with the same key starts or finds the same one).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowStartOptions};
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_channels::meta::{MetaPlatform, messaging_type};
use ventros_domain::SessionStatus;
use ventros_workflows::{OutboundInput, OutboundMessage, ids};

use super::{Conversation, load_conversation};
use crate::auth::{AsAgent, Authorized};
use crate::db::tenant_tx;
use crate::error::{ApiError, ApiJson};
use crate::ids::Id;
use crate::{AppState, TemporalLink};

/// A reply accepted for sending.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedReply {
    pub message_id: Uuid,
    pub conversation_id: Uuid,
    /// The key this reply is recorded under (the request's, or a new one).
    pub idempotency_key: String,
    /// The OutboundMessage workflow that sends it.
    pub workflow: TemporalLink,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// The text to send (1 to 4096 characters).
    pub text: String,
}

/// Sends an operator's reply through an OutboundMessage workflow. Send an `Idempotency-Key`
/// header: a retry with the same key and text returns the same message and sends nothing again;
/// the same key with a different text is refused.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "conversations", params(("id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 200 characters; makes retries safe")),
    request_body = ReplyBody,
    responses((status = 202, description = "Accepted for sending", body = AcceptedReply), (status = 409, description = "The conversation is closed"),
              (status = 422, description = "Empty text, an Idempotency-Key reused with another request, or outside Meta's messaging window")))]
pub async fn reply(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Conversation>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ReplyBody>,
) -> Result<(StatusCode, Json<AcceptedReply>), ApiError> {
    let id = id.get();
    let text = req.text.trim();
    if text.is_empty() || text.chars().count() > 4096 || text.contains('\0') {
        return Err(ApiError::Unprocessable(
            "text must be 1 to 4096 characters".into(),
        ));
    }
    let key = match headers.get("idempotency-key") {
        Some(value) => {
            let key = value
                .to_str()
                .map_err(|_| ApiError::BadRequest("Idempotency-Key must be visible ASCII".into()))?
                .trim()
                .to_owned();
            if key.is_empty() || key.len() > 200 {
                return Err(ApiError::BadRequest(
                    "Idempotency-Key must be 1 to 200 characters".into(),
                ));
            }
            key
        }
        None => Uuid::new_v4().to_string(),
    };
    let mut hasher = Sha256::new();
    hasher.update(id.as_bytes());
    hasher.update(text.as_bytes());
    let request_sha256 = hasher.finalize().to_vec();

    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let conversation = load_conversation(&mut tx, &state, id).await?;
    let channel_id = conversation.channel_id;
    let existing = sqlx::query!(
        "SELECT id, request_sha256 FROM outbound_requests WHERE idempotency_key = $1",
        key
    )
    .fetch_optional(&mut *tx)
    .await?;
    let message_id = match existing {
        Some(request) if request.request_sha256 == request_sha256 => request.id,
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "this Idempotency-Key was used for a different request".into(),
            ));
        }
        None => {
            if conversation.status != SessionStatus::Open {
                return Err(ApiError::Conflict(format!("conversation {id} is closed")));
            }
            // Meta's window, checked up front so the operator learns why at once (the send
            // activity enforces it again at send time).
            if MetaPlatform::from_kind(&conversation.channel_kind).is_some() {
                let last_inbound = sqlx::query_scalar!(
                    "SELECT max(m.provider_timestamp) FROM messages m JOIN conversation_sessions s ON m.identity_id = s.identity_id
                      WHERE s.id = $1 AND m.direction = 'inbound'",
                    id
                )
                .fetch_one(&mut *tx)
                .await?;
                messaging_type(Some("operator"), last_inbound, chrono::Utc::now())
                    .map_err(ApiError::Unprocessable)?;
            }
            let message_id = Uuid::now_v7();
            sqlx::query!(
                "INSERT INTO outbound_requests (id, tenant_id, session_id, body, author, idempotency_key, request_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                message_id,
                principal.tenant_id,
                id,
                text,
                principal.label(),
                key,
                request_sha256,
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            message_id
        }
    };
    let workflow_id = ids::outbound_workflow_id(principal.tenant_id, message_id);
    let client = state.temporal.client().await?;
    let options = WorkflowStartOptions::new(state.config.task_queue.clone(), workflow_id.clone())
        .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
        // A finished send is never started again by a late retry.
        .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
        .build();
    let input = OutboundInput {
        tenant_id: principal.tenant_id,
        channel_id,
        message_id,
        compose: true,
    };
    match tokio::time::timeout(
        state.config.temporal_deadline,
        client.start_workflow(OutboundMessage::run, input, options),
    )
    .await
    {
        Ok(Ok(_) | Err(WorkflowStartError::AlreadyStarted { .. })) => {}
        Ok(Err(err)) => {
            tracing::error!(error = %err, "starting the operator reply failed");
            // The request row stays: a retry with the same key starts the same workflow.
            return Err(ApiError::Unavailable(
                "could not hand the reply to Temporal; retry with the same Idempotency-Key".into(),
            ));
        }
        Err(_) => {
            return Err(ApiError::Unavailable(
                "Temporal did not answer in time; retry with the same Idempotency-Key".into(),
            ));
        }
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(AcceptedReply {
            message_id,
            conversation_id: id,
            idempotency_key: key,
            workflow: state.config.temporal_link("workflows", &workflow_id),
        }),
    ))
}
