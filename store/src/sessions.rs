//! Conversation sessions: who answers them, closing them, and where their chat lives.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;
use ventros_domain::EventType;
use ventros_workflows::Assignment;

use super::{ChannelRow, StoreError, append_outbox};

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

/// Closes the session, which resolves it: by an operator (`by`), or by inactivity.
pub async fn close_session(
    pool: &PgPool,
    tenant_id: Uuid,
    session_id: Uuid,
    reason: &str,
    by: Option<&str>,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let closed = sqlx::query!(
        "UPDATE conversation_sessions SET status = 'closed', closed_at = now(), close_reason = $3,
                state = 'resolved', snoozed_until = NULL, resolved_at = now(), resolved_by = $4
         WHERE id = $1 AND tenant_id = $2 AND status = 'open'",
        session_id,
        tenant_id,
        reason,
        by,
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
            json!({"session_id": session_id, "reason": reason, "resolved_by": by}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
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
