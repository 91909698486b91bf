"""The loopback server itself, spoken to with plain HTTP so its wire format is pinned down."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from smolagents.testing.openai_server import OpenAICompatibleServer, ServerFailure, ServerReply


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def chat(server: OpenAICompatibleServer, **body: Any) -> tuple[int, dict[str, str], bytes]:
    body.setdefault("model", "test-model")
    body.setdefault("messages", [{"role": "user", "content": "one two three"}])
    return post(f"{server.base_url}/chat/completions", body)


def test_empty_queue_fails_loudly(server) -> None:
    status, _, raw = chat(server)
    assert status == 500
    assert "no scripted reply left" in json.loads(raw)["error"]["message"]


def test_completion_shape_and_default_usage(server) -> None:
    server.enqueue(
        ServerReply(content="four words right here", tool_calls=[{"name": "f", "arguments": "{bad"}])
    )
    status, _, raw = chat(server)
    body = json.loads(raw)
    assert status == 200 and body["object"] == "chat.completion"
    message = body["choices"][0]["message"]
    assert message["content"] == "four words right here"
    assert message["tool_calls"][0]["function"] == {"name": "f", "arguments": "{bad"}
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9}


def test_streaming_events_end_with_usage_and_done(server) -> None:
    server.enqueue(ServerReply(content="0123456789", usage=(4, 2)))
    status, headers, raw = chat(server, stream=True, stream_options={"include_usage": True})
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    events = [line[len("data: ") :] for line in raw.decode().split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert (
        "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "0123456789"
    )
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 4


def test_reject_stop_does_not_consume_a_reply(server) -> None:
    server.reject_stop = True
    server.enqueue("kept")
    status, _, raw = chat(server, stop=["x"])
    assert status == 400 and json.loads(raw)["error"]["param"] == "stop"
    assert server.pending_replies == 1
    assert json.loads(chat(server)[2])["choices"][0]["message"]["content"] == "kept"


def test_failure_headers_callable_replies_and_recorded_requests(server) -> None:
    server.enqueue(
        ServerFailure(429, "slow down", headers={"Retry-After": "1"}), lambda body: f"saw {body['model']}"
    )
    status, headers, raw = chat(server)
    assert (status, headers["Retry-After"], raw) == (429, "1", b"slow down")
    assert json.loads(chat(server, model="m2")[2])["choices"][0]["message"]["content"] == "saw m2"
    assert [r.json["model"] for r in server.requests] == ["test-model", "m2"]
    assert server.requests[0].path == "/v1/chat/completions"


def test_models_listing_and_unknown_paths(server) -> None:
    with urllib.request.urlopen(f"{server.base_url}/models", timeout=10) as response:
        assert json.loads(response.read())["data"][0]["id"] == "test-model"
    assert post(f"{server.base_url}/completions", {})[0] == 404


def test_port_requires_a_running_server() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = OpenAICompatibleServer().base_url
