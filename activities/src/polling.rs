//! The loop shared by the worker's background passes (the memory feed, the webhook fan-out, the
//! task timers, the tenant vector indexes): drain what is pending, poll again after `idle`, back
//! off while PostgreSQL or Temporal are away.

use std::future::Future;
use std::time::Duration;

/// Runs `pass` forever. `pass` returns how many items it handled; 0 means "nothing pending".
pub async fn run_polling_loop<F, Fut>(what: &'static str, idle: Duration, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<usize>>,
{
    let mut backoff = Duration::from_millis(200);
    loop {
        match pass().await {
            Ok(n) if n > 0 => backoff = Duration::from_millis(200),
            Ok(_) => tokio::time::sleep(idle).await,
            Err(err) => {
                tracing::warn!(error = %err, consumer = what, "background pass failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}
