//! Ventros workflows: pure orchestration, replayed deterministically by Temporal.
//!
//! This crate has no I/O dependencies on purpose. Workflow code reads time only through
//! `ctx.workflow_time()`, randomness only through `ctx.uuid4()`, and reaches the world only through
//! activities (implemented in `ventros-activities`) and child workflows. `clippy.toml` beside this
//! crate forbids the usual ways of breaking that rule.
//!
//! [`contract`] is the vocabulary shared with the API and the worker.

pub mod campaigns;
pub mod contacts;
pub mod contract;
pub mod conversation;
pub mod decisions;
pub mod knowledge;
pub mod memory;
pub mod memory_shard;
pub mod outbound;
mod retry;
pub mod tasks;
pub mod webhooks;

pub use campaigns::{Campaign, CampaignRecipient};
pub use contacts::ContactMerge;
pub use contract::*;
pub use conversation::Conversation;
pub use knowledge::KnowledgeIngestion;
pub use memory::{MemoryIngestion, ReembedMemories};
pub use memory_shard::MemoryShard;
pub use outbound::OutboundMessage;
pub use tasks::FollowUpTask;
pub use webhooks::{InboxSweep, WebhookDelivery};
