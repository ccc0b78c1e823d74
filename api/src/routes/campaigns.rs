//! Campaigns: create and edit drafts, schedule them (a Temporal Schedule starts each run), pause,
//! resume and cancel (the campaign's status in the database, the schedule, and a `control` signal
//! to the running Campaign workflow), preview the segment and one contact's personalised message,
//! and follow the recipients and the metrics.
//!
//! Bad input is refused before anything is written: an unknown channel or segment, a segment that
//! selects nobody, a schedule in the past, a window that never opens, an unknown time zone.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use temporalio_client::schedules::{
    CreateScheduleOptions, DeleteScheduleOptions, PauseScheduleOptions, ScheduleAction,
    ScheduleOverlapPolicy, UnpauseScheduleOptions,
};
use temporalio_client::{WorkflowQueryOptions, WorkflowSignalOptions};
use tonic::Code;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ventros_activities::campaigns::{
    CampaignRow, CampaignSchedule, PersonaliseError, SendWindow, choose_send_time, load_campaign,
    parse_time_zone, personalise,
};
use ventros_activities::segments::{SegmentFilter, preview};
use ventros_activities::store::StoreError;
use ventros_domain::EventType;
use ventros_workflows::{Campaign, CampaignControl, CampaignInput, ids};

use super::{optional_text, required_text};
use crate::auth::{AsAgent, Authorized, Principal};
use crate::db::{Sort, fetch_one_json, fetch_page, page_limit, tenant_tx};
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::{AppState, parse_id};

const CAMPAIGN_JSON: &str = "SELECT jsonb_build_object('id', c.id, 'name', c.name, 'channel_id', c.channel_id, 'segment_id', c.segment_id,
        'objective', c.objective, 'agent_type', c.agent_type, 'schedule', c.schedule, 'send_window', c.send_window, 'time_zone', c.time_zone,
        'rate_limit_per_minute', c.rate_limit_per_minute, 'best_send_time', c.best_send_time,
        'attribution_window_hours', c.attribution_window_hours, 'status', c.status, 'schedule_id', c.schedule_id,
        'created_by', c.created_by, 'created_at', c.created_at, 'updated_at', c.updated_at, 'scheduled_at', c.scheduled_at,
        'completed_at', c.completed_at, 'cancelled_at', c.cancelled_at) FROM campaigns c";
const SAMPLE: i64 = 10;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaign {
    pub name: String,
    pub channel_id: Uuid,
    pub segment_id: Uuid,
    /// The brief the agent writes each contact's message from.
    pub objective: String,
    /// The agent that writes the messages (default `SalesAgent`).
    pub agent_type: Option<String>,
    /// `{"kind":"now"}`, `{"kind":"once","at":RFC 3339}`, `{"kind":"cron","expression":"0 9 * * MON"}`
    /// (in `time_zone`) or `{"kind":"interval","every_seconds":86400}`.
    #[schema(value_type = Object)]
    pub schedule: CampaignSchedule,
    /// `{"days":[1..7],"start":"HH:MM","end":"HH:MM"}` in `time_zone` (default: every day, all day).
    #[schema(value_type = Option<Object>)]
    pub send_window: Option<SendWindow>,
    /// IANA time zone (default `UTC`).
    pub time_zone: Option<String>,
    /// Sends per minute across the whole campaign (default: unlimited).
    pub rate_limit_per_minute: Option<i32>,
    /// Send each contact at the hour the agent picks from their history (default true).
    pub best_send_time: Option<bool>,
    /// A reply within this many hours counts for the campaign (default 72).
    pub attribution_window_hours: Option<i32>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateCampaign {
    pub name: Option<String>,
    pub channel_id: Option<Uuid>,
    pub segment_id: Option<Uuid>,
    pub objective: Option<String>,
    pub agent_type: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub schedule: Option<CampaignSchedule>,
    #[schema(value_type = Option<Object>)]
    pub send_window: Option<SendWindow>,
    pub time_zone: Option<String>,
    /// `0` removes the limit.
    pub rate_limit_per_minute: Option<i32>,
    pub best_send_time: Option<bool>,
    pub attribution_window_hours: Option<i32>,
}

/// The checked definition of a campaign, as it is stored.
struct Definition {
    name: String,
    channel_id: Uuid,
    segment_id: Uuid,
    objective: String,
    agent_type: String,
    schedule: CampaignSchedule,
    send_window: SendWindow,
    time_zone: String,
    rate_limit_per_minute: Option<i32>,
    best_send_time: bool,
    attribution_window_hours: i32,
}

impl Definition {
    /// Checks everything that can be checked without the database.
    fn check_fields(&self) -> Result<(), ApiError> {
        let unprocessable = ApiError::Unprocessable;
        self.schedule.validate(Utc::now()).map_err(unprocessable)?;
        self.send_window.validate().map_err(unprocessable)?;
        parse_time_zone(&self.time_zone).map_err(unprocessable)?;
        if self
            .rate_limit_per_minute
            .is_some_and(|r| !(1..=100_000).contains(&r))
        {
            return Err(unprocessable(
                "rate_limit_per_minute must be 1 to 100000 (or 0 for no limit)".into(),
            ));
        }
        if !(1..=720).contains(&self.attribution_window_hours) {
            return Err(unprocessable(
                "attribution_window_hours must be 1 to 720".into(),
            ));
        }
        if self.agent_type.is_empty()
            || self.agent_type.len() > 100
            || !self
                .agent_type
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(unprocessable(
                "agent_type must be an agent's type name, e.g. SalesAgent".into(),
            ));
        }
        Ok(())
    }

    /// Checks the channel and segment under the caller's tenant, and that the segment selects
    /// somebody the campaign could write to.
    async fn check_references(
        &self,
        tx: &mut sqlx::PgConnection,
        tenant_id: Uuid,
    ) -> Result<(), ApiError> {
        let channel: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM channels WHERE id = $1)")
                .bind(self.channel_id)
                .fetch_one(&mut *tx)
                .await?;
        if !channel {
            return Err(ApiError::Unprocessable(format!(
                "channel {} does not exist",
                self.channel_id
            )));
        }
        let reachable = reachable(tx, tenant_id, self.segment_id, self.channel_id).await?;
        if reachable.0 == 0 {
            return Err(ApiError::Unprocessable(
                "the segment selects no contact the campaign can reach on this channel".into(),
            ));
        }
        Ok(())
    }

    fn bind_all<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.name)
            .bind(self.channel_id)
            .bind(self.segment_id)
            .bind(&self.objective)
            .bind(&self.agent_type)
            .bind(serde_json::to_value(&self.schedule).unwrap_or_default())
            .bind(serde_json::to_value(&self.send_window).unwrap_or_default())
            .bind(&self.time_zone)
            .bind(self.rate_limit_per_minute)
            .bind(self.best_send_time)
            .bind(self.attribution_window_hours)
    }
}

