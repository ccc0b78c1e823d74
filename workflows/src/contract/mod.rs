//! Everything that crosses a process boundary between the API, the worker and Temporal: names of
//! workflows, signals, queries, updates, activities, task queues and search attributes; the
//! functions that build workflow ids from business keys; and the serde types of every workflow
//! and activity input and output.
//!
//! The API and the worker both import these, so a rename is a compile error instead of a stuck
//! workflow. The activity *definitions* live here too (typed markers implementing
//! [`ActivityDefinition`]); the `ventros-activities` crate implements them. That keeps I/O crates
//! out of this crate's dependencies, so workflow code cannot reach a database by accident.
//!
//! The types are split by workflow (one module each) and re-exported here, so every path is
//! `contract::Type`.

use sha2::{Digest, Sha256};
use temporalio_common::ActivityDefinition;
use temporalio_common::search_attributes::SearchAttributeKey;
use uuid::Uuid;

mod campaigns;
mod contacts;
mod conversation;
mod inbox;
mod lifecycle;
mod media;
mod memory;
mod outbound;
mod tasks;
mod trace;
mod webhooks;

pub use campaigns::*;
pub use contacts::*;
pub use conversation::*;
pub use inbox::*;
pub use lifecycle::*;
pub use media::*;
pub use memory::*;
pub use outbound::*;
pub use tasks::*;
pub use trace::{TraceContext, lenient as lenient_trace};
pub use webhooks::*;

/// The tenant an activity acts for, so that every activity's span carries it (`tenant.id`).
/// `None` for the few that work across tenants (the inbox sweep, re-embedding).
pub trait TenantScoped {
    fn tenant(&self) -> Option<Uuid>;
}

macro_rules! tenant_scoped {
    ($($input:ty),* $(,)?) => {
        $(impl TenantScoped for $input {
            fn tenant(&self) -> Option<Uuid> {
                Some(self.tenant_id)
            }
        })*
    };
}

tenant_scoped!(
    PersistInboundInput,
    PlanAutoReplyInput,
    SetAssignmentInput,
    AgentPresenceInput,
    AgentExecuteInput,
    ApplyActionsInput,
    CloseSessionInput,
    LinkIdentityInput,
    SendOutboundInput,
    OutboundInput,
    ComposeOperatorInput,
    RecordStatusInput,
    HandOverInput,
    WebhookAttemptInput,
    BeginRunInput,
    ResolvePageInput,
    CampaignControlInput,
    RunRef,
    FinishRunInput,
    RecipientAt,
    SkipRecipientInput,
    RecordReplyInput,
    ReportProgressInput,
    MergeStepInput,
    IngestEventInput,
    KnowledgeIngestionInput,
    FollowUpTaskInput,
    SetLifecycleInput,
    MediaFetchInput,
    AttachReplyInput,
);

impl TenantScoped for InboxSweepInput {
    fn tenant(&self) -> Option<Uuid> {
        None
    }
}

impl TenantScoped for ReembedBatchInput {
    fn tenant(&self) -> Option<Uuid> {
        None
    }
}

/// The embedding model name `MemoryActivateSpace` takes: a deployment-wide switch.
impl TenantScoped for String {
    fn tenant(&self) -> Option<Uuid> {
        None
    }
}

