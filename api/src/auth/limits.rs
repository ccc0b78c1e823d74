//! Per-caller rate limits: governor's keyed token buckets (GCRA), one per principal and one per
//! login e-mail, in this process. With several replicas each enforces its own share; the limit is
//! a guard against runaway clients, not billing.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// Callers remembered before the ones whose buckets have refilled are forgotten (they are
/// indistinguishable from new callers).
const MAX_TRACKED: usize = 50_000;

#[derive(Clone)]
pub struct RateLimiter {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute.max(1)).expect("at least 1"))
            .allow_burst(NonZeroU32::new(burst.max(1)).expect("at least 1"));
        RateLimiter {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(quota)),
        }
    }

    /// Takes one token; `Err(seconds)` until the next one when the bucket is empty.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        if self.limiter.len() > MAX_TRACKED {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_caller_waits_and_others_are_unaffected() {
        let limiter = RateLimiter::new(60, 3);
        for _ in 0..3 {
            assert_eq!(limiter.check("a"), Ok(()));
        }
        let wait = limiter.check("a").unwrap_err();
        assert!((1..=1).contains(&wait), "one token a second: {wait}");
        assert_eq!(limiter.check("b"), Ok(()), "buckets are per caller");
    }
}
