//! A campaign's definition: list, create, read, edit and delete drafts. Everything that can be
//! checked is checked before anything is written (fields, then references under the tenant).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::types::Json as Jsonb;
use temporalio_client::WorkflowQueryOptions;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use ventros_activities::campaigns::{CampaignSchedule, SendWindow, parse_time_zone};
use ventros_domain::{CampaignRunStatus, CampaignStatus, EventType};
use ventros_workflows::Campaign as CampaignWorkflow;

use super::results::{CampaignMetrics, metrics_of};
use super::{Campaign, CampaignWithRuns, fetch_campaign, load, outbox, reachable};
use crate::AppState;
use crate::auth::{AsAgent, Authorized, Principal};
use crate::db::{Page, Sort, fetch_page_as, page_limit, tenant_tx};
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::ids::Id;
use crate::routes::{optional_text, required_text};
use crate::temporal::LiveWorkflow;

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
    #[schema(minimum = 0, maximum = 100_000)]
    pub rate_limit_per_minute: Option<i32>,
    /// Send each contact at the hour the agent picks from their history (default true).
    pub best_send_time: Option<bool>,
    /// A reply within this many hours counts for the campaign (default 72).
    #[schema(minimum = 1, maximum = 720)]
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
    #[schema(minimum = 0, maximum = 100_000)]
    pub rate_limit_per_minute: Option<i32>,
    pub best_send_time: Option<bool>,
    #[schema(minimum = 1, maximum = 720)]
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
        let channel = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM channels WHERE id = $1) AS "exists!""#,
            self.channel_id
        )
        .fetch_one(&mut *tx)
        .await?;
        if !channel {
            return Err(ApiError::Unprocessable(format!(
                "channel {} does not exist",
                self.channel_id
            )));
        }
        let reach = reachable(tx, tenant_id, self.segment_id, self.channel_id).await?;
        if reach.count == 0 {
            return Err(ApiError::Unprocessable(
                "the segment selects no contact the campaign can reach on this channel".into(),
            ));
        }
        Ok(())
    }

    fn schedule_json(&self) -> Result<Value, ApiError> {
        serde_json::to_value(&self.schedule).map_err(|e| ApiError::Internal(e.into()))
    }

    fn window_json(&self) -> Result<Value, ApiError> {
        serde_json::to_value(&self.send_window).map_err(|e| ApiError::Internal(e.into()))
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `draft`, `scheduled`, `running`, `paused`, `completed` or `cancelled`.
    #[param(value_type = Option<ventros_domain::CampaignStatus>)]
    pub status: Option<String>,
    /// `created_at` or `name`, `-` prefix for descending (default `-created_at`).
    pub sort: Option<String>,
    /// Continue a list: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// A campaign in a list: what it is, where it stands, how far it got.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct CampaignSummary {
    pub id: Uuid,
    pub name: String,
    pub channel_id: Uuid,
    pub segment_id: Uuid,
    pub agent_type: String,
    #[schema(value_type = Object)]
    pub schedule: Jsonb<CampaignSchedule>,
    pub status: CampaignStatus,
    pub created_at: DateTime<Utc>,
    #[schema(required = true)]
    pub scheduled_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub completed_at: Option<DateTime<Utc>>,
    /// Recipients chosen, over every run.
    pub targeted: i64,
    /// Recipients whose message the provider accepted, over every run.
    pub sent: i64,
}

/// Lists campaigns.
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "campaigns", params(ListQuery),
    responses((status = 200, description = "A page of campaigns", body = Page<CampaignSummary>), (status = 400, description = "Bad filter, sort or cursor")))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<CampaignSummary>>, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            CampaignStatus::parse(s).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "status must be one of {}",
                    CampaignStatus::choices()
                ))
            })
        })
        .transpose()?;
    let sort = Sort::parse(q.sort.as_deref(), &["created_at", "name"], true)?;
    let limit = page_limit(q.limit)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let page = fetch_page_as(&mut tx, sort, q.cursor.as_deref(), limit, |qb| {
        qb.push(
            "SELECT c.id, c.name, c.channel_id, c.segment_id, c.agent_type, c.schedule, c.status, c.created_at, c.scheduled_at, c.completed_at,
                    (SELECT count(*) FROM campaign_recipients r WHERE r.campaign_id = c.id) AS targeted,
                    (SELECT count(*) FROM campaign_recipients r WHERE r.campaign_id = c.id AND r.sent_at IS NOT NULL) AS sent
               FROM campaigns c WHERE true",
        );
        if let Some(status) = status {
            qb.push(" AND c.status = ").push_bind(status.as_str());
        }
    })
    .await?;
    Ok(Json(page))
}

