"""The Ventros CRM intent set and what the shipped classifier learns from it (the per-language
figures are `python -m ventros_agents.crm_eval`)."""

from collections import Counter

import numpy as np
import pytest

from ventros_agents.catalog import SPECIALIST_FOR_TOPIC
from ventros_agents.intent import OUT_OF_SCOPE, _fit_threshold, normalise
from ventros_agents.training import (
    KNOWLEDGE_TOPICS,
    LANGUAGES,
    POLICY_TOPIC,
    crm_examples,
    is_policy_question,
    topic_of,
)


def test_the_set_covers_every_topic_the_agents_act_on_in_every_language():
    examples = crm_examples()
    per_language = Counter(lang for _, _, lang in examples)
    assert per_language["pt"] >= 300, per_language
    topics = {topic_of(intent) for _, intent, _ in examples if intent != OUT_OF_SCOPE}
    # The returns policy is routed to from refund and cancellation questions, not an intent.
    wanted = (set(SPECIALIST_FOR_TOPIC) - {"qualification", "general", POLICY_TOPIC}) | (
        KNOWLEDGE_TOPICS - {POLICY_TOPIC}
    )
    assert wanted <= topics, wanted - topics
    counts = Counter((topic_of(intent), lang) for _, intent, lang in examples)
    for topic in wanted:
        for lang in LANGUAGES:
            assert counts[(topic, lang)] >= (10 if lang == "pt" else 4), (topic, lang)
    assert all(counts[(topic_of(OUT_OF_SCOPE), lang)] for lang in LANGUAGES)


def test_no_message_carries_two_labels():
    labels: dict[str, set[str]] = {}
    for text, intent, _ in crm_examples():
        labels.setdefault(normalise(text.strip()), set()).add(intent)
    assert not {t: i for t, i in labels.items() if len(i) > 1}


# Phrasings that are not in the set: what a Brazilian customer writes, and the topic it must reach.
UNSEEN = [
    ("vocês abrem aos domingos?", "hours"),
    ("aceitam pagamento via pix?", "payment"),
    ("quero devolver o tênis, veio apertado e quero meu dinheiro de volta", "refund"),
    ("vocês fazem entrega em Niterói?", "delivery"),
    ("qual o valor do plano básico?", "pricing"),
    ("cadê minha encomenda? comprei faz duas semanas", "order_status"),
    ("quero cancelar a assinatura do plano mensal", "cancel"),
    ("nao consigo acessar minha conta, da erro de senha", "support"),
    ("qual o endereço da loja de vocês?", "location"),
    ("quanto tempo de garantia tem a geladeira?", "warranty"),
]


@pytest.mark.parametrize(("text", "topic"), UNSEEN)
def test_unseen_portuguese_messages_reach_their_topic(classifier, text, topic):
    assert normalise(text) not in {normalise(t) for t, _, _ in crm_examples()}
    prediction = classifier.predict(text)
    assert prediction.in_scope, (text, prediction)
    assert topic_of(prediction.intent) == topic, (text, prediction)


def test_the_out_of_scope_threshold_is_fitted_where_recall_costs_little_accuracy():
    classes = np.array(["a", "b", OUT_OF_SCOPE])
    # In scope: confident and right; out of scope: unsure between a and b, so only a threshold
    # above their best probability (0.45) catches them.
    in_scope = np.array([[0.9, 0.05, 0.05]] * 50 + [[0.05, 0.9, 0.05]] * 50)
    oos = np.array([[0.45, 0.44, 0.11]] * 20)
    probabilities = np.vstack([in_scope, oos])
    truth = np.array([0] * 50 + [1] * 50 + [2] * 20)
    threshold = _fit_threshold(probabilities, truth, classes, budget=0.0)
    assert 0.45 < threshold <= 0.9
    # No out-of-scope examples to learn from: the lowest threshold that loses nothing.
    assert _fit_threshold(in_scope, truth[:100], classes[:2], budget=0.0) == pytest.approx(0.05)


def test_a_question_about_returns_is_told_from_a_request_for_one():
    # Asked how it works: the policy answers. Asked for: a ticket for a person.
    for question in [
        "Como funciona a devolução?",
        "Qual o prazo pra pedir reembolso?",
        "Quanto tempo demora o estorno?",
        "How long does a refund take?",
        "What is your cancellation policy?",
        "Can I return a product I already opened?",
    ]:
        assert is_policy_question(question), question
    for request in [
        "Quero meu dinheiro de volta",
        "O produto veio quebrado, quero devolver",
        "Como faço para cancelar o meu plano?",
        "Please refund me, it arrived broken",
        "How do I cancel my subscription? I want to stop now",
        "Cancela meu pedido",
    ]:
        assert not is_policy_question(request), request
