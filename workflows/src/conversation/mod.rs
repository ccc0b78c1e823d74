//! The Conversation workflow: one long-lived execution per chat.
//!
//! It owns the ordering and the decisions of a chat: inbound messages arrive as `inbound` signals
//! (inbox ids only), are persisted in provider-timestamp order by an idempotent activity, are
//! coalesced for a debounce window, and then get at most one reply: from an AI agent when the
//! channel has one (low confidence or an unreachable agent hands the chat to a human), otherwise
//! from the channel's auto-reply rules, and none while a human holds the chat. After an inactivity timeout the session
//! closes and the run ends; the next message starts a new run (signal-with-start) and a new session.
//! Long sessions continue-as-new, carrying their state.
//!
//! Operators move a chat through its lifecycle (pending, snoozed until a time, resolved) and reply
//! through it too, as updates: see [`lifecycle`].

use std::time::{Duration, UNIX_EPOCH};

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ChildWorkflowOptions, ContinueAsNewOptions, SyncWorkflowContext, WorkflowContext,
    WorkflowContextView, WorkflowResult,
};
use temporalio_workflow::{ParentClosePolicy, SignalWorkflowOptions};
use uuid::Uuid;

use crate::contacts::ContactMerge;
use crate::contract::{activities::*, names, *};
use crate::decisions::{ReplyPath, agent_handoff, debounce_wait, reply_path};
use crate::outbound::{OutboundMessage, send_or_hand_over};
use crate::retry::{
    agent_activity, db_activity, identity_activity, media_activity, presence_activity,
};

mod lifecycle;

/// How many inbox ids a run remembers to drop duplicate signals before they reach an activity.
/// Older duplicates are still caught by the database's unique provider id.
const SEEN_INBOX_IDS: usize = 512;
/// Continue-as-new well before Temporal's history limits, even if the server does not suggest it.
const MAX_HISTORY_EVENTS: u32 = 4_000;

#[workflow]
#[derive(Default)]
pub struct Conversation {
    tenant_id: Uuid,
    channel_id: Uuid,
    chat_key: String,
    pending: Vec<InboundSignal>,
    seen_inbox_ids: Vec<Uuid>,
    /// The trace of the latest customer message: the reply's work runs under it.
    trace: Option<TraceContext>,
    session_id: Option<Uuid>,
    contact_id: Option<Uuid>,
    assignment: Assignment,
    assignee: Option<String>,
    assignment_dirty: bool,
    /// Messages persisted since the last reply decision.
    awaiting_reply: Vec<Uuid>,
    session_opened_since_decision: bool,
    timing: ConversationTiming,
    batches: u64,
    messages_persisted: u64,
    replies_sent: u64,
    last_activity_ms: Option<i64>,
    last_decision: Option<String>,
    /// Set when the channel answers with an AI agent (refreshed from settings on every batch).
    ai: Option<AiReplyConfig>,
    last_agent: Option<AgentVerdict>,
    /// This run already asked WAHA for the sender's other address.
    identity_looked_up: bool,
    lifecycle: Lifecycle,
    snoozed_until_ms: Option<i64>,
    /// The lifecycle changed and is not recorded yet: why (`operator`, `customer_wrote`, …).
    lifecycle_dirty: Option<String>,
    /// Who moved the lifecycle last (`user:<id>`, `api_key:<id>`).
    lifecycle_by: Option<String>,
    /// An operator resolved the chat: the session closes on the next turn of the loop.
    resolve_requested: bool,
    /// Operator replies accepted and not yet sent, and the ones this run already took (a
    /// retried request is sent once).
    operator_replies: Vec<Uuid>,
    seen_operator_replies: Vec<Uuid>,
    /// An operator reopened the chat (a resolved session, or one pending or snoozed).
    reopen: Option<ReopenRequest>,
}

