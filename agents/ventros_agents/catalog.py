"""The agent registry: every agent Ventros can run, with what it is for, what it can do and how it
is built (a single LLM agent with tools, a sequential chain, a parallel fan-out, or a coordinator
delegating to specialists).

Latency figures are not here: they are measured from real executions (see `service.Stats`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .actions import (
    CREATE_LEAD,
    HANDOFF,
    OPEN_TICKET,
    SCHEDULE_FOLLOW_UP,
    TAG_CONTACT,
    UPDATE_PIPELINE,
    ActionType,
)
from .replies import TEMPLATES

# Orchestration patterns (ADK): one LlmAgent; SequentialAgent; ParallelAgent; a coordinator
# LlmAgent whose model transfers to one of its sub-agents.
LLM, SEQUENTIAL, PARALLEL, COORDINATOR = "llm", "sequential", "parallel", "coordinator"

# Tools that call back into Ventros (MemoryService over gRPC).
SEARCH_MEMORIES, CONTACT_CONTEXT = "search_memories", "get_contact_context"
# The business's own knowledge base (documents, product catalogue): the only source an agent may
# answer hours, delivery, payment, products, prices and policies from.
SEARCH_KNOWLEDGE = "search_knowledge"
WITH_KNOWLEDGE = (CONTACT_CONTEXT, SEARCH_MEMORIES, SEARCH_KNOWLEDGE)

# Suggested actions the Rust side knows how to execute are the proto's ActionType (actions.py).


@dataclass(frozen=True)
class AgentSpec:
    type: str
    name: str
    description: str
    capabilities: tuple[str, ...]
    # CRM topics this agent is the specialist for (the router uses them).
    topics: tuple[str, ...] = ()
    pattern: str = LLM
    tools: tuple[str, ...] = (CONTACT_CONTEXT, SEARCH_MEMORIES)
    actions: tuple[ActionType, ...] = ()
    # For sequential / parallel / coordinator agents: the agent types they are made of.
    parts: tuple[str, ...] = field(default=())
    # What the agent says, by topic; "default" when the topic has no line of its own.
    replies: dict[str, str] = field(default_factory=dict, hash=False)


def _spec(*args: Any, **kwargs: Any) -> AgentSpec:
    spec = AgentSpec(*args, **kwargs)
    if not spec.replies and spec.type in TEMPLATES:
        # Customer-facing agents speak from replies.py (three languages); the registry shows English.
        spec = replace(spec, replies={topic: lines["en"] for topic, lines in TEMPLATES[spec.type].items()})
    return spec


CATALOG: tuple[AgentSpec, ...] = (
    _spec(
        "RouterAgent",
        "Triage Router",
        "Reads the customer's message, classifies the intent and hands the conversation to the right specialist.",
        ("intent_classification", "routing"),
        pattern=COORDINATOR,
        tools=(),
        parts=(
            "CustomerServiceAgent",
            "SalesAgent",
            "LeadQualifierAgent",
            "OrderStatusAgent",
            "BillingAgent",
            "SchedulingAgent",
            "ComplaintEscalationAgent",
            "RetentionAgent",
            "SupportTicketAgent",
            "FeedbackAgent",
            "OnboardingAgent",
            "ProductInfoAgent",
            "RefundAgent",
            "SmallTalkAgent",
            "ReactivationAgent",
        ),
    ),
    _spec(
        "CustomerServiceAgent",
        "Customer Service Specialist",
        "General customer service: answers questions using the customer's history and hands over when unsure.",
        ("intent_classification", "response_generation", "memory_retrieval"),
        # Questions about the business (hours, delivery, payment, where, warranty) too.
        topics=("general", "delivery", "hours", "payment", "location", "warranty", "returns"),
        tools=WITH_KNOWLEDGE,
        actions=(HANDOFF,),
    ),
    _spec(
        "SalesAgent",
        "Sales Specialist",
        "Turns buying interest into leads: acknowledges previous purchases and moves deals forward.",
        ("response_generation", "lead_creation", "pipeline_management"),
        topics=("purchase", "pricing"),
        tools=WITH_KNOWLEDGE,
        actions=(CREATE_LEAD, UPDATE_PIPELINE),
    ),
    _spec(
        "LeadQualifierAgent",
        "Lead Qualifier",
        "Qualifies a lead in steps: extracts what the customer wants, scores the lead, then answers.",
        ("lead_scoring", "fact_extraction", "pipeline_management"),
        topics=("qualification",),
        pattern=SEQUENTIAL,
        parts=("FactExtractionAgent", "LeadScoringAgent", "SalesAgent"),
        actions=(CREATE_LEAD, UPDATE_PIPELINE),
    ),
    _spec(
        "LeadScoringAgent",
        "Lead Scorer",
        "Scores how ready a lead is to buy from intent, confidence and history.",
        ("lead_scoring",),
        tools=(CONTACT_CONTEXT,),
        actions=(UPDATE_PIPELINE,),
        replies={"default": "Lead score computed."},
    ),
    _spec(
        "RetentionAgent",
        "Retention Specialist",
        "Keeps customers who want to cancel: acknowledges the problem, offers alternatives, flags churn risk.",
        ("churn_prevention", "response_generation"),
        topics=("cancel",),
        actions=(OPEN_TICKET, SCHEDULE_FOLLOW_UP, TAG_CONTACT, HANDOFF),
        tools=WITH_KNOWLEDGE,
    ),
    _spec(
        "ChurnPredictionAgent",
        "Churn Predictor",
        "Estimates churn risk by looking at sentiment, engagement and history in parallel.",
        ("churn_prediction", "sentiment_analysis"),
        pattern=PARALLEL,
        parts=("SentimentAgent", "EngagementAgent", "HistoryRiskAgent"),
        actions=(TAG_CONTACT,),
    ),
    _spec(
        "SentimentAgent",
        "Sentiment Analyst",
        "Reads the sentiment of the latest messages.",
        ("sentiment_analysis",),
        tools=(),
        replies={"default": "sentiment assessed"},
    ),
    _spec(
        "EngagementAgent",
        "Engagement Analyst",
        "Measures how engaged the contact has been recently.",
        ("engagement_analysis",),
        tools=(CONTACT_CONTEXT,),
        replies={"default": "engagement assessed"},
    ),
    _spec(
        "HistoryRiskAgent",
        "History Risk Analyst",
        "Looks for complaints and cancellations in the contact's memories.",
        ("memory_retrieval",),
        tools=(SEARCH_MEMORIES,),
        replies={"default": "history assessed"},
    ),
    _spec(
        "SupportTicketAgent",
        "Support Ticket Agent",
        "Collects the details of a technical problem and opens a ticket for the support team.",
        ("ticket_creation", "response_generation"),
        topics=("support",),
        actions=(OPEN_TICKET, SCHEDULE_FOLLOW_UP, TAG_CONTACT, HANDOFF),
    ),
    _spec(
        "OrderStatusAgent",
        "Order Status Agent",
        "Answers where an order is, using the purchases in the customer's memories.",
        ("order_tracking", "memory_retrieval"),
        topics=("order_status",),
    ),
    _spec(
        "BillingAgent",
        "Billing Agent",
        "Invoices, payments, due dates and balances.",
        ("billing", "response_generation"),
        topics=("billing",),
        actions=(HANDOFF,),
    ),
    _spec(
        "SchedulingAgent",
        "Scheduling Agent",
        "Books, moves and cancels appointments and meetings.",
        ("scheduling", "response_generation"),
        topics=("scheduling",),
        actions=(UPDATE_PIPELINE,),
    ),
    _spec(
        "ComplaintEscalationAgent",
        "Complaint Escalation Agent",
        "Handles complaints with empathy and escalates them to a human straight away.",
        ("escalation", "sentiment_analysis"),
        topics=("complaint", "human"),
        actions=(HANDOFF, TAG_CONTACT),
    ),
    _spec(
        "FeedbackAgent",
        "Feedback Agent",
        "Thanks customers for feedback and records it.",
        ("feedback_collection",),
        topics=("feedback",),
        actions=(TAG_CONTACT,),
    ),
    _spec(
        "OnboardingAgent",
        "Onboarding Agent",
        "Welcomes new customers and explains how to get started.",
        ("onboarding", "response_generation"),
        topics=("onboarding",),
    ),
    _spec(
        "ReactivationAgent",
        "Reactivation Agent",
        "Writes to customers who went quiet, referring to what they bought before.",
        ("reactivation", "personalisation"),
        topics=("reactivation",),
        actions=(UPDATE_PIPELINE,),
    ),
    _spec(
        "ProductInfoAgent",
        "Product Information Agent",
        "Answers questions about products, prices, availability and features from the business's knowledge base.",
        ("product_information", "memory_retrieval"),
        topics=("product_info",),
        tools=WITH_KNOWLEDGE,
    ),
    _spec(
        "RefundAgent",
        "Refund Agent",
        "Refunds and returns: explains the policy and starts the process.",
        ("refunds", "response_generation"),
        topics=("refund",),
        actions=(OPEN_TICKET, SCHEDULE_FOLLOW_UP, HANDOFF, TAG_CONTACT),
        tools=WITH_KNOWLEDGE,
    ),
    _spec(
        "SmallTalkAgent",
        "Small Talk Agent",
        "Greetings, thanks and goodbyes.",
        ("response_generation",),
        topics=("small_talk",),
        tools=(CONTACT_CONTEXT,),
    ),
    _spec(
        "ConversationSummaryAgent",
        "Conversation Summariser",
        "Summarises a conversation into a few lines for memory and for the human who takes over.",
        ("summarisation",),
        tools=(CONTACT_CONTEXT,),
        replies={"default": "{summary}"},
    ),
    _spec(
        "FactExtractionAgent",
        "Fact Extractor",
        "Extracts durable facts (products, preferences, dates, problems) from messages for the memory service.",
        ("fact_extraction",),
        tools=(),
        replies={"default": "{facts}"},
    ),
)

BY_TYPE: dict[str, AgentSpec] = {spec.type: spec for spec in CATALOG}

# Which specialist handles which topic (the router's table).
SPECIALIST_FOR_TOPIC: dict[str, str] = {
    topic: spec.type for spec in CATALOG if spec.pattern == LLM for topic in spec.topics
}
SPECIALIST_FOR_TOPIC["qualification"] = "LeadQualifierAgent"