/// The segment's filter, restricted to what the campaign can use: contacts with an identity on
/// the channel who have not opted out. Returns (count, sample, total the segment selects).
async fn reachable(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    segment_id: Uuid,
    channel_id: Uuid,
) -> Result<(i64, Vec<Value>, i64), ApiError> {
    let filter: Option<Value> = sqlx::query_scalar("SELECT filter FROM segments WHERE id = $1")
        .bind(segment_id)
        .fetch_optional(&mut *tx)
        .await?;
    let filter = filter
        .ok_or_else(|| ApiError::Unprocessable(format!("segment {segment_id} does not exist")))?;
    let mut filter: SegmentFilter =
        serde_json::from_value(filter).map_err(|e| ApiError::Internal(e.into()))?;
    let (total, _) = preview(
        tx,
        tenant_id,
        &SegmentFilter {
            include_opted_out: true,
            ..filter.clone()
        },
        0,
    )
    .await?;
    filter.include_opted_out = false;
    filter.channel_id = Some(channel_id);
    let (count, sample) = preview(tx, tenant_id, &filter, SAMPLE).await?;
    Ok((count, sample, total))
}

fn store_error(err: StoreError) -> ApiError {
    match err {
        StoreError::Database(e) => e.into(),
        StoreError::Invalid(reason) => ApiError::Internal(anyhow::anyhow!(reason)),
    }
}

async fn load(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<CampaignRow, ApiError> {
    load_campaign(tx, tenant_id, id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("campaign {id} not found")))
}

async fn campaign_json(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    id: Uuid,
) -> Result<Value, ApiError> {
    let mut campaign = fetch_one_json(
        tx,
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{CAMPAIGN_JSON} WHERE c.id = $1"
        )))
        .bind(id),
        || format!("campaign {id}"),
    )
    .await?;
    let runs: Vec<Value> = sqlx::query_scalar(
        "SELECT jsonb_build_object('id', id, 'run_no', run_no, 'status', status, 'workflow_id', workflow_id,
                                   'started_at', started_at, 'completed_at', completed_at)
           FROM campaign_runs WHERE campaign_id = $1 ORDER BY run_no DESC LIMIT 20",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let runs: Vec<Value> = runs
        .into_iter()
        .map(|mut run| {
            let workflow_id = run["workflow_id"].as_str().unwrap_or_default().to_owned();
            run["workflow"] = state.config.workflow_link(&workflow_id);
            run
        })
        .collect();
    campaign["runs"] = Value::Array(runs);
    Ok(campaign)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `draft`, `scheduled`, `running`, `paused`, `completed` or `cancelled`.
    pub status: Option<String>,
    /// `created_at` or `name`, `-` prefix for descending (default `-created_at`).
    pub sort: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
}

