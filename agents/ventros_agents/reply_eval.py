"""The reply-quality evaluation: what a good reply to each of 163 customer messages (Portuguese and
English) must do, checked against the whole running system.

Each case of `data/reply_eval.json` is a customer message and what the reply must do: be in the
customer's language, contain the facts the business's knowledge base gives (any spelling of each),
contain nothing it must not (an invented price, a refund "already paid"), hand the chat to a person
or not, and suggest the actions its words commit to (a ticket for a recorded refund, a lead for a
registered interest). Every reply is also checked against the promises no code keeps and the
commitments that need an action (`replies.FALSE_PROMISES`, `replies.COMMITMENTS`).

The replies come from the API (`POST /api/v1/agents/draft`): the Rust API, the agent service with
whatever model it is configured with, MemoryService's knowledge search over the documents of
`scripts/demo/knowledge.json` (uploaded by `seed`), the contact's profile. Nothing is stored or sent.

    python -m ventros_agents.reply_eval seed --api URL --key KEY   # upload the demo knowledge base
    python -m ventros_agents.reply_eval run --api URL --key KEY    # print the figures per language

`scripts/reply-eval.sh` does both against the local stack. The cases were written for this
project from what a customer needs, not from the agents' outputs, and are not used to tune them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import unicodedata
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import actions as actions_
from . import language, replies

CASES = Path(__file__).parent / "data" / "reply_eval.json"
DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo"
CHECKS = ("language", "facts", "honest", "handoff", "actions")


class Api:
    """The Ventros REST API with one API key (urllib: no dependency for a command-line tool)."""

    def __init__(self, base: str, key: str) -> None:
        self.base = base.rstrip("/")
        self.key = key

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base}/api/v1{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"{method} {path}: {err.code} {err.read()[:300]!r}") from err
        return json.loads(raw) if raw else None


def seed(api: Api, demo: Path = DEMO, timeout_s: float = 300.0) -> list[str]:
    """Uploads the demo knowledge base's documents the tenant does not have yet (by title) and
    waits until every one is indexed. Returns the titles uploaded."""
    manifest = json.loads((demo / "knowledge.json").read_text(encoding="utf-8"))
    have = {d["title"]: d for d in api.call("GET", "/knowledge/documents?limit=200")["items"]}
    uploaded = []
    for doc in manifest:
        if doc["title"] in have:
            continue
        content = (demo / doc["file"]).read_text(encoding="utf-8")
        api.call(
            "POST",
            "/knowledge/documents",
            {"title": doc["title"], "format": doc["format"], "content": content},
        )
        uploaded.append(doc["title"])
    deadline = time.monotonic() + timeout_s
    titles = {d["title"] for d in manifest}
    while True:
        docs = [d for d in api.call("GET", "/knowledge/documents?limit=200")["items"] if d["title"] in titles]
        failed = [d for d in docs if d["status"] == "failed"]
        if failed:
            raise RuntimeError(f"indexing failed: {[(d['title'], d.get('error')) for d in failed]}")
        if len(docs) == len(titles) and all(d["status"] == "indexed" for d in docs):
            return uploaded
        if time.monotonic() > deadline:
            raise RuntimeError("the demo knowledge base was not indexed in time")
        time.sleep(0.5)


def fold(text: str) -> str:
    """Lowercase without accents: "Débito" and "debito" match."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass
class Verdict:
    case: dict[str, Any]
    reply: str
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures


def own_words(reply: str, sources: list[dict[str, Any]]) -> str:
    """The reply without the knowledge passages it quotes (a Portuguese passage quoted to an
    English customer is the business's words, not the reply's language)."""
    for source in sources:
        reply = reply.replace(source.get("content", ""), " ")
    return reply


