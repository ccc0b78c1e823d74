//! Where stored text is embedded: threads the kernel runs only when nothing else wants the CPU.
//!
//! A burst of new customers queues hundreds of episodes to embed, and on a small machine the
//! embedder took both cores while the replies to those customers waited behind it (issue 23: AI
//! replies at 10/s had p50 0.6–0.9 s while 600 episodes were ingested, 0.16–0.19 s idle). The
//! priority gate already lets a search's own embedding go first, but a reply also needs Temporal,
//! PostgreSQL and the agent service, which the gate knows nothing of. So background inference runs
//! on a pool of its own whose threads are `SCHED_IDLE` on Linux: they get a core only while no
//! ordinary thread of any process is runnable, and ingestion takes what replies leave. Under load
//! that never lets up, ingestion waits (its activity's timeout allows for that); the episodes are
//! in the outbox and in Temporal, so nothing is lost. Searches keep the ordinary threads.

use std::sync::OnceLock;

use super::EmbedError;

static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();

fn pool() -> &'static rayon::ThreadPool {
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("embed-idle-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            .expect("the background embedding threads start")
    })
}

/// Puts the calling thread in the idle scheduling class; where that is refused (not Linux), the
/// thread runs as before and says so once.
fn lower_priority() {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(err) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle)
    {
        static WARNED: OnceLock<()> = OnceLock::new();
        WARNED.get_or_init(|| {
            tracing::warn!(error = ?err, "background embedding runs at normal priority");
        });
    }
}

/// Runs `job` on the idle pool. The model's own parallel loops (candle's, through rayon) stay on
/// that pool's threads. A job whose caller has gone (an activity attempt that timed out) is skipped
/// rather than run for nobody.
pub(super) async fn run<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, EmbedError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    pool().spawn(move || {
        if !tx.is_closed() {
            let _ = tx.send(job());
        }
    });
    rx.await
        .map_err(|_| EmbedError::Inference("the background embedding job was dropped".into()))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The scheduling policy of the calling thread, from the kernel (5 is SCHED_IDLE, 0 OTHER).
    fn policy() -> u32 {
        let sched = std::fs::read_to_string("/proc/thread-self/sched").expect("procfs");
        let line = sched
            .lines()
            .find(|l| l.starts_with("policy"))
            .expect("a policy line");
        line.rsplit(':').next().unwrap().trim().parse().unwrap()
    }

    #[tokio::test]
    async fn background_jobs_run_in_the_idle_class_and_callers_do_not() {
        assert_eq!(super::run(policy).await.unwrap(), 5, "SCHED_IDLE");
        assert_eq!(policy(), 0, "the caller's thread is untouched");
        let results = futures::future::join_all((0..8).map(|i| super::run(move || i * 2))).await;
        let results: Vec<i32> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(results, (0..8).map(|i| i * 2).collect::<Vec<_>>());
    }
}
