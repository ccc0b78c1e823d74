//! Starting and steering a campaign: schedule it (a Temporal Schedule starts each run), pause,
//! resume, cancel. The database's status is the truth the recipients check before each send; the
//! schedule and the running workflow are told after it is committed.

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use temporalio_client::WorkflowSignalOptions;
use temporalio_client::schedules::{
    CreateScheduleOptions, DeleteScheduleOptions, PauseScheduleOptions, ScheduleAction,
    ScheduleError, ScheduleOverlapPolicy, UnpauseScheduleOptions,
};
use tonic::Code;
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_activities::campaigns::{CampaignRow, CampaignSchedule};
use ventros_domain::{CampaignRunStatus, CampaignStatus, EventType};
use ventros_workflows::{Campaign as CampaignWorkflow, CampaignControl, CampaignInput, ids};

use super::{Campaign, CampaignWithRuns, fetch_campaign, load, outbox, reachable};
use crate::auth::{AsAgent, Authorized, Principal};
use crate::db::tenant_tx;
use crate::error::ApiError;
use crate::ids::Id;
use crate::{AppState, TemporalLink};

fn temporal_error(err: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %err, "Temporal schedule call failed");
    ApiError::Unavailable("Temporal did not accept the schedule change; retry shortly".into())
}

fn too_slow() -> ApiError {
    ApiError::Unavailable("Temporal did not answer in time; repeat the request".into())
}

/// A campaign just scheduled, with the Temporal Schedule that will start its runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduledCampaign {
    #[serde(flatten)]
    pub campaign: CampaignWithRuns,
    pub schedule_link: TemporalLink,
}

/// Takes the campaign's row lock, so that two controls of one campaign apply one after the other.
async fn lock(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<(), ApiError> {
    sqlx::query_scalar!(
        "SELECT 1 AS one FROM campaigns WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(())
}

/// Starts the campaign on its schedule: a Temporal Schedule (visible in the Temporal UI) starts
/// each run.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/schedule", tag = "campaigns", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The scheduled campaign", body = ScheduledCampaign), (status = 404, description = "No such campaign"),
              (status = 409, description = "Not a draft"), (status = 422, description = "Schedule in the past, empty segment, invalid cron")))]
