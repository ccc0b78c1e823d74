//! Outbound messages on their way to the provider: what a send needs, the attempt marker
//! committed before the provider call, the provider id recorded once, and receipts that only move
//! a status forward (recording the steps a late or reordered receipt implies).

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;
use ventros_domain::EventType;
use ventros_workflows::DeliveryStatus;

use super::{ChannelRow, StoreError, append_outbox};

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
    /// When we stored the customer's latest message (our clock: a reply's latency counts from it).
    pub last_inbound_stored_at: Option<DateTime<Utc>>,
    pub channel: ChannelRow,
    /// The file the message carries (an operator's upload), its text being the caption.
    pub attachment: Option<OutboundFile>,
    /// The one workflow that may send it.
    pub handled_by_workflow: String,
}

/// A stored file to send.
#[derive(Debug, Clone)]
pub struct OutboundFile {
    pub id: Uuid,
    pub kind: String,
    pub content_type: String,
    pub filename: Option<String>,
    pub storage_key: String,
    pub sha256: Vec<u8>,
}

pub async fn load_outbound(
    pool: &PgPool,
    tenant_id: Uuid,
    message_id: Uuid,
) -> Result<OutboundRow, StoreError> {
    let row = sqlx::query!(
        r#"SELECT m.status, m.provider_message_id, m.body, m.send_attempts, m.last_send_attempt_at, i.external_id, m.origin, m.handled_by_workflow,
                (SELECT max(provider_timestamp) FROM messages x WHERE x.identity_id = m.identity_id AND x.direction = 'inbound') AS last_inbound_at,
                (SELECT max(created_at) FROM messages x WHERE x.identity_id = m.identity_id AND x.direction = 'inbound') AS last_inbound_stored_at,
                c.id, c.tenant_id, c.kind, c.provider_config, c.settings,
                f.id AS "file_id?", f.kind AS "file_kind?", f.content_type AS file_type, f.filename, f.storage_key, f.sha256
         FROM messages m
         JOIN contact_identities i ON i.id = m.identity_id
         JOIN channels c ON c.id = m.channel_id
         LEFT JOIN media_files f ON f.message_id = m.id AND f.position = 0 AND f.status = 'stored'
         WHERE m.id = $1 AND m.tenant_id = $2 AND m.direction = 'outbound'"#,
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
        handled_by_workflow: row.handled_by_workflow,
        last_inbound_at: row.last_inbound_at,
        last_inbound_stored_at: row.last_inbound_stored_at,
        attachment: match (
            row.file_id,
            row.file_kind,
            row.file_type,
            row.storage_key,
            row.sha256,
        ) {
            (Some(id), Some(kind), Some(content_type), Some(storage_key), Some(sha256)) => {
                Some(OutboundFile {
                    id,
                    kind,
                    content_type,
                    filename: row.filename,
                    storage_key,
                    sha256,
                })
            }
            _ => None,
        },
        channel: ChannelRow::decode(
            row.id,
            row.tenant_id,
            row.kind,
            row.provider_config,
            row.settings,
        )?,
    })
}

/// Where a message's delivery receipts go (migration 0023).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptsTo {
    /// Its OutboundMessage run follows them as `ack` signals (runs from before the
    /// `outbound-receipts-in-database` patch).
    Workflow,
    /// The webhook records them; the sweeper calls the message undelivered this many seconds
    /// after the attempt without a delivery (None: the channel reports no deliveries).
    Webhook { ack_timeout_secs: Option<u64> },
}

/// Notes that a send is about to be attempted, committed before the provider call: a retry that
/// finds an attempt recorded knows the provider may already have the message. The same write
/// hands the receipts to the webhook when the run says so, before the provider can know the
/// message, so that no receipt for it can arrive first. With a `holder` (a Conversation or
/// campaign recipient sending its own message; empty: no check), only while the message still names it: returns false,
/// recording nothing, once the message was handed over to another workflow.
pub async fn mark_send_attempt(
    pool: &PgPool,
    tenant_id: Uuid,
    message_id: Uuid,
    receipts: ReceiptsTo,
    holder: &str,
) -> Result<bool, StoreError> {
    let (to_webhook, ack_timeout_secs) = match receipts {
        ReceiptsTo::Workflow => (false, None),
        ReceiptsTo::Webhook { ack_timeout_secs } => (true, ack_timeout_secs),
    };
    let updated = sqlx::query!(
        "UPDATE messages SET send_attempts = send_attempts + 1, last_send_attempt_at = now(),
                receipts_in_workflow = receipts_in_workflow AND NOT $3,
                delivery_due_at = CASE WHEN $3 THEN now() + make_interval(secs => $4::float8)
                                       ELSE delivery_due_at END
          WHERE id = $1 AND tenant_id = $2 AND ($5 = '' OR handled_by_workflow = $5)",
        message_id,
        tenant_id,
        to_webhook,
        ack_timeout_secs.map(|s| s as f64),
        holder,
    )
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() > 0)
}

/// Hands a pending message from the workflow `from` (its Conversation or campaign recipient) to
/// the workflow `to` (its OutboundMessage):
/// from here on an attempt by `from` records nothing and sends nothing, and the message links to
/// `to`. Idempotent; a message already handed over, or sent, is left as it is.
pub async fn hand_over_send(
    pool: &PgPool,
    tenant_id: Uuid,
    message_id: Uuid,
    from: &str,
    to: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE messages SET handled_by_workflow = $4
          WHERE id = $1 AND tenant_id = $2 AND handled_by_workflow = $3 AND status = 'pending'",
        message_id,
        tenant_id,
        from,
        to,
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

/// Messages the sweeper gives up on: sent by a run that handed its receipts to the webhook, and
/// still without a delivery at their due time. Each becomes `undelivered` (history and event),
/// unless a receipt moved it meanwhile. Returns how many did.
pub async fn settle_overdue_deliveries(pool: &PgPool, limit: i64) -> Result<u32, StoreError> {
    let overdue = sqlx::query!(
        "SELECT id, tenant_id FROM messages
          WHERE delivery_due_at < now() AND status = 'sent'
          ORDER BY delivery_due_at LIMIT $1",
        limit,
    )
    .fetch_all(pool)
    .await?;
    let mut settled = 0;
    for m in overdue {
        let reason = Some("no delivery receipt within the ack timeout");
        if record_status(pool, m.tenant_id, m.id, DeliveryStatus::Undelivered, reason).await? {
            settled += 1;
        }
    }
    Ok(settled)
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
    let moved = record_status_in(&mut tx, tenant_id, message_id, status, reason).await?;
    tx.commit().await?;
    Ok(moved)
}

/// [`record_status`] inside the caller's transaction: the webhook records a receipt itself for a
/// message whose workflow does not follow receipts. Returns whether the status moved.
pub async fn record_status_in(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    message_id: Uuid,
    status: DeliveryStatus,
    reason: Option<&str>,
) -> Result<bool, sqlx::Error> {
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
    .fetch_optional(&mut **tx)
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
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query!(
        "INSERT INTO message_status_history (tenant_id, message_id, status, reason) VALUES ($1, $2, $3, $4)",
        tenant_id,
        message_id,
        status.as_str(),
        reason,
    )
    .execute(&mut **tx)
    .await?;
    append_outbox(
        tx,
        tenant_id,
        EventType::MessageStatusChanged,
        "message",
        message_id,
        json!({"message_id": message_id, "status": status.as_str(), "previous_status": previous}),
    )
    .await?;
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
