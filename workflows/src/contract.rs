//! Everything that crosses a process boundary between the API, the worker and Temporal: names of
//! workflows, signals, queries, updates, activities, task queues and search attributes; the
//! functions that build workflow ids from business keys; and the serde types of every workflow
//! and activity input and output.
//!
//! The API and the worker both import these, so a rename is a compile error instead of a stuck
//! workflow. The activity *definitions* live here too (typed markers implementing
//! [`ActivityDefinition`]); the `ventros-activities` crate implements them. That keeps I/O crates
//! out of this crate's dependencies, so workflow code cannot reach a database by accident.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use temporalio_common::ActivityDefinition;
use temporalio_common::search_attributes::SearchAttributeKey;
use uuid::Uuid;

/// Explicit names. Changing one of these strings renames running work: don't.
/// `patched` ids: behaviour changes that recorded histories must not see.
pub mod patches {
    /// OutboundMessage applies receipts that arrived before its send was recorded.
    pub const HELD_RECEIPTS: &str = "outbound-held-receipts";
    /// Conversation links a WhatsApp sender's phone number and hidden id (one contact per person).
    pub const IDENTITY_LINKS: &str = "conversation-identity-links";
}

pub mod names {
    /// The default task queue that the worker polls.
    pub const DEFAULT_TASK_QUEUE: &str = "ventros";

    pub const CONVERSATION_WORKFLOW: &str = "Conversation";
    pub const OUTBOUND_MESSAGE_WORKFLOW: &str = "OutboundMessage";
    pub const MEMORY_INGESTION_WORKFLOW: &str = "MemoryIngestion";
    pub const REEMBED_MEMORIES_WORKFLOW: &str = "ReembedMemories";
    pub const CONTACT_MERGE_WORKFLOW: &str = "ContactMerge";
    pub const WEBHOOK_DELIVERY_WORKFLOW: &str = "WebhookDelivery";
    pub const INBOX_SWEEP_WORKFLOW: &str = "InboxSweep";
    pub const CAMPAIGN_WORKFLOW: &str = "Campaign";
    pub const CAMPAIGN_RECIPIENT_WORKFLOW: &str = "CampaignRecipient";

    pub const SIGNAL_INBOUND: &str = "inbound";
    pub const SIGNAL_ACK: &str = "ack";
    pub const SIGNAL_MEMORY_EVENT: &str = "memory_event";
    pub const QUERY_STATE: &str = "state";
    pub const UPDATE_TAKEOVER: &str = "takeover";
    pub const UPDATE_HANDBACK: &str = "handback";
    /// Campaign: pause, resume or cancel (from the API).
    pub const SIGNAL_CAMPAIGN_CONTROL: &str = "control";
    /// Campaign: a recipient finished preparing (skipped, parked until its send time, or handed to
    /// OutboundMessage), so the next one may start.
    pub const SIGNAL_RECIPIENT_PROGRESS: &str = "recipient_progress";
    /// CampaignRecipient: the contact answered within the attribution window (from Conversation).
    pub const SIGNAL_CAMPAIGN_REPLIED: &str = "replied";
    /// CampaignRecipient: look again (the campaign was resumed or cancelled while it was held).
    pub const SIGNAL_CAMPAIGN_WAKE: &str = "wake";

