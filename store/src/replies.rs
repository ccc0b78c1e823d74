//! Replies written by rules or people rather than agents: the greeting and away messages, and an
//! operator's reply the API accepted, each a pending outbound message with a pre-minted id.

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;
use ventros_channels::channel::{AutoReply, choose_auto_reply};
use ventros_workflows::{Assignment, PlanAutoReplyInput, PlanAutoReplyOutput, PlannedReply};

use super::{ChannelRow, StoreError};

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
        "SELECT s.contact_id, s.identity_id, s.status, s.assigned_to, s.last_away_sent_at,
                s.language, c.language AS contact_language
           FROM conversation_sessions s JOIN contacts c ON c.id = s.contact_id
          WHERE s.id = $1 AND s.tenant_id = $2 FOR UPDATE OF s",
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
    // The conversation's language as the agent service saw it, else what this session's words
    // say, else the language the contact wrote in before.
    let language = match session.language {
        Some(language) => Some(language),
        None => inbound_language(&mut tx, input.tenant_id, input.session_id)
            .await?
            .map(str::to_owned)
            .or(session.contact_language),
    };
    let (origin, text) = match choose_auto_reply(
        &channel.settings,
        now,
        input.session_opened,
        last_away,
        language.as_deref(),
    ) {
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
        // Its Conversation sends it, or hands it over to its OutboundMessage.
        &input.workflow_id,
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
         SELECT r.id, r.tenant_id, s.channel_id, s.id, s.contact_id, s.identity_id, 'outbound', nullif(r.body, ''),
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
    // The reply's file (if any) belongs to the message now; its text is the caption.
    sqlx::query!(
        "UPDATE media_files f SET message_id = r.id FROM outbound_requests r
          WHERE r.id = $1 AND r.tenant_id = $2 AND f.id = r.media_id AND f.message_id IS NULL",
        message_id,
        tenant_id,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The language (`pt`, `en`, `es`) of the customer's latest messages in the session, when their
/// words are clear: a greeting-only channel never asks the agent service, and its first reply
/// should still be in the customer's language.
async fn inbound_language(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    session_id: Uuid,
) -> Result<Option<&'static str>, StoreError> {
    let text = sqlx::query_scalar!(
        "SELECT string_agg(body, ' ' ORDER BY created_at) FROM (
           SELECT body, created_at FROM messages
            WHERE session_id = $1 AND tenant_id = $2 AND direction = 'inbound' AND body IS NOT NULL
            ORDER BY created_at DESC LIMIT 5) latest",
        session_id,
        tenant_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(text
        .as_deref()
        .and_then(ventros_domain::language::language_of))
}
