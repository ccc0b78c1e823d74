//! From CRM events to memory: the MemoryIngestion workflow's activities, and the feed that hands
//! outbox events to that workflow.
//!
//! The outbox is written in the same transaction as the change it describes, so the feed sees
//! every message, session close, deal move and tag exactly as committed. It signal-with-starts the
//! contact's MemoryIngestion workflow with the event id and only then marks the event fed; a crash
//! in between re-sends the signal, which the workflow and the episode's unique key absorb.
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
pub const FED_EVENT_TYPES: &[EventType] = &[
    EventType::MessageReceived,
    EventType::MessageSent,
    EventType::SessionClosed,
    EventType::DealCreated,
    EventType::DealStageChanged,
    EventType::ContactTagged,
    EventType::ContactUpdated,
];

/// The activities behind MemoryIngestion and ReembedMemories.
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

/// The contact an id stands for now. A merge leaves the folded contact as a tombstone pointing at
/// the survivor (`merged_into`, possibly several hops); an event queued for the folded contact
/// before the merge belongs to the survivor's memory.
async fn surviving_contact(
    pool: &PgPool,
    tenant_id: Uuid,
    contact_id: Uuid,
) -> Result<Uuid, MemoryError> {
    let survivor = sqlx::query_scalar!(
        "WITH RECURSIVE chain(id, next, depth) AS (
             SELECT id, merged_into, 0 FROM contacts WHERE id = $1 AND tenant_id = $2
             UNION ALL
             SELECT c.id, c.merged_into, chain.depth + 1 FROM contacts c JOIN chain ON c.id = chain.next WHERE chain.depth < 16)
         SELECT id FROM chain WHERE next IS NULL LIMIT 1",
        contact_id,
        tenant_id
    )
    .fetch_optional(pool)
    .await?
    .flatten();
    Ok(survivor.unwrap_or(contact_id))
}

