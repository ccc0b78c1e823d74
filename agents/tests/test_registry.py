from ventros_agents import catalog


def test_at_least_twenty_agents_with_the_seed_ones():
    types = {spec.type for spec in catalog.CATALOG}
    assert len(types) == len(catalog.CATALOG) >= 20
    for required in (
        "CustomerServiceAgent",
        "LeadQualifierAgent",
        "SalesAgent",
        "RetentionAgent",
        "ChurnPredictionAgent",
        "SupportTicketAgent",
        "RouterAgent",
        "ConversationSummaryAgent",
        "FactExtractionAgent",
        "OrderStatusAgent",
        "BillingAgent",
        "SchedulingAgent",
        "ComplaintEscalationAgent",
        "FeedbackAgent",
        "OnboardingAgent",
        "ReactivationAgent",
    ):
        assert required in types


def test_every_pattern_is_used_and_every_part_exists():
    patterns = {spec.pattern for spec in catalog.CATALOG}
    assert {catalog.LLM, catalog.SEQUENTIAL, catalog.PARALLEL, catalog.COORDINATOR} <= patterns
    for spec in catalog.CATALOG:
        for part in spec.parts:
            assert part in catalog.BY_TYPE, f"{spec.type} uses unknown {part}"
        assert spec.description and spec.capabilities


def test_the_router_has_a_specialist_for_every_topic_it_can_classify():
    from ventros_agents.training import TOPIC_OF_INTENT

    router = catalog.BY_TYPE["RouterAgent"]
    for topic in set(TOPIC_OF_INTENT.values()):
        specialist = catalog.SPECIALIST_FOR_TOPIC.get(topic)
        assert specialist is not None, topic
        assert specialist in router.parts, (topic, specialist)
