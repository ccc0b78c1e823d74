"""The agent registry: every agent Ventros can run, with what it is for, what it can do and how it
is built (a single LLM agent with tools, a sequential chain, a parallel fan-out, or a coordinator
delegating to specialists).

Latency figures are not here: they are measured from real executions (see `service.Stats`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Orchestration patterns (ADK): one LlmAgent; SequentialAgent; ParallelAgent; a coordinator
# LlmAgent whose model transfers to one of its sub-agents.
LLM, SEQUENTIAL, PARALLEL, COORDINATOR = "llm", "sequential", "parallel", "coordinator"

# Tools that call back into Ventros (MemoryService over gRPC).
SEARCH_MEMORIES, CONTACT_CONTEXT = "search_memories", "get_contact_context"

# Suggested actions the Rust side knows how to execute.
CREATE_LEAD, UPDATE_PIPELINE, HANDOFF, TAG_CONTACT = "create_lead", "update_pipeline", "handoff_to_human", "tag_contact"


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
    actions: tuple[str, ...] = ()
    # For sequential / parallel / coordinator agents: the agent types they are made of.
    parts: tuple[str, ...] = field(default=())
    # What the agent says, by topic; "default" when the topic has no line of its own.
    replies: dict[str, str] = field(default_factory=dict, hash=False)


def _spec(*args, **kwargs) -> AgentSpec:
    return AgentSpec(*args, **kwargs)


CATALOG: tuple[AgentSpec, ...] = (
    _spec(
        "RouterAgent", "Triage Router",
        "Reads the customer's message, classifies the intent and hands the conversation to the right specialist.",
        ("intent_classification", "routing"), pattern=COORDINATOR, tools=(),
        parts=("CustomerServiceAgent", "SalesAgent", "LeadQualifierAgent", "OrderStatusAgent", "BillingAgent",
               "SchedulingAgent", "ComplaintEscalationAgent", "RetentionAgent", "SupportTicketAgent",
               "FeedbackAgent", "OnboardingAgent", "ProductInfoAgent", "RefundAgent", "SmallTalkAgent",
               "ReactivationAgent"),
    ),
    _spec(
        "CustomerServiceAgent", "Customer Service Specialist",
        "General customer service: answers questions using the customer's history and hands over when unsure.",
        ("intent_classification", "response_generation", "memory_retrieval"), topics=("general",),
        actions=(HANDOFF,),
        replies={"default": "{greeting} Thanks for reaching out. {memory_line}How can I help you today?"},
    ),
    _spec(
        "SalesAgent", "Sales Specialist",
        "Turns buying interest into leads: acknowledges previous purchases and moves deals forward.",
        ("response_generation", "lead_creation", "pipeline_management"), topics=("purchase", "pricing"),
        actions=(CREATE_LEAD, UPDATE_PIPELINE),
        replies={
            "purchase": "{greeting} Great choice! {memory_line}I've noted your interest and a specialist will send you the details and payment options right away.",
            "pricing": "{greeting} {memory_line}I'll send you our current prices and plans in a moment.",
            "default": "{greeting} {memory_line}Tell me what you're looking for and I'll find the best option for you.",
        },
    ),
    _spec(
        "LeadQualifierAgent", "Lead Qualifier",
        "Qualifies a lead in steps: extracts what the customer wants, scores the lead, then answers.",
        ("lead_scoring", "fact_extraction", "pipeline_management"), topics=("qualification",),
        pattern=SEQUENTIAL, parts=("FactExtractionAgent", "LeadScoringAgent", "SalesAgent"),
        actions=(CREATE_LEAD, UPDATE_PIPELINE),
    ),
    _spec(
        "LeadScoringAgent", "Lead Scorer",
        "Scores how ready a lead is to buy from intent, confidence and history.",
        ("lead_scoring",), tools=(CONTACT_CONTEXT,), actions=(UPDATE_PIPELINE,),
        replies={"default": "Lead score computed."},
    ),
    _spec(
        "RetentionAgent", "Retention Specialist",
        "Keeps customers who want to cancel: acknowledges the problem, offers alternatives, flags churn risk.",
        ("churn_prevention", "response_generation"), topics=("cancel",), actions=(TAG_CONTACT, HANDOFF),
        replies={"default": "{greeting} I'm sorry to hear you're thinking of leaving. {memory_line}Before you decide, let me see what we can do for you. A colleague will contact you with an offer."},
    ),
    _spec(
        "ChurnPredictionAgent", "Churn Predictor",
        "Estimates churn risk by looking at sentiment, engagement and history in parallel.",
        ("churn_prediction", "sentiment_analysis"), pattern=PARALLEL,
        parts=("SentimentAgent", "EngagementAgent", "HistoryRiskAgent"), actions=(TAG_CONTACT,),
    ),
    _spec("SentimentAgent", "Sentiment Analyst", "Reads the sentiment of the latest messages.",
          ("sentiment_analysis",), tools=(), replies={"default": "sentiment assessed"}),
    _spec("EngagementAgent", "Engagement Analyst", "Measures how engaged the contact has been recently.",
          ("engagement_analysis",), tools=(CONTACT_CONTEXT,), replies={"default": "engagement assessed"}),
    _spec("HistoryRiskAgent", "History Risk Analyst", "Looks for complaints and cancellations in the contact's memories.",
          ("memory_retrieval",), tools=(SEARCH_MEMORIES,), replies={"default": "history assessed"}),
    _spec(
        "SupportTicketAgent", "Support Ticket Agent",
        "Collects the details of a technical problem and opens a ticket for the support team.",
        ("ticket_creation", "response_generation"), topics=("support",), actions=(TAG_CONTACT, HANDOFF),
        replies={"default": "{greeting} I'm sorry about the trouble. {memory_line}I've opened a ticket with our support team; could you tell me when it started and share a screenshot if possible?"},
    ),
    _spec(
        "OrderStatusAgent", "Order Status Agent",
        "Answers where an order is, using the purchases in the customer's memories.",
        ("order_tracking", "memory_retrieval"), topics=("order_status",),
        replies={"default": "{greeting} {memory_line}Let me check your order status; I'll send you the tracking details in a moment."},
    ),
    _spec(
        "BillingAgent", "Billing Agent",
        "Invoices, payments, due dates and balances.",
        ("billing", "response_generation"), topics=("billing",), actions=(HANDOFF,),
        replies={"default": "{greeting} {memory_line}I can help with your invoice and payments. I'll send the details of your account now."},
    ),
    _spec(
        "SchedulingAgent", "Scheduling Agent",
        "Books, moves and cancels appointments and meetings.",
        ("scheduling", "response_generation"), topics=("scheduling",), actions=(UPDATE_PIPELINE,),
        replies={"default": "{greeting} Happy to schedule that. {memory_line}Which day and time work best for you?"},
    ),
    _spec(
        "ComplaintEscalationAgent", "Complaint Escalation Agent",
        "Handles complaints with empathy and escalates them to a human straight away.",
        ("escalation", "sentiment_analysis"), topics=("complaint", "human"), actions=(HANDOFF, TAG_CONTACT),
        replies={"default": "{greeting} I'm really sorry about this. {memory_line}I'm passing your conversation to a member of our team right now."},
    ),
    _spec(
        "FeedbackAgent", "Feedback Agent",
        "Thanks customers for feedback and records it.",
        ("feedback_collection",), topics=("feedback",), actions=(TAG_CONTACT,),
        replies={"default": "{greeting} Thank you for the feedback! {memory_line}It really helps us improve."},
    ),
    _spec(
        "OnboardingAgent", "Onboarding Agent",
        "Welcomes new customers and explains how to get started.",
        ("onboarding", "response_generation"), topics=("onboarding",),
        replies={"default": "{greeting} Welcome aboard! {memory_line}Here's how to get started: I'll send you a short guide now."},
    ),
    _spec(
        "ReactivationAgent", "Reactivation Agent",
        "Writes to customers who went quiet, referring to what they bought before.",
        ("reactivation", "personalisation"), topics=("reactivation",), actions=(UPDATE_PIPELINE,),
        replies={"default": "{greeting} It's been a while! {memory_line}We have news you might like; shall I send you the details?"},
    ),
    _spec(
        "ProductInfoAgent", "Product Information Agent",
        "Answers questions about products, availability and features.",
        ("product_information", "memory_retrieval"), topics=("product_info",),
        replies={"default": "{greeting} {memory_line}I'll send you the full product details and availability."},
    ),
    _spec(
        "RefundAgent", "Refund Agent",
        "Refunds and returns: explains the policy and starts the process.",
        ("refunds", "response_generation"), topics=("refund",), actions=(HANDOFF, TAG_CONTACT),
        replies={"default": "{greeting} I understand. {memory_line}I've started your refund request; a colleague will confirm the next steps."},
    ),
    _spec(
        "SmallTalkAgent", "Small Talk Agent",
        "Greetings, thanks and goodbyes.",
        ("response_generation",), topics=("small_talk",), tools=(CONTACT_CONTEXT,),
        replies={"default": "{greeting} {memory_line}How can I help you today?"},
    ),
    _spec(
        "ConversationSummaryAgent", "Conversation Summariser",
        "Summarises a conversation into a few lines for memory and for the human who takes over.",
        ("summarisation",), tools=(CONTACT_CONTEXT,), replies={"default": "{summary}"},
    ),
    _spec(
        "FactExtractionAgent", "Fact Extractor",
        "Extracts durable facts (products, preferences, dates, problems) from messages for the memory service.",
        ("fact_extraction",), tools=(), replies={"default": "{facts}"},
    ),
)

BY_TYPE: dict[str, AgentSpec] = {spec.type: spec for spec in CATALOG}

# Which specialist handles which topic (the router's table).
SPECIALIST_FOR_TOPIC: dict[str, str] = {
    topic: spec.type for spec in CATALOG if spec.pattern == LLM for topic in spec.topics
}
SPECIALIST_FOR_TOPIC["qualification"] = "LeadQualifierAgent"
