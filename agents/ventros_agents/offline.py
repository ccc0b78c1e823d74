"""The offline model: an ADK `BaseLlm` that needs no network and no weights.

It plays the part an LLM plays inside an `LlmAgent`, deterministically: first it calls the agent's
tools (contact context, memory search), then it answers from the agent's reply templates filled with
what the tools returned (the contact's name, the most relevant memory such as a previous purchase).
A coordinator's model transfers to the specialist for the classified topic. Analysis agents
(sentiment, engagement, history, lead scoring, fact extraction, summaries) compute their result
from the message and the tool results.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator

from google.adk.models import BaseLlm, LlmRequest, LlmResponse
from google.genai import types

from . import language, replies
from .catalog import BY_TYPE, COORDINATOR, SPECIALIST_FOR_TOPIC, AgentSpec
from .runtime import CURRENT, Turn
from .training import KNOWLEDGE_TOPICS

_USAGE = types.GenerateContentResponseUsageMetadata(
    prompt_token_count=0, candidates_token_count=0, total_token_count=0
)

NEGATIVE = {
    "unacceptable",
    "terrible",
    "worst",
    "furious",
    "broke",
    "broken",
    "angry",
    "cancel",
    "refund",
    "never",
    "péssimo",
    "insatisfeito",
    "quebrado",
    "cancelar",
    "reclamação",
    "horrible",
    "awful",
    "disappointed",
}
POSITIVE = {
    "love",
    "great",
    "thanks",
    "thank",
    "perfect",
    "happy",
    "excellent",
    "adorei",
    "ótimo",
    "obrigado",
    "obrigada",
}


def _reply(text: str) -> LlmResponse:
    return LlmResponse(
        content=types.Content(role="model", parts=[types.Part(text=text)]), usage_metadata=_USAGE
    )


def _calls(calls: list[tuple[str, dict]]) -> LlmResponse:
    parts = [types.Part(function_call=types.FunctionCall(name=name, args=args)) for name, args in calls]
    return LlmResponse(content=types.Content(role="model", parts=parts), usage_metadata=_USAGE)


def sentiment_score(text: str) -> float:
    """-1 (negative) … +1 (positive), from a small bilingual lexicon."""
    words = re.findall(r"\w+", text.lower())
    neg = sum(w in NEGATIVE for w in words)
    pos = sum(w in POSITIVE for w in words)
    return 0.0 if neg + pos == 0 else (pos - neg) / (pos + neg)


def extract_facts(text: str) -> list[str]:
    """Durable facts worth remembering: products, money, dates, problems."""
    facts = []
    lowered = text.lower()
    if m := re.search(
        r"(?:buy|purchase|order|comprar|pedido de)\s+(?:the |a |an |o |a |um |uma )?([\w\s-]{2,40}?)(?:[.,!?]|$)",
        lowered,
    ):
        facts.append(f"wants to buy: {m.group(1).strip()}")
    facts += [f"mentioned amount: {a}" for a in re.findall(r"(?:r\$|\$|€)\s?\d+(?:[.,]\d+)?", lowered)]
    facts += [f"mentioned date: {d}" for d in re.findall(r"\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b", lowered)]
    if any(w in lowered for w in ("broke", "error", "crash", "not working", "quebr", "erro", "parou")):
        facts.append("reported a problem")
    return facts


# The fact vocabulary shared with the Rust memory service (activities/src/memory/extract.rs):
# FactExtractionAgent answers {"facts": [{"predicate": …, "object": …}]} with these predicates only.
FACT_PREDICATES = (
    "lives_in",
    "works_at",
    "email",
    "name",
    "birthday",
    "likes",
    "dislikes",
    "prefers",
    "purchased",
    "wants",
    "has_problem_with",
)

_STRUCTURED = (
    (
        "lives_in",
        r"\b(?:i live in|i moved to|i'm based in|moro em|moro no|moro na|mudei para|mudei pra)\s+([^.,!?;\n]{2,40})",
    ),
    ("works_at", r"\b(?:i work at|i work for|trabalho na|trabalho no|trabalho em)\s+([^.,!?;\n]{2,40})"),
    (
        "purchased",
        r"\b(?:i bought|i purchased|i ordered|comprei)\s+(?:the |a |an |o |a |um |uma )?([^.,!?;\n]{2,40})",
    ),
    ("wants", r"\b(?:buy|purchase|comprar)\s+(?:the |a |an |o |a |um |uma )?([^.,!?;\n]{2,40})"),
    (
        "has_problem_with",
        r"\bmy ([\w\s-]{2,30}?) (?:broke|is broken|stopped working|is not working|isn't working)",
    ),
)


def structured_facts(text: str) -> list[dict[str, str]]:
    """First-person facts in the shared vocabulary, for the memory service's graph."""
    facts: list[dict[str, str]] = []
    for predicate, pattern in _STRUCTURED:
        if m := re.search(pattern, text, flags=re.IGNORECASE):
            obj = re.split(r"\s+(?:and|but|because|e|mas|porque)\s+", m.group(1).strip(), maxsplit=1)[
                0
            ].strip()
            if len(obj) >= 2 and not any(f["object"].lower() == obj.lower() for f in facts):
                facts.append({"predicate": predicate, "object": obj})
    if m := re.search(r"[\w.%+-]+@[\w.-]+\.[a-z]{2,}", text, flags=re.IGNORECASE):
        facts.append({"predicate": "email", "object": m.group(0).lower()})
    return facts


