//! The operator's side of a Conversation: open, pending, snoozed until a time (a durable timer:
//! the chat reopens by itself then, or earlier when the customer writes), resolved (the session
//! closes); and operator replies, sent in order with everything else the chat does. A reply to a
//! chat whose session has closed reopens it (or opens one for a new chat), and either way restarts
//! the inactivity clock.
//!
//! Every step here runs only after an operator asked for it, so recorded histories from before it
//! existed never reach it; the `patched` marker records that these paths exist in a history.

use std::time::Duration;

use temporalio_sdk::{ChildWorkflowOptions, WorkflowContext, WorkflowResult};
use temporalio_workflow::ParentClosePolicy;
use uuid::Uuid;

use super::{Conversation, now_ms};
use crate::contract::{activities::*, *};
use crate::outbound::OutboundMessage;
use crate::retry::db_activity;

/// How many operator replies a run remembers, to send a retried request once.
const SEEN_OPERATOR_REPLIES: usize = 256;

impl Conversation {
    /// Something for the loop to do before it may wait again.
    pub(super) fn has_work(&self) -> bool {
        !self.pending.is_empty()
            || self.assignment_dirty
            || self.lifecycle_dirty.is_some()
            || self.resolve_requested
            || !self.operator_replies.is_empty()
            || self.reopen.is_some()
    }

    /// How long until a snoozed chat wakes up (none when it is not snoozed).
    pub(super) fn snooze_left(&self, now: Option<i64>) -> Option<Duration> {
        if self.lifecycle != Lifecycle::Snoozed {
            return None;
        }
        let until = self.snoozed_until_ms?;
        let left = (until - now.unwrap_or(until)).max(1) as u64;
        Some(Duration::from_millis(left))
    }

    pub(super) fn wake_from_snooze(&mut self, now: Option<i64>) {
        self.move_to(Lifecycle::Open, None, "snooze_ended");
        self.last_activity_ms = now;
    }

    /// The customer wrote: a pending or snoozed chat needs the team again.
    pub(super) fn customer_wrote(&mut self) {
        if matches!(self.lifecycle, Lifecycle::Pending | Lifecycle::Snoozed) {
            self.move_to(Lifecycle::Open, None, "customer_wrote");
        }
    }

    pub(super) fn request_lifecycle(&mut self, request: LifecycleRequest, now: Option<i64>) {
        if self.session_id.is_none() {
            return;
        }
        self.lifecycle_by = request.by;
        self.last_activity_ms = now;
        match request.state {
            Lifecycle::Resolved => self.resolve_requested = true,
            Lifecycle::Snoozed => match request.snoozed_until_ms {
                Some(until) if now.is_none_or(|now| until > now) => {
                    self.move_to(Lifecycle::Snoozed, Some(until), "operator");
                }
                // Nothing to wait for: the API refuses these before they get here.
                _ => {}
            },
            state => self.move_to(state, None, "operator"),
        }
    }

    fn move_to(&mut self, state: Lifecycle, snoozed_until_ms: Option<i64>, cause: &str) {
        self.lifecycle = state;
        self.snoozed_until_ms = snoozed_until_ms;
        self.lifecycle_dirty = Some(cause.to_owned());
        if cause != "operator" {
            self.lifecycle_by = None;
        }
    }

    pub(super) fn queue_operator_reply(&mut self, reply: OperatorReply) {
        if self.seen_operator_replies.contains(&reply.request_id) {
            return;
        }
        if self.seen_operator_replies.len() >= SEEN_OPERATOR_REPLIES {
            self.seen_operator_replies.remove(0);
        }
        self.seen_operator_replies.push(reply.request_id);
        self.operator_replies.push(reply.request_id);
    }

    /// Records a lifecycle change in the session row (and its event).
    pub(super) async fn persist_lifecycle(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        let Some(cause) = ctx.state_mut(|s| s.lifecycle_dirty.take()) else {
            return Ok(());
        };
        let input = ctx.state(|s| {
            s.session_id.map(|session_id| SetLifecycleInput {
                tenant_id: s.tenant_id,
                session_id,
                state: s.lifecycle,
                snoozed_until_ms: s.snoozed_until_ms,
                by: s.lifecycle_by.clone(),
                cause,
            })
        });
        if let Some(input) = input
            && ctx.patched(patches::LIFECYCLE)
        {
            ctx.execute_local_activity(SetLifecycle, input, db_activity())
                .await?;
        }
        Ok(())
    }

