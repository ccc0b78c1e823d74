//! Campaigns: one `Campaign` execution per run (started by the campaign's Temporal Schedule) and one
//! `CampaignRecipient` child per contact.
//!
//! The Campaign walks the segment in pages (an activity records each page as pending recipients),
//! keeps at most `max_in_flight` recipients between "started" and "skipped / parked / handed over"
//! (the children report with a `recipient_progress` signal), continues-as-new to keep its history
//! small, and takes `control` signals (pause, resume, cancel). Once every recipient is dispatched it
//! waits for the outstanding sends to settle and marks the run finished.
//!
//! A CampaignRecipient asks the agent for a personalised text and a best send time, waits with a
//! durable timer until then, claims its send (campaign status, send window and the campaign-wide
//! rate limit are checked by one activity that also writes the pending message), hands the message
//! to OutboundMessage, and stays open for the attribution window to record the contact's reply (the
//! Conversation workflow signals it). The message id derives from run and contact, so no crash,
//! retry or resume can make a second one.

use std::time::Duration;

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ChildWorkflowOptions, ContinueAsNewOptions, SyncWorkflowContext, WorkflowContext,
    WorkflowContextView, WorkflowResult,
};
use temporalio_workflow::ChildWorkflowStartError;
use temporalio_workflow::{
    ParentClosePolicy, SignalWorkflowOptions, StartChildWorkflowExecutionFailedCause,
};
use uuid::Uuid;

use crate::contract::{activities::*, names, *};
use crate::conversation::now_ms;
use crate::decisions::{DispatchStep, DispatchView, dispatch_step, recipient_wait, settle_backoff};
use crate::outbound::{OutboundMessage, send_or_hand_over};
use crate::retry::{campaign_agent_activity, db_activity, failed_with, persistent_retry};

/// Continue-as-new well before Temporal's history limits (a page of starts and their progress
/// signals is a few thousand events).
const MAX_HISTORY_EVENTS: u32 = 6_000;
/// A recipient whose send time is further away than this tells the campaign it is parked, so it
/// stops counting against `max_in_flight`.
const PARK_THRESHOLD_MS: i64 = 5_000;

#[workflow]
#[derive(Default)]
pub struct Campaign {
    tenant_id: Uuid,
    campaign_id: Uuid,
    run: BeginRunOutput,
    cursor: Option<Uuid>,
    exhausted: bool,
    buffer: Vec<Uuid>,
    in_flight: Vec<Uuid>,
    paused: bool,
    cancelled: bool,
    /// Controls received and not yet applied to the recipients.
    controls: Vec<CampaignControl>,
    progress: CampaignCounters,
    phase: &'static str,
}