#[workflow_methods]
impl Conversation {
    #[run(name = names::CONVERSATION_WORKFLOW)]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: ConversationInput,
    ) -> WorkflowResult<ConversationOutcome> {
        ctx.state_mut(|s| s.restore(&input));

        loop {
            if !ctx.state(Self::has_work) {
                if ctx.state(|s| s.session_id.is_none()) {
                    // Every delivery so far was a duplicate of a stored message: nothing to keep open.
                    return Ok(ctx.state(|s| s.outcome("no_new_messages")));
                }
                // A snoozed chat wakes at its time instead of closing for inactivity.
                let snooze = ctx.state(|s| s.snooze_left(now_ms(ctx.workflow_time())));
                let idle = snooze.unwrap_or_else(|| {
                    Duration::from_secs(ctx.state(|s| s.timing.inactivity_timeout_secs))
                });
                let timed_out = temporalio_sdk::workflows::select! {
                    woke = ctx.wait_condition(Self::has_work) => { woke?; false },
                    _ = ctx.timer(idle) => true,
                };
                if timed_out && snooze.is_some() {
                    ctx.state_mut(|s| s.wake_from_snooze(now_ms(ctx.workflow_time())));
                    continue;
                }
                if timed_out {
                    Self::close_session(ctx, "inactivity", None).await?;
                    let idle = |s: &Self| {
                        s.pending.is_empty() && s.operator_replies.is_empty() && s.reopen.is_none()
                    };
                    if ctx.state(idle) {
                        return Ok(ctx.state(|s| s.outcome("inactivity")));
                    }
                    // A message (or an operator's reply) raced the close: it opens a new session in
                    // this same run.
                    continue;
                }
            }

            if ctx.state(|s| s.assignment_dirty) {
                Self::persist_assignment(ctx).await?;
            }
            if ctx.state_mut(|s| std::mem::take(&mut s.resolve_requested)) {
                let by = ctx.state(|s| s.lifecycle_by.clone());
                Self::close_session(ctx, "resolved", by).await?;
                if ctx.state(|s| s.pending.is_empty() && s.operator_replies.is_empty()) {
                    return Ok(ctx.state(|s| s.outcome("resolved")));
                }
                // A customer message or a reply raced the resolve: it opens a new session.
            }
            Self::persist_pending(ctx).await?;
            Self::reopen_session(ctx).await?;
            Self::persist_lifecycle(ctx).await?;
            Self::send_operator_replies(ctx).await?;
            if ctx.state(|s| !s.awaiting_reply.is_empty()) {
                Self::debounce(ctx).await?;
                Self::decide_reply(ctx).await?;
            }

            if ctx.continue_as_new_suggested() || ctx.history_length() > MAX_HISTORY_EVENTS {
                let next = ctx.state(Conversation::carry);
                ctx.continue_as_new(next, ContinueAsNewOptions::default())?;
            }
        }
    }

    /// A webhook delivered an inbound message (by inbox id). Duplicates are dropped here when
    /// recent and by the database otherwise.
    #[signal(name = names::SIGNAL_INBOUND)]
    pub fn inbound(&mut self, _ctx: &mut SyncWorkflowContext<Self>, signal: InboundSignal) {
        if self.seen_inbox_ids.contains(&signal.inbox_id) {
            return;
        }
        if self.seen_inbox_ids.len() >= SEEN_INBOX_IDS {
            self.seen_inbox_ids.remove(0);
        }
        self.seen_inbox_ids.push(signal.inbox_id);
        if signal.trace.is_some() {
            self.trace = signal.trace;
        }
        self.pending.push(signal);
    }

    /// A human takes the chat over: no automatic replies until hand-back.
    #[update(name = names::UPDATE_TAKEOVER)]
    pub fn takeover(
        &mut self,
        ctx: &mut SyncWorkflowContext<Self>,
        request: TakeoverRequest,
    ) -> ConversationState {
        self.assignment = Assignment::Human;
        self.assignee = request.assignee;
        self.assignment_dirty = true;
        self.last_activity_ms = now_ms(ctx.workflow_time());
        self.snapshot()
    }

    /// The bot is back in charge of the chat.
    #[update(name = names::UPDATE_HANDBACK)]
    pub fn handback(
        &mut self,
        ctx: &mut SyncWorkflowContext<Self>,
        _unit: (),
    ) -> ConversationState {
        self.assignment = Assignment::Bot;
        self.assignee = None;
        self.assignment_dirty = true;
        self.last_activity_ms = now_ms(ctx.workflow_time());
        self.snapshot()
    }

    /// An operator moves the chat to open, pending, snoozed (until a time) or resolved.
    #[update(name = names::UPDATE_SET_LIFECYCLE)]
    pub fn set_lifecycle(
        &mut self,
        ctx: &mut SyncWorkflowContext<Self>,
        request: LifecycleRequest,
    ) -> ConversationState {
        self.request_lifecycle(request, now_ms(ctx.workflow_time()));
        self.snapshot()
    }

    /// An operator's reply (recorded by the API) goes out through this chat, after what it has
    /// already received (update-with-start: a chat without a run gets one).
    #[update(name = names::UPDATE_OPERATOR_REPLY)]
    pub fn operator_reply(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        reply: OperatorReply,
    ) -> ConversationState {
        self.queue_operator_reply(reply);
        self.snapshot()
    }

    /// An operator reopens the chat: a resolved session comes back (update-with-start: the
    /// chat's run starts for it), a pending or snoozed one is open again.
    #[update(name = names::UPDATE_REOPEN)]
    pub fn reopen(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        request: ReopenRequest,
    ) -> ConversationState {
        self.reopen = Some(request);
        self.snapshot()
    }

    #[query(name = names::QUERY_STATE)]
    pub fn state(&self, _ctx: &WorkflowContextView) -> ConversationState {
        self.snapshot()
    }
}

