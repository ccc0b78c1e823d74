//! The SQL behind the activities. Each function is one transaction and is idempotent: running it
//! again after a crash (Temporal retries activities) finds its own earlier work and answers the
//! same way. Every state change writes its outbox event in the same transaction.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;
use ventros_domain::{DealStatus, EventType};
use ventros_proto::v1::ActionType;
use ventros_workflows::{
    AgentExecuteInput, AgentExecuteOutput, ApplyActionsOutput, Assignment, DeliveryStatus,
    IdentityHint, PersistInboundInput, PersistInboundOutput, PlanAutoReplyInput,
    PlanAutoReplyOutput, PlannedReply,
};

use ventros_channels::channel::{AutoReply, ChannelSettings, choose_auto_reply};
use ventros_channels::provider::{ProviderConfig, normalise_inbound};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Data that can never be processed (a corrupt inbox row, a missing channel): retrying
    /// cannot help.
    #[error("{0}")]
    Invalid(String),
}

/// Appends a domain event to the outbox inside the caller's transaction.
pub async fn append_outbox(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    event_type: EventType,
    aggregate_type: &str,
    aggregate_id: Uuid,
    payload: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO outbox_events (tenant_id, event_type, aggregate_type, aggregate_id, payload)
         VALUES ($1, $2, $3, $4, $5)",
        tenant_id,
        event_type.as_str(),
        aggregate_type,
        aggregate_id,
        payload,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A channel's row, decoded.
#[derive(Debug, Clone)]
pub struct ChannelRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: String,
    pub provider: ProviderConfig,
    pub settings: ChannelSettings,
}

pub async fn load_channel(
    pool: &PgPool,
    tenant_id: Uuid,
    channel_id: Uuid,
) -> Result<ChannelRow, StoreError> {
    let row = sqlx::query!(
        "SELECT id, tenant_id, kind, provider_config, settings FROM channels WHERE id = $1 AND tenant_id = $2",
        channel_id,
        tenant_id,
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| StoreError::Invalid(format!("channel {channel_id} does not exist")))?;
    ChannelRow::decode(
        row.id,
        row.tenant_id,
        row.kind,
        row.provider_config,
        row.settings,
    )
}

impl ChannelRow {
    /// The row with its provider settings and channel settings parsed.
    pub fn decode(
        id: Uuid,
        tenant_id: Uuid,
        kind: String,
        provider: Value,
        settings: Value,
    ) -> Result<ChannelRow, StoreError> {
        let provider = ProviderConfig::decode(&kind, provider)
            .map_err(|e| StoreError::Invalid(format!("channel {e}")))?;
        Ok(ChannelRow {
            id,
            tenant_id,
            kind,
            provider,
            settings: serde_json::from_value(settings)
                .map_err(|e| StoreError::Invalid(format!("channel settings: {e}")))?,
        })
    }
}

/// The first of `provider_ids` (in order) that no message of the channel has recorded yet.
pub async fn first_unrecorded(
    pool: &PgPool,
    channel_id: Uuid,
    provider_ids: &[String],
) -> Result<Option<String>, StoreError> {
    if provider_ids.is_empty() {
        return Ok(None);
    }
    let recorded = sqlx::query_scalar!(
        "SELECT provider_message_id FROM messages WHERE channel_id = $1 AND provider_message_id = ANY($2)",
        channel_id,
        provider_ids,
    )
    .fetch_all(pool)
    .await?;
    Ok(provider_ids
        .iter()
        .find(|id| !recorded.iter().any(|r| r.as_ref() == Some(*id)))
        .cloned())
}

