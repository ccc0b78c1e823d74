//! `ventros-engine-bench`: the most messages per second Temporal allows on this machine when a
//! message costs nothing but the engine's own work, so that `ventros-bench`'s figures can be read
//! as a fraction of that ceiling.
//!
//! Each message is what our inbound path is at its barest: a client signal-with-starts a workflow
//! of its own (as the API does a Conversation), the workflow runs `--activities` activities that do
//! nothing (one by default: the send), and completes. The worker runs in this process with the
//! production worker's poller settings, on a task queue of its own, against the same server
//! `scripts/stack.sh` runs. Prints latency from the signal-with-start call to the last activity,
//! sustained throughput, and the operations per message counted from the histories.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::runtime::PollerBehavior;
use temporalio_sdk::{
    ActivityOptions, Runtime, SyncWorkflowContext, Worker, WorkerOptions, WorkflowContext,
    WorkflowResult,
};
use tokio::sync::Semaphore;
use ventros_bench::history_profile;

#[derive(Parser)]
#[command(about = "Temporal engine ceiling: signal-with-start and no-op activities per message")]
struct Args {
    #[arg(
        long,
        env = "TEMPORAL_ADDRESS",
        default_value = "http://127.0.0.1:7233"
    )]
    temporal_address: String,
    #[arg(long, env = "TEMPORAL_NAMESPACE", default_value = "default")]
    namespace: String,
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Offered load, messages per second.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Most signal-with-start calls in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// No-op activities per message, one after the other.
    #[arg(long, default_value_t = 1)]
    activities: u32,
    /// Concurrent workflow-task polls (the worker's `WORKER_WORKFLOW_POLLERS` default).
    #[arg(long, default_value_t = 16)]
    workflow_pollers: usize,
    /// Concurrent activity-task polls (`WORKER_ACTIVITY_POLLERS`).
    #[arg(long, default_value_t = 8)]
    activity_pollers: usize,
    /// Histories read to count operations per message.
    #[arg(long, default_value_t = 100)]
    sample: usize,
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

/// When each message's last activity ran, by message index.
type Handled = Arc<Mutex<Vec<Option<Instant>>>>;

#[workflow]
#[derive(Default)]
pub struct EngineMessage {
    arrived: bool,
}

#[workflow_methods]
impl EngineMessage {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: (usize, u32)) -> WorkflowResult<()> {
        let (index, activities) = input;
        ctx.wait_condition(|s| s.arrived).await?;
        for step in 0..activities {
            ctx.execute_activity(
                EngineActivities::handle,
                (index, step + 1 == activities),
                ActivityOptions::start_to_close_timeout(Duration::from_secs(30)),
            )
            .await?;
        }
        Ok(())
    }

    #[signal]
    pub fn inbound(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _message: String) {
        self.arrived = true;
    }
}

pub struct EngineActivities {
    handled: Handled,
}

#[activities]
impl EngineActivities {
    /// Does nothing but note when the message's last activity ran.
    #[activity(name = "EngineBench::handle")]
    pub async fn handle(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: (usize, bool),
    ) -> Result<(), ActivityError> {
        let (index, last) = input;
        if last && let Some(slot) = self.handled.lock().unwrap().get_mut(index) {
            slot.get_or_insert_with(Instant::now);
        }
        Ok(())
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[(((p / 100.0) * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let client = ventros_workers::connect_temporal(
        &args.temporal_address,
        &args.namespace,
        Duration::from_secs(10),
    )
    .await?;
    let queue = format!("engine-bench-{}", uuid::Uuid::new_v4().simple());
    let handled: Handled = Arc::new(Mutex::new(vec![None; args.messages]));
    let options = WorkerOptions::new(queue.clone())
        .workflow_task_poller_behavior(PollerBehavior::SimpleMaximum(args.workflow_pollers.max(2)))
        .nonsticky_to_sticky_poll_ratio(1.0)
        .activity_task_poller_behavior(PollerBehavior::SimpleMaximum(args.activity_pollers.max(1)))
        .register_workflow::<EngineMessage>()?
        .register_activities(EngineActivities {
            handled: handled.clone(),
        })
        .build();
    let runtime = Runtime::from_current_tokio(Default::default())?;
    let mut worker = Worker::new(&runtime, client.clone(), options)?;
    let shutdown = worker.shutdown_handle();
    println!(
        "ventros-engine-bench: {} messages at {} msg/s offered (concurrency {}), signal-with-start + {} no-op activit{} each, queue {queue}",
        args.messages,
        args.rate,
        args.concurrency,
        args.activities,
        if args.activities == 1 { "y" } else { "ies" }
    );

    let load = async {
        let started = Instant::now();
        let gate = Arc::new(Semaphore::new(args.concurrency));
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut tasks = Vec::with_capacity(args.messages);
        for index in 0..args.messages {
            ticker.tick().await;
            let permit = gate.clone().acquire_owned().await?;
            let (client, queue, activities) = (client.clone(), queue.clone(), args.activities);
            tasks.push(tokio::spawn(async move {
                let sent = Instant::now();
                let options = temporalio_client::WorkflowStartOptions::new(
                    queue.clone(),
                    format!("{queue}:{index}"),
                )
                .build();
                let result = client
                    .signal_with_start_workflow(
                        EngineMessage::run,
                        (index, activities),
                        EngineMessage::inbound,
                        String::new(),
                        options,
                    )
                    .await;
                drop(permit);
                result.map(|_| sent)
            }));
        }
        let mut sent = Vec::with_capacity(args.messages);
        for task in tasks {
            sent.push(task.await??);
        }
        let offered_secs = started.elapsed().as_secs_f64();
        let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
        let done = |h: &Handled| h.lock().unwrap().iter().filter(|t| t.is_some()).count();
        while done(&handled) < args.messages && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        shutdown();
        anyhow::Ok((started, offered_secs, sent))
    };
    let (ran, loaded) = tokio::join!(worker.run(), load);
    ran?;
    let (started, offered_secs, sent) = loaded?;

    let handled = handled.lock().unwrap().clone();
    let mut latency: Vec<f64> = sent
        .iter()
        .zip(&handled)
        .filter_map(|(s, h)| h.map(|h| h.duration_since(*s).as_secs_f64() * 1000.0))
        .collect();
    latency.sort_by(f64::total_cmp);
    let last = handled.iter().flatten().max().copied();
    let span = last.map_or(f64::NAN, |l| l.duration_since(started).as_secs_f64());
    println!(
        "handled {} of {} (sent in {offered_secs:.1} s); signal-with-start → last activity p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms",
        latency.len(),
        args.messages,
        percentile(&latency, 50.0),
        percentile(&latency, 95.0),
        percentile(&latency, 99.0)
    );
    println!(
        "sustained: {:.1} messages/s (first send → last handled, {span:.1} s)",
        latency.len() as f64 / span
    );
    let ids = (0..args.messages.min(args.sample))
        .map(|i| format!("{queue}:{i}"))
        .collect();
    let profile = history_profile(&client, ids).await?;
    println!("per message: {}", profile.per_message(profile.workflows));
    anyhow::ensure!(
        latency.len() == args.messages,
        "{} messages were not handled within {} s",
        args.messages - latency.len(),
        args.timeout_secs
    );
    Ok(())
}