    pub const ACTIVITY_PERSIST_INBOUND: &str = "conversation.persist_inbound";
    pub const ACTIVITY_PLAN_AUTO_REPLY: &str = "conversation.plan_auto_reply";
    pub const ACTIVITY_SET_ASSIGNMENT: &str = "conversation.set_assignment";
    pub const ACTIVITY_CLOSE_SESSION: &str = "conversation.close_session";
    pub const ACTIVITY_SEND_OUTBOUND: &str = "outbound.send";
    pub const ACTIVITY_INBOX_SWEEP: &str = "inbox.sweep";
    pub const ACTIVITY_RECORD_STATUS: &str = "outbound.record_status";
    pub const ACTIVITY_AGENT_PRESENCE: &str = "agent.presence";
    pub const ACTIVITY_AGENT_EXECUTE: &str = "agent.execute";
    pub const ACTIVITY_AGENT_APPLY_ACTIONS: &str = "agent.apply_actions";
    pub const ACTIVITY_MEMORY_INGEST_EVENT: &str = "memory.ingest_event";
    pub const ACTIVITY_MEMORY_REEMBED_BATCH: &str = "memory.reembed_batch";
    pub const ACTIVITY_MEMORY_ACTIVATE_SPACE: &str = "memory.activate_space";
    pub const ACTIVITY_COMPOSE_OPERATOR_MESSAGE: &str = "outbound.compose_operator_message";
    pub const ACTIVITY_CONTACT_MERGE_STEP: &str = "contacts.merge_step";
    pub const ACTIVITY_LINK_IDENTITY: &str = "contacts.link_identity";
    pub const ACTIVITY_WEBHOOK_DELIVER: &str = "webhooks.deliver";
    pub const ACTIVITY_WEBHOOK_GIVE_UP: &str = "webhooks.give_up";
    pub const ACTIVITY_CAMPAIGN_BEGIN_RUN: &str = "campaign.begin_run";
    pub const ACTIVITY_CAMPAIGN_RESOLVE_PAGE: &str = "campaign.resolve_page";
    pub const ACTIVITY_CAMPAIGN_CONTROL: &str = "campaign.apply_control";
    pub const ACTIVITY_CAMPAIGN_OUTSTANDING: &str = "campaign.outstanding";
    pub const ACTIVITY_CAMPAIGN_FINISH_RUN: &str = "campaign.finish_run";
    pub const ACTIVITY_CAMPAIGN_PREPARE_RECIPIENT: &str = "campaign.prepare_recipient";
    pub const ACTIVITY_CAMPAIGN_SKIP_RECIPIENT: &str = "campaign.skip_recipient";
    pub const ACTIVITY_CAMPAIGN_CLAIM_SEND: &str = "campaign.claim_send";
    pub const ACTIVITY_CAMPAIGN_RECORD_REPLY: &str = "campaign.record_reply";
    pub const ACTIVITY_CAMPAIGN_CLOSE_RECIPIENT: &str = "campaign.close_recipient";

    /// Application failure type of an agent call that can never succeed (unknown agent, invalid
    /// request): not retried, the conversation goes to a human at once.
    pub const FAILURE_AGENT_REJECTED: &str = "AgentRejected";

    /// Application failure type of a send the provider refused for good (4xx): never retried.
    pub const FAILURE_PERMANENT_SEND: &str = "PermanentSendFailure";

    pub const SEARCH_ATTRIBUTE_TENANT: &str = "TenantId";
    pub const SEARCH_ATTRIBUTE_CHANNEL: &str = "ChannelId";
    pub const SEARCH_ATTRIBUTE_CONTACT: &str = "ContactId";
}

/// Custom search attributes (registered on the server as Keyword) so operators can find a
/// tenant's, a channel's or a contact's workflows in the Temporal UI.
pub const TENANT_ID_ATTRIBUTE: SearchAttributeKey<String> =
    SearchAttributeKey::keyword(names::SEARCH_ATTRIBUTE_TENANT);
pub const CHANNEL_ID_ATTRIBUTE: SearchAttributeKey<String> =
    SearchAttributeKey::keyword(names::SEARCH_ATTRIBUTE_CHANNEL);
pub const CONTACT_ID_ATTRIBUTE: SearchAttributeKey<String> =
    SearchAttributeKey::keyword(names::SEARCH_ATTRIBUTE_CONTACT);

/// Workflow ids, built from business keys.
pub mod ids {
    use super::*;

    /// A stable pseudonym for a provider chat (`…@c.us` is a phone number), so workflow ids and
    /// histories never carry the number itself. Keyed by tenant and channel: the same number on
    /// two channels is two conversations.
    pub fn chat_key(tenant_id: Uuid, channel_id: Uuid, provider_chat_id: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(tenant_id.as_bytes());
        hasher.update(channel_id.as_bytes());
        hasher.update(provider_chat_id.as_bytes());
        hex::encode(&hasher.finalize()[..16])
    }

    /// `conversation:{tenant}:{channel}:{chat}`: one long-lived workflow per chat.
    pub fn conversation_workflow_id(tenant_id: Uuid, channel_id: Uuid, chat_key: &str) -> String {
        format!("conversation:{tenant_id}:{channel_id}:{chat_key}")
    }

    /// `message:{tenant}:{message_id}`: one workflow per outbound message.
    pub fn outbound_workflow_id(tenant_id: Uuid, message_id: Uuid) -> String {
        format!("message:{tenant_id}:{message_id}")
    }

