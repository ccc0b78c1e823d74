//! The OutboundMessage workflow: delivery statuses, inputs, the receipt signal, send results.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
    /// Send from a local activity inside the workflow's first task (a Conversation's replies): the
    /// run costs Temporal a start and one workflow task instead of a start, two workflow tasks and
    /// an activity task. Not for campaign messages, which pause seconds for "typing…" before they
    /// are sent: that pause belongs in an activity slot, not in a workflow task.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub send_local: bool,
    /// The trace of the customer's message this work is for (see `contract::trace`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::lenient_trace"
    )]
    pub trace: Option<super::TraceContext>,
}

/// Writes an operator reply (the `outbound_requests` row `message_id`) as a pending message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ComposeOperatorInput {
    pub tenant_id: Uuid,
    pub message_id: Uuid,
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
    /// The run does not follow receipts: the send hands them to the webhook (clears the message's
    /// `receipts_in_workflow`) before it calls the provider.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub receipts_in_database: bool,
    /// The trace of the customer's message this work is for (see `contract::trace`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::lenient_trace"
    )]
    pub trace: Option<super::TraceContext>,
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

/// A message its own workflow (a Conversation's reply, a campaign recipient's message) could not
/// send at the first attempt goes to the message's OutboundMessage: from then on only that
/// workflow may send it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HandOverInput {
    pub tenant_id: Uuid,
    pub message_id: Uuid,
    /// The workflow that holds the message until now.
    pub from_workflow_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordStatusInput {
    pub tenant_id: Uuid,
    pub message_id: Uuid,
    pub status: DeliveryStatus,
    pub reason: Option<String>,
}