class OfflineLlm(BaseLlm):
    """Deterministic stand-in for an LLM, one instance per agent."""

    model: str = "ventros-offline"
    agent_type: str

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        turn = CURRENT.get()
        spec = BY_TYPE[self.agent_type]
        last = llm_request.contents[-1] if llm_request.contents else None
        answered_tools = bool(last and last.parts and any(p.function_response for p in last.parts))

        if spec.pattern == COORDINATOR:
            if answered_tools:
                # The transfer happened; the specialist speaks.
                return
            target = SPECIALIST_FOR_TOPIC.get(turn.topic, "CustomerServiceAgent")
            if not turn.prediction.in_scope:
                target = "CustomerServiceAgent"
            yield _calls([("transfer_to_agent", {"agent_name": target})])
            return

        wanted = [
            name
            for name in spec.tools
            if name in llm_request.tools_dict and (name != "search_knowledge" or needs_knowledge(turn))
        ]
        if wanted and not answered_tools:
            calls = [(name, _tool_args(name, turn)) for name in wanted]
            yield _calls(calls)
            return
        yield _reply(compose(spec, turn))


def _is_current(content: str, turn: Turn) -> bool:
    """Search also returns the customer's own messages, this very one included: not history."""
    text = content.strip().lower()
    return not text or any(text == line.strip().lower() for line in turn.message.splitlines())


def _memory_line(turn: Turn, lang: str) -> str:
    memories = [
        m["content"] for m in turn.memories if m.get("content") and not _is_current(m["content"], turn)
    ]
    memories += [m for m in turn.contact_context.get("recent_memories") or [] if not _is_current(m, turn)]
    if memories:
        return replies.memory_line(memories[0].rstrip("."), lang)
    return ""


def _greeting(turn: Turn, lang: str) -> str:
    name = (turn.contact_context.get("display_name") or turn.context.get("contact_name") or "").strip()
    return replies.greeting(name.split()[0] if name else "", lang)


def _tool_args(tool: str, turn: Turn) -> dict[str, str]:
    if tool == "search_knowledge":
        # The question without its greeting: "Bom dia! Vocês abrem no sábado?" asks about Saturdays.
        question = _GREETING_WORDS.sub(" ", turn.message).strip(" !,.") or turn.message
        return {"query": question}
    return {"query": turn.message} if tool.startswith("search_") else {}


def reply_language(turn: Turn, text: str | None = None) -> str:
    """The language to answer in: the message's, or the conversation's when the message cannot say
    (the caller's `context["language"]`, else the customer's earlier messages)."""
    if not turn.language:
        own = turn.message.strip()
        earlier = [
            m["text"]
            for m in turn.contact_context.get("recent_messages") or []
            if m.get("direction") == "inbound" and m.get("text") and m["text"].strip() != own
        ]
        hint = language.conversation_hint(earlier, turn.context.get("language"))
        turn.language = language.detect(text if text is not None else turn.message, hint)
    return turn.language


