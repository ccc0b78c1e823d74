"""The AgentService as a real process over real gRPC: health, listing, execution, errors,
streaming and graceful shutdown."""

import os
import random
import signal
import socket
import subprocess
import sys
import time

import grpc
import pytest
from conftest import AGENTS
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ventros.v1 import agent_pb2, agent_pb2_grpc
from ventros_agents.internal_auth import InternalAuth

SECRET = "python-test-internal-secret-0123456789"
AUTH = InternalAuth(SECRET)


def creds(tenant="t", contact=None, auth=AUTH):
    """Credentials for a call about `tenant` (and `contact`), as the worker mints them."""
    return (("authorization", "Bearer " + auth.mint(tenant, contact or None)),)


def free_port() -> int:
    """A free port for the server process, from below the kernel's ephemeral range (32768+).

    A port from bind(0) may be handed to an outgoing connection before the child binds it.
    """
    for port in random.sample(range(10000, 20000), 10000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 10000 and 19999")


@pytest.fixture(scope="module")
def server(classifier):  # the fixture trains (and caches) the model before the process starts
    port = free_port()
    env = dict(
        os.environ,
        AGENTS_BIND=f"127.0.0.1:{port}",
        PYTHONPATH=str(AGENTS),
        LOG_LEVEL="WARNING",
        INTERNAL_AUTH_SECRET=SECRET,
    )
    env.pop("MEMORY_SERVICE_ADDRESS", None)
    process = subprocess.Popen([sys.executable, "-m", "ventros_agents.server"], env=env, cwd=AGENTS)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + 120
    while True:
        try:
            status = health.Check(
                health_pb2.HealthCheckRequest(service="ventros.v1.AgentService"), timeout=1
            ).status
            if status == health_pb2.HealthCheckResponse.SERVING:
                break
        except grpc.RpcError:
            pass
        assert process.poll() is None, "the agent service exited"
        assert time.monotonic() < deadline, "the agent service did not become healthy"
        time.sleep(0.1)
    yield process, agent_pb2_grpc.AgentServiceStub(channel)
    if process.poll() is None:
        process.kill()
    channel.close()


def test_lists_every_agent_with_measured_latency(server):
    _, stub = server
    stub.ExecuteAgent(
        agent_pb2.AgentExecutionRequest(agent_type="SmallTalkAgent", tenant_id="t", message="hello"),
        timeout=10,
        metadata=creds(),
    )
    agents = {
        a.type: a for a in stub.ListAvailableAgents(empty_pb2.Empty(), timeout=5, metadata=creds(None)).agents
    }
    assert len(agents) >= 20
    assert agents["SmallTalkAgent"].executions >= 1
    assert agents["BillingAgent"].executions == 0 and agents["BillingAgent"].avg_latency_ms == 0
    capabilities = stub.GetAgentCapabilities(
        agent_pb2.AgentRequest(agent_type="SalesAgent"), timeout=5, metadata=creds(None)
    )
    assert "create_lead" in capabilities.suggested_actions
    assert capabilities.model_provider == "offline"


def test_executes_with_intent_confidence_and_actions(server):
    _, stub = server
    response = stub.ExecuteAgent(
        agent_pb2.AgentExecutionRequest(
            agent_type="RouterAgent",
            tenant_id="t",
            contact_id="c",
            message="I want to buy product X",
            request_id="r-1",
        ),
        timeout=10,
        metadata=creds("t", "c"),
    )
    assert response.agent_type == "SalesAgent"
    assert response.intent == "purchase_intent"
    assert response.request_id == "r-1"
    assert "create_lead" in response.suggested_actions


@pytest.mark.parametrize(
    "request_kwargs, code, detail",
    [
        (
            {"agent_type": "NoSuchAgent", "tenant_id": "t", "message": "hi"},
            grpc.StatusCode.NOT_FOUND,
            "unknown_agent",
        ),
        (
            {"agent_type": "RouterAgent", "tenant_id": "t", "message": ""},
            grpc.StatusCode.INVALID_ARGUMENT,
            "empty_message",
        ),
        ({"agent_type": "RouterAgent", "message": "hi"}, grpc.StatusCode.INVALID_ARGUMENT, "missing_tenant"),
    ],
)
def test_invalid_requests_get_clear_errors(server, request_kwargs, code, detail):
    _, stub = server
    with pytest.raises(grpc.RpcError) as err:
        stub.ExecuteAgent(
            agent_pb2.AgentExecutionRequest(**request_kwargs),
            timeout=5,
            metadata=creds(request_kwargs.get("tenant_id", "")),
        )
    assert err.value.code() == code
    trailing = dict(err.value.trailing_metadata())
    assert agent_pb2.ErrorDetail.FromString(trailing["ventros-error-bin"]).code == detail


def test_streams_chunks_then_the_final_response(server):
    _, stub = server
    events = list(
        stub.StreamAgentExecution(
            agent_pb2.AgentExecutionRequest(
                agent_type="RouterAgent", tenant_id="t", message="my order hasn't arrived, where is it?"
            ),
            timeout=10,
            metadata=creds(),
        )
    )
    chunks = [e.text_chunk for e in events if e.WhichOneof("event") == "text_chunk"]
    final = events[-1].final
    assert events[-1].WhichOneof("event") == "final"
    assert chunks and " ".join(chunks) == final.response
    assert final.agent_type == "OrderStatusAgent"


def test_unknown_agent_on_capabilities_is_not_found(server):
    _, stub = server
    with pytest.raises(grpc.RpcError) as err:
        stub.GetAgentCapabilities(agent_pb2.AgentRequest(agent_type="Nope"), timeout=5, metadata=creds(None))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_calls_need_credentials_for_their_tenant_and_contact(server):
    _, stub = server
    request = agent_pb2.AgentExecutionRequest(
        agent_type="RouterAgent", tenant_id="t", contact_id="c", message="hi"
    )
    for metadata, code in [
        ((), grpc.StatusCode.UNAUTHENTICATED),
        ((("authorization", "Bearer not-a-token"),), grpc.StatusCode.UNAUTHENTICATED),
        (
            creds("t", "c", InternalAuth("another-secret-another-secret-0123")),
            grpc.StatusCode.UNAUTHENTICATED,
        ),
        (creds("other-tenant", "c"), grpc.StatusCode.PERMISSION_DENIED),
        (creds("t", "another-contact"), grpc.StatusCode.PERMISSION_DENIED),
        (creds(None), grpc.StatusCode.PERMISSION_DENIED),
    ]:
        with pytest.raises(grpc.RpcError) as err:
            stub.ExecuteAgent(request, timeout=5, metadata=metadata)
        assert err.value.code() == code, metadata
    with pytest.raises(grpc.RpcError) as err:
        stub.ListAvailableAgents(empty_pb2.Empty(), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert stub.ExecuteAgent(request, timeout=10, metadata=creds("t", "c")).response


def test_sigterm_drains_and_exits_cleanly(server):
    process, _ = server
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