/// Stores a batch of inbound messages (inbox rows) in order: contact, identity and session upserts,
/// the messages themselves (deduplicated on the provider id), and their outbox events.
pub async fn persist_inbound(
    pool: &PgPool,
    input: &PersistInboundInput,
) -> Result<PersistInboundOutput, StoreError> {
    let channel = load_channel(pool, input.tenant_id, input.channel_id).await?;
    let mut tx = pool.begin().await?;
    let mut out = PersistInboundOutput {
        contact_id: None,
        session_id: None,
        session_opened: false,
        new_message_ids: Vec::new(),
        duplicates: 0,
        timing: channel.settings.timing(),
        ai: channel
            .settings
            .ai
            .as_ref()
            .map(ventros_channels::channel::AiSettings::reply_config),
        campaign_replies: Vec::new(),
        identity_hint: None,
    };

    for inbox_id in &input.inbox_ids {
        let payload = sqlx::query_scalar!(
            "SELECT payload FROM webhook_inbox WHERE id = $1 AND tenant_id = $2 AND channel_id = $3",
            inbox_id,
            input.tenant_id,
            input.channel_id,
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::Invalid(format!("inbox row {inbox_id} does not exist")))?;
        let message = normalise_inbound(&channel.kind, payload).map_err(|e| {
            StoreError::Invalid(format!("inbox row {inbox_id} cannot be read: {e}"))
        })?;

        let (contact_id, identity_id, new_identity) = upsert_contact(
            &mut tx,
            input.tenant_id,
            input.channel_id,
            message.identity_kind,
            &message.sender,
            message.display_name.clone(),
        )
        .await?;
        if channel.kind == "waha" {
            let hint = identity_hint(
                &mut tx,
                contact_id,
                identity_id,
                message.identity_kind,
                message.alternate_sender.clone(),
                new_identity,
            )
            .await?;
            // The newest message's view wins, but a first message's "new" is kept.
            let was_new = out
                .identity_hint
                .as_ref()
                .is_some_and(|h| h.new_identity && h.identity_id == identity_id);
            out.identity_hint = hint.map(|mut h| {
                h.new_identity |= was_new;
                h
            });
        }
        let (session_id, opened) = open_session(&mut tx, input, contact_id, identity_id).await?;
        out.contact_id = Some(contact_id);
        out.session_id = Some(session_id);
        out.session_opened |= opened;

        let provider_ts = message.timestamp;
        let media = message.media.clone();
        let message_id = Uuid::now_v7();
        let inserted = sqlx::query_scalar!(
            "INSERT INTO messages (id, tenant_id, channel_id, session_id, contact_id, identity_id, direction,
                                   provider_message_id, provider_timestamp, body, media, status, status_rank,
                                   handled_by_workflow, ingest_batch)
             VALUES ($1, $2, $3, $4, $5, $6, 'inbound', $7, $8, $9, $10, 'received', 0, $11, $12)
             ON CONFLICT (channel_id, provider_message_id) WHERE provider_message_id IS NOT NULL DO NOTHING
             RETURNING id",
            message_id,
            input.tenant_id,
            input.channel_id,
            session_id,
            contact_id,
            identity_id,
            message.provider_message_id,
            provider_ts,
            message.text,
            media,
            input.workflow_id,
            input.batch_key,
        )
        .fetch_optional(&mut *tx)
        .await?;

        match inserted {
            Some(id) => {
                sqlx::query!(
                    "INSERT INTO message_status_history (tenant_id, message_id, status, occurred_at) VALUES ($1, $2, 'received', $3)",
                    input.tenant_id,
                    id,
                    provider_ts,
                )
                .execute(&mut *tx)
                .await?;
                append_outbox(
                    &mut tx,
                    input.tenant_id,
                    EventType::MessageReceived,
                    "message",
                    id,
                    json!({"message_id": id, "session_id": session_id, "contact_id": contact_id, "channel_id": input.channel_id,
                           "provider_timestamp": provider_ts}),
                )
                .await?;
                sqlx::query!(
                    "UPDATE conversation_sessions SET last_activity_at = now() WHERE id = $1",
                    session_id
                )
                .execute(&mut *tx)
                .await?;
                out.new_message_ids.push(id);
            }
            None => {
                // Stored before: by this very batch (a retry after a crash), or a duplicate delivery.
                let stored = sqlx::query!(
                    "SELECT id, ingest_batch FROM messages WHERE channel_id = $1 AND provider_message_id = $2",
                    input.channel_id,
                    message.provider_message_id,
                )
                .fetch_one(&mut *tx)
                .await?;
                if stored.ingest_batch.as_deref() == Some(input.batch_key.as_str()) {
                    out.new_message_ids.push(stored.id);
                } else {
                    out.duplicates += 1;
                }
            }
        }
        sqlx::query!(
            "UPDATE webhook_inbox SET processed_at = coalesce(processed_at, now()) WHERE id = $1",
            inbox_id
        )
        .execute(&mut *tx)
        .await?;
    }
    if let (Some(contact_id), Some(first)) = (out.contact_id, out.new_message_ids.first()) {
        out.campaign_replies = crate::campaigns::reply_targets(
            &mut tx,
            input.tenant_id,
            input.channel_id,
            contact_id,
            *first,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// Whether linking this WhatsApp sender's other address is worth a try: the message names it and the
/// contact does not hold it yet, the address is new here (WAHA may know its other half), or a hidden
/// id's contact still has no phone number on this channel.
async fn identity_hint(
    tx: &mut Transaction<'_, Postgres>,
    contact_id: Uuid,
    identity_id: Uuid,
    identity_kind: &str,
    alternate: Option<String>,
    new_identity: bool,
) -> Result<Option<IdentityHint>, StoreError> {
    let held: Vec<(String, String)> = sqlx::query!(
        "SELECT kind, external_id FROM contact_identities WHERE contact_id = $1 AND channel_id = (SELECT channel_id FROM contact_identities WHERE id = $2)",
        contact_id,
        identity_id,
    )
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|i| (i.kind, i.external_id))
    .collect();
    let alternate = alternate.filter(|alt| !held.iter().any(|(_, id)| id == alt));
    let has_phone = held.iter().any(|(kind, _)| kind == "wa_user");
    let unresolved_lid = identity_kind == "wa_lid" && !has_phone;
    // A new phone number is only looked up where hidden ids without a phone number exist.
    let new_phone = new_identity
        && identity_kind == "wa_user"
        && held.len() == 1
        && sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM contact_identities l WHERE l.channel_id = (SELECT channel_id FROM contact_identities WHERE id = $1)
                 AND l.kind = 'wa_lid'
                 AND NOT EXISTS (SELECT 1 FROM contact_identities p WHERE p.contact_id = l.contact_id AND p.channel_id = l.channel_id AND p.kind = 'wa_user')) AS "exists!""#,
            identity_id
        )
        .fetch_one(&mut **tx)
        .await?;
    let worth_it = alternate.is_some() || unresolved_lid || new_phone;
    Ok(worth_it.then_some(IdentityHint {
        identity_id,
        alternate,
        new_identity,
    }))
}

