//! Follow-up tasks' timers: the `tasks.fire` activity the FollowUpTask workflow runs, and the
//! worker loop that gives every task its workflow.
//!
//! A task row is written in the same transaction as whatever created it (an agent's answer, an
//! operator's request), never together with a Temporal call; the loop then starts (or, after a
//! reschedule, signals) the task's workflow with signal-with-start and marks the row. A crash in
//! between starts nothing twice: the workflow id is the task's.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use temporalio_client::{Client, WorkflowStartOptions};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use ventros_workflows::contract::{FollowUpTaskInput, TaskTimer, activities as defs, ids};
use ventros_workflows::{FollowUpTask, TENANT_ID_ATTRIBUTE};

use crate::acts::store_failure;

pub struct TaskActivities {
    pool: PgPool,
}

impl TaskActivities {
    pub fn new(pool: PgPool) -> Self {
        TaskActivities { pool }
    }
}

#[activities]
impl TaskActivities {
    #[activity(definition = defs::TaskFire)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn fire(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: FollowUpTaskInput,
    ) -> Result<TaskTimer, ActivityError> {
        ventros_store::tickets::fire_task(&self.pool, input.tenant_id, input.task_id)
            .await
            .map_err(store_failure)
    }
}

/// One pass: every task without a running timer gets one. Returns how many it started.
pub async fn start_task_timers(
    pool: &PgPool,
    client: &Client,
    task_queue: &str,
) -> anyhow::Result<usize> {
    let pending = ventros_store::tickets::tasks_without_timer(pool, 100).await?;
    for &(tenant_id, task_id, read_at) in &pending {
        let options = WorkflowStartOptions::new(
            task_queue.to_owned(),
            ids::follow_up_task_workflow_id(tenant_id, task_id),
        )
        .search_attributes(temporalio_common::search_attributes::SearchAttributes::new(
            [TENANT_ID_ATTRIBUTE.value_set(tenant_id.to_string())],
        ))
        .build();
        // Started if none runs (a new task, or one rescheduled after its timer fired), signalled
        // otherwise (a running timer re-reads the due time).
        tokio::time::timeout(
            Duration::from_secs(10),
            client.signal_with_start_workflow(
                FollowUpTask::run,
                FollowUpTaskInput { tenant_id, task_id },
                FollowUpTask::changed,
                (),
                options,
            ),
        )
        .await
        .map_err(|_| anyhow::anyhow!("Temporal did not answer in time"))??;
        ventros_store::tickets::mark_timer_started(pool, tenant_id, task_id, read_at).await?;
    }
    Ok(pending.len())
}
