//! Activity options shared by the workflows. Every side effect is retried until it succeeds unless
//! it fails for a reason that retrying cannot fix: a message is never dropped because a database or
//! provider was briefly away.

use std::time::Duration;

use temporalio_common::error::ActivityExecutionError;
use temporalio_common::protos::temporal::api::failure::v1::failure::FailureInfo;
use temporalio_common::{ActivityCloseTimeouts, RetryPolicy};
use temporalio_sdk::{ActivityOptions, LocalActivityOptions};

use crate::contract::names;

/// Retries forever with capped exponential backoff.
pub(crate) fn persistent_retry() -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(Duration::from_millis(200))
        .backoff_coefficient(2.0)
        .maximum_interval(Duration::from_secs(10))
        .build()
}

/// A database activity runs as a *local* activity: it executes inside the workflow task on the
/// same worker, so a short SQL transaction costs no extra round trips through the Temporal server
/// (the reply path is several of them shorter). Retried until PostgreSQL answers; backoffs longer
/// than a few seconds become durable timers.
pub(crate) fn db_activity() -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_secs(10))
        .retry_policy(persistent_retry())
        .timer_backoff_threshold(Duration::from_secs(5))
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
    .retry_policy(provider_send_retry())
    .build()
}

fn provider_send_retry() -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(Duration::from_millis(500))
        .backoff_coefficient(2.0)
        .maximum_interval(Duration::from_secs(30))
        .non_retryable_error_types([names::FAILURE_PERMANENT_SEND])
        .build()
}

/// The same provider call as a local activity of the workflow's first task (replies, see
/// `OutboundInput::send_local`): the same retries and limits. A retry whose backoff is longer
/// than a few seconds waits on a durable timer, so a provider outage holds no workflow task open.
pub(crate) fn provider_send_local_activity() -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .schedule_to_close_timeout(Duration::from_secs(24 * 60 * 60))
        .start_to_close_timeout(Duration::from_secs(15))
        .retry_policy(provider_send_retry())
        .timer_backoff_threshold(Duration::from_secs(5))
        .build()
}

/// A message's first send, from the task of the workflow that wrote it (see
/// `outbound::send_or_hand_over`): one attempt. A failure that a retry could fix hands the message
/// to an OutboundMessage run with [`provider_send_retry`] instead: that workflow is not held while
/// a provider recovers. Long enough for a campaign message's "typing…" (up to 8 s), the provider's
/// history lookup and the send (10 s each at most).
pub(crate) fn inline_send_activity() -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_secs(30))
        .retry_policy(RetryPolicy::builder().maximum_attempts(1).build())
        .build()
}

/// Whether an activity failed with the application failure `type_name` (raised by the activity,
/// possibly wrapped by Temporal).
pub(crate) fn failed_with(err: &ActivityExecutionError, type_name: &str) -> bool {
    let mut failure = err.failure();
    while let Some(f) = failure {
        if let Some(FailureInfo::ApplicationFailureInfo(info)) = &f.failure_info
            && info.r#type == type_name
        {
            return true;
        }
        failure = f.cause.as_deref();
    }
    false
}

/// The reason an activity gave for failing, from its innermost failure, without Temporal's
/// wrapping.
pub(crate) fn failure_reason(err: &ActivityExecutionError) -> String {
    let mut failure = err.failure();
    let mut message = failure.map_or_else(|| err.to_string(), |f| f.message.clone());
    while let Some(f) = failure {
        if !f.message.is_empty() {
            message = f.message.clone();
        }
        failure = f.cause.as_deref();
    }
    message
}

/// An agent call: a few quick retries (the agent service restarting), then the conversation goes
/// to a human rather than leaving the customer waiting. Requests the agent service rejects are not
/// retried.
pub(crate) fn agent_activity() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_millis(500))
                .backoff_coefficient(2.0)
                .maximum_interval(Duration::from_secs(4))
                .maximum_attempts(5)
                .non_retryable_error_types([names::FAILURE_AGENT_REJECTED])
                .build(),
        )
        .build()
}

/// Linking a WhatsApp sender's two addresses: a WAHA lookup and a short transaction. A few tries;
/// if WAHA cannot answer, the next batch of the chat asks again.
pub(crate) fn identity_activity() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(15))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(1))
                .maximum_attempts(3)
                .build(),
        )
        .build()
}

/// Fetching a customer's file from the provider (and transcribing a voice note): a few tries over
/// about a minute; the last attempt records the file as failed instead of failing.
pub(crate) fn media_activity() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(120))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(1))
                .backoff_coefficient(2.0)
                .maximum_interval(Duration::from_secs(30))
                .maximum_attempts(crate::contract::MEDIA_FETCH_ATTEMPTS as _)
                .build(),
        )
        .build()
}

/// Seen/typing indicators: nice to have, never worth delaying the reply for.
pub(crate) fn presence_activity() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(5))
        .retry_policy(RetryPolicy::builder().maximum_attempts(2).build())
        .build()
}

/// The campaign's personalisation call (database reads + one agent call) as a local activity:
/// ten thousand recipients cannot afford two extra server round trips each. A few retries, then
/// the recipient is skipped with the reason rather than sent an unpersonalised message.
pub(crate) fn campaign_agent_activity() -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_secs(15))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_millis(500))
                .backoff_coefficient(2.0)
                .maximum_interval(Duration::from_secs(8))
                .maximum_attempts(5)
                .non_retryable_error_types([names::FAILURE_AGENT_REJECTED])
                .build(),
        )
        .timer_backoff_threshold(Duration::from_secs(5))
        .build()
}
