"""The labelled set the offline classifier learns from, and the map from intents to CRM topics.

Two sources: CLINC150's training split (CC BY 3.0, Larson et al. 2019; a copy ships in
`data/clinc150_train.json`) for general customer intents and out-of-scope examples, and a Ventros
supplement of CRM intents (buying, pricing, complaints, asking for a human, refunds, technical
problems, ...) in English and Portuguese, written for this project. The trained model is cached on
disk keyed by a hash of the data, so a service restart does not retrain.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

from .intent import MODEL_VERSION, IntentClassifier

DATA = Path(__file__).resolve().parent / "data"

SUPPLEMENT: dict[str, list[str]] = {
    "purchase_intent": [
        "i want to buy product x",
        "i'd like to purchase the premium plan",
        "how do i buy this",
        "i want to order two units",
        "can i buy it today",
        "i'm interested in buying the new model",
        "i want to get the pro version",
        "sign me up, i want to buy",
        "i would like to purchase a subscription",
        "ready to buy, how do i pay",
        "quero comprar o produto x",
        "gostaria de comprar o plano premium",
        "quero fazer um pedido",
        "como faço para comprar",
        "tenho interesse em comprar",
    ],
    "pricing": [
        "how much does it cost",
        "what's the price of the premium plan",
        "do you have discounts",
        "send me your price list",
        "what are your plans and prices",
        "is there a cheaper option",
        "how much is shipping",
        "quanto custa",
        "qual o preço do plano",
        "tem desconto",
        "me manda a tabela de preços",
    ],
    "complaint": [
        "this is unacceptable, i'm very unhappy",
        "terrible service, i want to complain",
        "your product broke after one day",
        "i'm furious about how i was treated",
        "worst experience ever",
        "i want to file a complaint",
        "you charged me twice and nobody answers",
        "estou muito insatisfeito",
        "péssimo atendimento",
        "quero fazer uma reclamação",
        "o produto chegou quebrado",
    ],
    "human_request": [
        "i want to talk to a human",
        "let me speak to an agent",
        "can i talk to a real person",
        "transfer me to an attendant",
        "i need a human please",
        "stop the bot, i want a person",
        "quero falar com um atendente",
        "me passa para um humano",
        "quero falar com uma pessoa",
        "atendente por favor",
    ],
    "product_info": [
        "does this product come in blue",
        "what are the specs of product x",
        "is it in stock",
        "tell me more about the premium plan",
        "what features does it have",
        "is it compatible with iphone",
        "tem em estoque",
        "quais as especificações do produto",
        "esse modelo tem garantia",
        "me fala mais sobre o plano",
    ],
    "refund_request": [
        "i want my money back",
        "how do i return this item",
        "i'd like a refund",
        "can i get a refund for my order",
        "i want to return the product",
        "quero meu dinheiro de volta",
        "como faço para devolver",
        "quero reembolso",
    ],
    "technical_problem": [
        "the app keeps crashing",
        "i can't log in to my account",
        "the website shows an error",
        "my device won't turn on",
        "the payment page doesn't load",
        "it stopped working",
        "o aplicativo não abre",
        "não consigo entrar na minha conta",
        "está dando erro no site",
        "parou de funcionar",
    ],
    "feedback": [
        "i love your service",
        "great job, very happy with the product",
        "just wanted to say thanks, everything was perfect",
        "i have a suggestion for your app",
        "adorei o atendimento",
        "o produto é ótimo, parabéns",
        "tenho uma sugestão",
    ],
    "cancel_subscription": [
        "i want to cancel my subscription",
        "please cancel my plan",
        "how do i close my account",
        "i don't want to renew",
        "stop charging me, cancel it",
        "quero cancelar minha assinatura",
        "cancela meu plano",
        "não quero mais renovar",
    ],
    "onboarding_question": [
        "i just signed up, how do i start",
        "i'm new here, what do i do first",
        "how do i set up my account",
        "where do i begin",
        "acabei de assinar, como começo",
        "sou novo, como configuro minha conta",
    ],
    "reactivation": [
        "i'm back, what's new",
        "it's been a while, do you have news",
        "voltei, tem novidades",
    ],
}

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


def topic_of(intent: str) -> str:
    return TOPIC_OF_INTENT.get(intent, "general")


def labelled_examples() -> list[tuple[str, str]]:
    clinc = json.loads((DATA / "clinc150_train.json").read_text())
    examples = [(text, label) for text, label in clinc["train"]] + [
        (text, "oos") for text, _ in clinc["oos_train"]
    ]
    examples += [(text, intent) for intent, texts in SUPPLEMENT.items() for text in texts]
    return examples


def trained_classifier(cache_dir: Path | None = None) -> IntentClassifier:
    """The classifier for the shipped data, trained once and cached."""
    examples = labelled_examples()
    digest = hashlib.sha256(json.dumps([MODEL_VERSION, examples]).encode()).hexdigest()[:16]
    cache_dir = cache_dir or Path(
        os.environ.get("VENTROS_AGENTS_CACHE", Path.home() / ".cache" / "ventros-agents")
    )
    path = cache_dir / f"intent-{digest}.pkl"
    if path.exists():
        with path.open("rb") as f:
            return pickle.load(f)
    classifier = IntentClassifier.train(examples)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(classifier, f)
    tmp.replace(path)
    return classifier