#[workflow_methods]
impl Campaign {
    #[run(name = names::CAMPAIGN_WORKFLOW)]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: CampaignInput,
    ) -> WorkflowResult<CampaignCounters> {
        let carried = input.carried.is_some();
        ctx.state_mut(|s| s.restore(&input));
        if !carried {
            let begin = BeginRunInput {
                tenant_id: input.tenant_id,
                campaign_id: input.campaign_id,
                workflow_id: ctx.workflow_id().to_owned(),
            };
            let run = ctx
                .execute_local_activity(CampaignBeginRun, begin, db_activity())
                .await?;
            if !run.proceed {
                return Ok(CampaignCounters::default());
            }
            ctx.state_mut(|s| {
                s.paused |= run.paused;
                s.run = run;
            });
        }

        // Dispatch: pages of the segment → children, at most `max_in_flight` at a time.
        loop {
            Self::apply_controls(ctx).await?;
            let free = match ctx.state(|s| dispatch_step(s.dispatch_view())) {
                DispatchStep::Settle => break,
                DispatchStep::WaitForControl => {
                    ctx.state_mut(|s| s.phase = "paused");
                    ctx.wait_condition(|s| !s.controls.is_empty()).await?;
                    continue;
                }
                DispatchStep::ResolvePage => {
                    Self::resolve_page(ctx).await?;
                    continue;
                }
                DispatchStep::WaitForSlot => {
                    ctx.state_mut(|s| s.phase = "dispatching");
                    ctx.wait_condition(|s| {
                        s.in_flight.len() < s.run.max_in_flight as usize || !s.controls.is_empty()
                    })
                    .await?;
                    continue;
                }
                DispatchStep::Dispatch(free) => free,
            };
            Self::dispatch(ctx, free).await?;
            if ctx.continue_as_new_suggested() || ctx.history_length() > MAX_HISTORY_EVENTS {
                let next = ctx.state(Campaign::carry);
                ctx.continue_as_new(next, ContinueAsNewOptions::default())?;
            }
        }

        // Settle: every recipient dispatched; wait for the ones still preparing, then for the
        // sends in flight and the parked recipients (best send time, rate-limit slots).
        ctx.state_mut(|s| s.phase = if s.cancelled { "cancelled" } else { "settling" });
        loop {
            Self::apply_controls(ctx).await?;
            let (drained, cancelled) = ctx.state(|s| (s.in_flight.is_empty(), s.cancelled));
            if drained || cancelled {
                break;
            }
            ctx.wait_condition(|s| s.in_flight.is_empty() || !s.controls.is_empty())
                .await?;
        }
        let run_ref = ctx.state(|s| RunRef {
            tenant_id: s.tenant_id,
            campaign_id: s.campaign_id,
            run_id: s.run.run_id,
        });
        let mut wait = Duration::from_secs(1);
        loop {
            Self::apply_controls(ctx).await?;
            let outstanding = ctx
                .execute_local_activity(CampaignOutstanding, run_ref.clone(), db_activity())
                .await?;
            if outstanding == 0 {
                break;
            }
            // Polling the database, not signals: a parked recipient may send hours from now, and
            // a control signal cuts the wait short.
            temporalio_sdk::workflows::select! {
                woke = ctx.wait_condition(|s| !s.controls.is_empty()) => { woke?; },
                _ = ctx.timer(wait) => {},
            };
            // At most half a minute between looks: the run completes soon after its last send.
            wait = settle_backoff(wait);
            // Parked recipients can keep a run settling for a day: keep its history small (the
            // next run finds the segment exhausted and nothing in flight, and settles on).
            if ctx.continue_as_new_suggested() || ctx.history_length() > MAX_HISTORY_EVENTS {
                let next = ctx.state(Campaign::carry);
                ctx.continue_as_new(next, ContinueAsNewOptions::default())?;
            }
        }
        let finish = ctx.state(|s| FinishRunInput {
            tenant_id: s.tenant_id,
            campaign_id: s.campaign_id,
            run_id: s.run.run_id,
            cancelled: s.cancelled,
        });
        ctx.execute_local_activity(CampaignFinishRun, finish, db_activity())
            .await?;
        ctx.state_mut(|s| {
            s.phase = if s.cancelled {
                "cancelled"
            } else {
                "completed"
            }
        });
        Ok(ctx.state(|s| s.progress))
    }

    /// Pause, resume or cancel (sent by the API after it recorded the new campaign status).
    #[signal(name = names::SIGNAL_CAMPAIGN_CONTROL)]
    pub fn control(&mut self, _ctx: &mut SyncWorkflowContext<Self>, control: CampaignControl) {
        if self.cancelled {
            return;
        }
        match control {
            CampaignControl::Pause => self.paused = true,
            CampaignControl::Resume => self.paused = false,
            CampaignControl::Cancel => self.cancelled = true,
        }
        self.controls.push(control);
    }

    /// A recipient left the parent's hands.
    #[signal(name = names::SIGNAL_RECIPIENT_PROGRESS)]
    pub fn recipient_progress(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        progress: RecipientProgress,
    ) {
        let before = self.in_flight.len();
        self.in_flight.retain(|c| *c != progress.contact_id);
        if self.in_flight.len() == before {
            // A duplicate, or a parked recipient reporting its hand-over: already counted.
            return;
        }
        match progress.stage {
            RecipientStage::Skipped => self.progress.skipped += 1,
            RecipientStage::Parked => self.progress.parked += 1,
            RecipientStage::Handed => self.progress.handed += 1,
        }
    }

    #[query(name = names::QUERY_STATE)]
    pub fn state(&self, _ctx: &WorkflowContextView) -> CampaignProgress {
        CampaignProgress {
            run_id: self.run.run_id,
            run_no: self.run.run_no,
            phase: if self.phase.is_empty() {
                "resolving".into()
            } else {
                self.phase.into()
            },
            counters: self.progress,
            in_flight: self.in_flight.len(),
            max_in_flight: self.run.max_in_flight,
            segment_exhausted: self.exhausted,
        }
    }
}

