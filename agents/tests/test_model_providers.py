"""With a real model configured, the answer is the model's structured output (reply, intent,
confidence, actions) after its own tool calls, checked by the local classifier; rate limits are
retried; errors, timeouts and answers that are not the structured one fall back to the offline
agents. Both providers run against local stand-ins of their HTTP APIs (tests/model_standins.py), so
the real client code (openai, google-genai) makes every call."""

import json
import time

import pytest
import pytest_asyncio
from model_standins import Failure, Reply, gemini, last_tool_result, offered_tools, openai_chat

from ventros.v1 import agent_pb2
from ventros_agents.agents import GEMINI, OPENAI, ProviderConfig
from ventros_agents.runtime import MemoryClient
from ventros_agents.service import AgentExecutor

REFUND = "O produto veio quebrado, quero meu dinheiro de volta"
POLICY = {
    "id": "p-returns",
    "document_id": "d-1",
    "document_title": "Políticas da loja",
    "heading": "Trocas e devoluções",
    "content": "Trocas e devoluções podem ser pedidas em até 7 dias corridos após o recebimento.",
    "similarity": 0.5,
    "keyword_match": True,
    "keyword_coverage": 0.6,
}
ANSWER = {
    "reply": "Sinto muito! Registrei o seu pedido de reembolso e encaminhei para um colega, que vai responder aqui.",
    "intent": "refund_request",
    "confidence": 0.92,
    "actions": [
        {
            "type": "open_ticket",
            "params": {"kind": "refund", "subject": "Produto quebrado"},
            "reason": "refund",
        },
        {"type": "schedule_follow_up", "params": {"title": "Responder", "due_in_minutes": "240"}},
        {"type": "handoff_to_human", "params": {}},
    ],
}


def request(message=REFUND, agent_type="RouterAgent"):
    return agent_pb2.AgentExecutionRequest(
        agent_type=agent_type,
        tenant_id="tenant-1",
        contact_id="contact-ana",
        channel_id="channel-1",
        message=message,
        request_id="req-1",
    )


@pytest_asyncio.fixture
async def run(classifier, memory_service, monkeypatch):
    """`await run(provider, script, **limits)`: one ExecuteAgent through the provider's stand-in."""
    stand_ins, clients = [], []

    async def go(provider, script, *, message=REFUND, timeout_s=5.0, retries=1, agent_type="RouterAgent"):
        stand_in = (openai_chat if provider == OPENAI else gemini)(script)
        stand_ins.append(stand_in)
        if provider == OPENAI:
            config = ProviderConfig(OPENAI, "llama3.2", f"{stand_in.url}/v1", "sk-test", timeout_s, retries)
        else:
            monkeypatch.setenv("GOOGLE_API_KEY", "gemini-test-key")
            config = ProviderConfig(GEMINI, "gemini-2.5-flash", stand_in.url, None, timeout_s, retries)
        memory = MemoryClient(memory_service.address)
        clients.append(memory)
        executor = AgentExecutor(classifier, config, memory)
        response = await executor.execute(request(message, agent_type), deadline_s=30.0)
        return response, stand_in

    yield go
    for s in stand_ins:
        s.close()
    for c in clients:
        await c.close()


def grounded(body):
    """Search the knowledge base first, then answer with the structured output."""
    if last_tool_result(body) == "search_knowledge":
        return Reply(tool_calls=[("set_model_response", ANSWER)])
    return Reply(tool_calls=[("search_knowledge", {"query": "devolução reembolso"})])


@pytest.mark.parametrize("provider", [OPENAI, GEMINI])
async def test_the_answer_is_the_models_structured_output_after_its_tool_calls(run, memory_service, provider):
    memory_service.knowledge["tenant-1"] = [POLICY]
    response, stand_in = await run(provider, grounded)
    assert response.response == ANSWER["reply"]
    assert response.intent == "refund_request"
    assert response.confidence == pytest.approx(0.92)
    assert response.suggested_actions[:3] == ["open_ticket", "schedule_follow_up", "handoff_to_human"]
    assert response.actions[0].params["kind"] == "refund"
    assert response.metadata["structured"] == "true"
    assert response.metadata["model_provider"] == provider
    assert response.agent_type == "RefundAgent", "the classifier routed it"
    assert "model_fallback" not in response.metadata
    # Two calls: the tool call, then the answer with the tool's result in the conversation.
    assert len(stand_in.requests) == 2
    (path, headers, first), (_, _, second) = stand_in.requests
    if provider == OPENAI:
        assert path == "/v1/chat/completions"
        assert headers["authorization"] == "Bearer sk-test"
    else:
        assert path == "/v1beta/models/gemini-2.5-flash:generateContent"
        assert headers["x-goog-api-key"] == "gemini-test-key"
    assert {"search_knowledge", "set_model_response"} <= offered_tools(first)
    assert last_tool_result(second) == "search_knowledge"
    assert "7 dias corridos" in json.dumps(second, ensure_ascii=False), "the passage reached the model"
    # The tool ran server-side for the conversation's tenant, whatever the model asked.
    assert ("SearchKnowledge", "tenant-1") in [(c[0], c[1]) for c in memory_service.calls]
    assert "Portuguese" in str(first), "the model is told the customer's language"