pub async fn schedule(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Campaign>,
) -> Result<Json<ScheduledCampaign>, ApiError> {
    let id = id.get();
    let tenant_id = principal.tenant_id;
    let mut tx = tenant_tx(&state.pool, tenant_id).await?;
    lock(&mut tx, id).await?;
    let campaign = load(&mut tx, tenant_id, id).await?;
    if campaign.status != CampaignStatus::Draft {
        return Err(ApiError::Conflict(format!(
            "campaign {id} is already {}",
            campaign.status
        )));
    }
    campaign
        .schedule
        .validate(Utc::now())
        .map_err(ApiError::Unprocessable)?;
    let reach = reachable(&mut tx, tenant_id, campaign.segment_id, campaign.channel_id).await?;
    if reach.count == 0 {
        return Err(ApiError::Unprocessable(
            "the segment selects no contact the campaign can reach on this channel".into(),
        ));
    }
    let schedule_id = ids::campaign_schedule_id(tenant_id, id);
    sqlx::query!(
        "UPDATE campaigns SET status = $2, schedule_id = $3, scheduled_at = now() WHERE id = $1",
        id,
        CampaignStatus::Scheduled.as_str(),
        schedule_id,
    )
    .execute(&mut *tx)
    .await?;
    outbox(
        &mut tx,
        tenant_id,
        EventType::CampaignScheduled,
        id,
        json!({"campaign_id": id, "schedule": campaign.schedule}),
    )
    .await?;
    // Committed first: a run the schedule starts at once must find the campaign scheduled.
    tx.commit().await?;

    if let Err(err) = create_schedule(&state, &campaign, &schedule_id).await {
        let mut tx = tenant_tx(&state.pool, tenant_id).await?;
        sqlx::query!(
            "UPDATE campaigns SET status = $2, schedule_id = NULL, scheduled_at = NULL WHERE id = $1 AND status = $3",
            id,
            CampaignStatus::Draft.as_str(),
            CampaignStatus::Scheduled.as_str(),
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Err(err);
    }
    let mut tx = tenant_tx(&state.pool, tenant_id).await?;
    let campaign = fetch_campaign(&state, &mut tx, id).await?;
    Ok(Json(ScheduledCampaign {
        campaign,
        schedule_link: state.config.temporal_link("schedules", &schedule_id),
    }))
}

async fn create_schedule(
    state: &AppState,
    campaign: &CampaignRow,
    schedule_id: &str,
) -> Result<(), ApiError> {
    let client = state.temporal.client().await?;
    let input = CampaignInput {
        tenant_id: campaign.tenant_id,
        campaign_id: campaign.id,
        carried: None,
    };
    let options = CreateScheduleOptions::builder()
        .action(ScheduleAction::start_workflow(
            CampaignWorkflow::run,
            input,
            state.config.task_queue.clone(),
            schedule_id.to_owned(),
        ))
        .spec(campaign.schedule.to_spec(campaign.time_zone.name()))
        .trigger_immediately(campaign.schedule == CampaignSchedule::Now)
        // A recurring campaign never overlaps itself: a run still going skips the next firing.
        .overlap_policy(ScheduleOverlapPolicy::Skip)
        .note(format!("campaign {}", campaign.id))
        .build();
    match tokio::time::timeout(
        state.config.temporal_deadline,
        client.create_schedule(schedule_id, options),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(ScheduleError::Rpc(status))) if status.code() == Code::AlreadyExists => Ok(()),
        Ok(Err(ScheduleError::Rpc(status))) if status.code() == Code::InvalidArgument => {
            Err(ApiError::Unprocessable(format!(
                "Temporal refused the schedule: {}",
                status.message()
            )))
        }
        Ok(Err(err)) => Err(temporal_error(err)),
        Err(_) => Err(ApiError::Unavailable(
            "Temporal did not answer in time; retry".into(),
        )),
    }
}

