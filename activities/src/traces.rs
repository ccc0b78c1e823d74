//! OpenTelemetry traces for every Ventros process: one trace per customer message, from the
//! webhook through the Conversation's activities, the agent service and its MemoryService calls,
//! to the reply's send.
//!
//! Why by hand rather than the Temporal SDK's (experimental) tracing plugin: a Conversation is one
//! long workflow run for many messages, and the plugin parents every activity on the run's first
//! trace. Here the API records the webhook's trace context in the `inbound` signal
//! ([`TraceContext`]), the workflow hands it on in the inputs of the activities it schedules for
//! that message, and each activity runs in a span under it ([`in_span`]). Between processes it
//! travels as W3C `traceparent` (HTTP headers, gRPC metadata).
//!
//! Spans are always made (log lines carry their `trace_id`) but exported only when
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (plus
//! `/v1/traces`) names an OTLP/HTTP collector. Span attributes are ids and routes, never message
//! text or phone numbers.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue, global};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument as _;
pub use ventros_workflows::contract::TraceContext;

/// The instrumentation scope of Ventros' own spans.
const SCOPE: &str = "ventros";

/// Where spans go, from the standard OTLP variables; None = not exported.
pub fn otlp_endpoint_from_env() -> Option<String> {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
        set("OTEL_EXPORTER_OTLP_ENDPOINT")
            .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
    })
}

/// Flushes the spans still queued when the process stops.
#[must_use = "dropping the guard at once would stop exporting"]
pub struct TracesGuard(SdkTracerProvider);

impl Drop for TracesGuard {
    fn drop(&mut self) {
        // Nothing to do about a collector that is gone while the process stops.
        let _ = self.0.shutdown();
    }
}

/// Installs the process-wide tracer (`service` names this process in the traces) and the W3C
/// propagator; with `endpoint` (see [`otlp_endpoint_from_env`]), a batch exporter to it.
pub fn init_traces(service: &'static str, endpoint: Option<String>) -> anyhow::Result<TracesGuard> {
    use opentelemetry_otlp::WithExportConfig as _;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .build();
    // Every request is recorded whatever its caller's `traceparent` says: an anonymous webhook
    // sender must not be able to switch tracing off for its messages.
    let mut builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn);
    if let Some(endpoint) = endpoint {
        // The exporter's HTTP client needs the process' TLS provider (the processes install
        // the same one first thing; a second install is a no-op).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    global::set_tracer_provider(provider.clone());
    global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(TracesGuard(provider))
}

/// The parent a recorded trace context stands for (none: a new trace).
pub fn parent_of(trace: Option<TraceContext>) -> Context {
    let Some(trace) = trace else {
        return Context::new();
    };
    let flags = if trace.sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(trace.trace_id),
        SpanId::from(trace.span_id),
        flags,
        true,
        TraceState::default(),
    ))
}

/// The current span's trace context, to record where the work it starts will run.
pub fn current_trace() -> Option<TraceContext> {
    let cx = Context::current();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| TraceContext {
        trace_id: u128::from_be_bytes(sc.trace_id().to_bytes()),
        span_id: u64::from_be_bytes(sc.span_id().to_bytes()),
        sampled: sc.is_sampled(),
    })
}

/// Runs `work` in a new span under `parent`: the span is current while it runs (so the calls it
/// makes carry it on), its log lines carry `trace_id`, and an `Err` marks it failed.
pub async fn in_span<T, E: std::fmt::Debug>(
    name: impl Into<std::borrow::Cow<'static, str>>,
    kind: SpanKind,
    parent: &Context,
    attributes: Vec<KeyValue>,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let tracer = global::tracer(SCOPE);
    let span = tracer
        .span_builder(name)
        .with_kind(kind)
        .with_attributes(attributes)
        .start_with_context(&tracer, parent);
    let trace_id = span.span_context().trace_id();
    let cx = parent.with_span(span);
    let log_span = tracing::info_span!("trace", trace_id = %trace_id);
    let result = work.with_context(cx.clone()).instrument(log_span).await;
    if let Err(err) = &result {
        cx.span().set_status(Status::error(format!("{err:?}")));
    }
    cx.span().end();
    result
}

/// Runs an activity's body in its span: a child of the customer message's trace the workflow
/// handed on (`trace`), named after the activity type and tagged with its workflow and attempt.
pub async fn activity_span<T, E: std::fmt::Debug>(
    ctx: &temporalio_sdk::activities::ActivityContext,
    trace: Option<TraceContext>,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let info = ctx.info();
    let attributes = vec![
        KeyValue::new(
            "temporal.workflow_id",
            info.workflow_id.clone().unwrap_or_default(),
        ),
        KeyValue::new("temporal.activity_type", info.activity_type.clone()),
        KeyValue::new("temporal.attempt", i64::from(info.attempt)),
    ];
    let name = format!("activity {}", info.activity_type);
    in_span(
        name,
        SpanKind::Internal,
        &parent_of(trace),
        attributes,
        work,
    )
    .await
}

