"""No promise without an action, in every language: every customer-facing agent and topic, in
Portuguese, English and Spanish, answers in the customer's language, never makes a promise no code
keeps, and every commitment its reply makes ("I've passed your question to a colleague", "I've
registered your interest", …) comes with the action that makes it true."""

import pytest

from ventros.v1 import agent_pb2
from ventros_agents import actions, language, replies
from ventros_agents.service import enforce_commitments

# One message per topic and language: (topic, {language: message}).
MESSAGES = [
    (
        "purchase",
        {
            "pt": "Oi, quero comprar o produto X, vocês entregam em Curitiba?",
            "en": "I want to buy product X",
            "es": "Quiero comprar el producto X, ¿hacen envíos a Madrid?",
        },
    ),
    (
        "pricing",
        {
            "pt": "Quanto custa o plano premium?",
            "en": "How much does the premium plan cost?",
            "es": "¿Cuánto cuesta el plan premium?",
        },
    ),
    (
        "refund",
        {
            "pt": "O produto veio quebrado, quero meu dinheiro de volta",
            "en": "The product arrived broken, I want a refund",
            "es": "El producto llegó roto, quiero que me devuelvan el dinero",
        },
    ),
    (
        "order_status",
        {
            "pt": "Onde está o meu pedido? Ainda não chegou",
            "en": "Where is my order? It hasn't arrived yet",
            "es": "¿Dónde está mi pedido? Todavía no ha llegado",
        },
    ),
    (
        "support",
        {
            "pt": "O aplicativo parou de funcionar e dá erro ao entrar",
            "en": "The app stopped working and shows an error when I log in",
            "es": "La aplicación dejó de funcionar y da un error al entrar",
        },
    ),
    (
        "complaint",
        {
            "pt": "Péssimo atendimento, estou muito insatisfeito",
            "en": "This is unacceptable, terrible service",
            "es": "Es inaceptable, un servicio pésimo",
        },
    ),
    (
        "small_talk",
        {"pt": "Bom dia! Tudo bem?", "en": "Good morning! How are you?", "es": "¡Buenos días! ¿Qué tal?"},
    ),
    (
        "general",
        {"pt": "Vocês abrem no sábado?", "en": "Are you open on Saturday?", "es": "¿Abren el sábado?"},
    ),
]

CUSTOMER_FACING = sorted(replies.TEMPLATES)


def request(message, agent_type="RouterAgent"):
    return agent_pb2.AgentExecutionRequest(
        agent_type=agent_type,
        tenant_id="tenant-1",
        contact_id="contact-new",
        channel_id="channel-1",
        message=message,
        request_id="req-1",
    )


def check(response, lang, where):
    text = response.response.lower()
    assert language.detect(response.response) == lang, f"{where}: not in {lang}: {response.response!r}"
    assert response.metadata["language"] == lang, where
    for promise in replies.FALSE_PROMISES:
        assert promise not in text, f"{where}: promises {promise!r}: {response.response!r}"
    for phrase, action in replies.COMMITMENTS[lang]:
        if phrase in text:
            assert actions.name(action) in response.suggested_actions, (
                f"{where}: says {phrase!r} without {action}: {response.suggested_actions}"
            )


@pytest.mark.parametrize("lang", language.SUPPORTED)
async def test_every_agent_in_every_language_keeps_its_word(executor, lang):
    for agent_type in CUSTOMER_FACING:
        for topic, texts in MESSAGES:
            response = await executor.execute(request(texts[lang], agent_type))
            check(response, lang, f"{agent_type}/{topic}/{lang}")


@pytest.mark.parametrize("lang", language.SUPPORTED)
async def test_the_router_answers_ordinary_messages_honestly(executor, lang):
    for topic, texts in MESSAGES:
        response = await executor.execute(request(texts[lang]))
        check(response, lang, f"RouterAgent/{topic}/{lang}")


