//! The OutboundMessage workflow: one execution per message we send.
//!
//! It sends the (already persisted, `pending`) message through the channel's provider with
//! retries. Runs since the `outbound-receipts-in-database` patch hand the receipts to the webhook,
//! which records them in the database itself, and end once the message is sent; the inbox sweeper
//! calls a message with no delivery by its ack timeout `undelivered` (`messages.delivery_due_at`).
//! A receipt then costs Temporal nothing. Older runs follow the
//! receipts as `ack` signals until the message is read, failed, or undelivered. Receipts come
//! late, twice and out of order; only forward moves are recorded, and the database enforces that.
//!
//! Since the `conversation-reply-sent-inline` and `campaign-send-inline` patches a Conversation
//! sends its replies itself, and a CampaignRecipient its message, starting an OutboundMessage only
//! for a message whose first attempt failed for a reason a retry can fix (after handing the
//! message over to it: see [`send_or_hand_over`]). Operator messages always have one.
//!
//! A Conversation's reply is sent from a local activity of the run's one workflow task (the
//! `outbound-send-local` patch, `OutboundInput::send_local`): a start and one workflow task, where
//! an activity task and the workflow task its completion woke made four operations. Retries are
//! the same; one whose backoff is longer than a few seconds waits on a durable timer.

use std::time::Duration;

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult};

use crate::contract::{activities::*, names, patches, *};
use crate::conversation::now_ms;
use crate::retry::{
    db_activity, failed_with, failure_reason, inline_send_activity, provider_send_activity,
    provider_send_local_activity,
};

#[workflow]
#[derive(Default)]
pub struct OutboundMessage {
    /// The most advanced receipt seen so far.
    best_ack: Option<DeliveryStatus>,
    /// The status last written to the database.
    recorded: Option<DeliveryStatus>,
}

#[workflow_methods]
impl OutboundMessage {
    #[run(name = names::OUTBOUND_MESSAGE_WORKFLOW)]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: OutboundInput,
    ) -> WorkflowResult<OutboundOutcome> {
        if input.compose {
            let compose = ComposeOperatorInput {
                tenant_id: input.tenant_id,
                message_id: input.message_id,
            };
            ctx.execute_local_activity(ComposeOperatorMessage, compose, db_activity())
                .await?;
        }
        ctx.state_mut(|s| s.recorded = Some(DeliveryStatus::Pending));
        let receipts_in_database = ctx.patched(patches::RECEIPTS_IN_DATABASE);
        let send_input = SendOutboundInput {
            tenant_id: input.tenant_id,
            message_id: input.message_id,
            receipts_in_database,
            trace: input.trace,
        };
        let send = if input.send_local && ctx.patched(patches::OUTBOUND_SEND_LOCAL) {
            ctx.execute_local_activity(SendOutbound, send_input, provider_send_local_activity())
                .await
        } else {
            ctx.execute_activity(SendOutbound, send_input, provider_send_activity())
                .await
        };
        let sent = match send {
            Ok(sent) => sent,
            Err(err) => {
                let reason = failure_reason(&err);
                Self::record(ctx, &input, DeliveryStatus::Failed, Some(reason)).await?;
                return Ok(OutboundOutcome {
                    message_id: input.message_id,
                    status: DeliveryStatus::Failed,
                });
            }
        };
        // The send activity stored `sent` with the provider id in the same transaction.
        ctx.state_mut(|s| s.recorded = Some(DeliveryStatus::Sent));
        if receipts_in_database {
            return Self::settle(ctx, &input, &sent).await;
        }
        // Receipts that beat the send's answer were held for it: take them as arrived now.
        if !sent.held_receipts.is_empty() && ctx.patched(patches::HELD_RECEIPTS) {
            ctx.state_mut(|s| {
                for status in &sent.held_receipts {
                    if s.best_ack.is_none_or(|best| best.can_move_to(*status)) {
                        s.best_ack = Some(*status);
                    }
                }
            });
        }

        // Phase 1: the delivery receipt, or `undelivered` after the ack timeout; skipped on
        // channels that never report deliveries.
        let status = if sent.delivery_receipts {
            let delivered_by = Duration::from_secs(sent.ack_timeout_secs);
            Self::follow_acks(ctx, &input, delivered_by, DeliveryStatus::Delivered).await?
        } else {
            DeliveryStatus::Delivered
        };
        if status < DeliveryStatus::Delivered {
            Self::record(
                ctx,
                &input,
                DeliveryStatus::Undelivered,
                Some("no delivery receipt within the ack timeout".into()),
            )
            .await?;
            return Ok(OutboundOutcome {
                message_id: input.message_id,
                status: DeliveryStatus::Undelivered,
            });
        }
        // Phase 2: the read receipt, for as long as the read window lasts.
        let status = if status.is_terminal() {
            status
        } else {
            Self::follow_acks(
                ctx,
                &input,
                Duration::from_secs(sent.read_window_secs),
                DeliveryStatus::Read,
            )
            .await?
        };
        Ok(OutboundOutcome {
            message_id: input.message_id,
            status,
        })
    }

    /// A provider receipt for this message.
    #[signal(name = names::SIGNAL_ACK)]
    pub fn ack(&mut self, _ctx: &mut SyncWorkflowContext<Self>, ack: AckSignal) {
        let moves_forward = match self.best_ack {
            None => true,
            Some(best) => best.can_move_to(ack.status),
        };
        if moves_forward {
            self.best_ack = Some(ack.status);
        }
    }

    /// The status as recorded so far.
    #[query(name = names::QUERY_STATE)]
    pub fn status(&self, _ctx: &WorkflowContextView) -> Option<DeliveryStatus> {
        self.recorded
    }
}

