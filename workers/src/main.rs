//! `ventros-worker`: the Temporal worker process.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ventros_activities::telemetry::init_tracing();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _traces = ventros_activities::traces::init_traces(
        "ventros-worker",
        ventros_activities::traces::otlp_endpoint_from_env(),
    )?;
    let settings = ventros_workers::WorkerSettings::parse();
    ventros_workers::run(settings).await
}