const STATUSES: [&str; 6] = [
    "draft",
    "scheduled",
    "running",
    "paused",
    "completed",
    "cancelled",
];

/// Lists campaigns.
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "campaigns", params(ListQuery),
    responses((status = 200, description = "A page of campaigns", body = Value), (status = 400, description = "Bad filter, sort or cursor")))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    if q.status.as_deref().is_some_and(|s| !STATUSES.contains(&s)) {
        return Err(ApiError::BadRequest(format!(
            "status must be one of {}",
            STATUSES.join(", ")
        )));
    }
    let sort = Sort::parse(q.sort.as_deref(), &["created_at", "name"], true)?;
    let limit = page_limit(q.limit)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let page = fetch_page(&mut tx, sort, q.cursor.as_deref(), limit, |qb| {
        qb.push(
            "SELECT c.id, c.name, c.channel_id, c.segment_id, c.agent_type, c.schedule, c.status, c.created_at, c.scheduled_at, c.completed_at,
                    (SELECT count(*) FROM campaign_recipients r WHERE r.campaign_id = c.id) AS targeted,
                    (SELECT count(*) FROM campaign_recipients r WHERE r.campaign_id = c.id AND r.sent_at IS NOT NULL) AS sent
               FROM campaigns c WHERE true",
        );
        if let Some(status) = q.status {
            qb.push(" AND c.status = ").push_bind(status);
        }
    })
    .await?;
    Ok(Json(page))
}

/// Creates a campaign as a draft (schedule it to start it).
#[utoipa::path(post, path = "/api/v1/campaigns", tag = "campaigns", request_body = CreateCampaign,
    responses((status = 201, description = "The draft campaign", body = Value),
              (status = 422, description = "Unknown channel or segment, empty segment, schedule in the past, window that never opens, bad time zone")))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    ApiJson(req): ApiJson<CreateCampaign>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let definition = Definition {
        name: required_text(&req.name, "name", 200)?,
        channel_id: req.channel_id,
        segment_id: req.segment_id,
        objective: required_text(&req.objective, "objective", 2000)?,
        agent_type: req.agent_type.unwrap_or_else(|| "SalesAgent".into()),
        schedule: req.schedule,
        send_window: req.send_window.unwrap_or_default(),
        time_zone: req.time_zone.unwrap_or_else(|| "UTC".into()),
        rate_limit_per_minute: req.rate_limit_per_minute.filter(|r| *r != 0),
        best_send_time: req.best_send_time.unwrap_or(true),
        attribution_window_hours: req.attribution_window_hours.unwrap_or(72),
    };
    definition.check_fields()?;
    check_agent_type(&state, &definition.agent_type).await?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    definition
        .check_references(&mut tx, principal.tenant_id)
        .await?;
    let id = Uuid::now_v7();
    let insert = sqlx::query(
        "INSERT INTO campaigns (name, channel_id, segment_id, objective, agent_type, schedule, send_window, time_zone,
                                rate_limit_per_minute, best_send_time, attribution_window_hours, id, tenant_id, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    );
    definition
        .bind_all(insert)
        .bind(id)
        .bind(principal.tenant_id)
        .bind(principal.label())
        .execute(&mut *tx)
        .await?;
    outbox(
        &mut tx,
        principal.tenant_id,
        EventType::CampaignCreated,
        id,
        json!({"campaign_id": id, "name": definition.name}),
    )
    .await?;
    let campaign = campaign_json(&state, &mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(campaign)))
}

/// An agent type the agent service does not offer is refused; while the service cannot be asked,
/// the type is accepted (recipients are skipped as `agent_rejected` if it turns out unknown).
async fn check_agent_type(state: &AppState, agent_type: &str) -> Result<(), ApiError> {
    let Ok(agents) = state.agents.agents().await else {
        return Ok(());
    };
    let known = agents["items"]
        .as_array()
        .is_some_and(|items| items.iter().any(|a| a["type"] == agent_type));
    if !known {
        return Err(ApiError::Unprocessable(format!(
            "unknown agent type {agent_type:?}; GET /api/v1/agents lists them"
        )));
    }
    Ok(())
}

