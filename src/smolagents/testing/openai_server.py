"""A scripted OpenAI-compatible HTTP server on 127.0.0.1, for tests that use real SDKs.

Tests drive real clients (``openai``, ``huggingface_hub``, ``litellm``...) against it, so the
whole path (request building, HTTP, streaming, retries) runs without a network. Replies are
scripted in order; every request is recorded for assertions. Standard library only.

    with OpenAICompatibleServer(replies=["Hello!"]) as server:
        model = OpenAIModel("test-model", api_base=server.base_url, api_key="test")
        assert model.generate([...]).content == "Hello!"
        assert server.requests[0].json["model"] == "test-model"
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Union
from urllib.parse import parse_qsl, urlsplit

from ._loopback import ScriptedHTTPServer

__all__ = ["OpenAICompatibleServer", "RecordedRequest", "Reply", "ServerFailure", "ServerReply"]


@dataclass
class ServerReply:
    """An assistant answer: text, tool calls, reasoning and optional ``(prompt, completion)`` usage.

    Each tool call is ``{"name": ..., "arguments": dict or raw str}`` (a raw string is sent as
    is, so a test can send malformed JSON); an ``"id"`` may be given.
    """

    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    reasoning_content: str | None = None
    usage: tuple[int, int] | None = None
    finish_reason: str | None = None


@dataclass
class ServerFailure:
    """An HTTP error answer; ``body`` may be a dict (sent as JSON) or text."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] | None = None


Reply = Union[str, ServerReply, ServerFailure, dict[str, Any], Callable[[dict[str, Any]], Any]]  # noqa: UP007 (runtime alias on 3.10)
"""A scripted reply: text, a ``ServerReply``, a ``ServerFailure``, a dict of ``ServerReply``
fields, or a callable taking the request JSON and returning one of those."""


@dataclass
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return (self.json or {}).get("messages", []) if isinstance(self.json, dict) else []


REJECT_STOP_BODY = {
    "error": {
        "message": "Unsupported parameter: 'stop' is not supported with this model.",
        "type": "invalid_request_error",
        "param": "stop",
        "code": "unsupported_parameter",
    }
}


def _error_body(message: str, status: int) -> dict[str, Any]:
    kind = (
        "rate_limit_error"
        if status == 429
        else ("server_error" if status >= 500 else "invalid_request_error")
    )
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _words(text: Any) -> int:
    return len(str(text).split()) if text else 0


def _message_words(message: Any) -> int:
    if not isinstance(message, dict):
        return 0
    content = message.get("content")
    if isinstance(content, list):
        return sum(_words(part.get("text")) for part in content if isinstance(part, dict))
    return _words(content)


