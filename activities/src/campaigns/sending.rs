//! The gate before a campaign send: campaign status, send window, rate-limit and pacing slots;
//! when all clear, the pending message and its session are written in the same transaction.

use super::*;

/// The gate before a send: campaign status, send window, rate-limit slot; when all clear, the
/// pending message is written (with its session) in the same transaction.
pub(super) async fn claim_send(
    pool: &PgPool,
    input: &RecipientAt,
) -> Result<SendClaim, StoreError> {
    let now = from_millis(input.now_ms);
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        r#"SELECT campaign_id, status AS "status: RecipientStatus", message_id, slot_at, personalised_text FROM campaign_recipients
            WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3 FOR UPDATE"#,
        input.tenant_id,
        input.run_id,
        input.contact_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::Invalid(format!("recipient {} of run {} does not exist", input.contact_id, input.run_id)))?;
    let campaign_id = row.campaign_id;
    // A pause or cancel (which updates this row) waits for claims in progress, and a claim that
    // comes after it reads the new status: no message is written once the API has answered.
    sqlx::query!(
        "SELECT 1 AS one FROM campaigns WHERE id = $1 FOR SHARE",
        campaign_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let campaign = load_campaign(&mut tx, input.tenant_id, campaign_id)
        .await?
        .ok_or_else(|| StoreError::Invalid(format!("campaign {campaign_id} does not exist")))?;
    if let Some(message_id) = row.message_id {
        return Ok(SendClaim::Go {
            message_id,
            channel_id: campaign.channel_id,
        });
    }
    if row.status == RecipientStatus::Skipped {
        return Ok(SendClaim::Cancelled);
    }
    if campaign.status == CampaignStatus::Cancelled {
        skip(
            &mut tx,
            input.tenant_id,
            input.run_id,
            input.contact_id,
            "campaign_cancelled",
        )
        .await?;
        tx.commit().await?;
        return Ok(SendClaim::Cancelled);
    }
    if campaign.status == CampaignStatus::Paused {
        sqlx::query!(
            "UPDATE campaign_recipients SET held_at = coalesce(held_at, now()) WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3",
            input.tenant_id,
            input.run_id,
            input.contact_id,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(SendClaim::Hold);
    }
    let set_slot = |slot: Option<DateTime<Utc>>| {
        sqlx::query!(
            "UPDATE campaign_recipients SET slot_at = $4, held_at = NULL WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3",
            input.tenant_id,
            input.run_id,
            input.contact_id,
            slot,
        )
    };
    if !campaign.send_window.contains(campaign.time_zone, now) {
        let Some(opening) = campaign.send_window.next_open(campaign.time_zone, now) else {
            skip(
                &mut tx,
                input.tenant_id,
                input.run_id,
                input.contact_id,
                "send_window_never_opens",
            )
            .await?;
            tx.commit().await?;
            return Ok(SendClaim::Cancelled);
        };
        // A slot reserved for a moment the window has closed on is given up.
        set_slot(None).execute(&mut *tx).await?;
        tx.commit().await?;
        return Ok(SendClaim::WaitUntil {
            at_ms: millis(opening),
        });
    }
    let pacing = channel_pacing(&mut tx, input.tenant_id, campaign.channel_id).await?;
    if campaign.rate_limit_per_minute.is_some() || pacing.is_some() {
        let slot = match row.slot_at {
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
                        .fetch_one(&mut *tx)
                        .await?;
                    slot = next.map_or(now, |n| n.max(now));
                    sqlx::query!(
                        "UPDATE campaign_runs SET next_slot_at = $2 WHERE id = $1",
                        input.run_id,
                        slot + chrono::Duration::milliseconds(spacing_ms),
                    )
                    .execute(&mut *tx)
                    .await?;
                }
                // The channel's clock, shared by every campaign on it: jittered gaps, daily cap.
                if let Some(pacing) = &pacing {
                    slot = crate::pacing::reserve_slot(
                        &mut tx,
                        input.tenant_id,
                        campaign.channel_id,
                        pacing,
                        slot,
                        campaign.time_zone,
                    )
                    .await?;
                }
                set_slot(Some(slot)).execute(&mut *tx).await?;
                slot
            }
        };
        if slot > now {
            tx.commit().await?;
            return Ok(SendClaim::WaitUntil {
                at_ms: millis(slot),
            });
        }
    }

    let text = row
        .personalised_text
        .ok_or_else(|| StoreError::Invalid("the recipient has no personalised text".into()))?;
    // A person with a phone number and a hidden id is written at the phone number.
    let identity = sqlx::query!(
        "SELECT id, external_id FROM contact_identities WHERE contact_id = $1 AND channel_id = $2 AND tenant_id = $3
          ORDER BY (kind = 'wa_user') DESC, created_at LIMIT 1",
        input.contact_id,
        campaign.channel_id,
        input.tenant_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|i| (i.id, i.external_id));
    let Some((identity_id, chat_id)) = identity else {
        skip(
            &mut tx,
            input.tenant_id,
            input.run_id,
            input.contact_id,
            "no_identity_on_channel",
        )
        .await?;
        tx.commit().await?;
        return Ok(SendClaim::Cancelled);
    };
    // Checked again at send time: the window may have closed while the recipient waited.
    if outside_messaging_window(&mut tx, campaign.channel_id, input.contact_id, now).await? {
        skip(
            &mut tx,
            input.tenant_id,
            input.run_id,
            input.contact_id,
            OUTSIDE_MESSAGING_WINDOW,
        )
        .await?;
        tx.commit().await?;
        return Ok(SendClaim::Cancelled);
    }
    let message_id = ids::campaign_message_id(input.run_id, input.contact_id);
    let session_id = open_campaign_session(
        &mut tx,
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
        ids::outbound_workflow_id(input.tenant_id, message_id),
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO message_status_history (tenant_id, message_id, status) VALUES ($1, $2, 'pending')",
        input.tenant_id,
        message_id,
    )
    .execute(&mut *tx)
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
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
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
