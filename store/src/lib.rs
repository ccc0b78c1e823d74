//! The SQL behind the activities (and the few API paths that share it: outbox events, provider ids,
//! the default pipeline). Each function is one transaction and is idempotent: running it again
//! after a crash (Temporal retries activities) finds its own earlier work and answers the same way.
//! Every state change writes its outbox event in the same transaction.
//!
//! A crate of its own so the rules over the database are one dependency, below the activities
//! (Temporal, providers, the agent client) and the API, and compiled without either.

use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;
use ventros_domain::EventType;

use ventros_channels::channel::ChannelSettings;
use ventros_channels::provider::ProviderConfig;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Data that can never be processed (a corrupt inbox row, a missing channel): retrying
    /// cannot help.
    #[error("{0}")]
    Invalid(String),
}

/// Appends a domain event to the outbox inside the caller's transaction.
pub async fn append_outbox(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    event_type: EventType,
    aggregate_type: &str,
    aggregate_id: Uuid,
    payload: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO outbox_events (tenant_id, event_type, aggregate_type, aggregate_id, payload)
         VALUES ($1, $2, $3, $4, $5)",
        tenant_id,
        event_type.as_str(),
        aggregate_type,
        aggregate_id,
        payload,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A channel's row, decoded.
#[derive(Debug, Clone)]
pub struct ChannelRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: String,
    pub provider: ProviderConfig,
    pub settings: ChannelSettings,
}

pub async fn load_channel(
    pool: &PgPool,
    tenant_id: Uuid,
    channel_id: Uuid,
) -> Result<ChannelRow, StoreError> {
    let row = sqlx::query!(
        "SELECT id, tenant_id, kind, provider_config, settings FROM channels WHERE id = $1 AND tenant_id = $2",
        channel_id,
        tenant_id,
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| StoreError::Invalid(format!("channel {channel_id} does not exist")))?;
    ChannelRow::decode(
        row.id,
        row.tenant_id,
        row.kind,
        row.provider_config,
        row.settings,
    )
}

impl ChannelRow {
    /// The row with its provider settings and channel settings parsed.
    pub fn decode(
        id: Uuid,
        tenant_id: Uuid,
        kind: String,
        provider: Value,
        settings: Value,
    ) -> Result<ChannelRow, StoreError> {
        let provider = ProviderConfig::decode(&kind, provider)
            .map_err(|e| StoreError::Invalid(format!("channel {e}")))?;
        Ok(ChannelRow {
            id,
            tenant_id,
            kind,
            provider,
            settings: serde_json::from_value(settings)
                .map_err(|e| StoreError::Invalid(format!("channel settings: {e}")))?,
        })
    }
}

mod agent_runs;
mod inbound;
mod lifecycle;
pub mod media;
mod outbound;
mod pipelines;
mod replies;
mod sessions;
pub mod tickets;

pub use agent_runs::{
    AgentAnswer, AgentBurst, SUPPORTED_LANGUAGES, agent_burst, agent_run, apply_agent_actions,
    record_agent_run,
};
pub use inbound::{persist_inbound, upsert_contact};
pub use lifecycle::{attach_operator_reply, set_lifecycle};
pub use outbound::{
    OutboundFile, OutboundRow, ReceiptsTo, clear_send_attempt, first_unrecorded, hand_over_send,
    load_outbound, lock_provider_id, mark_send_attempt, record_sent, record_sent_in, record_status,
    record_status_in, settle_overdue_deliveries,
};
pub use pipelines::default_pipeline;
pub use replies::{compose_operator_message, plan_auto_reply};
pub use sessions::{close_session, session_chat, set_assignment};
