//! `GET|POST /webhooks/meta/{channel_id}`: Messenger and Instagram webhooks into Temporal.
//!
//! GET is the subscription handshake: `hub.mode=subscribe` with the channel's Verify Token is
//! answered with the raw `hub.challenge`, anything else with 403.
//!
//! POST, each check failing with a problem+json and changing nothing: body size, known Meta
//! channel, `X-Hub-Signature-256` over the raw bytes (401), JSON (400), `object` of the channel's
//! product and well-formed entries (422). Then, for every entry of this page, in timestamp order:
//! - a customer message or postback: stored raw in the webhook inbox (deduplicated on `mid`) and
//!   handed to the chat's Conversation workflow, exactly as WAHA messages are;
//! - the echo of our own message: never treated as inbound; it records the send (our message id
//!   travels in `metadata`) and Meta's timestamp for it, which watermarks are compared with;
//! - `delivery` (`mids` or `watermark`) and `read`/`messaging_seen` (`watermark`): every outbound
//!   message of the conversation up to the watermark gets the receipt, through its
//!   OutboundMessage workflow; statuses only move forward;
//! - a reaction: kept on the message it reacts to.
//!
//! Meta wants an answer within 5 s and retries failures; everything here is a few SQL statements
//! and Temporal signals, and a retry lands on the same rows.

