//! `ventros-api`: the HTTP API process.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ventros_activities::telemetry::init_tracing();
    let _ = rustls::crypto::ring::default_provider().install_default();
    ventros_api::serve(ventros_api::ApiSettings::parse()).await
}
