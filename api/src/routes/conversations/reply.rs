//! An operator's reply: recorded once per `Idempotency-Key`, then handed to the chat's
//! Conversation workflow (an update-with-start: a run starts when the chat has none), which puts
//! it in the open session, reopening a resolved one, restarts the inactivity clock and starts the
//! reply's OutboundMessage (keyed by the request, so a retry never sends twice).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use temporalio_client::errors::WorkflowUpdateWithStartError;
use temporalio_client::{WorkflowIdConflictPolicy, WorkflowUpdateWithStartOptions};
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_channels::meta::{MetaPlatform, messaging_type};
use ventros_workflows::{
    Conversation as ConversationWorkflow, ConversationInput, ConversationState, OperatorReply, ids,
};

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
    /// The text to send (1 to 4096 characters); with `media_id`, the file's caption (up to 1024
    /// characters, may be empty; Messenger and Instagram take files without captions).
    #[serde(default)]
    pub text: String,
    /// A file uploaded with `POST /api/v1/media`, sent once.
    #[serde(default)]
    pub media_id: Option<Uuid>,
}

/// Sends an operator's reply (a text, or a file uploaded with `POST /api/v1/media` and its caption)
/// through the chat's Conversation workflow; a resolved conversation reopens (or the chat's newest
/// session does). Send an `Idempotency-Key` header: a retry with the same key, text and file
/// contents returns the same message and sends nothing again; the same key with a different text
/// or file is refused.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "conversations", params(("id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 200 characters; makes retries safe")),
    request_body = ReplyBody,
    responses((status = 202, description = "Accepted for sending (a resolved conversation reopens)", body = AcceptedReply),
              (status = 404, description = "No such conversation, or no such file in this tenant"),
              (status = 409, description = "The file was already sent"),
              (status = 422, description = "Empty text, a caption on Messenger or Instagram, an Idempotency-Key reused with another request, or outside Meta's messaging window")))]
pub async fn reply(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Conversation>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ReplyBody>,
) -> Result<(StatusCode, Json<AcceptedReply>), ApiError> {
    let id = id.get();
    let text = req.text.trim();
    let valid = match req.media_id {
        None => !text.is_empty() && text.chars().count() <= 4096,
        Some(_) => text.chars().count() <= 1024,
    };
    if !valid || text.contains('\0') {
        return Err(ApiError::Unprocessable(match req.media_id {
            None => "text must be 1 to 4096 characters".into(),
            Some(_) => "a file's caption must be at most 1024 characters".into(),
        }));
    }
    let key = idempotency_key(&headers)?;
    let mut request_sha256 = request_digest(id, text);

    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let conversation = load_conversation(&mut tx, &state, id).await?;
    // A file counts by its contents: a client that retries by uploading the same file again
    // (a new id) under the same key gets the message it already sent.
    if let Some(media_id) = req.media_id {
        let checksum =
            sqlx::query_scalar!("SELECT sha256 FROM media_files WHERE id = $1", media_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("media {media_id} not found")))?;
        request_sha256.extend_from_slice(&checksum.unwrap_or_default());
    }
    let channel_id = conversation.channel_id;
    let existing = sqlx::query!(
        r#"SELECT id, request_sha256, EXISTS (SELECT 1 FROM messages m WHERE m.id = r.id) AS "composed!"
             FROM outbound_requests r WHERE idempotency_key = $1"#,
        key
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (message_id, composed) = match existing {
        Some(request) if request.request_sha256 == request_sha256 => (request.id, request.composed),
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "this Idempotency-Key was used for a different request".into(),
            ));
        }
        None => {
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
            if let Some(media_id) = req.media_id {
                sendable_file(&mut tx, media_id, &conversation.channel_kind, text).await?;
            }
            let message_id = Uuid::now_v7();
            sqlx::query!(
                "INSERT INTO outbound_requests (id, tenant_id, session_id, body, author, idempotency_key, request_sha256, media_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                message_id,
                principal.tenant_id,
                id,
                text,
                principal.label(),
                key,
                request_sha256,
                req.media_id,
            )
            .execute(&mut *tx)
            .await
            .map_err(|e| match e.as_database_error().and_then(|d| d.constraint()) {
                Some("outbound_requests_media") => already_sent(),
                _ => ApiError::from(e),
            })?;
            tx.commit().await?;
            (message_id, false)
        }
    };
    let outbound_id = ids::outbound_workflow_id(principal.tenant_id, message_id);
    // A retry of a reply already written to the thread has nothing left to hand over.
    if !composed {
        hand_to_conversation(
            &state,
            principal.tenant_id,
            channel_id,
            &conversation.workflow_id,
            message_id,
        )
        .await?;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(AcceptedReply {
            message_id,
            conversation_id: id,
            idempotency_key: key,
            workflow: state.config.temporal_link("workflows", &outbound_id),
        }),
    ))
}