/// Explicit names. Changing one of these strings renames running work: don't.
/// `patched` ids: behaviour changes that recorded histories must not see.
pub mod patches {
    /// OutboundMessage applies receipts that arrived before its send was recorded.
    pub const HELD_RECEIPTS: &str = "outbound-held-receipts";
    /// Conversation links a WhatsApp sender's phone number and hidden id (one contact per person).
    pub const IDENTITY_LINKS: &str = "conversation-identity-links";
    /// Conversation takes lifecycle changes (pending, snooze, resolve) and operator replies.
    pub const LIFECYCLE: &str = "conversation-lifecycle";
    /// Conversation fetches the files of customers' messages into object storage.
    pub const INBOUND_MEDIA: &str = "conversation-inbound-media";
    /// Conversation starts a reply's OutboundMessage from a local activity instead of as a child:
    /// no child-started and child-completed events waking the Conversation, two workflow tasks
    /// fewer per reply.
    pub const OUTBOUND_FROM_ACTIVITY: &str = "conversation-outbound-from-activity";
    /// CampaignRecipient does the same with its message's OutboundMessage.
    pub const CAMPAIGN_OUTBOUND_FROM_ACTIVITY: &str = "campaign-outbound-from-activity";
    /// OutboundMessage hands its message's receipts to the webhook, which records them in the
    /// database, and ends once sent (the inbox sweeper calls a message undelivered after its ack
    /// timeout): no signal, workflow task or timer per receipt.
    pub const RECEIPTS_IN_DATABASE: &str = "outbound-receipts-in-database";
    /// MemoryIngestion ingests each event as a local activity on the memory worker instead of an
    /// activity task: two Temporal operations fewer per ingested message.
    pub const MEMORY_INGEST_LOCAL: &str = "memory-ingest-local";
    /// CampaignRecipient reports its progress to the campaign run from a local activity instead of
    /// a signal command: the command's `ExternalWorkflowExecutionSignaled` event woke the recipient
    /// for a workflow task of its own, one per recipient, for nothing.
    pub const CAMPAIGN_PROGRESS_FROM_ACTIVITY: &str = "campaign-progress-from-activity";
    /// OutboundMessage sends a Conversation's reply from a local activity in its first workflow
    /// task (`OutboundInput::send_local`) instead of an activity task: two Temporal operations
    /// (an activity task and the workflow task its completion wakes) fewer per reply.
    pub const OUTBOUND_SEND_LOCAL: &str = "outbound-send-local";
    /// Conversation sends its reply from a local activity of its own workflow task and starts an
    /// OutboundMessage only when that one attempt fails for a reason a retry could fix: one
    /// workflow start per greeted message where there were two.
    pub const REPLY_SENT_INLINE: &str = "conversation-reply-sent-inline";
    /// CampaignRecipient does the same with its message: one workflow start per recipient where
    /// there were two.
    pub const CAMPAIGN_SEND_INLINE: &str = "campaign-send-inline";
}

pub mod names {
    /// The default task queue that the worker polls.
    pub const DEFAULT_TASK_QUEUE: &str = "ventros";

    pub const CONVERSATION_WORKFLOW: &str = "Conversation";
    pub const OUTBOUND_MESSAGE_WORKFLOW: &str = "OutboundMessage";
    pub const MEMORY_INGESTION_WORKFLOW: &str = "MemoryIngestion";
    pub const MEMORY_SHARD_WORKFLOW: &str = "MemoryShard";
    pub const REEMBED_MEMORIES_WORKFLOW: &str = "ReembedMemories";
    pub const KNOWLEDGE_INGESTION_WORKFLOW: &str = "KnowledgeIngestion";
    pub const CONTACT_MERGE_WORKFLOW: &str = "ContactMerge";
    pub const WEBHOOK_DELIVERY_WORKFLOW: &str = "WebhookDelivery";
    pub const INBOX_SWEEP_WORKFLOW: &str = "InboxSweep";
    pub const CAMPAIGN_WORKFLOW: &str = "Campaign";
    pub const CAMPAIGN_RECIPIENT_WORKFLOW: &str = "CampaignRecipient";
    pub const FOLLOW_UP_TASK_WORKFLOW: &str = "FollowUpTask";

