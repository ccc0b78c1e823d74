//! Campaigns: create and edit drafts, schedule them (a Temporal Schedule starts each run), pause,
//! resume and cancel (the campaign's status in the database, the schedule, and a `control` signal
//! to the running Campaign workflow), preview the segment and one contact's personalised message,
//! and follow the recipients and the metrics.
//!
//! Bad input is refused before anything is written: an unknown channel or segment, a segment that
//! selects nobody, a schedule in the past, a window that never opens, an unknown time zone.
//!
//! This module holds what the handlers share: the response types and the lookups. The handlers
//! live by concern: [`definition`] (create, read, edit, delete), [`control`] (schedule, pause,
//! resume, cancel), [`preview`], and [`results`] (recipients and metrics).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_activities::campaigns::{CampaignRow, CampaignSchedule, SendWindow, load_campaign};
use ventros_activities::segments::{SegmentFilter, preview};
use ventros_domain::{CampaignRunStatus, CampaignStatus, EventType};
use ventros_store::StoreError;

use crate::error::ApiError;
use crate::{AppState, TemporalLink};

pub mod control;
pub mod definition;
pub mod preview;
pub mod results;

pub use control::{
    __path_cancel, __path_pause, __path_resume, __path_schedule, cancel, pause, resume, schedule,
};
pub use definition::{
    __path_create, __path_delete, __path_list, __path_show, __path_update, create, delete, list,
    show, update,
};
pub use preview::{
    __path_preview_message, __path_preview_segment, preview_message, preview_segment,
};
pub use results::{__path_metrics, __path_recipients, metrics, recipients};

/// How many contacts a segment preview shows.
const SAMPLE: i64 = 10;

/// A campaign's definition and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct Campaign {
    pub id: Uuid,
    pub name: String,
    pub channel_id: Uuid,
    pub segment_id: Uuid,
    /// The brief the agent writes each contact's message from.
    pub objective: String,
    pub agent_type: String,
    /// `{"kind":"now"}`, `{"kind":"once","at":…}`, `{"kind":"cron","expression":…}` or
    /// `{"kind":"interval","every_seconds":…}`.
    #[schema(value_type = Object)]
    pub schedule: Json<CampaignSchedule>,
    /// `{"days":[1..7],"start":"HH:MM","end":"HH:MM"}` in `time_zone`.
    #[schema(value_type = Object)]
    pub send_window: Json<SendWindow>,
    pub time_zone: String,
    #[schema(required = true)]
    pub rate_limit_per_minute: Option<i32>,
    pub best_send_time: bool,
    pub attribution_window_hours: i32,
    pub status: CampaignStatus,
    /// The Temporal Schedule that starts the runs, once scheduled.
    #[schema(required = true)]
    pub schedule_id: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[schema(required = true)]
    pub scheduled_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub completed_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// One run of a campaign (one firing of its schedule) and its workflow.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignRun {
    pub id: Uuid,
    pub run_no: i32,
    pub status: CampaignRunStatus,
    pub workflow_id: String,
    pub workflow: TemporalLink,
    pub started_at: DateTime<Utc>,
    #[schema(required = true)]
    pub completed_at: Option<DateTime<Utc>>,
}

/// A campaign with its latest runs (newest first, at most 20).
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignWithRuns {
    #[serde(flatten)]
    pub campaign: Campaign,
    pub runs: Vec<CampaignRun>,
}

/// The campaign, its runs and the Temporal lookups every handler shares.
async fn fetch_campaign(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    id: Uuid,
) -> Result<CampaignWithRuns, ApiError> {
    let campaign = sqlx::query_as!(
        Campaign,
        r#"SELECT id, name, channel_id, segment_id, objective, agent_type,
                  schedule AS "schedule: Json<CampaignSchedule>", send_window AS "send_window: Json<SendWindow>",
                  time_zone, rate_limit_per_minute, best_send_time, attribution_window_hours,
                  status AS "status: CampaignStatus", schedule_id, created_by, created_at, updated_at,
                  scheduled_at, completed_at, cancelled_at
             FROM campaigns WHERE id = $1"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("campaign {id} not found")))?;
    let runs = sqlx::query!(
        r#"SELECT id, run_no, status AS "status: CampaignRunStatus", workflow_id, started_at, completed_at
             FROM campaign_runs WHERE campaign_id = $1 ORDER BY run_no DESC LIMIT 20"#,
        id
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|run| CampaignRun {
        workflow: state.config.temporal_link("workflows", &run.workflow_id),
        id: run.id,
        run_no: run.run_no,
        status: run.status,
        workflow_id: run.workflow_id,
        started_at: run.started_at,
        completed_at: run.completed_at,
    })
    .collect();
    Ok(CampaignWithRuns { campaign, runs })
}

fn store_error(err: StoreError) -> ApiError {
    match err {
        StoreError::Database(e) => e.into(),
        StoreError::Invalid(reason) => ApiError::Internal(anyhow::anyhow!(reason)),
    }
}

/// The campaign as the activities read it (parsed schedule, window and time zone), or 404.
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

/// Records a campaign event in the outbox (same transaction as the change it describes).
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

/// Who a campaign can reach: the segment's contacts with an identity on the channel who have not
/// opted out.
struct Reach {
    /// How many the campaign can write to.
    count: i64,
    /// A few of them.
    sample: Vec<Value>,
    /// How many the segment selects, reachable or not.
    total: i64,
}

async fn reachable(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    segment_id: Uuid,
    channel_id: Uuid,
) -> Result<Reach, ApiError> {
    let filter: Value =
        sqlx::query_scalar!("SELECT filter FROM segments WHERE id = $1", segment_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| {
                ApiError::Unprocessable(format!("segment {segment_id} does not exist"))
            })?;
    let mut filter: SegmentFilter =
        serde_json::from_value(filter).map_err(|e| ApiError::Internal(e.into()))?;
    let everyone = SegmentFilter {
        include_opted_out: true,
        ..filter.clone()
    };
    let (total, _) = preview(tx, tenant_id, &everyone, 0).await?;
    filter.include_opted_out = false;
    filter.channel_id = Some(channel_id);
    let (count, sample) = preview(tx, tenant_id, &filter, SAMPLE).await?;
    Ok(Reach {
        count,
        sample,
        total,
    })
}

impl crate::ids::Resource for Campaign {
    const NAME: &'static str = "campaign";
}