    /// Sends the queued operator replies, oldest first, each in the chat's open session (reopened
    /// or opened for it when there is none).
    pub(super) async fn send_operator_replies(
        ctx: &mut WorkflowContext<Self>,
    ) -> WorkflowResult<()> {
        while let Some(request_id) = ctx
            .state_mut(|s| (!s.operator_replies.is_empty()).then(|| s.operator_replies.remove(0)))
        {
            if !ctx.patched(patches::LIFECYCLE) {
                continue;
            }
            // Refused for good (the request is gone, another tenant's): nothing to send.
            if Self::attach(ctx, Some(request_id), None).await {
                Self::start_operator_send(ctx, request_id).await;
            }
        }
        Ok(())
    }

    /// An operator's reopen: a chat without a session gets its latest one back; an open one in
    /// pending or snoozed is open again.
    pub(super) async fn reopen_session(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        let Some(request) = ctx.state_mut(|s| s.reopen.take()) else {
            return Ok(());
        };
        if ctx.state(|s| s.session_id.is_some()) {
            let now = now_ms(ctx.workflow_time());
            ctx.state_mut(|s| {
                if s.lifecycle != Lifecycle::Open {
                    s.lifecycle_by = request.by.clone();
                    s.move_to(Lifecycle::Open, None, "operator");
                }
                s.last_activity_ms = now;
            });
            return Ok(());
        }
        if ctx.patched(patches::LIFECYCLE) {
            Self::attach(ctx, None, Some(request.session_id)).await;
        }
        Ok(())
    }

    /// Makes sure the chat has an open session for an operator (see
    /// `ventros_store::attach_operator_reply`); false when the request was refused for good.
    async fn attach(
        ctx: &mut WorkflowContext<Self>,
        request_id: Option<Uuid>,
        reopen_session_id: Option<Uuid>,
    ) -> bool {
        let input = ctx.state(|s| AttachReplyInput {
            tenant_id: s.tenant_id,
            channel_id: s.channel_id,
            workflow_id: s.workflow_id(),
            request_id,
            reopen_session_id,
        });
        let Ok(attached) = ctx
            .execute_local_activity(AttachOperatorReply, input, db_activity())
            .await
        else {
            return false;
        };
        if ctx.state(|s| s.contact_id != Some(attached.contact_id)) {
            ctx.upsert_search_attributes([
                CONTACT_ID_ATTRIBUTE.value_set(attached.contact_id.to_string())
            ]);
        }
        let now = now_ms(ctx.workflow_time());
        ctx.state_mut(|s| {
            if attached.session_opened {
                s.lifecycle = Lifecycle::Open;
                s.snoozed_until_ms = None;
                s.assignment = Assignment::Bot;
                s.assignee = None;
            }
            s.session_id = Some(attached.session_id);
            s.contact_id = Some(attached.contact_id);
            s.last_activity_ms = now;
        });
        true
    }

    /// The OutboundMessage child that writes and sends the reply. Its id is the request's, so a
    /// child an earlier run already started is found, not started twice.
    async fn start_operator_send(ctx: &mut WorkflowContext<Self>, message_id: Uuid) {
        let (tenant_id, channel_id) = ctx.state(|s| (s.tenant_id, s.channel_id));
        let options = ChildWorkflowOptions::builder()
            .workflow_id(ids::outbound_workflow_id(tenant_id, message_id))
            .parent_close_policy(ParentClosePolicy::Abandon)
            .build();
        let input = OutboundInput {
            tenant_id,
            channel_id,
            message_id,
            compose: true,
            send_local: false,
            trace: None,
        };
        // Refused only when that message's workflow already exists: it is being sent.
        if ctx
            .start_child_workflow(OutboundMessage::run, input, options)
            .await
            .is_ok()
        {
            ctx.state_mut(|s| s.replies_sent += 1);
        }
    }
}
