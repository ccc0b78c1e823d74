//! The Ventros HTTP API: a thin axum layer that authenticates, validates and hands work to
//! Temporal; the one way the web app, the MCP server and integrations reach Ventros.
//!
//! - Webhooks are verified and written to the webhook inbox, then signalled into workflows; the
//!   2xx answer means Temporal has the event.
//! - REST (`/api/v1`) reads PostgreSQL as the caller's tenant under row-level security ([`db`]),
//!   writes configuration and CRM records (contacts, pipelines, deals) with their outbox events,
//!   and starts, signals, updates and queries workflows with deadlines for everything that talks
//!   to customers (operator replies, takeovers, merges). Conversation data is only ever written by
//!   activities.
//! - `GET /api/v1/stream` pushes outbox events live over a WebSocket ([`realtime`]).
//! - The OpenAPI 3.1 document is generated from the handlers ([`openapi`]).

pub mod auth;
pub mod body_budget;
pub mod db;
pub mod error;
pub mod ids;
pub mod meta_webhooks;
pub mod metrics;
pub mod openapi;
pub mod realtime;
pub mod routes;
pub mod sql_guard;
pub mod temporal;
pub mod webhooks;

use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn;
use axum::routing::{get, post};
use serde_json::{Value, json};
use sqlx::PgPool;

pub use temporal::TemporalHandle;

/// API settings, from the environment (see the README's configuration table).
#[derive(Debug, Clone, clap::Parser)]
pub struct ApiSettings {
    #[arg(long, env = "API_BIND", default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
    /// Where the API serves its Prometheus metrics (`GET /metrics`), apart from the public port.
    /// Unset: not served.
    #[arg(long, env = "API_METRICS_BIND")]
    pub metrics_bind: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub connections: ventros_activities::settings::ConnectionSettings,
    #[command(flatten)]
    pub network: ventros_activities::settings::NetworkSettings,
    /// The URL WAHA reaches this API at; webhook URLs are built from it.
    #[arg(long, env = "PUBLIC_BASE_URL", default_value = "http://127.0.0.1:8080")]
    pub public_base_url: String,
    /// Largest webhook body accepted.
    #[arg(long, env = "WEBHOOK_MAX_BYTES", default_value_t = 1024 * 1024)]
    pub webhook_max_bytes: usize,
    /// Largest REST request body accepted.
    #[arg(long, env = "API_MAX_BODY_BYTES", default_value_t = 256 * 1024)]
    pub max_body_bytes: usize,
    /// Request-body bytes the REST routes hold at once, all requests together (at least the
    /// largest upload, 16 MiB); a request that finds no room within 5 s gets 503.
    #[arg(long, env = "API_BODY_BUDGET_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub body_budget_bytes: usize,
    /// Webhook-body bytes held at once, all webhooks together (at least WEBHOOK_MAX_BYTES).
    #[arg(long, env = "WEBHOOK_BODY_BUDGET_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub webhook_body_budget_bytes: usize,
    /// The Python agent service, `host:port` (for `GET /api/v1/agents`).
    #[arg(long, env = "AGENTS_ADDRESS")]
    pub agents_address: Option<String>,
    /// The worker's MemoryService (`MEMORY_GRPC_BIND` there), `host:port`, for the memory routes.
    #[arg(long, env = "MEMORY_ADDRESS")]
    pub memory_address: Option<String>,
    /// The secret the worker, the API and the agent service share to authenticate their gRPC
    /// calls (at least 32 characters); required with AGENTS_ADDRESS or MEMORY_ADDRESS.
    #[arg(long, env = "INTERNAL_AUTH_SECRET", hide_env_values = true)]
    pub internal_auth_secret: Option<SecretString>,
    /// HMAC key of access tokens; every replica needs the same. Unset: a random key per process
    /// (tokens die with it).
    #[arg(long, env = "API_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: Option<SecretString>,
    /// Requests per minute per API key or user.
    #[arg(long, env = "API_RATE_LIMIT_PER_MINUTE", default_value_t = 1200)]
    pub rate_limit_per_minute: u32,
    /// Requests a caller may make at once before the per-minute rate applies.
    #[arg(long, env = "API_RATE_LIMIT_BURST", default_value_t = 200)]
    pub rate_limit_burst: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client (comma-separated addresses);
    /// without them the peer address is the client, for per-address login limits.
    #[arg(long, env = "API_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Origins the browser may call the API from (comma-separated), e.g. the web app in development.
    #[arg(long, env = "API_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// The reports pool's database URL, logged in as `ventros_report` (reads the reporting views
    /// only). Default: `DATABASE_URL` with the user `ventros_report`.
    #[arg(long, env = "REPORTS_DATABASE_URL", hide_env_values = true)]
    pub reports_database_url: Option<String>,
    /// Where operators open workflows (links in conversations, messages, merges).
    #[arg(long, env = "TEMPORAL_UI_URL", default_value = "http://127.0.0.1:8233")]
    pub temporal_ui_url: String,
    /// The built web app (`web/dist`), served at `/`; unset or missing: no web app.
    #[arg(long, env = "WEB_DIR")]
    pub web_dir: Option<std::path::PathBuf>,
    /// Where conversation files are kept; the worker must name the same store (see its
    /// `MEDIA_STORE_URL`).
    #[arg(long, env = "MEDIA_STORE_URL", default_value = "./data/media")]
    pub media_store_url: String,
}

