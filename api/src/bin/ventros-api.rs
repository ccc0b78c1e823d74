//! `ventros-api`: the HTTP API process.

use clap::Parser;

/// jemalloc instead of glibc's allocator: glibc raises its mmap threshold each time a large block
/// is freed, so after a burst of large request bodies and report answers the next ones came from
/// the heap and stayed resident (800 MiB kept after one burst, `scripts/api-memory-bench.sh`);
/// jemalloc's background threads return freed pages to the system after a few seconds.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ventros_activities::telemetry::init_tracing();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _traces = ventros_activities::traces::init_traces(
        "ventros-api",
        ventros_activities::traces::otlp_endpoint_from_env(),
    )?;
    ventros_api::serve(ventros_api::ApiSettings::parse()).await
}
