//! `ventros-mcp`: the MCP server, over stdio (desktop clients such as Claude Desktop) or
//! streamable HTTP (remote clients, each with its own API key).

use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use rmcp::ServiceExt;
use ventros_mcp::api::ApiClient;
use ventros_mcp::server::VentrosMcp;

#[derive(Parser)]
#[command(about = "Ventros CRM for LLM clients (Model Context Protocol)")]
struct Args {
    /// The Ventros API.
    #[arg(long, env = "VENTROS_API_URL", default_value = "http://127.0.0.1:8080")]
    api_url: String,
    /// Discovery-first: three tools (catalog → describe → execute) instead of the full list, for
    /// clients with small context budgets.
    #[arg(long, env = "VENTROS_MCP_DISCOVERY", default_value_t = false)]
    discovery: bool,
    #[command(subcommand)]
    transport: Transport,
}

#[derive(Subcommand)]
enum Transport {
    /// JSON-RPC over stdin/stdout, acting with one tenant API key.
    Stdio {
        /// A Ventros API key (`vtr_…`); its role bounds what the tools may do.
        #[arg(long, env = "VENTROS_API_KEY", hide_env_values = true)]
        api_key: String,
    },
    /// Streamable HTTP at `/mcp`; every request authenticates with `Authorization: Bearer <API key>`.
    Http {
        #[arg(long, env = "VENTROS_MCP_BIND", default_value = "127.0.0.1:8090")]
        bind: SocketAddr,
        /// Host headers accepted (DNS-rebinding protection); default: localhost only.
        #[arg(
            long = "allowed-host",
            env = "VENTROS_MCP_ALLOWED_HOSTS",
            value_delimiter = ','
        )]
        allowed_hosts: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // stdout carries the protocol: logs go to stderr.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    match args.transport {
        Transport::Stdio { api_key } => {
            let server =
                VentrosMcp::new(ApiClient::new(&args.api_url), Some(api_key), args.discovery);
            let running = server.serve(rmcp::transport::stdio()).await?;
            running.waiting().await?;
        }
        Transport::Http {
            bind,
            allowed_hosts,
        } => {
            let app = ventros_mcp::http_app(&args.api_url, args.discovery, allowed_hosts);
            let listener = tokio::net::TcpListener::bind(bind).await?;
            tracing::info!(address = %listener.local_addr()?, "MCP server (streamable HTTP) listening at /mcp");
            axum::serve(listener, app).await?;
        }
    }
    Ok(())
}
