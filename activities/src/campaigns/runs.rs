//! A run of a campaign: begun once per Temporal Schedule firing, its segment resolved page by page
//! into recipients, finished with the campaign's next status.

use super::*;

pub(super) async fn begin_run(
    pool: &PgPool,
    input: &BeginRunInput,
    page_size: u32,
    max_in_flight: u32,
) -> Result<BeginRunOutput, StoreError> {
    let mut tx = pool.begin().await?;
    let status = sqlx::query_scalar!(
        r#"SELECT status AS "status: CampaignStatus" FROM campaigns WHERE id = $1 AND tenant_id = $2 FOR UPDATE"#,
        input.campaign_id,
        input.tenant_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(status) = status else {
        return Err(StoreError::Invalid(format!(
            "campaign {} does not exist",
            input.campaign_id
        )));
    };
    let existing = sqlx::query!(
        "SELECT id, run_no FROM campaign_runs WHERE workflow_id = $1",
        input.workflow_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let paused = status == CampaignStatus::Paused;
    let (run_id, run_no) = match existing {
        Some(run) => (run.id, run.run_no),
        None => {
            if status.is_final() || status == CampaignStatus::Draft {
                return Ok(BeginRunOutput {
                    proceed: false,
                    ..Default::default()
                });
            }
            let run_id = Uuid::now_v7();
            let run_no = sqlx::query_scalar!(
                r#"INSERT INTO campaign_runs (id, tenant_id, campaign_id, run_no, workflow_id)
                   SELECT $1, $2, $3, coalesce(max(run_no), 0) + 1, $4 FROM campaign_runs WHERE campaign_id = $3
                   RETURNING run_no"#,
                run_id,
                input.tenant_id,
                input.campaign_id,
                input.workflow_id,
            )
            .fetch_one(&mut *tx)
            .await?;
            if !paused {
                sqlx::query!(
                    "UPDATE campaigns SET status = $2 WHERE id = $1",
                    input.campaign_id,
                    CampaignStatus::Running.as_str(),
                )
                .execute(&mut *tx)
                .await?;
            }
            append_outbox(
                &mut tx,
                input.tenant_id,
                EventType::CampaignRunStarted,
                "campaign",
                input.campaign_id,
                json!({"campaign_id": input.campaign_id, "run_id": run_id, "run_no": run_no, "workflow_id": input.workflow_id}),
            )
            .await?;
            (run_id, run_no)
        }
    };
    tx.commit().await?;
    Ok(BeginRunOutput {
        run_id,
        run_no,
        proceed: true,
        paused,
        page_size,
        max_in_flight,
    })
}

pub(super) async fn resolve_page(
    pool: &PgPool,
    input: &ResolvePageInput,
) -> Result<Vec<Uuid>, StoreError> {
    let mut tx = pool.begin().await?;
    let filter = sqlx::query_scalar!(
        "SELECT s.filter FROM campaigns c JOIN segments s ON s.id = c.segment_id WHERE c.id = $1 AND c.tenant_id = $2",
        input.campaign_id,
        input.tenant_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::Invalid(format!("campaign {} or its segment does not exist", input.campaign_id)))?;
    let mut filter: SegmentFilter = serde_json::from_value(filter).map_err(|e| {
        StoreError::Invalid(format!("the campaign's segment filter is invalid: {e}"))
    })?;
    // Opted-out contacts are resolved too, so their skip is recorded with its reason.
    filter.include_opted_out = true;
    let page = segments::page(
        &mut tx,
        input.tenant_id,
        &filter,
        input.after,
        i64::from(input.limit),
    )
    .await?;
    let workflow_ids: Vec<String> = page
        .iter()
        .map(|c| ids::campaign_recipient_workflow_id(input.tenant_id, input.run_id, *c))
        .collect();
    sqlx::query!(
        "INSERT INTO campaign_recipients (tenant_id, campaign_id, run_id, contact_id, workflow_id)
         SELECT $1, $2, $3, contact_id, workflow_id FROM unnest($4::uuid[], $5::text[]) AS t(contact_id, workflow_id)
         ON CONFLICT (run_id, contact_id) DO NOTHING",
        input.tenant_id,
        input.campaign_id,
        input.run_id,
        &page,
        &workflow_ids,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(page)
}

pub(super) async fn finish_run(pool: &PgPool, input: &FinishRunInput) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let (run_status, run_event) = if input.cancelled {
        (
            CampaignRunStatus::Cancelled,
            EventType::CampaignRunCancelled,
        )
    } else {
        (
            CampaignRunStatus::Completed,
            EventType::CampaignRunCompleted,
        )
    };
    let changed = sqlx::query!(
        "UPDATE campaign_runs SET status = $3, completed_at = now() WHERE id = $1 AND tenant_id = $2 AND status = $4",
        input.run_id,
        input.tenant_id,
        run_status.as_str(),
        CampaignRunStatus::Running.as_str(),
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed > 0 {
        let campaign = load_campaign(&mut tx, input.tenant_id, input.campaign_id).await?;
        if let Some(campaign) = campaign
            && !input.cancelled
            && campaign.status == CampaignStatus::Running
        {
            // A one-off campaign is done; a recurring one waits for its next firing.
            let next = if campaign.schedule.is_recurring() {
                CampaignStatus::Scheduled
            } else {
                CampaignStatus::Completed
            };
            sqlx::query!(
                "UPDATE campaigns SET status = $2, completed_at = CASE WHEN $2 = 'completed' THEN now() END WHERE id = $1",
                input.campaign_id,
                next.as_str(),
            )
            .execute(&mut *tx)
            .await?;
        }
        append_outbox(
            &mut tx,
            input.tenant_id,
            run_event,
            "campaign",
            input.campaign_id,
            json!({"campaign_id": input.campaign_id, "run_id": input.run_id}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