async fn outbox(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    event_type: EventType,
    campaign_id: Uuid,
    payload: Value,
) -> Result<(), ApiError> {
    sqlx::query!(
        "INSERT INTO outbox_events (tenant_id, event_type, aggregate_type, aggregate_id, payload) VALUES ($1, $2, 'campaign', $3, $4)",
        tenant_id,
        event_type.as_str(),
        campaign_id,
        payload,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A campaign with its runs, metrics and, while a run is active, the run's live progress.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "campaigns", params(("id" = String, Path)),
    responses((status = 200, description = "The campaign", body = Value), (status = 404, description = "No such campaign")))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "campaign")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let mut campaign = campaign_json(&state, &mut tx, id).await?;
    campaign["metrics"] = metrics_json(&mut tx, id, None, "hour").await?;
    drop(tx);
    let active = campaign["runs"]
        .as_array()
        .and_then(|runs| runs.iter().find(|r| r["status"] == "running"))
        .and_then(|r| r["workflow_id"].as_str().map(str::to_owned));
    campaign["live"] = match active {
        Some(workflow_id) => live_progress(&state, &workflow_id).await,
        None => json!({"available": false, "reason": "no run is active"}),
    };
    Ok(Json(campaign))
}

async fn live_progress(state: &AppState, workflow_id: &str) -> Value {
    let Ok(client) = state.temporal.client().await else {
        return json!({"available": false, "reason": "Temporal is not reachable"});
    };
    let handle = client.get_workflow_handle::<Campaign>(workflow_id.to_owned());
    let query = handle.query(Campaign::state, (), WorkflowQueryOptions::default());
    match tokio::time::timeout(state.config.temporal_deadline / 2, query).await {
        Ok(Ok(progress)) => json!({"available": true, "state": progress}),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, workflow.id = %workflow_id, "campaign query failed");
            json!({"available": false, "reason": "query failed"})
        }
        Err(_) => json!({"available": false, "reason": "query deadline exceeded"}),
    }
}

/// Edits a draft (a scheduled campaign must be cancelled and recreated).
#[utoipa::path(patch, path = "/api/v1/campaigns/{id}", tag = "campaigns", params(("id" = String, Path)), request_body = UpdateCampaign,
    responses((status = 200, description = "The campaign", body = Value), (status = 404, description = "No such campaign"),
              (status = 409, description = "Not a draft"), (status = 422, description = "Invalid definition")))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateCampaign>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "campaign")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let current = load(&mut tx, principal.tenant_id, id).await?;
    if current.status != "draft" {
        return Err(ApiError::Conflict(format!(
            "campaign {id} is {}; only drafts can be edited",
            current.status
        )));
    }
    let definition = Definition {
        name: optional_text(req.name.as_deref(), "name", 200)?.unwrap_or(current.name),
        channel_id: req.channel_id.unwrap_or(current.channel_id),
        segment_id: req.segment_id.unwrap_or(current.segment_id),
        objective: optional_text(req.objective.as_deref(), "objective", 2000)?
            .unwrap_or(current.objective),
        agent_type: req.agent_type.unwrap_or(current.agent_type),
        schedule: req.schedule.unwrap_or(current.schedule),
        send_window: req.send_window.unwrap_or(current.send_window),
        time_zone: req
            .time_zone
            .unwrap_or_else(|| current.time_zone.name().to_owned()),
        rate_limit_per_minute: match req.rate_limit_per_minute {
            Some(0) => None,
            Some(r) => Some(r),
            None => current.rate_limit_per_minute,
        },
        best_send_time: req.best_send_time.unwrap_or(current.best_send_time),
        attribution_window_hours: req
            .attribution_window_hours
            .unwrap_or(current.attribution_window_hours),
    };
    definition.check_fields()?;
    check_agent_type(&state, &definition.agent_type).await?;
    definition
        .check_references(&mut tx, principal.tenant_id)
        .await?;
    let change = sqlx::query(
        "UPDATE campaigns SET name = $1, channel_id = $2, segment_id = $3, objective = $4, agent_type = $5, schedule = $6, send_window = $7,
                time_zone = $8, rate_limit_per_minute = $9, best_send_time = $10, attribution_window_hours = $11
          WHERE id = $12 AND status = 'draft'",
    );
    definition
        .bind_all(change)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    outbox(
        &mut tx,
        principal.tenant_id,
        EventType::CampaignUpdated,
        id,
        json!({"campaign_id": id}),
    )
    .await?;
    let campaign = campaign_json(&state, &mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(campaign))
}

/// Deletes a draft.
#[utoipa::path(delete, path = "/api/v1/campaigns/{id}", tag = "campaigns", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such campaign"), (status = 409, description = "Not a draft")))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "campaign")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let current = load(&mut tx, principal.tenant_id, id).await?;
    if current.status != "draft" {
        return Err(ApiError::Conflict(format!(
            "campaign {id} is {}; cancel it instead (its history is kept)",
            current.status
        )));
    }
    sqlx::query("DELETE FROM campaigns WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn temporal_error(err: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %err, "Temporal schedule call failed");
    ApiError::Unavailable("Temporal did not accept the schedule change; retry shortly".into())
}

