"""Learns HYBRID's reranker: the weights of `memory/src/engine/rerank.rs` (`WEIGHTS`, `BIAS`).

The input is what `ventros-memory-eval --dump-candidates FILE` writes: for every question, each
candidate the reranker scored, with its features (`rerank::FEATURES`) and sources, and the
question's evidence. The model is a pairwise logistic regression (every piece of evidence should
outscore every other candidate of its question; each question weighs the same), then calibrated
(Platt) so that a score is the probability that a candidate is evidence.

    python bench/rerank/train.py /tmp/locomo.jsonl /tmp/ptbr.jsonl --cv   # the shipped weights
    python bench/rerank/train.py /tmp/locomo.jsonl --train-on 26,30,41,42 --check /tmp/ptbr.jsonl

The shipped weights learn from LoCoMo and our Portuguese CRM set together: LoCoMo alone teaches
that the graph finds nothing (its GRAPH_ONLY recall is 0.008), which is false of a CRM's history.

It prints recall@10 for the hand-tuned factors the reranker had before (the same features,
multiplied), for the learned weights on the conversations learned from, on each held-out
conversation (`--cv`), and on any `--check` file (another language or domain, never learned from).
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict

import numpy as np
from sklearn.linear_model import LogisticRegression

# The feature names, in the order of each candidate's `features`: read from the dumps (each line
# carries `rerank::FEATURES` as `feature_names`), so that this script cannot drift from the Rust.
FEATURES: list[str] = []


def load(path: str) -> list[dict]:
    questions = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            names = q.get("feature_names")
            if not names:
                raise SystemExit(
                    f"{path}: no feature_names; dump it again with ventros-memory-eval --dump-candidates"
                )
            if not FEATURES:
                FEATURES.extend(names)
            elif names != FEATURES:
                raise SystemExit(
                    f"{path}: its features {names} are not those of the other dumps {FEATURES}"
                )
            q["dump"] = path
            evidence = set(q["evidence"])
            q["X"] = np.array(
                [c["features"] for c in q["candidates"]], dtype=np.float64
            ).reshape(-1, len(FEATURES))
            q["y"] = np.array(
                [
                    any(s.removeprefix("message:") in evidence for s in c["sources"])
                    for c in q["candidates"]
                ],
                dtype=np.float64,
            )
            questions.append(q)
    return questions


def recall_at(q: dict, scores: np.ndarray, k: int = 10) -> float:
    """The evaluation's recall@k: best first, a candidate whose every source a better one already
    stands for gives its slot up (`search.rs::one_per_episode`)."""
    seen: set[str] = set()
    got: set[str] = set()
    taken = 0
    for i in np.argsort(-scores, kind="stable"):
        sources = q["candidates"][i]["sources"]
        if sources and all(s in seen for s in sources):
            continue
        seen.update(sources)
        got.update(s.removeprefix("message:") for s in sources)
        taken += 1
        if taken == k:
            break
    return sum(e in got for e in q["evidence"]) / len(q["evidence"])


def hand_tuned(X: np.ndarray) -> np.ndarray:
    """The factors the reranker multiplied before it learned its weights (2026-12-05)."""
    f = {n: X[:, i] for i, n in enumerate(FEATURES)}
    return (
        f["ln_score"]
        + np.log(1 + 0.2 * f["ln_length"])
        + f["only_asks"] * math.log(0.7)
        + f["by_subject"] * math.log(1.3)
        + f["by_other"] * math.log(0.8)
        + f["in_window"] * math.log(1.3)
        + f["says_when_asked_when"] * math.log(1.5)
    )


def fit(questions: list[dict], c: float = 1.0) -> tuple[np.ndarray, float]:
    diffs, weights = [], []
    for q in questions:
        pos, neg = np.where(q["y"] > 0)[0], np.where(q["y"] == 0)[0]
        if len(pos) == 0 or len(neg) == 0:
            continue
        d = (q["X"][pos][:, None, :] - q["X"][neg][None, :, :]).reshape(
            -1, len(FEATURES)
        )
        diffs.append(d)
        weights.append(np.full(len(d), 1.0 / len(d)))
    d, w = np.vstack(diffs), np.concatenate(weights)
    pairs = LogisticRegression(fit_intercept=False, C=c, max_iter=10000)
    pairs.fit(
        np.vstack([d, -d]),
        np.r_[np.ones(len(d)), np.zeros(len(d))],
        sample_weight=np.r_[w, w] * len(questions),
    )
    coef = pairs.coef_[0]
    # Platt scaling: the same order, a score that reads as a probability.
    s = np.concatenate([q["X"] @ coef for q in questions])[:, None]
    y = np.concatenate([q["y"] for q in questions])
    platt = LogisticRegression(C=1e6, max_iter=10000).fit(s, y)
    return coef * platt.coef_[0][0], float(platt.intercept_[0])


def mean_recall(questions: list[dict], score) -> float:
    return (
        float(np.mean([recall_at(q, score(q["X"])) for q in questions]))
        if questions
        else float("nan")
    )


def by_category(questions: list[dict], score) -> str:
    cats = defaultdict(list)
    for q in questions:
        cats[q["category"]].append(recall_at(q, score(q["X"])))
    return ", ".join(
        f"{c}: {np.mean(v):.3f} ({len(v)})" for c, v in sorted(cats.items())
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("dumps", nargs="+", help="--dump-candidates files to learn from")
    ap.add_argument(
        "--train-on", help="learn only from these conversations (e.g. 26,30,41,42)"
    )
    ap.add_argument(
        "--cv", action="store_true", help="leave-one-conversation-out recall@10"
    )
    ap.add_argument(
        "--check",
        action="append",
        default=[],
        help="a dump to score, never learned from",
    )
    ap.add_argument(
        "--c", type=float, default=1.0, help="inverse regularisation strength"
    )
    args = ap.parse_args()

    questions = [q for path in args.dumps for q in load(path)]
    train = questions
    if args.train_on:
        keep = set(args.train_on.split(","))
        train = [q for q in questions if q["conversation"] in keep]
    held = [q for q in questions if q not in train] if args.train_on else []
    w, b = fit(train, args.c)

    def learned(x: np.ndarray) -> np.ndarray:
        return x @ w + b

    print(f"questions: {len(questions)}, learned from {len(train)}")
    print(f"recall@10, hand-tuned factors: {mean_recall(questions, hand_tuned):.4f}")
    print(
        f"recall@10, learned, on what it learned from: {mean_recall(train, learned):.4f} "
        f"(hand-tuned {mean_recall(train, hand_tuned):.4f})"
    )
    if held:
        print(
            f"recall@10, learned, held out: {mean_recall(held, learned):.4f} "
            f"(hand-tuned {mean_recall(held, hand_tuned):.4f})"
        )
        print(f"  by category: {by_category(held, learned)}")
    if args.cv:
        convs = sorted({(q["dump"], q["conversation"]) for q in train})
        learned_cv, hand_cv = defaultdict(list), defaultdict(list)
        for dump, c in convs:
            test = [q for q in train if q["dump"] == dump and q["conversation"] == c]
            wc, bc = fit(
                [
                    q
                    for q in train
                    if not (q["dump"] == dump and q["conversation"] == c)
                ],
                args.c,
            )
            r = [recall_at(q, q["X"] @ wc + bc) for q in test]
            h = [recall_at(q, hand_tuned(q["X"])) for q in test]
            print(
                f"  {dump} conversation {c}: learned {np.mean(r):.4f}, hand-tuned {np.mean(h):.4f} ({len(test)})"
            )
            learned_cv[dump] += r
            hand_cv[dump] += h
        for dump in learned_cv:
            print(
                f"recall@10 on {dump}, each conversation by weights learned on all the others: "
                f"{np.mean(learned_cv[dump]):.4f} (hand-tuned {np.mean(hand_cv[dump]):.4f})"
            )
    for path in args.check:
        other = load(path)
        print(
            f"recall@10 on {path}: learned {mean_recall(other, learned):.4f}, "
            f"hand-tuned {mean_recall(other, hand_tuned):.4f}; by category: {by_category(other, learned)}"
        )

    print("\n// rerank.rs")
    print("const WEIGHTS: Features = [")
    for name, x in zip(FEATURES, w):
        print(f"    {x:.4f}, // {name}")
    print("];")
    print(f"const BIAS: f32 = {b:.4f};")


if __name__ == "__main__":
    main()
