//! Ventros channels: how the CRM talks to the messaging providers, with no SQL and no Temporal.
//!
//! Kept apart from the activities so that the wire contracts (checked against WAHA's and Meta's
//! documentation) and the egress policy can be read and tested on their own, and so that the API
//! and the simulators can use the wire types without linking the activity code.
//!
//! - [`attachments`]: the files, locations and contact cards of customers' messages.
//! - [`provider`]: the channel abstraction (send, seen, typing, inbound normalisation) over
//!   WAHA, Messenger and Instagram.
//! - [`waha`]: WAHA's wire types and the HTTP client we send with.
//! - [`meta`]: Messenger and Instagram: webhook types, signature, the Graph Send API client.
//! - [`channel`]: channel configuration (provider settings, auto-reply rules, timing, AI replies,
//!   campaign pacing).
//! - [`net_guard`]: where tenant-given addresses may point (no loopback, private or metadata
//!   addresses unless the operator allows them).

pub mod attachments;
pub mod channel;
pub mod media_fetch;
pub mod meta;
pub mod net_guard;
pub mod provider;
pub mod waha;
pub mod waha_sessions;