/// Reads an outbox event (of this tenant and contact) and the rows it points at, as an episode.
pub async fn episode_for_event(
    pool: &PgPool,
    input: &IngestEventInput,
) -> Result<Option<Episode>, MemoryError> {
    let contact_id = surviving_contact(pool, input.tenant_id, input.contact_id).await?;
    let event = sqlx::query!(
        "SELECT event_type, aggregate_id, payload, created_at FROM outbox_events WHERE id = $1 AND tenant_id = $2",
        input.event_id,
        input.tenant_id,
    )
    .fetch_optional(pool)
    .await?;
    let Some(event) = event else {
        return Err(MemoryError::NotFound(format!(
            "outbox event {} not found",
            input.event_id
        )));
    };
    let event_type: EventType = event
        .event_type
        .parse()
        .map_err(|e: UnknownEventType| MemoryError::Invalid(e.to_string()))?;
    let (aggregate_id, payload, at) = (event.aggregate_id, event.payload, event.created_at);
    let base = |kind: &'static str,
                source_type: &str,
                source_id: String,
                role: &'static str,
                content: String,
                occurred_at| Episode {
        tenant_id: input.tenant_id,
        contact_id,
        kind,
        source_type: source_type.to_owned(),
        source_id,
        role,
        content,
        occurred_at,
        metadata: json!({"event_type": event_type}),
        remember: false,
        context: None,
        extract: false,
        facts: Vec::new(),
    };
    let episode = match event_type {
        EventType::MessageReceived | EventType::MessageSent => {
            let row = sqlx::query!(
                r#"SELECT direction AS "direction: Direction", body, coalesce(provider_timestamp, created_at) AS "at!",
                          created_at, channel_id, session_id FROM messages
                  WHERE id = $1 AND tenant_id = $2 AND contact_id = $3"#,
                aggregate_id,
                input.tenant_id,
                contact_id
            )
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let inbound = row.direction == Direction::Inbound;
            let mut episode = base(
                "message",
                "message",
                aggregate_id.to_string(),
                if inbound { "contact" } else { "agent" },
                row.body.unwrap_or_default(),
                row.at,
            );
            episode.metadata = json!({
                "message_id": aggregate_id,
                "channel_id": row.channel_id,
                "session_id": row.session_id,
                "direction": row.direction,
            });
            episode.remember = inbound;
            episode.extract = inbound;
            // The message just before this one in the session (ours or theirs), as context.
            episode.context = sqlx::query_scalar!(
                "SELECT CASE direction WHEN 'inbound' THEN 'Customer: ' ELSE 'Us: ' END || left(body, 500) FROM messages
                  WHERE session_id = $1 AND tenant_id = $2 AND id <> $3 AND body IS NOT NULL
                    AND (coalesce(provider_timestamp, created_at), created_at) < ($4, $5)
                  ORDER BY coalesce(provider_timestamp, created_at) DESC, created_at DESC LIMIT 1",
                row.session_id,
                input.tenant_id,
                aggregate_id,
                row.at,
                row.created_at
            )
            .fetch_optional(pool)
            .await?
            .flatten();
            episode
        }
        EventType::SessionClosed => {
            let lines: Vec<String> = sqlx::query_scalar!(
                r#"SELECT body AS "body!" FROM messages
                  WHERE session_id = $1 AND tenant_id = $2 AND direction = $3 AND body IS NOT NULL
                  ORDER BY coalesce(provider_timestamp, created_at) LIMIT 50"#,
                aggregate_id,
                input.tenant_id,
                Direction::Inbound.as_str()
            )
            .fetch_all(pool)
            .await?;
            let summary = summarise_session(&lines);
            let mut episode = base(
                "session_summary",
                "session",
                aggregate_id.to_string(),
                "system",
                summary,
                at,
            );
            episode.metadata = json!({"session_id": aggregate_id, "messages": lines.len()});
            episode.remember = !lines.is_empty();
            episode
        }
        EventType::DealCreated | EventType::DealStageChanged => {
            let row = sqlx::query!(
                "SELECT d.title, s.key, s.name FROM deals d JOIN pipeline_stages s ON s.key = $3 AND s.pipeline_id = d.pipeline_id
                  WHERE d.id = $1 AND d.tenant_id = $2",
                aggregate_id,
                input.tenant_id,
                payload.get("stage").and_then(Value::as_str).unwrap_or("new")
            )
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let (title, stage_key, stage_name) = (row.title, row.key, row.name);
            let deal = EntityRef::new(title.clone(), "deal");
            let mut facts = vec![FactInput {
                subject: Some(deal.clone()),
                predicate: "in_stage".into(),
                object: EntityRef::new(stage_name.clone(), "stage"),
            }];
            if event_type == EventType::DealCreated {
                facts.insert(
                    0,
                    FactInput {
                        subject: None,
                        predicate: "has_deal".into(),
                        object: deal.clone(),
                    },
                );
            }
            if stage_key == "won" {
                facts.push(FactInput {
                    subject: None,
                    predicate: "purchased".into(),
                    object: EntityRef::new(title.clone(), "product"),
                });
            }
            let content = format!("Deal \"{title}\" is in stage {stage_name}");
            let mut episode = base(
                "crm_event",
                "outbox",
                input.event_id.to_string(),
                "system",
                content,
                at,
            );
            episode.metadata =
                json!({"event_type": event_type, "deal_id": aggregate_id, "stage": stage_key});
            episode.facts = facts;
            episode.remember = true;
            episode
        }
        EventType::ContactTagged => {
            let tag = payload
                .get("tag")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if tag.is_empty() {
                return Ok(None);
            }
            let mut episode = base(
                "crm_event",
                "outbox",
                input.event_id.to_string(),
                "system",
                format!("Tagged {tag}"),
                at,
            );
            episode.facts = vec![FactInput {
                subject: None,
                predicate: "tagged".into(),
                object: EntityRef::new(tag, "tag"),
            }];
            episode
        }
        EventType::ContactUpdated => {
            // {"changes": {"custom_attributes": {"plan": "pro"}, "display_name": "Ana"}}
            let mut facts = Vec::new();
            if let Some(attributes) = payload
                .pointer("/changes/custom_attributes")
                .and_then(Value::as_object)
            {
                for (key, value) in attributes {
                    let value = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned);
                    let key: String = key
                        .chars()
                        .filter(|c| c.is_alphanumeric() || *c == '_')
                        .take(48)
                        .collect();
                    if key.is_empty() || value.is_empty() || value == "null" {
                        continue;
                    }
                    facts.push(FactInput {
                        subject: None,
                        predicate: format!("attribute:{key}"),
                        object: EntityRef::new(value, "value"),
                    });
                }
            }
            if let Some(name) = payload
                .pointer("/changes/display_name")
                .and_then(Value::as_str)
            {
                facts.push(FactInput {
                    subject: None,
                    predicate: "name".into(),
                    object: EntityRef::new(name, "name"),
                });
            }
            if facts.is_empty() {
                return Ok(None);
            }
            let mut episode = base(
                "crm_event",
                "outbox",
                input.event_id.to_string(),
                "system",
                "Profile updated".into(),
                at,
            );
            episode.facts = facts;
            episode
        }
        other => {
            return Err(MemoryError::Invalid(format!(
                "event type {other} is not a memory event"
            )));
        }
    };
    Ok(Some(episode))
}