    /// `contact-merge:{tenant}:{merge}`: one execution per merge request.
    pub fn contact_merge_workflow_id(tenant_id: Uuid, merge_id: Uuid) -> String {
        format!("contact-merge:{tenant_id}:{merge_id}")
    }

    /// `webhook:{tenant}:{delivery}`: one execution per delivery (subscription × event).
    pub fn webhook_delivery_workflow_id(tenant_id: Uuid, delivery_id: Uuid) -> String {
        format!("webhook:{tenant_id}:{delivery_id}")
    }

    /// `campaign:{tenant}:{campaign}`: the campaign's Temporal Schedule, and the prefix of its
    /// runs' workflow ids (the schedule appends the fire time).
    pub fn campaign_schedule_id(tenant_id: Uuid, campaign_id: Uuid) -> String {
        format!("campaign:{tenant_id}:{campaign_id}")
    }

    /// `campaign-recipient:{tenant}:{run}:{contact}`: one execution per contact and run, so a
    /// contact can never be dispatched twice in one run.
    pub fn campaign_recipient_workflow_id(
        tenant_id: Uuid,
        run_id: Uuid,
        contact_id: Uuid,
    ) -> String {
        format!("campaign-recipient:{tenant_id}:{run_id}:{contact_id}")
    }

    /// The id of a recipient's campaign message: derived from the run and the contact, so every
    /// attempt, restart or resume writes (and sends) the same one message.
    pub fn campaign_message_id(run_id: Uuid, contact_id: Uuid) -> Uuid {
        let mut name = Vec::with_capacity(32);
        name.extend_from_slice(run_id.as_bytes());
        name.extend_from_slice(contact_id.as_bytes());
        Uuid::new_v5(&CAMPAIGN_MESSAGE_NAMESPACE, &name)
    }

    const CAMPAIGN_MESSAGE_NAMESPACE: Uuid =
        Uuid::from_u128(0x6a0c_3f0e_2b1d_4c57_9e4e_5b7f_2c1a_8d90);

    /// `memory:{tenant}:{contact}`: one ingestion queue per contact, so facts apply in order.
    pub fn memory_ingestion_workflow_id(tenant_id: Uuid, contact_id: Uuid) -> String {
        format!("memory:{tenant_id}:{contact_id}")
    }

    /// `memory-reembed:{model}`: at most one re-embedding per target model.
    pub fn reembed_workflow_id(model: &str) -> String {
        format!("memory-reembed:{model}")
    }
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

/// An outbox event that carries something worth remembering about a contact (ids only: the
/// history never holds message text).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemoryEventSignal {
    pub event_id: i64,
    pub event_type: String,
}

/// Input of MemoryIngestion. `carried` is set only by continue-as-new.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemoryIngestionInput {
    pub tenant_id: Uuid,
    pub contact_id: Uuid,
    #[serde(default)]
    pub carried: Option<CarriedIngestion>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CarriedIngestion {
    pub pending: Vec<MemoryEventSignal>,
    pub seen_event_ids: Vec<i64>,
    pub stats: MemoryIngestionStats,
}