impl Conversation {
    fn restore(&mut self, input: &ConversationInput) {
        self.tenant_id = input.tenant_id;
        self.channel_id = input.channel_id;
        self.chat_key = input.chat_key.clone();
        if let Some(c) = &input.carried {
            self.pending = c.pending.clone();
            self.seen_inbox_ids = c.seen_inbox_ids.clone();
            self.session_id = c.session_id;
            self.contact_id = c.contact_id;
            self.assignment = c.assignment;
            self.assignee = c.assignee.clone();
            self.timing = c.timing;
            self.batches = c.batches;
            self.messages_persisted = c.messages_persisted;
            self.replies_sent = c.replies_sent;
            self.last_activity_ms = c.last_activity_ms;
            self.last_decision = c.last_decision.clone();
            self.last_agent = c.last_agent.clone();
            self.lifecycle = c.lifecycle;
            self.snoozed_until_ms = c.snoozed_until_ms;
            self.operator_replies = c.operator_replies.clone();
            self.seen_operator_replies = c.seen_operator_replies.clone();
        }
    }

    fn carry(&self) -> ConversationInput {
        ConversationInput {
            tenant_id: self.tenant_id,
            channel_id: self.channel_id,
            chat_key: self.chat_key.clone(),
            carried: Some(CarriedConversation {
                pending: self.pending.clone(),
                seen_inbox_ids: self.seen_inbox_ids.clone(),
                session_id: self.session_id,
                contact_id: self.contact_id,
                assignment: self.assignment,
                assignee: self.assignee.clone(),
                timing: self.timing,
                batches: self.batches,
                messages_persisted: self.messages_persisted,
                replies_sent: self.replies_sent,
                last_activity_ms: self.last_activity_ms,
                last_decision: self.last_decision.clone(),
                last_agent: self.last_agent.clone(),
                lifecycle: self.lifecycle,
                snoozed_until_ms: self.snoozed_until_ms,
                operator_replies: self.operator_replies.clone(),
                seen_operator_replies: self.seen_operator_replies.clone(),
            }),
        }
    }

