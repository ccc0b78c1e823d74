"""Local stand-ins for the two hosted model APIs, speaking their documented wire formats over real
HTTP, so that the real client code (the openai package under ADK's OpenAILlm, google-genai under
ADK's Gemini) runs unchanged:

- OpenAI Chat Completions: `POST {base}/chat/completions` with `Authorization: Bearer`, answering
  `chat.completion` objects whose message has `content` or `tool_calls` (`type: function`,
  `function.arguments` a JSON string); errors as `{"error": {"message", "type", "code"}}` with the
  HTTP status (429 with `Retry-After`, 500).
- Gemini API: `POST {base}/v1beta/models/{model}:generateContent` with `x-goog-api-key`, answering
  `{"candidates": [{"content": {"role": "model", "parts": [...]}, "finishReason"}],
  "usageMetadata"}` whose parts are `{"text"}` or `{"functionCall": {"name", "args"}}`; errors as
  `{"error": {"code", "message", "status"}}` (`RESOURCE_EXHAUSTED` for 429, `UNAVAILABLE` for 503).

A test scripts each call with a `Turn` callback: it sees the parsed request and answers with a
`Reply` (tool calls, text) or a `Failure` (status, or a delay longer than the client waits).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    text: str | None = None
    # (name, arguments) per call.
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Failure:
    status: int = 500
    delay_s: float = 0.0
    retry_after: str | None = None


Script = Callable[[dict[str, Any]], Reply | Failure]


class StandIn:
    """A threaded HTTP server; `requests` holds (path, headers, body) of every call."""

    def __init__(
        self, handle: Callable[[StandIn, str, dict[str, str], dict[str, Any]], tuple[int, dict, dict]]
    ):
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                headers = {k.lower(): v for k, v in self.headers.items()}
                stand_in.requests.append((self.path, headers, body))
                status, payload, extra = handle(stand_in, self.path, headers, body)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _failure(answer: Failure) -> tuple[int, dict[str, str]]:
    if answer.delay_s:
        time.sleep(answer.delay_s)
    return answer.status, ({"Retry-After": answer.retry_after} if answer.retry_after else {})


def openai_chat(script: Script) -> StandIn:
    def handle(_stand_in, path, _headers, body):
        answer = script(body)
        if isinstance(answer, Failure):
            status, extra = _failure(answer)
            kind = "rate_limit_exceeded" if status == 429 else "server_error"
            return (
                status,
                {"error": {"message": f"stand-in failure {status}", "type": kind, "code": kind}},
                extra,
            )
        message: dict[str, Any] = {"role": "assistant", "content": answer.text}
        if answer.tool_calls:
            message["tool_calls"] = [
                {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                for i, (n, a) in enumerate(answer.tool_calls)
            ]
        return (
            200,
            {
                "id": "chatcmpl-standin",
                "object": "chat.completion",
                "created": 1700000000,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "tool_calls" if answer.tool_calls else "stop",
                        "message": message,
                    }
                ],
                "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
            },
            {},
        )

    return StandIn(handle)


def gemini(script: Script) -> StandIn:
    def handle(_stand_in, path, _headers, body):
        answer = script(body)
        if isinstance(answer, Failure):
            status, extra = _failure(answer)
            label = {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}.get(status, "INTERNAL")
            return (
                status,
                {"error": {"code": status, "message": f"stand-in failure {status}", "status": label}},
                extra,
            )
        parts: list[dict[str, Any]] = [{"functionCall": {"name": n, "args": a}} for n, a in answer.tool_calls]
        if answer.text is not None:
            parts.append({"text": answer.text})
        model = path.split("/models/", 1)[1].split(":", 1)[0]
        return (
            200,
            {
                "candidates": [
                    {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
                ],
                "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 8, "totalTokenCount": 20},
                "modelVersion": model,
            },
            {},
        )

    return StandIn(handle)


def last_tool_result(body: dict[str, Any]) -> str | None:
    """The name of the tool whose result the request ends with (either wire format), if any."""
    if "messages" in body:
        last = body["messages"][-1]
        if last.get("role") != "tool":
            return None
        calls = [c for m in body["messages"] if m.get("tool_calls") for c in m["tool_calls"]]
        by_id = {c["id"]: c["function"]["name"] for c in calls}
        return by_id.get(last.get("tool_call_id"))
    parts = body["contents"][-1].get("parts", [])
    responses = [p["functionResponse"]["name"] for p in parts if "functionResponse" in p]
    return responses[-1] if responses else None


def offered_tools(body: dict[str, Any]) -> set[str]:
    if "messages" in body:
        return {t["function"]["name"] for t in body.get("tools") or []}
    return {d["name"] for t in body.get("tools", []) for d in t.get("functionDeclarations", [])}
