"""The offline intent classifier: what a customer wants, with a calibrated confidence and
out-of-scope detection, without any network or LLM.

Word and character n-gram TF-IDF features feed a linear SVM; its scores become probabilities through
a softmax whose temperature is fitted on out-of-fold scores (minimum negative log-likelihood), so
the confidence is calibrated and a prediction costs one sparse product. A message whose best
probability falls under the out-of-scope threshold, or whose best class is the explicit `oos` class,
is out of scope. The threshold is fitted on the same out-of-fold probabilities, never on evaluation
data: the highest out-of-scope recall that costs in-scope accuracy at most `ACCURACY_BUDGET` against
the best threshold's.

`python -m ventros_agents.intent` trains on CLINC150's train split and reports on its validation
split (the numbers quoted in the README come from this command).
"""

from __future__ import annotations

import argparse
import json
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC

OUT_OF_SCOPE = "oos"
# Bump when the model changes: trained models are cached under a key that includes it.
MODEL_VERSION = 3
# How much out-of-fold in-scope accuracy the out-of-scope threshold may give up for recall.
ACCURACY_BUDGET = 0.015


@dataclass(frozen=True)
class IntentPrediction:
    intent: str
    confidence: float
    in_scope: bool
    alternatives: tuple[tuple[str, float], ...]


class IntentClassifier:
    """A trained classifier. Build one with :meth:`train`."""

    def __init__(
        self, vectorizer: FeatureUnion, model: LinearSVC, temperature: float, threshold: float
    ) -> None:
        self._vectorizer = vectorizer
        self._model = model
        self.temperature = temperature
        self.threshold = threshold
        self.intents: tuple[str, ...] = tuple(str(c) for c in model.classes_)

    @classmethod
    def train(
        cls,
        examples: Iterable[tuple[str, str]],
        threshold: float | None = None,
        folds: int = 5,
        accuracy_budget: float = ACCURACY_BUDGET,
        weights: Sequence[float] | None = None,
    ) -> IntentClassifier:
        """`threshold` None fits it on out-of-fold probabilities (see the module's doc); `weights`
        (one per example) make some examples count more in the fit."""
        texts, labels = zip(*examples, strict=False)
        sample_weight = np.ones(len(texts)) if weights is None else np.asarray(weights, dtype=float)
        vectorizer = FeatureUnion(
            [
                ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                (
                    "chars",
                    TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
                ),
            ]
        )
        features = vectorizer.fit_transform([normalise(t) for t in texts])
        y = np.array(labels)
        classes = np.unique(y)
        # Out-of-fold scores: what the model says about messages it has not seen.
        scores = np.zeros((len(y), len(classes)))
        for train_idx, held_idx in StratifiedKFold(n_splits=folds, shuffle=True, random_state=7).split(
            features, y
        ):
            fold = LinearSVC(C=0.5).fit(
                features[train_idx], y[train_idx], sample_weight=sample_weight[train_idx]
            )
            columns = np.searchsorted(classes, fold.classes_)
            scores[np.ix_(held_idx, columns)] = fold.decision_function(features[held_idx])
        truth = np.searchsorted(classes, y)
        temperature = _fit_temperature(scores, truth)
        if threshold is None:
            threshold = _fit_threshold(
                _softmax(scores / temperature), truth, classes, accuracy_budget, sample_weight
            )
        model = LinearSVC(C=0.5).fit(features, y, sample_weight=sample_weight)
        return cls(vectorizer, model, temperature, threshold)

    def predict(self, text: str) -> IntentPrediction:
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[IntentPrediction]:
        probabilities = _softmax(
            self._model.decision_function(self._vectorizer.transform([normalise(t) for t in texts]))
            / self.temperature
        )
        results = []
        for row in probabilities:
            order = np.argsort(row)[::-1]
            best = int(order[0])
            intent, confidence = self.intents[best], float(row[best])
            in_scope = intent != OUT_OF_SCOPE and confidence >= self.threshold
            alternatives = tuple((self.intents[int(i)], float(row[int(i)])) for i in order[1:4])
            results.append(
                IntentPrediction(intent if in_scope else OUT_OF_SCOPE, confidence, in_scope, alternatives)
            )
        return results