use axum::body::{Body, to_bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use uuid::Uuid;
use ventros_channels::meta::{
    HEADER_SIGNATURE, MetaConfig, MetaEvent, MetaPlatform, parse_webhook, verify_signature,
};
use ventros_channels::provider::ProviderConfig;
use ventros_domain::EventType;
use ventros_workflows::{DeliveryStatus, InboundSignal};

use crate::AppState;
use crate::error::ApiError;
use crate::webhooks::{
    ReceiptOutcome, ReceiptTarget, accepted, hand_to_conversation, record_receipt, signal_receipt,
    store_inbox, webhook_channel,
};

struct MetaChannel {
    tenant_id: Uuid,
    channel_id: Uuid,
    platform: MetaPlatform,
    config: MetaConfig,
}

async fn load_meta_channel(state: &AppState, channel_id: &str) -> Result<MetaChannel, ApiError> {
    let channel_id = crate::parse_id(channel_id, "channel")?;
    match webhook_channel(state, channel_id).await? {
        (tenant_id, ProviderConfig::Meta { platform, config }) => Ok(MetaChannel {
            tenant_id,
            channel_id,
            platform,
            config,
        }),
        _ => Err(ApiError::NotFound(format!(
            "channel {channel_id} not found"
        ))),
    }
}

#[derive(Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// The verify-token handshake Meta performs when the webhook is configured.
pub async fn meta_verify(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    Query(q): Query<Handshake>,
) -> Result<Response, ApiError> {
    let channel = load_meta_channel(&state, &channel_id).await?;
    let token_matches = q
        .verify_token
        .as_deref()
        .is_some_and(|t| bool::from(t.as_bytes().ct_eq(channel.config.verify_token.as_bytes())));
    match (q.mode.as_deref(), q.challenge) {
        (Some("subscribe"), Some(challenge)) if token_matches && challenge.len() <= 256 => {
            tracing::info!(channel.id = %channel.channel_id, "Meta webhook subscription verified");
            Ok((StatusCode::OK, [("content-type", "text/plain")], challenge).into_response())
        }
        _ => {
            tracing::warn!(channel.id = %channel.channel_id, "Meta webhook handshake refused");
            Err(ApiError::Forbidden("hub.mode must be subscribe and hub.verify_token must match the channel's verify token".into()))
        }
    }
}

/// What one POST did, for the answer (Meta ignores the body; operators and tests read it).
#[derive(Default)]
struct Tally {
    messages: Vec<Value>,
    echoes: usize,
    receipts: usize,
    reactions: usize,
    ignored: Vec<String>,
}

pub async fn meta_webhook(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let limit = state.config.webhook_max_bytes;
    let body = to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(limit))?;
    let channel = load_meta_channel(&state, &channel_id).await?;
    let signature = headers.get(HEADER_SIGNATURE).and_then(|v| v.to_str().ok());
    if !signature.is_some_and(|sig| verify_signature(&channel.config.app_secret, &body, sig)) {
        tracing::warn!(channel.id = %channel.channel_id, "Meta webhook rejected: missing or invalid signature");
        return Err(ApiError::Unauthorized(
            "X-Hub-Signature-256 is missing or does not match the body".into(),
        ));
    }
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("not JSON: {e}")))?;
    let events = parse_webhook(&value, channel.platform, &channel.config.page_id)
        .map_err(|e| ApiError::Unprocessable(e.0))?;

    let mut tally = Tally::default();
    let mut messages = Vec::new();
    let mut rest = Vec::new();
    for event in events {
        match event {
            MetaEvent::Message(m) => messages.push(m),
            other => rest.push(other),
        }
    }
    // Meta may deliver a backlog out of order: customer messages go in by their own timestamps.
    messages.sort_by(|a, b| (a.timestamp_ms, &a.mid).cmp(&(b.timestamp_ms, &b.mid)));
    for message in messages {
        let payload = serde_json::to_value(&message).map_err(|e| ApiError::Internal(e.into()))?;
        let inbox_id = store_inbox(
            &state,
            channel.tenant_id,
            channel.channel_id,
            &message.mid,
            &payload,
        )
        .await?;
        let signal = InboundSignal {
            inbox_id,
            provider_ts_ms: message.timestamp_ms,
            trace: ventros_activities::traces::current_trace(),
        };
        let workflow_id = hand_to_conversation(
            &state,
            channel.tenant_id,
            channel.channel_id,
            &message.sender_id,
            signal,
        )
        .await?;
        tally
            .messages
            .push(json!({"inbox_id": inbox_id, "workflow_id": workflow_id}));
    }
    for event in rest {
        match event {
            MetaEvent::Message(_) => unreachable!("messages were taken above"),
            MetaEvent::Echo {
                mid,
                metadata,
                timestamp_ms,
                ..
            } => {
                tally.echoes += 1;
                if let Some(reason) =
                    on_echo(&state, &channel, &mid, metadata.as_deref(), timestamp_ms).await?
                {
                    tally.ignored.push(reason);
                }
            }
            MetaEvent::Delivered {
                user_id,
                mids,
                watermark_ms,
            } => {
                tally.receipts += on_receipt(
                    &state,
                    &channel,
                    &user_id,
                    &mids,
                    watermark_ms,
                    DeliveryStatus::Delivered,
                )
                .await?;
            }
            MetaEvent::Read {
                user_id,
                watermark_ms,
                mid,
            } => {
                let mids: Vec<String> = mid.into_iter().collect();
                tally.receipts += on_receipt(
                    &state,
                    &channel,
                    &user_id,
                    &mids,
                    watermark_ms,
                    DeliveryStatus::Read,
                )
                .await?;
            }
            MetaEvent::Reaction {
                mid,
                emoji,
                reaction,
                removed,
                ..
            } => {
                tally.reactions += on_reaction(
                    &state,
                    &channel,
                    &mid,
                    if removed { None } else { emoji.or(reaction) },
                )
                .await?;
            }
            MetaEvent::Ignored { reason } => tally.ignored.push(reason),
        }
    }
    Ok(accepted(
        "accepted",
        json!({"messages": tally.messages, "echoes": tally.echoes, "receipts": tally.receipts, "reactions": tally.reactions, "ignored": tally.ignored}),
    ))
}

/// A Meta timestamp, clamped to our clock (plus skew): it orders messages and moves watermarks.
fn from_millis(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| ventros_channels::provider::provider_time(Some(t)))
}

