//! Runs the Meta simulator (Graph Send API and Messenger/Instagram webhooks) as its own process;
//! the stack script starts it next to the WAHA simulator.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use ventros_simulators::meta::MetaSimulator;

#[derive(Parser)]
#[command(
    about = "A Meta simulator speaking the Graph Send API and the Messenger/Instagram webhook contract"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "META_SIM_BIND", default_value = "127.0.0.1:3100")]
    bind: SocketAddr,
    /// Milliseconds between a sent message's echo, delivery and read webhooks.
    #[arg(long, env = "META_SIM_RECEIPT_DELAY_MS", default_value_t = 50)]
    receipt_delay_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ventros_activities::telemetry::init_tracing();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let sim = MetaSimulator::new(Duration::from_millis(args.receipt_delay_ms));
    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    tracing::info!(address = %listener.local_addr()?, "Meta simulator listening");
    axum::serve(listener, sim.router()).await?;
    Ok(())
}
