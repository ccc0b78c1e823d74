"""Answers from the business's own knowledge base: the agent quotes what the business wrote, in the
customer's language, records the passages with the run, and hands over when nothing answers."""

import json

import pytest

from ventros.v1 import agent_pb2
from ventros_agents import actions, language

HOURS = {
    "id": "p-hours",
    "document_id": "d-1",
    "document_title": "Políticas da loja",
    "heading": "Horário de funcionamento",
    "content": "Abrimos de segunda a sexta, das 9h às 18h, e aos sábados das 9h às 13h.",
    "similarity": 0.42,
    "keyword_match": True,
    "keyword_coverage": 1.0,
}
GRINDER = {
    "id": "p-grinder",
    "document_id": "d-2",
    "document_title": "Catálogo",
    "heading": "Moedor Manual",
    "content": "Moedor Manual: moedor de café com ajuste de moagem. Preço: R$ 189,00. Disponibilidade: sob encomenda.",
    "fields": {"preço": "R$ 189,00"},
    "similarity": 0.51,
    "keyword_match": True,
    "keyword_coverage": 0.5,
}
# Found, but about something else: the words do not match and the meaning is far.
UNRELATED = {**HOURS, "id": "p-far", "similarity": 0.18, "keyword_match": False, "keyword_coverage": 0.0}
# One word in common ("sábado"), not the subject.
ONE_WORD = {**HOURS, "id": "p-one-word", "similarity": 0.35, "keyword_coverage": 0.25}


def request(message, tenant="tenant-1", agent_type="RouterAgent"):
    return agent_pb2.AgentExecutionRequest(
        agent_type=agent_type,
        tenant_id=tenant,
        contact_id="contact-new",
        channel_id="channel-1",
        message=message,
        request_id="req-1",
    )


async def test_a_question_the_knowledge_answers_is_answered_from_it_and_recorded(executor, memory_service):
    memory_service.knowledge["tenant-1"] = [HOURS]
    response = await executor.execute(request("Vocês abrem no sábado?"))
    assert "aos sábados das 9h às 13h" in response.response, response.response
    assert language.detect(response.response) == "pt"
    assert actions.name(actions.HANDOFF) not in response.suggested_actions
    used = json.loads(response.metadata["knowledge_passages"])
    assert [p["id"] for p in used] == ["p-hours"]
    assert used[0]["document_title"] == "Políticas da loja"
    # The tool is bound to the request's tenant: the model only chooses the words.
    searches = [c for c in memory_service.calls if c[0] == "SearchKnowledge"]
    assert searches and all(tenant == "tenant-1" for _, tenant, _ in searches)


async def test_prices_come_from_the_catalogue_and_nothing_is_promised(executor, memory_service):
    memory_service.knowledge["tenant-1"] = [GRINDER]
    response = await executor.execute(request("Quanto custa o moedor manual?"))
    assert "R$ 189,00" in response.response, response.response
    assert actions.name(actions.HANDOFF) not in response.suggested_actions
    assert "encaminhei" not in response.response.lower()


async def test_an_english_customer_gets_the_portuguese_passage_introduced_in_english(
    executor, memory_service
):
    # Close in meaning across languages (a multilingual embedding model, or a real one).
    memory_service.knowledge["tenant-1"] = [{**HOURS, "similarity": 0.7, "keyword_coverage": 0.0}]
    response = await executor.execute(request("Are you open on Saturday?"))
    assert response.response.startswith("Hi! Here is what our information says:"), response.response
    assert HOURS["content"] in response.response
    assert response.metadata["language"] == "en"


@pytest.mark.parametrize("knowledge", [[], [UNRELATED], [ONE_WORD]])
async def test_without_an_answering_passage_a_colleague_takes_over(executor, memory_service, knowledge):
    memory_service.knowledge["tenant-1"] = knowledge
    response = await executor.execute(request("Vocês abrem no sábado?"))
    assert actions.name(actions.HANDOFF) in response.suggested_actions, response
    assert "colega" in response.response
    assert "9h" not in response.response, "no hours are invented or quoted from an unrelated passage"
    assert "knowledge_passages" not in response.metadata


async def test_another_tenants_knowledge_is_never_searched(executor, memory_service):
    memory_service.knowledge["tenant-2"] = [HOURS]
    response = await executor.execute(request("Vocês abrem no sábado?", tenant="tenant-1"))
    assert "9h" not in response.response
    assert {c[1] for c in memory_service.calls if c[0] == "SearchKnowledge"} == {"tenant-1"}
