//! Ventros for LLM clients: an MCP server (official Rust SDK, `rmcp`) whose tools, resources and
//! prompts cover the CRM through the REST API only: contacts, conversations, channels, pipelines
//! and deals, campaigns, agents, memory and read-only BI.
//!
//! - [`tools`]: the catalog (names, descriptions, input schemas, annotations, REST calls).
//! - [`schemas`]: the API tools' input schemas, generated from the API's OpenAPI document.
//! - [`server`]: the MCP handler (full or discovery-first), resources and prompts.
//! - [`api`]: the REST client.
//! - [`http_app`]: the streamable HTTP transport behind bearer authentication.

pub mod api;
pub mod schemas;
pub mod server;
pub mod tools;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

use crate::api::ApiClient;
use crate::server::VentrosMcp;

/// How long a bearer key the API accepted is trusted before it is checked again.
const KEY_CHECK_TTL: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct KeyCheck {
    api: ApiClient,
    accepted: Arc<Mutex<HashMap<String, Instant>>>,
}

/// The streamable HTTP app: `/mcp`, for remote clients. Every request must carry
/// `Authorization: Bearer <Ventros API key>`; the key is checked with the API (and cached for a
/// minute) before the MCP layer sees the request, and then used for that request's API calls.
pub fn http_app(api_url: &str, discovery: bool, allowed_hosts: Vec<String>) -> Router {
    let api = ApiClient::new(api_url);
    let server = VentrosMcp::new(api.clone(), None, discovery);
    let mut config = StreamableHttpServerConfig::default();
    if !allowed_hosts.is_empty() {
        config = config.with_allowed_hosts(allowed_hosts);
    }
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let check = KeyCheck {
        api,
        accepted: Arc::default(),
    };
    Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(check, require_key))
        .route("/health", axum::routing::get(|| async { "ok" }))
}

async fn require_key(State(check): State<KeyCheck>, request: Request, next: Next) -> Response {
    let unauthorized = |why: &str| {
        (
            StatusCode::UNAUTHORIZED,
            [("WWW-Authenticate", "Bearer realm=\"ventros\"")],
            why.to_owned(),
        )
            .into_response()
    };
    let Some(key) = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
    else {
        return unauthorized("Authorization: Bearer <Ventros API key> is required");
    };
    let fresh = check
        .accepted
        .lock()
        .expect("key cache")
        .get(&key)
        .is_some_and(|at| at.elapsed() < KEY_CHECK_TTL);
    if !fresh {
        match check.api.get(&key, "/api/v1/me", &[]).await {
            Ok(_) => {
                check
                    .accepted
                    .lock()
                    .expect("key cache")
                    .insert(key, Instant::now());
            }
            Err(api::ApiFailure::Refused {
                status: 401 | 403, ..
            }) => return unauthorized("the API key was not accepted"),
            Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        }
    }
    next.run(request).await
}