impl Campaign {
    fn dispatch_view(&self) -> DispatchView {
        DispatchView {
            cancelled: self.cancelled,
            paused: self.paused,
            buffered: self.buffer.len(),
            exhausted: self.exhausted,
            in_flight: self.in_flight.len(),
            max_in_flight: self.run.max_in_flight as usize,
        }
    }

    fn restore(&mut self, input: &CampaignInput) {
        self.tenant_id = input.tenant_id;
        self.campaign_id = input.campaign_id;
        if let Some(c) = &input.carried {
            self.run = c.run.clone();
            self.cursor = c.cursor;
            self.exhausted = c.exhausted;
            self.buffer = c.buffer.clone();
            self.in_flight = c.in_flight.clone();
            self.paused = c.paused;
            self.cancelled = c.cancelled;
            self.progress = c.progress;
        }
    }

    fn carry(&self) -> CampaignInput {
        CampaignInput {
            tenant_id: self.tenant_id,
            campaign_id: self.campaign_id,
            carried: Some(CarriedCampaign {
                run: self.run.clone(),
                cursor: self.cursor,
                exhausted: self.exhausted,
                buffer: self.buffer.clone(),
                in_flight: self.in_flight.clone(),
                paused: self.paused,
                cancelled: self.cancelled,
                progress: self.progress,
            }),
        }
    }

    async fn resolve_page(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        ctx.state_mut(|s| s.phase = "resolving");
        let input = ctx.state(|s| ResolvePageInput {
            tenant_id: s.tenant_id,
            campaign_id: s.campaign_id,
            run_id: s.run.run_id,
            after: s.cursor,
            limit: s.run.page_size,
        });
        let page = ctx
            .execute_local_activity(CampaignResolvePage, input, db_activity())
            .await?;
        ctx.state_mut(|s| {
            s.exhausted = page.len() < s.run.page_size as usize;
            s.cursor = page.last().copied().or(s.cursor);
            s.progress.targeted += page.len() as u64;
            s.buffer = page;
        });
        Ok(())
    }

    /// Starts up to `free` children at once (one workflow task for the whole batch).
    async fn dispatch(ctx: &mut WorkflowContext<Self>, free: usize) -> WorkflowResult<()> {
        ctx.state_mut(|s| s.phase = "dispatching");
        let parent_workflow_id = ctx.workflow_id().to_owned();
        let (tenant_id, campaign_id, run_id, batch) = ctx.state_mut(|s| {
            let take = free.min(s.buffer.len());
            let batch: Vec<Uuid> = s.buffer.drain(..take).collect();
            // In flight before the start resolves: the child may report before we see it started.
            s.in_flight.extend(batch.iter().copied());
            s.progress.dispatched += batch.len() as u64;
            (s.tenant_id, s.campaign_id, s.run.run_id, batch)
        });
        let view: &WorkflowContext<Self> = ctx;
        let starts = batch.iter().map(|contact_id| {
            let input = CampaignRecipientInput {
                tenant_id,
                campaign_id,
                run_id,
                contact_id: *contact_id,
                parent_workflow_id: parent_workflow_id.clone(),
            };
            let options = ChildWorkflowOptions::builder()
                .workflow_id(ids::campaign_recipient_workflow_id(
                    tenant_id,
                    run_id,
                    *contact_id,
                ))
                // Explicit (the server would inherit it; Temporal's time-skipping test server does not).
                .task_queue(view.task_queue().to_owned())
                // Recipients outlive the run's continue-as-new and wait out their attribution window.
                .parent_close_policy(ParentClosePolicy::Abandon)
                .build();
            view.start_child_workflow(CampaignRecipient::run, input, options)
        });
        let results = temporalio_sdk::workflows::join_all(starts).await;
        let mut already = Vec::new();
        for (contact_id, result) in batch.iter().zip(results) {
            match result {
                Ok(_) => {}
                Err(ChildWorkflowStartError::StartFailed {
                    cause: StartChildWorkflowExecutionFailedCause::WorkflowAlreadyExists,
                    ..
                }) => {
                    // Started by an earlier attempt of this very run: it reports (or reported) on its own.
                    already.push(*contact_id);
                }
                Err(err) => return Err(err.into()),
            }
        }
        if !already.is_empty() {
            ctx.state_mut(|s| s.in_flight.retain(|c| !already.contains(c)));
        }
        Ok(())
    }