/// Starts the campaign on its schedule: a Temporal Schedule (visible in the Temporal UI) starts
/// each run.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/schedule", tag = "campaigns", params(("id" = String, Path)),
    responses((status = 200, description = "The scheduled campaign", body = Value), (status = 404, description = "No such campaign"),
              (status = 409, description = "Not a draft"), (status = 422, description = "Schedule in the past, empty segment, invalid cron")))]
pub async fn schedule(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "campaign")?;
    let tenant_id = principal.tenant_id;
    let mut tx = tenant_tx(&state.pool, tenant_id).await?;
    sqlx::query("SELECT 1 FROM campaigns WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let campaign = load(&mut tx, tenant_id, id).await?;
    if campaign.status != "draft" {
        return Err(ApiError::Conflict(format!(
            "campaign {id} is already {}",
            campaign.status
        )));
    }
    campaign
        .schedule
        .validate(Utc::now())
        .map_err(ApiError::Unprocessable)?;
    if reachable(&mut tx, tenant_id, campaign.segment_id, campaign.channel_id)
        .await?
        .0
        == 0
    {
        return Err(ApiError::Unprocessable(
            "the segment selects no contact the campaign can reach on this channel".into(),
        ));
    }
    let schedule_id = ids::campaign_schedule_id(tenant_id, id);
    sqlx::query("UPDATE campaigns SET status = 'scheduled', schedule_id = $2, scheduled_at = now() WHERE id = $1")
        .bind(id)
        .bind(&schedule_id)
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

    let created = create_schedule(&state, &campaign, &schedule_id).await;
    if let Err(err) = created {
        let mut tx = tenant_tx(&state.pool, tenant_id).await?;
        sqlx::query("UPDATE campaigns SET status = 'draft', schedule_id = NULL, scheduled_at = NULL WHERE id = $1 AND status = 'scheduled'")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Err(err);
    }
    let mut tx = tenant_tx(&state.pool, tenant_id).await?;
    let mut body = campaign_json(&state, &mut tx, id).await?;
    body["schedule_link"] = json!({"id": schedule_id, "url": format!("{}/namespaces/{}/schedules/{}",
        state.config.temporal_ui_url.trim_end_matches('/'), state.config.temporal_namespace, schedule_id.replace(':', "%3A"))});
    Ok(Json(body))
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
            Campaign::run,
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
        Ok(Err(temporalio_client::schedules::ScheduleError::Rpc(status)))
            if status.code() == Code::AlreadyExists =>
        {
            Ok(())
        }
        Ok(Err(temporalio_client::schedules::ScheduleError::Rpc(status)))
            if status.code() == Code::InvalidArgument =>
        {
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

/// The run in progress, if any.
async fn active_run(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<Option<String>, ApiError> {
    Ok(sqlx::query_scalar("SELECT workflow_id FROM campaign_runs WHERE campaign_id = $1 AND status = 'running' ORDER BY run_no DESC LIMIT 1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?)
}

/// Records the control in the database (the truth the recipients check before sending), then
/// tells the schedule and the running workflow.
async fn control(
    state: &AppState,
    principal: Principal,
    id: &str,
    control: CampaignControl,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(id, "campaign")?;
    let tenant_id = principal.tenant_id;
    let mut tx = tenant_tx(&state.pool, tenant_id).await?;
    sqlx::query("SELECT 1 FROM campaigns WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let campaign = load(&mut tx, tenant_id, id).await?;
    let run = active_run(&mut tx, id).await?;
    let (allowed, next, event): (&[&str], &str, EventType) = match control {
        CampaignControl::Pause => (
            &["scheduled", "running"],
            "paused",
            EventType::CampaignPaused,
        ),
        CampaignControl::Resume => (
            &["paused"],
            if run.is_some() {
                "running"
            } else {
                "scheduled"
            },
            EventType::CampaignResumed,
        ),
        CampaignControl::Cancel => (
            &["draft", "scheduled", "running", "paused"],
            "cancelled",
            EventType::CampaignCancelled,
        ),
    };
    if !allowed.contains(&campaign.status.as_str()) {
        return Err(ApiError::Conflict(format!(
            "campaign {id} is {}",
            campaign.status
        )));
    }
    sqlx::query("UPDATE campaigns SET status = $2, cancelled_at = CASE WHEN $2 = 'cancelled' THEN now() ELSE cancelled_at END WHERE id = $1")
        .bind(id)
        .bind(next)
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

    if campaign.status != "draft" {
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
                tokio::time::timeout(deadline, schedule.delete(DeleteScheduleOptions::default()))
                    .await
            }
        };
        match result {
            Ok(Ok(())) => {}
            Ok(Err(temporalio_client::schedules::ScheduleError::Rpc(status)))
                if status.code() == Code::NotFound => {}
            Ok(Err(err)) => return Err(temporal_error(err)),
            Err(_) => {
                return Err(ApiError::Unavailable(
                    "Temporal did not answer in time; repeat the request".into(),
                ));
            }
        }
        if let Some(workflow_id) = &run {
            let handle = client.get_workflow_handle::<Campaign>(workflow_id.clone());
            // A signal is durable: the run applies it even if no worker is up right now.
            match tokio::time::timeout(
                deadline,
                handle.signal(Campaign::control, control, WorkflowSignalOptions::default()),
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(err)) if err.to_string().to_lowercase().contains("not found") => {}
                Ok(Err(err)) => return Err(temporal_error(err)),
                Err(_) => {
                    return Err(ApiError::Unavailable(
                        "Temporal did not answer in time; repeat the request".into(),
                    ));
                }
            }
        }
    }
    let mut tx = tenant_tx(&state.pool, tenant_id).await?;
    Ok(Json(campaign_json(state, &mut tx, id).await?))
}

/// Pauses the campaign: no new sends (recipients due meanwhile wait) and no new runs.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/pause", tag = "campaigns", params(("id" = String, Path)),
    responses((status = 200, description = "The campaign", body = Value), (status = 409, description = "Not scheduled or running")))]
pub async fn pause(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    control(&state, principal, &id, CampaignControl::Pause).await
}

/// Resumes a paused campaign; held recipients send (each still exactly once).
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/resume", tag = "campaigns", params(("id" = String, Path)),
    responses((status = 200, description = "The campaign", body = Value), (status = 409, description = "Not paused")))]