/// Creates a campaign as a draft (schedule it to start it).
#[utoipa::path(post, path = "/api/v1/campaigns", tag = "campaigns", request_body = CreateCampaign,
    responses((status = 201, description = "The draft campaign", body = CampaignWithRuns),
              (status = 422, description = "Unknown channel or segment, empty segment, schedule in the past, window that never opens, bad time zone")))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    ApiJson(req): ApiJson<CreateCampaign>,
) -> Result<(StatusCode, Json<CampaignWithRuns>), ApiError> {
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
    sqlx::query!(
        "INSERT INTO campaigns (name, channel_id, segment_id, objective, agent_type, schedule, send_window, time_zone,
                                rate_limit_per_minute, best_send_time, attribution_window_hours, id, tenant_id, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        definition.name,
        definition.channel_id,
        definition.segment_id,
        definition.objective,
        definition.agent_type,
        definition.schedule_json()?,
        definition.window_json()?,
        definition.time_zone,
        definition.rate_limit_per_minute,
        definition.best_send_time,
        definition.attribution_window_hours,
        id,
        principal.tenant_id,
        principal.label(),
    )
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
    let campaign = fetch_campaign(&state, &mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(campaign)))
}

/// An agent type the agent service does not offer is refused; while the service cannot be asked,
/// the type is accepted (recipients are skipped as `agent_rejected` if it turns out unknown).
async fn check_agent_type(state: &AppState, agent_type: &str) -> Result<(), ApiError> {
    let Ok(agents) = state.agents.agents().await else {
        return Ok(());
    };
    let known = agents.items.iter().any(|a| a.agent_type == agent_type);
    if !known {
        return Err(ApiError::Unprocessable(format!(
            "unknown agent type {agent_type:?}; GET /api/v1/agents lists them"
        )));
    }
    Ok(())
}

/// A campaign with its runs, its metrics over every run and, while a run is active, its live
/// progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignDetail {
    #[serde(flatten)]
    pub campaign: CampaignWithRuns,
    pub metrics: CampaignMetrics,
    /// The Campaign workflow's `state` query: phase, counts, the next send.
    pub live: LiveWorkflow,
}

/// A campaign with its runs, metrics and, while a run is active, the run's live progress.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "campaigns", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The campaign", body = CampaignDetail), (status = 404, description = "No such campaign")))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Campaign>,
) -> Result<Json<CampaignDetail>, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let campaign = fetch_campaign(&state, &mut tx, id).await?;
    let metrics = metrics_of(&mut tx, id, None, "hour").await?;
    drop(tx);
    let active = campaign
        .runs
        .iter()
        .find(|r| r.status == CampaignRunStatus::Running)
        .map(|r| r.workflow_id.clone());
    let live = match active {
        Some(workflow_id) => live_progress(&state, &workflow_id).await,
        None => LiveWorkflow::unavailable("no run is active"),
    };
    Ok(Json(CampaignDetail {
        campaign,
        metrics,
        live,
    }))
}

async fn live_progress(state: &AppState, workflow_id: &str) -> LiveWorkflow {
    let Ok(client) = state.temporal.client().await else {
        return LiveWorkflow::unavailable("Temporal is not reachable");
    };
    let handle = client.get_workflow_handle::<CampaignWorkflow>(workflow_id.to_owned());
    let query = handle.query(CampaignWorkflow::state, (), WorkflowQueryOptions::default());
    LiveWorkflow::ask(state.config.temporal_deadline / 2, workflow_id, query).await
}

/// Edits a draft (a scheduled campaign must be cancelled and recreated).
#[utoipa::path(patch, path = "/api/v1/campaigns/{id}", tag = "campaigns", params(("id" = Uuid, Path)), request_body = UpdateCampaign,
    responses((status = 200, description = "The campaign", body = CampaignWithRuns), (status = 404, description = "No such campaign"),
              (status = 409, description = "Not a draft"), (status = 422, description = "Invalid definition")))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Campaign>,
    ApiJson(req): ApiJson<UpdateCampaign>,
) -> Result<Json<CampaignWithRuns>, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let current = load(&mut tx, principal.tenant_id, id).await?;
    if current.status != CampaignStatus::Draft {
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
    sqlx::query!(
        "UPDATE campaigns SET name = $1, channel_id = $2, segment_id = $3, objective = $4, agent_type = $5, schedule = $6, send_window = $7,
                time_zone = $8, rate_limit_per_minute = $9, best_send_time = $10, attribution_window_hours = $11
          WHERE id = $12 AND status = $13",
        definition.name,
        definition.channel_id,
        definition.segment_id,
        definition.objective,
        definition.agent_type,
        definition.schedule_json()?,
        definition.window_json()?,
        definition.time_zone,
        definition.rate_limit_per_minute,
        definition.best_send_time,
        definition.attribution_window_hours,
        id,
        CampaignStatus::Draft.as_str(),
    )
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
    let campaign = fetch_campaign(&state, &mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(campaign))
}

/// Deletes a draft.
#[utoipa::path(delete, path = "/api/v1/campaigns/{id}", tag = "campaigns", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such campaign"), (status = 409, description = "Not a draft")))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Campaign>,
) -> Result<StatusCode, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let current = load(&mut tx, principal.tenant_id, id).await?;
    if current.status != CampaignStatus::Draft {
        return Err(ApiError::Conflict(format!(
            "campaign {id} is {}; cancel it instead (its history is kept)",
            current.status
        )));
    }
    sqlx::query!("DELETE FROM campaigns WHERE id = $1", id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