/// An extractive summary: what the customer said, first and last lines kept whole.
fn summarise_session(lines: &[String]) -> String {
    let clipped: Vec<String> = lines
        .iter()
        .map(|l| l.trim().chars().take(200).collect())
        .filter(|l: &String| !l.is_empty())
        .collect();
    let picked: Vec<&String> = if clipped.len() <= 8 {
        clipped.iter().collect()
    } else {
        clipped[..4]
            .iter()
            .chain(&clipped[clipped.len() - 4..])
            .collect()
    };
    let joined = picked
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" / ");
    format!(
        "Conversation summary ({} customer messages): {joined}",
        lines.len()
    )
}

/// One pass of the memory feed: forwards up to `batch` unfed events to their contacts'
/// MemoryIngestion workflows. Returns how many it forwarded.
pub async fn feed_once(
    pool: &PgPool,
    client: &Client,
    task_queue: &str,
    batch: i64,
) -> anyhow::Result<usize> {
    use temporalio_client::WorkflowStartOptions;
    use temporalio_common::search_attributes::SearchAttributes;
    use ventros_workflows::MemoryIngestion;

    let mut tx = pool.begin().await?;
    // SKIP LOCKED: several workers can run the feed; each event goes to one of them.
    let fed_types: Vec<&str> = FED_EVENT_TYPES.iter().map(|t| t.as_str()).collect();
    let rows = sqlx::query!(
        r#"SELECT o.id, o.tenant_id, o.event_type,
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
    for row in &rows {
        let (event_id, tenant_id, event_type) = (row.id, row.tenant_id, row.event_type.clone());
        fed.push(event_id);
        let Some(contact_id) = row.contact_id else {
            continue;
        };
        let workflow_id = ids::memory_ingestion_workflow_id(tenant_id, contact_id);
        let options = WorkflowStartOptions::new(task_queue.to_owned(), workflow_id)
            .search_attributes(SearchAttributes::new([
                TENANT_ID_ATTRIBUTE.value_set(tenant_id.to_string()),
                CONTACT_ID_ATTRIBUTE.value_set(contact_id.to_string()),
            ]))
            .build();
        let input = MemoryIngestionInput {
            tenant_id,
            contact_id,
            carried: None,
        };
        let signal = MemoryEventSignal {
            event_id,
            event_type,
        };
        tokio::time::timeout(
            Duration::from_secs(10),
            client.signal_with_start_workflow(
                MemoryIngestion::run,
                input,
                MemoryIngestion::memory_event,
                signal,
                options,
            ),
        )
        .await
        .map_err(|_| anyhow::anyhow!("Temporal did not answer the memory feed in time"))??;
    }
    sqlx::query!(
        "UPDATE outbox_events SET memory_fed_at = now() WHERE id = ANY($1)",
        &fed
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(fed.len())
}

/// The feed loop: drains what is pending, then polls every `idle` (a cheap index-only query on a
/// partial index); backs off while Temporal or PostgreSQL are away. Runs until the task is dropped.
pub async fn run_feed(pool: PgPool, client: Client, task_queue: String, idle: Duration) {
    ventros_activities::polling::run_polling_loop("memory feed", idle, || {
        feed_once(&pool, &client, &task_queue, 200)
    })
    .await;
}
