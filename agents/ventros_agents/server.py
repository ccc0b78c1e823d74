"""`python -m ventros_agents.server`: the AgentService gRPC server.

Settings (environment): `AGENTS_BIND` (default 127.0.0.1:50051), `MEMORY_SERVICE_ADDRESS` (the Rust
MemoryService, e.g. 127.0.0.1:50052; unset = agents answer without history),
`INTERNAL_AUTH_SECRET` (required: the secret shared with the worker and the API that signs every
call's credentials, see `internal_auth.py`), `VENTROS_MODEL_PROVIDER` and its settings (see
`agents.py`), `LOG_LEVEL`, and `OTEL_EXPORTER_OTLP_ENDPOINT` to export traces (see `traces.py`).

Serves the standard gRPC health service; on SIGTERM/SIGINT it reports NOT_SERVING, stops taking new
calls and lets running ones finish (grace period `AGENTS_GRACE_SECONDS`, default 5).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ventros.v1 import agent_pb2_grpc

from . import traces
from .agents import ProviderConfig
from .internal_auth import InternalAuth
from .runtime import MemoryClient
from .service import AgentExecutor, AgentServicer
from .training import trained_classifier

SERVICE_NAME = "ventros.v1.AgentService"


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Records carry ids and figures, never message text or numbers."""

    RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in self.RESERVED})
        return json.dumps(entry, default=str)


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    handler.addFilter(traces.TraceIdFilter())
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    # ADK and httpx log request contents at INFO; keep them quiet.
    for noisy in ("google_adk", "google", "httpx", "openai"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


async def serve(bind: str, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
    log = logging.getLogger("ventros_agents")
    started = time.perf_counter()
    try:
        auth = InternalAuth.from_env()
    except ValueError as err:
        raise SystemExit(str(err)) from None
    config = ProviderConfig.from_env()
    classifier = await asyncio.to_thread(trained_classifier)
    memory_address = os.environ.get("MEMORY_SERVICE_ADDRESS")
    memory = MemoryClient(memory_address) if memory_address else None
    executor = AgentExecutor(classifier, config, memory)
    traces.init(endpoint=traces.otlp_endpoint())

    server = grpc.aio.server()
    agent_pb2_grpc.add_AgentServiceServicer_to_server(AgentServicer(executor, auth), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(bind)
    if port == 0:
        raise SystemExit(f"cannot listen on {bind}")
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "agent service listening",
        extra={
            "bind": bind,
            "port": port,
            "provider": config.provider,
            "agents": len(executor.runners),
            "startup_s": round(time.perf_counter() - started, 2),
        },
    )
    if ready is not None:
        ready.set()

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Not a placeholder: signal handlers exist only on the main thread of a Unix event loop
        # (the tests run the server in a thread); there, stopping is left to `stop`.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: draining calls")
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    await server.stop(grace=float(os.environ.get("AGENTS_GRACE_SECONDS", "5")))
    if memory is not None:
        await memory.close()
    traces.shutdown()
    log.info("stopped")


def main() -> None:
    configure_logging()
    asyncio.run(serve(os.environ.get("AGENTS_BIND", "127.0.0.1:50051")))


if __name__ == "__main__":
    main()
