"""`python -m ventros_agents.bench [N]`: ExecuteAgent latency through gRPC, offline provider.

Starts the agent service as its own process on a free port, warms it up, then sends N requests
(a mix of messages through the RouterAgent and straight to specialists) one at a time and prints
p50/p95/p99 of the client-side round trip and of the server-reported latency.
"""

from __future__ import annotations

import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ventros.v1 import agent_pb2, agent_pb2_grpc

from .internal_auth import InternalAuth

MESSAGES = [
    ("RouterAgent", "I want to buy product X"),
    ("RouterAgent", "where is my order? it hasn't arrived"),
    ("RouterAgent", "quero falar com um atendente"),
    ("RouterAgent", "how much does the premium plan cost"),
    ("CustomerServiceAgent", "hello, i have a question"),
    ("SalesAgent", "i'd like to purchase two units"),
    ("LeadQualifierAgent", "ready to buy, how do i pay"),
    ("ChurnPredictionAgent", "this is terrible, cancel my plan"),
]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    agents_dir = Path(__file__).resolve().parents[1]
    secret = os.environ.get("INTERNAL_AUTH_SECRET") or secrets.token_hex(32)
    auth = InternalAuth(secret)
    env = dict(
        os.environ,
        AGENTS_BIND=f"127.0.0.1:{port}",
        PYTHONPATH=str(agents_dir),
        LOG_LEVEL="WARNING",
        INTERNAL_AUTH_SECRET=secret,
    )
    process = subprocess.Popen([sys.executable, "-m", "ventros_agents.server"], env=env, cwd=agents_dir)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        health = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + 180
        while True:
            try:
                if (
                    health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    == health_pb2.HealthCheckResponse.SERVING
                ):
                    break
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("the agent service did not start")
            time.sleep(0.1)
        stub = agent_pb2_grpc.AgentServiceStub(channel)

        def call(i: int) -> tuple[float, int]:
            agent_type, message = MESSAGES[i % len(MESSAGES)]
            started = time.perf_counter()
            response = stub.ExecuteAgent(
                agent_pb2.AgentExecutionRequest(
                    agent_type=agent_type, tenant_id="bench", contact_id="", message=message
                ),
                timeout=10,
                metadata=(("authorization", "Bearer " + auth.mint("bench")),),
            )
            return (time.perf_counter() - started) * 1000, response.latency_ms

        for i in range(50):
            call(i)
        results = [call(i) for i in range(n)]
        client = [r[0] for r in results]
        server = [float(r[1]) for r in results]
        print(
            f"ExecuteAgent over gRPC, offline provider, {n} sequential calls ({len(MESSAGES)} message/agent mixes):"
        )
        print(
            f"  round trip   p50 {pct(client, 50):.1f} ms  p95 {pct(client, 95):.1f} ms  p99 {pct(client, 99):.1f} ms  mean {statistics.mean(client):.1f} ms"
        )
        print(f"  server-side  p50 {pct(server, 50):.0f} ms  p95 {pct(server, 95):.0f} ms")
        router = [c for i, c in enumerate(client) if MESSAGES[i % len(MESSAGES)][0] == "RouterAgent"]
        print(f"  RouterAgent (classify + transfer + specialist with tools) p50 {pct(router, 50):.1f} ms")
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
