"""Traces: an agent execution continues its caller's trace, hands it on to MemoryService, and its
spans carry ids only (never the customer's words); log lines inside it carry the trace id."""

import logging

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ventros.v1 import agent_pb2
from ventros_agents import traces

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def exported(monkeypatch):
    exporter = InMemorySpanExporter()
    provider = traces.init(endpoint=None)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(traces._Process, "provider", provider)
    return exporter


async def test_an_execution_continues_the_callers_trace_into_memory_service(
    executor, memory_service, exported
):
    message = "Quero comprar o liquidificador Pro, meu número é 11 98765-4321"
    request = agent_pb2.AgentExecutionRequest(
        agent_type="RouterAgent",
        tenant_id="tenant-1",
        contact_id="contact-ana",
        channel_id="channel-1",
        message=message,
        request_id="req-1",
    )
    metadata = [("traceparent", f"00-{TRACE_ID}-{CALLER_SPAN}-01"), ("authorization", "Bearer x")]
    with traces.server_span("ventros.v1.AgentService/ExecuteAgent", metadata, {"rpc.system": "grpc"}):
        await executor.execute(request)

    spans = exported.get_finished_spans()
    server = next(s for s in spans if s.name == "ventros.v1.AgentService/ExecuteAgent")
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert format(server.parent.span_id, "016x") == CALLER_SPAN
    clients = [s for s in spans if s.name.startswith("ventros.v1.MemoryService/")]
    assert clients, [s.name for s in spans]
    for client in clients:
        assert client.parent.span_id == server.context.span_id
    # MemoryService got the client span's context, so its own span hangs under it.
    sent = [t for t in memory_service.traceparents if t]
    assert sent and len(sent) == len(memory_service.traceparents)
    client_ids = {format(c.context.span_id, "016x") for c in clients}
    for traceparent in sent:
        _, trace_id, span_id, _ = traceparent.split("-")
        assert trace_id == TRACE_ID
        assert span_id in client_ids
    # Ids only: neither the message nor the number it quotes is in any span.
    for span in spans:
        for value in (span.attributes or {}).values():
            assert "liquidificador" not in str(value) and "98765" not in str(value), span.name


async def test_outside_a_trace_nothing_is_sent_and_a_new_one_starts(executor, memory_service, exported):
    assert traces.outgoing_metadata() == ()
    with traces.server_span("ventros.v1.AgentService/ExecuteAgent", [], {}):
        carried = dict(traces.outgoing_metadata())
    assert carried["traceparent"].startswith("00-")
    (span,) = exported.get_finished_spans()
    assert span.parent is None


def test_log_lines_inside_a_span_carry_its_trace_id(exported):
    record = logging.LogRecord("ventros_agents", logging.INFO, __file__, 1, "working", (), None)
    metadata = [("traceparent", f"00-{TRACE_ID}-{CALLER_SPAN}-01")]
    with traces.server_span("work", metadata, {}):
        traces.TraceIdFilter().filter(record)
    assert record.trace_id == TRACE_ID
    outside = logging.LogRecord("ventros_agents", logging.INFO, __file__, 1, "idle", (), None)
    traces.TraceIdFilter().filter(outside)
    assert not hasattr(outside, "trace_id")


def test_the_endpoint_follows_the_standard_variables(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert traces.otlp_endpoint() is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    assert traces.otlp_endpoint() == "http://collector:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://other:4318/custom")
    assert traces.otlp_endpoint() == "http://other:4318/custom"


def test_a_callers_not_sampled_flag_does_not_switch_recording_off(exported):
    with traces.server_span("work", [("traceparent", f"00-{TRACE_ID}-{CALLER_SPAN}-00")], {}):
        pass
    (span,) = exported.get_finished_spans()
    assert format(span.context.trace_id, "032x") == TRACE_ID
