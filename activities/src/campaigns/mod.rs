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
use ventros_channels::meta::{MetaPlatform, messaging_type};
use ventros_store::{StoreError, append_outbox};

/// How long one personalisation call may take.
const AGENT_DEADLINE: Duration = Duration::from_secs(10);
/// How far back the contact's messages count for their best send hour.
const ACTIVITY_LOOKBACK_DAYS: i32 = 90;

mod recipients;
mod replies;
mod rows;
mod runs;
mod schedule;
mod sending;
#[cfg(test)]
mod tests;

pub use recipients::OUTSIDE_MESSAGING_WINDOW;
use recipients::*;
use replies::*;
pub use rows::*;
use runs::*;
pub use schedule::*;
use sending::*;

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
        tx.commit().await.map_err(|e| store_failure(e.into()))?;
        crate::metrics::campaign_skipped();
        Ok(())
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
