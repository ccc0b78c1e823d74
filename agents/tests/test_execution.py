"""Each orchestration pattern and the offline model, through the executor (no gRPC)."""

import pytest

from ventros.v1 import agent_pb2
from ventros_agents.agents import ProviderConfig
from ventros_agents.runtime import MemoryClient
from ventros_agents.service import AgentExecutor, RequestError


def request(message, agent_type="RouterAgent", contact="contact-ana", **kw):
    return agent_pb2.AgentExecutionRequest(
        agent_type=agent_type,
        tenant_id="tenant-1",
        contact_id=contact,
        channel_id="channel-1",
        message=message,
        request_id="req-1",
        **kw,
    )


async def test_the_router_hands_a_purchase_to_sales_which_uses_the_customers_history(
    executor, memory_service
):
    response = await executor.execute(request("I want to buy product X"), credentials="token-of-this-call")
    assert response.agent_type == "SalesAgent"
    assert response.intent == "purchase_intent"
    assert 0.0 < response.confidence <= 1.0
    assert "Ana" in response.response
    assert "Pro blender" in response.response, response.response
    assert response.suggested_actions[:2] == ["create_lead", "update_pipeline"]
    lead = next(a for a in response.actions if a.type == agent_pb2.ACTION_TYPE_CREATE_LEAD)
    assert lead.params["interest"] == "product x"
    assert ("SearchMemories", "tenant-1", "contact-ana") in memory_service.calls
    # The caller's credentials travel with every MemoryService call, so it can check them.
    assert memory_service.credentials and set(memory_service.credentials) == {"token-of-this-call"}


async def test_the_router_escalates_a_request_for_a_human(executor):
    response = await executor.execute(request("i want to talk to a human please"))
    assert response.agent_type == "ComplaintEscalationAgent"
    assert "handoff_to_human" in response.suggested_actions


async def test_out_of_scope_messages_go_to_customer_service(executor):
    response = await executor.execute(request("what is the airspeed velocity of an unladen swallow"))
    assert response.intent == "oos"
    assert response.agent_type == "CustomerServiceAgent"
    assert response.metadata["in_scope"] == "false"


async def test_sequential_lead_qualifier_extracts_scores_and_answers(executor):
    response = await executor.execute(
        request("I want to buy the premium plan today", agent_type="LeadQualifierAgent")
    )
    # The chain ends with the sales specialist speaking.
    assert response.agent_type == "SalesAgent"
    stage = next(a for a in response.actions if a.type == agent_pb2.ACTION_TYPE_UPDATE_PIPELINE)
    assert stage.params["stage"] in ("qualified", "contacted")
    assert int(stage.params["score"]) >= 50
    assert "Great choice" in response.response


async def test_parallel_churn_prediction_combines_three_analyses(executor):
    angry = await executor.execute(
        request("this is terrible, i want to cancel my subscription", agent_type="ChurnPredictionAgent")
    )
    happy = await executor.execute(request("i love your service, thanks", agent_type="ChurnPredictionAgent"))
    import json

    assert json.loads(angry.response)["churn_risk"] > json.loads(happy.response)["churn_risk"]
    assert "tag_contact" in angry.suggested_actions


async def test_agents_answer_without_memory_service(classifier):
    executor = AgentExecutor(classifier, ProviderConfig(), memory=None)
    response = await executor.execute(request("where is my order?", contact=""))
    assert response.agent_type == "OrderStatusAgent"
    assert response.response.startswith("Hi!")


async def test_invalid_requests_are_refused(executor):
    import grpc

    with pytest.raises(RequestError) as err:
        await executor.execute(request("   "))
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(RequestError) as err:
        await executor.execute(agent_pb2.AgentExecutionRequest(agent_type="RouterAgent", message="hi"))
    assert err.value.error == "missing_tenant"
    with pytest.raises(RequestError) as err:
        await executor.execute(request("hi", agent_type="NoSuchAgent"))
    assert err.value.code == grpc.StatusCode.NOT_FOUND


async def test_latency_is_measured_from_executions(executor):
    before = executor.info(executor_spec("SmallTalkAgent")).executions
    await executor.execute(request("hello there", agent_type="SmallTalkAgent"))
    info = executor.info(executor_spec("SmallTalkAgent"))
    assert info.executions == before + 1
    assert info.avg_latency_ms >= 0


def executor_spec(agent_type):
    from ventros_agents.catalog import BY_TYPE

    return BY_TYPE[agent_type]


async def test_the_message_being_answered_is_not_quoted_back_as_history(classifier, memory_service):
    memory_service.contacts["contact-bia"] = {"name": "Bia", "memories": ["I want to buy product X"]}
    memory = MemoryClient(memory_service.address)
    try:
        executor = AgentExecutor(classifier, ProviderConfig(), memory)
        response = await executor.execute(request("I want to buy product X", contact="contact-bia"))
    finally:
        await memory.close()
    assert "history" not in response.response, response.response
    assert response.response.startswith("Hi Bia!")


async def test_a_campaign_message_is_personalised_and_timed_from_the_contacts_history(executor):
    context = {
        "mode": "campaign",
        "objective": "Our winter collection is out: 20% off this week.",
        "campaign_name": "Winter",
        "contact_name": "Ana Souza",
        "activity_hours": "8:9,14:3,15:5,22:7",
        "window_start": "09:00",
        "window_end": "18:00",
    }
    response = await executor.execute(
        request("Our winter collection is out: 20% off this week.", agent_type="SalesAgent", context=context)
    )
    assert response.response.startswith("Hi Ana!"), response.response
    assert "winter collection" in response.response
    assert "Pro blender" in response.response, "what we remember about her goes in"
    # 08:00 and 22:00 are her busiest hours but outside the window: 15:00 is the best inside it.
    assert response.metadata["best_send_hour"] == "15"
    assert list(response.suggested_actions) == []


async def test_a_campaign_message_without_history_has_no_best_hour(executor):
    context = {
        "mode": "campaign",
        "objective": "New store opening on Friday.",
        "window_start": "09:00",
        "window_end": "18:00",
    }
    response = await executor.execute(
        request("New store opening on Friday.", agent_type="SalesAgent", context=context)
    )
    assert "New store opening" in response.response
    assert "best_send_hour" not in response.metadata
