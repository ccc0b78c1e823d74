//! After a campaign message: the contact's reply attributed to it, or the campaign's session
//! closed when nobody answered.

use super::*;

pub(super) async fn record_reply(
    pool: &PgPool,
    input: &RecordReplyInput,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let replied = RecipientStatus::Replied;
    let campaign_id = sqlx::query_scalar!(
        "UPDATE campaign_recipients SET status = $5, status_rank = $6, replied_at = now(), reply_message_id = $4
          WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3 AND status = ANY($7)
          RETURNING campaign_id",
        input.tenant_id,
        input.run_id,
        input.contact_id,
        input.reply_message_id,
        replied.as_str(),
        replied.rank(),
        &RecipientStatus::ANSWERABLE as &[&str],
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(campaign_id) = campaign_id {
        append_outbox(
            &mut tx,
            input.tenant_id,
            EventType::CampaignRecipientReplied,
            "campaign",
            campaign_id,
            json!({"campaign_id": campaign_id, "run_id": input.run_id, "contact_id": input.contact_id,
                   "status": replied, "reply_message_id": input.reply_message_id}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// No reply within the window: the session the campaign opened closes if nobody wrote in it (a
/// contact who answered owns it through their Conversation, which closes it on inactivity).
pub(super) async fn close_recipient(pool: &PgPool, input: &RecipientAt) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let closed = sqlx::query!(
        "UPDATE conversation_sessions s SET status = 'closed', state = 'resolved', snoozed_until = NULL, resolved_at = now(),
                closed_at = now(), close_reason = 'campaign_no_reply'
           FROM campaign_recipients r
          WHERE r.tenant_id = $1 AND r.run_id = $2 AND r.contact_id = $3 AND s.id = r.session_id AND s.status = 'open'
            AND s.opened_by_batch = 'campaign:' || r.message_id
            AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.session_id = s.id AND m.direction = 'inbound')
          RETURNING s.id, s.contact_id",
        input.tenant_id,
        input.run_id,
        input.contact_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|s| (s.id, s.contact_id));
    if let Some((session_id, contact_id)) = closed {
        append_outbox(
            &mut tx,
            input.tenant_id,
            EventType::SessionClosed,
            "session",
            session_id,
            json!({"session_id": session_id, "contact_id": contact_id, "reason": "campaign_no_reply"}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
