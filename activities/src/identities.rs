//! One person, one contact, on WhatsApp. WhatsApp addresses a person by phone number (`…@c.us`) or
//! by a hidden linked id (`…@lid`), and the same person can write from both. The LinkIdentity
//! activity learns the other address (from the message itself, or by asking WAHA's lid map) and
//! either adds it to the sender's contact or, when another contact already holds it, records a
//! merge of the two that the Conversation workflow then runs as a ContactMerge.

use std::sync::Arc;

use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use uuid::Uuid;
use ventros_domain::MergeStatus;
use ventros_workflows::contract::{
    ContactMergeInput, LinkIdentityInput, LinkIdentityOutput, activities as defs, ids,
};

use crate::acts::store_failure;
use ventros_channels::provider::ProviderConfig;
use ventros_channels::waha::{ChatKind, WahaApi, classify_chat_id};
use ventros_store::{self as store, StoreError};

/// Who a merge started by linking is attributed to (`contact_merges.requested_by`).
const LINKED_BY: &str = "system:whatsapp-identity";

pub struct IdentityActivities {
    pool: PgPool,
    waha: Arc<dyn WahaApi>,
}

impl IdentityActivities {
    pub fn new(pool: PgPool, waha: Arc<dyn WahaApi>) -> Self {
        IdentityActivities { pool, waha }
    }
}

#[activities]
impl IdentityActivities {
    #[activity(definition = defs::LinkIdentity)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn link_identity(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: LinkIdentityInput,
    ) -> Result<LinkIdentityOutput, ActivityError> {
        let channel = store::load_channel(&self.pool, input.tenant_id, input.channel_id)
            .await
            .map_err(store_failure)?;
        let ProviderConfig::Waha(cfg) = &channel.provider else {
            return Ok(LinkIdentityOutput::default());
        };
        let address = identity_address(&self.pool, input.tenant_id, input.hint.identity_id)
            .await
            .map_err(store_failure)?;
        let alternate = match input.hint.alternate.clone() {
            Some(alternate) => Some(alternate),
            // WAHA's answer is only a hint: failures are retried by Temporal, then left to a later run.
            None => match classify_chat_id(&address).1 {
                ChatKind::Lid => self.waha.lid_phone(cfg, &address).await,
                ChatKind::User => self.waha.phone_lid(cfg, &address).await,
                ChatKind::Other => Ok(None),
            }
            .map_err(|e| {
                ActivityError::from(anyhow::anyhow!("WAHA's lid map did not answer: {e}"))
            })?,
        };
        let Some(alternate) = alternate else {
            return Ok(LinkIdentityOutput::default());
        };
        let out = link(
            &self.pool,
            input.tenant_id,
            input.channel_id,
            input.hint.identity_id,
            &alternate,
        )
        .await
        .map_err(store_failure)?;
        tracing::info!(
            tenant.id = %input.tenant_id,
            identity.added = out.added_identity.is_some(),
            merge.recorded = out.merge.is_some(),
            "whatsapp identity linked"
        );
        Ok(out)
    }
}

async fn identity_address(
    pool: &PgPool,
    tenant_id: Uuid,
    identity_id: Uuid,
) -> Result<String, StoreError> {
    sqlx::query_scalar!(
        "SELECT external_id FROM contact_identities WHERE id = $1 AND tenant_id = $2",
        identity_id,
        tenant_id,
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| StoreError::Invalid(format!("identity {identity_id} does not exist")))
}