    fn snapshot(&self) -> ConversationState {
        ConversationState {
            session_id: self.session_id,
            contact_id: self.contact_id,
            assignment: self.assignment,
            assignee: self.assignee.clone(),
            pending_messages: self.pending.len(),
            awaiting_reply: self.awaiting_reply.len(),
            messages_persisted: self.messages_persisted,
            replies_sent: self.replies_sent,
            last_activity_ms: self.last_activity_ms,
            last_decision: self.last_decision.clone(),
            timing: self.timing,
            last_agent: self.last_agent.clone(),
            lifecycle: if self.resolve_requested {
                Lifecycle::Resolved
            } else {
                self.lifecycle
            },
            snoozed_until_ms: self.snoozed_until_ms,
        }
    }

    fn outcome(&self, reason: &str) -> ConversationOutcome {
        ConversationOutcome {
            session_id: self.session_id,
            close_reason: reason.to_owned(),
            messages_persisted: self.messages_persisted,
            replies_sent: self.replies_sent,
        }
    }

    fn workflow_id(&self) -> String {
        ids::conversation_workflow_id(self.tenant_id, self.channel_id, &self.chat_key)
    }

    /// Stores every pending message, oldest provider timestamp first.
    async fn persist_pending(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        let mut batch = ctx.state_mut(|s| std::mem::take(&mut s.pending));
        if batch.is_empty() {
            return Ok(());
        }
        batch.sort_by_key(|m| (m.provider_ts_ms, m.inbox_id));
        let batch_no = ctx.state_mut(|s| {
            s.batches += 1;
            s.batches
        });
        let input = ctx.state(|s| PersistInboundInput {
            tenant_id: s.tenant_id,
            channel_id: s.channel_id,
            workflow_id: s.workflow_id(),
            batch_key: format!("{}:{batch_no}", ctx.run_id()),
            inbox_ids: batch.iter().map(|m| m.inbox_id).collect(),
            session_id: s.session_id,
            assignment: s.assignment,
            trace: batch.iter().rev().find_map(|m| m.trace),
        });
        let out = ctx
            .execute_local_activity(PersistInbound, input, db_activity())
            .await?;

        let contact_changed = ctx.state(|s| s.contact_id != out.contact_id);
        if contact_changed && let Some(contact_id) = out.contact_id {
            ctx.upsert_search_attributes([CONTACT_ID_ATTRIBUTE.value_set(contact_id.to_string())]);
        }
        let now = now_ms(ctx.workflow_time());
        ctx.state_mut(|s| {
            s.timing = out.timing;
            s.ai = out.ai.clone();
            if out.contact_id.is_some() {
                s.contact_id = out.contact_id;
            }
            if out.session_id.is_some() {
                s.session_id = out.session_id;
            }
            s.session_opened_since_decision |= out.session_opened;
            s.messages_persisted += out.new_message_ids.len() as u64;
            if !out.new_message_ids.is_empty() {
                s.last_activity_ms = now;
                s.customer_wrote();
            }
            s.awaiting_reply.extend(out.new_message_ids);
        });
        if let Some(hint) = out.identity_hint {
            Self::link_identity(ctx, hint).await?;
        }
        // Before the reply is decided, so the agent and the operator see the files (and a voice
        // note's words). A file that cannot be had is recorded as failed by the activity.
        if !out.media_message_ids.is_empty() && ctx.patched(patches::INBOUND_MEDIA) {
            for message_id in out.media_message_ids {
                let input = ctx.state(|s| MediaFetchInput {
                    tenant_id: s.tenant_id,
                    channel_id: s.channel_id,
                    message_id,
                });
                let _ = ctx
                    .execute_activity(MediaFetchInbound, input, media_activity())
                    .await;
            }
        }
        // The contact answered a campaign message: its recipient workflow records the reply.
        for target in out.campaign_replies {
            let replied = CampaignReplied {
                reply_message_id: target.reply_message_id,
            };
            // Best effort: a recipient whose window just closed no longer listens.
            let _ = ctx
                .external_workflow(target.workflow_id, None)
                .signal(
                    crate::campaigns::CampaignRecipient::replied,
                    replied,
                    SignalWorkflowOptions::default(),
                )
                .await;
        }
        Ok(())
    }

