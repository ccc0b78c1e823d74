"""`python -m ventros_agents.crm_eval`: how well the shipped classifier understands each language.

The Ventros CRM set (Portuguese, English, Spanish) is split into stratified folds; each fold is
classified by a model trained the way the service trains it (CLINC150's training split plus the
other folds), so every figure is on messages the model has not seen. Printed per language:

- topic accuracy: the CRM topic the router acts on (purchase, refund, hours, ...) is right, with an
  out-of-scope message counted right when it reaches the general topic;
- intent accuracy on in-scope messages;
- out-of-scope recall: off-topic messages recognised as such.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import StratifiedKFold

from .intent import OUT_OF_SCOPE, IntentClassifier
from .training import LANGUAGES, clinc_examples, crm_examples, example_weights, topic_of


def _topic(intent: str) -> str:
    return "general" if intent == OUT_OF_SCOPE else topic_of(intent)


def evaluate(folds: int = 5, seed: int = 11) -> dict[str, dict[str, float]]:
    crm = crm_examples()
    clinc = clinc_examples()
    # Stratify on intent and language together, so each fold holds every language of each intent.
    strata = np.array([f"{intent}/{lang}" for _, intent, lang in crm])
    counts = Counter(strata.tolist())
    strata = np.array([s if counts[s] >= folds else s.split("/")[0] for s in strata])
    hits: dict[str, dict[str, list[bool]]] = {lang: defaultdict(list) for lang in LANGUAGES}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_idx, held_idx in splitter.split(np.zeros(len(crm)), strata):
        model = IntentClassifier.train(
            clinc + [(crm[i][0], crm[i][1]) for i in train_idx],
            weights=example_weights(len(clinc), len(train_idx)),
        )
        held = [crm[i] for i in held_idx]
        for (_, intent, lang), prediction in zip(
            held, model.predict_many([t for t, _, _ in held]), strict=True
        ):
            scores = hits[lang]
            scores["topic"].append(_topic(prediction.intent) == _topic(intent))
            if intent == OUT_OF_SCOPE:
                scores["oos_recall"].append(prediction.intent == OUT_OF_SCOPE)
            else:
                scores["intent"].append(prediction.intent == intent)
    return {
        lang: {
            "messages": float(len(scores["topic"])),
            "topic_accuracy": float(np.mean(scores["topic"])),
            "intent_accuracy": float(np.mean(scores["intent"])),
            "oos_recall": float(np.mean(scores["oos_recall"])),
        }
        for lang, scores in hits.items()
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report = evaluate(args.folds)
    print(f"Ventros CRM set, {args.folds}-fold cross-validation (trained with CLINC150 train):")
    print(f"  {'language':10}{'messages':>10}{'topic acc':>12}{'intent acc':>12}{'oos recall':>12}")
    for lang, row in report.items():
        print(
            f"  {lang:10}{int(row['messages']):>10}{row['topic_accuracy']:>12.3f}"
            f"{row['intent_accuracy']:>12.3f}{row['oos_recall']:>12.3f}"
        )
    print(f"  ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