    pub const SIGNAL_INBOUND: &str = "inbound";
    pub const SIGNAL_ACK: &str = "ack";
    pub const SIGNAL_MEMORY_EVENT: &str = "memory_event";
    /// MemoryShard: a batch of outbox events for the shard's contacts.
    pub const SIGNAL_MEMORY_EVENTS: &str = "memory_events";
    pub const QUERY_STATE: &str = "state";
    pub const UPDATE_TAKEOVER: &str = "takeover";
    pub const UPDATE_HANDBACK: &str = "handback";
    /// Conversation: an operator moves it to open, pending, snoozed or resolved.
    pub const UPDATE_SET_LIFECYCLE: &str = "set_lifecycle";
    /// Conversation: send an operator's reply (recorded by the API) through this chat.
    pub const UPDATE_OPERATOR_REPLY: &str = "operator_reply";
    /// Conversation: an operator reopens it.
    pub const UPDATE_REOPEN: &str = "reopen";
    /// Campaign: pause, resume or cancel (from the API).
    pub const SIGNAL_CAMPAIGN_CONTROL: &str = "control";
    /// Campaign: a recipient finished preparing (skipped, parked until its send time, or handed to
    /// OutboundMessage), so the next one may start.
    pub const SIGNAL_RECIPIENT_PROGRESS: &str = "recipient_progress";
    /// CampaignRecipient: the contact answered within the attribution window (from Conversation).
    pub const SIGNAL_CAMPAIGN_REPLIED: &str = "replied";
    /// CampaignRecipient: look again (the campaign was resumed or cancelled while it was held).
    pub const SIGNAL_CAMPAIGN_WAKE: &str = "wake";
    /// FollowUpTask: the task's due time, status or assignee changed; read it again.
    pub const SIGNAL_TASK_CHANGED: &str = "changed";

    pub const ACTIVITY_PERSIST_INBOUND: &str = "conversation.persist_inbound";
    pub const ACTIVITY_PLAN_AUTO_REPLY: &str = "conversation.plan_auto_reply";
    pub const ACTIVITY_SET_ASSIGNMENT: &str = "conversation.set_assignment";
    pub const ACTIVITY_CLOSE_SESSION: &str = "conversation.close_session";
    pub const ACTIVITY_SET_LIFECYCLE: &str = "conversation.set_lifecycle";
    pub const ACTIVITY_ATTACH_REPLY: &str = "conversation.attach_operator_reply";
    pub const ACTIVITY_SEND_OUTBOUND: &str = "outbound.send";
    pub const ACTIVITY_START_OUTBOUND: &str = "outbound.start";
    pub const ACTIVITY_HAND_OVER: &str = "outbound.hand_over";
    pub const ACTIVITY_INBOX_SWEEP: &str = "inbox.sweep";
    pub const ACTIVITY_RECORD_STATUS: &str = "outbound.record_status";
    pub const ACTIVITY_AGENT_PRESENCE: &str = "agent.presence";
    pub const ACTIVITY_AGENT_EXECUTE: &str = "agent.execute";
    pub const ACTIVITY_AGENT_APPLY_ACTIONS: &str = "agent.apply_actions";
    pub const ACTIVITY_MEMORY_INGEST_EVENT: &str = "memory.ingest_event";
    pub const ACTIVITY_MEMORY_REEMBED_BATCH: &str = "memory.reembed_batch";
    pub const ACTIVITY_KNOWLEDGE_INDEX: &str = "knowledge.index_document";
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
    pub const ACTIVITY_CAMPAIGN_REPORT_PROGRESS: &str = "campaign.report_progress";
    pub const ACTIVITY_TASK_FIRE: &str = "tasks.fire";
    pub const ACTIVITY_MEDIA_FETCH: &str = "media.fetch_inbound";

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

    /// `memory:{tenant}:{contact}`: one ingestion queue per contact, so facts apply in order
    /// (the feed's target until MemoryShard).
    pub fn memory_ingestion_workflow_id(tenant_id: Uuid, contact_id: Uuid) -> String {
        format!("memory:{tenant_id}:{contact_id}")
    }

    /// Which of a tenant's `shards` ingestion queues takes a contact's events: always the same
    /// one for the same count, so that a contact's events apply in order. The low bits of a
    /// UUIDv7 are random, which spreads contacts evenly.
    pub fn memory_shard_of(contact_id: Uuid, shards: u32) -> u32 {
        (contact_id.as_u128() % u128::from(shards.max(1))) as u32
    }

