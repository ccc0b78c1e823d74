//! Inbound messages: a batch of webhook inbox rows becomes contacts, identities, a session and
//! messages (deduplicated on the provider id), with their outbox events, in one transaction.

use serde_json::json;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;
use ventros_channels::attachments::InboundAttachment;
use ventros_channels::provider::normalise_inbound;
use ventros_domain::{EventType, RecipientStatus};
use ventros_workflows::{
    CampaignReplyTarget, IdentityHint, PersistInboundInput, PersistInboundOutput,
};

use super::{StoreError, append_outbox, load_channel};

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
        media_message_ids: Vec::new(),
    };

    let mut with_files = false;
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
        with_files |= message.attachments.iter().any(|a| a.url.is_some());

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
                insert_attachments(&mut tx, input.tenant_id, id, &message.attachments).await?;
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
        out.campaign_replies = reply_targets(
            &mut tx,
            input.tenant_id,
            input.channel_id,
            contact_id,
            *first,
        )
        .await?;
    }
    // Files still to fetch, of the messages this batch stored (a retry finds the same ones). Most
    // batches are text only and skip the lookup.
    if with_files {
        out.media_message_ids = sqlx::query_scalar!(
            r#"SELECT DISTINCT message_id AS "message_id!" FROM media_files
            WHERE message_id = ANY($1) AND status = 'pending' ORDER BY 1"#,
            &out.new_message_ids
        )
        .fetch_all(&mut *tx)
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

/// The contact and identity of a chat address, created the first time it is seen (a customer's first
/// message, or an operator writing first); a name fills a contact that has none. The flag says it
/// was created.
pub async fn upsert_contact(
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

/// Campaign recipients that a new inbound message from this contact on this channel answers:
/// sent (or being sent) within their campaign's attribution window, not yet replied.
async fn reply_targets(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    channel_id: Uuid,
    contact_id: Uuid,
    reply_message_id: Uuid,
) -> Result<Vec<CampaignReplyTarget>, sqlx::Error> {
    let rows = sqlx::query_scalar!(
        "SELECT r.workflow_id FROM campaign_recipients r JOIN campaigns c ON c.id = r.campaign_id
          WHERE r.tenant_id = $1 AND r.contact_id = $3 AND c.channel_id = $2 AND r.replied_at IS NULL
            AND r.status = ANY($4)
            AND coalesce(r.sent_at, r.scheduled_at) > now() - make_interval(hours => c.attribution_window_hours)",
        tenant_id,
        channel_id,
        contact_id,
        &RecipientStatus::ANSWERABLE as &[&str],
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|workflow_id| CampaignReplyTarget {
            workflow_id,
            reply_message_id,
        })
        .collect())
}

/// A new message's attachments: files to fetch (`pending`), and locations and contact cards,
/// which are complete as they come (`stored`).
async fn insert_attachments(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    message_id: Uuid,
    attachments: &[InboundAttachment],
) -> Result<(), StoreError> {
    for (position, attachment) in attachments.iter().enumerate().take(32) {
        let status = match (&attachment.details, &attachment.url) {
            (Some(_), _) => "stored",
            (None, Some(_)) => "pending",
            (None, None) => "failed",
        };
        sqlx::query!(
            "INSERT INTO media_files (id, tenant_id, message_id, position, direction, kind, status, filename, content_type,
                                      details, source_url, error, stored_at)
             VALUES ($1, $2, $3, $4, 'inbound', $5, $6, $7, $8, $9, $10, $11, CASE WHEN $6 = 'stored' THEN now() END)
             ON CONFLICT (message_id, position) WHERE message_id IS NOT NULL DO NOTHING",
            Uuid::now_v7(),
            tenant_id,
            message_id,
            position as i32,
            attachment.kind,
            status,
            attachment.filename.as_deref().and_then(ventros_media::content::clean_filename),
            attachment.declared_type,
            attachment.details,
            attachment.url,
            attachment.error,
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
