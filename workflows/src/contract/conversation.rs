//! Inputs, signals, state and outputs of the Conversation workflow and its activities.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CampaignReplyTarget, ContactMergeInput, Lifecycle};

/// Input of the Conversation workflow. `carried` is set only by continue-as-new.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConversationInput {
    pub tenant_id: Uuid,
    pub channel_id: Uuid,
    pub chat_key: String,
    #[serde(default)]
    pub carried: Option<CarriedConversation>,
}

/// The `inbound` signal: a webhook inbox row to ingest. Carries no text and no phone number.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct InboundSignal {
    pub inbox_id: Uuid,
    /// The provider's timestamp of the message, in milliseconds: orders bursts that arrive
    /// out of order.
    pub provider_ts_ms: i64,
    /// The trace of the customer's message this work is for (see `contract::trace`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::lenient_trace"
    )]
    pub trace: Option<super::TraceContext>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Assignment {
    #[default]
    Bot,
    Human,
}

impl Assignment {
    pub fn as_str(self) -> &'static str {
        match self {
            Assignment::Bot => "bot",
            Assignment::Human => "human",
        }
    }
}

/// Argument of the `takeover` update.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct TakeoverRequest {
    /// Who takes over (an operator's id or e-mail); free text, optional.
    #[serde(default)]
    pub assignee: Option<String>,
}

/// Per-channel timing, read from the channel settings by the ingestion activity so that a change
/// takes effect on the next message without restarting workflows.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConversationTiming {
    /// Quiet time after the last message of a burst before the reply is decided; 0 = reply at once.
    pub debounce_ms: u64,
    /// Upper bound of one debounce window, so a chatty customer still gets an answer.
    pub max_debounce_ms: u64,
    /// A session with no messages for this long is closed.
    pub inactivity_timeout_secs: u64,
}

impl Default for ConversationTiming {
    fn default() -> Self {
        Self {
            debounce_ms: 1_500,
            max_debounce_ms: 10_000,
            inactivity_timeout_secs: 30 * 60,
        }
    }
}

/// What a Conversation carries across continue-as-new.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct CarriedConversation {
    pub pending: Vec<InboundSignal>,
    pub seen_inbox_ids: Vec<Uuid>,
    pub session_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub assignment: Assignment,
    pub assignee: Option<String>,
    pub timing: ConversationTiming,
    pub batches: u64,
    pub messages_persisted: u64,
    pub replies_sent: u64,
    pub last_activity_ms: Option<i64>,
    pub last_decision: Option<String>,
    #[serde(default)]
    pub last_agent: Option<AgentVerdict>,
    #[serde(default)]
    pub lifecycle: Lifecycle,
    #[serde(default)]
    pub snoozed_until_ms: Option<i64>,
    /// Operator replies accepted and not yet sent, and the ones this run already took.
    #[serde(default)]
    pub operator_replies: Vec<Uuid>,
    #[serde(default)]
    pub seen_operator_replies: Vec<Uuid>,
}

/// Result of the `state` query and of the takeover/hand-back updates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConversationState {
    pub session_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub assignment: Assignment,
    pub assignee: Option<String>,
    /// Inbound messages signalled but not yet persisted.
    pub pending_messages: usize,
    /// Persisted messages whose reply is still being decided (inside the debounce window).
    pub awaiting_reply: usize,
    pub messages_persisted: u64,
    pub replies_sent: u64,
    /// Milliseconds since the epoch of the last inbound message or operator action.
    pub last_activity_ms: Option<i64>,
    /// The last reply decision: `greeting`, `away`, `no_rule`, `assigned_to_human`, `agent`,
    /// `handoff:<reason>`.
    pub last_decision: Option<String>,
    pub timing: ConversationTiming,
    /// The last agent answer: who answered, the intent and the confidence.
    #[serde(default)]
    pub last_agent: Option<AgentVerdict>,
    /// Open, pending, snoozed or resolved (for the team).
    #[serde(default)]
    pub lifecycle: Lifecycle,
    #[serde(default)]
    pub snoozed_until_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentVerdict {
    pub agent_type: String,
    pub intent: String,
    pub confidence: f32,
}

