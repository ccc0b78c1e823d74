//! Preparing a recipient: the skip checks, the agent's text and send time stored on the row, and
//! skips recorded with their reason.

use super::*;

/// Skip reason of a recipient the channel's messaging policy does not let us reach.
pub const OUTSIDE_MESSAGING_WINDOW: &str = "outside_messaging_window";

/// Meta's policy: automated messages, campaigns included, only within 24 hours of the contact's
/// last message on the channel (cold Messenger/Instagram campaigns are not allowed). WhatsApp
/// through WAHA has no such window.
pub(super) async fn outside_messaging_window(
    conn: &mut PgConnection,
    channel_id: Uuid,
    contact_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let channel = sqlx::query!(
        "SELECT c.kind, (SELECT max(m.provider_timestamp) FROM messages m
                          WHERE m.channel_id = c.id AND m.contact_id = $2 AND m.direction = 'inbound') AS last_inbound
           FROM channels c WHERE c.id = $1",
        channel_id,
        contact_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(MetaPlatform::from_kind(&channel.kind).is_some()
        && messaging_type(Some("campaign"), channel.last_inbound, now).is_err())
}

/// A recipient's row as preparation needs it: campaign, status, reason, chosen send time.
pub(super) type RecipientRow = (Uuid, RecipientStatus, Option<String>, Option<DateTime<Utc>>);

pub(super) async fn recipient_status(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    run_id: Uuid,
    contact_id: Uuid,
) -> Result<RecipientRow, StoreError> {
    let row = sqlx::query!(
        r#"SELECT campaign_id, status AS "status: RecipientStatus", reason, send_at FROM campaign_recipients
            WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3 FOR UPDATE"#,
        tenant_id,
        run_id,
        contact_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| (r.campaign_id, r.status, r.reason, r.send_at))
        .ok_or_else(|| {
            StoreError::Invalid(format!(
                "recipient {contact_id} of run {run_id} does not exist"
            ))
        })
}

/// Skip checks, then the agent; the outcome is stored on the recipient so a retry (or a later
/// execution) answers from the row instead of asking the agent again.
pub(super) async fn prepare_recipient(
    pool: &PgPool,
    agents: Option<&dyn AgentApi>,
    input: &RecipientAt,
) -> Result<PrepareRecipientOutput, ActivityError> {
    let db = |e: sqlx::Error| store_failure(e.into());
    let now = from_millis(input.now_ms);
    let mut conn = pool.acquire().await.map_err(db)?;
    let (campaign_id, status, reason, send_at) =
        recipient_status(&mut conn, input.tenant_id, input.run_id, input.contact_id)
            .await
            .map_err(store_failure)?;
    let campaign = load_campaign(&mut conn, input.tenant_id, campaign_id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| {
            store_failure(StoreError::Invalid(format!(
                "campaign {campaign_id} does not exist"
            )))
        })?;
    let attribution_window_secs = campaign.attribution_window_hours as u64 * 3600;
    if status != RecipientStatus::Pending {
        return Ok(PrepareRecipientOutput {
            skip_reason: (status == RecipientStatus::Skipped).then(|| reason.unwrap_or_default()),
            send_at_ms: send_at.map_or(input.now_ms, millis),
            attribution_window_secs,
        });
    }
    let contact = sqlx::query!(
        r#"SELECT c.opted_out_at, c.merged_into,
                  EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = c.id AND i.channel_id = $3) AS "reachable!"
             FROM contacts c WHERE c.id = $1 AND c.tenant_id = $2"#,
        input.contact_id,
        input.tenant_id,
        campaign.channel_id,
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?
    .map(|c| (c.opted_out_at, c.merged_into, c.reachable));
    let skip_reason = match contact {
        None => Some("contact_deleted"),
        Some((Some(_), _, _)) => Some("opted_out"),
        Some((_, Some(_), _)) => Some("contact_merged"),
        Some((_, _, false)) => Some("no_identity_on_channel"),
        _ if campaign.status == CampaignStatus::Cancelled => Some("campaign_cancelled"),
        _ => None,
    };
    let skip_reason = match skip_reason {
        None if outside_messaging_window(&mut conn, campaign.channel_id, input.contact_id, now)
            .await
            .map_err(db)? =>
        {
            Some(OUTSIDE_MESSAGING_WINDOW)
        }
        other => other,
    };
    let skip_now = |reason: String| async move {
        let mut tx = pool.begin().await.map_err(db)?;
        skip(
            &mut tx,
            input.tenant_id,
            input.run_id,
            input.contact_id,
            &reason,
        )
        .await
        .map_err(store_failure)?;
        tx.commit().await.map_err(db)?;
        Ok::<_, ActivityError>(PrepareRecipientOutput {
            skip_reason: Some(reason),
            send_at_ms: input.now_ms,
            attribution_window_secs,
        })
    };
    if let Some(reason) = skip_reason {
        drop(conn);
        return skip_now(reason.to_owned()).await;
    }
    let Some(agents) = agents else {
        drop(conn);
        return skip_now("agent_service_not_configured".into()).await;
    };
    let request_id =
        ids::campaign_recipient_workflow_id(input.tenant_id, input.run_id, input.contact_id);
    let request =
        match personalisation_request(&mut conn, &campaign, input.contact_id, &request_id).await {
            Ok(request) => request,
            Err(PersonaliseError::Store(e)) => return Err(store_failure(e)),
            Err(PersonaliseError::Agent(e)) => return Err(agent_failure(e)),
        };
    // Not held across the agent call: a campaign has many recipients preparing at once.
    drop(conn);
    let personalised = ask_agent(agents, &campaign, request)
        .await
        .map_err(|e| match e {
            PersonaliseError::Store(e) => store_failure(e),
            PersonaliseError::Agent(e) => agent_failure(e),
        })?;
    let send_at = choose_send_time(&campaign, personalised.best_hour, now).unwrap_or(now);
    let mut tx = pool.begin().await.map_err(db)?;
    let scheduled = RecipientStatus::Scheduled;
    let updated = sqlx::query!(
        "UPDATE campaign_recipients SET status = $8, status_rank = $9, personalised_text = $4, agent_type = $5,
                best_hour = $6, send_at = $7, scheduled_at = now()
          WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3 AND status = $10",
        input.tenant_id,
        input.run_id,
        input.contact_id,
        personalised.text,
        personalised.agent_type,
        personalised.best_hour.map(|h| h as i16),
        send_at,
        scheduled.as_str(),
        scheduled.rank(),
        RecipientStatus::Pending.as_str(),
    )
    .execute(&mut *tx)
    .await
    .map_err(db)?
    .rows_affected();
    if updated == 0 {
        // Cancelled meanwhile: the row says so.
        let (_, status, reason, stored_at) =
            recipient_status(&mut tx, input.tenant_id, input.run_id, input.contact_id)
                .await
                .map_err(store_failure)?;
        return Ok(PrepareRecipientOutput {
            skip_reason: (status == RecipientStatus::Skipped).then(|| reason.unwrap_or_default()),
            send_at_ms: stored_at.map_or(input.now_ms, millis),
            attribution_window_secs,
        });
    }
    tx.commit().await.map_err(db)?;
    Ok(PrepareRecipientOutput {
        skip_reason: None,
        send_at_ms: millis(send_at),
        attribution_window_secs,
    })
}

