"""The OpenAI-compatible provider against a local server that speaks the Chat Completions HTTP
API, so the real client code (ADK's OpenAILlm and the openai package) runs."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from ventros.v1 import agent_pb2
from ventros_agents.agents import OPENAI, ProviderConfig
from ventros_agents.service import AgentExecutor


class ChatCompletions(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ChatCompletions.requests.append((self.path, self.headers.get("Authorization"), body))
        reply = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1700000000,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "Olá! Posso ajudar com o seu pedido."},
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatCompletions)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


async def test_replies_come_from_the_configured_openai_compatible_endpoint(classifier, chat_server):
    config = ProviderConfig(OPENAI, "llama3.2", chat_server, "sk-test")
    executor = AgentExecutor(classifier, config, memory=None)
    response = await executor.execute(
        agent_pb2.AgentExecutionRequest(
            agent_type="OrderStatusAgent", tenant_id="t", message="where is my order?"
        )
    )
    assert response.response == "Olá! Posso ajudar com o seu pedido."
    assert response.intent == "order_status"
    assert response.metadata["model_provider"] == "openai"
    path, auth, body = ChatCompletions.requests[-1]
    assert path == "/v1/chat/completions"
    assert auth == "Bearer sk-test"
    assert body["model"] == "llama3.2"
    assert any("where is my order?" in json.dumps(m) for m in body["messages"])
    # The agent's tools are offered to the model.
    assert {t["function"]["name"] for t in body.get("tools", [])} == {
        "get_contact_context",
        "search_memories",
    }


def test_provider_configuration_is_validated(monkeypatch):
    monkeypatch.setenv("VENTROS_MODEL_PROVIDER", "openai")
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    with pytest.raises(ValueError, match="OPENAI_MODEL"):
        ProviderConfig.from_env()
    monkeypatch.setenv("VENTROS_MODEL_PROVIDER", "gemini")
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_GENAI_USE_VERTEXAI", raising=False)
    with pytest.raises(ValueError, match="GOOGLE_API_KEY"):
        ProviderConfig.from_env()
    monkeypatch.setenv("VENTROS_MODEL_PROVIDER", "offline")
    assert ProviderConfig.from_env().provider == "offline"
