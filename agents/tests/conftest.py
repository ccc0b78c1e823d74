import sys
from pathlib import Path

AGENTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(AGENTS))

DATASETS = AGENTS.parent.parent / "shared" / "datasets"

import pytest  # noqa: E402 (after the path set-up above)
import pytest_asyncio  # noqa: E402

from ventros_agents.internal_auth import bearer  # noqa: E402


@pytest.fixture(scope="session")
def classifier():
    from ventros_agents.training import trained_classifier

    return trained_classifier()


class FakeMemoryService:
    """An in-process MemoryService for the Python unit tests (the real one is the Rust server,
    exercised by the end-to-end suite). Answers from a dict of contact id -> data."""

    def __init__(self, contacts):
        self.contacts = contacts
        self.calls = []
        # The bearer token each call carried (the agent passes its caller's credentials back).
        self.credentials = []
        # The W3C trace context each call carried (None: it carried none).
        self.traceparents = []

        self.stored = []
        # The business's knowledge base: tenant id -> passages (dicts of KnowledgePassage fields).
        self.knowledge = {}

        class Servicer:
            async def GetContactContext(inner, request, context):
                from ventros.v1 import memory_pb2

                self.calls.append(("GetContactContext", request.tenant_id, request.contact_id))
                self.credentials.append(bearer(context.invocation_metadata()))
                self.traceparents.append(dict(context.invocation_metadata()).get("traceparent"))
                data = self.contacts.get(request.contact_id, {})
                return memory_pb2.ContactContextResponse(
                    profile=memory_pb2.ContactProfile(
                        contact_id=request.contact_id, display_name=data.get("name", "")
                    ),
                    recent_memories=[memory_pb2.Memory(content=c) for c in data.get("memories", [])],
                    stats=memory_pb2.ContactStats(total_messages=data.get("messages", 0)),
                )

            async def SearchMemories(inner, request, context):
                from ventros.v1 import memory_pb2

                self.calls.append(("SearchMemories", request.tenant_id, request.contact_id))
                self.credentials.append(bearer(context.invocation_metadata()))
                self.traceparents.append(dict(context.invocation_metadata()).get("traceparent"))
                data = self.contacts.get(request.contact_id, {})
                return memory_pb2.MemorySearchResponse(
                    memories=[
                        memory_pb2.Memory(content=c, memory_type="purchase", relevance_score=0.9)
                        for c in data.get("memories", [])
                    ],
                    total_count=len(data.get("memories", [])),
                )

            async def StoreMemory(inner, request, context):
                from ventros.v1 import memory_pb2

                self.calls.append(("StoreMemory", request.tenant_id, request.contact_id))
                self.credentials.append(bearer(context.invocation_metadata()))
                self.traceparents.append(dict(context.invocation_metadata()).get("traceparent"))
                self.stored.append(request.content)
                return memory_pb2.StoreMemoryResponse(memory_id=f"m-{len(self.stored)}", created=True)

            async def GetRelatedEntities(inner, request, context):
                from ventros.v1 import memory_pb2

                self.calls.append(("GetRelatedEntities", request.tenant_id, request.contact_id))
                self.credentials.append(bearer(context.invocation_metadata()))
                self.traceparents.append(dict(context.invocation_metadata()).get("traceparent"))
                return memory_pb2.RelatedEntitiesResponse(graph=memory_pb2.Graph())

            async def SearchKnowledge(inner, request, context):
                from ventros.v1 import memory_pb2

                self.calls.append(("SearchKnowledge", request.tenant_id, request.query))
                self.credentials.append(bearer(context.invocation_metadata()))
                self.traceparents.append(dict(context.invocation_metadata()).get("traceparent"))
                return memory_pb2.KnowledgeSearchResponse(
                    passages=[
                        memory_pb2.KnowledgePassage(**p)
                        for p in self.knowledge.get(request.tenant_id, [])[: request.limit or 5]
                    ]
                )

        self.servicer = Servicer()


@pytest_asyncio.fixture
async def executor(classifier, memory_service):
    """The offline agent executor, calling the fake MemoryService back."""
    from ventros_agents.agents import ProviderConfig
    from ventros_agents.runtime import MemoryClient
    from ventros_agents.service import AgentExecutor

    memory = MemoryClient(memory_service.address)
    yield AgentExecutor(classifier, ProviderConfig(), memory)
    await memory.close()


@pytest_asyncio.fixture
async def memory_service():
    import grpc

    from ventros.v1 import memory_pb2_grpc

    fake = FakeMemoryService(
        {
            "contact-ana": {
                "name": "Ana Souza",
                "memories": ["Bought the Pro blender on 2026-09-15"],
                "messages": 4,
            }
        }
    )
    server = grpc.aio.server()
    memory_pb2_grpc.add_MemoryServiceServicer_to_server(fake.servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    fake.address = f"127.0.0.1:{port}"
    yield fake
    await server.stop(None)