/// Our own message coming back. Records the send when the echo beats the Send API's answer (or
/// the answer was lost in a crash), and stamps Meta's time on it for watermark comparisons.
/// Returns why it was ignored, if it was.
async fn on_echo(
    state: &AppState,
    channel: &MetaChannel,
    mid: &str,
    metadata: Option<&str>,
    timestamp_ms: i64,
) -> Result<Option<String>, ApiError> {
    let mut tx = crate::db::tenant_tx(&state.pool, channel.tenant_id).await?;
    let ours = metadata.and_then(|m| Uuid::parse_str(m).ok());
    if let Some(message_id) = ours {
        let exists = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM messages WHERE id = $1 AND channel_id = $2 AND direction = 'outbound') AS "exists!""#,
            message_id,
            channel.channel_id,
        )
        .fetch_one(&mut *tx)
        .await?;
        if exists {
            ventros_store::record_sent_in(&mut tx, channel.tenant_id, message_id, mid).await?;
        }
    }
    let stamped = sqlx::query!(
        "UPDATE messages SET provider_timestamp = $3
          WHERE channel_id = $1 AND provider_message_id = $2 AND direction = 'outbound' AND $3::timestamptz IS NOT NULL",
        channel.channel_id,
        mid,
        from_millis(timestamp_ms).filter(|_| timestamp_ms > 0),
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok((stamped == 0 && ours.is_none())
        .then(|| "echo of a message not sent through Ventros".to_owned()))
}

/// A delivery or read receipt: the listed messages, and every outbound message of this customer's
/// conversation sent up to the watermark, move to `status` (never backwards). Returns how many
/// messages were handed a receipt.
async fn on_receipt(
    state: &AppState,
    channel: &MetaChannel,
    user_id: &str,
    mids: &[String],
    watermark_ms: Option<i64>,
    status: DeliveryStatus,
) -> Result<usize, ApiError> {
    let mut tx = crate::db::tenant_tx(&state.pool, channel.tenant_id).await?;
    let targets: Vec<ReceiptTarget> = sqlx::query!(
        "SELECT m.id, m.status_rank, m.receipts_in_workflow FROM messages m
           JOIN contact_identities i ON i.id = m.identity_id
          WHERE m.channel_id = $1 AND i.channel_id = $1 AND i.external_id = $2 AND m.direction = 'outbound'
            AND m.provider_message_id IS NOT NULL AND m.status NOT IN ('failed', 'undelivered') AND m.status_rank < $5
            AND (m.provider_message_id = ANY($3) OR ($4::timestamptz IS NOT NULL AND m.provider_timestamp <= $4))
          ORDER BY m.provider_timestamp",
        channel.channel_id,
        user_id,
        mids,
        watermark_ms.and_then(from_millis),
        status.rank(),
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|m| ReceiptTarget {
        message_id: m.id,
        rank: m.status_rank,
        in_workflow: m.receipts_in_workflow,
    })
    .collect();
    let mut handed = 0;
    let mut to_signal = Vec::new();
    for target in &targets {
        match record_receipt(&mut tx, channel.tenant_id, target, status).await? {
            Some(ReceiptOutcome::Recorded) => handed += 1,
            Some(_) => {}
            None => to_signal.push(target.message_id),
        }
    }
    tx.commit().await?;
    for message_id in to_signal {
        if matches!(
            signal_receipt(state, channel.tenant_id, message_id, status).await?,
            ReceiptOutcome::Signalled
        ) {
            handed += 1;
        }
    }
    Ok(handed)
}

/// The customer's reaction to one of the messages (None: removed).
async fn on_reaction(
    state: &AppState,
    channel: &MetaChannel,
    mid: &str,
    reaction: Option<String>,
) -> Result<usize, ApiError> {
    let reaction: Option<String> = reaction.map(|r| r.chars().take(64).collect());
    let mut tx = crate::db::tenant_tx(&state.pool, channel.tenant_id).await?;
    let message = sqlx::query_scalar!(
        "UPDATE messages SET customer_reaction = $3 WHERE channel_id = $1 AND provider_message_id = $2 RETURNING id",
        channel.channel_id,
        mid,
        reaction,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(message_id) = message else {
        return Ok(0);
    };
    ventros_store::append_outbox(
        &mut tx,
        channel.tenant_id,
        EventType::MessageReaction,
        "message",
        message_id,
        json!({"message_id": message_id, "reaction": reaction}),
    )
    .await?;
    tx.commit().await?;
    Ok(1)
}
