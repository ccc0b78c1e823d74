//! From CRM events to memory: the MemoryIngestion workflow's activities, and the feed that hands
//! outbox events to that workflow.
//!
//! The outbox is written in the same transaction as the change it describes, so the feed sees
//! every message, session close, deal move and tag exactly as committed. It signal-with-starts the
//! MemoryShard workflow that holds the contact (one of a few per tenant) with the event ids of a
//! pass and only then marks the events fed; a crash in between re-sends the signal, which the
//! workflow and the episode's unique key absorb. (Until MemoryShard, each contact had a
//! MemoryIngestion workflow of its own; runs of it still open finish what they hold.)
//!
//! What becomes what:
//! - inbound message → a memory (typed: purchase, support_ticket, preference, conversation) plus
//!   the facts the customer states about themselves;
//! - outbound message → an episode only: our own words often quote retrieved memories, and
//!   re-ingesting them would echo old context back as new facts (junk control);
//! - session closed → a summary memory of what the customer said in it;
//! - deal created / stage changed / won, tag added, attribute changed → facts directly, no model.

use std::sync::Arc;
use std::time::Duration;
use ventros_domain::events::UnknownEventType;
use ventros_domain::{Direction, EventType};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use temporalio_client::Client;
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use uuid::Uuid;
use ventros_workflows::contract::{activities as defs, *};

use crate::engine::{EntityRef, Episode, FactInput, MemoryEngine, MemoryError};

/// Outbox event types the feed forwards (the partial index in 0003_memory.sql lists the same).
mod episodes;
pub use episodes::episode_for_event;

pub const FED_EVENT_TYPES: &[EventType] = &[
    EventType::MessageReceived,
    EventType::MessageSent,
    EventType::SessionClosed,
    EventType::DealCreated,
    EventType::DealStageChanged,
    EventType::ContactTagged,
    EventType::ContactUpdated,
    EventType::NoteAdded,
    EventType::MessageMediaStored,
];

/// Origins of sent messages whose text is ours and says nothing of the contact: the channel's
/// greeting and away templates and a campaign's broadcast. Their `message.sent` events are taken
/// off the outbox without waking the contact's MemoryIngestion: each one cost a signal, a
/// workflow task and an activity (of about twenty Temporal operations a greeted message takes),
/// to store an episode that memory never reads facts from. Agents' and operators' replies are
/// still kept as episodes.
pub const UNREMEMBERED_ORIGINS: &[&str] = &["greeting", "away", "campaign"];

/// The activities behind MemoryIngestion, ReembedMemories and KnowledgeIngestion.
pub struct MemoryActivities {
    engine: Arc<MemoryEngine>,
}

impl MemoryActivities {
    pub fn new(engine: Arc<MemoryEngine>) -> Self {
        MemoryActivities { engine }
    }
}

fn memory_failure(err: MemoryError) -> ActivityError {
    match err {
        MemoryError::Invalid(reason) | MemoryError::NotFound(reason) => {
            tracing::error!(error.kind = "invalid", %reason, "memory activity failed permanently");
            ActivityError::application(ApplicationFailure::non_retryable(reason))
        }
        other => {
            tracing::warn!(error = %other, "memory activity attempt failed; Temporal will retry");
            ActivityError::from(anyhow::Error::new(other))
        }
    }
}