/// Result of a finished Conversation run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConversationOutcome {
    pub session_id: Option<Uuid>,
    pub close_reason: String,
    pub messages_persisted: u64,
    pub replies_sent: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PersistInboundInput {
    pub tenant_id: Uuid,
    pub channel_id: Uuid,
    pub workflow_id: String,
    /// Unique per batch and stable across retries: lets a retried activity recognise the rows it
    /// wrote before a crash, so "new message" is answered the same way every attempt.
    pub batch_key: String,
    /// Inbox rows in provider-timestamp order.
    pub inbox_ids: Vec<Uuid>,
    /// The session the workflow already holds open (if any); a closed one is never reused.
    pub session_id: Option<Uuid>,
    /// The assignment to give a session this batch opens.
    pub assignment: Assignment,
    /// The trace of the customer's message this work is for (see `contract::trace`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::lenient_trace"
    )]
    pub trace: Option<super::TraceContext>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PersistInboundOutput {
    pub contact_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    /// True when this batch opened the session (a greeting is due).
    pub session_opened: bool,
    /// Messages this batch stored for the first time; duplicates are not listed.
    pub new_message_ids: Vec<Uuid>,
    pub duplicates: u32,
    pub timing: ConversationTiming,
    /// Set when the channel answers with an AI agent.
    #[serde(default)]
    pub ai: Option<AiReplyConfig>,
    /// Campaign messages this batch answers (within their attribution window).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub campaign_replies: Vec<CampaignReplyTarget>,
    /// A WhatsApp sender whose other address (phone number ↔ hidden id) the CRM may not know yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_hint: Option<IdentityHint>,
    /// Messages of this batch with files still to fetch from the provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_message_ids: Vec<Uuid>,
}

/// See [`PersistInboundOutput::identity_hint`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IdentityHint {
    pub identity_id: Uuid,
    /// The other address, when the message itself carried it (no lookup needed).
    pub alternate: Option<String>,
    /// The identity was created by this batch (a first message from this address).
    pub new_identity: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinkIdentityInput {
    pub tenant_id: Uuid,
    pub channel_id: Uuid,
    pub hint: IdentityHint,
}

/// What linking found: nothing, an address added to the same contact, or two contacts to fold.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LinkIdentityOutput {
    /// The identity added to the sender's contact.
    pub added_identity: Option<Uuid>,
    /// The other address belongs to another contact: this merge (recorded, not yet run) folds them.
    pub merge: Option<ContactMergeInput>,
}

/// How a channel's replies come from an agent (from the channel settings).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AiReplyConfig {
    /// `RouterAgent` picks the specialist; any other type answers directly.
    pub agent_type: String,
    /// Replies under this confidence go to a human instead.
    pub confidence_threshold: f32,
    /// Mark messages seen and show "typing…" while the agent works.
    pub presence: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanAutoReplyInput {
    pub tenant_id: Uuid,
    pub channel_id: Uuid,
    pub session_id: Uuid,
    /// Id for the reply message, minted by the workflow so a retry cannot create a second one.
    pub reply_message_id: Uuid,
    pub session_opened: bool,
    pub workflow_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlannedReply {
    pub message_id: Uuid,
    /// `greeting` or `away`.
    pub origin: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanAutoReplyOutput {
    pub reply: Option<PlannedReply>,
    /// Why no reply was planned, when none was.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SetAssignmentInput {
    pub tenant_id: Uuid,
    pub session_id: Uuid,
    pub assignment: Assignment,
    pub assignee: Option<String>,
    /// Why the chat went to a human (`low_confidence`, `agent_unavailable`, `agent_requested`, …).
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentPresenceInput {
    pub tenant_id: Uuid,
    pub session_id: Uuid,
    /// Inbound messages to mark seen (start), or none (stop typing).
    pub seen_message_ids: Vec<Uuid>,
    pub typing: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentExecuteInput {
    pub tenant_id: Uuid,
    pub channel_id: Uuid,
    pub session_id: Uuid,
    /// The agent run's id, minted by the workflow; also the reply message's id.
    pub run_id: Uuid,
    /// The burst to answer (their text is read from the database, never from history).
    pub message_ids: Vec<Uuid>,
    pub agent_type: String,
    pub confidence_threshold: f32,
    pub workflow_id: String,
    /// The trace of the customer's message this work is for (see `contract::trace`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::lenient_trace"
    )]
    pub trace: Option<super::TraceContext>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentExecuteOutput {
    pub run_id: Uuid,
    /// The agent that answered (after routing).
    pub agent_type: String,
    pub intent: String,
    pub confidence: f32,
    /// A pending outbound message (id = run id) was written.
    pub reply_planned: bool,
    /// Types of the suggested actions stored with the run.
    pub action_types: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApplyActionsInput {
    pub tenant_id: Uuid,
    pub run_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApplyActionsOutput {
    pub applied: Vec<String>,
    /// The agent asked for a human.
    pub handoff: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CloseSessionInput {
    pub tenant_id: Uuid,
    pub session_id: Uuid,
    pub reason: String,
    /// Who resolved it (`user:<id>`, `api_key:<id>`); none when inactivity closed it.
    #[serde(default)]
    pub by: Option<String>,
}