def judge(case: dict[str, Any], draft: dict[str, Any]) -> Verdict:
    expect = case["expect"]
    reply = draft.get("draft", "")
    verdict = Verdict(case, reply)
    folded = fold(reply)
    actions = [a["type"] for a in draft.get("suggested_actions", [])]
    lang = case["language"]

    words = own_words(reply, draft.get("knowledge_sources", []))
    detected = language.detect(words) if len(words.split()) >= 3 else draft.get("language")
    if draft.get("language") != lang or detected != lang:
        verdict.failures["language"] = f"expected {lang}, got {draft.get('language')} / detected {detected}"

    missing = [group for group in expect.get("facts", []) if not any(fold(alt) in folded for alt in group)]
    if missing:
        verdict.failures["facts"] = f"missing {missing}"

    broken = [p for p in expect.get("forbid", []) if fold(p) in folded]
    broken += [p for p in replies.FALSE_PROMISES if fold(p) in folded]
    unkept = [
        f"{phrase!r} without {action_name(action)}"
        for phrases in replies.COMMITMENTS.values()
        for phrase, action in phrases
        if fold(phrase) in folded and action_name(action) not in actions
    ]
    if broken or unkept:
        verdict.failures["honest"] = f"says {broken} {unkept}".strip()

    if "handoff" in expect and ("handoff_to_human" in actions) != expect["handoff"]:
        verdict.failures["handoff"] = f"expected handoff={expect['handoff']}, actions {actions}"

    absent = [a for a in expect.get("actions", []) if a not in actions]
    if absent:
        verdict.failures["actions"] = f"missing {absent} in {actions}"
    return verdict


def action_name(action: actions_.ActionType) -> str:
    return actions_.name(action)


def run(api: Api, cases: list[dict[str, Any]]) -> list[Verdict]:
    contacts: dict[str | None, str] = {}
    verdicts = []
    for case in cases:
        name = case.get("contact_name")
        if name not in contacts:
            body = {"display_name": name} if name else {}
            contacts[name] = api.call("POST", "/contacts", body)["id"]
        draft = api.call("POST", "/agents/draft", {"contact_id": contacts[name], "message": case["message"]})
        verdicts.append(judge(case, draft))
    return verdicts


def summary(verdicts: list[Verdict]) -> dict[str, dict[str, Any]]:
    by_language: dict[str, list[Verdict]] = defaultdict(list)
    for v in verdicts:
        by_language[v.case["language"]].append(v)
    figures = {}
    for lang, group in sorted(by_language.items()):
        n = len(group)
        figures[lang] = {
            "cases": n,
            "passed": round(sum(v.passed for v in group) / n, 3),
            **{check: round(sum(check not in v.failures for v in group) / n, 3) for check in CHECKS},
        }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ventros_agents.reply_eval", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=("seed", "run"))
    parser.add_argument("--api", required=True, help="the API's base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--key", required=True, help="a tenant API key (agent or admin; seed needs admin)")
    parser.add_argument("--cases", type=Path, default=CASES)
    parser.add_argument("--json", type=Path, help="also write the figures and every failure here")
    parser.add_argument("--show-failures", action="store_true")
    args = parser.parse_args(argv)
    api = Api(args.api, args.key)
    if args.command == "seed":
        uploaded = seed(api)
        print(f"demo knowledge base indexed ({len(uploaded)} uploaded now)")
        return 0
    cases = json.loads(args.cases.read_text(encoding="utf-8"))["cases"]
    verdicts = run(api, cases)
    figures = summary(verdicts)
    print(f"{'language':<9} {'cases':>5} {'passed':>7} " + " ".join(f"{c:>8}" for c in CHECKS))
    for lang, f in figures.items():
        print(f"{lang:<9} {f['cases']:>5} {f['passed']:>7.3f} " + " ".join(f"{f[c]:>8.3f}" for c in CHECKS))
    failures = [
        {"id": v.case["id"], "message": v.case["message"], "reply": v.reply, "failures": v.failures}
        for v in verdicts
        if not v.passed
    ]
    if args.show_failures:
        for f in failures:
            print(
                f"\n{f['id']}: {f['message']}\n  reply: {f['reply']}\n  "
                + "; ".join(f"{k}: {v}" for k, v in f["failures"].items())
            )
    if args.json:
        args.json.write_text(
            json.dumps({"figures": figures, "failures": failures}, ensure_ascii=False, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
