"""The offline intent classifier on a slice of CLINC150 (the full evaluation is
`python -m ventros_agents.intent`)."""

import pytest
from conftest import DATASETS

from ventros_agents.intent import OUT_OF_SCOPE, IntentClassifier, evaluate, load_clinc150

INTENTS = {
    "order_status",
    "pay_bill",
    "book_flight",
    "cancel_reservation",
    "balance",
    "transfer",
    "lost_luggage",
    "change_language",
    "restaurant_reservation",
    "bill_due",
    "credit_score",
    "replacement_card_duration",
    "order",
    "shopping_list",
    "report_fraud",
}


@pytest.fixture(scope="module")
def data():
    return load_clinc150(DATASETS / "clinc150" / "clinc150_train_val.json")


@pytest.fixture(scope="module")
def classifier(data):
    train = [(t, label) for t, label in data["train"] if label in INTENTS] + data["oos_train"]
    return IntentClassifier.train(train)


def test_classifies_held_out_messages(classifier, data):
    val = [(t, label) for t, label in data["val"] if label in INTENTS] + data["oos_val"]
    report = evaluate(classifier, val)
    assert report["in_scope_accuracy"] > 0.9, report
    assert report["oos_recall"] > 0.5, report


def test_confidence_is_a_probability_and_orders_alternatives(classifier):
    prediction = classifier.predict("where is my package? it still hasn't arrived")
    assert prediction.intent == "order_status"
    assert prediction.in_scope
    assert 0.0 < prediction.confidence <= 1.0
    assert all(prediction.confidence >= p for _, p in prediction.alternatives)


def test_out_of_scope_messages_are_flagged(classifier):
    prediction = classifier.predict("what is the airspeed velocity of an unladen swallow")
    assert prediction.intent == OUT_OF_SCOPE
    assert not prediction.in_scope


def test_threshold_moves_messages_out_of_scope(classifier):
    text = "can you book it for me"
    loose = classifier.predict(text)
    assert loose.confidence < 1.0
    strict = IntentClassifier(
        classifier._vectorizer, classifier._model, classifier.temperature, threshold=loose.confidence + 1e-6
    )
    assert strict.predict(text).intent == OUT_OF_SCOPE