@pytest.mark.parametrize("provider", [OPENAI, GEMINI])
async def test_the_classifier_guards_what_the_model_claims(run, provider):
    claims = {
        "reply": "Abri um chamado para a equipe, que vai responder aqui.",
        "intent": "made_up_intent",
        "confidence": 0.99,
        "actions": [
            {"type": "open_ticket", "params": {"kind": "lawsuit", "subject": "x"}},
            {"type": "update_pipeline", "params": {"stage": "won"}},
        ],
    }
    response, _ = await run(provider, lambda body: Reply(tool_calls=[("set_model_response", claims)]))
    assert response.intent == "refund_request", "a made-up intent is replaced by the classifier's"
    overrode = response.metadata["guard_overrode"].split(",")
    assert {"intent", "confidence", "actions"} <= set(overrode)
    # The invalid actions are dropped; the reply's "abri um chamado" still gets its ticket.
    kinds = [a.params.get("kind") for a in response.actions if a.type == agent_pb2.ACTION_TYPE_OPEN_TICKET]
    assert kinds == ["refund"]
    assert "update_pipeline" not in response.suggested_actions


@pytest.mark.parametrize("provider", [OPENAI, GEMINI])
async def test_a_rate_limit_is_retried(run, provider):
    calls = []

    def script(body):
        calls.append(body)
        if len(calls) == 1:
            return Failure(status=429, retry_after="0")
        return Reply(tool_calls=[("set_model_response", ANSWER)])

    response, stand_in = await run(provider, script)
    assert len(stand_in.requests) == 2
    assert response.response == ANSWER["reply"]
    assert "model_fallback" not in response.metadata


@pytest.mark.parametrize(("provider", "status"), [(OPENAI, 500), (GEMINI, 503), (OPENAI, 429)])
async def test_a_model_that_keeps_failing_is_replaced_by_the_offline_agents(run, provider, status):
    response, stand_in = await run(provider, lambda body: Failure(status=status, retry_after="0"), retries=1)
    assert len(stand_in.requests) == 2, "one retry, then the fallback"
    assert response.metadata["model_fallback"]
    assert "structured" not in response.metadata
    # The offline refund agent answers, in Portuguese, and keeps its word.
    assert "registrei o seu pedido de reembolso" in response.response.lower(), response.response
    assert {"open_ticket", "handoff_to_human"} <= set(response.suggested_actions)


@pytest.mark.parametrize("provider", [OPENAI, GEMINI])
async def test_a_model_that_does_not_answer_in_time_is_replaced(run, provider):
    started = time.monotonic()
    response, _ = await run(provider, lambda body: Failure(status=200, delay_s=3.0), timeout_s=0.5, retries=0)
    assert time.monotonic() - started < 2.9, "nobody waited for the slow model"
    assert response.metadata["model_fallback"]
    assert response.response.startswith("Olá")


@pytest.mark.parametrize("provider", [OPENAI, GEMINI])
async def test_an_answer_that_is_not_the_structured_one_is_replaced(run, provider):
    response, _ = await run(provider, lambda body: Reply(text="Claro! Já estornei o seu dinheiro."))
    assert response.metadata["model_fallback"] == "unstructured_answer"
    assert "estornei" not in response.response


def test_provider_configuration_is_validated(monkeypatch):
    monkeypatch.setenv("VENTROS_MODEL_PROVIDER", "openai")
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    with pytest.raises(ValueError, match="OPENAI_MODEL"):
        ProviderConfig.from_env()
    monkeypatch.setenv("OPENAI_MODEL", "llama3.2")
    monkeypatch.setenv("VENTROS_MODEL_TIMEOUT_S", "3.5")
    monkeypatch.setenv("VENTROS_MODEL_RETRIES", "2")
    config = ProviderConfig.from_env()
    assert (config.timeout_s, config.retries) == (3.5, 2)
    monkeypatch.setenv("VENTROS_MODEL_PROVIDER", "gemini")
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_GENAI_USE_VERTEXAI", raising=False)
    with pytest.raises(ValueError, match="GOOGLE_API_KEY"):
        ProviderConfig.from_env()
    monkeypatch.setenv("VENTROS_MODEL_PROVIDER", "offline")
    assert ProviderConfig.from_env().provider == "offline"
