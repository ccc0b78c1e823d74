//! Memory workflows: ingestion off the reply's critical path, and re-embedding after a model switch.
//!
//! **MemoryIngestion** is one queue per contact (signal-with-start from the memory feed), so a
//! contact's facts are applied one episode at a time, in the order the events happened. Each event
//! goes through one idempotent activity (a local one since the `memory-ingest-local` patch); a
//! crash mid-ingestion retries it, and the episode's unique key makes the retry a no-op once it
//! committed. The history holds event ids only.
//!
//! **ReembedMemories** re-embeds every stored vector with the worker's model, in batches, and only
//! then makes that model the one searches use: dimensions are never mixed.

use std::time::Duration;

use temporalio_common::RetryPolicy;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityOptions, ContinueAsNewOptions, LocalActivityOptions, SyncWorkflowContext,
    WorkflowContext, WorkflowContextView, WorkflowResult,
};

use crate::contract::{activities::*, names, patches, *};
use crate::retry::persistent_retry;

impl MemoryIngestionStats {
    /// Adds one ingested event's outcome.
    pub(crate) fn count(&mut self, result: &IngestEventOutput) {
        if result.already_ingested {
            self.duplicates += 1;
        } else {
            self.episodes_ingested += 1;
        }
        self.facts_added += result.facts_added;
        self.facts_invalidated += result.facts_invalidated;
    }
}

/// Removes and returns the pending event with the lowest outbox id (`pending` is not empty: the
/// callers wait for that).
pub(crate) fn take_oldest<T>(pending: &mut Vec<T>, event_id: impl Fn(&T) -> i64) -> T {
    let (at, _) = pending
        .iter()
        .enumerate()
        .min_by_key(|(_, e)| event_id(e))
        .expect("pending is not empty");
    pending.remove(at)
}

/// Whether `event_id` is new to the last `cap` ids seen, which it joins (the oldest drops out).
pub(crate) fn first_sighting(seen: &mut Vec<i64>, event_id: i64, cap: usize) -> bool {
    if seen.contains(&event_id) {
        return false;
    }
    if seen.len() >= cap {
        seen.remove(0);
    }
    seen.push(event_id);
    true
}

/// How many event ids a run remembers to drop duplicate signals (the feed re-sends after a crash).
const SEEN_EVENT_IDS: usize = 512;
/// A contact's queue closes after this long without events; the next event starts a new run.
const IDLE: Duration = Duration::from_secs(10 * 60);
pub(crate) const MAX_HISTORY_EVENTS: u32 = 2_000;

fn ingest_activity() -> ActivityOptions {
    // Embedding and a short transaction: well under a second. The timeout is also how soon the
    // attempt of a crashed worker is retried elsewhere. Retried until it succeeds (the database or
    // the model being briefly away must not lose an episode).
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
        .retry_policy(persistent_retry())
        .build()
}

/// The same work as a local activity, run by the memory worker inside the workflow task that took
/// the event: no activity task through the server, and the events that queued meanwhile are taken
/// in that same task (issue 23: an ingested message cost five Temporal operations, now three).
/// The memory worker's local-activity slots bound it as its activity slots did. A minute, not ten
/// seconds: its embedding runs only on CPU that replies leave (`ventros_memory::embed`), and
/// under load an attempt may wait that long without anything being wrong.
pub(crate) fn ingest_local_activity() -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_secs(60))
        .retry_policy(persistent_retry())
        .timer_backoff_threshold(Duration::from_secs(5))
        .build()
}

#[workflow]
#[derive(Default)]
pub struct MemoryIngestion {
    input: Option<MemoryIngestionInput>,
    pending: Vec<MemoryEventSignal>,
    seen_event_ids: Vec<i64>,
    stats: MemoryIngestionStats,
}

