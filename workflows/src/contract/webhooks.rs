//! The WebhookDelivery workflow: one outbound webhook delivery and its attempts.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One outbound webhook delivery, retried with backoff until the receiver answers 2xx or the
/// attempts run out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookDeliveryInput {
    pub tenant_id: Uuid,
    pub delivery_id: Uuid,
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookAttemptInput {
    pub tenant_id: Uuid,
    pub delivery_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookOutcome {
    pub delivery_id: Uuid,
    pub delivered: bool,
}
