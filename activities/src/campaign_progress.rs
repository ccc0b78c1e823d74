//! A campaign recipient's progress, signalled to its campaign run from a local activity.
//!
//! Why not the workflow's own signal command: Temporal answers that command with an
//! `ExternalWorkflowExecutionSignaled` event in the sender's history, and that event woke every
//! recipient for one more workflow task (a poll and a completion) right after its send was handed
//! over: about a tenth of what a recipient cost the engine, which is what bounds a campaign's rate on
//! one machine. A signal sent by the client from an activity adds nothing to the recipient's
//! history. The run counts each contact once, so a repeated activity is harmless.

use std::sync::Arc;
use std::time::Duration;

use temporalio_client::errors::WorkflowInteractionError;
use temporalio_client::{Client, WorkflowSignalOptions};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use ventros_workflows::Campaign;
use ventros_workflows::contract::{ReportProgressInput, activities as defs};

pub struct ProgressReporter {
    client: Client,
}

impl ProgressReporter {
    pub fn new(client: Client) -> Self {
        ProgressReporter { client }
    }
}

#[activities]
impl ProgressReporter {
    #[activity(definition = defs::CampaignReportProgress)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn report_progress(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ReportProgressInput,
    ) -> Result<(), ActivityError> {
        let handle = self
            .client
            .get_workflow_handle::<Campaign>(input.campaign_workflow_id.clone());
        let sent = tokio::time::timeout(
            Duration::from_secs(8),
            handle.signal(
                Campaign::recipient_progress,
                input.progress,
                WorkflowSignalOptions::default(),
            ),
        )
        .await
        .map_err(|_| ActivityError::from(anyhow::anyhow!("Temporal did not answer in time")))?;
        match sent {
            // A run that ended (cancelled, or finished by an operator) listens to no one: the
            // recipient's row holds the truth either way.
            Ok(()) | Err(WorkflowInteractionError::NotFound(_)) => Ok(()),
            Err(err) => Err(ActivityError::from(anyhow::anyhow!(
                "signalling the campaign run: {err}"
            ))),
        }
    }
}