    /// One person, one contact: records the sender's other WhatsApp address (phone number ↔ hidden
    /// id) on its contact, or folds the contact that already holds it in with a ContactMerge. Best
    /// effort: a WAHA that cannot answer now is asked again by a later run.
    async fn link_identity(
        ctx: &mut WorkflowContext<Self>,
        hint: IdentityHint,
    ) -> WorkflowResult<()> {
        // A lookup with nothing new to go on is asked once per run, not once per batch.
        let repeat_lookup =
            hint.alternate.is_none() && !hint.new_identity && ctx.state(|s| s.identity_looked_up);
        if repeat_lookup || !ctx.patched(patches::IDENTITY_LINKS) {
            return Ok(());
        }
        let input = ctx.state_mut(|s| {
            s.identity_looked_up = true;
            LinkIdentityInput {
                tenant_id: s.tenant_id,
                channel_id: s.channel_id,
                hint,
            }
        });
        let Ok(linked) = ctx
            .execute_activity(LinkIdentity, input, identity_activity())
            .await
        else {
            return Ok(());
        };
        if let Some(merge) = linked.merge {
            let options = ChildWorkflowOptions::builder()
                .workflow_id(ids::contact_merge_workflow_id(
                    merge.tenant_id,
                    merge.merge_id,
                ))
                // The merge outlives this run.
                .parent_close_policy(ParentClosePolicy::Abandon)
                .build();
            // A start refused because the merge already runs (started by an earlier attempt) is fine.
            let _ = ctx
                .start_child_workflow(ContactMerge::run, merge, options)
                .await;
        }
        Ok(())
    }

    /// Waits until the customer has been quiet for the debounce window (bounded by
    /// `max_debounce_ms`), persisting whatever arrives meanwhile.
    async fn debounce(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        let timing = ctx.state(|s| s.timing);
        if timing.debounce_ms == 0 {
            return Ok(());
        }
        let started = now_ms(ctx.workflow_time()).unwrap_or_default();
        loop {
            let elapsed = (now_ms(ctx.workflow_time()).unwrap_or_default() - started).max(0) as u64;
            let Some(quiet) = debounce_wait(&timing, elapsed) else {
                return Ok(());
            };
            let more = temporalio_sdk::workflows::select! {
                woke = ctx.wait_condition(|s| !s.pending.is_empty()) => { woke?; true },
                _ = ctx.timer(quiet) => false,
            };
            if !more {
                return Ok(());
            }
            Self::persist_pending(ctx).await?;
        }
    }

    /// At most one reply per burst: nothing while a human holds the chat, otherwise whatever the
    /// channel's auto-reply rules say.
    async fn decide_reply(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        let (path, opened, burst) = ctx.state_mut(|s| {
            let burst = std::mem::take(&mut s.awaiting_reply);
            let opened = std::mem::take(&mut s.session_opened_since_decision);
            (
                reply_path(s.session_id, s.assignment, s.ai.as_ref()),
                opened,
                burst,
            )
        });
        let session_id = match path {
            ReplyPath::NoSession => return Ok(()),
            ReplyPath::HeldByHuman => {
                ctx.state_mut(|s| s.last_decision = Some("assigned_to_human".into()));
                return Ok(());
            }
            ReplyPath::Agent { session_id, ai } => {
                return Self::agent_reply(ctx, session_id, burst, ai).await;
            }
            ReplyPath::AutoReply { session_id } => session_id,
        };
        let reply_message_id = Uuid::parse_str(&ctx.uuid4()).unwrap_or_default();
        let input = ctx.state(|s| PlanAutoReplyInput {
            tenant_id: s.tenant_id,
            channel_id: s.channel_id,
            session_id,
            reply_message_id,
            session_opened: opened,
            workflow_id: s.workflow_id(),
        });
        let plan = ctx
            .execute_local_activity(PlanAutoReply, input, db_activity())
            .await?;
        let Some(reply) = plan.reply else {
            ctx.state_mut(|s| s.last_decision = Some(plan.reason));
            return Ok(());
        };
        Self::send_reply(ctx, reply.message_id).await?;
        ctx.state_mut(|s| s.last_decision = Some(reply.origin));
        Ok(())
    }

