//! The Campaign and CampaignRecipient workflows and their activities.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

/// A recipient's progress, sent to its campaign run by a local activity (`campaign.report_progress`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReportProgressInput {
    pub tenant_id: Uuid,
    /// The Campaign workflow's id (its current run takes the signal).
    pub campaign_workflow_id: String,
    pub progress: RecipientProgress,
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
