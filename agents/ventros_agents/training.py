"""The labelled set the offline classifier learns from, and the map from intents to CRM topics.

Two sources: CLINC150's training split (CC BY 3.0, Larson et al. 2019; a copy ships in
`data/clinc150_train.json`) for general intents and out-of-scope examples in English, and the
Ventros CRM set (`data/crm_intents.json`, written for this project): the intents the agents act on
(buying, prices, products, orders, delivery, opening hours, payment, location, warranty, refunds,
cancellations, complaints, asking for a person, technical problems, billing, appointments, small
talk) and out-of-scope messages, in Portuguese first, English and Spanish.
`python -m ventros_agents.crm_eval` reports accuracy per language on it. The trained model is cached on
disk keyed by a hash of the data, so a service restart does not retrain.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
from pathlib import Path

from .intent import MODEL_VERSION, IntentClassifier, normalise

DATA = Path(__file__).resolve().parent / "data"

LANGUAGES = ("pt", "en", "es")


def crm_examples() -> list[tuple[str, str, str]]:
    """The Ventros CRM set: (text, intent, language). Written for this project (see data/README.md)."""
    data = json.loads((DATA / "crm_intents.json").read_text())
    return [
        (text, intent, lang)
        for intent, by_language in data.items()
        for lang in LANGUAGES
        for text in by_language.get(lang, [])
    ]


# Intent (CLINC150 or supplement) -> CRM topic. Intents not listed are "general".
TOPIC_OF_INTENT: dict[str, str] = {
    "purchase_intent": "purchase",
    "order": "purchase",
    "pricing": "pricing",
    "complaint": "complaint",
    "human_request": "human",
    "product_info": "product_info",
    "refund_request": "refund",
    "technical_problem": "support",
    "feedback": "feedback",
    "cancel_subscription": "cancel",
    "cancel": "cancel",
    "onboarding_question": "onboarding",
    "reactivation": "reactivation",
    "delivery_info": "delivery",
    "opening_hours": "hours",
    "payment_methods": "payment",
    "store_location": "location",
    "warranty": "warranty",
    "billing_question": "billing",
    "book_appointment": "scheduling",
    "order_status": "order_status",
    "pay_bill": "billing",
    "bill_balance": "billing",
    "bill_due": "billing",
    "balance": "billing",
    "transactions": "billing",
    "apr": "billing",
    "credit_limit": "billing",
    "schedule_meeting": "scheduling",
    "meeting_schedule": "scheduling",
    "calendar": "scheduling",
    "calendar_update": "scheduling",
    "book_hotel": "scheduling",
    "restaurant_reservation": "scheduling",
    "greeting": "small_talk",
    "goodbye": "small_talk",
    "thank_you": "small_talk",
    "are_you_a_bot": "small_talk",
    "what_is_your_name": "small_talk",
    "how_old_are_you": "small_talk",
    "who_made_you": "small_talk",
    "damaged_card": "support",
    "report_fraud": "complaint",
    "card_declined": "support",
    "account_blocked": "support",
    "replacement_card_duration": "support",
    "lost_luggage": "complaint",
}


# Questions about the business itself (opening hours, delivery areas, payment, where, warranty):
# only the business's own knowledge answers them, never the agent's guess.
POLICY_TOPIC = "returns"
KNOWLEDGE_TOPICS = frozenset({"delivery", "hours", "payment", "location", "warranty", POLICY_TOPIC})

# A question about how refunds, returns or cancellations work ("Como funciona a devolução?", "How
# long does a refund take?") is the returns policy's, answered from the knowledge base; a request
# ("quero meu dinheiro de volta", "please cancel my order") is a ticket for a person. Questions start
# with an interrogative; a request says what the customer wants or what happened to them.
_QUESTION_START = re.compile(
    r"^\W*(como|qual|quais|quanto|quantos|quantas|quando|em quanto|ate quando|posso|pode|da pra|"
    r"tem como|e possivel|existe|how|what|when|which|can i|could i|is there|is it|do i|do you|does)\b"
)
_REQUEST = re.compile(
    r"\b(quero|queria|gostaria|preciso|solicito|me devolv|meu dinheiro|estorne|estornem|estornar (o|a|meu|minha)|reembols[ae] (o|a|meu|minha)|"
    r"cancela|cancelar (o|a|meu|minha)|veio|chegou|quebrad|defeito|i want|i'd like|i would like|i need|please|"
    r"refund me|my money|cancel my|arrived|broken|charged)"
)


def is_policy_question(message: str) -> bool:
    """Whether a refund or cancellation message asks how it works rather than asking for it."""
    text = normalise(message)
    return bool(_QUESTION_START.search(text)) and not _REQUEST.search(text)


def topic_of(intent: str) -> str:
    return TOPIC_OF_INTENT.get(intent, "general")


def clinc_examples() -> list[tuple[str, str]]:
    clinc = json.loads((DATA / "clinc150_train.json").read_text())
    return [(text, label) for text, label in clinc["train"]] + [
        (text, "oos") for text, _ in clinc["oos_train"]
    ]


# A CRM example counts this many times a CLINC150 one: the CRM intents are the ones the agents act
# on, and each has fewer examples per language than CLINC150's hundred.
CRM_WEIGHT = 3.0


def labelled_examples() -> list[tuple[str, str]]:
    return clinc_examples() + [(text, intent) for text, intent, _ in crm_examples()]


def example_weights(clinc: int, crm: int) -> list[float]:
    return [1.0] * clinc + [CRM_WEIGHT] * crm


def trained_classifier(cache_dir: Path | None = None) -> IntentClassifier:
    """The classifier for the shipped data, trained once and cached."""
    examples = labelled_examples()
    clinc = len(clinc_examples())
    digest = hashlib.sha256(json.dumps([MODEL_VERSION, examples]).encode()).hexdigest()[:16]
    cache_dir = cache_dir or Path(
        os.environ.get("VENTROS_AGENTS_CACHE", Path.home() / ".cache" / "ventros-agents")
    )
    path = cache_dir / f"intent-{digest}.pkl"
    if path.exists():
        with path.open("rb") as f:
            return pickle.load(f)
    classifier = IntentClassifier.train(examples, weights=example_weights(clinc, len(examples) - clinc))
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(classifier, f)
    tmp.replace(path)
    return classifier