/// Records the skip (only before the message exists) with an outbox event.
pub(super) async fn skip(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant_id: Uuid,
    run_id: Uuid,
    contact_id: Uuid,
    reason: &str,
) -> Result<(), StoreError> {
    let skipped = RecipientStatus::Skipped;
    let campaign_id = sqlx::query_scalar!(
        "UPDATE campaign_recipients SET status = $5, status_rank = $6, reason = $4, skipped_at = now(), held_at = NULL
          WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3 AND status = ANY($7)
          RETURNING campaign_id",
        tenant_id,
        run_id,
        contact_id,
        reason,
        skipped.as_str(),
        skipped.rank(),
        &UNSENT as &[&str],
    )
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(campaign_id) = campaign_id {
        append_outbox(
            tx,
            tenant_id,
            EventType::CampaignRecipientSkipped,
            "campaign",
            campaign_id,
            json!({"campaign_id": campaign_id, "run_id": run_id, "contact_id": contact_id, "status": skipped, "reason": reason}),
        )
        .await?;
    }
    Ok(())
}

/// The statuses of a recipient the run still waits for (its message not yet accepted).
pub(super) const OUTSTANDING: [&str; 3] = [
    RecipientStatus::Pending.as_str(),
    RecipientStatus::Scheduled.as_str(),
    RecipientStatus::Sending.as_str(),
];

/// The statuses of a recipient whose message is not written yet: the only ones a skip may replace.
pub(super) const UNSENT: [&str; 2] = [
    RecipientStatus::Pending.as_str(),
    RecipientStatus::Scheduled.as_str(),
];

pub(super) async fn cancel_unsent(
    pool: &PgPool,
    tenant_id: Uuid,
    run_id: Uuid,
) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    let skipped = RecipientStatus::Skipped;
    let n = sqlx::query!(
        "UPDATE campaign_recipients SET status = $3, status_rank = $4, reason = 'campaign_cancelled', skipped_at = now()
          WHERE tenant_id = $1 AND run_id = $2 AND status = ANY($5)",
        tenant_id,
        run_id,
        skipped.as_str(),
        skipped.rank(),
        &UNSENT as &[&str],
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(n)
}