    async fn apply_controls(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        loop {
            let next = ctx.state_mut(|s| {
                if s.controls.is_empty() {
                    None
                } else {
                    Some(s.controls.remove(0))
                }
            });
            let Some(control) = next else {
                return Ok(());
            };
            if control == CampaignControl::Pause {
                // The API recorded the pause; recipients hold when they come to send.
                continue;
            }
            let input = ctx.state(|s| CampaignControlInput {
                tenant_id: s.tenant_id,
                campaign_id: s.campaign_id,
                run_id: s.run.run_id,
                control,
            });
            let options = temporalio_sdk::ActivityOptions::with_start_to_close_timeout(
                Duration::from_secs(120),
            )
            .retry_policy(persistent_retry())
            .build();
            ctx.execute_activity(CampaignApplyControl, input, options)
                .await?;
            if control == CampaignControl::Cancel {
                // Children still preparing will find the campaign cancelled; nothing to wait for.
                ctx.state_mut(|s| {
                    s.buffer.clear();
                    s.in_flight.clear();
                });
            }
        }
    }
}

#[workflow]
#[derive(Default)]
pub struct CampaignRecipient {
    replied: Option<Uuid>,
    woken: bool,
}

#[workflow_methods]
impl CampaignRecipient {
    #[run(name = names::CAMPAIGN_RECIPIENT_WORKFLOW)]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: CampaignRecipientInput,
    ) -> WorkflowResult<RecipientOutcome> {
        let at = |ctx: &WorkflowContext<Self>| RecipientAt {
            tenant_id: input.tenant_id,
            run_id: input.run_id,
            contact_id: input.contact_id,
            now_ms: now_ms(ctx.workflow_time()).unwrap_or_default(),
        };
        let prepared = match ctx
            .execute_local_activity(CampaignPrepareRecipient, at(ctx), campaign_agent_activity())
            .await
        {
            Ok(prepared) => prepared,
            Err(err) => {
                let reason = if failed_with(&err, names::FAILURE_AGENT_REJECTED) {
                    "agent_rejected"
                } else {
                    "agent_unavailable"
                };
                let skip = SkipRecipientInput {
                    tenant_id: input.tenant_id,
                    run_id: input.run_id,
                    contact_id: input.contact_id,
                    reason: reason.into(),
                };
                ctx.execute_local_activity(CampaignSkipRecipient, skip, db_activity())
                    .await?;
                Self::report(ctx, &input, RecipientStage::Skipped).await;
                return Ok(RecipientOutcome {
                    outcome: "skipped".into(),
                    message_id: None,
                });
            }
        };
        if prepared.skip_reason.is_some() {
            Self::report(ctx, &input, RecipientStage::Skipped).await;
            return Ok(RecipientOutcome {
                outcome: "skipped".into(),
                message_id: None,
            });
        }

        let mut parked = false;
        let mut wait_until = prepared.send_at_ms;
        let message_id = loop {
            let now = now_ms(ctx.workflow_time()).unwrap_or_default();
            if let Some((sleep, long)) = recipient_wait(now, wait_until, PARK_THRESHOLD_MS) {
                if long && !parked {
                    parked = true;
                    Self::report(ctx, &input, RecipientStage::Parked).await;
                }
                ctx.timer(sleep).await;
            }
            ctx.state_mut(|s| s.woken = false);
            match ctx
                .execute_local_activity(CampaignClaimSend, at(ctx), db_activity())
                .await?
            {
                SendClaim::Go {
                    message_id,
                    channel_id,
                } => break (message_id, channel_id),
                SendClaim::WaitUntil { at_ms } => wait_until = at_ms,
                SendClaim::Hold => {
                    ctx.wait_condition(|s| s.woken).await?;
                }
                SendClaim::Cancelled => {
                    if !parked {
                        Self::report(ctx, &input, RecipientStage::Skipped).await;
                    }
                    return Ok(RecipientOutcome {
                        outcome: "cancelled".into(),
                        message_id: None,
                    });
                }
            }
        };
        let (message_id, channel_id) = message_id;
        let options = ChildWorkflowOptions::builder()
            .workflow_id(ids::outbound_workflow_id(input.tenant_id, message_id))
            .task_queue(ctx.task_queue().to_owned())
            // The message follows its receipts longer than this recipient needs it.
            .parent_close_policy(ParentClosePolicy::Abandon)
            .build();
        let outbound = OutboundInput {
            tenant_id: input.tenant_id,
            channel_id,
            message_id,
            compose: false,
            send_local: false,
            trace: None,
        };
        // The report goes out with the start, in the same workflow task: the message is written,
        // so the campaign may move on.
        let report = async {
            if !parked {
                Self::report(ctx, &input, RecipientStage::Handed).await;
            }
        };
        if ctx.patched(patches::CAMPAIGN_SEND_INLINE) {
            // Sent from this workflow task; an OutboundMessage only if that attempt fails.
            let holder = ids::campaign_recipient_workflow_id(
                input.tenant_id,
                input.run_id,
                input.contact_id,
            );
            let (_, sent) =
                temporalio_sdk::workflows::join!(report, send_or_hand_over(ctx, outbound, holder));
            sent?;
        } else if ctx.patched(patches::CAMPAIGN_OUTBOUND_FROM_ACTIVITY) {
            // Not a child: its started and completed events woke this workflow twice for nothing.
            let (_, started) = temporalio_sdk::workflows::join!(
                report,
                ctx.execute_local_activity(StartOutbound, outbound, db_activity())
            );
            started?;
        } else {
            let (_, started) = temporalio_sdk::workflows::join!(
                report,
                ctx.start_child_workflow(OutboundMessage::run, outbound, options)
            );
            match started {
                Ok(_) => {}
                Err(ChildWorkflowStartError::StartFailed {
                    cause: StartChildWorkflowExecutionFailedCause::WorkflowAlreadyExists,
                    ..
                }) => {}
                Err(err) => return Err(err.into()),
            }
        }

        // Attribution: the contact's next message within the window counts as a reply.
        let window = Duration::from_secs(prepared.attribution_window_secs);
        let replied = temporalio_sdk::workflows::select! {
            woke = ctx.wait_condition(|s| s.replied.is_some()) => { woke?; true },
            _ = ctx.timer(window) => false,
        };
        if replied && let Some(reply_message_id) = ctx.state(|s| s.replied) {
            let record = RecordReplyInput {
                tenant_id: input.tenant_id,
                run_id: input.run_id,
                contact_id: input.contact_id,
                reply_message_id,
            };
            ctx.execute_local_activity(CampaignRecordReply, record, db_activity())
                .await?;
            return Ok(RecipientOutcome {
                outcome: "replied".into(),
                message_id: Some(message_id),
            });
        }
        ctx.execute_local_activity(CampaignCloseRecipient, at(ctx), db_activity())
            .await?;
        Ok(RecipientOutcome {
            outcome: "no_reply".into(),
            message_id: Some(message_id),
        })
    }

    /// The contact answered (from their Conversation workflow).
    #[signal(name = names::SIGNAL_CAMPAIGN_REPLIED)]
    pub fn replied(&mut self, _ctx: &mut SyncWorkflowContext<Self>, reply: CampaignReplied) {
        if self.replied.is_none() {
            self.replied = Some(reply.reply_message_id);
        }
    }

    /// The campaign was resumed or cancelled: claim again.
    #[signal(name = names::SIGNAL_CAMPAIGN_WAKE)]
    pub fn wake(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _unit: ()) {
        self.woken = true;
    }
}

impl CampaignRecipient {
    /// Tells the campaign run this recipient is out of its hands. Best effort: a run that already
    /// finished (cancelled) no longer listens, and the database has the truth either way. The
    /// run's handler counts a contact once, so a local activity repeated after a crash is harmless.
    async fn report(
        ctx: &WorkflowContext<Self>,
        input: &CampaignRecipientInput,
        stage: RecipientStage,
    ) {
        let progress = RecipientProgress {
            contact_id: input.contact_id,
            stage,
        };
        if ctx.patched(patches::CAMPAIGN_PROGRESS_FROM_ACTIVITY) {
            let report = ReportProgressInput {
                tenant_id: input.tenant_id,
                campaign_workflow_id: input.parent_workflow_id.clone(),
                progress,
            };
            let _ = ctx
                .execute_local_activity(CampaignReportProgress, report, db_activity())
                .await;
            return;
        }
        let _ = ctx
            .external_workflow(input.parent_workflow_id.clone(), None)
            .signal(
                Campaign::recipient_progress,
                progress,
                SignalWorkflowOptions::default(),
            )
            .await;
    }
}