fn already_sent() -> ApiError {
    ApiError::Conflict("this file was already sent; upload it again to send it again".into())
}

/// Checks that `media_id` is this tenant's upload, not sent yet, and that the channel takes it.
async fn sendable_file(
    tx: &mut sqlx::PgConnection,
    media_id: Uuid,
    channel_kind: &str,
    caption: &str,
) -> Result<(), ApiError> {
    let file = sqlx::query!(
        r#"SELECT direction, status, message_id,
                  EXISTS (SELECT 1 FROM outbound_requests r WHERE r.media_id = f.id) AS "requested!"
             FROM media_files f WHERE id = $1"#,
        media_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("media {media_id} not found")))?;
    if file.direction != "outbound" || file.status != "stored" {
        return Err(ApiError::Unprocessable(
            "only files uploaded with POST /api/v1/media can be sent".into(),
        ));
    }
    if file.message_id.is_some() || file.requested {
        return Err(already_sent());
    }
    if MetaPlatform::from_kind(channel_kind).is_some() && !caption.is_empty() {
        return Err(ApiError::Unprocessable(
            "Messenger and Instagram send files without captions: send the text as its own message"
                .into(),
        ));
    }
    Ok(())
}

/// The request's `Idempotency-Key`, checked, or a new one.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(Uuid::new_v4().to_string());
    };
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
    Ok(key)
}

/// What an Idempotency-Key is bound to: where the reply goes and its text.
pub(super) fn request_digest(target: Uuid, text: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(target.as_bytes());
    hasher.update(text.as_bytes());
    hasher.finalize().to_vec()
}

/// Hands a recorded reply to the chat's Conversation as an update, starting the chat's run when
/// none holds it (update-with-start). Either way Temporal has it durably once this returns; a
/// failure leaves the request row, and a retry with the same key hands the same reply over.
pub(super) async fn hand_to_conversation(
    state: &AppState,
    tenant_id: Uuid,
    channel_id: Uuid,
    workflow_id: &str,
    request_id: Uuid,
) -> Result<ConversationState, ApiError> {
    let client = state.temporal.client().await?;
    let (input, options) = with_start(state, tenant_id, channel_id, workflow_id);
    let updated = tokio::time::timeout(
        state.config.temporal_deadline,
        client.execute_update_with_start_workflow(
            ConversationWorkflow::run,
            input,
            ConversationWorkflow::operator_reply,
            OperatorReply { request_id },
            options,
        ),
    )
    .await;
    with_start_answer(updated, workflow_id)
}

/// The chat's Conversation input and the options of an update-with-start (an existing run takes
/// the update; otherwise a run starts for it).
pub(super) fn with_start(
    state: &AppState,
    tenant_id: Uuid,
    channel_id: Uuid,
    workflow_id: &str,
) -> (ConversationInput, WorkflowUpdateWithStartOptions) {
    let chat_key = workflow_id
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let input = ConversationInput {
        tenant_id,
        channel_id,
        chat_key,
        carried: None,
    };
    let options = WorkflowUpdateWithStartOptions::new(
        state.config.task_queue.clone(),
        workflow_id.to_owned(),
        WorkflowIdConflictPolicy::UseExisting,
    )
    .search_attributes(ventros_activities::inbox::conversation_search_attributes(
        tenant_id, channel_id,
    ))
    .build();
    (input, options)
}

pub(super) fn with_start_answer(
    result: Result<
        Result<ConversationState, WorkflowUpdateWithStartError>,
        tokio::time::error::Elapsed,
    >,
    workflow_id: &str,
) -> Result<ConversationState, ApiError> {
    match result {
        Ok(Ok(state)) => Ok(state),
        Ok(Err(err)) => {
            tracing::error!(error = %err, workflow.id = %workflow_id, "update-with-start failed");
            Err(ApiError::Unavailable(
                "the conversation did not take the request; retry (with the same Idempotency-Key)"
                    .into(),
            ))
        }
        Err(_) => Err(ApiError::Unavailable(
            "Temporal did not answer in time; retry (with the same Idempotency-Key)".into(),
        )),
    }
}