#[activities]
impl MemoryActivities {
    #[activity(definition = defs::MemoryIngestEvent)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = ventros_activities::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = ventros_activities::telemetry::tenant_of(&input)))]
    pub async fn ingest_event(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: IngestEventInput,
    ) -> Result<IngestEventOutput, ActivityError> {
        let Some(episode) = episode_for_event(self.engine.pool(), &input)
            .await
            .map_err(memory_failure)?
        else {
            // The event's subject is gone (deleted contact or message): nothing to remember.
            return Ok(IngestEventOutput {
                already_ingested: true,
                ..Default::default()
            });
        };
        let outcome = self.engine.ingest(&episode).await.map_err(memory_failure)?;
        tracing::info!(
            tenant.id = %input.tenant_id,
            contact.id = %input.contact_id,
            event.id = input.event_id,
            episode.kind = episode.kind,
            already = outcome.already_ingested,
            facts.added = outcome.facts_added,
            facts.invalidated = outcome.facts_invalidated,
            "memory episode ingested"
        );
        Ok(IngestEventOutput {
            already_ingested: outcome.already_ingested,
            facts_added: outcome.facts_added as u64,
            facts_invalidated: outcome.facts_invalidated as u64,
        })
    }

    #[activity(definition = defs::MemoryReembedBatch)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = ventros_activities::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = ventros_activities::telemetry::tenant_of(&input)))]
    pub async fn reembed_batch(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ReembedBatchInput,
    ) -> Result<u64, ActivityError> {
        if input.model != self.engine.embedder().model() {
            // Another worker's model: let Temporal retry on a worker that has it.
            return Err(ActivityError::from(anyhow::anyhow!(
                "this worker embeds with {}, not {}",
                self.engine.embedder().model(),
                input.model
            )));
        }
        self.engine
            .reembed_batch(i64::from(input.batch.clamp(1, 1024)))
            .await
            .map_err(memory_failure)
    }

    #[activity(definition = defs::KnowledgeIndexDocument)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = ventros_activities::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = ventros_activities::telemetry::tenant_of(&input)))]
    pub async fn index_knowledge(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: KnowledgeIngestionInput,
    ) -> Result<KnowledgeIndexOutput, ActivityError> {
        use crate::knowledge::IndexOutcome;
        let outcome = self
            .engine
            .index_knowledge(input.tenant_id, input.document_id, input.version)
            .await
            .map_err(memory_failure)?;
        let (word, passages) = match outcome {
            IndexOutcome::Indexed { passages } => ("indexed", passages as u64),
            IndexOutcome::Failed => ("failed", 0),
            IndexOutcome::Superseded => ("superseded", 0),
            IndexOutcome::Gone => ("gone", 0),
        };
        tracing::info!(
            tenant.id = %input.tenant_id,
            document.id = %input.document_id,
            document.version = input.version,
            outcome = word,
            passages,
            "knowledge document indexed"
        );
        Ok(KnowledgeIndexOutput {
            outcome: word.to_owned(),
            passages,
        })
    }

    #[activity(definition = defs::MemoryActivateSpace)]
    #[tracing::instrument(name = "activity", skip_all, fields(workflow.id = ventros_activities::telemetry::workflow_of(&_ctx), activity.type = _ctx.info().activity_type.as_str(), tenant.id = ventros_activities::telemetry::tenant_of(&model)))]
    pub async fn activate_space(
        self: Arc<Self>,
        _ctx: ActivityContext,
        model: String,
    ) -> Result<(), ActivityError> {
        if model != self.engine.embedder().model() {
            return Err(ActivityError::from(anyhow::anyhow!(
                "this worker embeds with {}, not {model}",
                self.engine.embedder().model()
            )));
        }
        self.engine.activate_space().await.map_err(memory_failure)
    }
}

