//! The side effects of the Campaign and CampaignRecipient workflows, and the campaign rules the API
//! shares with them: schedules (what Temporal Schedule a campaign gets), send windows (when a
//! message may go out, in the campaign's time zone) and personalisation (the agent's text and best
//! send hour for one contact, also used by the API's preview).
//!
//! Every activity is idempotent: it reads the recipient's row first and answers from it when the
//! work was already done, so retries, worker crashes and resumes never create a second message.
//! Times come from the workflow (`now_ms`), not the database clock, so windows and slots replay
//! and time-skip correctly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use ventros_domain::{CampaignRunStatus, CampaignStatus, EventType, RecipientStatus};

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use temporalio_client::schedules::{ScheduleCalendarSpec, ScheduleSpec};
use temporalio_client::{Client, WorkflowSignalOptions};
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use uuid::Uuid;
use ventros_proto::v1::AgentExecutionRequest;
use ventros_workflows::CampaignRecipient;
use ventros_workflows::contract::{activities as defs, ids, names, *};

use crate::acts::store_failure;
use crate::agents::{AgentApi, AgentError};
use crate::segments::{self, SegmentFilter};
use crate::store::{StoreError, append_outbox};
use ventros_channels::meta::{MetaPlatform, messaging_type};

/// How long one personalisation call may take.
const AGENT_DEADLINE: Duration = Duration::from_secs(10);
/// How far back the contact's messages count for their best send hour.
const ACTIVITY_LOOKBACK_DAYS: i32 = 90;

// ---------------------------------------------------------------------------------------------
// Schedules and send windows
// ---------------------------------------------------------------------------------------------

/// When a campaign runs: once at a time, now, or recurring (cron in the campaign's time zone, or a
/// fixed interval). Becomes the campaign's Temporal Schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CampaignSchedule {
    /// As soon as it is scheduled.
    Now,
    Once {
        at: DateTime<Utc>,
    },
    Cron {
        expression: String,
    },
    Interval {
        every_seconds: u64,
    },
}

/// A cron expression Temporal's schedules run: five fields (minute hour day month weekday) or a
/// descriptor such as `@daily`, every value in range (croner parses it as Temporal will).
fn valid_cron(expression: &str) -> Result<(), String> {
    let shape = "schedule.expression must be a cron expression of 5 fields (minute hour day month weekday) or @hourly/@daily/@weekly/@monthly/@yearly";
    let expression = expression.trim();
    let fields = expression.split_whitespace().count();
    if expression.len() > 200 || !(fields == 5 || (fields == 1 && expression.starts_with('@'))) {
        return Err(shape.into());
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .build()
        .parse(expression)
        .map(|_| ())
        .map_err(|e| format!("{shape}: {e}"))
}

impl CampaignSchedule {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), String> {
        match self {
            CampaignSchedule::Now => Ok(()),
            CampaignSchedule::Once { at } if *at <= now => {
                Err(format!("schedule.at ({at}) is in the past"))
            }
            CampaignSchedule::Once { .. } => Ok(()),
            CampaignSchedule::Cron { expression } => valid_cron(expression),
            CampaignSchedule::Interval { every_seconds } if *every_seconds < 60 => {
                Err("schedule.every_seconds must be at least 60".into())
            }
            CampaignSchedule::Interval { every_seconds } if *every_seconds > 366 * 86_400 => {
                Err("schedule.every_seconds must be at most a year".into())
            }
            CampaignSchedule::Interval { .. } => Ok(()),
        }
    }

    pub fn is_recurring(&self) -> bool {
        matches!(
            self,
            CampaignSchedule::Cron { .. } | CampaignSchedule::Interval { .. }
        )
    }

    /// The Temporal Schedule spec; `Now` has none (the schedule is triggered once at creation).
    pub fn to_spec(&self, time_zone: &str) -> ScheduleSpec {
        match self {
            CampaignSchedule::Now => ScheduleSpec::default(),
            CampaignSchedule::Once { at } => {
                let calendar = ScheduleCalendarSpec::builder()
                    .year(at.year().to_string())
                    .month(at.month().to_string())
                    .day_of_month(at.day().to_string())
                    .hour(at.hour().to_string())
                    .minute(at.minute().to_string())
                    .second(at.second().to_string())
                    .comment("one-off campaign run")
                    .build();
                ScheduleSpec::from_calendar(calendar)
            }
            CampaignSchedule::Cron { expression } => ScheduleSpec::builder()
                .cron_strings(vec![expression.clone()])
                .timezone_name(time_zone)
                .build(),
            CampaignSchedule::Interval { every_seconds } => {
                ScheduleSpec::from_interval(Duration::from_secs(*every_seconds))
            }
        }
    }
}

/// The hours a campaign may send in: ISO weekdays (1 = Monday … 7 = Sunday) and a daily
/// `start`–`end` (local "HH:MM", start before end) in the campaign's time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendWindow {
    #[serde(default = "every_day")]
    pub days: Vec<u8>,
    #[serde(with = "hh_mm")]
    pub start: NaiveTime,
    #[serde(with = "hh_mm")]
    pub end: NaiveTime,
}

fn every_day() -> Vec<u8> {
    (1..=7).collect()
}

impl Default for SendWindow {
    fn default() -> Self {
        SendWindow {
            days: every_day(),
            start: NaiveTime::MIN,
            end: NaiveTime::from_hms_opt(23, 59, 0).unwrap_or(NaiveTime::MIN),
        }
    }
}

mod hh_mm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format("%H:%M").to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        NaiveTime::parse_from_str(&text, "%H:%M")
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a HH:MM time")))
    }
}

impl SendWindow {
    /// A window that never opens is a mistake worth refusing up front.
    pub fn validate(&self) -> Result<(), String> {
        if self.days.is_empty() {
            return Err("send_window.days is empty: the window never opens".into());
        }
        if self.days.iter().any(|d| !(1..=7).contains(d)) {
            return Err("send_window.days are ISO weekdays, 1 (Monday) to 7 (Sunday)".into());
        }
        if self.start >= self.end {
            return Err(
                "send_window.start must be before send_window.end: the window never opens".into(),
            );
        }
        Ok(())
    }

