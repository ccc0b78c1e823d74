//! A conversation's lifecycle for the team (open, pending, snoozed, resolved) and operator
//! replies that reopen a resolved session or open one for a chat that has none.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;
use ventros_domain::EventType;
use ventros_workflows::{AttachReplyInput, AttachReplyOutput, SetLifecycleInput};

use super::{StoreError, append_outbox};

/// Records the state the Conversation moved to; nothing when the row already says so (a retry) or
/// the session has closed meanwhile.
pub async fn set_lifecycle(pool: &PgPool, input: &SetLifecycleInput) -> Result<(), StoreError> {
    let until = input
        .snoozed_until_ms
        .and_then(DateTime::<Utc>::from_timestamp_millis);
    let mut tx = pool.begin().await?;
    let changed = sqlx::query!(
        "UPDATE conversation_sessions SET state = $3, snoozed_until = $4
          WHERE id = $1 AND tenant_id = $2 AND status = 'open'
            AND (state <> $3 OR snoozed_until IS DISTINCT FROM $4)",
        input.session_id,
        input.tenant_id,
        input.state.as_str(),
        until,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed > 0 {
        append_outbox(
            &mut tx,
            input.tenant_id,
            EventType::SessionStateChanged,
            "session",
            input.session_id,
            json!({"session_id": input.session_id, "state": input.state.as_str(), "snoozed_until": until,
                   "by": input.by, "cause": input.cause}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Puts an operator reply (or an operator's reopen) in its chat's open session: the open one, else
/// the chat's latest session reopened, else a new one (an operator starting a conversation).
/// Idempotent: a retry finds the session open and the request already pointing at it.
pub async fn attach_operator_reply(
    pool: &PgPool,
    input: &AttachReplyInput,
) -> Result<AttachReplyOutput, StoreError> {
    let mut tx = pool.begin().await?;
    let chat = match (input.request_id, input.reopen_session_id) {
        (Some(request_id), _) => request_chat(&mut tx, input, request_id).await?,
        (None, Some(session_id)) => sqlx::query!(
            "SELECT s.identity_id, i.contact_id FROM conversation_sessions s JOIN contact_identities i ON i.id = s.identity_id
              WHERE s.id = $1 AND s.tenant_id = $2 AND s.channel_id = $3",
            session_id,
            input.tenant_id,
            input.channel_id,
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|s| (s.identity_id, s.contact_id)),
        (None, None) => None,
    };
    let Some((identity_id, contact_id)) = chat else {
        return Err(StoreError::Invalid(
            "the operator's reply or reopen is not this chat's".into(),
        ));
    };
    let open = sqlx::query_scalar!(
        "SELECT id FROM conversation_sessions WHERE channel_id = $1 AND identity_id = $2 AND status = 'open'",
        input.channel_id,
        identity_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (session_id, opened) = match open {
        Some(id) => (id, false),
        None => (
            reopen_or_open(&mut tx, input, identity_id, contact_id).await?,
            true,
        ),
    };
    if let Some(request_id) = input.request_id {
        sqlx::query!(
            "UPDATE outbound_requests SET session_id = $2 WHERE id = $1",
            request_id,
            session_id,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(AttachReplyOutput {
        session_id,
        contact_id,
        session_opened: opened,
    })
}

/// The chat (identity, contact) an operator reply is for, with its row locked.
async fn request_chat(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    input: &AttachReplyInput,
    request_id: Uuid,
) -> Result<Option<(Uuid, Uuid)>, StoreError> {
    let request = sqlx::query!(
        r#"SELECT coalesce(r.identity_id, s.identity_id) AS "identity_id!", i.contact_id
             FROM outbound_requests r
             LEFT JOIN conversation_sessions s ON s.id = r.session_id
             JOIN contact_identities i ON i.id = coalesce(r.identity_id, s.identity_id)
            WHERE r.id = $1 AND r.tenant_id = $2 AND i.channel_id = $3
            FOR UPDATE OF r"#,
        request_id,
        input.tenant_id,
        input.channel_id,
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(request.map(|r| (r.identity_id, r.contact_id)))
}

async fn reopen_or_open(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    input: &AttachReplyInput,
    identity_id: Uuid,
    contact_id: Uuid,
) -> Result<Uuid, StoreError> {
    let reopened = sqlx::query_scalar!(
        "UPDATE conversation_sessions SET status = 'open', state = 'open', closed_at = NULL, close_reason = NULL,
                resolved_at = NULL, resolved_by = NULL, snoozed_until = NULL, last_activity_at = now(),
                assigned_to = 'bot', assignee = NULL, workflow_id = $3
          WHERE id = (SELECT id FROM conversation_sessions WHERE channel_id = $1 AND identity_id = $2
                       ORDER BY opened_at DESC LIMIT 1)
          RETURNING id",
        input.channel_id,
        identity_id,
        input.workflow_id,
    )
    .fetch_optional(&mut **tx)
    .await?;
    let (session_id, reopened) = match reopened {
        Some(id) => (id, true),
        None => {
            let id = Uuid::now_v7();
            sqlx::query!(
                "INSERT INTO conversation_sessions (id, tenant_id, channel_id, contact_id, identity_id, workflow_id, opened_by_batch)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                id,
                input.tenant_id,
                input.channel_id,
                contact_id,
                identity_id,
                input.workflow_id,
                match input.request_id {
                    Some(request_id) => format!("operator:{request_id}"),
                    None => format!("reopen:{}", input.reopen_session_id.unwrap_or_default()),
                },
            )
            .execute(&mut **tx)
            .await?;
            (id, false)
        }
    };
    append_outbox(
        tx,
        input.tenant_id,
        EventType::SessionOpened,
        "session",
        session_id,
        json!({"session_id": session_id, "contact_id": contact_id, "channel_id": input.channel_id,
               "reopened": reopened, "by": "operator"}),
    )
    .await?;
    Ok(session_id)
}