async def test_brazilian_customers_get_portuguese_and_real_handoffs(executor):
    refund = await executor.execute(request("O produto veio quebrado, quero meu dinheiro de volta"))
    assert "reembolso" in refund.response.lower() or "encaminhei" in refund.response.lower(), refund.response
    assert "handoff_to_human" in refund.suggested_actions
    hours = await executor.execute(request("Vocês abrem no sábado?"))
    assert "encaminhei" in hours.response.lower() and "handoff_to_human" in hours.suggested_actions, (
        hours.response
    )
    hello = await executor.execute(request("Bom dia! Tudo bem?"))
    assert hello.response.startswith("Olá"), hello.response
    assert "handoff_to_human" not in hello.suggested_actions


def test_a_models_promise_without_an_action_hands_the_chat_over():
    # A real model's reply that commits to something: the action is added, or a person takes over.
    added = enforce_commitments("Claro! Encaminhei sua pergunta para um colega.", "pt", [])
    assert [a.type for a in added] == [agent_pb2.ACTION_TYPE_HANDOFF_TO_HUMAN]
    added = enforce_commitments("Sure, I'll send you the catalogue tomorrow.", "en", [])
    assert [a.type for a in added] == [agent_pb2.ACTION_TYPE_HANDOFF_TO_HUMAN]
    kept = [agent_pb2.SuggestedAction(type=agent_pb2.ACTION_TYPE_CREATE_LEAD, params={}, reason="x")]
    assert enforce_commitments("Great, I've registered your interest.", "en", kept) == kept
    assert enforce_commitments("How can I help you today?", "en", []) == []


@pytest.mark.parametrize(
    ("lang", "message", "kind", "phrase"),
    [
        ("pt", "O produto veio quebrado, quero meu dinheiro de volta", "refund", "pedido de reembolso"),
        ("en", "The product arrived broken, I want a refund", "refund", "refund request"),
        ("es", "Quiero cancelar mi suscripción", "cancellation", "solicitud de cancelación"),
        ("pt", "O aplicativo parou de funcionar e dá erro ao entrar", "support", "abri um chamado"),
    ],
)
async def test_a_recorded_request_is_a_ticket_with_a_follow_up(executor, lang, message, kind, phrase):
    # The reply says the request was recorded; the answer carries the ticket (in the customer's
    # language, for the operators) and the follow-up whose timer tells the team.
    response = await executor.execute(request(message))
    assert phrase in response.response.lower(), response.response
    by_type = {actions.name(a.type): a for a in response.actions}
    assert by_type["open_ticket"].params["kind"] == kind
    assert by_type["open_ticket"].params["subject"] == replies.ticket_subject(kind, lang)
    follow_up = by_type["schedule_follow_up"]
    assert 1 <= int(follow_up.params["due_in_minutes"]) <= 43200
    assert "handoff_to_human" in by_type
    assert [a.type for a in response.actions].index(actions.OPEN_TICKET) < [
        a.type for a in response.actions
    ].index(actions.SCHEDULE_FOLLOW_UP)


def test_a_model_that_says_it_opened_a_ticket_opens_one():
    added = enforce_commitments("Abri um chamado para a equipe, que vai responder aqui.", "pt", [], "refund")
    kinds = [actions.name(a.type) for a in added]
    assert kinds[:2] == ["open_ticket", "schedule_follow_up"], kinds
    assert added[0].params["kind"] == "refund"
    # "responder aqui" is no handoff phrase, but nothing else is promised: no extra action.
    assert "handoff_to_human" not in kinds


def test_action_names_come_from_the_proto_enum():
    # The names the Rust worker stores and executes ("create_lead") are derived from ActionType.
    assert [actions.name(a) for a in actions.ALL] == [
        "create_lead",
        "update_pipeline",
        "handoff_to_human",
        "tag_contact",
        "open_ticket",
        "schedule_follow_up",
    ]
    for a in actions.ALL:
        assert actions.from_name(actions.name(a)) == a
    with pytest.raises(ValueError):
        actions.from_name("refund_customer")
