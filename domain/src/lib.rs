//! The vocabulary Ventros shares across processes and with its users, defined once.
//!
//! A name that crosses a boundary (a database row another process reads, a webhook a customer's
//! system receives, the live stream the web app listens to) is a contract: spelled as a string in
//! several places, a typo is a silent bug. Here each such name is an enum variant; the string is
//! written exactly once, beside it, and the OpenAPI document publishes the same list.
//!
//! This crate has no I/O and few dependencies (sqlx only for its `Type` derive; Lingua's models
//! for [`language::language_of`], which the linker leaves out of a binary that never calls it), so
//! every other crate can use it.

pub mod events;
pub mod language;
pub mod statuses;

pub use events::EventType;
pub use statuses::{
    AssignedTo, CampaignRunStatus, CampaignStatus, ConversationState, DealStatus, Direction,
    IdentityKind, KnowledgeFormat, KnowledgeStatus, MergeStatus, MessageStatus, RecipientStatus,
    SessionStatus, TaskStatus, TicketKind, TicketStatus, WebhookDeliveryStatus,
};