/// The workflow of the run in progress, if any.
async fn active_run(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<Option<String>, ApiError> {
    Ok(sqlx::query_scalar!(
        "SELECT workflow_id FROM campaign_runs WHERE campaign_id = $1 AND status = $2 ORDER BY run_no DESC LIMIT 1",
        id,
        CampaignRunStatus::Running.as_str(),
    )
    .fetch_optional(&mut *tx)
    .await?)
}

/// Which statuses a control applies to, the status it leaves, and the event it records.
fn transition(
    control: CampaignControl,
    run_active: bool,
) -> (&'static [CampaignStatus], CampaignStatus, EventType) {
    use CampaignStatus::{Cancelled, Draft, Paused, Running, Scheduled};
    match control {
        CampaignControl::Pause => (&[Scheduled, Running], Paused, EventType::CampaignPaused),
        CampaignControl::Resume => (
            &[Paused],
            if run_active { Running } else { Scheduled },
            EventType::CampaignResumed,
        ),
        CampaignControl::Cancel => (
            &[Draft, Scheduled, Running, Paused],
            Cancelled,
            EventType::CampaignCancelled,
        ),
    }
}

/// Records the control in the database (the truth the recipients check before sending), then
/// tells the schedule and the running workflow.
async fn control(
    state: &AppState,
    principal: Principal,
    id: Uuid,
    control: CampaignControl,
) -> Result<Json<CampaignWithRuns>, ApiError> {
    let tenant_id = principal.tenant_id;
    let mut tx = tenant_tx(&state.pool, tenant_id).await?;
    lock(&mut tx, id).await?;
    let campaign = load(&mut tx, tenant_id, id).await?;
    let run = active_run(&mut tx, id).await?;
    let (allowed, next, event) = transition(control, run.is_some());
    if !allowed.contains(&campaign.status) {
        return Err(ApiError::Conflict(format!(
            "campaign {id} is {}",
            campaign.status
        )));
    }
    sqlx::query!(
        "UPDATE campaigns SET status = $2, cancelled_at = CASE WHEN $2 = 'cancelled' THEN now() ELSE cancelled_at END WHERE id = $1",
        id,
        next.as_str(),
    )
    .execute(&mut *tx)
    .await?;
    outbox(
        &mut tx,
        tenant_id,
        event,
        id,
        json!({"campaign_id": id, "status": next}),
    )
    .await?;
    tx.commit().await?;

    if campaign.status != CampaignStatus::Draft {
        tell_temporal(state, tenant_id, id, control, run.as_deref()).await?;
    }
    let mut tx = tenant_tx(&state.pool, tenant_id).await?;
    Ok(Json(fetch_campaign(state, &mut tx, id).await?))
}

/// Applies a control to the campaign's schedule and signals its running workflow, if any.
async fn tell_temporal(
    state: &AppState,
    tenant_id: Uuid,
    id: Uuid,
    control: CampaignControl,
    run: Option<&str>,
) -> Result<(), ApiError> {
    let client = state.temporal.client().await?;
    let schedule = client.get_schedule_handle(ids::campaign_schedule_id(tenant_id, id));
    let deadline = state.config.temporal_deadline;
    let result = match control {
        CampaignControl::Pause => {
            tokio::time::timeout(
                deadline,
                schedule.pause(Some("paused from the API"), PauseScheduleOptions::default()),
            )
            .await
        }
        CampaignControl::Resume => {
            tokio::time::timeout(
                deadline,
                schedule.unpause(
                    Some("resumed from the API"),
                    UnpauseScheduleOptions::default(),
                ),
            )
            .await
        }
        CampaignControl::Cancel => {
            tokio::time::timeout(deadline, schedule.delete(DeleteScheduleOptions::default())).await
        }
    };
    match result {
        Ok(Ok(())) => {}
        Ok(Err(ScheduleError::Rpc(status))) if status.code() == Code::NotFound => {}
        Ok(Err(err)) => return Err(temporal_error(err)),
        Err(_) => return Err(too_slow()),
    }
    if let Some(workflow_id) = run {
        let handle = client.get_workflow_handle::<CampaignWorkflow>(workflow_id.to_owned());
        // A signal is durable: the run applies it even if no worker is up right now.
        match tokio::time::timeout(
            deadline,
            handle.signal(
                CampaignWorkflow::control,
                control,
                WorkflowSignalOptions::default(),
            ),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(err)) if err.to_string().to_lowercase().contains("not found") => {}
            Ok(Err(err)) => return Err(temporal_error(err)),
            Err(_) => return Err(too_slow()),
        }
    }
    Ok(())
}

/// Pauses the campaign: no new sends (recipients due meanwhile wait) and no new runs.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/pause", tag = "campaigns", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The campaign", body = CampaignWithRuns), (status = 409, description = "Not scheduled or running")))]
pub async fn pause(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Campaign>,
) -> Result<Json<CampaignWithRuns>, ApiError> {
    control(&state, principal, id.get(), CampaignControl::Pause).await
}

/// Resumes a paused campaign; held recipients send (each still exactly once).
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/resume", tag = "campaigns", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The campaign", body = CampaignWithRuns), (status = 409, description = "Not paused")))]
pub async fn resume(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Campaign>,
) -> Result<Json<CampaignWithRuns>, ApiError> {
    control(&state, principal, id.get(), CampaignControl::Resume).await
}

/// Cancels the campaign: pending sends stop (recorded as skipped), what was sent stays.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/cancel", tag = "campaigns", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The campaign", body = CampaignWithRuns), (status = 409, description = "Already completed or cancelled")))]
pub async fn cancel(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Campaign>,
) -> Result<Json<CampaignWithRuns>, ApiError> {
    control(&state, principal, id.get(), CampaignControl::Cancel).await
}