/// What the handlers need beyond the pool and the Temporal client.
#[derive(Clone)]
pub struct ApiConfig {
    pub task_queue: String,
    pub public_base_url: String,
    pub webhook_max_bytes: usize,
    pub max_body_bytes: usize,
    /// Request-body bytes held at once (see [`body_budget`]).
    pub body_budgets: body_budget::Budgets,
    /// Deadline for every Temporal call made while a request waits.
    pub temporal_deadline: Duration,
    pub tokens: auth::TokenKeys,
    pub rate_limit_per_minute: u32,
    pub rate_limit_burst: u32,
    pub cors_origins: Vec<String>,
    pub temporal_namespace: String,
    pub temporal_ui_url: String,
    /// How often a live stream's credential is checked again (tokens expire, keys get revoked).
    pub stream_reauthenticate_every: Duration,
    /// The built web app to serve at `/` (its `index.html` answers every path it routes itself).
    pub web_dir: Option<std::path::PathBuf>,
    /// Where channels' WAHA and Graph base URLs may point.
    pub provider_network: ventros_channels::net_guard::NetPolicy,
    /// Where outbound webhook receivers may be.
    pub webhook_network: ventros_channels::net_guard::NetPolicy,
    /// Proxies trusted to name the client in `X-Forwarded-For`.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Where conversation files are kept (shared with the worker).
    pub media_store: ventros_media::MediaStore,
    /// Limits on the files operators send.
    pub media_limits: ventros_media::Limits,
}

impl ApiConfig {
    /// Defaults for everything but the task queue and public URL (tests, benchmarks).
    pub fn new(task_queue: &str, public_base_url: &str) -> Self {
        ApiConfig {
            task_queue: task_queue.to_owned(),
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            webhook_max_bytes: 1024 * 1024,
            max_body_bytes: 256 * 1024,
            body_budgets: body_budget::Budgets {
                api: body_budget::BodyBudget::new(64 * 1024 * 1024),
                webhooks: body_budget::BodyBudget::new(32 * 1024 * 1024),
                api_limit: 256 * 1024,
                webhook_limit: 1024 * 1024,
            },
            temporal_deadline: Duration::from_secs(5),
            tokens: auth::TokenKeys::new(&rand::random::<[u8; 32]>()),
            rate_limit_per_minute: 1200,
            rate_limit_burst: 200,
            cors_origins: Vec::new(),
            temporal_namespace: "default".into(),
            web_dir: None,
            provider_network: ventros_channels::net_guard::NetPolicy::public_only(),
            webhook_network: ventros_channels::net_guard::NetPolicy::public_only(),
            trusted_proxies: Vec::new(),
            media_store: ventros_media::MediaStore::local(
                &std::env::temp_dir().join("ventros-media"),
            )
            .expect("a media directory in the temporary directory"),
            media_limits: ventros_media::Limits::default(),
            temporal_ui_url: "http://127.0.0.1:8233".into(),
            stream_reauthenticate_every: Duration::from_secs(60),
        }
    }

    /// `{"id": …, "url": …}`: a workflow and where to open it in the Temporal UI.
    pub fn workflow_link(&self, workflow_id: &str) -> Value {
        json!(self.temporal_link("workflows", workflow_id))
    }