#[workflow_methods]
impl MemoryIngestion {
    #[run(name = names::MEMORY_INGESTION_WORKFLOW)]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: MemoryIngestionInput,
    ) -> WorkflowResult<MemoryIngestionStats> {
        ctx.state_mut(|s| {
            if let Some(carried) = &input.carried {
                s.pending = carried.pending.clone();
                s.seen_event_ids = carried.seen_event_ids.clone();
                s.stats = carried.stats;
            }
            s.input = Some(input.clone());
        });
        loop {
            let has_work = |s: &Self| !s.pending.is_empty();
            if !ctx.state(has_work) {
                let idle = temporalio_sdk::workflows::select! {
                    woke = ctx.wait_condition(has_work) => { woke?; false },
                    _ = ctx.timer(IDLE) => true,
                };
                if idle && ctx.state(|s| s.pending.is_empty()) {
                    return Ok(ctx.state(|s| s.stats));
                }
            }
            // Oldest event first: the feed can deliver a batch slightly out of order.
            let next = ctx.state_mut(|s| take_oldest(&mut s.pending, |e| e.event_id));
            let event = IngestEventInput {
                tenant_id: input.tenant_id,
                contact_id: input.contact_id,
                event_id: next.event_id,
            };
            let result = if ctx.patched(patches::MEMORY_INGEST_LOCAL) {
                ctx.execute_local_activity(MemoryIngestEvent, event, ingest_local_activity())
                    .await?
            } else {
                ctx.execute_activity(MemoryIngestEvent, event, ingest_activity())
                    .await?
            };
            ctx.state_mut(|s| s.stats.count(&result));
            if ctx.continue_as_new_suggested() || ctx.history_length() > MAX_HISTORY_EVENTS {
                let next_input = ctx.state(|s| MemoryIngestionInput {
                    tenant_id: input.tenant_id,
                    contact_id: input.contact_id,
                    carried: Some(CarriedIngestion {
                        pending: s.pending.clone(),
                        seen_event_ids: s.seen_event_ids.clone(),
                        stats: s.stats,
                    }),
                });
                ctx.continue_as_new(next_input, ContinueAsNewOptions::default())?;
            }
        }
    }

    /// An outbox event about this contact (by id). Recent duplicates are dropped here, older ones
    /// by the episode's unique key.
    #[signal(name = names::SIGNAL_MEMORY_EVENT)]
    pub fn memory_event(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        signal: MemoryEventSignal,
    ) {
        if first_sighting(&mut self.seen_event_ids, signal.event_id, SEEN_EVENT_IDS) {
            self.pending.push(signal);
        }
    }

    #[query(name = names::QUERY_STATE)]
    pub fn state(&self, _ctx: &WorkflowContextView) -> MemoryIngestionStats {
        MemoryIngestionStats {
            pending: self.pending.len() as u64,
            ..self.stats
        }
    }
}

#[workflow]
#[derive(Default)]
pub struct ReembedMemories {
    reembedded: u64,
}

#[workflow_methods]
impl ReembedMemories {
    #[run(name = names::REEMBED_MEMORIES_WORKFLOW)]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: ReembedInput) -> WorkflowResult<u64> {
        ctx.state_mut(|s| s.reembedded = input.reembedded);
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(120))
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_secs(1))
                    .maximum_interval(Duration::from_secs(30))
                    .build(),
            )
            .build();
        loop {
            let done = ctx
                .execute_activity(
                    MemoryReembedBatch,
                    ReembedBatchInput {
                        model: input.model.clone(),
                        batch: 256,
                    },
                    options.clone(),
                )
                .await?;
            if done == 0 {
                break;
            }
            ctx.state_mut(|s| s.reembedded += done);
            if ctx.continue_as_new_suggested() || ctx.history_length() > MAX_HISTORY_EVENTS {
                let reembedded = ctx.state(|s| s.reembedded);
                ctx.continue_as_new(
                    ReembedInput {
                        model: input.model.clone(),
                        reembedded,
                    },
                    ContinueAsNewOptions::default(),
                )?;
            }
        }
        ctx.execute_activity(MemoryActivateSpace, input.model.clone(), options)
            .await?;
        Ok(ctx.state(|s| s.reembedded))
    }

    #[query(name = names::QUERY_STATE)]
    pub fn state(&self, _ctx: &WorkflowContextView) -> u64 {
        self.reembedded
    }
}