    /// Sends a (persisted, pending) reply: see [`Self::send_inline`]. Older runs start its
    /// OutboundMessage workflow from a local activity (a repeated start, after a retried workflow
    /// task, finds the message's workflow id taken and starts nothing), and older still as a child.
    async fn send_reply(ctx: &mut WorkflowContext<Self>, message_id: Uuid) -> WorkflowResult<()> {
        let (tenant_id, channel_id) = ctx.state(|s| (s.tenant_id, s.channel_id));
        let input = OutboundInput {
            tenant_id,
            channel_id,
            message_id,
            compose: false,
            send_local: true,
            trace: ctx.state(|s| s.trace),
        };
        if ctx.patched(patches::REPLY_SENT_INLINE) {
            Self::send_inline(ctx, input).await?;
        } else if ctx.patched(patches::OUTBOUND_FROM_ACTIVITY) {
            ctx.execute_local_activity(StartOutbound, input, db_activity())
                .await?;
        } else {
            let options = ChildWorkflowOptions::builder()
                .workflow_id(ids::outbound_workflow_id(tenant_id, message_id))
                // The message outlives the conversation run (continue-as-new, session close).
                .parent_close_policy(ParentClosePolicy::Abandon)
                .build();
            ctx.start_child_workflow(OutboundMessage::run, input, options)
                .await?;
        }
        ctx.state_mut(|s| s.replies_sent += 1);
        Ok(())
    }

    /// The reply goes out from a local activity of this workflow task (see
    /// [`send_or_hand_over`]): a workflow start of its own per reply was half of what a greeted
    /// message cost Temporal.
    async fn send_inline(
        ctx: &mut WorkflowContext<Self>,
        input: OutboundInput,
    ) -> WorkflowResult<()> {
        let holder = ctx.state(Self::workflow_id);
        send_or_hand_over(ctx, input, holder).await
    }