/// Puts the current trace context on an outgoing gRPC call.
pub fn inject_into_metadata(metadata: &mut tonic::metadata::MetadataMap) {
    struct Carrier<'a>(&'a mut tonic::metadata::MetadataMap);
    impl Injector for Carrier<'_> {
        fn set(&mut self, key: &str, value: String) {
            if let (Ok(key), Ok(value)) = (
                tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
                value.parse(),
            ) {
                self.0.insert(key, value);
            }
        }
    }
    TraceContextPropagator::new().inject_context(&Context::current(), &mut Carrier(metadata));
}

/// The trace context an incoming request carries (`traceparent`), if any.
pub fn extract_from_headers(headers: &http::HeaderMap) -> Context {
    struct Carrier<'a>(&'a http::HeaderMap);
    impl Extractor for Carrier<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(http::HeaderName::as_str).collect()
        }
    }
    TraceContextPropagator::new().extract(&Carrier(headers))
}

/// A tower layer that runs every request in a server span continuing the caller's
/// `traceparent`: for the API (the span named by the route template, never the raw path with its
/// ids) and for gRPC services (the method's path).
#[derive(Clone, Copy, Debug)]
pub struct ServerSpanLayer {
    naming: Naming,
}

#[derive(Clone, Copy, Debug)]
enum Naming {
    /// The method's path.
    Grpc,
    /// The route template the router left in the request's extensions.
    Http(fn(&http::Extensions) -> Option<String>),
}

impl ServerSpanLayer {
    /// For a gRPC server: the span is the method (`ventros.v1.MemoryService/SearchMemories`).
    pub fn grpc() -> Self {
        Self {
            naming: Naming::Grpc,
        }
    }

    /// For an HTTP router that leaves the matched route template in the request's extensions
    /// (`route_of`); a request no route matched is named `other`.
    pub fn http(route_of: fn(&http::Extensions) -> Option<String>) -> Self {
        Self {
            naming: Naming::Http(route_of),
        }
    }
}

impl<S> tower::Layer<S> for ServerSpanLayer {
    type Service = ServerSpan<S>;
    fn layer(&self, inner: S) -> ServerSpan<S> {
        ServerSpan {
            inner,
            naming: self.naming,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ServerSpan<S> {
    inner: S,
    naming: Naming,
}

impl<S, B, R> tower::Service<http::Request<B>> for ServerSpan<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Send,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let parent = extract_from_headers(request.headers());
        let method = request.method().to_string();
        let (name, route) = match self.naming {
            Naming::Grpc => {
                let path = request.uri().path().to_owned();
                (path.trim_start_matches('/').to_owned(), path)
            }
            Naming::Http(route_of) => {
                let route = route_of(request.extensions()).unwrap_or_else(|| "other".to_owned());
                (format!("{method} {route}"), route)
            }
        };
        let attributes = vec![
            KeyValue::new("http.request.method", method),
            KeyValue::new("http.route", route),
        ];
        let tracer = global::tracer(SCOPE);
        let span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_attributes(attributes)
            .start_with_context(&tracer, &parent);
        let trace_id = span.span_context().trace_id();
        let cx = parent.with_span(span);
        let log_span = tracing::info_span!("trace", trace_id = %trace_id);
        let future = self.inner.call(request);
        Box::pin(async move {
            let result = future.with_context(cx.clone()).instrument(log_span).await;
            let span = cx.span();
            match &result {
                Ok(response) => {
                    let status = response.status();
                    span.set_attribute(KeyValue::new(
                        "http.response.status_code",
                        i64::from(status.as_u16()),
                    ));
                    if status.is_server_error() {
                        span.set_status(Status::error(status.to_string()));
                    }
                }
                Err(err) => span.set_status(Status::error(err.to_string())),
            }
            span.end();
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test, not two: tracing caches which spans a thread's subscriber wants per call site,
    /// process-wide, so a second test running beside it (`cargo test` threads) could hide the span.
    #[tokio::test]
    async fn a_recorded_context_is_the_parent_the_current_trace_inside_and_in_the_logs() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let _guard = init_traces("test", None).unwrap();
        let recorded = TraceContext {
            trace_id: 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
            span_id: 0x00f0_67aa_0ba9_02b7,
            sampled: true,
        };
        let inside = in_span(
            "work",
            SpanKind::Internal,
            &parent_of(Some(recorded)),
            vec![],
            async {
                tracing::info!("working");
                Ok::<_, String>(current_trace())
            },
        )
        .await
        .unwrap()
        .expect("a current span");
        assert_eq!(inside.trace_id, recorded.trace_id);
        assert_ne!(inside.span_id, recorded.span_id, "a child span of its own");
        let logged = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(
            logged.contains("trace_id=4bf92f3577b34da6a3ce929d0e0e4736")
                && logged.contains("working"),
            "{logged}"
        );
        // Outside any span there is nothing to hand on.
        assert_eq!(current_trace(), None);
        let mut metadata = tonic::metadata::MetadataMap::new();
        let cx = parent_of(Some(recorded));
        let _attached = cx.attach();
        inject_into_metadata(&mut metadata);
        assert_eq!(
            metadata.get("traceparent").unwrap().to_str().unwrap(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }
}