def _cut_at_stop(text: str | None, stop: Any) -> str | None:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if text is None:
        return None
    positions = [text.find(s) for s in stops if s and s in text]
    return text[: min(positions)] if positions else text


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _thirds(text: str) -> list[str]:
    """Tool-call arguments in three fragments, as real servers send them piecewise."""
    step = max(1, -(-len(text) // 3))
    return [text[i : i + step] for i in range(0, len(text), step)] or [""]


class OpenAICompatibleServer(ScriptedHTTPServer["RecordedRequest"]):
    """A loopback chat-completions server answering from a queue of scripted replies.

    - POST on any path ending in ``/chat/completions`` (OpenAI ``/v1``, Azure
      ``/openai/deployments/{name}/...?api-version=``, Hugging Face-style base URLs);
      GET ``.../models``.
    - ``reject_stop=True``: a request carrying ``stop`` gets the 400 OpenAI sends for models
      that do not support it (no scripted reply is used). Otherwise ``stop`` is applied.
    - ``"stream": true`` answers with SSE chunks (content in ``chunk_size`` pieces, tool-call
      arguments in fragments, usage in a final chunk when ``stream_options.include_usage``).
    - An empty queue answers 500 "no scripted reply left" (or uses ``default`` if given).
    - Usage defaults to word counts: prompt = words in all messages, completion = words in
      the reply.
    - POST ``.../api/chat`` speaks Ollama's native chat API (what LiteLLM's ``ollama_chat/``
      models call) from the same script: ``options.stop`` is applied, answers stream as NDJSON
      unless ``"stream": false``, usage is ``prompt_eval_count`` / ``eval_count``.
    """

    def __init__(
        self,
        replies: Iterable[Reply] | None = None,
        *,
        reject_stop: bool = False,
        default: Reply | None = None,
        chunk_size: int = 5,
        model_ids: Iterable[str] = ("test-model",),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(replies, default=default, host=host, port=port)
        self.reject_stop = reject_stop
        self.chunk_size = max(1, chunk_size)
        self.model_ids = list(model_ids)

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL ending in ``/v1``."""
        return f"{self.url}/v1"

    # ----------------------------------------------------------------- answering
    def _answer_chat(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        """Status, headers and either a JSON body or an iterator of SSE events."""
        if self.reject_stop and body.get("stop") is not None:
            return 400, {}, REJECT_STOP_BODY
        reply = self._next_reply()
        while callable(reply):
            reply = reply(body)
        if reply is None:
            return 500, {}, _error_body("no scripted reply left: the test server's reply queue is empty", 500)
        if isinstance(reply, ServerFailure):
            payload = (
                reply.body
                if reply.body is not None
                else _error_body(f"scripted failure {reply.status}", reply.status)
            )
            return reply.status, dict(reply.headers or {}), payload
        if isinstance(reply, str):
            reply = ServerReply(content=reply)
        elif isinstance(reply, dict):
            reply = ServerReply(**reply)
        if not isinstance(reply, ServerReply):
            return 500, {}, _error_body(f"unsupported scripted reply of type {type(reply).__name__}", 500)
        return self._completion(body, reply)

    def _completion(self, body: dict[str, Any], reply: ServerReply) -> tuple[int, dict[str, str], Any]:
        number = next(self._counter)
        content = _cut_at_stop(reply.content, body.get("stop"))
        calls: list[dict[str, Any]] = []
        for i, call in enumerate(reply.tool_calls or []):
            arguments = call.get("arguments", {})
            calls.append(
                {
                    "id": call.get("id") or f"call_{number}_{i}",
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                    },
                }
            )
        if reply.usage is not None:
            prompt_tokens, completion_tokens = reply.usage
        else:
            prompt_tokens = sum(_message_words(m) for m in body.get("messages") or [])
            completion_tokens = _words(content) + _words(reply.reasoning_content)
            completion_tokens += sum(
                _words(c["function"]["name"]) + _words(c["function"]["arguments"]) for c in calls
            )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        finish = reply.finish_reason or ("tool_calls" if calls else "stop")
        meta = {"id": f"chatcmpl-{number}", "created": int(time.time()), "model": body.get("model", "")}
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            events = self._chunks(
                meta, content, reply.reasoning_content, calls, finish, usage if include_usage else None
            )
            return 200, {}, events
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            message["tool_calls"] = calls
        if reply.reasoning_content is not None:
            message["reasoning_content"] = reply.reasoning_content
        choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
        return 200, {}, {**meta, "object": "chat.completion", "choices": [choice], "usage": usage}

    def _answer_ollama_chat(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        """Ollama's ``/api/chat``: the scripted reply, answered in Ollama's shapes."""
        options: dict[str, Any] = body["options"] if isinstance(body.get("options"), dict) else {}
        chat: dict[str, Any] = {"model": body.get("model", ""), "messages": body.get("messages") or []}
        if options.get("stop") is not None:
            chat["stop"] = options["stop"]
        status, headers, answer = self._answer_chat(chat)
        if status != 200:
            error = answer.get("error", answer) if isinstance(answer, dict) else answer
            text = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            return status, headers, {"error": text}
        reply = answer["choices"][0]["message"]
        message: dict[str, Any] = {"role": "assistant", "content": reply.get("content") or ""}
        if reply.get("reasoning_content"):
            message["thinking"] = reply["reasoning_content"]
        calls = []
        for call in reply.get("tool_calls") or []:
            arguments = call["function"]["arguments"]
            try:
                arguments = json.loads(arguments)
            except ValueError:
                pass  # malformed on purpose: sent as scripted
            calls.append({"function": {"name": call["function"]["name"], "arguments": arguments}})
        if calls:
            message["tool_calls"] = calls
        final = {
            "model": answer["model"],
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "message": message,
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": answer["usage"]["prompt_tokens"],
            "eval_count": answer["usage"]["completion_tokens"],
        }
        if body.get("stream") is False:
            return 200, {}, final
        return 200, {}, self._ollama_chunks(final)

    def _ollama_chunks(self, final: dict[str, Any]) -> Iterator[dict[str, Any]]:
        meta = {"model": final["model"], "created_at": final["created_at"], "done": False}
        message = final["message"]
        for piece in _split(message["thinking"], self.chunk_size) if message.get("thinking") else []:
            yield {**meta, "message": {"role": "assistant", "content": "", "thinking": piece}}
        for piece in _split(message["content"], self.chunk_size) if message["content"] else []:
            yield {**meta, "message": {"role": "assistant", "content": piece}}
        if message.get("tool_calls"):  # Ollama sends each call whole
            yield {
                **meta,
                "message": {"role": "assistant", "content": "", "tool_calls": message["tool_calls"]},
            }
        yield {**final, "message": {"role": "assistant", "content": ""}}

    def _chunks(
        self,
        meta: dict[str, Any],
        content: str | None,
        reasoning: str | None,
        calls: list[dict[str, Any]],
        finish: str,
        usage: dict[str, int] | None,
    ) -> Iterator[dict[str, Any]]:
        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            extra = {"usage": None} if usage is not None else {}
            return {**meta, "object": "chat.completion.chunk", "choices": [choice], **extra}

        yield chunk({"role": "assistant", "content": ""})
        for piece in _split(reasoning, self.chunk_size) if reasoning else []:
            yield chunk({"reasoning_content": piece})
        for piece in _split(content, self.chunk_size) if content else []:
            yield chunk({"content": piece})
        for i, call in enumerate(calls):
            function = call["function"]
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": function["name"], "arguments": ""},
                        }
                    ]
                }
            )
            for fragment in _thirds(function["arguments"]):
                yield chunk({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]})
        yield chunk({}, finish)
        if usage is not None:
            yield {**meta, "object": "chat.completion.chunk", "choices": [], "usage": usage}


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, as the SDKs expect; silent unless a test inspects requests."""

    app: OpenAICompatibleServer
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _request(self, payload: Any) -> RecordedRequest:
        parts = urlsplit(self.path)
        return RecordedRequest(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            headers={key.lower(): value for key, value in self.headers.items()},
            json=payload,
        )

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(payload, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_events(self, events: Iterator[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in itertools.chain((f"data: {json.dumps(e)}\n\n" for e in events), ["data: [DONE]\n\n"]):
            data = event.encode()
            self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _send_ndjson(self, lines: Iterator[dict[str, Any]]) -> None:
        """Newline-delimited JSON, as Ollama streams."""
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in lines:
            data = (json.dumps(line) + "\n").encode()
            self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self) -> None:
        request = self._request(None)
        self.app._record(request)
        if request.path.rstrip("/").endswith("/models"):
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in self.app.model_ids
            ]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(404, _error_body(f"unknown path {request.path}", 404))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            self.app._record(self._request(raw.decode(errors="replace")))
            self._send_json(400, _error_body("the request body is not valid JSON", 400))
            return
        request = self._request(payload)
        self.app._record(request)
        if re.search(r"/api/chat/?$", request.path) and isinstance(payload, dict):
            status, headers, answer = self.app._answer_ollama_chat(payload)
            if isinstance(answer, Iterator):
                self._send_ndjson(answer)
            else:
                self._send_json(status, answer, headers)
            return
        if not re.search(r"/chat/completions/?$", request.path):
            self._send_json(404, _error_body(f"unknown path {request.path}", 404))
            return
        if not isinstance(payload, dict):
            self._send_json(400, _error_body("the request body must be a JSON object", 400))
            return
        status, headers, answer = self.app._answer_chat(payload)
        if isinstance(answer, Iterator):
            self._send_events(answer)
        else:
            self._send_json(status, answer, headers)


OpenAICompatibleServer.handler_class = _Handler
OpenAICompatibleServer.thread_name = "openai-test-server"
