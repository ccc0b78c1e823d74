//! MemoryShard: a tenant's memory ingestion in a few long-lived queues instead of one per contact.
//!
//! A queue per contact (MemoryIngestion) cost a workflow start for every customer who wrote after
//! ten quiet minutes, and a timer, a workflow task and a close when the queue went idle again.
//! Starts are what the Temporal server pays most for (measured on the dev server: the greeting
//! path's sustained rate follows its workflow starts per message, not its operations). A tenant's
//! contacts are spread over `MEMORY_SHARDS` queues by contact id, and the memory feed hands each
//! queue the events of one pass as one signal: a burst from a thousand new customers costs a
//! signal and a workflow task per queue and pass, not a thousand starts.
//!
//! A contact always maps to the same queue, which takes events oldest first, so a contact's facts
//! still apply in the order the events happened. Each event goes through the same idempotent local
//! activity as in MemoryIngestion (the episode's unique key makes a retry a no-op), and the
//! history holds ids only. A queue stays open, waiting without a timer, and continues as new
//! when its history grows long.

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ContinueAsNewOptions, SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult,
};

use crate::contract::{activities::*, names, *};
use crate::memory::{MAX_HISTORY_EVENTS, first_sighting, ingest_local_activity, take_oldest};

/// Event ids a run remembers to drop a batch the feed sent again after a crash; older
/// duplicates are caught by the episode's unique key.
const SEEN_EVENT_IDS: usize = 2_048;

#[workflow]
#[derive(Default)]
pub struct MemoryShard {
    pending: Vec<ShardEvent>,
    seen_event_ids: Vec<i64>,
    stats: MemoryIngestionStats,
}

#[workflow_methods]
impl MemoryShard {
    #[run(name = names::MEMORY_SHARD_WORKFLOW)]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: MemoryShardInput,
    ) -> WorkflowResult<MemoryIngestionStats> {
        if let Some(carried) = &input.carried {
            ctx.state_mut(|s| {
                s.pending = carried.pending.clone();
                s.seen_event_ids = carried.seen_event_ids.clone();
                s.stats = carried.stats;
            });
        }
        loop {
            // No idle timer: a timer started at every wake and cancelled at the next event costs
            // the server two commands and a timer task each time, and an open run that waits costs
            // it nothing.
            ctx.wait_condition(|s: &Self| !s.pending.is_empty()).await?;
            // Oldest first: two feeds' batches can arrive out of order.
            let next = ctx.state_mut(|s| take_oldest(&mut s.pending, |e| e.event_id));
            let event = IngestEventInput {
                tenant_id: input.tenant_id,
                contact_id: next.contact_id,
                event_id: next.event_id,
            };
            let result = ctx
                .execute_local_activity(MemoryIngestEvent, event, ingest_local_activity())
                .await?;
            ctx.state_mut(|s| s.stats.count(&result));
            if ctx.continue_as_new_suggested() || ctx.history_length() > MAX_HISTORY_EVENTS {
                let next_input = ctx.state(|s| MemoryShardInput {
                    tenant_id: input.tenant_id,
                    shard: input.shard,
                    carried: Some(CarriedShard {
                        pending: s.pending.clone(),
                        seen_event_ids: s.seen_event_ids.clone(),
                        stats: s.stats,
                    }),
                });
                ctx.continue_as_new(next_input, ContinueAsNewOptions::default())?;
            }
        }
    }

    /// The events of one feed pass for this shard's contacts. Recently seen ids are dropped.
    #[signal(name = names::SIGNAL_MEMORY_EVENTS)]
    pub fn memory_events(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        signal: MemoryEventsSignal,
    ) {
        for event in signal.events {
            if first_sighting(&mut self.seen_event_ids, event.event_id, SEEN_EVENT_IDS) {
                self.pending.push(event);
            }
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