impl OutboundMessage {
    /// After the send, when the webhook records the receipts: applies the ones it held for the
    /// send and ends. The status history is the database's from here on.
    async fn settle(
        ctx: &mut WorkflowContext<Self>,
        input: &OutboundInput,
        sent: &SendOutboundOutput,
    ) -> WorkflowResult<OutboundOutcome> {
        // Implied steps are recorded with it (a held `read` also records `delivered`).
        if let Some(status) = held_status(sent) {
            Self::record(ctx, input, status, None).await?;
        }
        Ok(OutboundOutcome {
            message_id: input.message_id,
            status: ctx.state(|s| s.recorded.unwrap_or(DeliveryStatus::Sent)),
        })
    }

    /// Records receipts as they arrive until the status reaches `goal` (or a terminal status) or
    /// `within` elapses. Returns the last recorded status.
    async fn follow_acks(
        ctx: &mut WorkflowContext<Self>,
        input: &OutboundInput,
        within: Duration,
        goal: DeliveryStatus,
    ) -> WorkflowResult<DeliveryStatus> {
        let deadline = now_ms(ctx.workflow_time()).unwrap_or_default() + within.as_millis() as i64;
        loop {
            let recorded = ctx.state(|s| s.recorded.unwrap_or(DeliveryStatus::Pending));
            if recorded >= goal || recorded.is_terminal() {
                return Ok(recorded);
            }
            let remaining = deadline - now_ms(ctx.workflow_time()).unwrap_or_default();
            if remaining <= 0 {
                return Ok(recorded);
            }
            let news = |s: &Self| match (s.best_ack, s.recorded) {
                (Some(best), Some(rec)) => rec.can_move_to(best),
                (Some(_), None) => true,
                _ => false,
            };
            let got_ack = temporalio_sdk::workflows::select! {
                woke = ctx.wait_condition(news) => { woke?; true },
                _ = ctx.timer(Duration::from_millis(remaining as u64)) => false,
            };
            if !got_ack {
                return Ok(recorded);
            }
            if let Some(next) = ctx.state(|s| s.best_ack) {
                // A PENDING receipt carries no news for a message that was already accepted.
                if next != DeliveryStatus::Pending {
                    Self::record(ctx, input, next, None).await?;
                }
            }
        }
    }

    async fn record(
        ctx: &mut WorkflowContext<Self>,
        input: &OutboundInput,
        status: DeliveryStatus,
        reason: Option<String>,
    ) -> WorkflowResult<()> {
        ctx.execute_local_activity(
            RecordStatus,
            RecordStatusInput {
                tenant_id: input.tenant_id,
                message_id: input.message_id,
                status,
                reason,
            },
            db_activity(),
        )
        .await?;
        ctx.state_mut(|s| s.recorded = Some(status));
        Ok(())
    }
}

/// The most advanced of the receipts the webhook held for a send that had not been recorded yet,
/// if it says more than `pending`: what to record right after the send.
fn held_status(sent: &SendOutboundOutput) -> Option<DeliveryStatus> {
    sent.held_receipts
        .iter()
        .fold(None, |best, next| match best {
            Some(b) if !DeliveryStatus::can_move_to(b, *next) => Some(b),
            _ => Some(*next),
        })
        .filter(|s| *s != DeliveryStatus::Pending)
}

/// Sends a message from a local activity of the task of the workflow that wrote it, `holder` (a
/// Conversation's reply, a campaign recipient's message), instead of from a workflow of its own.
/// The send is the same idempotent activity OutboundMessage runs (a message that has a provider id
/// is not sent again; one whose attempt may have reached the provider is looked up there first),
/// and it gets one attempt here: a refusal is recorded as the failure, and anything a retry could
/// fix hands the message over to its OutboundMessage, which retries for up to a day without
/// holding `holder`.
///
/// The hand-over is written to the message (`outbound.hand_over`) before that workflow starts, and
/// the send checks it: should `holder`'s workflow task be retried after a crash, its repeated
/// attempt finds the message handed over and leaves it to the OutboundMessage, where the two could
/// otherwise both send it.
pub(crate) async fn send_or_hand_over<W>(
    ctx: &WorkflowContext<W>,
    input: OutboundInput,
    holder: String,
) -> WorkflowResult<()> {
    let send = SendOutboundInput {
        tenant_id: input.tenant_id,
        message_id: input.message_id,
        receipts_in_database: true,
        trace: input.trace,
    };
    let outcome = ctx
        .execute_local_activity(SendOutbound, send, inline_send_activity())
        .await;
    let (status, reason) = match outcome {
        Ok(sent) => match held_status(&sent) {
            Some(status) => (status, None),
            None => return Ok(()),
        },
        Err(err) if failed_with(&err, names::FAILURE_PERMANENT_SEND) => {
            (DeliveryStatus::Failed, Some(failure_reason(&err)))
        }
        Err(_) => {
            let hand_over = HandOverInput {
                tenant_id: input.tenant_id,
                message_id: input.message_id,
                from_workflow_id: holder,
            };
            ctx.execute_local_activity(HandOverSend, hand_over, db_activity())
                .await?;
            ctx.execute_local_activity(StartOutbound, input, db_activity())
                .await?;
            return Ok(());
        }
    };
    let record = RecordStatusInput {
        tenant_id: input.tenant_id,
        message_id: input.message_id,
        status,
        reason,
    };
    ctx.execute_local_activity(RecordStatus, record, db_activity())
        .await?;
    Ok(())
}
