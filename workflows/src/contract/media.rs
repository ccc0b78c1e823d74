//! The inbound media activity: one message's files, fetched from the provider into storage.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Attempts of the fetch activity; the last one records what it could not fetch as failed.
pub const MEDIA_FETCH_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MediaFetchInput {
    pub tenant_id: Uuid,
    pub channel_id: Uuid,
    pub message_id: Uuid,
}

/// How the message's files ended. A file the provider cannot give is `failed` with its reason
/// (shown to the operator); the conversation goes on either way.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct MediaFetchOutput {
    pub stored: u32,
    pub failed: u32,
    pub transcribed: u32,
}
