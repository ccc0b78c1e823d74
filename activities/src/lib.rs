//! Ventros activities: every side effect the workflows need, each idempotent.
//!
//! - [`acts`]: the activity implementations registered with the worker.
//! - the SQL they run is `ventros-store`: one transaction each, with the outbox written alongside.
//! - [`agents`]: the client for the Python agent service (AgentService over gRPC).
//! - [`contacts`]: the steps of a contact merge.
//! - [`media`]: customers' files, fetched into object storage (and voice notes transcribed).
//! - [`outbound_webhooks`]: signed deliveries to tenants' webhook subscribers, and the fan-out.
//! - [`polling`]: the loop behind the outbox consumers.
//! - [`tasks`]: follow-up tasks' timers (the activity and the loop that starts them).
//! - [`segments`]: which contacts a segment filter selects (API previews, campaign resolution).
//!
//! The messaging providers (WAHA, Messenger, Instagram), the channel settings and the egress
//! guard live in `ventros-channels`; the memory engine and MemoryService in `ventros-memory`, so
//! that what links this one (the API) does not link the embedding model.

pub mod acts;
pub mod agents;
pub mod campaign_progress;
pub mod campaigns;
pub mod contacts;
pub mod identities;
pub mod inbox;
pub mod internal_auth;
pub mod media;
pub mod metrics;
pub mod outbound_start;
pub mod outbound_webhooks;
pub mod pacing;
pub mod polling;
pub mod segments;
pub mod settings;
pub mod tasks;

pub mod telemetry;
pub mod traces;

pub use acts::ConversationActivities;
pub use campaigns::CampaignActivities;
pub use contacts::ContactActivities;
pub use outbound_webhooks::WebhookActivities;
pub use tasks::TaskActivities;
