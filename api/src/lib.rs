//! The Ventros HTTP API: a thin axum layer that verifies, parses and hands work to Temporal.
//!
//! Webhooks are verified and written to the webhook inbox, then signalled into workflows; the
//! 2xx answer means Temporal has the event. The REST endpoints read PostgreSQL (filtered by the
//! caller's tenant) and query or update workflows with deadlines. Conversation data is only ever
//! written by activities; the API writes configuration (tenants, keys, channels), the webhook
//! inbox and the channel's provider status.

pub mod auth;
pub mod error;
pub mod routes;
pub mod temporal;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use sqlx::PgPool;

pub use temporal::TemporalHandle;

/// API settings, from the environment (see the README's configuration table).
#[derive(Debug, Clone, clap::Parser)]
pub struct ApiSettings {
    #[arg(long, env = "API_BIND", default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
    #[command(flatten)]
    pub connections: ventros_activities::settings::ConnectionSettings,
    /// The URL WAHA reaches this API at; webhook URLs are built from it.
    #[arg(long, env = "PUBLIC_BASE_URL", default_value = "http://127.0.0.1:8080")]
    pub public_base_url: String,
    /// Largest webhook body accepted.
    #[arg(long, env = "WEBHOOK_MAX_BYTES", default_value_t = 1024 * 1024)]
    pub webhook_max_bytes: usize,
    /// The Python agent service, `host:port` (for `GET /api/v1/agents`).
    #[arg(long, env = "AGENTS_ADDRESS")]
    pub agents_address: Option<String>,
    /// The worker's MemoryService (`MEMORY_GRPC_BIND` there), `host:port`, for the memory routes.
    #[arg(long, env = "MEMORY_ADDRESS")]
    pub memory_address: Option<String>,
}

/// What the handlers need beyond the pool and the Temporal client.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub task_queue: String,
    pub public_base_url: String,
    pub webhook_max_bytes: usize,
    /// Deadline for every Temporal call made while a request waits.
    pub temporal_deadline: Duration,
}

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub temporal: TemporalHandle,
    pub config: Arc<ApiConfig>,
    /// The agent list, fetched from the agent service and cached.
    pub agents: routes::agents::AgentDirectory,
    /// The worker's MemoryService (search and graph routes).
    pub memory: routes::memories::MemoryClient,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/webhooks/waha/{channel_id}", post(webhooks::waha_webhook))
        .route("/api/v1/channels", post(routes::channels::create).get(routes::channels::list))
        .route("/api/v1/channels/{id}", get(routes::channels::show))
        .route("/api/v1/contacts/{id}", get(routes::contacts::show))
        .route("/api/v1/contacts/{id}/memories", get(routes::memories::search))
        .route("/api/v1/contacts/{id}/graph", get(routes::memories::graph))
        .route("/api/v1/conversations", get(routes::conversations::list))
        .route("/api/v1/conversations/{id}", get(routes::conversations::show))
        .route("/api/v1/conversations/{id}/takeover", post(routes::conversations::takeover))
        .route("/api/v1/conversations/{id}/handback", post(routes::conversations::handback))
        .route("/api/v1/messages/{id}", get(routes::messages::show))
        .route("/api/v1/agents", get(routes::agents::list))
        .fallback(|| async { error::ApiError::NotFound("no such route".into()) })
        .with_state(state)
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(
            // Paths carry only ids; query strings are left out of the span.
            |req: &axum::http::Request<_>| tracing::info_span!("http", http.method = %req.method(), http.path = %req.uri().path()),
        ))
}

/// Parses an id from a path; anything that is not a UUID is simply an unknown id.
pub fn parse_id(raw: &str, what: &str) -> Result<uuid::Uuid, error::ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| error::ApiError::NotFound(format!("{what} {raw} not found")))
}

/// Connects everything and serves until SIGINT/SIGTERM.
pub async fn serve(settings: ApiSettings) -> anyhow::Result<()> {
    use anyhow::Context;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(settings.connections.database_max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&settings.connections.database_url)
        .await
        .context("connecting to PostgreSQL")?;
    ventros_migrations::run(&pool).await.context("applying migrations")?;
    let state = AppState {
        pool,
        temporal: TemporalHandle::connect_in_background(settings.connections.temporal_address.clone(), settings.connections.temporal_namespace.clone()),
        config: Arc::new(ApiConfig {
            task_queue: settings.connections.task_queue.clone(),
            public_base_url: settings.public_base_url.trim_end_matches('/').to_owned(),
            webhook_max_bytes: settings.webhook_max_bytes,
            temporal_deadline: Duration::from_secs(5),
        }),
        agents: routes::agents::AgentDirectory::new(match &settings.agents_address {
            Some(address) => Some(Arc::new(
                ventros_activities::agents::GrpcAgentClient::connect_lazy(address).context("AGENTS_ADDRESS")?,
            )),
            None => None,
        }),
        memory: routes::memories::MemoryClient::connect_lazy(settings.memory_address.as_deref()).context("MEMORY_ADDRESS")?,
    };
    let listener = tokio::net::TcpListener::bind(settings.bind).await.context("binding the API address")?;
    tracing::info!(address = %listener.local_addr()?, "API listening");
    axum::serve(listener, router(state)).with_graceful_shutdown(ventros_activities::telemetry::stop_signal()).await?;
    Ok(())
}
