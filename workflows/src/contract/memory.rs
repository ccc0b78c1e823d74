//! Inputs and outputs of MemoryIngestion and ReembedMemories and their activities.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

/// Input of MemoryShard: one of a tenant's ingestion queues. `carried` is set only by
/// continue-as-new.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemoryShardInput {
    pub tenant_id: Uuid,
    pub shard: u32,
    #[serde(default)]
    pub carried: Option<CarriedShard>,
}

/// An outbox event for a shard: which contact it is about, and what it is (ids only).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShardEvent {
    pub event_id: i64,
    pub contact_id: Uuid,
    pub event_type: String,
}

/// The events one pass of the memory feed found for a shard, in outbox order.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MemoryEventsSignal {
    pub events: Vec<ShardEvent>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CarriedShard {
    pub pending: Vec<ShardEvent>,
    pub seen_event_ids: Vec<i64>,
    pub stats: MemoryIngestionStats,
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

// Knowledge
// ---------------------------------------------------------------------------------------------

/// Input of KnowledgeIngestion and of its activity: one uploaded version of a document.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KnowledgeIngestionInput {
    pub tenant_id: Uuid,
    pub document_id: Uuid,
    pub version: i32,
}

/// What indexing a version came to: `indexed`, `failed` (the source cannot be read; the document
/// says why), `superseded` (a newer version was uploaded) or `gone` (the document was deleted).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct KnowledgeIndexOutput {
    pub outcome: String,
    pub passages: u64,
}
