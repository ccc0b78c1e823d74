//! The WebhookDelivery workflow: one signed POST of one outbox event to one subscriber, retried with
//! exponential backoff by Temporal until the receiver answers 2xx. The delivery id (the
//! `webhook-id` header) is fixed before the first attempt, so a receiver can deduplicate retries.
//! Only when every attempt has failed is the delivery marked failed (and it can be redelivered).
//!
//! Also the InboxSweep workflow: started by a Temporal Schedule, it re-drives inbound webhooks that
//! were stored but whose hand-over to Temporal failed after the sender stopped retrying.

use std::time::Duration;

use temporalio_common::RetryPolicy;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowContextView, WorkflowResult};

use crate::contract::{activities::*, names, *};
use crate::retry::db_activity;

#[workflow]
#[derive(Default)]
pub struct WebhookDelivery {
    delivered: Option<bool>,
}

#[workflow_methods]
impl WebhookDelivery {
    #[run(name = names::WEBHOOK_DELIVERY_WORKFLOW)]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: WebhookDeliveryInput,
    ) -> WorkflowResult<WebhookOutcome> {
        let attempt = WebhookAttemptInput {
            tenant_id: input.tenant_id,
            delivery_id: input.delivery_id,
        };
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_millis(input.initial_backoff_ms.max(1)))
                    .backoff_coefficient(2.0)
                    .maximum_interval(Duration::from_millis(
                        input.max_backoff_ms.max(input.initial_backoff_ms).max(1),
                    ))
                    .maximum_attempts(input.max_attempts.max(1))
                    .build(),
            )
            .build();
        let delivered = ctx
            .execute_activity(WebhookDeliver, attempt.clone(), options)
            .await
            .is_ok();
        if !delivered {
            ctx.execute_local_activity(WebhookGiveUp, attempt, db_activity())
                .await?;
        }
        ctx.state_mut(|s| s.delivered = Some(delivered));
        Ok(WebhookOutcome {
            delivery_id: input.delivery_id,
            delivered,
        })
    }

    /// `null` while attempts continue, then whether it was delivered.
    #[query(name = names::QUERY_STATE)]
    pub fn state(&self, _ctx: &WorkflowContextView) -> Option<bool> {
        self.delivered
    }
}

/// One pass of the inbox sweeper (a Temporal Schedule starts one a minute; a pass still running
/// makes the next firing skip). Re-driving is safe to repeat: a Conversation ignores an inbox id
/// it has seen, and storing a message is idempotent on the provider's id. The same pass calls
/// sent messages whose delivery never came by their due time undelivered (a status only moves
/// forward, so a receipt that wins the race stands).
#[workflow]
#[derive(Default)]
pub struct InboxSweep {
    result: Option<InboxSweepOutput>,
}

#[workflow_methods]
impl InboxSweep {
    #[run(name = names::INBOX_SWEEP_WORKFLOW)]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: InboxSweepInput,
    ) -> WorkflowResult<InboxSweepOutput> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(60))
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_secs(1))
                    .maximum_attempts(3)
                    .build(),
            )
            .build();
        let result = ctx.execute_activity(SweepInbox, input, options).await?;
        ctx.state_mut(|s| s.result = Some(result.clone()));
        Ok(result)
    }

    /// What the pass did, once done.
    #[query(name = names::QUERY_STATE)]
    pub fn state(&self, _ctx: &WorkflowContextView) -> Option<InboxSweepOutput> {
        self.result.clone()
    }
}