    fn open_on(&self, date: NaiveDate) -> bool {
        self.days
            .contains(&(date.weekday().number_from_monday() as u8))
    }

    fn local(tz: Tz, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
        let naive = date.and_time(time);
        // A time inside a DST gap does not exist: the first moment after the gap stands in.
        tz.from_local_datetime(&naive)
            .earliest()
            .or_else(|| {
                tz.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
    }

    pub fn contains(&self, tz: Tz, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&tz);
        self.open_on(local.date_naive()) && local.time() >= self.start && local.time() < self.end
    }

    /// `from` when the window is open then, else the next opening (within a week).
    pub fn next_open(&self, tz: Tz, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.contains(tz, from) {
            return Some(from);
        }
        let today = from.with_timezone(&tz).date_naive();
        (0..8)
            .filter_map(|d| today.checked_add_days(chrono::Days::new(d)))
            .filter(|date| self.open_on(*date))
            .filter_map(|date| Self::local(tz, date, self.start))
            .find(|opening| *opening > from)
    }

    /// The first moment at or after `from` that is inside the window and in local hour `hour`;
    /// `None` when the window never covers that hour.
    pub fn at_hour(&self, tz: Tz, from: DateTime<Utc>, hour: u32) -> Option<DateTime<Utc>> {
        let hour_start = NaiveTime::from_hms_opt(hour, 0, 0)?;
        let hour_end = NaiveTime::from_hms_opt(hour, 59, 59)?;
        let (lo, hi) = (hour_start.max(self.start), hour_end.min(self.end));
        if lo >= hi {
            return None;
        }
        let today = from.with_timezone(&tz).date_naive();
        for d in 0..8 {
            let Some(date) = today.checked_add_days(chrono::Days::new(d)) else {
                continue;
            };
            if !self.open_on(date) {
                continue;
            }
            let (Some(start), Some(end)) = (Self::local(tz, date, lo), Self::local(tz, date, hi))
            else {
                continue;
            };
            let candidate = start.max(from);
            if candidate < end {
                return Some(candidate);
            }
        }
        None
    }
}

pub fn parse_time_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("{name:?} is not an IANA time zone (e.g. America/Sao_Paulo)"))
}

// ---------------------------------------------------------------------------------------------
// Campaign rows and personalisation
// ---------------------------------------------------------------------------------------------

/// A campaign as the workflows need it.
#[derive(Debug, Clone)]
pub struct CampaignRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub channel_id: Uuid,
    pub segment_id: Uuid,
    pub objective: String,
    pub agent_type: String,
    pub schedule: CampaignSchedule,
    pub send_window: SendWindow,
    pub time_zone: Tz,
    pub rate_limit_per_minute: Option<i32>,
    pub best_send_time: bool,
    pub attribution_window_hours: i32,
    pub status: CampaignStatus,
}