    /// A workflow or schedule (`kind`: `workflows` or `schedules`) and its page in the Temporal UI.
    pub fn temporal_link(&self, kind: &str, id: &str) -> TemporalLink {
        let encoded: String = id
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.:".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        TemporalLink {
            id: id.to_owned(),
            url: format!(
                "{}/namespaces/{}/{kind}/{encoded}",
                self.temporal_ui_url.trim_end_matches('/'),
                self.temporal_namespace
            ),
        }
    }
}

/// A Temporal workflow or schedule an operator can open: its id and its Temporal UI page.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct TemporalLink {
    pub id: String,
    pub url: String,
}

#[derive(Clone)]
pub struct AppState {
    /// Connections running as `ventros_app` (RLS applies); see [`db`].
    pub pool: PgPool,
    /// The reports pool (logged in as `ventros_report`) and its per-tenant limit.
    pub reports: routes::reports::ReportRunner,
    pub temporal: TemporalHandle,
    pub config: Arc<ApiConfig>,
    /// The agent list, fetched from the agent service and cached.
    pub agents: routes::agents::AgentDirectory,
    /// The worker's MemoryService (search and graph routes).
    pub memory: routes::memories::MemoryClient,
    pub limiter: auth::RateLimiter,
    /// Login attempts per e-mail address (slows password guessing).
    pub login_limiter: auth::RateLimiter,
    /// Login attempts per client address (slows guessing across many e-mail addresses).
    pub address_limiter: auth::RateLimiter,
    /// Which sessions behind access tokens are still alive.
    pub sessions: auth::SessionCache,
    pub key_usage: auth::KeyUsage,
    pub realtime: realtime::Hub,
    /// For the channel session status route.
    pub waha: Arc<dyn ventros_channels::waha::WahaApi>,
    /// Signs the short-lived links files are served through (its key is read on first use).
    pub media_signer: Arc<tokio::sync::OnceCell<ventros_media::UrlSigner>>,
}

impl AppState {
    /// `pool` must come from [`db::app_pool`], `reports` from [`db::report_pool`]. Starts the
    /// realtime listener.
    pub fn new(
        pool: PgPool,
        reports: PgPool,
        temporal: TemporalHandle,
        config: ApiConfig,
        agents: routes::agents::AgentDirectory,
        memory: routes::memories::MemoryClient,
    ) -> Self {
        AppState {
            limiter: auth::RateLimiter::new(config.rate_limit_per_minute, config.rate_limit_burst),
            login_limiter: auth::RateLimiter::new(10, 10),
            address_limiter: auth::RateLimiter::new(10, 10),
            sessions: auth::SessionCache::default(),
            key_usage: auth::KeyUsage::default(),
            realtime: realtime::Hub::start(pool.clone()),
            waha: Arc::new(ventros_channels::waha::HttpWahaClient::with_policy(
                config.provider_network.clone(),
            )),
            reports: routes::reports::ReportRunner::new(reports),
            media_signer: Arc::default(),
            pool,
            temporal,
            config: Arc::new(config),
            agents,
            memory,
        }
    }
}

pub fn router(state: AppState) -> Router {
    let (api, mut spec) = openapi::api_router().split_for_parts();
    openapi::name_operations(&mut spec);
    let spec = Arc::new(spec);
    let cors = cors_layer(&state.config.cors_origins);
    let api = api
        .route("/api/v1/stream", get(realtime::stream))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(cors);
    Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route(
            "/webhooks/waha/{channel_id}",
            post(webhooks::waha_webhook).layer(from_fn(body_budget::reserve_webhook)),
        )
        .route("/media/{id}", get(routes::media::serve))
        .route(
            "/webhooks/meta/{channel_id}",
            get(meta_webhooks::meta_verify)
                .post(meta_webhooks::meta_webhook)
                .layer(from_fn(body_budget::reserve_webhook)),
        )
        .merge(api)
        .merge(openapi::docs_router(spec))
        .fallback_service(web_app(state.config.web_dir.clone()))
        .with_state(state.clone())
        .layer(axum::Extension(state.config.body_budgets.clone()))
        .layer(axum::middleware::from_fn(metrics::track))
        // Inside the request's log span, so its lines carry the trace id beside the request id.
        .layer(ventros_activities::traces::ServerSpanLayer::http(
            |extensions| {
                extensions
                    .get::<axum::extract::MatchedPath>()
                    .map(|path| path.as_str().to_owned())
            },
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(http_span))
        // Every request has an id (the caller's `x-request-id`, or a new UUID), echoed on the
        // response and carried by the span, so a user's report finds its log lines.
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(
            tower_http::request_id::MakeRequestUuid,
        ))
}