    /// The AI path: the agent answers the burst; low confidence, an agent that stays unreachable
    /// past its retry budget, or an agent asking for it hands the chat to a human. The inbound
    /// messages are stored either way.
    async fn agent_reply(
        ctx: &mut WorkflowContext<Self>,
        session_id: Uuid,
        burst: Vec<Uuid>,
        ai: AiReplyConfig,
    ) -> WorkflowResult<()> {
        let tenant_id = ctx.state(|s| s.tenant_id);
        let run_id = Uuid::parse_str(&ctx.uuid4()).unwrap_or_default();
        let input = ctx.state(|s| AgentExecuteInput {
            tenant_id,
            channel_id: s.channel_id,
            session_id,
            run_id,
            message_ids: burst.clone(),
            agent_type: ai.agent_type.clone(),
            confidence_threshold: ai.confidence_threshold,
            workflow_id: s.workflow_id(),
            trace: s.trace,
        });
        // Seen ticks and "typing…" go out while the agent thinks, not before it.
        let view: &WorkflowContext<Self> = ctx;
        let presence = async {
            if ai.presence {
                let start = AgentPresenceInput {
                    tenant_id,
                    session_id,
                    seen_message_ids: burst,
                    typing: true,
                };
                // Best effort: a failed "typing…" must not hold the answer back.
                let _ = view
                    .execute_activity(AgentPresence, start, presence_activity())
                    .await;
            }
        };
        let (_, run) = temporalio_sdk::workflows::join!(
            presence,
            view.execute_activity(AgentExecute, input, agent_activity())
        );
        let Ok(run) = run else {
            if ai.presence {
                let stop = AgentPresenceInput {
                    tenant_id,
                    session_id,
                    seen_message_ids: vec![],
                    typing: false,
                };
                let _ = ctx
                    .execute_activity(AgentPresence, stop, presence_activity())
                    .await;
            }
            return Self::hand_to_human(ctx, session_id, "agent_unavailable").await;
        };
        ctx.state_mut(|s| {
            s.last_agent = Some(AgentVerdict {
                agent_type: run.agent_type.clone(),
                intent: run.intent.clone(),
                confidence: run.confidence,
            });
        });
        if run.reply_planned {
            Self::send_reply(ctx, run.run_id).await?;
            ctx.state_mut(|s| s.last_decision = Some("agent".into()));
        } else if ai.presence {
            let stop = AgentPresenceInput {
                tenant_id,
                session_id,
                seen_message_ids: vec![],
                typing: false,
            };
            let _ = ctx
                .execute_activity(AgentPresence, stop, presence_activity())
                .await;
        }
        let mut asked_for_human = false;
        if !run.action_types.is_empty() {
            let applied = ctx
                .execute_local_activity(
                    AgentApplyActions,
                    ApplyActionsInput {
                        tenant_id,
                        run_id: run.run_id,
                    },
                    db_activity(),
                )
                .await?;
            asked_for_human = applied.handoff;
        }
        match agent_handoff(run.reply_planned, asked_for_human) {
            Some(reason) => Self::hand_to_human(ctx, session_id, reason).await,
            None => Ok(()),
        }
    }

    async fn hand_to_human(
        ctx: &mut WorkflowContext<Self>,
        session_id: Uuid,
        reason: &str,
    ) -> WorkflowResult<()> {
        let tenant_id = ctx.state_mut(|s| {
            s.assignment = Assignment::Human;
            s.assignee = None;
            s.last_decision = Some(format!("handoff:{reason}"));
            s.tenant_id
        });
        let input = SetAssignmentInput {
            tenant_id,
            session_id,
            assignment: Assignment::Human,
            assignee: None,
            reason: Some(reason.to_owned()),
        };
        ctx.execute_local_activity(SetAssignment, input, db_activity())
            .await?;
        Ok(())
    }

    async fn persist_assignment(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        let input = ctx.state_mut(|s| {
            s.assignment_dirty = false;
            s.session_id.map(|session_id| SetAssignmentInput {
                tenant_id: s.tenant_id,
                session_id,
                assignment: s.assignment,
                assignee: s.assignee.clone(),
                reason: None,
            })
        });
        if let Some(input) = input {
            ctx.execute_local_activity(SetAssignment, input, db_activity())
                .await?;
        }
        Ok(())
    }

    async fn close_session(
        ctx: &mut WorkflowContext<Self>,
        reason: &str,
        by: Option<String>,
    ) -> WorkflowResult<()> {
        let input = ctx.state(|s| {
            s.session_id.map(|session_id| CloseSessionInput {
                tenant_id: s.tenant_id,
                session_id,
                reason: reason.to_owned(),
                by,
            })
        });
        if let Some(input) = input {
            ctx.execute_local_activity(CloseSession, input, db_activity())
                .await?;
        }
        ctx.state_mut(|s| {
            s.session_id = None;
            // A new session starts with the bot, whoever held the last one, and open.
            s.assignment = Assignment::Bot;
            s.assignee = None;
            s.lifecycle = Lifecycle::Open;
            s.snoozed_until_ms = None;
            s.lifecycle_dirty = None;
        });
        Ok(())
    }
}

/// Workflow time in milliseconds since the epoch (deterministic: it comes from history).
pub(crate) fn now_ms(time: Option<std::time::SystemTime>) -> Option<i64> {
    time.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
}
