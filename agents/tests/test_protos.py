"""The committed Python stubs must be exactly what proto/ produces today."""

import importlib.util
from pathlib import Path

from conftest import AGENTS

spec = importlib.util.spec_from_file_location("generate_protos", AGENTS / "scripts" / "generate_protos.py")
generate_protos = importlib.util.module_from_spec(spec)
spec.loader.exec_module(generate_protos)


def test_generated_stubs_are_fresh(tmp_path: Path) -> None:
    generate_protos.generate(tmp_path)
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.py*"))
    assert fresh, "nothing was generated"
    for relative in fresh:
        committed = AGENTS / relative
        assert committed.exists(), f"{relative} is missing: run python agents/scripts/generate_protos.py"
        assert committed.read_text() == (tmp_path / relative).read_text(), (
            f"{relative} is stale: run python agents/scripts/generate_protos.py"
        )


def test_stubs_import_as_a_package() -> None:
    from ventros.v1 import agent_pb2, agent_pb2_grpc, memory_pb2

    request = agent_pb2.AgentExecutionRequest(agent_type="RouterAgent", tenant_id="t", message="hi")
    assert agent_pb2.AgentExecutionRequest.FromString(request.SerializeToString()).message == "hi"
    assert memory_pb2.MemorySearchMode.Value("HYBRID") == 1
    assert hasattr(agent_pb2_grpc, "add_AgentServiceServicer_to_server")


def test_no_unimplemented_servicer_bases_are_shipped() -> None:
    # grpcio-tools' `…Servicer` base classes answer UNIMPLEMENTED for every rpc; the generator
    # strips them so a servicer can only exist as a real implementation (tested below).
    from ventros.v1 import agent_pb2_grpc, memory_pb2_grpc

    for module in (agent_pb2_grpc, memory_pb2_grpc):
        servicer_bases = [
            name
            for name, value in vars(module).items()
            if isinstance(value, type) and name.endswith("Servicer")
        ]
        assert servicer_bases == [], (module.__name__, servicer_bases)


def test_the_agent_servicer_implements_every_rpc() -> None:
    from ventros.v1 import agent_pb2
    from ventros_agents.service import AgentServicer

    rpcs = [m.name for m in agent_pb2.DESCRIPTOR.services_by_name["AgentService"].methods]
    assert rpcs and all(callable(getattr(AgentServicer, name, None)) for name in rpcs), rpcs
