//! One trace per customer message, across four processes: the API's webhook span, the worker's
//! activities under it (carried through the Conversation workflow), the agent call into the
//! Python agent service and its MemoryService calls back into the worker, and the reply's send.
//! Every process exports over OTLP/HTTP to a receiver in this test, which decodes what it gets
//! with the protocol's own messages. Spans carry ids, never the customer's words or number.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;
use serde_json::json;

use crate::support::{AgentService, TestApp, eventually, free_port};

#[derive(Debug, Clone)]
struct ReceivedSpan {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: HashMap<String, String>,
}

/// An OTLP/HTTP trace receiver (`POST /v1/traces`, protobuf) on a free port.
async fn otlp_receiver() -> (String, Arc<Mutex<Vec<ReceivedSpan>>>) {
    let spans: Arc<Mutex<Vec<ReceivedSpan>>> = Arc::default();
    let store = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let store = store.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("an OTLP request");
                let mut store = store.lock().unwrap();
                for resource in request.resource_spans {
                    let service = resource
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .find(|kv| kv.key == "service.name")
                        .map(|kv| text_of(kv.value.as_ref().and_then(|v| v.value.as_ref())))
                        .unwrap_or_default();
                    for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                        store.push(ReceivedSpan {
                            service: service.clone(),
                            name: span.name,
                            trace_id: hex::encode(span.trace_id),
                            span_id: hex::encode(span.span_id),
                            parent_span_id: hex::encode(span.parent_span_id),
                            attributes: span
                                .attributes
                                .into_iter()
                                .map(|kv| {
                                    let value =
                                        text_of(kv.value.as_ref().and_then(|v| v.value.as_ref()));
                                    (kv.key, value)
                                })
                                .collect(),
                        });
                    }
                }
                (
                    [("content-type", "application/x-protobuf")],
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", free_port()))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, spans)
}

fn text_of(value: Option<&AnyValue>) -> String {
    match value {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

#[tokio::test]
async fn a_message_is_one_trace_from_the_webhook_through_the_agent_and_memory_to_the_send() {
    let (otlp, received) = otlp_receiver().await;
    // The API runs in this process: its spans go through this process' tracer.
    let _traces =
        ventros_activities::traces::init_traces("ventros-api", Some(format!("{otlp}/v1/traces")))
            .expect("tracer");
    let memory = format!("127.0.0.1:{}", free_port());
    let agents = AgentService::start_with(
        &memory,
        &format!("127.0.0.1:{}", free_port()),
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.as_str())],
    )
    .await;
    let app = TestApp::builder()
        .settings(json!({"debounce_ms": 0, "ai": {"agent_type": "RouterAgent", "confidence_threshold": 0.3}}))
        .agents(&agents.address, &memory)
        .worker_env("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp)
        .spawn()
        .await;

    // A caller's trace context is continued (a load balancer's, a client's), but its "not
    // sampled" flag cannot switch recording off.
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    app.http
        .get(format!("{}/healthz", app.api))
        .header(
            "traceparent",
            format!("00-{caller_trace}-00f067aa0ba902b7-00"),
        )
        .send()
        .await
        .unwrap();

    let chat = "5511999990777@c.us";
    let words = "Quero comprar o produto X, entregam em Curitiba?";
    app.customer_writes(chat, json!([{ "body": words }]), 1, false)
        .await;
    app.wait_outbound(1, "read", Duration::from_secs(60)).await;

    let find = |spans: &[ReceivedSpan], service: &str, name: &str, parent: Option<&str>| {
        spans
            .iter()
            .find(|s| {
                s.service == service
                    && s.name == name
                    && parent.is_none_or(|p| s.parent_span_id == p)
            })
            .cloned()
    };
    // Batches leave each process every few seconds.
    let spans = eventually(
        "every process' spans of the message",
        Duration::from_secs(60),
        || {
            let received = received.lock().unwrap().clone();
            async move {
                // The message's webhook (receipts come in on the same route): the one whose
                // trace the inbound batch was stored under.
                let persisted = received.iter().find(|s| {
                    s.service == "ventros-worker"
                        && s.name == "activity conversation.persist_inbound"
                })?;
                let webhook = received
                    .iter()
                    .find(|w| w.service == "ventros-api" && w.span_id == persisted.parent_span_id)
                    .cloned()?;
                assert_eq!(webhook.name, "POST /webhooks/waha/{channel_id}");
                assert_eq!(
                    webhook.parent_span_id, "",
                    "WAHA sends no trace: a new one starts"
                );
                let in_trace: Vec<ReceivedSpan> = received
                    .iter()
                    .filter(|s| s.trace_id == webhook.trace_id)
                    .cloned()
                    .collect();
                let execute = find(
                    &in_trace,
                    "ventros-worker",
                    "activity agent.execute",
                    Some(&webhook.span_id),
                )?;
                let call = find(
                    &in_trace,
                    "ventros-worker",
                    "ventros.v1.AgentService/ExecuteAgent",
                    Some(&execute.span_id),
                )?;
                let agent = find(
                    &in_trace,
                    "ventros-agents",
                    "ventros.v1.AgentService/ExecuteAgent",
                    Some(&call.span_id),
                )?;
                let memory_call = in_trace.iter().find(|s| {
                    s.service == "ventros-agents"
                        && s.name.starts_with("ventros.v1.MemoryService/")
                        && s.parent_span_id == agent.span_id
                })?;
                find(
                    &in_trace,
                    "ventros-worker",
                    &memory_call.name,
                    Some(&memory_call.span_id),
                )?;
                find(
                    &in_trace,
                    "ventros-worker",
                    "activity outbound.send",
                    Some(&webhook.span_id),
                )?;
                Some(received)
            }
        },
    )
    .await;

    let health = spans
        .iter()
        .find(|s| s.name == "GET /healthz")
        .expect("the health check's span");
    assert_eq!(health.trace_id, caller_trace);
    assert_eq!(health.parent_span_id, "00f067aa0ba902b7");
    // The workflow is named on its activities' spans; nothing anywhere carries personal data.
    let execute = spans
        .iter()
        .find(|s| s.name == "activity agent.execute")
        .unwrap();
    assert!(
        execute.attributes["temporal.workflow_id"].starts_with("conversation"),
        "{execute:?}"
    );
    for span in &spans {
        for value in span.attributes.values() {
            assert!(
                !value.contains("Curitiba") && !value.contains("5511999990777"),
                "{span:?}"
            );
        }
        assert!(
            !span.name.contains(&app.channel_id.to_string()),
            "a raw path: {span:?}"
        );
    }
}