_GREETING_WORDS = re.compile(
    r"\b(oi|ol[aá]|bom dia|boa tarde|boa noite|tudo bem|tudo bom|e a[ií]|como vai|hi|hello|hey|good (?:morning|afternoon|evening)|"
    r"how are you|hola|buen(?:os|as) (?:d[ií]as|tardes|noches)|qu[eé] tal|c[oó]mo est[aá]s?)\b",
    re.IGNORECASE,
)


def is_small_talk(text: str) -> bool:
    """Only greetings ("Bom dia! Tudo bem?"): nothing left to answer once they are taken out."""
    rest = re.findall(r"[^\W\d_]+", _GREETING_WORDS.sub(" ", text))
    return _GREETING_WORDS.search(text) is not None and len(rest) <= 1


def speaks_for(spec: AgentSpec, turn: Turn) -> bool:
    """Whether the agent's own lines fit this message: its topics, or any topic for an agent
    without a topic list (customer service, small talk's catch-all)."""
    return not spec.topics or turn.topic in spec.topics or spec.type == "CustomerServiceAgent"


# A passage answers the question when most of the question's meaningful words are in it and the
# meaning is not far, or when the meaning alone is very close (the offline embedding model reads
# English best, so words carry Portuguese questions). One shared word is not enough: "ingressos
# para o show de sábado" shares "sábado" with the opening hours and is not about them.
KNOWLEDGE_COVERAGE = 0.5
KNOWLEDGE_WITH_WORDS = 0.25
KNOWLEDGE_BY_MEANING = 0.6


def needs_knowledge(turn: Turn) -> bool:
    """Questions only the business's knowledge answers: about the business itself, its products
    and prices, or anything else asked that no specialist knows."""
    if turn.context.get("mode") == "campaign" or is_small_talk(turn.message):
        return False
    return (
        turn.topic in KNOWLEDGE_TOPICS
        or turn.topic in ("product_info", "pricing")
        or (turn.topic == "general" and "?" in turn.message)
    )


def relevant_passages(turn: Turn) -> list[dict]:
    """The knowledge passages found for this message that answer it, best first."""
    if not needs_knowledge(turn):
        return []
    answering = [
        p
        for p in turn.knowledge
        if (p.get("coverage", 0) >= KNOWLEDGE_COVERAGE and p.get("similarity", 0) >= KNOWLEDGE_WITH_WORDS)
        or p.get("similarity", 0) >= KNOWLEDGE_BY_MEANING
    ]
    # Of the passages that answer, the one in the customer's language first (a business with its
    # policies in two languages answers each customer in theirs), then the one that holds more of
    # the question's words, then the closest in meaning: words shared with the wrong section ("a
    # loja fica fechada" for "onde fica a loja?") lose to the section that also means it.
    lang = turn.language

    def rank(p: dict) -> tuple[bool, float, float]:
        same = bool(lang) and language.detect(p.get("content", ""), hint=lang) == lang
        return (same, round(p.get("coverage", 0), 1), p.get("similarity", 0))

    return sorted(answering, key=rank, reverse=True)


def knowledge_reply(turn: Turn, lang: str) -> str | None:
    """The answer from the business's own words, or None when its knowledge says nothing."""
    passages = relevant_passages(turn)
    if not passages:
        return None
    passage = passages[0]["content"].strip()
    quoted = language.detect(passage, hint=lang) != lang
    return replies.knowledge_answer(_greeting(turn, lang), passage, lang, quoted)


def open_question(turn: Turn) -> bool:
    """A question the agent cannot answer truthfully: one about the business itself (hours,
    delivery, payment, where, warranty) that no knowledge answered, or any question outside the
    specialists' topics. The agent says so and hands over."""
    if relevant_passages(turn):
        return False
    if turn.topic in KNOWLEDGE_TOPICS:
        return not is_small_talk(turn.message)
    return turn.topic == "general" and "?" in turn.message and not is_small_talk(turn.message)