/// The contact and identity of a sender, created on its first message; the flag says it was.
async fn upsert_contact(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    channel_id: Uuid,
    identity_kind: &str,
    chat_id: &str,
    display_name: Option<String>,
) -> Result<(Uuid, Uuid, bool), StoreError> {
    let existing = sqlx::query!(
        "SELECT contact_id, id FROM contact_identities WHERE channel_id = $1 AND external_id = $2",
        channel_id,
        chat_id,
    )
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(identity) = existing {
        if let Some(name) = display_name {
            sqlx::query!(
                "UPDATE contacts SET display_name = $2 WHERE id = $1 AND display_name IS NULL",
                identity.contact_id,
                name,
            )
            .execute(&mut **tx)
            .await?;
        }
        return Ok((identity.contact_id, identity.id, false));
    }
    let contact_id = Uuid::now_v7();
    let identity_id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO contacts (id, tenant_id, display_name) VALUES ($1, $2, $3)",
        contact_id,
        tenant_id,
        display_name,
    )
    .execute(&mut **tx)
    .await?;
    // One workflow per chat means no concurrent insert for the same identity; the unique
    // constraint still guards against it.
    sqlx::query!(
        "INSERT INTO contact_identities (id, tenant_id, contact_id, channel_id, kind, external_id) VALUES ($1, $2, $3, $4, $5, $6)",
        identity_id,
        tenant_id,
        contact_id,
        channel_id,
        identity_kind,
        chat_id,
    )
    .execute(&mut **tx)
    .await?;
    append_outbox(
        tx,
        tenant_id,
        EventType::ContactCreated,
        "contact",
        contact_id,
        json!({"contact_id": contact_id, "channel_id": channel_id}),
    )
    .await?;
    Ok((contact_id, identity_id, true))
}

/// The open session of this identity, or a new one. Returns whether *this batch* opened it, so a
/// retried batch still knows that a greeting is due.
async fn open_session(
    tx: &mut Transaction<'_, Postgres>,
    input: &PersistInboundInput,
    contact_id: Uuid,
    identity_id: Uuid,
) -> Result<(Uuid, bool), StoreError> {
    let existing = sqlx::query!(
        "SELECT id, opened_by_batch FROM conversation_sessions WHERE channel_id = $1 AND identity_id = $2 AND status = 'open'",
        input.channel_id,
        identity_id,
    )
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(session) = existing {
        return Ok((session.id, session.opened_by_batch == input.batch_key));
    }
    let session_id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO conversation_sessions (id, tenant_id, channel_id, contact_id, identity_id, workflow_id, assigned_to, opened_by_batch)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        session_id,
        input.tenant_id,
        input.channel_id,
        contact_id,
        identity_id,
        input.workflow_id,
        input.assignment.as_str(),
        input.batch_key,
    )
    .execute(&mut **tx)
    .await?;
    append_outbox(
        tx,
        input.tenant_id,
        EventType::SessionOpened,
        "session",
        session_id,
        json!({"session_id": session_id, "contact_id": contact_id, "channel_id": input.channel_id}),
    )
    .await?;
    Ok((session_id, true))
}

