//! The FollowUpTask workflow: a follow-up task's durable timer.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Which task a FollowUpTask workflow times.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FollowUpTaskInput {
    pub tenant_id: Uuid,
    pub task_id: Uuid,
}

/// What the timer does next, as the task's row says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "next", rename_all = "snake_case")]
pub enum TaskTimer {
    /// Open and not due yet: sleep until then (or until the task changes).
    WaitUntil { due_at_ms: i64 },
    /// Announced, completed, cancelled or deleted: nothing left to time.
    Finished,
}
