"""OpenTelemetry traces of the agent service, continuing the worker's trace of a customer message.

The worker sends W3C `traceparent` in each call's gRPC metadata; `ExecuteAgent` runs in a server span
under it, and the MemoryService calls the agents make go out with this span's context, so one trace
runs webhook → activity → agent → MemoryService. Spans are exported over OTLP/HTTP only when
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (plus `/v1/traces`)
is set, as on the Rust side.

The tracer provider is this module's own, not OpenTelemetry's global one: ADK traces model calls
through the global provider with the prompts and answers as attributes (customers' words), and
those must not leave the process. Our spans carry ids only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


class _Process:
    """This process' tracer provider, once made."""

    provider: TracerProvider | None = None


def otlp_endpoint() -> str | None:
    """Where spans go, from the standard OTLP variables; None = not exported."""
    traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if traces:
        return traces
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return f"{base.rstrip('/')}/v1/traces" if base else None


def init(service: str = "ventros-agents", endpoint: str | None = None) -> TracerProvider:
    """Makes this process' tracer; with an endpoint, a batch exporter to it."""
    # Recorded whatever the caller's sampled flag says, as on the Rust side.
    provider = TracerProvider(resource=Resource.create({"service.name": service}), sampler=ALWAYS_ON)
    if endpoint:
        # Imported here: the exporter (and its HTTP client) is only needed when exporting.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    _Process.provider = provider
    return provider


def shutdown() -> None:
    """Flushes the spans still queued."""
    if _Process.provider is not None:
        _Process.provider.shutdown()


def _tracer() -> trace.Tracer:
    provider = _Process.provider or init()
    return provider.get_tracer("ventros_agents")


@contextmanager
def server_span(
    name: str, metadata: Iterable[Any] | None, attributes: dict[str, str]
) -> Iterator[trace.Span]:
    """A server span for one incoming call, under the caller's `traceparent` if it sent one."""
    carrier = {str(k).lower(): str(v) for k, v in (metadata or ())}
    parent = _PROPAGATOR.extract(carrier)
    with _span(name, parent, SpanKind.SERVER, attributes) as span:
        yield span


@contextmanager
def client_span(name: str, attributes: dict[str, str]) -> Iterator[trace.Span]:
    """A client span for one outgoing call, child of the current span."""
    with _span(name, None, SpanKind.CLIENT, attributes) as span:
        yield span


@contextmanager
def _span(
    name: str, parent: otel_context.Context | None, kind: SpanKind, attributes: dict[str, str]
) -> Iterator[trace.Span]:
    # Exceptions are recorded by their type only: their messages may quote what a caller sent.
    with _tracer().start_as_current_span(
        name,
        context=parent,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as err:
            span.set_status(Status(StatusCode.ERROR, type(err).__name__))
            raise


def fail(span: trace.Span, reason: str) -> None:
    """Marks the span failed with a reason code of ours (never a caller's text)."""
    span.set_attribute("error.type", reason)
    span.set_status(Status(StatusCode.ERROR, reason))


def outgoing_metadata() -> tuple[tuple[str, str], ...]:
    """The current trace context as gRPC metadata (empty outside a span)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=otel_context.get_current())
    return tuple(carrier.items())


class TraceIdFilter(logging.Filter):
    """Adds `trace_id` to records logged inside a span, so a log line finds its trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record.trace_id = format(span_context.trace_id, "032x")
        return True