/// The span of one HTTP request: method, path, request id, and the tenant once authentication
/// has found it ([`auth::authenticate`] records it). Paths carry only ids; query strings (tokens,
/// search text) are left out.
fn http_span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        // A caller's id is logged only when it looks like one (no log injection, bounded size).
        .filter(|v| {
            v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .unwrap_or("invalid");
    tracing::info_span!(
        "http",
        http.method = %req.method(),
        http.path = %req.uri().path(),
        request_id,
        tenant.id = tracing::field::Empty,
    )
}

/// What the web app's pages may load and run: only our own scripts, styles, images and
/// connections (the API and its WebSocket); never framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers every response carries; the CSP on all but the interactive API docs (Swagger UI runs
/// inline scripts of its own, and shows no tenant data).
async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let docs = req.uri().path().starts_with("/api/docs");
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // A route with a stricter policy of its own (served files) keeps it.
    if !docs && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    resp
}

/// The web app's files, with `index.html` for the paths the app routes itself (`/inbox/…`); API
/// paths that match no route stay a problem+json 404.
fn web_app(dir: Option<std::path::PathBuf>) -> axum::routing::MethodRouter {
    use axum::response::IntoResponse;
    let not_found = || async { error::ApiError::NotFound("no such route".into()).into_response() };
    let Some(dir) = dir else {
        return axum::routing::any(not_found);
    };
    let files = tower_http::services::ServeDir::new(&dir)
        .fallback(tower_http::services::ServeFile::new(dir.join("index.html")));
    axum::routing::any(move |req: axum::extract::Request| {
        let files = files.clone();
        async move {
            let path = req.uri().path();
            if path.starts_with("/api/") || path.starts_with("/webhooks/") {
                return error::ApiError::NotFound("no such route".into()).into_response();
            }
            match tower::ServiceExt::oneshot(files, req).await {
                Ok(resp) => resp.into_response(),
                Err(never) => match never {},
            }
        }
    })
}

fn cors_layer(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, HeaderValue, Method, header};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::PUT,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
        ])
        .max_age(Duration::from_secs(600))
}

/// Parses an id from a path; anything that is not a UUID is simply an unknown id.
pub fn parse_id(raw: &str, what: &str) -> Result<uuid::Uuid, error::ApiError> {
    uuid::Uuid::parse_str(raw)
        .map_err(|_| error::ApiError::NotFound(format!("{what} {raw} not found")))
}

/// The request-body budgets, each large enough for the largest body it must admit.
fn body_budgets(settings: &ApiSettings) -> anyhow::Result<body_budget::Budgets> {
    let largest = settings
        .max_body_bytes
        .max(routes::media::MAX_UPLOAD_BODY)
        .max(routes::knowledge::MAX_UPLOAD_BODY);
    anyhow::ensure!(
        settings.body_budget_bytes >= largest,
        "API_BODY_BUDGET_BYTES must be at least {largest} (the largest request body)"
    );
    anyhow::ensure!(
        settings.webhook_body_budget_bytes >= settings.webhook_max_bytes,
        "WEBHOOK_BODY_BUDGET_BYTES must be at least WEBHOOK_MAX_BYTES"
    );
    Ok(body_budget::Budgets {
        api: body_budget::BodyBudget::new(settings.body_budget_bytes),
        webhooks: body_budget::BodyBudget::new(settings.webhook_body_budget_bytes),
        api_limit: settings.max_body_bytes,
        webhook_limit: settings.webhook_max_bytes,
    })
}

