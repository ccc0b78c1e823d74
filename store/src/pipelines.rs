//! The tenant's default sales pipeline and the open deal an agent's lead lands in.

use serde_json::json;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;
use ventros_domain::{DealStatus, EventType};

use super::append_outbox;

/// The default sales pipeline, created on first use.
const DEFAULT_STAGES: &[(&str, &str)] = &[
    ("new", "New"),
    ("contacted", "Contacted"),
    ("interested", "Interested"),
    ("qualified", "Qualified"),
    ("proposal", "Proposal"),
    ("won", "Won"),
    ("lost", "Lost"),
];

/// The tenant's default pipeline ("Sales" with the standard stages), created on first use.
pub async fn default_pipeline(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
) -> Result<Uuid, sqlx::Error> {
    if let Some(id) = sqlx::query_scalar!(
        "SELECT id FROM pipelines WHERE tenant_id = $1 AND is_default",
        tenant_id
    )
    .fetch_optional(&mut **tx)
    .await?
    {
        return Ok(id);
    }
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO pipelines (id, tenant_id, name, is_default) VALUES ($1, $2, 'Sales', true)",
        id,
        tenant_id,
    )
    .execute(&mut **tx)
    .await?;
    for (position, (key, name)) in (0_i32..).zip(DEFAULT_STAGES) {
        sqlx::query!(
            "INSERT INTO pipeline_stages (id, tenant_id, pipeline_id, key, name, position) VALUES ($1, $2, $3, $4, $5, $6)",
            Uuid::now_v7(),
            tenant_id,
            id,
            key,
            name,
            position,
        )
        .execute(&mut **tx)
        .await?;
    }
    Ok(id)
}

/// The contact's open deal in the default pipeline, created at stage `new` when missing.
pub(super) async fn open_deal(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    contact_id: Uuid,
    title: &str,
    source: &str,
) -> Result<(Uuid, bool), sqlx::Error> {
    let pipeline = default_pipeline(tx, tenant_id).await?;
    if let Some(id) = sqlx::query_scalar!(
        "SELECT id FROM deals WHERE pipeline_id = $1 AND contact_id = $2 AND status = $3",
        pipeline,
        contact_id,
        DealStatus::Open.as_str(),
    )
    .fetch_optional(&mut **tx)
    .await?
    {
        return Ok((id, false));
    }
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO deals (id, tenant_id, pipeline_id, stage_id, contact_id, title, source, created_by)
         SELECT $1, $2, $3, s.id, $4, $5, $6, 'agent' FROM pipeline_stages s WHERE s.pipeline_id = $3 AND s.key = 'new'",
        id,
        tenant_id,
        pipeline,
        contact_id,
        title,
        source,
    )
    .execute(&mut **tx)
    .await?;
    append_outbox(
        tx,
        tenant_id,
        EventType::DealCreated,
        "deal",
        id,
        json!({"deal_id": id, "contact_id": contact_id, "stage": "new"}),
    )
    .await?;
    Ok((id, true))
}
