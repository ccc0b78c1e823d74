//! Logging set-up and signal handling shared by every Ventros process.
//!
//! Log lines carry ids (`tenant.id`, `workflow.id`, `message.id`), never phone numbers, message
//! text, names or secrets. Every activity runs in a span named `activity` with `workflow.id`,
//! `activity.type` and `tenant.id` (the `#[instrument]` on each, using [`workflow_of`] and
//! [`tenant_of`]): the SDK's own `RunActivity` span is filtered out by default with the rest of
//! its chatter, and does not know the tenant.

use temporalio_sdk::activities::ActivityContext;
use ventros_workflows::contract::TenantScoped;

/// The workflow an activity runs for, for its span (`workflow.id`). Workflow ids hold no personal
/// data (see `contract::ids`), so they may be logged.
pub fn workflow_of(ctx: &ActivityContext) -> &str {
    ctx.info().workflow_id.as_deref().unwrap_or_default()
}

/// The tenant an activity input acts for, for its span (`tenant.id`); empty when cross-tenant.
pub fn tenant_of(input: &impl TenantScoped) -> Option<tracing::field::DisplayValue<uuid::Uuid>> {
    input.tenant().map(tracing::field::display)
}

/// Logs to stderr; `LOG_FORMAT=json` for machines, `RUST_LOG` for the filter.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,temporalio_sdk_core=warn,temporalio_sdk=warn,temporalio_client=warn,tower_http=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Resolves on SIGINT or SIGTERM: the moment to stop taking work and drain.
pub async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