/// Connects everything and serves until SIGINT/SIGTERM.
pub async fn serve(settings: ApiSettings) -> anyhow::Result<()> {
    // The worker applies migrations; the API logs in as a role that could not.
    let database_url = settings.connections.database_url.expose_secret();
    let pool = db::app_pool(database_url, settings.connections.database_max_connections)
        .await
        .context("connecting to PostgreSQL as ventros_app")?;
    let reports_url = match &settings.reports_database_url {
        Some(url) => url.clone(),
        None => db::login_url(database_url, db::REPORT_LOGIN)?,
    };
    let reports = db::report_pool(&reports_url, routes::reports::AT_ONCE)
        .await
        .context("connecting to PostgreSQL for reports as ventros_report")?;
    let secret = match settings
        .token_secret
        .as_ref()
        .map(ExposeSecret::expose_secret)
    {
        Some(secret) if secret.len() >= 32 => secret.as_bytes().to_vec(),
        Some(_) => anyhow::bail!("API_TOKEN_SECRET must be at least 32 characters"),
        None => {
            tracing::warn!(
                "API_TOKEN_SECRET is not set: access tokens are signed with a random key and die with this process"
            );
            rand::random::<[u8; 32]>().to_vec()
        }
    };
    let config = ApiConfig {
        task_queue: settings.connections.task_queue.clone(),
        public_base_url: settings.public_base_url.trim_end_matches('/').to_owned(),
        webhook_max_bytes: settings.webhook_max_bytes,
        max_body_bytes: settings.max_body_bytes,
        body_budgets: body_budgets(&settings)?,
        temporal_deadline: Duration::from_secs(5),
        tokens: auth::TokenKeys::new(&secret),
        rate_limit_per_minute: settings.rate_limit_per_minute,
        rate_limit_burst: settings.rate_limit_burst,
        cors_origins: settings.cors_origins.clone(),
        temporal_namespace: settings.connections.temporal_namespace.clone(),
        temporal_ui_url: settings.temporal_ui_url.clone(),
        stream_reauthenticate_every: Duration::from_secs(60),
        web_dir: settings
            .web_dir
            .clone()
            .filter(|d| d.join("index.html").is_file()),
        provider_network: settings.network.provider_policy(),
        webhook_network: settings.network.webhook_policy(),
        trusted_proxies: settings.trusted_proxies.clone(),
        media_store: ventros_media::MediaStore::from_url(&settings.media_store_url)?,
        media_limits: ventros_media::Limits::default(),
    };
    let internal = match (
        &settings.internal_auth_secret,
        settings.agents_address.is_some() || settings.memory_address.is_some(),
    ) {
        (Some(secret), _) => {
            ventros_activities::internal_auth::InternalAuth::new(secret.expose_secret())
                .map_err(anyhow::Error::msg)?
        }
        (None, true) => anyhow::bail!(
            "INTERNAL_AUTH_SECRET is required with AGENTS_ADDRESS or MEMORY_ADDRESS (at least 32 characters, shared with the worker and the agent service)"
        ),
        // Neither service is configured: nothing is ever signed with this.
        (None, false) => {
            ventros_activities::internal_auth::InternalAuth::new(&hex::encode(rand::random::<
                [u8; 32],
            >()))
            .map_err(anyhow::Error::msg)?
        }
    };
    let agents = routes::agents::AgentDirectory::new(match &settings.agents_address {
        Some(address) => Some(Arc::new(
            ventros_activities::agents::GrpcAgentClient::connect_lazy(address, internal.clone())
                .context("AGENTS_ADDRESS")?,
        )),
        None => None,
    });
    let memory =
        routes::memories::MemoryClient::connect_lazy(settings.memory_address.as_deref(), internal)
            .context("MEMORY_ADDRESS")?;
    let temporal = TemporalHandle::connect_in_background(
        settings.connections.temporal_address.clone(),
        settings.connections.temporal_namespace.clone(),
    );
    let state = AppState::new(pool, reports, temporal, config, agents, memory);
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .context("binding the API address")?;
    tracing::info!(address = %listener.local_addr()?, "API listening");
    if let Some(bind) = settings.metrics_bind {
        let metrics = tokio::net::TcpListener::bind(bind)
            .await
            .context("binding API_METRICS_BIND")?;
        tracing::info!(address = %metrics.local_addr()?, "API metrics at /metrics");
        tokio::spawn(async move {
            if let Err(err) = metrics::serve(metrics).await {
                tracing::error!(error = %err, "the metrics endpoint stopped");
            }
        });
    }
    // The peer address feeds the per-address login limit.
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(ventros_activities::telemetry::stop_signal())
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::ApiSettings;

    #[test]
    fn secrets_in_the_settings_never_reach_debug_output() {
        let token = "token-secret-0123456789abcdef0123456789";
        let internal = "internal-secret-0123456789abcdef012345";
        let password = "db-password-0123456789";
        let database_url = format!("postgres://ventros:{password}@db.internal/ventros");
        let settings = ApiSettings::try_parse_from([
            "ventros-api",
            "--database-url",
            &database_url,
            "--token-secret",
            token,
            "--internal-auth-secret",
            internal,
        ])
        .expect("settings parse");
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains(token) && !shown.contains(internal) && !shown.contains(password),
            "{shown}"
        );
        assert!(shown.contains("REDACTED"), "{shown}");
    }
}