def best_send_hour(context: dict[str, str]) -> int | None:
    """The local hour a campaign message should go out at: the hour the contact wrote in most
    often (``activity_hours`` is ``"hour:count,…"`` in the campaign's time zone), among the hours
    the send window covers; ties go to the earliest. ``None`` when there is no history in it."""
    try:
        start = int(context.get("window_start", "00:00").split(":")[0])
        end_h, end_m = (int(x) for x in context.get("window_end", "23:59").split(":")[:2])
    except ValueError:
        return None
    end = end_h if end_m == 0 else end_h + 1
    counts: dict[int, int] = {}
    for item in filter(None, context.get("activity_hours", "").split(",")):
        hour, _, count = item.partition(":")
        if hour.strip().isdigit() and count.strip().isdigit() and start <= int(hour) < end:
            counts[int(hour)] = counts.get(int(hour), 0) + int(count)
    if not counts:
        return None
    return max(sorted(counts), key=lambda h: counts[h])


def campaign_message(turn: Turn) -> str:
    """An outbound campaign message: the brief, addressed to the contact, with what we remember, in
    the contact's language when their messages show it (else the brief's)."""
    objective = (turn.context.get("objective") or turn.message).strip()
    lang = reply_language(turn, objective)
    text = f"{_greeting(turn, lang)} {_memory_line(turn, lang)}{objective}"
    return re.sub(r"\s{2,}", " ", text).strip()


def compose(spec: AgentSpec, turn: Turn) -> str:
    """The agent's text for this turn."""
    if turn.context.get("mode") == "campaign" and spec.replies.get("default", "").startswith("{greeting}"):
        return campaign_message(turn)
    if spec.type == "SentimentAgent":
        return json.dumps({"sentiment": sentiment_score(turn.message)})
    if spec.type == "EngagementAgent":
        stats = turn.contact_context.get("stats", {})
        return json.dumps({"messages": stats.get("total_messages", 0), "sessions": stats.get("sessions", 0)})
    if spec.type == "HistoryRiskAgent":
        risky = [
            m
            for m in turn.memories
            if any(w in m.get("content", "").lower() for w in ("complain", "cancel", "refund", "broke"))
        ]
        return json.dumps({"risky_memories": len(risky)})
    if spec.type == "LeadScoringAgent":
        return json.dumps({"lead_score": lead_score(turn)})
    if spec.type == "FactExtractionAgent":
        return json.dumps({"facts": structured_facts(turn.message)})
    if spec.type == "ConversationSummaryAgent":
        recent = turn.contact_context.get("recent_messages", [])
        inbound = [m["text"] for m in recent if m.get("direction") == "inbound" and m.get("text")]
        lines = [*inbound[-3:], turn.message]
        return "Customer wrote: " + " / ".join(line.strip()[:120] for line in lines)
    lang = reply_language(turn)
    if spec.type in ("CustomerServiceAgent", "ProductInfoAgent", "SalesAgent") and (
        answer := knowledge_reply(turn, lang)
    ):
        return re.sub(r"\s{2,}", " ", answer).strip()
    topic = "small_talk" if is_small_talk(turn.message) else "question" if open_question(turn) else turn.topic
    # A specialist speaks its own lines only about its own topics (a refund agent asked about a
    # purchase must not say it recorded a refund); otherwise it answers as customer service.
    speaker = spec.type if speaks_for(spec, turn) else "CustomerServiceAgent"
    template = (
        replies.template(speaker, topic, lang)
        or spec.replies.get(topic)
        or spec.replies.get("default")
        or "{greeting} How can I help you?"
    )
    text = template.format(
        greeting=_greeting(turn, lang), memory_line=_memory_line(turn, lang), summary="", facts=""
    )
    return re.sub(r"\s{2,}", " ", text).strip()


def lead_score(turn: Turn) -> int:
    """0–100: buying intent, confidence, and engagement."""
    score = 0
    if turn.topic in ("purchase", "pricing"):
        score += 50
    score += int(30 * turn.prediction.confidence)
    stats = turn.contact_context.get("stats", {})
    score += min(20, 2 * int(stats.get("total_messages", 0)))
    return min(100, score)
