//! **FollowUpTask**: the durable timer of one follow-up task. It sleeps until the task is due and
//! announces `task.due` to the assignee (or the whole team) through the outbox, once; the task's
//! row is the truth, so completing or cancelling the task needs nothing from this workflow. When
//! an operator moves the due time, the worker signals `changed` (signal-with-start) and the timer
//! re-reads the row: earlier, later, or again after it already fired.

use std::time::Duration;

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult};

use crate::contract::{activities::*, names, *};
use crate::conversation::now_ms;
use crate::retry::db_activity;

/// A wake-up never comes sooner than this after the last read (clock skew between the workflow's
/// time and the database's cannot spin the loop).
const MIN_WAIT: Duration = Duration::from_millis(200);

#[workflow]
#[derive(Default)]
pub struct FollowUpTask {
    changed: bool,
    due_at_ms: Option<i64>,
}

#[workflow_methods]
impl FollowUpTask {
    #[run(name = names::FOLLOW_UP_TASK_WORKFLOW)]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: FollowUpTaskInput,
    ) -> WorkflowResult<()> {
        loop {
            ctx.state_mut(|s| s.changed = false);
            let next = ctx
                .execute_local_activity(TaskFire, input.clone(), db_activity())
                .await?;
            let TaskTimer::WaitUntil { due_at_ms } = next else {
                return Ok(());
            };
            ctx.state_mut(|s| s.due_at_ms = Some(due_at_ms));
            let now = now_ms(ctx.workflow_time()).unwrap_or(due_at_ms);
            let wait =
                Duration::from_millis(due_at_ms.saturating_sub(now).max(0) as u64).max(MIN_WAIT);
            temporalio_sdk::workflows::select! {
                woke = ctx.wait_condition(|s: &Self| s.changed) => { woke?; },
                _ = ctx.timer(wait) => {},
            };
        }
    }

    /// The task changed: read it again now.
    #[signal(name = names::SIGNAL_TASK_CHANGED)]
    pub fn changed(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _signal: ()) {
        self.changed = true;
    }

    /// The due time the timer is waiting for (milliseconds since the epoch), once read.
    #[query(name = names::QUERY_STATE)]
    pub fn state(&self, _ctx: &WorkflowContextView) -> Option<i64> {
        self.due_at_ms
    }
}
