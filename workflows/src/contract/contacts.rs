//! The ContactMerge workflow: its steps and inputs.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
