//! `POST /webhooks/waha/{channel_id}`: WAHA's events into Temporal.
//!
//! Order of checks, each failing with a problem+json and changing nothing: body size, known WAHA
//! channel, HMAC signature (when the channel has a key), well-formed envelope, session, supported
//! event. Then:
//! - `message`: the raw payload goes to the webhook inbox (deduplicated on the provider message
//!   id) and the Conversation workflow is signalled-with-start with the inbox id;
//! - `message.ack`: the OutboundMessage workflow of that provider message is signalled;
//! - `session.status`: the channel's status is recorded (newest event wins).
//!
//! The 2xx answer is sent only once Temporal has accepted the signal; if it cannot be reached the
//! answer is 503 and WAHA retries (the inbox row makes the retry land on the same id).

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use temporalio_client::WorkflowSignalOptions;
use temporalio_client::errors::WorkflowInteractionError;
use uuid::Uuid;
use ventros_channels::channel::WahaConfig;
use ventros_channels::provider::ProviderConfig;
use ventros_channels::waha::{
    AckPayload, ChatKind, HEADER_HMAC, MessagePayload, SESSION_STATUSES, SessionStatusPayload,
    WebhookEnvelope, classify_chat_id, verify_signature,
};
use ventros_workflows::{AckSignal, DeliveryStatus, InboundSignal, OutboundMessage, ids};

use crate::AppState;
use crate::error::ApiError;

struct WahaChannel {
    tenant_id: Uuid,
    config: WahaConfig,
}

/// The tenant and provider settings of the channel a webhook URL names; 404 when unknown.
pub(crate) async fn webhook_channel(
    state: &AppState,
    channel_id: Uuid,
) -> Result<(Uuid, ProviderConfig), ApiError> {
    let unknown = || ApiError::NotFound(format!("channel {channel_id} not found"));
    // The URL names the channel, not the tenant: find the tenant first (past RLS, through the
    // SECURITY DEFINER lookup), then read the channel as that tenant.
    let tenant_id = sqlx::query_scalar!("SELECT ventros_channel_tenant($1)", channel_id)
        .fetch_one(&state.pool)
        .await?;
    let tenant_id = tenant_id.ok_or_else(unknown)?;
    let mut tx = crate::db::tenant_tx(&state.pool, tenant_id).await?;
    let row = sqlx::query!(
        "SELECT kind, provider_config FROM channels WHERE id = $1",
        channel_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(unknown)?;
    let config = ProviderConfig::decode(&row.kind, row.provider_config)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    Ok((tenant_id, config))
}

async fn load_waha_channel(state: &AppState, channel_id: Uuid) -> Result<WahaChannel, ApiError> {
    match webhook_channel(state, channel_id).await? {
        (tenant_id, ProviderConfig::Waha(config)) => Ok(WahaChannel { tenant_id, config }),
        _ => Err(ApiError::NotFound(format!(
            "channel {channel_id} not found"
        ))),
    }
}

/// Stores a raw inbound event in the webhook inbox, once per provider key: a redelivery (or a
/// retry of a delivery we answered 503) lands on the same row and id.
pub(crate) async fn store_inbox(
    state: &AppState,
    tenant_id: Uuid,
    channel_id: Uuid,
    dedupe_key: &str,
    payload: &Value,
) -> Result<Uuid, ApiError> {
    let mut tx = crate::db::tenant_tx(&state.pool, tenant_id).await?;
    let inbox_id = sqlx::query_scalar!(
        "INSERT INTO webhook_inbox (id, tenant_id, channel_id, event, dedupe_key, payload)
         VALUES ($1, $2, $3, 'message', $4, $5)
         ON CONFLICT (channel_id, dedupe_key) DO UPDATE SET dedupe_key = EXCLUDED.dedupe_key
         RETURNING id",
        Uuid::now_v7(),
        tenant_id,
        channel_id,
        dedupe_key,
        payload,
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(inbox_id)
}

pub(crate) fn accepted(status: &str, extra: Value) -> Response {
    let mut body = json!({ "status": status });
    if let (Some(obj), Value::Object(more)) = (body.as_object_mut(), extra) {
        obj.extend(more);
    }
    Json(body).into_response()
}

pub async fn waha_webhook(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let limit = state.config.webhook_max_bytes;
    let body = to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(limit))?;
    let channel_id = crate::parse_id(&channel_id, "channel")?;
    let channel = load_waha_channel(&state, channel_id).await?;

    // Every WAHA channel must have a key; one stored before keys were required accepts nothing
    // until an admin sets it.
    let Some(key) = channel.config.hmac_key.as_deref().filter(|k| !k.is_empty()) else {
        tracing::warn!(channel.id = %channel_id, "webhook rejected: the channel has no HMAC key");
        return Err(ApiError::Unauthorized("this channel has no HMAC key: set provider_config.hmac_key, then sign webhooks with it".into()));
    };
    let signature = headers.get(HEADER_HMAC).and_then(|v| v.to_str().ok());
    if !signature.is_some_and(|sig| verify_signature(key, &body, sig)) {
        tracing::warn!(channel.id = %channel_id, "webhook rejected: missing or invalid HMAC signature");
        return Err(ApiError::Unauthorized(
            "X-Webhook-Hmac is missing or does not match the body".into(),
        ));
    }

    let envelope: WebhookEnvelope = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("not a WAHA webhook envelope: {e}")))?;
    if envelope.session != channel.config.session {
        return Err(ApiError::Unprocessable(format!(
            "event for WAHA session {:?}, but this channel is session {:?}",
            envelope.session, channel.config.session
        )));
    }

    match envelope.event.as_str() {
        "message" => on_message(&state, channel_id, &channel, envelope).await,
        "message.ack" => on_ack(&state, channel_id, &channel, envelope).await,
        "session.status" => on_session_status(&state, channel_id, &channel, envelope).await,
        other => Err(ApiError::Unprocessable(format!(
            "event {other:?} is not supported; subscribe this webhook to message, message.ack and session.status"
        ))),
    }
}