pub async fn resume(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    control(&state, principal, &id, CampaignControl::Resume).await
}

/// Cancels the campaign: pending sends stop (recorded as skipped), what was sent stays.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/cancel", tag = "campaigns", params(("id" = String, Path)),
    responses((status = 200, description = "The campaign", body = Value), (status = 409, description = "Already completed or cancelled")))]
pub async fn cancel(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    control(&state, principal, &id, CampaignControl::Cancel).await
}

/// Who the campaign would reach now: the segment's count, how many of them have an identity on
/// the channel and have not opted out, and a sample.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/preview", tag = "campaigns", params(("id" = String, Path)),
    responses((status = 200, description = "Counts and a sample", body = Value), (status = 404, description = "No such campaign")))]
pub async fn preview_segment(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "campaign")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let campaign = load(&mut tx, principal.tenant_id, id).await?;
    let (count, sample, total) = reachable(
        &mut tx,
        principal.tenant_id,
        campaign.segment_id,
        campaign.channel_id,
    )
    .await?;
    Ok(Json(
        json!({"segment_count": total, "reachable_count": count, "sample": sample}),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewMessage {
    pub contact_id: Uuid,
}

/// What the agent would write to one contact, and when it would be sent. Nothing is stored or sent.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/preview-message", tag = "campaigns", params(("id" = String, Path)), request_body = PreviewMessage,
    responses((status = 200, description = "The personalised message and send time", body = Value), (status = 404, description = "No such campaign or contact"),
              (status = 503, description = "The agent service is not answering")))]
