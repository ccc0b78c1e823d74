//! The steps of a contact merge (the ContactMerge workflow). Each step moves one kind of row from
//! the merged ("source") contact to the surviving ("target") one in a single transaction and is
//! idempotent: rows already moved are simply not found again, so a retried or resumed step moves
//! nothing twice. `Finish` folds tags and attributes in, leaves the source as a tombstone pointing
//! at the target, and announces `contact.merged`.

use std::sync::Arc;
use ventros_domain::{DealStatus, EventType, MergeStatus};

use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use uuid::Uuid;
use ventros_workflows::contract::{MergeStep, MergeStepInput, activities as defs};

use crate::acts::store_failure;
use ventros_store::{StoreError, append_outbox};

pub struct ContactActivities {
    pool: PgPool,
}

impl ContactActivities {
    pub fn new(pool: PgPool) -> Self {
        ContactActivities { pool }
    }
}

#[activities]
impl ContactActivities {
    #[activity(definition = defs::ContactMergeStep)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn merge_step(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: MergeStepInput,
    ) -> Result<u64, ActivityError> {
        merge_step(&self.pool, input.tenant_id, input.merge_id, input.step)
            .await
            .map_err(store_failure)
    }
}

/// Runs one step; returns how many rows it moved.
pub async fn merge_step(
    pool: &PgPool,
    tenant_id: Uuid,
    merge_id: Uuid,
    step: MergeStep,
) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        r#"SELECT source_contact_id, target_contact_id, status AS "status: MergeStatus"
             FROM contact_merges WHERE id = $1 AND tenant_id = $2 FOR UPDATE"#,
        merge_id,
        tenant_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::Invalid(format!("merge {merge_id} does not exist")))?;
    let (source, target) = (row.source_contact_id, row.target_contact_id);
    if row.status == MergeStatus::Completed {
        return Ok(0);
    }
    let moved = match step {
        MergeStep::Identities => {
            repoint(&mut tx, &["contact_identities"], tenant_id, source, target).await?
        }
        MergeStep::Conversations => {
            repoint(
                &mut tx,
                &["conversation_sessions", "messages", "agent_runs"],
                tenant_id,
                source,
                target,
            )
            .await?
        }
        MergeStep::Deals => {
            // One open deal per contact and pipeline: where both have one, the target's stays open
            // and the source's is closed as lost (kept, with its history, not deleted).
            sqlx::query!(
                "UPDATE deals d SET status = $5 WHERE d.tenant_id = $1 AND d.contact_id = $2 AND d.status = $4
                   AND EXISTS (SELECT 1 FROM deals t WHERE t.tenant_id = $1 AND t.contact_id = $3 AND t.status = $4 AND t.pipeline_id = d.pipeline_id)",
                tenant_id,
                source,
                target,
                DealStatus::Open.as_str(),
                DealStatus::Lost.as_str(),
            )
            .execute(&mut *tx)
            .await?;
            // Tickets and follow-up tasks follow the deals: they are the same contact's open business.
            repoint(
                &mut tx,
                &["deals", "tickets", "tasks"],
                tenant_id,
                source,
                target,
            )
            .await?
        }
        MergeStep::Memories => merge_memories(&mut tx, tenant_id, source, target).await?,
        MergeStep::Finish => {
            sqlx::query!(
                "UPDATE contacts t SET
                        tags = ARRAY(SELECT DISTINCT unnest(t.tags || s.tags) ORDER BY 1),
                        custom_attributes = s.custom_attributes || t.custom_attributes,
                        display_name = coalesce(t.display_name, s.display_name)
                   FROM contacts s WHERE t.id = $2 AND t.tenant_id = $1 AND s.id = $3 AND s.tenant_id = $1",
                tenant_id,
                target,
                source,
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                "UPDATE contacts SET merged_into = $3 WHERE id = $2 AND tenant_id = $1",
                tenant_id,
                source,
                target,
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                "UPDATE contact_merges SET status = $2, completed_at = now() WHERE id = $1",
                merge_id,
                MergeStatus::Completed.as_str(),
            )
            .execute(&mut *tx)
            .await?;
            append_outbox(
                &mut tx,
                tenant_id,
                EventType::ContactMerged,
                "contact",
                target,
                json!({"contact_id": target, "merged_contact_id": source, "merge_id": merge_id}),
            )
            .await?;
            1
        }
    };
    sqlx::query!(
        "UPDATE contact_merges SET moved = moved || jsonb_build_object($2::text, $3::bigint) WHERE id = $1",
        merge_id,
        serde_json::to_value(step)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        i64::try_from(moved).unwrap_or(i64::MAX),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(moved)
}

/// `UPDATE <table> SET contact_id = target WHERE contact_id = source` for each table.
async fn repoint(
    tx: &mut Transaction<'_, Postgres>,
    tables: &[&str],
    tenant_id: Uuid,
    source: Uuid,
    target: Uuid,
) -> Result<u64, StoreError> {
    let mut moved = 0;
    for table in tables {
        // Table names come from the fixed lists in this module, never from input.
        let sql =
            format!("UPDATE {table} SET contact_id = $3 WHERE tenant_id = $1 AND contact_id = $2");
        moved += sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(source)
            .bind(target)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    }
    Ok(moved)
}

/// Memories, episodes and the knowledge graph. An entity both contacts have (the contact node
/// itself, a city, a product) becomes one: the source's facts are re-pointed at the target's node.
async fn merge_memories(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    source: Uuid,
    target: Uuid,
) -> Result<u64, StoreError> {
    let pairs = sqlx::query!(
        r#"SELECT s.id AS "from!", t.id AS "to!" FROM memory_entities s JOIN memory_entities t
               ON t.tenant_id = s.tenant_id AND t.contact_id = $3 AND t.entity_type = s.entity_type AND t.normalized = s.normalized
            WHERE s.tenant_id = $1 AND s.contact_id = $2"#,
        tenant_id,
        source,
        target,
    )
    .fetch_all(&mut **tx)
    .await?;
    for pair in &pairs {
        sqlx::query!(
            "UPDATE memory_facts SET subject_id = $2 WHERE subject_id = $1",
            pair.from,
            pair.to,
        )
        .execute(&mut **tx)
        .await?;
        sqlx::query!(
            "UPDATE memory_facts SET object_id = $2 WHERE object_id = $1",
            pair.from,
            pair.to,
        )
        .execute(&mut **tx)
        .await?;
        sqlx::query!("DELETE FROM memory_entities WHERE id = $1", pair.from)
            .execute(&mut **tx)
            .await?;
    }
    let moved = repoint(
        tx,
        &[
            "memory_episodes",
            "memories",
            "memory_entities",
            "memory_facts",
        ],
        tenant_id,
        source,
        target,
    )
    .await?;
    Ok(moved + pairs.len() as u64)
}