/// Records `alternate` as the same person as `identity_id`. Idempotent: a retry finds the address
/// already on the contact, or the same running merge.
pub async fn link(
    pool: &PgPool,
    tenant_id: Uuid,
    channel_id: Uuid,
    identity_id: Uuid,
    alternate: &str,
) -> Result<LinkIdentityOutput, StoreError> {
    let (alternate, alternate_kind) = classify_chat_id(alternate);
    let alternate_kind = match alternate_kind {
        ChatKind::User => "wa_user",
        ChatKind::Lid => "wa_lid",
        ChatKind::Other => return Ok(LinkIdentityOutput::default()),
    };
    let mut tx = pool.begin().await?;
    let identity = sqlx::query!(
        "SELECT contact_id, kind FROM contact_identities WHERE id = $1 AND tenant_id = $2 AND channel_id = $3 FOR UPDATE",
        identity_id,
        tenant_id,
        channel_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::Invalid(format!("identity {identity_id} does not exist")))?;
    let contact_id = identity.contact_id;
    if identity.kind == alternate_kind {
        // Two phone numbers (or two hidden ids) are never the same address.
        return Ok(LinkIdentityOutput::default());
    }
    let added = sqlx::query_scalar!(
        "INSERT INTO contact_identities (id, tenant_id, contact_id, channel_id, kind, external_id) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (channel_id, external_id) DO NOTHING RETURNING id",
        Uuid::now_v7(),
        tenant_id,
        contact_id,
        channel_id,
        alternate_kind,
        &alternate,
    )
    .fetch_optional(&mut *tx)
    .await?;
    if added.is_some() {
        tx.commit().await?;
        return Ok(LinkIdentityOutput {
            added_identity: added,
            merge: None,
        });
    }
    let other = sqlx::query_scalar!(
        "SELECT contact_id FROM contact_identities WHERE channel_id = $1 AND external_id = $2",
        channel_id,
        &alternate,
    )
    .fetch_one(&mut *tx)
    .await?;
    if other == contact_id {
        return Ok(LinkIdentityOutput::default());
    }
    let merge = record_merge(&mut tx, tenant_id, contact_id, other).await?;
    tx.commit().await?;
    Ok(LinkIdentityOutput {
        added_identity: None,
        merge,
    })
}

/// Records the merge of two contacts of one person: the older survives. `None` when either is
/// already in another merge (the next message of the chat tries again).
async fn record_merge(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant_id: Uuid,
    a: Uuid,
    b: Uuid,
) -> Result<Option<ContactMergeInput>, StoreError> {
    // Lock both in one order so two chats linking the same pair cannot deadlock.
    let live = sqlx::query!(
        "SELECT id, created_at FROM contacts WHERE tenant_id = $1 AND id = ANY($2) AND merged_into IS NULL ORDER BY id FOR UPDATE",
        tenant_id,
        &[a, b][..],
    )
    .fetch_all(&mut **tx)
    .await?;
    let [first, second] = live.as_slice() else {
        return Ok(None);
    };
    let (target, source) = if (first.created_at, first.id) <= (second.created_at, second.id) {
        (first.id, second.id)
    } else {
        (second.id, first.id)
    };
    let running = sqlx::query!(
        "SELECT id, source_contact_id, target_contact_id FROM contact_merges
          WHERE tenant_id = $1 AND status = $3 AND (source_contact_id = ANY($2) OR target_contact_id = ANY($2)) LIMIT 1",
        tenant_id,
        &[source, target][..],
        MergeStatus::Running.as_str(),
    )
    .fetch_optional(&mut **tx)
    .await?;
    let merge_id = match running {
        Some(m) if m.source_contact_id == source && m.target_contact_id == target => m.id,
        Some(_) => return Ok(None),
        None => {
            let id = Uuid::now_v7();
            sqlx::query!(
                "INSERT INTO contact_merges (id, tenant_id, source_contact_id, target_contact_id, workflow_id, requested_by) VALUES ($1, $2, $3, $4, $5, $6)",
                id,
                tenant_id,
                source,
                target,
                ids::contact_merge_workflow_id(tenant_id, id),
                LINKED_BY,
            )
            .execute(&mut **tx)
            .await?;
            id
        }
    };
    Ok(Some(ContactMergeInput {
        tenant_id,
        merge_id,
    }))
}
