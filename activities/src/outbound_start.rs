//! Starting a reply's OutboundMessage workflow from the Conversation's local activity.
//!
//! Why not a child workflow: the Conversation never waits for its replies' delivery (they outlive
//! its runs), yet a child's started and completed events each woke it for a workflow task: two of
//! the three it took per greeted message. A workflow started here is as durable and as visible
//! (its own id, its own history); exactly once comes from the id, which is the message's, and
//! from refusing to reuse it: a local activity repeated after a crash finds the first workflow,
//! running or closed, and starts nothing.
//!
//! The start asks for eager execution: when this worker polls the queue, Temporal hands the new
//! workflow's first task back in the answer instead of through matching (servers that do not
//! allow it, `system.enableEagerWorkflowStart`, ignore the request).

use std::sync::Arc;
use std::time::Duration;

use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{Client, WorkflowIdReusePolicy, WorkflowStartOptions};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use ventros_workflows::contract::{OutboundInput, activities as defs};
use ventros_workflows::{OutboundMessage, ids};

pub struct OutboundStarter {
    client: Client,
    task_queue: String,
}

impl OutboundStarter {
    /// Starts OutboundMessage workflows on `task_queue` (the worker's own, for eager starts).
    pub fn new(client: Client, task_queue: String) -> Self {
        OutboundStarter { client, task_queue }
    }
}

#[activities]
impl OutboundStarter {
    #[activity(definition = defs::StartOutbound)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn start_outbound(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: OutboundInput,
    ) -> Result<(), ActivityError> {
        let workflow_id = ids::outbound_workflow_id(input.tenant_id, input.message_id);
        let options = WorkflowStartOptions::new(self.task_queue.clone(), workflow_id)
            .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
            .enable_eager_workflow_start(true)
            .build();
        let started = tokio::time::timeout(
            Duration::from_secs(8),
            self.client
                .start_workflow(OutboundMessage::run, input, options),
        )
        .await
        .map_err(|_| ActivityError::from(anyhow::anyhow!("Temporal did not answer in time")))?;
        match started {
            Ok(_) | Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(()),
            Err(err) => Err(ActivityError::from(anyhow::anyhow!(
                "starting OutboundMessage: {err}"
            ))),
        }
    }
}