/// Live progress of a contact's ingestion queue (the `state` query and the run's result).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct MemoryIngestionStats {
    pub episodes_ingested: u64,
    pub duplicates: u64,
    pub facts_added: u64,
    pub facts_invalidated: u64,
    pub pending: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IngestEventInput {
    pub tenant_id: Uuid,
    pub contact_id: Uuid,
    pub event_id: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IngestEventOutput {
    pub already_ingested: bool,
    pub facts_added: u64,
    pub facts_invalidated: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReembedInput {
    pub model: String,
    #[serde(default)]
    pub reembedded: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReembedBatchInput {
    pub model: String,
    pub batch: u32,
}

// ---------------------------------------------------------------------------------------------
// Conversation
// ---------------------------------------------------------------------------------------------

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
}

// ---------------------------------------------------------------------------------------------
// OutboundMessage
// ---------------------------------------------------------------------------------------------

/// Delivery status of a message. The order of the variants is the order a message moves through;
/// `failed` and `undelivered` are terminal and only reachable before delivery.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Sent,
    Delivered,
    Read,
    Played,
    Undelivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
            DeliveryStatus::Played => "played",
            DeliveryStatus::Undelivered => "undelivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// The status named by [`DeliveryStatus::as_str`].
    pub fn parse(value: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered,
            DeliveryStatus::Read,
            DeliveryStatus::Played,
            DeliveryStatus::Undelivered,
            DeliveryStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }

    /// The rank stored in `messages.status_rank`.
    pub fn rank(self) -> i32 {
        match self {
            DeliveryStatus::Pending => 0,
            DeliveryStatus::Sent => 1,
            DeliveryStatus::Delivered => 2,
            DeliveryStatus::Read => 3,
            DeliveryStatus::Played => 4,
            DeliveryStatus::Undelivered | DeliveryStatus::Failed => 10,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Read
                | DeliveryStatus::Played
                | DeliveryStatus::Failed
                | DeliveryStatus::Undelivered
        )
    }

    /// Whether moving from `self` to `next` goes forward. Acks arrive late, twice and out of
    /// order; only forward moves are recorded.
    pub fn can_move_to(self, next: DeliveryStatus) -> bool {
        match (self, next) {
            (DeliveryStatus::Failed | DeliveryStatus::Undelivered, _) => false,
            (from, DeliveryStatus::Failed | DeliveryStatus::Undelivered) => {
                from <= DeliveryStatus::Sent
            }
            (from, to) => to > from,
        }
    }

    /// WAHA's numeric `ack` (`-1` ERROR … `4` PLAYED).
    pub fn from_waha_ack(ack: i64) -> Option<DeliveryStatus> {
        match ack {
            -1 => Some(DeliveryStatus::Failed),
            0 => Some(DeliveryStatus::Pending),
            1 => Some(DeliveryStatus::Sent),
            2 => Some(DeliveryStatus::Delivered),
            3 => Some(DeliveryStatus::Read),
            4 => Some(DeliveryStatus::Played),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutboundInput {
    pub tenant_id: Uuid,
    pub channel_id: Uuid,
    pub message_id: Uuid,
    /// An operator's reply accepted by the API (an `outbound_requests` row with this id): the
    /// workflow writes the pending message first. Absent for replies the Conversation wrote.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compose: bool,
}

/// Writes an operator reply (the `outbound_requests` row `message_id`) as a pending message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ComposeOperatorInput {
    pub tenant_id: Uuid,
    pub message_id: Uuid,
}

/// The steps of a contact merge, in order; each moves one kind of row and is idempotent.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MergeStep {
    Identities,
    Conversations,
    Deals,
    Memories,
    Finish,
}

impl MergeStep {
    pub const ALL: [MergeStep; 5] = [
        MergeStep::Identities,
        MergeStep::Conversations,
        MergeStep::Deals,
        MergeStep::Memories,
        MergeStep::Finish,
    ];
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContactMergeInput {
    pub tenant_id: Uuid,
    pub merge_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MergeStepInput {
    pub tenant_id: Uuid,
    pub merge_id: Uuid,
    pub step: MergeStep,
}

/// Rows moved per kind, the merge's result.
pub type MergeCounts = std::collections::BTreeMap<String, u64>;

/// One pass of the inbox sweeper: stored webhooks older than `older_than_secs` that no
/// Conversation has processed are handed to Temporal again (at most `limit`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InboxSweepInput {
    pub older_than_secs: u64,
    pub limit: u32,
}

/// What a sweep did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InboxSweepOutput {
    /// Rows handed to their Conversation again.
    pub redriven: u32,
    /// Rows that cannot be processed (an unknown channel kind or a payload that no longer parses):
    /// left for an operator, never retried in a loop.
    pub unreadable: u32,
}

/// One outbound webhook delivery, retried with backoff until the receiver answers 2xx or the
/// attempts run out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookDeliveryInput {
    pub tenant_id: Uuid,
    pub delivery_id: Uuid,
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookAttemptInput {
    pub tenant_id: Uuid,
    pub delivery_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookOutcome {
    pub delivery_id: Uuid,
    pub delivered: bool,
}

/// The `ack` signal, from the provider's delivery receipts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct AckSignal {
    pub status: DeliveryStatus,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutboundOutcome {
    pub message_id: Uuid,
    pub status: DeliveryStatus,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SendOutboundInput {
    pub tenant_id: Uuid,
    pub message_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SendOutboundOutput {
    pub provider_message_id: String,
    /// How long to wait for a delivery receipt before calling the message undelivered.
    pub ack_timeout_secs: u64,
    /// How long after delivery to keep listening for the read receipt.
    pub read_window_secs: u64,
    /// Whether the channel reports deliveries at all (Instagram only reports "seen"): without
    /// them, no delivery receipt is awaited and a message is never called undelivered.
    #[serde(default = "yes")]
    pub delivery_receipts: bool,
    /// Receipts the provider sent before this send recorded its id (held by the API), to be
    /// applied as if they had just arrived. Absent in histories from before they were held.
    #[serde(default)]
    pub held_receipts: Vec<DeliveryStatus>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordStatusInput {
    pub tenant_id: Uuid,
    pub message_id: Uuid,
    pub status: DeliveryStatus,
    pub reason: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Campaigns
// ---------------------------------------------------------------------------------------------

/// Input of a Campaign run (what its Temporal Schedule starts). `carried` is set only by
/// continue-as-new.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CampaignInput {
    pub tenant_id: Uuid,
    pub campaign_id: Uuid,
    #[serde(default)]
    pub carried: Option<CarriedCampaign>,
}

/// What a Campaign run carries across continue-as-new.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CarriedCampaign {
    pub run: BeginRunOutput,
    pub cursor: Option<Uuid>,
    pub exhausted: bool,
    pub buffer: Vec<Uuid>,
    pub in_flight: Vec<Uuid>,
    pub paused: bool,
    pub cancelled: bool,
    pub progress: CampaignCounters,
}

/// Pause, resume or cancel (the `control` signal and the `campaign.apply_control` activity).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CampaignControl {
    Pause,
    Resume,
    Cancel,
}

/// How a recipient left the parent's hands (the `recipient_progress` signal).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RecipientStage {
    /// Opted out, no identity on the channel, agent refused, campaign cancelled.
    Skipped,
    /// Waiting (durable timer) for its best send time, the send window or a rate-limit slot.
    Parked,
    /// Its message was written and handed to OutboundMessage.
    Handed,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecipientProgress {
    pub contact_id: Uuid,
    pub stage: RecipientStage,
}

/// Live counters of a run (the `state` query).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CampaignCounters {
    /// Contacts the segment resolved to so far.
    pub targeted: u64,
    pub dispatched: u64,
    pub skipped: u64,
    pub parked: u64,
    pub handed: u64,
}

/// The `state` query of a Campaign run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CampaignProgress {
    pub run_id: Uuid,
    pub run_no: i32,
    /// `resolving`, `dispatching`, `paused`, `settling` (every recipient dispatched, sends still
    /// in flight or parked), `cancelled`.
    pub phase: String,
    pub counters: CampaignCounters,
    /// Recipients started and not yet skipped, parked or handed over.
    pub in_flight: usize,
    pub max_in_flight: u32,
    pub segment_exhausted: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BeginRunInput {
    pub tenant_id: Uuid,
    pub campaign_id: Uuid,
    pub workflow_id: String,
}

/// The run this workflow execution is (created on first call, found on retries).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BeginRunOutput {
    pub run_id: Uuid,
    pub run_no: i32,
    /// False when the campaign was cancelled or completed before this run began: nothing to do.
    pub proceed: bool,
    /// The campaign is paused: the run starts paused.
    pub paused: bool,
    pub page_size: u32,
    pub max_in_flight: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResolvePageInput {
    pub tenant_id: Uuid,
    pub campaign_id: Uuid,
    pub run_id: Uuid,
    pub after: Option<Uuid>,
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CampaignControlInput {
    pub tenant_id: Uuid,
    pub campaign_id: Uuid,
    pub run_id: Uuid,
    pub control: CampaignControl,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRef {
    pub tenant_id: Uuid,
    pub campaign_id: Uuid,
    pub run_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FinishRunInput {
    pub tenant_id: Uuid,
    pub campaign_id: Uuid,
    pub run_id: Uuid,
    pub cancelled: bool,
}

/// Input of CampaignRecipient.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CampaignRecipientInput {
    pub tenant_id: Uuid,
    pub campaign_id: Uuid,
    pub run_id: Uuid,
    pub contact_id: Uuid,
    /// The Campaign run to report progress to (by workflow id: it may continue-as-new).
    pub parent_workflow_id: String,
}

/// Identifies one recipient, with the workflow's clock: send windows, best times and rate-limit
/// slots are computed against workflow time, so they replay and time-skip correctly.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecipientAt {
    pub tenant_id: Uuid,
    pub run_id: Uuid,
    pub contact_id: Uuid,
    pub now_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrepareRecipientOutput {
    /// Why the contact gets no message (`opted_out`, `no_identity_on_channel`, …).
    pub skip_reason: Option<String>,
    /// When to send (milliseconds since the epoch): the agent's best time inside the window.
    pub send_at_ms: i64,
    pub attribution_window_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SkipRecipientInput {
    pub tenant_id: Uuid,
    pub run_id: Uuid,
    pub contact_id: Uuid,
    pub reason: String,
}

/// The answer of `campaign.claim_send`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum SendClaim {
    /// The message is written (pending); send it.
    Go { message_id: Uuid, channel_id: Uuid },
    /// Not yet: outside the send window, or the rate limit's next slot is later.
    WaitUntil { at_ms: i64 },
    /// The campaign is paused: wait for the `wake` signal.
    Hold,
    /// The campaign was cancelled (the recipient is recorded as skipped).
    Cancelled,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordReplyInput {
    pub tenant_id: Uuid,
    pub run_id: Uuid,
    pub contact_id: Uuid,
    pub reply_message_id: Uuid,
}

/// The `replied` signal.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct CampaignReplied {
    pub reply_message_id: Uuid,
}

/// A campaign recipient the contact's new inbound message answers (from PersistInbound).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CampaignReplyTarget {
    pub workflow_id: String,
    pub reply_message_id: Uuid,
}

/// Result of a CampaignRecipient execution.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecipientOutcome {
    /// `skipped`, `cancelled`, `replied`, `no_reply`.
    pub outcome: String,
    pub message_id: Option<Uuid>,
}

// ---------------------------------------------------------------------------------------------
// Activity definitions (implemented in `ventros-activities`)
// ---------------------------------------------------------------------------------------------

macro_rules! activity_definitions {
    ($($(#[$doc:meta])* $marker:ident: $name:expr, $input:ty => $output:ty;)*) => {
        /// Typed handles for the activities, usable from workflow code.
        pub mod activities {
            use super::*;
            $(
                $(#[$doc])*
                pub struct $marker;
                impl ActivityDefinition for $marker {
                    type Input = $input;
                    type Output = $output;
                    fn name(&self) -> &str {
                        $name
                    }
                }
            )*
        }
    };
}

activity_definitions! {
    /// Upserts contact, identity and session and stores the messages of a batch of inbox rows.
    PersistInbound: names::ACTIVITY_PERSIST_INBOUND, PersistInboundInput => PersistInboundOutput;
    /// Applies the channel's auto-reply rules and writes the reply as a pending outbound message.
    PlanAutoReply: names::ACTIVITY_PLAN_AUTO_REPLY, PlanAutoReplyInput => PlanAutoReplyOutput;
    /// Records who handles the session (bot or human).
    SetAssignment: names::ACTIVITY_SET_ASSIGNMENT, SetAssignmentInput => ();
    /// Closes the session.
    CloseSession: names::ACTIVITY_CLOSE_SESSION, CloseSessionInput => ();
    /// Sends a pending outbound message through its channel's provider.
    SendOutbound: names::ACTIVITY_SEND_OUTBOUND, SendOutboundInput => SendOutboundOutput;
    /// Moves a message's delivery status forward (never back), with history and outbox event.
    RecordStatus: names::ACTIVITY_RECORD_STATUS, RecordStatusInput => bool;
    /// WhatsApp niceties while an agent works: mark seen, typing on/off (best effort).
    AgentPresence: names::ACTIVITY_AGENT_PRESENCE, AgentPresenceInput => ();
    /// Runs an agent through AgentService and stores its answer (reply + suggested actions).
    AgentExecute: names::ACTIVITY_AGENT_EXECUTE, AgentExecuteInput => AgentExecuteOutput;
    /// Executes the suggested actions stored with an agent run.
    AgentApplyActions: names::ACTIVITY_AGENT_APPLY_ACTIONS, ApplyActionsInput => ApplyActionsOutput;
    /// Turns one outbox event into a memory episode (memory, facts, graph), exactly once.
    MemoryIngestEvent: names::ACTIVITY_MEMORY_INGEST_EVENT, IngestEventInput => IngestEventOutput;
    /// Re-embeds a batch of rows still in another model's space; 0 when none are left.
    MemoryReembedBatch: names::ACTIVITY_MEMORY_REEMBED_BATCH, ReembedBatchInput => u64;
    /// Makes the model the one searches use.
    MemoryActivateSpace: names::ACTIVITY_MEMORY_ACTIVATE_SPACE, String => ();
    /// Writes an operator reply accepted by the API as a pending outbound message (once).
    ComposeOperatorMessage: names::ACTIVITY_COMPOSE_OPERATOR_MESSAGE, ComposeOperatorInput => ();
    /// Moves one kind of row from the merged contact to the surviving one.
    ContactMergeStep: names::ACTIVITY_CONTACT_MERGE_STEP, MergeStepInput => u64;
    /// Finds a WhatsApp sender's other address (in the message or by asking WAHA) and records it on
    /// the contact, or records the merge of the two contacts that hold them.
    LinkIdentity: names::ACTIVITY_LINK_IDENTITY, LinkIdentityInput => LinkIdentityOutput;
    /// One signed POST of a webhook delivery; an error when the receiver did not answer 2xx.
    WebhookDeliver: names::ACTIVITY_WEBHOOK_DELIVER, WebhookAttemptInput => ();
    /// Marks a delivery failed once its attempts are exhausted.
    WebhookGiveUp: names::ACTIVITY_WEBHOOK_GIVE_UP, WebhookAttemptInput => ();
    /// Hands stranded inbox rows (stored, never processed) to their Conversations again.
    SweepInbox: names::ACTIVITY_INBOX_SWEEP, InboxSweepInput => InboxSweepOutput;
    /// Creates (or finds) the campaign run this execution is.
    CampaignBeginRun: names::ACTIVITY_CAMPAIGN_BEGIN_RUN, BeginRunInput => BeginRunOutput;
    /// The next page of the segment's contacts after a cursor, recorded as pending recipients.
    CampaignResolvePage: names::ACTIVITY_CAMPAIGN_RESOLVE_PAGE, ResolvePageInput => Vec<Uuid>;
    /// Applies pause/resume/cancel to the run's recipients and wakes the held ones.
    CampaignApplyControl: names::ACTIVITY_CAMPAIGN_CONTROL, CampaignControlInput => u64;
    /// Recipients of the run that have not reached a send outcome yet.
    CampaignOutstanding: names::ACTIVITY_CAMPAIGN_OUTSTANDING, RunRef => u64;
    /// Marks the run (and a one-off campaign) completed or cancelled.
    CampaignFinishRun: names::ACTIVITY_CAMPAIGN_FINISH_RUN, FinishRunInput => ();
    /// Skip checks, the agent's personalised text and best send time, stored on the recipient.
    CampaignPrepareRecipient: names::ACTIVITY_CAMPAIGN_PREPARE_RECIPIENT, RecipientAt => PrepareRecipientOutput;
    /// Records a recipient as skipped with a reason.
    CampaignSkipRecipient: names::ACTIVITY_CAMPAIGN_SKIP_RECIPIENT, SkipRecipientInput => ();
    /// Checks status, window and rate limit; when clear, writes the pending campaign message.
    CampaignClaimSend: names::ACTIVITY_CAMPAIGN_CLAIM_SEND, RecipientAt => SendClaim;
    /// Records the contact's reply.
    CampaignRecordReply: names::ACTIVITY_CAMPAIGN_RECORD_REPLY, RecordReplyInput => ();
    /// The attribution window ended without a reply: closes the session the message opened if
    /// nobody wrote in it.
    CampaignCloseRecipient: names::ACTIVITY_CAMPAIGN_CLOSE_RECIPIENT, RecipientAt => ();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_only_move_forward() {
        use DeliveryStatus::*;
        assert!(Pending.can_move_to(Sent));
        assert!(Sent.can_move_to(Read));
        assert!(!Read.can_move_to(Delivered));
        assert!(!Read.can_move_to(Failed));
        assert!(Sent.can_move_to(Failed));
        assert!(!Failed.can_move_to(Read));
        assert!(!Undelivered.can_move_to(Delivered));
        assert!(!Delivered.can_move_to(Delivered));
    }

    #[test]
    fn chat_key_hides_the_number_and_separates_channels() {
        let (t, c1, c2) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let key = ids::chat_key(t, c1, "5511999990000@c.us");
        assert!(!key.contains("5511999990000"));
        assert_eq!(key.len(), 32);
        assert_eq!(key, ids::chat_key(t, c1, "5511999990000@c.us"));
        assert_ne!(key, ids::chat_key(t, c2, "5511999990000@c.us"));
    }
}