pub async fn load_campaign(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    campaign_id: Uuid,
) -> Result<Option<CampaignRow>, StoreError> {
    let row = sqlx::query!(
        r#"SELECT id, tenant_id, name, channel_id, segment_id, objective, agent_type, schedule, send_window, time_zone,
                  rate_limit_per_minute, best_send_time, attribution_window_hours, status AS "status: CampaignStatus"
             FROM campaigns WHERE id = $1 AND tenant_id = $2"#,
        campaign_id,
        tenant_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let invalid = |what: &str, e: String| {
        StoreError::Invalid(format!(
            "campaign {campaign_id}: stored {what} is invalid: {e}"
        ))
    };
    Ok(Some(CampaignRow {
        id: row.id,
        tenant_id: row.tenant_id,
        name: row.name,
        channel_id: row.channel_id,
        segment_id: row.segment_id,
        objective: row.objective,
        agent_type: row.agent_type,
        schedule: serde_json::from_value(row.schedule)
            .map_err(|e| invalid("schedule", e.to_string()))?,
        send_window: serde_json::from_value(row.send_window)
            .map_err(|e| invalid("send window", e.to_string()))?,
        time_zone: parse_time_zone(&row.time_zone).map_err(|e| invalid("time zone", e))?,
        rate_limit_per_minute: row.rate_limit_per_minute,
        best_send_time: row.best_send_time,
        attribution_window_hours: row.attribution_window_hours,
        status: row.status,
    }))
}

/// The agent's message for one contact and the hour it would send it at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Personalised {
    pub text: String,
    /// Local hour (campaign time zone) the contact is usually active, as the agent chose it.
    pub best_hour: Option<u32>,
    pub agent_type: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PersonaliseError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Agent(#[from] AgentError),
}

impl From<sqlx::Error> for PersonaliseError {
    fn from(e: sqlx::Error) -> Self {
        PersonaliseError::Store(StoreError::Database(e))
    }
}

/// Asks the campaign's agent for a message to this contact, giving it the brief and when the
/// contact usually writes (hours in the campaign's time zone); the agent's tools read the
/// contact's profile and memories themselves.
pub async fn personalise(
    conn: &mut PgConnection,
    agents: &dyn AgentApi,
    campaign: &CampaignRow,
    contact_id: Uuid,
    request_id: &str,
) -> Result<Personalised, PersonaliseError> {
    let request = personalisation_request(conn, campaign, contact_id, request_id).await?;
    ask_agent(agents, campaign, request).await
}

/// The agent request for one contact (database reads only, so a caller can give its connection
/// back before the agent call).
pub async fn personalisation_request(
    conn: &mut PgConnection,
    campaign: &CampaignRow,
    contact_id: Uuid,
    request_id: &str,
) -> Result<AgentExecutionRequest, PersonaliseError> {
    let hours: Vec<(i32, i64)> = sqlx::query!(
        r#"SELECT extract(hour FROM coalesce(provider_timestamp, created_at) AT TIME ZONE $3)::int AS "hour!", count(*) AS "n!"
             FROM messages
            WHERE tenant_id = $1 AND contact_id = $2 AND direction = 'inbound'
              AND created_at > now() - make_interval(days => $4)
            GROUP BY 1 ORDER BY 1"#,
        campaign.tenant_id,
        contact_id,
        campaign.time_zone.name(),
        ACTIVITY_LOOKBACK_DAYS,
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.hour, r.n))
    .collect();
    let (name, language) = sqlx::query!(
        "SELECT display_name, language FROM contacts WHERE id = $1 AND tenant_id = $2",
        contact_id,
        campaign.tenant_id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .map_or((None, None), |c| (c.display_name, c.language));
    let activity_hours = hours
        .iter()
        .map(|(h, n)| format!("{h}:{n}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut context = HashMap::from([
        ("mode".to_owned(), "campaign".to_owned()),
        ("campaign_name".to_owned(), campaign.name.clone()),
        ("objective".to_owned(), campaign.objective.clone()),
        ("activity_hours".to_owned(), activity_hours),
        (
            "window_start".to_owned(),
            campaign.send_window.start.format("%H:%M").to_string(),
        ),
        (
            "window_end".to_owned(),
            campaign.send_window.end.format("%H:%M").to_string(),
        ),
        ("time_zone".to_owned(), campaign.time_zone.name().to_owned()),
    ]);
    if let Some(name) = name {
        context.insert("contact_name".into(), name);
    }
    if let Some(language) = language {
        // The contact's language, for the greeting (and the whole text, with a real model).
        context.insert("language".into(), language);
    }
    Ok(AgentExecutionRequest {
        agent_type: campaign.agent_type.clone(),
        contact_id: contact_id.to_string(),
        message: campaign.objective.clone(),
        channel_id: campaign.channel_id.to_string(),
        context,
        tenant_id: campaign.tenant_id.to_string(),
        request_id: request_id.to_owned(),
        session_id: String::new(),
    })
}

/// The agent's answer to a personalisation request: its text and best hour.
pub async fn ask_agent(
    agents: &dyn AgentApi,
    campaign: &CampaignRow,
    request: AgentExecutionRequest,
) -> Result<Personalised, PersonaliseError> {
    let answer = agents.execute(request, AGENT_DEADLINE).await?;
    let text = answer.response.trim().to_owned();
    if text.is_empty() {
        return Err(AgentError::Rejected {
            code: "empty_response".into(),
            message: "the agent wrote no message".into(),
        }
        .into());
    }
    let best_hour = answer
        .metadata
        .get("best_send_hour")
        .and_then(|h| h.parse::<u32>().ok())
        .filter(|h| *h < 24);
    let agent_type = if answer.agent_type.is_empty() {
        campaign.agent_type.clone()
    } else {
        answer.agent_type
    };
    Ok(Personalised {
        text,
        best_hour,
        agent_type,
    })
}

/// When a prepared recipient should be sent: the agent's best hour inside the window when the
/// campaign uses best send times and the window covers that hour, else the window's next opening.
pub fn choose_send_time(
    campaign: &CampaignRow,
    best_hour: Option<u32>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let tz = campaign.time_zone;
    let best = if campaign.best_send_time {
        best_hour.and_then(|h| campaign.send_window.at_hour(tz, now, h))
    } else {
        None
    };
    best.or_else(|| campaign.send_window.next_open(tz, now))
}

// ---------------------------------------------------------------------------------------------
// The activities
// ---------------------------------------------------------------------------------------------

pub struct CampaignActivities {
    pool: PgPool,
    client: Client,
    agents: Option<Arc<dyn AgentApi>>,
    /// Contacts per segment page.
    pub page_size: u32,
    /// Recipients a run keeps between start and hand-over.
    pub max_in_flight: u32,
}

impl CampaignActivities {
    pub fn new(
        pool: PgPool,
        client: Client,
        agents: Option<Arc<dyn AgentApi>>,
        page_size: u32,
        max_in_flight: u32,
    ) -> Self {
        CampaignActivities {
            pool,
            client,
            agents,
            page_size: page_size.max(1),
            max_in_flight: max_in_flight.max(1),
        }
    }
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_else(Utc::now)
}

fn agent_failure(err: AgentError) -> ActivityError {
    match err {
        AgentError::Rejected { code, message } => ActivityError::application(
            ApplicationFailure::builder(format!("agent rejected the request ({code}): {message}"))
                .type_name(names::FAILURE_AGENT_REJECTED.to_owned())
                .non_retryable(true)
                .build(),
        ),
        unavailable => ActivityError::from(anyhow::Error::new(unavailable)),
    }
}

#[activities]
impl CampaignActivities {
    #[activity(definition = defs::CampaignBeginRun)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn begin_run(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: BeginRunInput,
    ) -> Result<BeginRunOutput, ActivityError> {
        begin_run(&self.pool, &input, self.page_size, self.max_in_flight)
            .await
            .map_err(store_failure)
    }

    #[activity(definition = defs::CampaignResolvePage)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn resolve_page(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ResolvePageInput,
    ) -> Result<Vec<Uuid>, ActivityError> {
        resolve_page(&self.pool, &input)
            .await
            .map_err(store_failure)
    }

    #[activity(definition = defs::CampaignApplyControl)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&ctx), activity.type = ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn apply_control(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: CampaignControlInput,
    ) -> Result<u64, ActivityError> {
        if input.control == CampaignControl::Cancel {
            cancel_unsent(&self.pool, input.tenant_id, input.run_id)
                .await
                .map_err(store_failure)?;
        }
        if input.control == CampaignControl::Pause {
            return Ok(0);
        }
        // Held recipients wait for a `wake` signal; resume and cancel both owe them one.
        let held = sqlx::query_scalar!(
            "SELECT workflow_id FROM campaign_recipients WHERE tenant_id = $1 AND run_id = $2 AND held_at IS NOT NULL",
            input.tenant_id,
            input.run_id,
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| store_failure(e.into()))?;
        let mut woken = 0u64;
        for chunk in held.chunks(50) {
            let _ = ctx.record_heartbeat(woken).await;
            let signals = chunk.iter().map(|workflow_id| {
                let handle = self
                    .client
                    .get_workflow_handle::<CampaignRecipient>(workflow_id.clone());
                async move {
                    handle
                        .signal(
                            CampaignRecipient::wake,
                            (),
                            WorkflowSignalOptions::default(),
                        )
                        .await
                }
            });
            for result in futures::future::join_all(signals).await {
                match result {
                    Ok(()) => woken += 1,
                    // Finished meanwhile (a cancel it saw on its own): nothing to wake.
                    Err(err) if err.to_string().to_lowercase().contains("not found") => {}
                    Err(err) => {
                        return Err(ActivityError::from(anyhow::anyhow!(
                            "waking held recipients: {err}"
                        )));
                    }
                }
            }
        }
        Ok(woken)
    }

    #[activity(definition = defs::CampaignOutstanding)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn outstanding(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RunRef,
    ) -> Result<u64, ActivityError> {
        let n = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM campaign_recipients WHERE tenant_id = $1 AND run_id = $2 AND status = ANY($3)"#,
            input.tenant_id,
            input.run_id,
            &OUTSTANDING as &[&str],
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| store_failure(e.into()))?;
        Ok(n as u64)
    }

    #[activity(definition = defs::CampaignFinishRun)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn finish_run(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: FinishRunInput,
    ) -> Result<(), ActivityError> {
        finish_run(&self.pool, &input).await.map_err(store_failure)
    }

    #[activity(definition = defs::CampaignPrepareRecipient)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn prepare_recipient(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RecipientAt,
    ) -> Result<PrepareRecipientOutput, ActivityError> {
        prepare_recipient(&self.pool, self.agents.as_deref(), &input).await
    }

    #[activity(definition = defs::CampaignSkipRecipient)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn skip_recipient(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: SkipRecipientInput,
    ) -> Result<(), ActivityError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| store_failure(e.into()))?;
        skip(
            &mut tx,
            input.tenant_id,
            input.run_id,
            input.contact_id,
            &input.reason,
        )
        .await
        .map_err(store_failure)?;
        tx.commit().await.map_err(|e| store_failure(e.into()))
    }

    #[activity(definition = defs::CampaignClaimSend)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn claim_send(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RecipientAt,
    ) -> Result<SendClaim, ActivityError> {
        claim_send(&self.pool, &input).await.map_err(store_failure)
    }

    #[activity(definition = defs::CampaignRecordReply)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn record_reply(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RecordReplyInput,
    ) -> Result<(), ActivityError> {
        record_reply(&self.pool, &input)
            .await
            .map_err(store_failure)
    }

    #[activity(definition = defs::CampaignCloseRecipient)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn close_recipient(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RecipientAt,
    ) -> Result<(), ActivityError> {
        close_recipient(&self.pool, &input)
            .await
            .map_err(store_failure)
    }
}

