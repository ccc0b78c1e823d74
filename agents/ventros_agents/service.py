"""AgentService: runs the ADK agents for gRPC requests.

Each `ExecuteAgent` classifies the message (intent, calibrated confidence, out-of-scope), runs the
requested agent tree through an ADK `Runner` with the turn in a context variable, and answers with
the reply, the agent that actually spoke (after routing), intent, confidence and the suggested
actions. Latency per agent type is measured from these executions and reported by
`ListAvailableAgents`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

import grpc
from google.adk.agents.run_config import RunConfig, StreamingMode
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService
from google.genai import types
from google.protobuf import empty_pb2

from ventros.v1 import agent_pb2

from . import actions as actions_
from . import catalog, language, replies, structured, traces
from .agents import OFFLINE, ProviderConfig, build
from .intent import IntentClassifier, IntentPrediction
from .internal_auth import AuthError, InternalAuth, bearer
from .offline import (
    best_send_hour,
    extract_facts,
    lead_score,
    open_question,
    relevant_passages,
    sentiment_score,
)
from .runtime import CURRENT, MemoryClient, Turn
from .training import POLICY_TOPIC, TOPIC_OF_INTENT, is_policy_question, topic_of

log = logging.getLogger("ventros_agents")
APP = "ventros"
MAX_MESSAGE_CHARS = 8_000


# Agents whose answer is read by code (scores, JSON, summaries), never sent to a customer.
NOT_CUSTOMER_FACING = {
    "LeadScoringAgent",
    "SentimentAgent",
    "EngagementAgent",
    "HistoryRiskAgent",
    "ChurnPredictionAgent",
    "ConversationSummaryAgent",
    "FactExtractionAgent",
}


class RequestError(Exception):
    def __init__(self, code: grpc.StatusCode, error: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.code, self.error, self.message, self.field = code, error, message, field


@dataclass
class Stats:
    executions: int = 0
    total_ms: float = 0.0

    def record(self, ms: float) -> None:
        self.executions += 1
        self.total_ms += ms

    @property
    def avg_ms(self) -> int:
        return round(self.total_ms / self.executions) if self.executions else 0


def _agent_type_of(author: str) -> str:
    return author.split("__", 1)[0]


# Specialist -> topic -> why the chat goes to a person (their replies say a colleague continues).
HANDED_OVER: dict[str, dict[str, str]] = {
    "SalesAgent": {"pricing": "prices: a colleague sends them"},
    "RetentionAgent": {"cancel": "wants to cancel: a colleague talks about options"},
    "SupportTicketAgent": {"support": "technical problem: support continues"},
    "OrderStatusAgent": {"order_status": "order status: a colleague checks it"},
    "BillingAgent": {"billing": "billing: a colleague looks at the account"},
    "ProductInfoAgent": {"product_info": "product details: a colleague sends them"},
    "RefundAgent": {"refund": "refund request: a colleague confirms the next steps"},
}


def routing_topic(prediction: IntentPrediction, message: str) -> str:
    """The topic the router sends a message to: its intent's, except that a question about how
    refunds, returns or cancellations work goes to the returns policy (the knowledge base), not to
    the specialist who records a request."""
    if not prediction.in_scope:
        return "general"
    topic = topic_of(prediction.intent)
    if topic in ("refund", "cancel") and is_policy_question(message):
        return POLICY_TOPIC
    return topic


def ticket_actions(kind: str, lang: str) -> list[agent_pb2.SuggestedAction]:
    """A ticket of `kind` and the follow-up task whose timer tells the team if nobody answers."""
    return [
        agent_pb2.SuggestedAction(
            type=actions_.OPEN_TICKET,
            params={"kind": kind, "subject": replies.ticket_subject(kind, lang)},
            reason=f"{kind} request recorded for the team",
        ),
        agent_pb2.SuggestedAction(
            type=actions_.SCHEDULE_FOLLOW_UP,
            params={
                "title": replies.follow_up_title(kind, lang),
                "due_in_minutes": str(replies.FOLLOW_UP_MINUTES),
            },
            reason="the ticket is answered in time",
        ),
    ]


def enforce_commitments(
    text: str, lang: str, actions: list[agent_pb2.SuggestedAction], topic: str = ""
) -> list[agent_pb2.SuggestedAction]:
    """No promise without an action: every commitment the reply makes has its action, whatever
    wrote the reply (the offline templates or a real model). A commitment whose action cannot be
    taken here (a lead or tag without its details), or a promise no code keeps, hands the chat to a
    person instead, so that somebody does what was said."""
    lowered = text.lower()
    have = {a.type for a in actions}
    needed = {action for phrase, action in replies.COMMITMENTS.get(lang, ()) if phrase in lowered}
    needed |= {
        action
        for other in language.SUPPORTED
        if other != lang
        for phrase, action in replies.COMMITMENTS[other]
        if phrase in lowered
    }
    missing = needed - have
    if actions_.OPEN_TICKET in missing:
        # A model said it opened a ticket or recorded a request: record it, so the words are true.
        kind = replies.TICKET_KINDS.get(topic, "support")
        actions = [*actions, *ticket_actions(kind, lang)]
        missing.discard(actions_.OPEN_TICKET)
    broken = [p for p in replies.FALSE_PROMISES if p in lowered]
    if (missing or broken) and catalog.HANDOFF not in have:
        promised = ", ".join(sorted(actions_.name(a) for a in missing))
        reason = "the reply promised " + (promised if missing else f"'{broken[0]}'")
        actions = [*actions, agent_pb2.SuggestedAction(type=catalog.HANDOFF, params={}, reason=reason)]
    return actions


def suggest_actions(turn: Turn, answered_by: str, state: dict) -> list[agent_pb2.SuggestedAction]:
    """Explicit rules from topic, confidence and the agents' analysis."""
    topic, in_scope = turn.topic, turn.prediction.in_scope
    actions: list[agent_pb2.SuggestedAction] = []

    def add(kind: actions_.ActionType, reason: str, **params: str) -> None:
        actions.append(agent_pb2.SuggestedAction(type=kind, params=params, reason=reason))

    # A qualified lead's stage comes from its score, ahead of the generic buying-intent stage.
    if answered_by == "LeadQualifierAgent" or "out_LeadScoringAgent" in state:
        score = lead_score(turn)
        add(
            catalog.UPDATE_PIPELINE,
            f"lead score {score}",
            stage="qualified" if score >= 70 else "contacted",
            score=str(score),
        )
    if in_scope and topic == "purchase":
        interest = next(
            (f.split(": ", 1)[1] for f in extract_facts(turn.message) if f.startswith("wants to buy")), ""
        )
        add(catalog.CREATE_LEAD, "the customer wants to buy", source="conversation", interest=interest)
        add(catalog.UPDATE_PIPELINE, "buying intent", stage="new")
    if in_scope and topic == "pricing":
        add(catalog.UPDATE_PIPELINE, "asked for prices", stage="interested")
    if topic in ("complaint", "human"):
        add(catalog.HANDOFF, "the customer asked for a person" if topic == "human" else "complaint")
        if topic == "complaint":
            add(catalog.TAG_CONTACT, "complaint", tag="complaint")
    # What no code can do yet (prices, orders, accounts, product details, refunds, tickets, offers):
    # the specialist says a colleague will continue, and the chat goes to one.
    if answered_by in HANDED_OVER and topic in HANDED_OVER[answered_by] and not relevant_passages(turn):
        add(catalog.HANDOFF, HANDED_OVER[answered_by][topic])
    if answered_by in replies.TEMPLATES and open_question(turn):
        add(catalog.HANDOFF, "a question the agent cannot answer")
    if topic in replies.TICKET_KINDS:
        # A request only a person can act on becomes a ticket with a follow-up task, and the
        # replies say it was recorded.
        actions.extend(ticket_actions(replies.TICKET_KINDS[topic], turn.language or "en"))
    if topic == "cancel":
        add(catalog.TAG_CONTACT, "wants to cancel", tag="churn_risk")
    if topic == "refund":
        add(catalog.TAG_CONTACT, "asked for a refund", tag="refund")
    if topic == "support":
        add(catalog.TAG_CONTACT, "technical problem", tag="support_ticket")
    if topic == "feedback":
        add(
            catalog.TAG_CONTACT,
            "feedback",
            tag="positive_feedback" if sentiment_score(turn.message) >= 0 else "negative_feedback",
        )
    if answered_by == "ChurnPredictionAgent" and churn_risk(turn, state) >= 0.5:
        add(catalog.TAG_CONTACT, "high churn risk", tag="churn_risk")
    # One of each type, first reason wins.
    seen: set[actions_.ActionType] = set()
    unique = []
    for action in actions:
        if action.type not in seen:
            seen.add(action.type)
            unique.append(action)
    return unique