    /// The worker's default `MEMORY_SHARDS`.
    pub const DEFAULT_MEMORY_SHARDS: u32 = 4;

    /// `memory-shard:{tenant}:{shard}`: one of a tenant's long-lived ingestion queues.
    pub fn memory_shard_workflow_id(tenant_id: Uuid, shard: u32) -> String {
        format!("memory-shard:{tenant_id}:{shard}")
    }

    /// One run per uploaded version: a re-upload starts its own, and the older one finds itself
    /// superseded.
    pub fn knowledge_ingestion_workflow_id(
        tenant_id: Uuid,
        document_id: Uuid,
        version: i32,
    ) -> String {
        format!("knowledge-{tenant_id}-{document_id}-v{version}")
    }

    /// `task:{tenant}:{task}`: one timer per follow-up task (a new run after a reschedule).
    pub fn follow_up_task_workflow_id(tenant_id: Uuid, task_id: Uuid) -> String {
        format!("task:{tenant_id}:{task_id}")
    }

    /// `memory-reembed:{model}`: at most one re-embedding per target model.
    pub fn reembed_workflow_id(model: &str) -> String {
        format!("memory-reembed:{model}")
    }
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
    /// Records the conversation's lifecycle state (open, pending, snoozed).
    SetLifecycle: names::ACTIVITY_SET_LIFECYCLE, SetLifecycleInput => ();
    /// Puts an operator reply in the chat's open session, reopening or opening one if needed.
    AttachOperatorReply: names::ACTIVITY_ATTACH_REPLY, AttachReplyInput => AttachReplyOutput;
    /// Starts a reply's OutboundMessage workflow (its id is the message's: a repeated start finds the
    /// first, running or closed, and starts nothing).
    StartOutbound: names::ACTIVITY_START_OUTBOUND, OutboundInput => ();
    /// Sends a pending outbound message through its channel's provider, if the calling workflow is
    /// the one the message names (`messages.handled_by_workflow`).
    SendOutbound: names::ACTIVITY_SEND_OUTBOUND, SendOutboundInput => SendOutboundOutput;
    /// Makes a message's OutboundMessage the one workflow that may send it (from the workflow that
    /// tried it first).
    HandOverSend: names::ACTIVITY_HAND_OVER, HandOverInput => ();
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
    /// Reads, cuts, embeds and indexes one version of a knowledge document (replacing its passages).
    KnowledgeIndexDocument: names::ACTIVITY_KNOWLEDGE_INDEX, KnowledgeIngestionInput => KnowledgeIndexOutput;
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
    /// Signals a recipient's progress to its campaign run (a run that has ended takes nothing).
    CampaignReportProgress: names::ACTIVITY_CAMPAIGN_REPORT_PROGRESS, ReportProgressInput => ();
    /// Reads a follow-up task: wait until its due time, or announce `task.due` (once) and finish.
    TaskFire: names::ACTIVITY_TASK_FIRE, FollowUpTaskInput => TaskTimer;
    /// Fetches an inbound message's files from the provider into object storage (type from the
    /// bytes, size limit, checksum), transcribing voice notes where a model is configured.
    MediaFetchInbound: names::ACTIVITY_MEDIA_FETCH, MediaFetchInput => MediaFetchOutput;
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
    fn a_contact_always_maps_to_the_same_memory_shard_and_contacts_spread() {
        let shards = ids::DEFAULT_MEMORY_SHARDS;
        let mut seen = vec![0usize; shards as usize];
        for i in 0..400u128 {
            // UUIDv7-like: a timestamp in the high bits, random-looking low bits.
            let contact =
                Uuid::from_u128((0x0190_0000u128 << 96) | i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let shard = ids::memory_shard_of(contact, shards);
            assert_eq!(shard, ids::memory_shard_of(contact, shards));
            seen[shard as usize] += 1;
        }
        assert!(seen.iter().all(|n| *n > 50), "{seen:?}");
        assert_eq!(
            ids::memory_shard_of(Uuid::from_u128(7), 0),
            0,
            "zero shards means one"
        );
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
