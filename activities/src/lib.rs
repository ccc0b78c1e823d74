//! Ventros activities: every side effect the workflows need, each idempotent.
//!
//! - [`acts`]: the activity implementations registered with the worker.
//! - [`store`]: the SQL they run, one transaction each, with the outbox written alongside.
//! - [`provider`]: the channel abstraction (send, seen, typing, inbound normalisation) over
//!   WAHA, Messenger and Instagram.
//! - [`waha`]: WAHA's wire types and the HTTP client we send with.
//! - [`meta`]: Messenger and Instagram: webhook types, signature, the Graph Send API client.
//! - [`channel`]: channel configuration (provider settings, auto-reply rules, timing, AI replies).
//! - [`agents`]: the client for the Python agent service (AgentService over gRPC).
//! - [`contacts`]: the steps of a contact merge.
//! - [`outbound_webhooks`]: signed deliveries to tenants' webhook subscribers, and the fan-out.
//! - [`polling`]: the loop behind the outbox consumers.
//! - [`segments`]: which contacts a segment filter selects (API previews, campaign resolution).
//!
//! The memory engine and MemoryService live in their own crate (`ventros-memory`), so that what
//! links this one (the API) does not link the embedding model.

pub mod acts;
pub mod agents;
pub mod campaigns;
pub mod channel;
pub mod contacts;
pub mod identities;
pub mod inbox;
pub mod internal_auth;
pub mod meta;
pub mod net_guard;
pub mod outbound_webhooks;
pub mod pacing;
pub mod polling;
pub mod provider;
pub mod segments;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod waha;

pub use acts::ConversationActivities;
pub use campaigns::CampaignActivities;
pub use contacts::ContactActivities;
pub use outbound_webhooks::WebhookActivities;
