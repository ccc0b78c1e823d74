//! Runs the WAHA simulator as its own process (the stack script starts it next to the API).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use ventros_simulators::waha::WahaSimulator;

#[derive(Parser)]
#[command(about = "A WAHA simulator speaking WAHA's HTTP and webhook contract")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "WAHA_SIM_BIND", default_value = "127.0.0.1:3000")]
    bind: SocketAddr,
    /// The API key clients must send as X-Api-Key.
    #[arg(long, env = "WAHA_API_KEY")]
    api_key: String,
    /// Milliseconds between the SERVER, DEVICE and READ receipts of a sent message.
    #[arg(long, env = "WAHA_SIM_ACK_DELAY_MS", default_value_t = 50)]
    ack_delay_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ventros_activities::telemetry::init_tracing();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let sim = WahaSimulator::new(&args.api_key, Duration::from_millis(args.ack_delay_ms));
    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    tracing::info!(address = %listener.local_addr()?, "WAHA simulator listening");
    axum::serve(listener, sim.router()).await?;
    Ok(())
}