def normalise(text: str) -> str:
    """Lowercase without accents: customers on WhatsApp write "nao" and "não", "voce" and "você"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _fit_temperature(scores: np.ndarray, truth: np.ndarray) -> float:
    """The softmax temperature with the lowest negative log-likelihood on held-out scores."""
    best, best_nll = 1.0, float("inf")
    for temperature in np.geomspace(0.01, 2.0, 80):
        p = _softmax(scores / temperature)[np.arange(len(truth)), truth]
        nll = float(-np.log(np.clip(p, 1e-12, None)).mean())
        if nll < best_nll:
            best, best_nll = float(temperature), nll
    return best


def _fit_threshold(
    probabilities: np.ndarray,
    truth: np.ndarray,
    classes: np.ndarray,
    budget: float,
    weights: np.ndarray | None = None,
) -> float:
    """The out-of-scope threshold with the best out-of-fold out-of-scope recall among those whose
    in-scope accuracy (weighted like the fit) is within `budget` of the best; the lower threshold
    on ties."""
    weights = np.ones(len(truth)) if weights is None else weights
    oos = np.flatnonzero(classes == OUT_OF_SCOPE)
    in_scope = truth != (oos[0] if len(oos) else -1)
    best = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    explicit = best == (oos[0] if len(oos) else -1)
    rows = []
    for threshold in np.round(np.arange(0.05, 0.951, 0.025), 3):
        flagged = explicit | (confidence < threshold)
        accuracy = float(np.average(((best == truth) & ~flagged)[in_scope], weights=weights[in_scope]))
        recall = (
            float(np.average(flagged[~in_scope], weights=weights[~in_scope])) if (~in_scope).any() else 0.0
        )
        rows.append((float(threshold), accuracy, recall))
    top = max(accuracy for _, accuracy, _ in rows)
    eligible = [r for r in rows if r[1] >= top - budget]
    return min(eligible, key=lambda r: (-r[2], r[0]))[0]


def load_clinc150(path: Path) -> dict[str, list[tuple[str, str]]]:
    data = json.loads(path.read_text())
    return {split: [(text, label) for text, label in rows] for split, rows in data.items()}


def evaluate(classifier: IntentClassifier, examples: Sequence[tuple[str, str]]) -> dict[str, float]:
    predictions = classifier.predict_many([t for t, _ in examples])
    truth = np.array([label for _, label in examples])
    predicted = np.array([p.intent for p in predictions])
    in_scope = truth != OUT_OF_SCOPE
    flagged = predicted == OUT_OF_SCOPE
    oos_precision = float((flagged & ~in_scope).sum() / max(flagged.sum(), 1))
    # Expected calibration error over 10 confidence bins, on in-scope messages.
    confidences = np.array([p.confidence for p in predictions])[in_scope]
    correct = (predicted == truth)[in_scope]
    bins = np.minimum((confidences * 10).astype(int), 9)
    ece = sum(
        abs(correct[bins == b].mean() - confidences[bins == b].mean()) * (bins == b).mean()
        for b in range(10)
        if (bins == b).any()
    )
    return {
        "in_scope_accuracy": float((predicted[in_scope] == truth[in_scope]).mean()),
        "oos_recall": float(flagged[~in_scope].mean()),
        "oos_precision": oos_precision,
        "overall_accuracy": float((predicted == truth).mean()),
        "expected_calibration_error": float(ece),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Train on CLINC150 train (+ oos_train), report on val (+ oos_val)."
    )
    default = (
        Path(__file__).resolve().parents[2].parent
        / "shared"
        / "datasets"
        / "clinc150"
        / "clinc150_train_val.json"
    )
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument(
        "--threshold", type=float, default=None, help="out-of-scope threshold (default: fitted)"
    )
    args = parser.parse_args(argv)

    data = load_clinc150(args.data)
    started = time.perf_counter()
    classifier = IntentClassifier.train(data["train"] + data["oos_train"], threshold=args.threshold)
    trained = time.perf_counter() - started
    report = evaluate(classifier, data["val"] + data["oos_val"])
    started = time.perf_counter()
    for text, _ in data["val"][:500]:
        classifier.predict(text)
    per_message_ms = (time.perf_counter() - started) * 1000 / 500
    print(
        f"CLINC150 val ({len(data['val'])} in-scope + {len(data['oos_val'])} out-of-scope), "
        f"threshold {classifier.threshold:.3f}:"
    )
    for key, value in report.items():
        print(f"  {key:28} {value:.4f}")
    print(f"  training time                {trained:.1f} s")
    print(f"  prediction latency           {per_message_ms:.2f} ms per message")


if __name__ == "__main__":
    main()
