"""What one agent execution knows, and the tools that call back into Ventros.

A `Turn` is set in a context variable for the duration of one `ExecuteAgent`: the request, the
classification of the message, and the MemoryService client. ADK tools and the offline model read
it from there (asyncio tasks inherit it), so nothing request-specific leaks between concurrent
executions.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from ventros.v1 import memory_pb2, memory_pb2_grpc

from . import traces
from .intent import IntentPrediction

log = logging.getLogger("ventros_agents")


@dataclass
class Turn:
    tenant_id: str
    contact_id: str
    channel_id: str
    session_id: str
    request_id: str
    message: str
    context: dict[str, str]
    prediction: IntentPrediction
    topic: str
    memory: MemoryClient | None
    deadline_s: float | None = None
    # The caller's internal token, passed back on MemoryService calls (see internal_auth).
    credentials: str = ""
    # Filled in while the agents run.
    contact_context: dict[str, Any] = field(default_factory=dict)
    memories: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[str] = field(default_factory=list)
    # Passages of the business's knowledge base found for this message (search_knowledge).
    knowledge: list[dict[str, Any]] = field(default_factory=list)
    # The language the reply is written in ("pt", "en", "es"), once decided.
    language: str = ""


CURRENT: contextvars.ContextVar[Turn] = contextvars.ContextVar("ventros_turn")


class MemoryClient:
    """MemoryService over gRPC (served by the Rust side)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._channel = grpc.aio.insecure_channel(address)
        self._stub = memory_pb2_grpc.MemoryServiceStub(self._channel)

    async def contact_context(self, turn: Turn, timeout: float) -> dict[str, Any]:
        with traces.client_span("ventros.v1.MemoryService/GetContactContext", {"rpc.system": "grpc"}):
            response = await self._stub.GetContactContext(
                memory_pb2.ContactContextRequest(
                    tenant_id=turn.tenant_id,
                    contact_id=turn.contact_id,
                    history_limit=20,
                    request_id=turn.request_id,
                ),
                timeout=timeout,
                metadata=_metadata(turn),
            )
        profile = response.profile
        return {
            "display_name": profile.display_name,
            "custom_attributes": dict(profile.custom_attributes),
            "tags": list(profile.tags),
            "recent_messages": [{"direction": m.direction, "text": m.text} for m in response.recent_messages],
            "recent_memories": [m.content for m in response.recent_memories],
            "stats": {"total_messages": response.stats.total_messages, "sessions": response.stats.sessions},
        }

    async def search(self, turn: Turn, query: str, limit: int, timeout: float) -> list[dict[str, Any]]:
        with traces.client_span("ventros.v1.MemoryService/SearchMemories", {"rpc.system": "grpc"}):
            response = await self._stub.SearchMemories(
                memory_pb2.MemorySearchRequest(
                    tenant_id=turn.tenant_id,
                    contact_id=turn.contact_id,
                    query=query,
                    limit=limit,
                    mode=memory_pb2.HYBRID,
                    request_id=turn.request_id,
                ),
                timeout=timeout,
                metadata=_metadata(turn),
            )
        return [
            {"content": m.content, "memory_type": m.memory_type, "relevance": round(m.relevance_score, 3)}
            for m in response.memories
        ]

    async def search_knowledge(
        self, turn: Turn, query: str, limit: int, timeout: float
    ) -> list[dict[str, Any]]:
        with traces.client_span("ventros.v1.MemoryService/SearchKnowledge", {"rpc.system": "grpc"}):
            response = await self._stub.SearchKnowledge(
                memory_pb2.KnowledgeSearchRequest(tenant_id=turn.tenant_id, query=query, limit=limit),
                timeout=timeout,
                metadata=_metadata(turn),
            )
        return [
            {
                "id": p.id,
                "document_id": p.document_id,
                "document_title": p.document_title,
                "heading": p.heading,
                "content": p.content,
                "fields": dict(p.fields),
                "similarity": round(p.similarity, 3),
                "keyword_match": p.keyword_match,
                "coverage": round(p.keyword_coverage, 3),
            }
            for p in response.passages
        ]

    async def close(self) -> None:
        await self._channel.close()


def _metadata(turn: Turn) -> tuple[tuple[str, str], ...]:
    """The caller's credentials and the current trace context, for a MemoryService call."""
    credentials = (("authorization", f"Bearer {turn.credentials}"),) if turn.credentials else ()
    return credentials + traces.outgoing_metadata()


def _timeout(turn: Turn) -> float:
    return 2.0 if turn.deadline_s is None else max(0.05, min(2.0, turn.deadline_s))


async def get_contact_context() -> dict:
    """Returns the customer's profile, recent messages and recent memories from Ventros."""
    turn = CURRENT.get()
    turn.tool_calls.append("get_contact_context")
    if turn.memory is None or not turn.contact_id:
        return {"available": False}
    try:
        turn.contact_context = await turn.memory.contact_context(turn, _timeout(turn))
        return {"available": True, **turn.contact_context}
    except grpc.aio.AioRpcError as err:
        log.warning(
            "memory.contact_context failed",
            extra={"grpc.code": err.code().name, "request.id": turn.request_id},
        )
        return {"available": False, "error": err.code().name}


async def search_memories(query: str) -> dict:
    """Searches the customer's memories in Ventros (past purchases, tickets, preferences) for the query."""
    turn = CURRENT.get()
    turn.tool_calls.append("search_memories")
    if turn.memory is None or not turn.contact_id:
        return {"available": False, "memories": []}
    try:
        turn.memories = await turn.memory.search(turn, query, 5, _timeout(turn))
        return {"available": True, "memories": turn.memories}
    except grpc.aio.AioRpcError as err:
        log.warning(
            "memory.search failed", extra={"grpc.code": err.code().name, "request.id": turn.request_id}
        )
        return {"available": False, "error": err.code().name, "memories": []}


async def search_knowledge(query: str) -> dict:
    """Searches the business's own knowledge base (opening hours, delivery areas, payment methods,
    products and prices, warranty, returns and other policies) for passages that answer the query.
    Answer only from these passages; if none answers the question, say a colleague will check."""
    turn = CURRENT.get()
    turn.tool_calls.append("search_knowledge")
    if turn.memory is None or not turn.tenant_id:
        return {"available": False, "passages": []}
    try:
        # The tenant comes from the turn (the caller's credentials), never from the model.
        turn.knowledge = await turn.memory.search_knowledge(turn, query, 3, _timeout(turn))
        return {"available": True, "passages": turn.knowledge}
    except grpc.aio.AioRpcError as err:
        log.warning(
            "memory.search_knowledge failed",
            extra={"grpc.code": err.code().name, "request.id": turn.request_id},
        )
        return {"available": False, "error": err.code().name, "passages": []}


TOOL_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "get_contact_context": get_contact_context,
    "search_memories": search_memories,
    "search_knowledge": search_knowledge,
}
