//! The gate before a campaign send: campaign status, send window, rate-limit and pacing slots;
//! when all clear, the pending message and its session are written in the same transaction.

use super::*;
use sqlx::{Postgres, Transaction};

/// The gate before a send, one transaction: the recipient and its campaign locked; the campaign's
/// status and send window; the rate-limit and pacing slot; when all clear, the pending message is
/// written (with its session).
pub(super) async fn claim_send(
    pool: &PgPool,
    input: &RecipientAt,
) -> Result<SendClaim, StoreError> {
    let now = from_millis(input.now_ms);
    let mut tx = pool.begin().await?;
    let (recipient, campaign) = lock_recipient(&mut tx, input).await?;
    if let Some(message_id) = recipient.message_id {
        return Ok(SendClaim::Go {
            message_id,
            channel_id: campaign.channel_id,
        });
    }
    if recipient.status == RecipientStatus::Skipped {
        return Ok(SendClaim::Cancelled);
    }
    let claim = match campaign_gate(&mut tx, input, &campaign, now).await? {
        Some(claim) => claim,
        None => match take_slot(&mut tx, input, &campaign, recipient.slot_at, now).await? {
            Some(slot) => SendClaim::WaitUntil {
                at_ms: millis(slot),
            },
            None => {
                write_message(&mut tx, input, &campaign, recipient.personalised_text, now).await?
            }
        },
    };
    tx.commit().await?;
    Ok(claim)
}

/// A recipient as the gate reads it.
struct RecipientRow {
    campaign_id: Uuid,
    status: RecipientStatus,
    message_id: Option<Uuid>,
    slot_at: Option<DateTime<Utc>>,
    personalised_text: Option<String>,
}

/// The recipient (for update) and its campaign (shared).
async fn lock_recipient(
    tx: &mut Transaction<'_, Postgres>,
    input: &RecipientAt,
) -> Result<(RecipientRow, CampaignRow), StoreError> {
    let row = sqlx::query_as!(
        RecipientRow,
        r#"SELECT campaign_id, status AS "status: RecipientStatus", message_id, slot_at, personalised_text FROM campaign_recipients
            WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3 FOR UPDATE"#,
        input.tenant_id,
        input.run_id,
        input.contact_id,
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::Invalid(format!("recipient {} of run {} does not exist", input.contact_id, input.run_id)))?;
    let campaign_id = row.campaign_id;
    // A pause or cancel (which updates this row) waits for claims in progress, and a claim that
    // comes after it reads the new status: no message is written once the API has answered.
    sqlx::query!(
        "SELECT 1 AS one FROM campaigns WHERE id = $1 FOR SHARE",
        campaign_id
    )
    .fetch_optional(&mut **tx)
    .await?;
    let campaign = load_campaign(tx, input.tenant_id, campaign_id)
        .await?
        .ok_or_else(|| StoreError::Invalid(format!("campaign {campaign_id} does not exist")))?;
    Ok((row, campaign))
}

/// The campaign's own answer, when it has one: cancelled (the recipient is skipped), paused (held),
/// or outside its send window (wait for the opening, or skip when it never opens).
async fn campaign_gate(
    tx: &mut Transaction<'_, Postgres>,
    input: &RecipientAt,
    campaign: &CampaignRow,
    now: DateTime<Utc>,
) -> Result<Option<SendClaim>, StoreError> {
    if campaign.status == CampaignStatus::Cancelled {
        skip(
            tx,
            input.tenant_id,
            input.run_id,
            input.contact_id,
            "campaign_cancelled",
        )
        .await?;
        return Ok(Some(SendClaim::Cancelled));
    }
    if campaign.status == CampaignStatus::Paused {
        sqlx::query!(
            "UPDATE campaign_recipients SET held_at = coalesce(held_at, now()) WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3",
            input.tenant_id,
            input.run_id,
            input.contact_id,
        )
        .execute(&mut **tx)
        .await?;
        return Ok(Some(SendClaim::Hold));
    }
    if campaign.send_window.contains(campaign.time_zone, now) {
        return Ok(None);
    }
    let Some(opening) = campaign.send_window.next_open(campaign.time_zone, now) else {
        skip(
            tx,
            input.tenant_id,
            input.run_id,
            input.contact_id,
            "send_window_never_opens",
        )
        .await?;
        return Ok(Some(SendClaim::Cancelled));
    };
    // A slot reserved for a moment the window has closed on is given up.
    set_slot(tx, input, None).await?;
    Ok(Some(SendClaim::WaitUntil {
        at_ms: millis(opening),
    }))
}

