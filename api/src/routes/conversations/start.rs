//! An operator starts a conversation: with an existing contact (through its address on the
//! channel) or with a new WhatsApp number. The first message goes through the chat's Conversation
//! like any operator reply, which opens the session. Messenger and Instagram only allow a business
//! to write inside Meta's messaging window, so outside it the request is refused up front with the
//! reason.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_channels::meta::{MetaPlatform, messaging_type};
use ventros_domain::IdentityKind;
use ventros_store::upsert_contact;
use ventros_workflows::ids;

use super::reply::{hand_to_conversation, idempotency_key, request_digest};
use crate::auth::{AsAgent, Authorized};
use crate::db::tenant_tx;
use crate::error::{ApiError, ApiJson};
use crate::routes::optional_text;
use crate::{AppState, TemporalLink};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartConversation {
    pub channel_id: Uuid,
    /// An existing contact with an address on this channel. Give this or `phone`.
    #[serde(default)]
    pub contact_id: Option<Uuid>,
    /// A WhatsApp number with country code (`+55 11 98765-4321`): found among the contacts, or a
    /// new contact. WhatsApp channels only.
    #[serde(default)]
    pub phone: Option<String>,
    /// The contact's name (with `phone`): names a new contact, or one that has no name yet.
    #[serde(default)]
    pub name: Option<String>,
    /// The first message (1 to 4096 characters).
    pub text: String,
}

/// A conversation started: its first message is on its way.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartedConversation {
    /// The conversation, once the chat's workflow has opened it (null if it took longer than the
    /// request's deadline: it appears in the list moments later).
    #[schema(required = true)]
    pub conversation_id: Option<Uuid>,
    pub contact_id: Uuid,
    pub message_id: Uuid,
    pub idempotency_key: String,
    /// The chat's Conversation workflow.
    pub workflow: TemporalLink,
}

/// The chat an operator writes to: its address on the channel and the contact.
struct Chat {
    identity_id: Uuid,
    contact_id: Uuid,
    external_id: String,
}

/// Starts a conversation with a contact or a new WhatsApp number. Send an `Idempotency-Key`: a
/// retry returns the same message and sends nothing again.
#[utoipa::path(post, path = "/api/v1/conversations", tag = "conversations",
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 200 characters; makes retries safe")),
    request_body = StartConversation,
    responses((status = 201, description = "Started", body = StartedConversation),
              (status = 422, description = "Bad channel, contact or number; empty text; outside Meta's messaging window")))]
