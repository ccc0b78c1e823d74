//! Activity options shared by the workflows. Every side effect is retried until it succeeds unless
//! it fails for a reason that retrying cannot fix: a message is never dropped because a database or
//! provider was briefly away.

use std::time::Duration;

use temporalio_common::{ActivityCloseTimeouts, RetryPolicy};
use temporalio_sdk::ActivityOptions;

use crate::contract::names;

/// Retries forever with capped exponential backoff.
pub(crate) fn persistent_retry() -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(Duration::from_millis(200))
        .backoff_coefficient(2.0)
        .maximum_interval(Duration::from_secs(10))
        .build()
}

/// A database activity: short attempts, retried until PostgreSQL answers.
pub(crate) fn db_activity() -> ActivityOptions {
    // The start-to-close timeout is also how soon a crashed worker's attempt is retried elsewhere.
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
        .retry_policy(persistent_retry())
        .build()
}

/// A provider call: retried with backoff (5xx, timeouts, outages) for up to a day, except for the
/// provider's permanent refusals.
pub(crate) fn provider_send_activity() -> ActivityOptions {
    ActivityOptions::with_close_timeouts(ActivityCloseTimeouts::ScheduleAndStartToClose {
        schedule_to_close: Duration::from_secs(24 * 60 * 60),
        // Also how soon a crashed worker's attempt is noticed and retried elsewhere.
        start_to_close: Duration::from_secs(15),
    })
    .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_millis(500))
                .backoff_coefficient(2.0)
                .maximum_interval(Duration::from_secs(30))
                .non_retryable_error_types([names::FAILURE_PERMANENT_SEND])
                .build(),
        )
        .build()
}