/// One pass of the memory feed: forwards up to `batch` unfed events to their tenants'
/// MemoryShard workflows (`shards` per tenant), one signal per shard with that shard's events in
/// outbox order. Returns how many events it took off the outbox.
pub async fn feed_once(
    pool: &PgPool,
    client: &Client,
    task_queue: &str,
    batch: i64,
    shards: u32,
) -> anyhow::Result<usize> {
    use std::collections::BTreeMap;

    let mut tx = pool.begin().await?;
    // SKIP LOCKED: several workers can run the feed; each event goes to one of them.
    let fed_types: Vec<&str> = FED_EVENT_TYPES.iter().map(|t| t.as_str()).collect();
    let rows = sqlx::query!(
        r#"SELECT o.id, o.tenant_id, o.event_type, m.origin AS "origin?",
                greatest(0, extract(epoch FROM clock_timestamp() - o.created_at))::float8 AS "waited!",
                coalesce(m.contact_id, s.contact_id, d.contact_id, (o.payload->>'contact_id')::uuid) AS "contact_id?"
           FROM outbox_events o
           LEFT JOIN messages m ON o.aggregate_type = 'message' AND m.id = o.aggregate_id
           LEFT JOIN conversation_sessions s ON o.aggregate_type = 'session' AND s.id = o.aggregate_id
           LEFT JOIN deals d ON o.aggregate_type = 'deal' AND d.id = o.aggregate_id
          WHERE o.memory_fed_at IS NULL AND o.event_type = ANY($1)
          ORDER BY o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED"#,
        &fed_types as &[&str],
        batch
    )
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut fed = Vec::with_capacity(rows.len());
    let mut by_shard: BTreeMap<(Uuid, u32), Vec<ShardEvent>> = BTreeMap::new();
    for row in &rows {
        fed.push(row.id);
        let Some(contact_id) = row.contact_id else {
            continue;
        };
        if row.event_type == EventType::MessageSent.as_str()
            && row
                .origin
                .as_deref()
                .is_some_and(|o| UNREMEMBERED_ORIGINS.contains(&o))
        {
            continue;
        }
        let shard = ids::memory_shard_of(contact_id, shards);
        by_shard
            .entry((row.tenant_id, shard))
            .or_default()
            .push(ShardEvent {
                event_id: row.id,
                contact_id,
                event_type: row.event_type.clone(),
            });
    }
    for ((tenant_id, shard), events) in by_shard {
        signal_shard(client, task_queue, tenant_id, shard, events).await?;
    }
    sqlx::query!(
        "UPDATE outbox_events SET memory_fed_at = now() WHERE id = ANY($1)",
        &fed
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // Once taken for good: a pass that rolls back takes the same events again.
    for row in &rows {
        ventros_activities::metrics::outbox_lag("memory", Duration::from_secs_f64(row.waited));
    }
    Ok(fed.len())
}

/// Signal-with-start of a tenant's shard: the run that is open takes the events, or a new one
/// starts with them.
async fn signal_shard(
    client: &Client,
    task_queue: &str,
    tenant_id: Uuid,
    shard: u32,
    events: Vec<ShardEvent>,
) -> anyhow::Result<()> {
    use temporalio_client::WorkflowStartOptions;
    use temporalio_common::search_attributes::SearchAttributes;
    use ventros_workflows::MemoryShard;

    let workflow_id = ids::memory_shard_workflow_id(tenant_id, shard);
    let options = WorkflowStartOptions::new(task_queue.to_owned(), workflow_id)
        .search_attributes(SearchAttributes::new([
            TENANT_ID_ATTRIBUTE.value_set(tenant_id.to_string())
        ]))
        .build();
    let input = MemoryShardInput {
        tenant_id,
        shard,
        carried: None,
    };
    tokio::time::timeout(
        Duration::from_secs(10),
        client.signal_with_start_workflow(
            MemoryShard::run,
            input,
            MemoryShard::memory_events,
            MemoryEventsSignal { events },
            options,
        ),
    )
    .await
    .map_err(|_| anyhow::anyhow!("Temporal did not answer the memory feed in time"))??;
    Ok(())
}

/// The feed loop: drains what is pending, then polls every `idle` (a cheap index-only query on a
/// partial index); backs off while Temporal or PostgreSQL are away. Runs until the task is dropped.
pub async fn run_feed(
    pool: PgPool,
    client: Client,
    task_queue: String,
    idle: Duration,
    shards: u32,
) {
    ventros_activities::polling::run_polling_loop("memory feed", idle, || {
        feed_once(&pool, &client, &task_queue, 200, shards)
    })
    .await;
}
