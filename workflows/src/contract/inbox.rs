//! The InboxSweep workflow: one pass of the sweeper.

use serde::{Deserialize, Serialize};

/// One pass of the inbox sweeper: stored webhooks older than `older_than_secs` that no
/// Conversation has processed are handed to Temporal again (at most `limit`), and sent messages
/// past their delivery due time are called undelivered (at most `limit`).
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
    /// Sent messages whose ack timeout passed without a delivery receipt, now `undelivered`
    /// (those whose OutboundMessage handed its receipts to the webhook).
    #[serde(default)]
    pub undelivered: u32,
}