async fn on_message(
    state: &AppState,
    channel_id: Uuid,
    channel: &WahaChannel,
    envelope: WebhookEnvelope,
) -> Result<Response, ApiError> {
    let message: MessagePayload = serde_json::from_value(envelope.payload.clone())
        .map_err(|e| ApiError::Unprocessable(format!("invalid message payload: {e}")))?;
    if message.from_me {
        return Ok(accepted("ignored", json!({"reason": "own message"})));
    }
    let (chat_id, kind) = classify_chat_id(&message.from);
    if kind == ChatKind::Other {
        return Ok(accepted(
            "ignored",
            json!({"reason": "not a one-to-one chat"}),
        ));
    }
    if message.id.is_empty() || message.id.len() > 256 {
        return Err(ApiError::Unprocessable(
            "payload.id must be a WAHA message id".into(),
        ));
    }

    let inbox_id = store_inbox(
        state,
        channel.tenant_id,
        channel_id,
        &message.id,
        &envelope.payload,
    )
    .await?;
    let signal = InboundSignal {
        inbox_id,
        provider_ts_ms: message.timestamp.saturating_mul(1000),
        trace: ventros_activities::traces::current_trace(),
    };
    let workflow_id =
        hand_to_conversation(state, channel.tenant_id, channel_id, &chat_id, signal).await?;
    Ok(accepted(
        "accepted",
        json!({"inbox_id": inbox_id, "workflow_id": workflow_id}),
    ))
}

/// Signals-with-start the chat's Conversation workflow with one stored inbound message. Answers
/// only once Temporal has accepted it; 503 otherwise (the provider retries onto the same inbox row).
pub(crate) async fn hand_to_conversation(
    state: &AppState,
    tenant_id: Uuid,
    channel_id: Uuid,
    chat_id: &str,
    signal: InboundSignal,
) -> Result<String, ApiError> {
    let client = state.temporal.client().await?;
    let started = tokio::time::timeout(
        state.config.temporal_deadline,
        ventros_activities::inbox::signal_conversation(
            &client,
            &state.config.task_queue,
            tenant_id,
            channel_id,
            chat_id,
            signal,
        ),
    )
    .await;
    let workflow_id = ids::conversation_workflow_id(
        tenant_id,
        channel_id,
        &ids::chat_key(tenant_id, channel_id, chat_id),
    );
    match started {
        Ok(Ok(_)) => {
            tracing::info!(tenant.id = %tenant_id, channel.id = %channel_id, workflow.id = %workflow_id, "inbound message handed to Temporal");
            Ok(workflow_id)
        }
        Ok(Err(err)) => {
            tracing::error!(error = %err, workflow.id = %workflow_id, "signal-with-start failed");
            Err(ApiError::Unavailable(
                "could not hand the message to Temporal; retry".into(),
            ))
        }
        Err(_) => {
            tracing::error!(workflow.id = %workflow_id, "signal-with-start timed out");
            Err(ApiError::Unavailable(
                "Temporal did not answer in time; retry".into(),
            ))
        }
    }
}