def churn_risk(turn: Turn, state: dict) -> float:
    sentiment = json.loads(state.get("out_SentimentAgent", "{}") or "{}").get("sentiment", 0.0)
    risky = json.loads(state.get("out_HistoryRiskAgent", "{}") or "{}").get("risky_memories", 0)
    risk = 0.3 + (0.4 if turn.topic == "cancel" else 0.0) - 0.3 * sentiment + 0.1 * min(risky, 3)
    return round(max(0.0, min(1.0, risk)), 2)


class AgentExecutor:
    def __init__(
        self, classifier: IntentClassifier, config: ProviderConfig, memory: MemoryClient | None
    ) -> None:
        self.classifier = classifier
        self.config = config
        self.memory = memory
        self.sessions = InMemorySessionService()
        self.runners = {
            spec.type: Runner(agent=build(spec.type, config), app_name=APP, session_service=self.sessions)
            for spec in catalog.CATALOG
        }
        # What answers when a real model fails (an error, a rate limit past the retries, the
        # deadline, or an answer that is not the structured one): the offline agents.
        self.fallback = (
            self.runners
            if config.provider == OFFLINE
            else {
                spec.type: Runner(
                    agent=build(spec.type, ProviderConfig()), app_name=APP, session_service=self.sessions
                )
                for spec in catalog.CATALOG
            }
        )
        self.stats = {spec.type: Stats() for spec in catalog.CATALOG}

    async def _run(
        self,
        runner: Runner,
        user_id: str,
        session_id: str,
        prompt: str,
        *,
        streaming: RunConfig | None = None,
        on_chunk: Callable[[str], Awaitable[None]] | None = None,
    ) -> tuple[str, str]:
        """Runs one agent tree; returns the text that answers and the agent that wrote it."""
        last_text, author = "", runner.agent.name
        async for event in runner.run_async(
            user_id=user_id,
            session_id=session_id,
            new_message=types.Content(role="user", parts=[types.Part(text=prompt)]),
            run_config=streaming,
        ):
            text = "".join(
                p.text
                for p in (event.content.parts if event.content and event.content.parts else [])
                if p.text
            )
            if not text:
                continue
            if event.partial:
                if on_chunk:
                    await on_chunk(text)
                continue
            if (
                catalog.BY_TYPE[_agent_type_of(event.author)]
                .replies.get("default", "")
                .startswith("{greeting}")
                or _agent_type_of(event.author)
                in ("CustomerServiceAgent", "ConversationSummaryAgent", "FactExtractionAgent")
                or not last_text
            ):
                last_text, author = text, _agent_type_of(event.author)
        return last_text, author

    def _model_budget(self, deadline_s: float | None) -> float | None:
        """How long a real model may take, retries included, leaving the offline agents time to
        answer within the caller's deadline."""
        if self.config.provider == OFFLINE:
            return None
        budget = self.config.timeout_s * (self.config.retries + 1) + 1.0
        return budget if deadline_s is None else max(0.1, min(budget, deadline_s - 0.5))

    def info(self, spec: catalog.AgentSpec) -> agent_pb2.AgentInfo:
        stats = self.stats[spec.type]
        return agent_pb2.AgentInfo(
            type=spec.type,
            name=spec.name,
            description=spec.description,
            capabilities=list(spec.capabilities),
            avg_latency_ms=stats.avg_ms,
            pattern=spec.pattern,
            executions=stats.executions,
        )

    def validate(self, request: agent_pb2.AgentExecutionRequest) -> catalog.AgentSpec:
        if not request.tenant_id.strip():
            raise RequestError(
                grpc.StatusCode.INVALID_ARGUMENT, "missing_tenant", "tenant_id is required", "tenant_id"
            )
        if not request.message.strip():
            raise RequestError(
                grpc.StatusCode.INVALID_ARGUMENT, "empty_message", "message must not be empty", "message"
            )
        if len(request.message) > MAX_MESSAGE_CHARS:
            raise RequestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "message_too_long",
                f"message is longer than {MAX_MESSAGE_CHARS} characters",
                "message",
            )
        spec = catalog.BY_TYPE.get(request.agent_type or "RouterAgent")
        if spec is None:
            raise RequestError(
                grpc.StatusCode.NOT_FOUND,
                "unknown_agent",
                f"unknown agent type {request.agent_type!r}; ListAvailableAgents lists them",
                "agent_type",
            )
        return spec

    async def execute(
        self,
        request: agent_pb2.AgentExecutionRequest,
        deadline_s: float | None = None,
        on_chunk: Callable[[str], Awaitable[None]] | None = None,
        credentials: str = "",
    ) -> agent_pb2.AgentExecutionResponse:
        spec = self.validate(request)
        started = time.perf_counter()
        prediction = self.classifier.predict(request.message)
        turn = Turn(
            tenant_id=request.tenant_id,
            contact_id=request.contact_id,
            channel_id=request.channel_id,
            session_id=request.session_id,
            request_id=request.request_id or str(uuid.uuid4()),
            message=request.message,
            context=dict(request.context),
            prediction=prediction,
            topic=routing_topic(prediction, request.message),
            memory=self.memory,
            deadline_s=deadline_s,
            credentials=credentials,
        )
        token = CURRENT.set(turn)
        session_id = f"{turn.request_id}-{uuid.uuid4().hex[:8]}"
        try:
            await self.sessions.create_session(
                app_name=APP, user_id=request.tenant_id, session_id=session_id, state={"topic": turn.topic}
            )
            streaming = (
                RunConfig(streaming_mode=StreamingMode.SSE)
                if on_chunk and self.config.provider != OFFLINE
                else None
            )
            prompt = request.message
            runner_type = spec.type
            if self.config.provider != OFFLINE:
                # A real model is told which language to answer in (the offline one decides it itself).
                given = turn.context.get("language")
                # A campaign is written in the contact's language when it is known, not the brief's.
                campaign_language = (
                    given if turn.context.get("mode") == "campaign" and given in language.SUPPORTED else None
                )
                turn.language = campaign_language or language.detect(request.message, given)
                prompt = campaign_prompt(turn) if turn.context.get("mode") == "campaign" else request.message
                prompt += f"\n\n(Answer in {language.NAMES[turn.language]}.)"
                if spec.pattern == catalog.COORDINATOR:
                    # The classifier routes (one model call chain instead of two, and a guard on it).
                    runner_type = catalog.SPECIALIST_FOR_TOPIC.get(turn.topic, "CustomerServiceAgent")
            fallback_reason = ""
            model_answer: structured.Checked | None = None
            try:
                last_text, author = await asyncio.wait_for(
                    self._run(
                        self.runners[runner_type],
                        request.tenant_id,
                        session_id,
                        prompt,
                        streaming=streaming,
                        on_chunk=on_chunk,
                    ),
                    timeout=self._model_budget(deadline_s),
                )
                if (
                    self.config.provider != OFFLINE
                    and author in replies.TEMPLATES
                    and not campaign_mode(turn)
                ):
                    answer = structured.parse(last_text)
                    if answer is None:
                        fallback_reason = "unstructured_answer"
                    else:
                        model_answer = structured.check(answer, prediction)
            except MODEL_ERRORS as err:
                fallback_reason = type(err).__name__
            except Exception as err:
                if self.config.provider == OFFLINE:
                    raise
                # ADK validates the structured answer itself and fails the run when it is not one.
                fallback_reason = "unstructured_answer" if _is_validation_error(err) else type(err).__name__
            if fallback_reason:
                log.warning(
                    "model answer replaced by the offline agents",
                    extra={"reason": fallback_reason, "request.id": turn.request_id},
                )
                await self.sessions.delete_session(
                    app_name=APP, user_id=request.tenant_id, session_id=session_id
                )
                await self.sessions.create_session(
                    app_name=APP,
                    user_id=request.tenant_id,
                    session_id=session_id,
                    state={"topic": turn.topic},
                )
                model_answer = None
                last_text, author = await self._run(
                    self.fallback[spec.type], request.tenant_id, session_id, request.message
                )
            session = await self.sessions.get_session(
                app_name=APP, user_id=request.tenant_id, session_id=session_id
            )
            state = dict(session.state) if session else {}
        finally:
            await self.sessions.delete_session(app_name=APP, user_id=request.tenant_id, session_id=session_id)
            CURRENT.reset(token)

        if spec.type == "ChurnPredictionAgent":
            author = spec.type
            last_text = json.dumps({"churn_risk": churn_risk(turn, state)})
        campaign = campaign_mode(turn)
        intent, confidence = prediction.intent, prediction.confidence
        # A campaign message is outreach, not an answer: nothing to act on yet.
        if campaign:
            actions = []
        elif model_answer is not None:
            # A real model's structured answer, checked (structured.check).
            last_text, intent, confidence = model_answer.reply, model_answer.intent, model_answer.confidence
            actions = model_answer.actions
        else:
            actions = suggest_actions(turn, author if spec.type != "LeadQualifierAgent" else spec.type, state)
        lang = turn.language or language.detect(request.message, turn.context.get("language"))
        if not campaign and author not in NOT_CUSTOMER_FACING:
            actions = enforce_commitments(last_text, lang, actions, turn.topic)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.stats[spec.type].record(elapsed_ms)
        log.info(
            "agent executed",
            extra={
                "agent.type": spec.type,
                "agent.answered_by": author,
                "intent": intent,
                "latency_ms": round(elapsed_ms, 1),
                "request.id": turn.request_id,
                "tenant.id": request.tenant_id,
            },
        )
        return agent_pb2.AgentExecutionResponse(
            response=last_text,
            intent=intent,
            confidence=confidence,
            suggested_actions=[actions_.name(a.type) for a in actions],
            actions=actions,
            metadata={
                "agent_type": author,
                "topic": turn.topic,
                "model_provider": self.config.provider,
                "language": lang,
                "in_scope": str(prediction.in_scope).lower(),
                "tools_called": ",".join(turn.tool_calls),
                **knowledge_used(turn),
                **({"model_fallback": fallback_reason} if fallback_reason else {}),
                **(
                    {"structured": "true", "guard_overrode": ",".join(model_answer.overridden)}
                    if model_answer is not None
                    else {}
                ),
                **(
                    {"best_send_hour": str(hour)}
                    if campaign and (hour := best_send_hour(turn.context)) is not None
                    else {}
                ),
            },
            latency_ms=round(elapsed_ms),
            agent_type=author,
            request_id=turn.request_id,
        )


