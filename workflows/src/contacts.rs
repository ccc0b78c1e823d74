//! The ContactMerge workflow: folds one contact into another (identities, conversations and their
//! messages, deals, memories and the knowledge graph), one idempotent step per kind of row, so a
//! worker killed halfway resumes at the step it was in and nothing moves twice.

use std::time::Duration;

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowContextView, WorkflowResult};

use crate::contract::{activities::*, names, *};
use crate::retry::persistent_retry;

fn merge_step_activity() -> ActivityOptions {
    // A step is a handful of UPDATEs in one transaction; the timeout is also how soon a crashed
    // worker's attempt is retried elsewhere.
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
        .retry_policy(persistent_retry())
        .build()
}

#[workflow]
#[derive(Default)]
pub struct ContactMerge {
    done: Vec<MergeStep>,
    moved: MergeCounts,
}

#[workflow_methods]
impl ContactMerge {
    #[run(name = names::CONTACT_MERGE_WORKFLOW)]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: ContactMergeInput,
    ) -> WorkflowResult<MergeCounts> {
        for step in MergeStep::ALL {
            let moved = ctx
                .execute_activity(
                    ContactMergeStep,
                    MergeStepInput {
                        tenant_id: input.tenant_id,
                        merge_id: input.merge_id,
                        step,
                    },
                    merge_step_activity(),
                )
                .await?;
            ctx.state_mut(|s| {
                s.done.push(step);
                let key = serde_json::to_value(step)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                s.moved.insert(key, moved);
            });
        }
        Ok(ctx.state(|s| s.moved.clone()))
    }

    /// The steps completed so far and the rows each moved.
    #[query(name = names::QUERY_STATE)]
    pub fn state(&self, _ctx: &WorkflowContextView) -> MergeCounts {
        self.moved.clone()
    }
}
