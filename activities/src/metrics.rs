//! The worker's own Prometheus metrics, recorded through the Temporal SDK's meter so that they are
//! served beside the SDK's worker metrics on the worker's metrics address (`WORKER_METRICS_BIND`):
//! one registry, one scrape target. Until [`install`] runs (metrics off), recording does nothing.
//!
//! Labels are bounded sets (modes, scopes, outcomes, agent names from our own configuration);
//! never ids, phone numbers or text.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use temporalio_common::telemetry::metrics::{
    CoreMeter, Counter, HistogramDuration, MetricKeyValue, MetricParameters, NewAttributes,
};

struct WorkerMetrics {
    meter: Arc<dyn CoreMeter>,
    memory_search: HistogramDuration,
    memory_episodes: Counter,
    agent_calls: HistogramDuration,
    handoffs: Counter,
    outbox_lag: HistogramDuration,
    messages_sent: Counter,
    reply_latency: HistogramDuration,
    campaign_skipped: Counter,
}

static METRICS: OnceLock<WorkerMetrics> = OnceLock::new();

fn params(name: &'static str, description: &'static str) -> MetricParameters {
    MetricParameters::builder()
        .name(name)
        .description(description)
        .build()
}

/// Registers the worker's metrics on `meter` (the one the SDK exports). Once per process.
pub fn install(meter: Arc<dyn CoreMeter>) {
    let _ = METRICS.get_or_init(|| WorkerMetrics {
        memory_search: meter.histogram_duration(params(
            "ventros_memory_search",
            "Memory searches (MemoryService and in-process), by mode and scope",
        )),
        memory_episodes: meter.counter(params(
            "ventros_memory_episodes",
            "Episodes the memory ingestion stored (new ones; repeats change nothing)",
        )),
        agent_calls: meter.histogram_duration(params(
            "ventros_agent_calls",
            "Calls to the agent service, by agent asked and outcome",
        )),
        handoffs: meter.counter(params(
            "ventros_handoffs",
            "Chats handed from the AI agent to a person, by reason",
        )),
        outbox_lag: meter.histogram_duration(params(
            "ventros_outbox_lag",
            "Time from an outbox event to its consumer taking it, by consumer",
        )),
        messages_sent: meter.counter(params(
            "ventros_messages_sent",
            "Outbound messages handed to the provider (or found already there), by channel, origin and outcome",
        )),
        reply_latency: meter.histogram_duration(params(
            "ventros_reply_latency",
            "From the customer's message stored to our automatic reply taken by the provider, by origin",
        )),
        campaign_skipped: meter.counter(params(
            "ventros_campaign_skipped",
            "Campaign recipients skipped (opted out, unreachable, outside the rules)",
        )),
        meter,
    });
}

fn attributes(
    m: &WorkerMetrics,
    labels: &[(&'static str, &str)],
) -> temporalio_common::telemetry::metrics::MetricAttributes {
    m.meter.new_attributes(NewAttributes {
        attributes: labels
            .iter()
            .map(|(k, v)| MetricKeyValue::new(*k, v.to_string()))
            .collect(),
    })
}

/// One memory search: `mode` hybrid/vector/keyword/graph, `scope` contact/tenant.
pub fn memory_search(mode: &'static str, scope: &'static str, took: Duration) {
    if let Some(m) = METRICS.get() {
        m.memory_search
            .record(took, &attributes(m, &[("mode", mode), ("scope", scope)]));
    }
}

/// An episode stored by memory ingestion, by kind (message, session_summary, crm_event, note).
pub fn memory_episode(kind: &'static str) {
    if let Some(m) = METRICS.get() {
        m.memory_episodes.add(1, &attributes(m, &[("kind", kind)]));
    }
}

/// One call to the agent service: the agent asked for and how it ended (ok, rejected,
/// unavailable).
pub fn agent_call(agent: &str, outcome: &'static str, took: Duration) {
    if let Some(m) = METRICS.get() {
        // Agent names come from our configuration; anything odd is folded into one label.
        let agent = if agent.is_empty() {
            "router"
        } else if agent.len() <= 48
            && agent
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            agent
        } else {
            "other"
        };
        m.agent_calls.record(
            took,
            &attributes(m, &[("agent", agent), ("outcome", outcome)]),
        );
    }
}

/// A chat handed from the AI agent to a person (`agent_unavailable`, `low_confidence`,
/// `agent_requested`).
pub fn handoff(reason: &str) {
    if let Some(m) = METRICS.get() {
        let reason = match reason {
            "agent_unavailable" | "low_confidence" | "agent_requested" => reason,
            _ => "other",
        };
        m.handoffs.add(1, &attributes(m, &[("reason", reason)]));
    }
}

/// How long an outbox event waited before `consumer` (memory, webhooks) took it.
pub fn outbox_lag(consumer: &'static str, waited: Duration) {
    if let Some(m) = METRICS.get() {
        m.outbox_lag
            .record(waited, &attributes(m, &[("consumer", consumer)]));
    }
}

/// A label from our own small vocabularies (channel kinds, message origins), kept as is; anything
/// else folds into `other`.
fn bounded(value: &str) -> &str {
    if !value.is_empty()
        && value.len() <= 24
        && value.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        value
    } else {
        "other"
    }
}

/// An outbound message: `sent`, `reconciled` (an earlier attempt had reached the provider) or
/// `failed` (the attempt failed; the workflow retries or gives up).
pub fn message_sent(channel: &str, origin: &str, outcome: &'static str) {
    if let Some(m) = METRICS.get() {
        let labels = [
            ("channel", bounded(channel)),
            ("origin", bounded(origin)),
            ("outcome", outcome),
        ];
        m.messages_sent.add(1, &attributes(m, &labels));
    }
}

/// How long an automatic reply (agent, greeting, away) took from the customer's message.
pub fn reply_latency(origin: &str, took: Duration) {
    if let Some(m) = METRICS.get() {
        m.reply_latency
            .record(took, &attributes(m, &[("origin", bounded(origin))]));
    }
}

/// A campaign recipient skipped.
pub fn campaign_skipped() {
    if let Some(m) = METRICS.get() {
        m.campaign_skipped.add(1, &attributes(m, &[]));
    }
}