/// What became of a receipt.
pub(crate) enum ReceiptOutcome {
    /// Recorded here (the message's workflow handed its receipts to the webhook).
    Recorded,
    Signalled,
    /// The status is already recorded (or further along).
    AlreadyRecorded,
    /// The message's workflow has finished tracking it.
    TrackingEnded,
}

/// A message a receipt is for, as stored.
pub(crate) struct ReceiptTarget {
    pub message_id: Uuid,
    /// `messages.status_rank`.
    pub rank: i32,
    /// `messages.receipts_in_workflow`: its OutboundMessage run follows receipts as signals.
    pub in_workflow: bool,
}

/// Applies a receipt to one message inside the caller's transaction (the one that found the
/// message, so that a receipt costs one transaction): records it there when the message's workflow
/// handed its receipts over. Returns `None` when that workflow follows receipts as signals: the
/// caller commits, then calls [`signal_receipt`]. Nothing happens when the receipt cannot move the
/// recorded status forward (a SERVER after the send recorded `sent`, a late DEVICE after READ).
pub(crate) async fn record_receipt(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant_id: Uuid,
    target: &ReceiptTarget,
    status: DeliveryStatus,
) -> Result<Option<ReceiptOutcome>, ApiError> {
    if status.rank() <= target.rank && status != DeliveryStatus::Failed {
        return Ok(Some(ReceiptOutcome::AlreadyRecorded));
    }
    if target.in_workflow {
        return Ok(None);
    }
    let moved =
        ventros_store::record_status_in(tx, tenant_id, target.message_id, status, None).await?;
    Ok(Some(if moved {
        ReceiptOutcome::Recorded
    } else {
        ReceiptOutcome::AlreadyRecorded
    }))
}

/// Hands a receipt to the OutboundMessage workflow of one message (runs from before receipts
/// were recorded by the webhook).
pub(crate) async fn signal_receipt(
    state: &AppState,
    tenant_id: Uuid,
    message_id: Uuid,
    status: DeliveryStatus,
) -> Result<ReceiptOutcome, ApiError> {
    let workflow_id = ids::outbound_workflow_id(tenant_id, message_id);
    let client = state.temporal.client().await?;
    let handle = client.get_workflow_handle::<OutboundMessage>(workflow_id.clone());
    let sent = tokio::time::timeout(
        state.config.temporal_deadline,
        handle.signal(
            OutboundMessage::ack,
            AckSignal { status },
            WorkflowSignalOptions::default(),
        ),
    )
    .await;
    match sent {
        Ok(Ok(())) => Ok(ReceiptOutcome::Signalled),
        // Tracking ended (read, failed, undelivered, or the read window passed).
        Ok(Err(WorkflowInteractionError::NotFound(_))) => Ok(ReceiptOutcome::TrackingEnded),
        Ok(Err(err)) => {
            tracing::error!(error = %err, workflow.id = %workflow_id, "ack signal failed");
            Err(ApiError::Unavailable(
                "could not hand the receipt to Temporal; retry".into(),
            ))
        }
        Err(_) => Err(ApiError::Unavailable(
            "Temporal did not answer in time; retry".into(),
        )),
    }
}