async fn set_slot(
    tx: &mut Transaction<'_, Postgres>,
    input: &RecipientAt,
    slot: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE campaign_recipients SET slot_at = $4, held_at = NULL WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3",
        input.tenant_id,
        input.run_id,
        input.contact_id,
        slot,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The recipient's send slot under the campaign's rate limit and the channel's pacing, reserved
/// once and kept across retries; returns it while it is still ahead.
async fn take_slot(
    tx: &mut Transaction<'_, Postgres>,
    input: &RecipientAt,
    campaign: &CampaignRow,
    reserved: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let pacing = channel_pacing(tx, input.tenant_id, campaign.channel_id).await?;
    if campaign.rate_limit_per_minute.is_none() && pacing.is_none() {
        return Ok(None);
    }
    let slot = match reserved {
        Some(slot) => slot,
        None => {
            let mut slot = now;
            if let Some(rate) = campaign.rate_limit_per_minute {
                // The run's clock: each send takes the next free slot, one every 60/rate seconds.
                let spacing_ms = (60_000 / i64::from(rate.max(1))).max(1);
                let next: Option<DateTime<Utc>> =
                    sqlx::query_scalar!(
                        "SELECT next_slot_at FROM campaign_runs WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
                        input.run_id,
                        input.tenant_id,
                    )
                    .fetch_one(&mut **tx)
                    .await?;
                slot = next.map_or(now, |n| n.max(now));
                sqlx::query!(
                    "UPDATE campaign_runs SET next_slot_at = $2 WHERE id = $1",
                    input.run_id,
                    slot + chrono::Duration::milliseconds(spacing_ms),
                )
                .execute(&mut **tx)
                .await?;
            }
            // The channel's clock, shared by every campaign on it: jittered gaps, daily cap.
            if let Some(pacing) = &pacing {
                slot = crate::pacing::reserve_slot(
                    tx,
                    input.tenant_id,
                    campaign.channel_id,
                    pacing,
                    slot,
                    campaign.time_zone,
                )
                .await?;
            }
            set_slot(tx, input, Some(slot)).await?;
            slot
        }
    };
    Ok((slot > now).then_some(slot))
}

/// All clear: the pending message in the contact's campaign session, and the recipient `sending`.
/// A contact with no identity on the channel, or outside Meta's messaging window, is skipped.
async fn write_message(
    tx: &mut Transaction<'_, Postgres>,
    input: &RecipientAt,
    campaign: &CampaignRow,
    text: Option<String>,
    now: DateTime<Utc>,
) -> Result<SendClaim, StoreError> {
    let text =
        text.ok_or_else(|| StoreError::Invalid("the recipient has no personalised text".into()))?;
    // A person with a phone number and a hidden id is written at the phone number.
    let identity = sqlx::query!(
        "SELECT id, external_id FROM contact_identities WHERE contact_id = $1 AND channel_id = $2 AND tenant_id = $3
          ORDER BY (kind = 'wa_user') DESC, created_at LIMIT 1",
        input.contact_id,
        campaign.channel_id,
        input.tenant_id,
    )
    .fetch_optional(&mut **tx)
    .await?
    .map(|i| (i.id, i.external_id));
    let Some((identity_id, chat_id)) = identity else {
        skip(
            tx,
            input.tenant_id,
            input.run_id,
            input.contact_id,
            "no_identity_on_channel",
        )
        .await?;
        return Ok(SendClaim::Cancelled);
    };
    // Checked again at send time: the window may have closed while the recipient waited.
    if outside_messaging_window(tx, campaign.channel_id, input.contact_id, now).await? {
        skip(
            tx,
            input.tenant_id,
            input.run_id,
            input.contact_id,
            OUTSIDE_MESSAGING_WINDOW,
        )
        .await?;
        return Ok(SendClaim::Cancelled);
    }
    let message_id = ids::campaign_message_id(input.run_id, input.contact_id);
    let session_id = open_campaign_session(
        tx,
        input.tenant_id,
        campaign.channel_id,
        input.contact_id,
        identity_id,
        &chat_id,
        message_id,
    )
    .await?;
    sqlx::query!(
        "INSERT INTO messages (id, tenant_id, channel_id, session_id, contact_id, identity_id, direction, body,
                               status, status_rank, origin, agent_type, handled_by_workflow)
         VALUES ($1, $2, $3, $4, $5, $6, 'outbound', $7, 'pending', 0, 'campaign', $8, $9)
         ON CONFLICT (id) DO NOTHING",
        message_id,
        input.tenant_id,
        campaign.channel_id,
        session_id,
        input.contact_id,
        identity_id,
        text,
        campaign.agent_type,
        // The recipient sends it, or hands it over to its OutboundMessage.
        ids::campaign_recipient_workflow_id(input.tenant_id, input.run_id, input.contact_id),
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "INSERT INTO message_status_history (tenant_id, message_id, status) VALUES ($1, $2, 'pending')",
        input.tenant_id,
        message_id,
    )
    .execute(&mut **tx)
    .await?;
    let sending = RecipientStatus::Sending;
    sqlx::query!(
        "UPDATE campaign_recipients SET status = $6, status_rank = $7, message_id = $4, session_id = $5, held_at = NULL
          WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3",
        input.tenant_id,
        input.run_id,
        input.contact_id,
        message_id,
        session_id,
        sending.as_str(),
        sending.rank(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(SendClaim::Go {
        message_id,
        channel_id: campaign.channel_id,
    })
}

/// A channel's kind and settings, as the pacing reads them.
pub(super) struct KindAndSettings {
    kind: String,
    settings: serde_json::Value,
}

/// The campaign pacing of the channel (WAHA channels always have one).
pub(super) async fn channel_pacing(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant_id: Uuid,
    channel_id: Uuid,
) -> Result<Option<ventros_channels::channel::CampaignPacing>, StoreError> {
    let (kind, settings): (String, serde_json::Value) = sqlx::query_as!(
        KindAndSettings,
        "SELECT kind, settings FROM channels WHERE id = $1 AND tenant_id = $2",
        channel_id,
        tenant_id,
    )
    .fetch_one(&mut **tx)
    .await
    .map(|c| (c.kind, c.settings))?;
    let settings: ventros_channels::channel::ChannelSettings = serde_json::from_value(settings)
        .map_err(|e| StoreError::Invalid(format!("channel settings: {e}")))?;
    Ok(settings.campaign_pacing_for(&kind))
}

/// The chat's open session, or a new one owned by the chat's Conversation workflow id: when the
/// contact answers, their Conversation continues this session instead of greeting them anew.
pub(super) async fn open_campaign_session(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant_id: Uuid,
    channel_id: Uuid,
    contact_id: Uuid,
    identity_id: Uuid,
    chat_id: &str,
    message_id: Uuid,
) -> Result<Uuid, StoreError> {
    let existing: Option<Uuid> =
        sqlx::query_scalar!(
            "SELECT id FROM conversation_sessions WHERE channel_id = $1 AND identity_id = $2 AND status = 'open'",
            channel_id,
            identity_id,
        )
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let session_id = Uuid::now_v7();
    let workflow_id = ids::conversation_workflow_id(
        tenant_id,
        channel_id,
        &ids::chat_key(tenant_id, channel_id, chat_id),
    );
    sqlx::query!(
        "INSERT INTO conversation_sessions (id, tenant_id, channel_id, contact_id, identity_id, workflow_id, assigned_to, opened_by_batch)
         VALUES ($1, $2, $3, $4, $5, $6, 'bot', $7)",
        session_id,
        tenant_id,
        channel_id,
        contact_id,
        identity_id,
        workflow_id,
        format!("campaign:{message_id}"),
    )
    .execute(&mut **tx)
    .await?;
    append_outbox(
        tx,
        tenant_id,
        EventType::SessionOpened,
        "session",
        session_id,
        json!({"session_id": session_id, "contact_id": contact_id, "channel_id": channel_id, "origin": "campaign"}),
    )
    .await?;
    Ok(session_id)
}
