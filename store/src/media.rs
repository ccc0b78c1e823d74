//! Inbound files on their way into object storage: which of a message's files are still to
//! fetch, and recording each one stored or failed. When none is left pending, the message's
//! `message.media_stored` event tells the inbox (and the memory feed, for a voice note's words).

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;
use ventros_domain::EventType;

use super::{StoreError, append_outbox};

/// A file of an inbound message still to fetch.
#[derive(Debug, Clone)]
pub struct PendingFile {
    pub id: Uuid,
    pub kind: String,
    pub source_url: Option<String>,
    pub declared_type: Option<String>,
}

/// A fetched file's facts, as checked from its bytes.
#[derive(Debug, Clone)]
pub struct StoredFile<'a> {
    pub content_type: &'a str,
    pub size_bytes: i64,
    pub sha256: &'a [u8],
    pub storage_key: &'a str,
    pub transcript: Option<&'a str>,
}

pub async fn pending_files(
    pool: &PgPool,
    tenant_id: Uuid,
    message_id: Uuid,
) -> Result<Vec<PendingFile>, StoreError> {
    let rows = sqlx::query!(
        "SELECT id, kind, source_url, content_type FROM media_files
          WHERE tenant_id = $1 AND message_id = $2 AND status = 'pending' ORDER BY position",
        tenant_id,
        message_id
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| PendingFile {
            id: r.id,
            kind: r.kind,
            source_url: r.source_url,
            declared_type: r.content_type,
        })
        .collect())
}

/// Records a file stored (once: a row no longer pending is left as it is).
pub async fn file_stored(
    pool: &PgPool,
    tenant_id: Uuid,
    file_id: Uuid,
    kind: &str,
    file: &StoredFile<'_>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE media_files SET status = 'stored', kind = $3, content_type = $4, size_bytes = $5, sha256 = $6,
                storage_key = $7, transcript = $8, source_url = NULL, error = NULL, stored_at = now()
          WHERE id = $1 AND tenant_id = $2 AND status = 'pending'",
        file_id,
        tenant_id,
        kind,
        file.content_type,
        file.size_bytes,
        file.sha256,
        file.storage_key,
        file.transcript,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records why a file could not be had. `last`: give up (the file is failed); otherwise only the
/// reason is kept for the next attempt.
pub async fn file_failed(
    pool: &PgPool,
    tenant_id: Uuid,
    file_id: Uuid,
    reason: &str,
    last: bool,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE media_files SET error = $3, status = CASE WHEN $4 THEN 'failed' ELSE status END,
                source_url = CASE WHEN $4 THEN NULL ELSE source_url END
          WHERE id = $1 AND tenant_id = $2 AND status = 'pending'",
        file_id,
        tenant_id,
        reason,
        last,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Announces the message's files settled (stored or failed), once.
pub async fn media_settled(
    pool: &PgPool,
    tenant_id: Uuid,
    message_id: Uuid,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let message = sqlx::query!(
        r#"SELECT m.session_id, m.contact_id, m.channel_id, m.media_settled_at,
                  (SELECT count(*) FROM media_files f WHERE f.message_id = m.id AND f.status = 'pending') AS "pending!",
                  (SELECT count(*) FROM media_files f WHERE f.message_id = m.id AND f.transcript IS NOT NULL) AS "transcripts!"
             FROM messages m WHERE m.id = $1 AND m.tenant_id = $2 FOR UPDATE"#,
        message_id,
        tenant_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(message) = message else {
        return Ok(());
    };
    if message.pending == 0 && message.media_settled_at.is_none() {
        sqlx::query!(
            "UPDATE messages SET media_settled_at = now() WHERE id = $1",
            message_id
        )
        .execute(&mut *tx)
        .await?;
        append_outbox(
            &mut tx,
            tenant_id,
            EventType::MessageMediaStored,
            "message",
            message_id,
            json!({"message_id": message_id, "session_id": message.session_id, "contact_id": message.contact_id,
                   "channel_id": message.channel_id, "transcribed": message.transcripts > 0}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