/// Applies the auto-reply rules and, when one fires, writes the reply as a `pending` outbound
/// message with the id the workflow minted (so a retry finds it instead of writing another).
pub async fn plan_auto_reply(
    pool: &PgPool,
    input: &PlanAutoReplyInput,
) -> Result<PlanAutoReplyOutput, StoreError> {
    let mut tx = pool.begin().await?;
    let existing = sqlx::query_scalar!(
        "SELECT origin FROM messages WHERE id = $1 AND tenant_id = $2",
        input.reply_message_id,
        input.tenant_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(origin) = existing {
        return Ok(PlanAutoReplyOutput {
            reply: Some(PlannedReply {
                message_id: input.reply_message_id,
                origin: origin.unwrap_or_default(),
            }),
            reason: "already_planned".into(),
        });
    }
    let channel = sqlx::query!(
        "SELECT id, tenant_id, kind, provider_config, settings FROM channels WHERE id = $1 AND tenant_id = $2",
        input.channel_id,
        input.tenant_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::Invalid(format!("channel {} does not exist", input.channel_id)))?;
    let channel = ChannelRow::decode(
        channel.id,
        channel.tenant_id,
        channel.kind,
        channel.provider_config,
        channel.settings,
    )?;
    let session = sqlx::query!(
        "SELECT contact_id, identity_id, status, assigned_to, last_away_sent_at FROM conversation_sessions
         WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
        input.session_id,
        input.tenant_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::Invalid(format!("session {} does not exist", input.session_id)))?;
    let (status, assigned_to) = (session.status, session.assigned_to);
    if status != "open" || assigned_to != Assignment::Bot.as_str() {
        return Ok(PlanAutoReplyOutput {
            reply: None,
            reason: format!("session_{status}_{assigned_to}"),
        });
    }
    let now = Utc::now();
    let last_away = session.last_away_sent_at;
    let (origin, text) =
        match choose_auto_reply(&channel.settings, now, input.session_opened, last_away) {
            Ok(AutoReply::Greeting(t)) => ("greeting", t),
            Ok(AutoReply::Away(t)) => ("away", t),
            Err(reason) => {
                return Ok(PlanAutoReplyOutput {
                    reply: None,
                    reason: reason.into(),
                });
            }
        };
    sqlx::query!(
        "INSERT INTO messages (id, tenant_id, channel_id, session_id, contact_id, identity_id, direction, body,
                               status, status_rank, origin, handled_by_workflow)
         VALUES ($1, $2, $3, $4, $5, $6, 'outbound', $7, 'pending', 0, $8, $9)",
        input.reply_message_id,
        input.tenant_id,
        input.channel_id,
        input.session_id,
        session.contact_id,
        session.identity_id,
        text,
        origin,
        ventros_workflows::ids::outbound_workflow_id(input.tenant_id, input.reply_message_id),
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO message_status_history (tenant_id, message_id, status) VALUES ($1, $2, 'pending')",
        input.tenant_id,
        input.reply_message_id,
    )
    .execute(&mut *tx)
    .await?;
    if origin == "away" {
        sqlx::query!(
            "UPDATE conversation_sessions SET last_away_sent_at = $2 WHERE id = $1",
            input.session_id,
            now,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(PlanAutoReplyOutput {
        reply: Some(PlannedReply {
            message_id: input.reply_message_id,
            origin: origin.into(),
        }),
        reason: origin.into(),
    })
}

/// Turns an operator reply the API accepted (`outbound_requests` row `message_id`) into a pending
/// outbound message with the same id, once: a retry finds the message and does nothing.
pub async fn compose_operator_message(
    pool: &PgPool,
    tenant_id: Uuid,
    message_id: Uuid,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query!(
        "INSERT INTO messages (id, tenant_id, channel_id, session_id, contact_id, identity_id, direction, body,
                               status, status_rank, origin, handled_by_workflow)
         SELECT r.id, r.tenant_id, s.channel_id, s.id, s.contact_id, s.identity_id, 'outbound', r.body,
                'pending', 0, 'operator', $3
           FROM outbound_requests r JOIN conversation_sessions s ON s.id = r.session_id
          WHERE r.id = $1 AND r.tenant_id = $2
         ON CONFLICT (id) DO NOTHING",
        message_id,
        tenant_id,
        ventros_workflows::ids::outbound_workflow_id(tenant_id, message_id),
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        let exists = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM messages WHERE id = $1 AND tenant_id = $2) AS "exists!""#,
            message_id,
            tenant_id,
        )
        .fetch_one(&mut *tx)
        .await?;
        if !exists {
            return Err(StoreError::Invalid(format!(
                "operator reply {message_id} does not exist"
            )));
        }
        return Ok(());
    }
    sqlx::query!(
        "INSERT INTO message_status_history (tenant_id, message_id, status) VALUES ($1, $2, 'pending')",
        tenant_id,
        message_id,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn set_assignment(
    pool: &PgPool,
    tenant_id: Uuid,
    session_id: Uuid,
    assignment: Assignment,
    assignee: Option<&str>,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let changed = sqlx::query!(
        "UPDATE conversation_sessions SET assigned_to = $3, assignee = $4,
                handoff_reason = CASE WHEN $3 = 'human' THEN coalesce($5, handoff_reason) ELSE NULL END
         WHERE id = $1 AND tenant_id = $2 AND (assigned_to <> $3 OR assignee IS DISTINCT FROM $4)",
        session_id,
        tenant_id,
        assignment.as_str(),
        assignee,
        reason,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed > 0 {
        append_outbox(
            &mut tx,
            tenant_id,
            EventType::SessionAssignmentChanged,
            "session",
            session_id,
            json!({"session_id": session_id, "assigned_to": assignment.as_str(), "reason": reason}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn close_session(
    pool: &PgPool,
    tenant_id: Uuid,
    session_id: Uuid,
    reason: &str,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let closed = sqlx::query!(
        "UPDATE conversation_sessions SET status = 'closed', closed_at = now(), close_reason = $3
         WHERE id = $1 AND tenant_id = $2 AND status = 'open'",
        session_id,
        tenant_id,
        reason,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if closed > 0 {
        append_outbox(
            &mut tx,
            tenant_id,
            EventType::SessionClosed,
            "session",
            session_id,
            json!({"session_id": session_id, "reason": reason}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// An outbound message with what is needed to send it.
#[derive(Debug, Clone)]
pub struct OutboundRow {
    pub status: String,
    pub provider_message_id: Option<String>,
    pub body: String,
    pub chat_id: String,
    pub send_attempts: i32,
    pub last_send_attempt_at: Option<DateTime<Utc>>,
    /// greeting, away, operator, agent, campaign.
    pub origin: Option<String>,
    /// When the customer last wrote on this channel (Meta's messaging window counts from it).
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub channel: ChannelRow,
}

pub async fn load_outbound(
    pool: &PgPool,
    tenant_id: Uuid,
    message_id: Uuid,
) -> Result<OutboundRow, StoreError> {
    let row = sqlx::query!(
        "SELECT m.status, m.provider_message_id, m.body, m.send_attempts, m.last_send_attempt_at, i.external_id, m.origin,
                (SELECT max(provider_timestamp) FROM messages x WHERE x.identity_id = m.identity_id AND x.direction = 'inbound') AS last_inbound_at,
                c.id, c.tenant_id, c.kind, c.provider_config, c.settings
         FROM messages m
         JOIN contact_identities i ON i.id = m.identity_id
         JOIN channels c ON c.id = m.channel_id
         WHERE m.id = $1 AND m.tenant_id = $2 AND m.direction = 'outbound'",
        message_id,
        tenant_id,
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| StoreError::Invalid(format!("outbound message {message_id} does not exist")))?;
    Ok(OutboundRow {
        status: row.status,
        provider_message_id: row.provider_message_id,
        body: row.body.unwrap_or_default(),
        chat_id: row.external_id,
        send_attempts: row.send_attempts,
        last_send_attempt_at: row.last_send_attempt_at,
        origin: row.origin,
        last_inbound_at: row.last_inbound_at,
        channel: ChannelRow::decode(
            row.id,
            row.tenant_id,
            row.kind,
            row.provider_config,
            row.settings,
        )?,
    })
}

/// Notes that a send is about to be attempted, committed before the provider call: a retry that
/// finds an attempt recorded knows the provider may already have the message.
pub async fn mark_send_attempt(pool: &PgPool, message_id: Uuid) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE messages SET send_attempts = send_attempts + 1, last_send_attempt_at = now() WHERE id = $1",
        message_id
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets the pending attempt marker after the provider answered that it did not take the
/// message (the attempt count stays, as a statistic).
pub async fn clear_send_attempt(pool: &PgPool, message_id: Uuid) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE messages SET last_send_attempt_at = NULL WHERE id = $1 AND status = 'pending'",
        message_id
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records the provider's id and moves the message to `sent`, once. Returns the receipts for that
/// id that arrived before it was recorded (held by the webhook), now taken for the workflow.
pub async fn record_sent(
    pool: &PgPool,
    tenant_id: Uuid,
    message_id: Uuid,
    provider_message_id: &str,
) -> Result<Vec<DeliveryStatus>, StoreError> {
    let mut tx = pool.begin().await?;
    record_sent_in(&mut tx, tenant_id, message_id, provider_message_id).await?;
    // The webhook holds a receipt under the same lock after looking for the id: either it saw
    // this id recorded, or its held row is visible here.
    lock_provider_id(&mut tx, provider_message_id).await?;
    let held = sqlx::query_scalar!(
        "DELETE FROM held_receipts WHERE tenant_id = $1 AND provider_message_id = $2
            AND channel_id = (SELECT channel_id FROM messages WHERE id = $3)
         RETURNING status",
        tenant_id,
        provider_message_id,
        message_id,
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(held
        .iter()
        .filter_map(|s| DeliveryStatus::parse(s))
        .collect())
}

/// Serialises, per provider message id, recording a send and holding an early receipt for it.
pub async fn lock_provider_id(
    tx: &mut Transaction<'_, Postgres>,
    provider_message_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 7317))",
        provider_message_id
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// [`record_sent`] inside the caller's transaction (the Meta webhook records a send from its
/// echo). Returns whether this call moved the message to `sent`.
pub async fn record_sent_in(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    message_id: Uuid,
    provider_message_id: &str,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query!(
        "UPDATE messages SET provider_message_id = $3, provider_timestamp = coalesce(provider_timestamp, now()),
                             status = 'sent', status_rank = 1
         WHERE id = $1 AND tenant_id = $2 AND status = 'pending'",
        message_id,
        tenant_id,
        provider_message_id,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated > 0 {
        sqlx::query!(
            "INSERT INTO message_status_history (tenant_id, message_id, status) VALUES ($1, $2, 'sent')",
            tenant_id,
            message_id,
        )
        .execute(&mut **tx)
        .await?;
        append_outbox(
            tx,
            tenant_id,
            EventType::MessageSent,
            "message",
            message_id,
            json!({"message_id": message_id}),
        )
        .await?;
    }
    Ok(updated > 0)
}

pub async fn record_status(
    pool: &PgPool,
    tenant_id: Uuid,
    message_id: Uuid,
    status: DeliveryStatus,
    reason: Option<&str>,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    let previous = sqlx::query!(
        "UPDATE messages AS m SET status = $3, status_rank = $4, failure_reason = coalesce($5, m.failure_reason)
         FROM (SELECT status, status_rank FROM messages WHERE id = $1 FOR UPDATE) AS old
         WHERE m.id = $1 AND m.tenant_id = $2
           AND m.status NOT IN ('failed', 'undelivered', 'received')
           AND (($4 = 10 AND m.status_rank <= 1) OR ($4 < 10 AND m.status_rank < $4))
         RETURNING old.status, old.status_rank",
        message_id,
        tenant_id,
        status.as_str(),
        status.rank(),
        reason,
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|old| (old.status, old.status_rank));
    let Some((previous, previous_rank)) = previous else {
        return Ok(false);
    };
    // Providers do not order their receipts (Meta's delivery and read watermarks travel
    // separately; a read can come first and the delivery never). A read message was delivered,
    // a played one read: the steps it skipped are recorded as implied, so every history reads
    // in the same order whatever order the receipts took.
    for implied in implied_steps(previous_rank, status) {
        sqlx::query!(
            "INSERT INTO message_status_history (tenant_id, message_id, status, reason) VALUES ($1, $2, $3, $4)",
            tenant_id,
            message_id,
            implied.as_str(),
            format!("implied by {}", status.as_str()),
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query!(
        "INSERT INTO message_status_history (tenant_id, message_id, status, reason) VALUES ($1, $2, $3, $4)",
        tenant_id,
        message_id,
        status.as_str(),
        reason,
    )
    .execute(&mut *tx)
    .await?;
    append_outbox(
        &mut tx,
        tenant_id,
        EventType::MessageStatusChanged,
        "message",
        message_id,
        json!({"message_id": message_id, "status": status.as_str(), "previous_status": previous}),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The delivery steps between a message's stored rank and `next` that `next` implies: delivered
/// and read for a read or played message that was only sent. `sent` itself is never implied (a
/// send is only recorded with the provider's id), nor is anything implied by a failure.
fn implied_steps(previous_rank: i32, next: DeliveryStatus) -> Vec<DeliveryStatus> {
    [DeliveryStatus::Delivered, DeliveryStatus::Read]
        .into_iter()
        .filter(|step| {
            step.rank() > previous_rank.max(DeliveryStatus::Sent.rank())
                && step.rank() < next.rank()
                && next.rank() < 10
        })
        .collect()
}

/// What an agent needs to answer a burst: the text of the messages (read here so workflow
/// history never carries it), who the contact is, and where the chat lives.
#[derive(Debug, Clone)]
pub struct AgentBurst {
    pub contact_id: Uuid,
    pub text: String,
    pub contact_name: Option<String>,
    /// The conversation's language so far (the session's, else the contact's).
    pub language: Option<String>,
}

pub async fn agent_burst(
    pool: &PgPool,
    tenant_id: Uuid,
    session_id: Uuid,
    message_ids: &[Uuid],
) -> Result<AgentBurst, StoreError> {
    let contact = sqlx::query!(
        "SELECT s.contact_id, c.display_name, coalesce(s.language, c.language) AS language
           FROM conversation_sessions s JOIN contacts c ON c.id = s.contact_id
          WHERE s.id = $1 AND s.tenant_id = $2",
        session_id,
        tenant_id,
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| StoreError::Invalid(format!("session {session_id} does not exist")))?;
    let (contact_id, contact_name, language) =
        (contact.contact_id, contact.display_name, contact.language);
    let bodies = sqlx::query_scalar!(
        "SELECT body FROM messages WHERE tenant_id = $1 AND session_id = $2 AND id = ANY($3)
         ORDER BY provider_timestamp, created_at",
        tenant_id,
        session_id,
        message_ids,
    )
    .fetch_all(pool)
    .await?;
    let text = bodies
        .into_iter()
        .flatten()
        .filter(|b| !b.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    Ok(AgentBurst {
        contact_id,
        text,
        contact_name,
        language,
    })
}

/// The stored result of an agent run, if the run already happened (a retried activity).
pub async fn agent_run(
    pool: &PgPool,
    tenant_id: Uuid,
    run_id: Uuid,
) -> Result<Option<AgentExecuteOutput>, StoreError> {
    let row = sqlx::query!(
        "SELECT agent_type, intent, confidence, reply_planned, actions FROM agent_runs WHERE id = $1 AND tenant_id = $2",
        run_id,
        tenant_id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| AgentExecuteOutput {
        run_id,
        action_types: action_types(&r.actions),
        agent_type: r.agent_type,
        intent: r.intent,
        confidence: r.confidence,
        reply_planned: r.reply_planned,
    }))
}

fn action_types(actions: &Value) -> Vec<String> {
    actions
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["type"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Everything an agent run produced, to be stored.
pub struct AgentAnswer<'a> {
    pub requested_agent: &'a str,
    pub agent_type: &'a str,
    pub intent: &'a str,
    pub confidence: f32,
    pub response: &'a str,
    pub actions: Value,
    pub metadata: Value,
    pub latency_ms: i32,
}

/// The languages customers are answered in (the agent service's `metadata.language`).
pub const SUPPORTED_LANGUAGES: &[&str] = &["pt", "en", "es"];

/// Stores the run and, when the agent is confident enough and said something, its reply as a
/// pending outbound message (same id as the run).
pub async fn record_agent_run(
    pool: &PgPool,
    input: &AgentExecuteInput,
    contact_id: Uuid,
    answer: AgentAnswer<'_>,
) -> Result<AgentExecuteOutput, StoreError> {
    let reply_planned =
        answer.confidence >= input.confidence_threshold && !answer.response.trim().is_empty();
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query!(
        "INSERT INTO agent_runs (id, tenant_id, session_id, contact_id, requested_agent, agent_type, intent, confidence,
                                 response, actions, metadata, latency_ms, reply_planned)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING",
        input.run_id,
        input.tenant_id,
        input.session_id,
        contact_id,
        answer.requested_agent,
        answer.agent_type,
        answer.intent,
        answer.confidence,
        answer.response,
        answer.actions,
        answer.metadata,
        answer.latency_ms,
        reply_planned,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        tx.rollback().await?;
        return agent_run(pool, input.tenant_id, input.run_id)
            .await?
            .ok_or_else(|| StoreError::Invalid(format!("agent run {} vanished", input.run_id)));
    }
    // The language the agent read the customer in becomes the conversation's and the contact's.
    if let Some(language) = answer
        .metadata
        .get("language")
        .and_then(Value::as_str)
        .filter(|l| SUPPORTED_LANGUAGES.contains(l))
    {
        sqlx::query!(
            "UPDATE conversation_sessions SET language = $3 WHERE id = $1 AND tenant_id = $2",
            input.session_id,
            input.tenant_id,
            language,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE contacts SET language = $3 WHERE id = $1 AND tenant_id = $2",
            contact_id,
            input.tenant_id,
            language,
        )
        .execute(&mut *tx)
        .await?;
    }
    if reply_planned {
        sqlx::query!(
            "INSERT INTO messages (id, tenant_id, channel_id, session_id, contact_id, identity_id, direction, body, status, status_rank,
                                   origin, handled_by_workflow, intent, confidence, agent_type)
             SELECT $1, $2, $3, s.id, s.contact_id, s.identity_id, 'outbound', $5, 'pending', 0, 'agent', $6, $7, $8, $9
             FROM conversation_sessions s WHERE s.id = $4 AND s.tenant_id = $2",
            input.run_id,
            input.tenant_id,
            input.channel_id,
            input.session_id,
            answer.response,
            ventros_workflows::ids::outbound_workflow_id(input.tenant_id, input.run_id),
            answer.intent,
            answer.confidence,
            answer.agent_type,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO message_status_history (tenant_id, message_id, status) VALUES ($1, $2, 'pending')",
            input.tenant_id,
            input.run_id,
        )
        .execute(&mut *tx)
        .await?;
    }
    append_outbox(
        &mut tx,
        input.tenant_id,
        EventType::AgentReplied,
        "session",
        input.session_id,
        json!({"run_id": input.run_id, "agent_type": answer.agent_type, "intent": answer.intent,
               "confidence": answer.confidence, "reply_planned": reply_planned}),
    )
    .await?;
    tx.commit().await?;
    Ok(AgentExecuteOutput {
        run_id: input.run_id,
        agent_type: answer.agent_type.to_owned(),
        intent: answer.intent.to_owned(),
        confidence: answer.confidence,
        reply_planned,
        action_types: action_types(&answer.actions),
    })
}

/// The default sales pipeline, created on first use.
const DEFAULT_STAGES: &[(&str, &str)] = &[
    ("new", "New"),
    ("contacted", "Contacted"),
    ("interested", "Interested"),
    ("qualified", "Qualified"),
    ("proposal", "Proposal"),
    ("won", "Won"),
    ("lost", "Lost"),
];

/// The tenant's default pipeline ("Sales" with the standard stages), created on first use.
pub async fn default_pipeline(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
) -> Result<Uuid, sqlx::Error> {
    if let Some(id) = sqlx::query_scalar!(
        "SELECT id FROM pipelines WHERE tenant_id = $1 AND is_default",
        tenant_id
    )
    .fetch_optional(&mut **tx)
    .await?
    {
        return Ok(id);
    }
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO pipelines (id, tenant_id, name, is_default) VALUES ($1, $2, 'Sales', true)",
        id,
        tenant_id,
    )
    .execute(&mut **tx)
    .await?;
    for (position, (key, name)) in (0_i32..).zip(DEFAULT_STAGES) {
        sqlx::query!(
            "INSERT INTO pipeline_stages (id, tenant_id, pipeline_id, key, name, position) VALUES ($1, $2, $3, $4, $5, $6)",
            Uuid::now_v7(),
            tenant_id,
            id,
            key,
            name,
            position,
        )
        .execute(&mut **tx)
        .await?;
    }
    Ok(id)
}

/// The contact's open deal in the default pipeline, created at stage `new` when missing.
async fn open_deal(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    contact_id: Uuid,
    title: &str,
    source: &str,
) -> Result<(Uuid, bool), sqlx::Error> {
    let pipeline = default_pipeline(tx, tenant_id).await?;
    if let Some(id) = sqlx::query_scalar!(
        "SELECT id FROM deals WHERE pipeline_id = $1 AND contact_id = $2 AND status = $3",
        pipeline,
        contact_id,
        DealStatus::Open.as_str(),
    )
    .fetch_optional(&mut **tx)
    .await?
    {
        return Ok((id, false));
    }
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO deals (id, tenant_id, pipeline_id, stage_id, contact_id, title, source, created_by)
         SELECT $1, $2, $3, s.id, $4, $5, $6, 'agent' FROM pipeline_stages s WHERE s.pipeline_id = $3 AND s.key = 'new'",
        id,
        tenant_id,
        pipeline,
        contact_id,
        title,
        source,
    )
    .execute(&mut **tx)
    .await?;
    append_outbox(
        tx,
        tenant_id,
        EventType::DealCreated,
        "deal",
        id,
        json!({"deal_id": id, "contact_id": contact_id, "stage": "new"}),
    )
    .await?;
    Ok((id, true))
}

/// Executes the suggested actions stored with an agent run, once.
pub async fn apply_agent_actions(
    pool: &PgPool,
    tenant_id: Uuid,
    run_id: Uuid,
) -> Result<ApplyActionsOutput, StoreError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        "SELECT contact_id, actions, actions_applied_at FROM agent_runs WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
        run_id,
        tenant_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::Invalid(format!("agent run {run_id} does not exist")))?;
    let (contact_id, actions, already) = (row.contact_id, row.actions, row.actions_applied_at);
    let types = action_types(&actions);
    let handoff = types
        .iter()
        .any(|t| ActionType::from_name(t) == Some(ActionType::HandoffToHuman));
    if already.is_some() {
        return Ok(ApplyActionsOutput {
            applied: types,
            handoff,
        });
    }
    let mut applied = Vec::new();
    for action in actions.as_array().into_iter().flatten() {
        let kind = action["type"].as_str().unwrap_or_default();
        let param = |name: &str| action["params"][name].as_str().map(str::to_owned);
        let Some(action_type) = ActionType::from_name(kind) else {
            continue;
        };
        match action_type {
            ActionType::CreateLead => {
                let interest = param("interest").filter(|s| !s.is_empty());
                let title = interest.map_or_else(
                    || "New lead".into(),
                    |i| format!("Interested in {}", i.chars().take(80).collect::<String>()),
                );
                open_deal(
                    &mut tx,
                    tenant_id,
                    contact_id,
                    &title,
                    &param("source").unwrap_or_else(|| "conversation".into()),
                )
                .await?;
            }
            ActionType::UpdatePipeline => {
                let Some(stage) = param("stage") else {
                    continue;
                };
                let (deal, _) =
                    open_deal(&mut tx, tenant_id, contact_id, "New lead", "conversation").await?;
                // Only forward: an agent never drags a deal back to an earlier stage.
                let moved = sqlx::query_scalar!(
                    "UPDATE deals d SET stage_id = target.id FROM pipeline_stages target, pipeline_stages current
                     WHERE d.id = $1 AND target.pipeline_id = d.pipeline_id AND target.key = $2
                       AND current.id = d.stage_id AND target.position > current.position
                     RETURNING target.key",
                    deal,
                    stage,
                )
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(stage) = moved {
                    append_outbox(
                        &mut tx,
                        tenant_id,
                        EventType::DealStageChanged,
                        "deal",
                        deal,
                        json!({"deal_id": deal, "stage": stage}),
                    )
                    .await?;
                }
            }
            ActionType::TagContact => {
                let Some(tag) = param("tag").filter(|t| !t.is_empty() && t.len() <= 64) else {
                    continue;
                };
                let tagged = sqlx::query!(
                    "UPDATE contacts SET tags = array_append(tags, $3) WHERE id = $1 AND tenant_id = $2 AND NOT ($3 = ANY(tags))",
                    contact_id,
                    tenant_id,
                    tag,
                )
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if tagged > 0 {
                    append_outbox(
                        &mut tx,
                        tenant_id,
                        EventType::ContactTagged,
                        "contact",
                        contact_id,
                        json!({"contact_id": contact_id, "tag": tag}),
                    )
                    .await?;
                }
            }
            ActionType::HandoffToHuman => {}
            ActionType::Unspecified => continue,
        }
        applied.push(kind.to_owned());
    }
    sqlx::query!(
        "UPDATE agent_runs SET actions_applied_at = now() WHERE id = $1",
        run_id
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ApplyActionsOutput { applied, handoff })
}

/// Where a session's chat lives on WAHA, and the provider ids of some of its messages.
pub async fn session_chat(
    pool: &PgPool,
    tenant_id: Uuid,
    session_id: Uuid,
    message_ids: &[Uuid],
) -> Result<(ChannelRow, String, Vec<String>), StoreError> {
    let row = sqlx::query!(
        "SELECT i.external_id, c.id, c.tenant_id, c.kind, c.provider_config, c.settings
         FROM conversation_sessions s JOIN contact_identities i ON i.id = s.identity_id JOIN channels c ON c.id = s.channel_id
         WHERE s.id = $1 AND s.tenant_id = $2",
        session_id,
        tenant_id,
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| StoreError::Invalid(format!("session {session_id} does not exist")))?;
    let provider_ids = sqlx::query_scalar!(
        r#"SELECT provider_message_id AS "provider_message_id!" FROM messages
            WHERE tenant_id = $1 AND id = ANY($2) AND provider_message_id IS NOT NULL"#,
        tenant_id,
        message_ids,
    )
    .fetch_all(pool)
    .await?;
    let channel = ChannelRow::decode(
        row.id,
        row.tenant_id,
        row.kind,
        row.provider_config,
        row.settings,
    )?;
    Ok((channel, row.external_id, provider_ids))
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryStatus::*;

    #[test]
    fn a_receipt_implies_the_steps_it_skipped() {
        assert_eq!(implied_steps(Sent.rank(), Read), [Delivered]);
        assert_eq!(implied_steps(Sent.rank(), Played), [Delivered, Read]);
        assert_eq!(implied_steps(Delivered.rank(), Played), [Read]);
        assert_eq!(implied_steps(Pending.rank(), Read), [Delivered]);
        assert!(implied_steps(Sent.rank(), Delivered).is_empty());
        assert!(implied_steps(Delivered.rank(), Read).is_empty());
        assert!(implied_steps(Pending.rank(), Sent).is_empty());
        assert!(implied_steps(Pending.rank(), Failed).is_empty());
        assert!(implied_steps(Sent.rank(), Undelivered).is_empty());
    }
}