def campaign_mode(turn: Turn) -> bool:
    return turn.context.get("mode") == "campaign"


def _model_errors() -> tuple[type[BaseException], ...]:
    """What a model provider raises when it fails (HTTP errors, rate limits, timeouts)."""
    import httpx
    from google.genai import errors as genai_errors
    from openai import APIError

    return (TimeoutError, APIError, genai_errors.APIError, httpx.HTTPError)


MODEL_ERRORS = _model_errors()


def _is_validation_error(err: BaseException) -> bool:
    from pydantic import ValidationError

    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ValidationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def knowledge_used(turn: Turn) -> dict[str, str]:
    """The passages the answer stands on, stored with the run for operators
    (`metadata.knowledge_passages`: JSON list of id, document, heading, content)."""
    if "search_knowledge" not in turn.tool_calls:
        return {}
    # How many passages the search found, answering or not: why an agent handed over is visible.
    found = {"knowledge_found": str(len(turn.knowledge))}
    used = relevant_passages(turn) if turn.knowledge else []
    if not used:
        return found
    keep = ("id", "document_id", "document_title", "heading", "content")
    return {**found, "knowledge_passages": json.dumps([{k: p.get(k, "") for k in keep} for p in used[:3]])}


def campaign_prompt(turn: Turn) -> str:
    """What a real model is asked for a campaign message (the offline model composes it directly)."""
    name = turn.context.get("contact_name", "")
    return (
        f"Write one short, friendly outbound message (under 400 characters) to the customer{' ' + name if name else ''} "
        f'for the campaign "{turn.context.get("campaign_name", "")}". Brief: {turn.context.get("objective") or turn.message}. '
        "Use what you know about them from their history and memories; do not invent facts; no placeholders."
    )


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]