pub async fn preview_message(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PreviewMessage>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "campaign")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let campaign = load(&mut tx, principal.tenant_id, id).await?;
    let contact: Option<(Option<chrono::DateTime<Utc>>, bool)> = sqlx::query_as(
        "SELECT c.opted_out_at, EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = c.id AND i.channel_id = $2)
           FROM contacts c WHERE c.id = $1 AND c.merged_into IS NULL",
    )
    .bind(req.contact_id)
    .bind(campaign.channel_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((opted_out_at, has_identity)) = contact else {
        return Err(ApiError::NotFound(format!(
            "contact {} not found",
            req.contact_id
        )));
    };
    let skip_reason = if opted_out_at.is_some() {
        Some("opted_out")
    } else if !has_identity {
        Some("no_identity_on_channel")
    } else {
        None
    };
    let agents = state
        .agents
        .client()
        .ok_or_else(|| ApiError::Unavailable("no agent service is configured".into()))?;
    let request_id = format!("preview:{id}:{}", req.contact_id);
    let personalised = match personalise(
        &mut tx,
        agents.as_ref(),
        &campaign,
        req.contact_id,
        &request_id,
    )
    .await
    {
        Ok(p) => p,
        Err(PersonaliseError::Store(e)) => return Err(store_error(e)),
        Err(PersonaliseError::Agent(ventros_activities::agents::AgentError::Rejected {
            message,
            ..
        })) => {
            return Err(ApiError::Unprocessable(format!(
                "the agent refused: {message}"
            )));
        }
        Err(PersonaliseError::Agent(err)) => {
            tracing::warn!(error = %err, "campaign preview: agent unavailable");
            return Err(ApiError::Unavailable(
                "the agent service is not answering; retry shortly".into(),
            ));
        }
    };
    let send_at = choose_send_time(&campaign, personalised.best_hour, Utc::now());
    Ok(Json(json!({
        "contact_id": req.contact_id,
        "text": personalised.text,
        "agent_type": personalised.agent_type,
        "best_hour": personalised.best_hour,
        "send_at": send_at,
        "time_zone": campaign.time_zone.name(),
        "would_skip": skip_reason,
    })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecipientsQuery {
    /// `pending`, `scheduled`, `sending`, `sent`, `delivered`, `read`, `replied`, `skipped`, `failed`.
    pub status: Option<String>,
    /// The run (default: the latest).
    pub run_no: Option<i32>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
}

const RECIPIENT_STATUSES: [&str; 9] = [
    "pending",
    "scheduled",
    "sending",
    "sent",
    "delivered",
    "read",
    "replied",
    "skipped",
    "failed",
];

async fn run_id_of(
    tx: &mut sqlx::PgConnection,
    campaign_id: Uuid,
    run_no: Option<i32>,
) -> Result<Option<Uuid>, ApiError> {
    let run: Option<Uuid> =
        match run_no {
            Some(n) => {
                sqlx::query_scalar(
                    "SELECT id FROM campaign_runs WHERE campaign_id = $1 AND run_no = $2",
                )
                .bind(campaign_id)
                .bind(n)
                .fetch_optional(&mut *tx)
                .await?
            }
            None => sqlx::query_scalar(
                "SELECT id FROM campaign_runs WHERE campaign_id = $1 ORDER BY run_no DESC LIMIT 1",
            )
            .bind(campaign_id)
            .fetch_optional(&mut *tx)
            .await?,
        };
    if run.is_none() && run_no.is_some() {
        return Err(ApiError::NotFound(format!(
            "run {} of campaign {campaign_id} not found",
            run_no.unwrap_or_default()
        )));
    }
    Ok(run)
}

/// The recipients of a run with their status, reason, text, chosen send time and timestamps.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/recipients", tag = "campaigns", params(("id" = String, Path), RecipientsQuery),
    responses((status = 200, description = "A page of recipients", body = Value), (status = 404, description = "No such campaign or run")))]
pub async fn recipients(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<RecipientsQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "campaign")?;
    if q.status
        .as_deref()
        .is_some_and(|s| !RECIPIENT_STATUSES.contains(&s))
    {
        return Err(ApiError::BadRequest(format!(
            "status must be one of {}",
            RECIPIENT_STATUSES.join(", ")
        )));
    }
    let limit = page_limit(q.limit)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    load(&mut tx, principal.tenant_id, id).await?;
    let Some(run_id) = run_id_of(&mut tx, id, q.run_no).await? else {
        return Ok(Json(json!({"items": [], "next_cursor": null})));
    };
    let sort = Sort::parse(None, &["created_at"], false)?;
    let page = fetch_page(&mut tx, sort, q.cursor.as_deref(), limit, |qb| {
        qb.push(
            "SELECT r.contact_id AS id, c.display_name AS contact_name, r.status, r.reason, r.personalised_text, r.agent_type, r.best_hour,
                    r.send_at, r.message_id, r.session_id, r.reply_message_id, r.workflow_id, r.created_at, r.scheduled_at, r.sent_at,
                    r.delivered_at, r.read_at, r.replied_at, r.skipped_at, r.failed_at, r.held_at IS NOT NULL AS held
               FROM campaign_recipients r JOIN contacts c ON c.id = r.contact_id WHERE r.run_id = ",
        )
        .push_bind(run_id);
        if let Some(status) = q.status {
            qb.push(" AND r.status = ").push_bind(status);
        }
    })
    .await?;
    Ok(Json(page))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricsQuery {
    /// One run (default: every run of the campaign).
    pub run_no: Option<i32>,
    /// Timeline bucket: `minute`, `hour` (default) or `day`.
    pub bucket: Option<String>,
}

async fn metrics_json(
    tx: &mut sqlx::PgConnection,
    campaign_id: Uuid,
    run_id: Option<Uuid>,
    bucket: &str,
) -> Result<Value, ApiError> {
    let counts: Value = sqlx::query_scalar(
        "SELECT jsonb_build_object(
                'targeted', count(*),
                'skipped', count(*) FILTER (WHERE status = 'skipped'),
                'pending', count(*) FILTER (WHERE status IN ('pending', 'scheduled', 'sending')),
                'sent', count(sent_at),
                'delivered', count(delivered_at),
                'read', count(read_at),
                'replied', count(replied_at),
                'failed', count(*) FILTER (WHERE status = 'failed'))
           FROM campaign_recipients WHERE campaign_id = $1 AND ($2::uuid IS NULL OR run_id = $2)",
    )
    .bind(campaign_id)
    .bind(run_id)
    .fetch_one(&mut *tx)
    .await?;
    let skip_reasons: Value = sqlx::query_scalar(
        "SELECT coalesce(jsonb_object_agg(reason, n), '{}'::jsonb) FROM (
             SELECT coalesce(reason, 'unknown') AS reason, count(*) AS n FROM campaign_recipients
              WHERE campaign_id = $1 AND ($2::uuid IS NULL OR run_id = $2) AND status IN ('skipped', 'failed') GROUP BY 1) t",
    )
    .bind(campaign_id)
    .bind(run_id)
    .fetch_one(&mut *tx)
    .await?;
    let timeline: Vec<Value> = sqlx::query_scalar(
        "SELECT jsonb_build_object('at', at, 'sent', sum(sent), 'delivered', sum(delivered), 'read', sum(read), 'replied', sum(replied), 'failed', sum(failed))
           FROM (
             SELECT date_trunc($3, sent_at) AS at, 1 AS sent, 0 AS delivered, 0 AS read, 0 AS replied, 0 AS failed FROM campaign_recipients
              WHERE campaign_id = $1 AND ($2::uuid IS NULL OR run_id = $2) AND sent_at IS NOT NULL
             UNION ALL SELECT date_trunc($3, delivered_at), 0, 1, 0, 0, 0 FROM campaign_recipients
              WHERE campaign_id = $1 AND ($2::uuid IS NULL OR run_id = $2) AND delivered_at IS NOT NULL
             UNION ALL SELECT date_trunc($3, read_at), 0, 0, 1, 0, 0 FROM campaign_recipients
              WHERE campaign_id = $1 AND ($2::uuid IS NULL OR run_id = $2) AND read_at IS NOT NULL
             UNION ALL SELECT date_trunc($3, replied_at), 0, 0, 0, 1, 0 FROM campaign_recipients
              WHERE campaign_id = $1 AND ($2::uuid IS NULL OR run_id = $2) AND replied_at IS NOT NULL
             UNION ALL SELECT date_trunc($3, failed_at), 0, 0, 0, 0, 1 FROM campaign_recipients
              WHERE campaign_id = $1 AND ($2::uuid IS NULL OR run_id = $2) AND failed_at IS NOT NULL
           ) e GROUP BY at ORDER BY at",
    )
    .bind(campaign_id)
    .bind(run_id)
    .bind(bucket)
    .fetch_all(&mut *tx)
    .await?;
    let n = |k: &str| counts[k].as_f64().unwrap_or(0.0);
    let rate = |num: f64, den: f64| {
        if den > 0.0 {
            json!((num / den * 10_000.0).round() / 10_000.0)
        } else {
            Value::Null
        }
    };
    let attempted = n("targeted") - n("skipped");
    Ok(json!({
        "counts": counts,
        "rates": {
            "delivery": rate(n("delivered"), n("sent")),
            "read": rate(n("read"), n("sent")),
            "reply": rate(n("replied"), n("sent")),
            "failure": rate(n("failed"), attempted),
            "skip": rate(n("skipped"), n("targeted")),
        },
        "skip_and_failure_reasons": skip_reasons,
        "timeline": timeline,
        "bucket": bucket,
    }))
}

/// Targeted, skipped, sent, delivered, read, replied and failed counts, the rates, why recipients
/// were skipped or failed, and a timeline.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/metrics", tag = "campaigns", params(("id" = String, Path), MetricsQuery),
    responses((status = 200, description = "Metrics", body = Value), (status = 404, description = "No such campaign or run")))]
pub async fn metrics(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<MetricsQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "campaign")?;
    let bucket = q.bucket.as_deref().unwrap_or("hour");
    if !matches!(bucket, "minute" | "hour" | "day") {
        return Err(ApiError::BadRequest(
            "bucket must be minute, hour or day".into(),
        ));
    }
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    load(&mut tx, principal.tenant_id, id).await?;
    let run_id = match q.run_no {
        Some(_) => run_id_of(&mut tx, id, q.run_no).await?,
        None => None,
    };
    let mut body = metrics_json(&mut tx, id, run_id, bucket).await?;
    body["run_no"] = json!(q.run_no);
    Ok(Json(body))
}