async fn begin_run(
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

async fn resolve_page(pool: &PgPool, input: &ResolvePageInput) -> Result<Vec<Uuid>, StoreError> {
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

async fn finish_run(pool: &PgPool, input: &FinishRunInput) -> Result<(), StoreError> {
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

/// Skip reason of a recipient the channel's messaging policy does not let us reach.
pub const OUTSIDE_MESSAGING_WINDOW: &str = "outside_messaging_window";

/// Meta's policy: automated messages, campaigns included, only within 24 hours of the contact's
/// last message on the channel (cold Messenger/Instagram campaigns are not allowed). WhatsApp
/// through WAHA has no such window.
async fn outside_messaging_window(
    conn: &mut PgConnection,
    channel_id: Uuid,
    contact_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let channel = sqlx::query!(
        "SELECT c.kind, (SELECT max(m.provider_timestamp) FROM messages m
                          WHERE m.channel_id = c.id AND m.contact_id = $2 AND m.direction = 'inbound') AS last_inbound
           FROM channels c WHERE c.id = $1",
        channel_id,
        contact_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(MetaPlatform::from_kind(&channel.kind).is_some()
        && messaging_type(Some("campaign"), channel.last_inbound, now).is_err())
}

/// A recipient's row as preparation needs it: campaign, status, reason, chosen send time.
type RecipientRow = (Uuid, RecipientStatus, Option<String>, Option<DateTime<Utc>>);

async fn recipient_status(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    run_id: Uuid,
    contact_id: Uuid,
) -> Result<RecipientRow, StoreError> {
    let row = sqlx::query!(
        r#"SELECT campaign_id, status AS "status: RecipientStatus", reason, send_at FROM campaign_recipients
            WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3 FOR UPDATE"#,
        tenant_id,
        run_id,
        contact_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| (r.campaign_id, r.status, r.reason, r.send_at))
        .ok_or_else(|| {
            StoreError::Invalid(format!(
                "recipient {contact_id} of run {run_id} does not exist"
            ))
        })
}

/// Skip checks, then the agent; the outcome is stored on the recipient so a retry (or a later
/// execution) answers from the row instead of asking the agent again.
async fn prepare_recipient(
    pool: &PgPool,
    agents: Option<&dyn AgentApi>,
    input: &RecipientAt,
) -> Result<PrepareRecipientOutput, ActivityError> {
    let db = |e: sqlx::Error| store_failure(e.into());
    let now = from_millis(input.now_ms);
    let mut conn = pool.acquire().await.map_err(db)?;
    let (campaign_id, status, reason, send_at) =
        recipient_status(&mut conn, input.tenant_id, input.run_id, input.contact_id)
            .await
            .map_err(store_failure)?;
    let campaign = load_campaign(&mut conn, input.tenant_id, campaign_id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| {
            store_failure(StoreError::Invalid(format!(
                "campaign {campaign_id} does not exist"
            )))
        })?;
    let attribution_window_secs = campaign.attribution_window_hours as u64 * 3600;
    if status != RecipientStatus::Pending {
        return Ok(PrepareRecipientOutput {
            skip_reason: (status == RecipientStatus::Skipped).then(|| reason.unwrap_or_default()),
            send_at_ms: send_at.map_or(input.now_ms, millis),
            attribution_window_secs,
        });
    }
    let contact = sqlx::query!(
        r#"SELECT c.opted_out_at, c.merged_into,
                  EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = c.id AND i.channel_id = $3) AS "reachable!"
             FROM contacts c WHERE c.id = $1 AND c.tenant_id = $2"#,
        input.contact_id,
        input.tenant_id,
        campaign.channel_id,
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?
    .map(|c| (c.opted_out_at, c.merged_into, c.reachable));
    let skip_reason = match contact {
        None => Some("contact_deleted"),
        Some((Some(_), _, _)) => Some("opted_out"),
        Some((_, Some(_), _)) => Some("contact_merged"),
        Some((_, _, false)) => Some("no_identity_on_channel"),
        _ if campaign.status == CampaignStatus::Cancelled => Some("campaign_cancelled"),
        _ => None,
    };
    let skip_reason = match skip_reason {
        None if outside_messaging_window(&mut conn, campaign.channel_id, input.contact_id, now)
            .await
            .map_err(db)? =>
        {
            Some(OUTSIDE_MESSAGING_WINDOW)
        }
        other => other,
    };
    let skip_now = |reason: String| async move {
        let mut tx = pool.begin().await.map_err(db)?;
        skip(
            &mut tx,
            input.tenant_id,
            input.run_id,
            input.contact_id,
            &reason,
        )
        .await
        .map_err(store_failure)?;
        tx.commit().await.map_err(db)?;
        Ok::<_, ActivityError>(PrepareRecipientOutput {
            skip_reason: Some(reason),
            send_at_ms: input.now_ms,
            attribution_window_secs,
        })
    };
    if let Some(reason) = skip_reason {
        drop(conn);
        return skip_now(reason.to_owned()).await;
    }
    let Some(agents) = agents else {
        drop(conn);
        return skip_now("agent_service_not_configured".into()).await;
    };
    let request_id =
        ids::campaign_recipient_workflow_id(input.tenant_id, input.run_id, input.contact_id);
    let request =
        match personalisation_request(&mut conn, &campaign, input.contact_id, &request_id).await {
            Ok(request) => request,
            Err(PersonaliseError::Store(e)) => return Err(store_failure(e)),
            Err(PersonaliseError::Agent(e)) => return Err(agent_failure(e)),
        };
    // Not held across the agent call: a campaign has many recipients preparing at once.
    drop(conn);
    let personalised = ask_agent(agents, &campaign, request)
        .await
        .map_err(|e| match e {
            PersonaliseError::Store(e) => store_failure(e),
            PersonaliseError::Agent(e) => agent_failure(e),
        })?;
    let send_at = choose_send_time(&campaign, personalised.best_hour, now).unwrap_or(now);
    let mut tx = pool.begin().await.map_err(db)?;
    let scheduled = RecipientStatus::Scheduled;
    let updated = sqlx::query!(
        "UPDATE campaign_recipients SET status = $8, status_rank = $9, personalised_text = $4, agent_type = $5,
                best_hour = $6, send_at = $7, scheduled_at = now()
          WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3 AND status = $10",
        input.tenant_id,
        input.run_id,
        input.contact_id,
        personalised.text,
        personalised.agent_type,
        personalised.best_hour.map(|h| h as i16),
        send_at,
        scheduled.as_str(),
        scheduled.rank(),
        RecipientStatus::Pending.as_str(),
    )
    .execute(&mut *tx)
    .await
    .map_err(db)?
    .rows_affected();
    if updated == 0 {
        // Cancelled meanwhile: the row says so.
        let (_, status, reason, stored_at) =
            recipient_status(&mut tx, input.tenant_id, input.run_id, input.contact_id)
                .await
                .map_err(store_failure)?;
        return Ok(PrepareRecipientOutput {
            skip_reason: (status == RecipientStatus::Skipped).then(|| reason.unwrap_or_default()),
            send_at_ms: stored_at.map_or(input.now_ms, millis),
            attribution_window_secs,
        });
    }
    tx.commit().await.map_err(db)?;
    Ok(PrepareRecipientOutput {
        skip_reason: None,
        send_at_ms: millis(send_at),
        attribution_window_secs,
    })
}

/// Records the skip (only before the message exists) with an outbox event.
async fn skip(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant_id: Uuid,
    run_id: Uuid,
    contact_id: Uuid,
    reason: &str,
) -> Result<(), StoreError> {
    let skipped = RecipientStatus::Skipped;
    let campaign_id = sqlx::query_scalar!(
        "UPDATE campaign_recipients SET status = $5, status_rank = $6, reason = $4, skipped_at = now(), held_at = NULL
          WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3 AND status = ANY($7)
          RETURNING campaign_id",
        tenant_id,
        run_id,
        contact_id,
        reason,
        skipped.as_str(),
        skipped.rank(),
        &UNSENT as &[&str],
    )
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(campaign_id) = campaign_id {
        append_outbox(
            tx,
            tenant_id,
            EventType::CampaignRecipientSkipped,
            "campaign",
            campaign_id,
            json!({"campaign_id": campaign_id, "run_id": run_id, "contact_id": contact_id, "status": skipped, "reason": reason}),
        )
        .await?;
    }
    Ok(())
}

/// The statuses of a recipient the run still waits for (its message not yet accepted).
const OUTSTANDING: [&str; 3] = [
    RecipientStatus::Pending.as_str(),
    RecipientStatus::Scheduled.as_str(),
    RecipientStatus::Sending.as_str(),
];

/// The statuses of a recipient whose message is not written yet: the only ones a skip may replace.
const UNSENT: [&str; 2] = [
    RecipientStatus::Pending.as_str(),
    RecipientStatus::Scheduled.as_str(),
];

async fn cancel_unsent(pool: &PgPool, tenant_id: Uuid, run_id: Uuid) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    let skipped = RecipientStatus::Skipped;
    let n = sqlx::query!(
        "UPDATE campaign_recipients SET status = $3, status_rank = $4, reason = 'campaign_cancelled', skipped_at = now()
          WHERE tenant_id = $1 AND run_id = $2 AND status = ANY($5)",
        tenant_id,
        run_id,
        skipped.as_str(),
        skipped.rank(),
        &UNSENT as &[&str],
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(n)
}

/// The gate before a send: campaign status, send window, rate-limit slot; when all clear, the
/// pending message is written (with its session) in the same transaction.
async fn claim_send(pool: &PgPool, input: &RecipientAt) -> Result<SendClaim, StoreError> {
    let now = from_millis(input.now_ms);
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        r#"SELECT campaign_id, status AS "status: RecipientStatus", message_id, slot_at, personalised_text FROM campaign_recipients
            WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3 FOR UPDATE"#,
        input.tenant_id,
        input.run_id,
        input.contact_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::Invalid(format!("recipient {} of run {} does not exist", input.contact_id, input.run_id)))?;
    let campaign_id = row.campaign_id;
    // A pause or cancel (which updates this row) waits for claims in progress, and a claim that
    // comes after it reads the new status: no message is written once the API has answered.
    sqlx::query!(
        "SELECT 1 AS one FROM campaigns WHERE id = $1 FOR SHARE",
        campaign_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let campaign = load_campaign(&mut tx, input.tenant_id, campaign_id)
        .await?
        .ok_or_else(|| StoreError::Invalid(format!("campaign {campaign_id} does not exist")))?;
    if let Some(message_id) = row.message_id {
        return Ok(SendClaim::Go {
            message_id,
            channel_id: campaign.channel_id,
        });
    }
    if row.status == RecipientStatus::Skipped {
        return Ok(SendClaim::Cancelled);
    }
    if campaign.status == CampaignStatus::Cancelled {
        skip(
            &mut tx,
            input.tenant_id,
            input.run_id,
            input.contact_id,
            "campaign_cancelled",
        )
        .await?;
        tx.commit().await?;
        return Ok(SendClaim::Cancelled);
    }
    if campaign.status == CampaignStatus::Paused {
        sqlx::query!(
            "UPDATE campaign_recipients SET held_at = coalesce(held_at, now()) WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3",
            input.tenant_id,
            input.run_id,
            input.contact_id,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(SendClaim::Hold);
    }
    let set_slot = |slot: Option<DateTime<Utc>>| {
        sqlx::query!(
            "UPDATE campaign_recipients SET slot_at = $4, held_at = NULL WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3",
            input.tenant_id,
            input.run_id,
            input.contact_id,
            slot,
        )
    };
    if !campaign.send_window.contains(campaign.time_zone, now) {
        let Some(opening) = campaign.send_window.next_open(campaign.time_zone, now) else {
            skip(
                &mut tx,
                input.tenant_id,
                input.run_id,
                input.contact_id,
                "send_window_never_opens",
            )
            .await?;
            tx.commit().await?;
            return Ok(SendClaim::Cancelled);
        };
        // A slot reserved for a moment the window has closed on is given up.
        set_slot(None).execute(&mut *tx).await?;
        tx.commit().await?;
        return Ok(SendClaim::WaitUntil {
            at_ms: millis(opening),
        });
    }
    let pacing = channel_pacing(&mut tx, input.tenant_id, campaign.channel_id).await?;
    if campaign.rate_limit_per_minute.is_some() || pacing.is_some() {
        let slot = match row.slot_at {
            Some(slot) => slot,
            None => {
                let mut slot = now;
                if let Some(rate) = campaign.rate_limit_per_minute {
                    // The run's clock: each send takes the next free slot, one every 60/rate seconds.
                    let spacing_ms = (60_000 / i64::from(rate.max(1))).max(1);
                    let next: Option<DateTime<Utc>> =
                        sqlx::query_scalar!(
                            "SELECT next_slot_at FROM campaign_runs WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
                            input.run_id,
                            input.tenant_id,
                        )
                        .fetch_one(&mut *tx)
                        .await?;
                    slot = next.map_or(now, |n| n.max(now));
                    sqlx::query!(
                        "UPDATE campaign_runs SET next_slot_at = $2 WHERE id = $1",
                        input.run_id,
                        slot + chrono::Duration::milliseconds(spacing_ms),
                    )
                    .execute(&mut *tx)
                    .await?;
                }
                // The channel's clock, shared by every campaign on it: jittered gaps, daily cap.
                if let Some(pacing) = &pacing {
                    slot = crate::pacing::reserve_slot(
                        &mut tx,
                        input.tenant_id,
                        campaign.channel_id,
                        pacing,
                        slot,
                        campaign.time_zone,
                    )
                    .await?;
                }
                set_slot(Some(slot)).execute(&mut *tx).await?;
                slot
            }
        };
        if slot > now {
            tx.commit().await?;
            return Ok(SendClaim::WaitUntil {
                at_ms: millis(slot),
            });
        }
    }

    let text = row
        .personalised_text
        .ok_or_else(|| StoreError::Invalid("the recipient has no personalised text".into()))?;
    // A person with a phone number and a hidden id is written at the phone number.
    let identity = sqlx::query!(
        "SELECT id, external_id FROM contact_identities WHERE contact_id = $1 AND channel_id = $2 AND tenant_id = $3
          ORDER BY (kind = 'wa_user') DESC, created_at LIMIT 1",
        input.contact_id,
        campaign.channel_id,
        input.tenant_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|i| (i.id, i.external_id));
    let Some((identity_id, chat_id)) = identity else {
        skip(
            &mut tx,
            input.tenant_id,
            input.run_id,
            input.contact_id,
            "no_identity_on_channel",
        )
        .await?;
        tx.commit().await?;
        return Ok(SendClaim::Cancelled);
    };
    // Checked again at send time: the window may have closed while the recipient waited.
    if outside_messaging_window(&mut tx, campaign.channel_id, input.contact_id, now).await? {
        skip(
            &mut tx,
            input.tenant_id,
            input.run_id,
            input.contact_id,
            OUTSIDE_MESSAGING_WINDOW,
        )
        .await?;
        tx.commit().await?;
        return Ok(SendClaim::Cancelled);
    }
    let message_id = ids::campaign_message_id(input.run_id, input.contact_id);
    let session_id = open_campaign_session(
        &mut tx,
        input.tenant_id,
        campaign.channel_id,
        input.contact_id,
        identity_id,
        &chat_id,
        message_id,
    )
    .await?;
    sqlx::query!(
        "INSERT INTO messages (id, tenant_id, channel_id, session_id, contact_id, identity_id, direction, body,
                               status, status_rank, origin, agent_type, handled_by_workflow)
         VALUES ($1, $2, $3, $4, $5, $6, 'outbound', $7, 'pending', 0, 'campaign', $8, $9)
         ON CONFLICT (id) DO NOTHING",
        message_id,
        input.tenant_id,
        campaign.channel_id,
        session_id,
        input.contact_id,
        identity_id,
        text,
        campaign.agent_type,
        ids::outbound_workflow_id(input.tenant_id, message_id),
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO message_status_history (tenant_id, message_id, status) VALUES ($1, $2, 'pending')",
        input.tenant_id,
        message_id,
    )
    .execute(&mut *tx)
    .await?;
    let sending = RecipientStatus::Sending;
    sqlx::query!(
        "UPDATE campaign_recipients SET status = $6, status_rank = $7, message_id = $4, session_id = $5, held_at = NULL
          WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3",
        input.tenant_id,
        input.run_id,
        input.contact_id,
        message_id,
        session_id,
        sending.as_str(),
        sending.rank(),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(SendClaim::Go {
        message_id,
        channel_id: campaign.channel_id,
    })
}

/// A channel's kind and settings, as the pacing reads them.
struct KindAndSettings {
    kind: String,
    settings: serde_json::Value,
}

/// The campaign pacing of the channel (WAHA channels always have one).
async fn channel_pacing(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant_id: Uuid,
    channel_id: Uuid,
) -> Result<Option<ventros_channels::channel::CampaignPacing>, StoreError> {
    let (kind, settings): (String, serde_json::Value) = sqlx::query_as!(
        KindAndSettings,
        "SELECT kind, settings FROM channels WHERE id = $1 AND tenant_id = $2",
        channel_id,
        tenant_id,
    )
    .fetch_one(&mut **tx)
    .await
    .map(|c| (c.kind, c.settings))?;
    let settings: ventros_channels::channel::ChannelSettings = serde_json::from_value(settings)
        .map_err(|e| StoreError::Invalid(format!("channel settings: {e}")))?;
    Ok(settings.campaign_pacing_for(&kind))
}

/// The chat's open session, or a new one owned by the chat's Conversation workflow id: when the
/// contact answers, their Conversation continues this session instead of greeting them anew.
async fn open_campaign_session(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant_id: Uuid,
    channel_id: Uuid,
    contact_id: Uuid,
    identity_id: Uuid,
    chat_id: &str,
    message_id: Uuid,
) -> Result<Uuid, StoreError> {
    let existing: Option<Uuid> =
        sqlx::query_scalar!(
            "SELECT id FROM conversation_sessions WHERE channel_id = $1 AND identity_id = $2 AND status = 'open'",
            channel_id,
            identity_id,
        )
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let session_id = Uuid::now_v7();
    let workflow_id = ids::conversation_workflow_id(
        tenant_id,
        channel_id,
        &ids::chat_key(tenant_id, channel_id, chat_id),
    );
    sqlx::query!(
        "INSERT INTO conversation_sessions (id, tenant_id, channel_id, contact_id, identity_id, workflow_id, assigned_to, opened_by_batch)
         VALUES ($1, $2, $3, $4, $5, $6, 'bot', $7)",
        session_id,
        tenant_id,
        channel_id,
        contact_id,
        identity_id,
        workflow_id,
        format!("campaign:{message_id}"),
    )
    .execute(&mut **tx)
    .await?;
    append_outbox(
        tx,
        tenant_id,
        EventType::SessionOpened,
        "session",
        session_id,
        json!({"session_id": session_id, "contact_id": contact_id, "channel_id": channel_id, "origin": "campaign"}),
    )
    .await?;
    Ok(session_id)
}

/// The statuses of a recipient whose message is written and not yet answered: a reply from the
/// contact counts for the campaign only then.
const ANSWERABLE: [&str; 4] = [
    RecipientStatus::Sending.as_str(),
    RecipientStatus::Sent.as_str(),
    RecipientStatus::Delivered.as_str(),
    RecipientStatus::Read.as_str(),
];

async fn record_reply(pool: &PgPool, input: &RecordReplyInput) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let replied = RecipientStatus::Replied;
    let campaign_id = sqlx::query_scalar!(
        "UPDATE campaign_recipients SET status = $5, status_rank = $6, replied_at = now(), reply_message_id = $4
          WHERE tenant_id = $1 AND run_id = $2 AND contact_id = $3 AND status = ANY($7)
          RETURNING campaign_id",
        input.tenant_id,
        input.run_id,
        input.contact_id,
        input.reply_message_id,
        replied.as_str(),
        replied.rank(),
        &ANSWERABLE as &[&str],
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(campaign_id) = campaign_id {
        append_outbox(
            &mut tx,
            input.tenant_id,
            EventType::CampaignRecipientReplied,
            "campaign",
            campaign_id,
            json!({"campaign_id": campaign_id, "run_id": input.run_id, "contact_id": input.contact_id,
                   "status": replied, "reply_message_id": input.reply_message_id}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// No reply within the window: the session the campaign opened closes if nobody wrote in it (a
/// contact who answered owns it through their Conversation, which closes it on inactivity).
async fn close_recipient(pool: &PgPool, input: &RecipientAt) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let closed = sqlx::query!(
        "UPDATE conversation_sessions s SET status = 'closed', closed_at = now(), close_reason = 'campaign_no_reply'
           FROM campaign_recipients r
          WHERE r.tenant_id = $1 AND r.run_id = $2 AND r.contact_id = $3 AND s.id = r.session_id AND s.status = 'open'
            AND s.opened_by_batch = 'campaign:' || r.message_id
            AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.session_id = s.id AND m.direction = 'inbound')
          RETURNING s.id, s.contact_id",
        input.tenant_id,
        input.run_id,
        input.contact_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|s| (s.id, s.contact_id));
    if let Some((session_id, contact_id)) = closed {
        append_outbox(
            &mut tx,
            input.tenant_id,
            EventType::SessionClosed,
            "session",
            session_id,
            json!({"session_id": session_id, "contact_id": contact_id, "reason": "campaign_no_reply"}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Campaign recipients that a new inbound message from this contact on this channel answers:
/// sent (or being sent) within their campaign's attribution window, not yet replied.
pub async fn reply_targets(
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
        &ANSWERABLE as &[&str],
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

#[cfg(test)]
mod tests {
    use super::*;

    fn window(days: &[u8], start: &str, end: &str) -> SendWindow {
        serde_json::from_value(json!({"days": days, "start": start, "end": end})).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn windows_open_in_the_campaign_time_zone() {
        let tz: Tz = "America/Sao_Paulo".parse().unwrap(); // UTC-3, no DST since 2019
        let w = window(&[1, 2, 3, 4, 5], "09:00", "18:00");
        // Wednesday 2026-11-25 11:00 UTC = 08:00 local: before opening.
        let early = utc("2026-11-25T11:00:00Z");
        assert!(!w.contains(tz, early));
        assert_eq!(w.next_open(tz, early), Some(utc("2026-11-25T12:00:00Z")));
        // 15:00 local is inside: now.
        let inside = utc("2026-11-25T18:00:00Z");
        assert_eq!(w.next_open(tz, inside), Some(inside));
        // Friday 19:00 local → Monday 09:00 local.
        assert_eq!(
            w.next_open(tz, utc("2026-11-27T22:00:00Z")),
            Some(utc("2026-11-30T12:00:00Z"))
        );
    }

    #[test]
    fn best_hour_lands_inside_the_window_or_not_at_all() {
        let tz: Tz = "America/Sao_Paulo".parse().unwrap();
        let w = window(&[1, 2, 3, 4, 5, 6, 7], "09:30", "18:00");
        let from = utc("2026-11-25T11:00:00Z"); // 08:00 local
        assert_eq!(w.at_hour(tz, from, 15), Some(utc("2026-11-25T18:00:00Z")));
        assert_eq!(
            w.at_hour(tz, from, 9),
            Some(utc("2026-11-25T12:30:00Z")),
            "the hour starts when the window does"
        );
        assert_eq!(w.at_hour(tz, from, 20), None, "outside the window");
        // 15:00 has passed today → tomorrow 15:00; inside the hour → now.
        assert_eq!(
            w.at_hour(tz, utc("2026-11-25T19:30:00Z"), 15),
            Some(utc("2026-11-26T18:00:00Z"))
        );
        assert_eq!(
            w.at_hour(tz, utc("2026-11-25T18:20:00Z"), 15),
            Some(utc("2026-11-25T18:20:00Z"))
        );
    }

    #[test]
    fn windows_that_never_open_and_bad_schedules_are_refused() {
        assert!(window(&[], "09:00", "18:00").validate().is_err());
        assert!(window(&[1], "18:00", "09:00").validate().is_err());
        assert!(window(&[8], "09:00", "18:00").validate().is_err());
        assert!(window(&[1], "09:00", "09:01").validate().is_ok());
        assert!(
            serde_json::from_value::<SendWindow>(json!({"start": "9h", "end": "18:00"})).is_err()
        );
        let now = utc("2026-11-25T12:00:00Z");
        assert!(
            CampaignSchedule::Once {
                at: utc("2026-11-25T11:59:59Z")
            }
            .validate(now)
            .is_err()
        );
        assert!(
            CampaignSchedule::Once {
                at: utc("2026-11-25T12:00:01Z")
            }
            .validate(now)
            .is_ok()
        );
        assert!(
            CampaignSchedule::Cron {
                expression: "every day".into()
            }
            .validate(now)
            .is_err()
        );
        for good in ["0 9 * * MON-FRI", "*/15 8-18 * * 1-5", "@daily"] {
            assert!(valid_cron(good).is_ok(), "{good}");
        }
        // Five fields but out of range, or six / seven: refused here, not by Temporal later.
        for bad in [
            "61 * * * *",
            "0 25 * * *",
            "0 9 * * FUNDAY",
            "a b c d e",
            "0 0 9 * * MON",
            "0 9 * * MON 2027",
            "@sometimes",
        ] {
            assert!(valid_cron(bad).is_err(), "{bad}");
        }
        assert!(
            CampaignSchedule::Interval { every_seconds: 5 }
                .validate(now)
                .is_err()
        );
        assert!(parse_time_zone("Mars/Olympus").is_err());
    }
}