class AgentServicer:
    """AgentService: every rpc of proto/ventros/v1/agent.proto (registration checks each by name)."""

    def __init__(self, executor: AgentExecutor, auth: InternalAuth) -> None:
        self.executor = executor
        self.auth = auth

    async def _authorize(
        self, context: grpc.aio.ServicerContext, request: agent_pb2.AgentExecutionRequest | None = None
    ) -> str:
        """The caller's token, once it is genuine and covers the request's tenant and contact."""
        token = bearer(context.invocation_metadata())
        try:
            claims = self.auth.verify(token)
            if request is not None:
                claims.allow(request.tenant_id, request.contact_id)
        except AuthError as err:
            code = grpc.StatusCode.PERMISSION_DENIED if err.denied else grpc.StatusCode.UNAUTHENTICATED
            await _abort(
                context,
                RequestError(code, "permission_denied" if err.denied else "unauthenticated", err.message, ""),
            )
        return token or ""

    async def ListAvailableAgents(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext
    ) -> agent_pb2.AgentListResponse:
        await self._authorize(context)
        return agent_pb2.AgentListResponse(agents=[self.executor.info(spec) for spec in catalog.CATALOG])

    async def GetAgentCapabilities(
        self, request: agent_pb2.AgentRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.AgentCapabilitiesResponse:
        await self._authorize(context)
        spec = catalog.BY_TYPE.get(request.agent_type)
        if spec is None:
            await _abort(
                context,
                RequestError(
                    grpc.StatusCode.NOT_FOUND,
                    "unknown_agent",
                    f"unknown agent type {request.agent_type!r}",
                    "agent_type",
                ),
            )
        intents = sorted({i for i, t in TOPIC_OF_INTENT.items() if t in spec.topics})
        return agent_pb2.AgentCapabilitiesResponse(
            agent=self.executor.info(spec),
            tools=list(spec.tools),
            intents=intents,
            suggested_actions=[actions_.name(a) for a in spec.actions],
            model_provider=self.executor.config.provider,
        )

    async def ExecuteAgent(
        self, request: agent_pb2.AgentExecutionRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.AgentExecutionResponse:
        with traces.server_span(
            "ventros.v1.AgentService/ExecuteAgent",
            context.invocation_metadata(),
            {"rpc.system": "grpc", "ventros.agent_type": request.agent_type},
        ) as span:
            credentials = await self._authorize(context, request)
            try:
                return await self.executor.execute(request, context.time_remaining(), credentials=credentials)
            except RequestError as err:
                traces.fail(span, err.error)
                await _abort(context, err)

    async def StreamAgentExecution(
        self, request: agent_pb2.AgentExecutionRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[agent_pb2.AgentStreamResponse]:
        credentials = await self._authorize(context, request)
        queue: asyncio.Queue[str] = asyncio.Queue()
        streamed = False

        async def on_chunk(text: str) -> None:
            await queue.put(text)

        try:
            task = asyncio.create_task(
                self.executor.execute(request, context.time_remaining(), on_chunk, credentials)
            )
            while not task.done() or not queue.empty():
                try:
                    chunk = await asyncio.wait_for(queue.get(), timeout=0.05)
                    streamed = True
                    yield agent_pb2.AgentStreamResponse(text_chunk=chunk)
                except TimeoutError:
                    continue
            final = await task
        except RequestError as err:
            await _abort(context, err)
            return
        if not streamed:
            for sentence in _sentences(final.response):
                yield agent_pb2.AgentStreamResponse(text_chunk=sentence)
        yield agent_pb2.AgentStreamResponse(final=final)


async def _abort(context: grpc.aio.ServicerContext, err: RequestError) -> NoReturn:
    detail = agent_pb2.ErrorDetail(code=err.error, message=err.message, field=err.field)
    context.set_trailing_metadata((("ventros-error-bin", detail.SerializeToString()),))
    await context.abort(err.code, err.message)