pub async fn start(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    headers: HeaderMap,
    ApiJson(req): ApiJson<StartConversation>,
) -> Result<(StatusCode, Json<StartedConversation>), ApiError> {
    let text = req.text.trim();
    if text.is_empty() || text.chars().count() > 4096 || text.contains('\0') {
        return Err(ApiError::Unprocessable(
            "text must be 1 to 4096 characters".into(),
        ));
    }
    let name = optional_text(req.name.as_deref(), "name", 200)?;
    let key = idempotency_key(&headers)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    // Under RLS another tenant's channel is simply not found.
    let channel_kind =
        sqlx::query_scalar!("SELECT kind FROM channels WHERE id = $1", req.channel_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| {
                ApiError::Unprocessable(format!("channel {} does not exist", req.channel_id))
            })?;
    let chat = match (req.contact_id, req.phone.as_deref()) {
        (Some(contact_id), None) => {
            let identity = sqlx::query!(
                "SELECT id, external_id FROM contact_identities
                  WHERE contact_id = $1 AND channel_id = $2 ORDER BY (kind = 'wa_user') DESC, created_at LIMIT 1",
                contact_id,
                req.channel_id,
            )
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| {
                ApiError::Unprocessable(format!(
                    "contact {contact_id} does not exist or has no address on this channel"
                ))
            })?;
            Chat {
                identity_id: identity.id,
                contact_id,
                external_id: identity.external_id,
            }
        }
        (None, Some(phone)) => {
            if channel_kind != "waha" {
                return Err(ApiError::Unprocessable(
                    "Messenger and Instagram conversations start with the customer: pick a contact who has written on this channel".into(),
                ));
            }
            chat_for_phone(&mut tx, principal.tenant_id, req.channel_id, phone, name).await?
        }
        _ => {
            return Err(ApiError::Unprocessable(
                "give exactly one of contact_id and phone".into(),
            ));
        }
    };
    if MetaPlatform::from_kind(&channel_kind).is_some() {
        let last_inbound = sqlx::query_scalar!(
            "SELECT max(provider_timestamp) FROM messages WHERE identity_id = $1 AND direction = 'inbound'",
            chat.identity_id
        )
        .fetch_one(&mut *tx)
        .await?;
        messaging_type(Some("operator"), last_inbound, chrono::Utc::now())
            .map_err(ApiError::Unprocessable)?;
    }
    let request_sha256 = request_digest(chat.identity_id, text);
    let existing = sqlx::query!(
        "SELECT id, request_sha256 FROM outbound_requests WHERE idempotency_key = $1",
        key
    )
    .fetch_optional(&mut *tx)
    .await?;
    let message_id = match existing {
        Some(r) if r.request_sha256 == request_sha256 => r.id,
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "this Idempotency-Key was used for a different request".into(),
            ));
        }
        None => {
            let id = Uuid::now_v7();
            sqlx::query!(
                "INSERT INTO outbound_requests (id, tenant_id, identity_id, body, author, idempotency_key, request_sha256)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                id,
                principal.tenant_id,
                chat.identity_id,
                text,
                principal.label(),
                key,
                request_sha256,
            )
            .execute(&mut *tx)
            .await?;
            id
        }
    };
    tx.commit().await?;

    let chat_key = ids::chat_key(principal.tenant_id, req.channel_id, &chat.external_id);
    let workflow_id = ids::conversation_workflow_id(principal.tenant_id, req.channel_id, &chat_key);
    hand_to_conversation(
        &state,
        principal.tenant_id,
        req.channel_id,
        &workflow_id,
        message_id,
    )
    .await?;
    let conversation_id = opened_session(&state, principal.tenant_id, message_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(StartedConversation {
            conversation_id,
            contact_id: chat.contact_id,
            message_id,
            idempotency_key: key,
            workflow: state.config.temporal_link("workflows", &workflow_id),
        }),
    ))
}

/// The contact with this WhatsApp number on the channel, or a new one (the store's upsert, the
/// same a customer's first message goes through).
async fn chat_for_phone(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    tenant_id: Uuid,
    channel_id: Uuid,
    phone: &str,
    name: Option<String>,
) -> Result<Chat, ApiError> {
    let digits = crate::routes::phone_digits(phone).ok_or_else(|| {
        ApiError::Unprocessable(
            "phone must be a number with country code, 10 to 15 digits (+55 11 98765-4321)".into(),
        )
    })?;
    let external_id = format!("{digits}@c.us");
    let (contact_id, identity_id, _) = upsert_contact(
        tx,
        tenant_id,
        channel_id,
        IdentityKind::WaUser.as_str(),
        &external_id,
        name,
    )
    .await?;
    Ok(Chat {
        identity_id,
        contact_id,
        external_id,
    })
}

/// The session the Conversation put the first message in, once it has (polled until the
/// request's Temporal deadline; the workflow does it within a workflow task).
async fn opened_session(
    state: &AppState,
    tenant_id: Uuid,
    message_id: Uuid,
) -> Result<Option<Uuid>, ApiError> {
    let deadline = tokio::time::Instant::now() + state.config.temporal_deadline;
    let mut every = tokio::time::interval(std::time::Duration::from_millis(50));
    loop {
        every.tick().await;
        let mut tx = tenant_tx(&state.pool, tenant_id).await?;
        let session = sqlx::query_scalar!(
            "SELECT session_id FROM outbound_requests WHERE id = $1",
            message_id
        )
        .fetch_one(&mut *tx)
        .await?;
        if session.is_some() || tokio::time::Instant::now() >= deadline {
            return Ok(session);
        }
    }
}
