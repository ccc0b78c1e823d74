//! The operator's side of a conversation: open, pending, snoozed until a time, resolved; operator
//! replies that go through the chat's Conversation (so a reply keeps the session, its inactivity
//! timer and its order), and the activities that record them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a conversation stands for the team (the inbox filters and counts by it).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Needs the team (or the bot) now.
    #[default]
    Open,
    /// Waiting on someone (usually the customer); back to open when the customer writes.
    Pending,
    /// Out of the way until a time; back to open then, or when the customer writes.
    Snoozed,
    /// Done: the session is closed. The customer's next message opens a new one.
    Resolved,
}

impl Lifecycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Open => "open",
            Lifecycle::Pending => "pending",
            Lifecycle::Snoozed => "snoozed",
            Lifecycle::Resolved => "resolved",
        }
    }
}

/// Argument of the `set_lifecycle` update.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LifecycleRequest {
    pub state: Lifecycle,
    /// Milliseconds since the epoch; required for `snoozed` (the API checks it is in the future).
    #[serde(default)]
    pub snoozed_until_ms: Option<i64>,
    /// `user:<id>` or `api_key:<id>`.
    #[serde(default)]
    pub by: Option<String>,
}

/// An operator reply the API recorded (`outbound_requests` row), for the Conversation to send:
/// the argument of the `operator_reply` update.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct OperatorReply {
    pub request_id: Uuid,
}

/// Argument of the `reopen` update: bring a resolved conversation back (update-with-start, as its
/// run has ended), or an open one back from pending or snoozed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReopenRequest {
    pub session_id: Uuid,
    #[serde(default)]
    pub by: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SetLifecycleInput {
    pub tenant_id: Uuid,
    pub session_id: Uuid,
    pub state: Lifecycle,
    pub snoozed_until_ms: Option<i64>,
    pub by: Option<String>,
    /// What moved it: `operator`, `customer_wrote` or `snooze_ended`.
    pub cause: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttachReplyInput {
    pub tenant_id: Uuid,
    pub channel_id: Uuid,
    pub workflow_id: String,
    /// The operator reply to put in the open session; none for a reopen without a reply.
    pub request_id: Option<Uuid>,
    /// Reopen: the resolved session an operator asked to bring back (the chat is found by it).
    #[serde(default)]
    pub reopen_session_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttachReplyOutput {
    /// The open session the reply now belongs to.
    pub session_id: Uuid,
    pub contact_id: Uuid,
    /// True when the reply reopened a resolved session or opened a new one.
    pub session_opened: bool,
}
