//! The inbound webhook inbox and its hand-over to Temporal, shared by the API (which hands each
//! webhook over as it arrives) and the sweeper (which hands over again what never arrived).
//!
//! Why a sweeper: the API answers 2xx only once Temporal has the event and 503 otherwise, so the
//! provider retries. A provider that gives up (WAHA's retries are finite, many setups have none)
//! left the stored row unprocessed forever. The InboxSweep workflow, started by a Temporal
//! Schedule, re-drives rows older than a threshold that no Conversation has processed; the
//! Conversation ignores inbox ids it has seen and storing is idempotent, so a re-drive that races
//! the original costs nothing.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use temporalio_client::{Client, WorkflowStartOptions};
use temporalio_common::search_attributes::SearchAttributes;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use uuid::Uuid;
use ventros_workflows::contract::{InboxSweepInput, InboxSweepOutput, activities as defs};
use ventros_workflows::{
    CHANNEL_ID_ATTRIBUTE, Conversation, ConversationInput, InboundSignal, TENANT_ID_ATTRIBUTE, ids,
};

use ventros_channels::provider::normalise_inbound;

/// The search attributes a chat's Conversation starts with (whoever starts it).
pub fn conversation_search_attributes(tenant_id: Uuid, channel_id: Uuid) -> SearchAttributes {
    SearchAttributes::new([
        TENANT_ID_ATTRIBUTE.value_set(tenant_id.to_string()),
        CHANNEL_ID_ATTRIBUTE.value_set(channel_id.to_string()),
    ])
}

/// Signals-with-start the chat's Conversation with one stored inbound message.
pub async fn signal_conversation(
    client: &Client,
    task_queue: &str,
    tenant_id: Uuid,
    channel_id: Uuid,
    chat_id: &str,
    signal: InboundSignal,
) -> Result<String, temporalio_client::errors::WorkflowStartError> {
    let chat_key = ids::chat_key(tenant_id, channel_id, chat_id);
    let workflow_id = ids::conversation_workflow_id(tenant_id, channel_id, &chat_key);
    let input = ConversationInput {
        tenant_id,
        channel_id,
        chat_key,
        carried: None,
    };
    let options = WorkflowStartOptions::new(task_queue.to_owned(), workflow_id.clone())
        .search_attributes(conversation_search_attributes(tenant_id, channel_id))
        .build();
    client
        .signal_with_start_workflow(
            Conversation::run,
            input,
            Conversation::inbound,
            signal,
            options,
        )
        .await?;
    Ok(workflow_id)
}

pub struct InboxActivities {
    pool: PgPool,
    client: Client,
    task_queue: String,
}

impl InboxActivities {
    pub fn new(pool: PgPool, client: Client, task_queue: String) -> Self {
        InboxActivities {
            pool,
            client,
            task_queue,
        }
    }
}

fn retryable(err: impl std::fmt::Display) -> ActivityError {
    ActivityError::from(anyhow::anyhow!(err.to_string()))
}

#[activities]
impl InboxActivities {
    #[activity(definition = defs::SweepInbox)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = crate::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = crate::telemetry::tenant_of(&input)))]
    pub async fn sweep_inbox(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: InboxSweepInput,
    ) -> Result<InboxSweepOutput, ActivityError> {
        let rows = sqlx::query!(
            "SELECT i.id, i.tenant_id, i.channel_id, c.kind, i.payload FROM webhook_inbox i JOIN channels c ON c.id = i.channel_id
              WHERE i.processed_at IS NULL AND i.event = 'message' AND i.received_at < now() - make_interval(secs => $1)
              ORDER BY i.received_at LIMIT $2",
            input.older_than_secs as f64,
            i64::from(input.limit),
        )
        .fetch_all(&self.pool)
        .await
        .map_err(retryable)?;
        let mut out = InboxSweepOutput::default();
        for row in rows {
            let (inbox_id, tenant_id, channel_id) = (row.id, row.tenant_id, row.channel_id);
            let Ok(message) = normalise_inbound(&row.kind, row.payload) else {
                tracing::warn!(inbox.id = %inbox_id, "stranded inbox row cannot be read; left for an operator");
                out.unreadable += 1;
                continue;
            };
            let signal = InboundSignal {
                inbox_id,
                provider_ts_ms: message.timestamp.timestamp_millis(),
                // The webhook's trace ended long ago: the sweep's hand-off starts its own.
                trace: None,
            };
            let handed = tokio::time::timeout(
                Duration::from_secs(10),
                signal_conversation(
                    &self.client,
                    &self.task_queue,
                    tenant_id,
                    channel_id,
                    &message.sender,
                    signal,
                ),
            )
            .await;
            match handed {
                Ok(Ok(workflow_id)) => {
                    tracing::info!(inbox.id = %inbox_id, workflow.id = %workflow_id, "stranded inbound message re-driven");
                    out.redriven += 1;
                }
                Ok(Err(err)) => {
                    return Err(retryable(format!("re-driving inbox row {inbox_id}: {err}")));
                }
                Err(_) => {
                    return Err(retryable(format!(
                        "re-driving inbox row {inbox_id}: Temporal did not answer"
                    )));
                }
            }
        }
        out.undelivered =
            ventros_store::settle_overdue_deliveries(&self.pool, i64::from(input.limit))
                .await
                .map_err(retryable)?;
        Ok(out)
    }
}