async fn on_ack(
    state: &AppState,
    channel_id: Uuid,
    channel: &WahaChannel,
    envelope: WebhookEnvelope,
) -> Result<Response, ApiError> {
    let ack: AckPayload = serde_json::from_value(envelope.payload)
        .map_err(|e| ApiError::Unprocessable(format!("invalid message.ack payload: {e}")))?;
    let status = DeliveryStatus::from_waha_ack(ack.ack)
        .ok_or_else(|| ApiError::Unprocessable(format!("unknown ack value {}", ack.ack)))?;
    if status == DeliveryStatus::Pending {
        return Ok(accepted(
            "ignored",
            json!({"reason": "PENDING carries no news"}),
        ));
    }
    let mut tx = crate::db::tenant_tx(&state.pool, channel.tenant_id).await?;
    // Under the same lock the send takes to record this id: either the id is recorded and visible
    // here, or the receipt held below is visible to the send.
    ventros_store::lock_provider_id(&mut tx, &ack.id).await?;
    let message = sqlx::query!(
        "SELECT id, status_rank, receipts_in_workflow FROM messages
          WHERE channel_id = $1 AND tenant_id = $2 AND provider_message_id = $3 AND direction = 'outbound'",
        channel_id,
        channel.tenant_id,
        ack.id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|m| ReceiptTarget {
        message_id: m.id,
        rank: m.status_rank,
        in_workflow: m.receipts_in_workflow,
    });
    let Some(target) = message else {
        if status == DeliveryStatus::Sent {
            return Ok(accepted(
                "ignored",
                json!({"reason": "a send records sent itself"}),
            ));
        }
        // WAHA can report a message before its sendText call has answered us: keep the receipt
        // for the send to apply (a message sent from outside Ventros never claims it; it ages out).
        sqlx::query!(
            "INSERT INTO held_receipts (tenant_id, channel_id, provider_message_id, status) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            channel.tenant_id,
            channel_id,
            ack.id,
            status.as_str(),
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "DELETE FROM held_receipts WHERE channel_id = $1 AND received_at < now() - interval '7 days'",
            channel_id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok((StatusCode::ACCEPTED, Json(json!({"status": "held", "reason": "the send has not recorded this id yet; applied when it does"}))).into_response());
    };
    let recorded = record_receipt(&mut tx, channel.tenant_id, &target, status).await?;
    tx.commit().await?;
    let message_id = target.message_id;
    let outcome = match recorded {
        Some(outcome) => outcome,
        None => signal_receipt(state, channel.tenant_id, message_id, status).await?,
    };
    match outcome {
        ReceiptOutcome::Signalled | ReceiptOutcome::Recorded => {
            Ok(accepted("accepted", json!({"message_id": message_id})))
        }
        ReceiptOutcome::AlreadyRecorded => Ok(accepted(
            "ignored",
            json!({"reason": "status already recorded", "message_id": message_id}),
        )),
        ReceiptOutcome::TrackingEnded => Ok(accepted(
            "ignored",
            json!({"reason": "message tracking has ended", "message_id": message_id}),
        )),
    }
}

async fn on_session_status(
    state: &AppState,
    channel_id: Uuid,
    channel: &WahaChannel,
    envelope: WebhookEnvelope,
) -> Result<Response, ApiError> {
    let payload: SessionStatusPayload = serde_json::from_value(envelope.payload)
        .map_err(|e| ApiError::Unprocessable(format!("invalid session.status payload: {e}")))?;
    if !SESSION_STATUSES.contains(&payload.status.as_str()) {
        return Err(ApiError::Unprocessable(format!(
            "unknown session status {:?}",
            payload.status
        )));
    }
    let at: DateTime<Utc> = ventros_channels::provider::provider_time(
        envelope
            .timestamp
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
    );
    let mut tx = crate::db::tenant_tx(&state.pool, channel.tenant_id).await?;
    let updated = sqlx::query!(
        "UPDATE channels SET status = $2, status_changed_at = $3
         WHERE id = $1 AND (status_changed_at IS NULL OR status_changed_at <= $3)",
        channel_id,
        payload.status,
        at,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated > 0 {
        // The web app shows the session's status live (the QR code until a phone is linked).
        ventros_store::append_outbox(
            &mut tx,
            channel.tenant_id,
            ventros_domain::EventType::ChannelStatusChanged,
            "channel",
            channel_id,
            json!({"channel_id": channel_id, "status": payload.status}),
        )
        .await?;
    }
    tx.commit().await?;
    let outcome = if updated > 0 { "accepted" } else { "ignored" };
    Ok(accepted(outcome, json!({"channel_status": payload.status})))
}
