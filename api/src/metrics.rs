//! The API's Prometheus metrics, served on their own address (`API_METRICS_BIND`) so that the
//! public port never shows them: requests by route template and status (never a raw path: ids
//! stay out of labels), their latency, and webhooks accepted or refused by reason.

use std::sync::LazyLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

struct ApiMetrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    webhooks: IntCounterVec,
}

static METRICS: LazyLock<ApiMetrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let requests = IntCounterVec::new(
        Opts::new(
            "ventros_http_requests_total",
            "HTTP requests answered, by method, route template and status",
        ),
        &["method", "route", "status"],
    )
    .expect("valid metric");
    let latency = HistogramVec::new(
        HistogramOpts::new(
            "ventros_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
        )
        .buckets(vec![
            0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]),
        &["method", "route"],
    )
    .expect("valid metric");
    let webhooks = IntCounterVec::new(
        Opts::new(
            "ventros_webhooks_total",
            "Inbound webhooks by provider and outcome (accepted, or why refused)",
        ),
        &["provider", "outcome"],
    )
    .expect("valid metric");
    for metric in [
        Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(latency.clone()),
        Box::new(webhooks.clone()),
    ] {
        registry.register(metric).expect("registered once");
    }
    ApiMetrics {
        registry,
        requests,
        latency,
        webhooks,
    }
});

/// Why a webhook was refused, from its answer (the handlers answer each refusal with its own
/// status: see `webhooks.rs` and `meta_webhooks.rs`).
fn webhook_outcome(status: u16) -> &'static str {
    match status {
        200..=299 => "accepted",
        401 | 403 => "bad_signature",
        404 => "unknown_channel",
        413 => "too_large",
        400 | 415 | 422 => "malformed",
        429 => "rate_limited",
        500..=599 => "unavailable",
        _ => "refused",
    }
}

/// Middleware: counts and times every request under its route template.
pub async fn track(req: Request, next: Next) -> Response {
    // The web app's files and unknown paths: one label, whatever was asked.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    };
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let m = &*METRICS;
    m.requests
        .with_label_values(&[method, route.as_str(), &status.to_string()])
        .inc();
    m.latency
        .with_label_values(&[method, route.as_str()])
        .observe(started.elapsed().as_secs_f64());
    if method == "POST" {
        let provider = match route.as_str() {
            "/webhooks/waha/{channel_id}" => Some("waha"),
            "/webhooks/meta/{channel_id}" => Some("meta"),
            _ => None,
        };
        if let Some(provider) = provider {
            m.webhooks
                .with_label_values(&[provider, webhook_outcome(status)])
                .inc();
        }
    }
    resp
}

/// The metrics in Prometheus' text format.
async fn render() -> Response {
    let mut body = Vec::new();
    let encoder = TextEncoder::new();
    match encoder.encode(&METRICS.registry.gather(), &mut body) {
        Ok(()) => (
            [(
                axum::http::header::CONTENT_TYPE,
                encoder.format_type().to_owned(),
            )],
            body,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "encoding metrics");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Serves `GET /metrics` on `listener` until the process stops.
pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, axum::Router::new().route("/metrics", get(render))).await
}

#[cfg(test)]
mod tests {
    use super::webhook_outcome;

    #[test]
    fn every_refusal_has_a_reason() {
        assert_eq!(webhook_outcome(202), "accepted");
        assert_eq!(webhook_outcome(401), "bad_signature");
        assert_eq!(webhook_outcome(404), "unknown_channel");
        assert_eq!(webhook_outcome(413), "too_large");
        assert_eq!(webhook_outcome(503), "unavailable");
    }
}
