"""A scripted Amazon Bedrock Converse server on 127.0.0.1, for tests that drive real boto3.

boto3 talks to it through ``endpoint_url``: requests are really signed (SigV4, or a bearer
API key over TLS) and can be verified here; ``/model/{modelId}/converse`` answers JSON and
``/model/{modelId}/converse-stream`` answers in AWS event-stream binary framing, which
botocore's own parser decodes. Replies are scripted in order; every request is recorded.
Standard library only.

    with BedrockConverseServer(replies=["Hello!"], credentials={"test": "secret"}) as server:
        client = boto3.client("bedrock-runtime", endpoint_url=server.url, region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="secret")
        ...
        assert server.requests[0].signature_valid
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import ssl
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Union
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ._loopback import ScriptedHTTPServer

__all__ = [
    "BedrockConverseServer",
    "ConverseFailure",
    "ConverseReply",
    "RecordedRequest",
    "encode_event",
    "sigv4_signature_valid",
]


@dataclass
class ConverseReply:
    """An assistant answer: text, tool uses (``{"name", "input", "id"?}``), reasoning, usage.

    ``usage`` is ``(input, output)`` tokens (word counts by default). ``stream_error``, a
    ``(code, message)`` pair such as ``("throttlingException", "slow down")``, makes a
    streamed answer break with that exception event after its text.
    """

    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    reasoning_content: str | None = None
    usage: tuple[int, int] | None = None
    stop_reason: str | None = None
    stream_error: tuple[str, str] | None = None


@dataclass
class ConverseFailure:
    """An HTTP error answer in Bedrock's form: ``x-amzn-ErrorType`` and ``{"message": ...}``."""

    status: int = 500
    code: str = "InternalServerException"
    message: str = "scripted failure"
    headers: dict[str, str] | None = None


Reply = Union[str, ConverseReply, ConverseFailure, dict[str, Any], Callable[[dict[str, Any]], Any]]  # noqa: UP007
"""A scripted reply: text, a ``ConverseReply``, a ``ConverseFailure``, a dict of
``ConverseReply`` fields, or a callable taking the request JSON and returning one of those."""

REJECTION_MESSAGES = {
    "stopSequences": "This model doesn't support the stopSequences field. Remove stopSequences and try again.",
    "system": "This model doesn't support system messages. Remove system and try again.",
    "toolChoice": "This model doesn't support the toolConfig.toolChoice.any field. "
    "Remove toolConfig.toolChoice.any and try again.",
    "tools": "This model doesn't support tool use.",
}
"""Fields a scripted model may refuse (``reject=...``), with the ValidationException it sends."""


@dataclass
class RecordedRequest:
    """One request the server received; ``signature_valid`` is None when it was not checked."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any = None
    model_id: str | None = None
    operation: str | None = None
    signature_valid: bool | None = None

    @property
    def authorization(self) -> str:
        return self.headers.get("authorization", "")


# --------------------------------------------------------------------------- wire formats
def encode_event(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude (total length, headers length, CRC32), string
    headers, payload, and a CRC32 of everything before it."""
    encoded = b""
    for name, value in headers.items():
        key, data = name.encode(), value.encode()
        encoded += struct.pack("!B", len(key)) + key + struct.pack("!BH", 7, len(data)) + data
    prelude = struct.pack("!II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack("!I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack("!I", zlib.crc32(message))


def _event(kind: str, payload: Mapping[str, Any]) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return encode_event(headers, json.dumps(payload).encode())


def _exception_event(code: str, message: str) -> bytes:
    headers = {":exception-type": code, ":content-type": "application/json", ":message-type": "exception"}
    return encode_event(headers, json.dumps({"message": message}).encode())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
    r"/aws4_request, ?SignedHeaders=(?P<signed>[^,]+), ?Signature=(?P<signature>[0-9a-f]{64})$"
)


def sigv4_signature_valid(
    method: str, raw_path: str, headers: Mapping[str, str], body: bytes, secrets: Mapping[str, str]
) -> bool:
    """Check an ``AWS4-HMAC-SHA256`` signature as AWS does (non-S3: the path is encoded twice).

    ``headers`` have lower-case names; ``secrets`` map access key ids to secret keys.
    """
    match = _SIGV4.match(headers.get("authorization", ""))
    if match is None or match["key"] not in secrets or "x-amz-date" not in headers:
        return False
    path, _, query = raw_path.partition("?")
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in parse_qsl(query, True))
    signed = match["signed"].split(";")
    canonical_headers = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed)
    canonical = "\n".join(
        [
            method,
            quote(path or "/", safe="/~"),
            "&".join(f"{k}={v}" for k, v in pairs),
            canonical_headers,
            match["signed"],
            headers.get("x-amz-content-sha256") or _sha256(body),
        ]
    )
    scope = f"{match['date']}/{match['region']}/{match['service']}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", headers["x-amz-date"], scope, _sha256(canonical.encode())])
    key = ("AWS4" + secrets[match["key"]]).encode()
    for part in (match["date"], match["region"], match["service"], "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, match["signature"])


def _words(text: Any) -> int:
    return len(str(text).split()) if text else 0


def _prompt_words(body: Mapping[str, Any]) -> int:
    blocks = list(body.get("system") or [])
    for message in body.get("messages") or []:
        blocks.extend(message.get("content") or [])
    return sum(_words(block.get("text")) for block in blocks if isinstance(block, Mapping))


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _structure_error(body: Mapping[str, Any]) -> str | None:
    """What the real service would reject in a Converse request body, if anything."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "The messages field is required and must not be empty."
    uses_tools = False
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: must be user or assistant, got {role!r}."
        if i == 0 and role != "user":
            return "A conversation must start with a user message. Try again with a conversation that starts with a user message."
        if i and messages[i - 1].get("role") == role:
            return "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."
        content = message.get("content")
        if not content:
            return f"messages.{i}.content: the content field must not be empty."
        for block in content:
            if "text" in block and not str(block["text"]).strip():
                return "The text field in the ContentBlock object is blank. Add text to the text field, and try again."
            uses_tools = uses_tools or "toolUse" in block or "toolResult" in block
    if uses_tools and not body.get("toolConfig"):
        return "The toolConfig field must be defined when using toolUse and toolResult content blocks."
    return None


# --------------------------------------------------------------------------- server
class BedrockConverseServer(ScriptedHTTPServer["RecordedRequest"]):
    """A loopback Bedrock runtime answering Converse calls from a queue of scripted replies.

    - ``credentials``: access key id -> secret key. When given, SigV4 requests must carry a
      valid signature (else 403 ``InvalidSignatureException``); ``api_keys`` likewise lists
      the bearer tokens accepted. Without them, auth is only recorded.
    - ``reject``: fields the "model" refuses with a 400 ``ValidationException`` (see
      ``REJECTION_MESSAGES``); no scripted reply is used for a refused request.
    - ``stopSequences`` is applied to the scripted text; structure errors Bedrock would
      reject (roles not alternating, blank text, tool blocks without ``toolConfig``) get 400.
    - ``ssl_context``: serve HTTPS (bearer tokens are only sent over TLS).
    - An empty queue answers 500 (or uses ``default`` if given).
    """

    def __init__(
        self,
        replies: Iterable[Reply] | None = None,
        *,
        credentials: Mapping[str, str] | None = None,
        api_keys: Iterable[str] | None = None,
        reject: Iterable[str] = (),
        default: Reply | None = None,
        chunk_size: int = 5,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.credentials = dict(credentials) if credentials is not None else None
        self.api_keys = set(api_keys) if api_keys is not None else None
        self.reject = set(reject)
        unknown = self.reject - set(REJECTION_MESSAGES)
        if unknown:
            raise ValueError(f"reject accepts {sorted(REJECTION_MESSAGES)}; got {sorted(unknown)}.")
        super().__init__(replies, default=default, ssl_context=ssl_context, host=host, port=port)
        self.chunk_size = max(1, chunk_size)

    # ----------------------------------------------------------------- answering
    def _authorized(self, request: RecordedRequest, raw_path: str, body: bytes) -> bool:
        auth = request.authorization
        if auth.startswith("Bearer "):
            return self.api_keys is None or auth[len("Bearer ") :] in self.api_keys
        if self.credentials is None:
            return True
        request.signature_valid = sigv4_signature_valid(
            request.method, raw_path, request.headers, body, self.credentials
        )
        return request.signature_valid

    def _answer(self, body: dict[str, Any], stream: bool) -> tuple[int, dict[str, str], Any]:
        """Status, headers and either a JSON body or an iterator of event-stream messages."""
        problem = _structure_error(body)
        if problem:
            return _failure(ConverseFailure(400, "ValidationException", problem))
        inference = body.get("inferenceConfig") or {}
        refused = {
            "stopSequences": bool(inference.get("stopSequences")),
            "system": bool(body.get("system")),
            "toolChoice": bool((body.get("toolConfig") or {}).get("toolChoice")),
            "tools": bool(body.get("toolConfig")),
        }
        for field in REJECTION_MESSAGES:
            if field in self.reject and refused[field]:
                return _failure(ConverseFailure(400, "ValidationException", REJECTION_MESSAGES[field]))
        reply = self._next_reply()
        while callable(reply):
            reply = reply(body)
        if reply is None:
            return _failure(ConverseFailure(500, "InternalServerException", "no scripted reply left"))
        if isinstance(reply, ConverseFailure):
            return _failure(reply)
        if isinstance(reply, str):
            reply = ConverseReply(content=reply)
        elif isinstance(reply, dict):
            reply = ConverseReply(**reply)
        return self._reply(body, reply, stream)

    def _reply(
        self, body: dict[str, Any], reply: ConverseReply, stream: bool
    ) -> tuple[int, dict[str, str], Any]:
        number = next(self._counter)
        text, stop_reason = reply.content, reply.stop_reason
        for stop in (body.get("inferenceConfig") or {}).get("stopSequences") or []:
            if text and stop and stop in text:
                text, stop_reason = text[: text.index(stop)], stop_reason or "stop_sequence"
        uses = [
            {
                "toolUseId": call.get("id") or f"tooluse_{number}_{i}",
                "name": call["name"],
                "input": call.get("input", {}),
            }
            for i, call in enumerate(reply.tool_calls or [])
        ]
        if reply.usage is not None:
            input_tokens, output_tokens = reply.usage
        else:
            input_tokens = _prompt_words(body)
            output_tokens = _words(text) + _words(reply.reasoning_content)
            output_tokens += sum(_words(u["name"]) + _words(json.dumps(u["input"])) for u in uses)
        usage = {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
        }
        stop_reason = stop_reason or ("tool_use" if uses else "end_turn")
        if stream:
            return 200, {}, self._events(text, reply, uses, stop_reason, usage)
        content: list[dict[str, Any]] = []
        if reply.reasoning_content:
            content.append({"reasoningContent": {"reasoningText": {"text": reply.reasoning_content}}})
        if text:
            content.append({"text": text})
        content.extend({"toolUse": use} for use in uses)
        answer = {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop_reason,
            "usage": usage,
            "metrics": {"latencyMs": 1},
        }
        return 200, {}, answer

    def _events(
        self,
        text: str | None,
        reply: ConverseReply,
        uses: list[dict[str, Any]],
        stop_reason: str,
        usage: dict[str, int],
    ) -> Iterator[bytes]:
        yield _event("messageStart", {"role": "assistant"})
        index = 0
        if reply.reasoning_content:
            for piece in _pieces(reply.reasoning_content, self.chunk_size):
                delta = {"reasoningContent": {"text": piece}}
                yield _event("contentBlockDelta", {"contentBlockIndex": index, "delta": delta})
            yield _event("contentBlockStop", {"contentBlockIndex": index})
            index += 1
        if text:
            for piece in _pieces(text, self.chunk_size):
                yield _event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}})
            yield _event("contentBlockStop", {"contentBlockIndex": index})
            index += 1
        if reply.stream_error is not None:
            yield _exception_event(*reply.stream_error)
            return
        for use in uses:
            start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
            yield _event("contentBlockStart", {"contentBlockIndex": index, "start": start})
            arguments = json.dumps(use["input"])
            step = max(1, -(-len(arguments) // 3))  # in three fragments, as the service sends them
            for at in range(0, len(arguments), step):
                delta = {"toolUse": {"input": arguments[at : at + step]}}
                yield _event("contentBlockDelta", {"contentBlockIndex": index, "delta": delta})
            yield _event("contentBlockStop", {"contentBlockIndex": index})
            index += 1
        yield _event("messageStop", {"stopReason": stop_reason})
        yield _event("metadata", {"usage": usage, "metrics": {"latencyMs": 1}})


def _failure(failure: ConverseFailure) -> tuple[int, dict[str, str], Any]:
    headers = {"x-amzn-ErrorType": f"{failure.code}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    headers.update(failure.headers or {})
    return failure.status, headers, {"message": failure.message}


_PATH = re.compile(r"^/model/(?P<model>[^/]+)/(?P<operation>converse|converse-stream)$")


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, as botocore expects; silent unless a test inspects requests."""

    app: BedrockConverseServer
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", f"req-{id(payload):x}")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_events(self, events: Iterator[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for data in events:
            self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        match = _PATH.match(path)
        request = RecordedRequest(
            method=self.command,
            path=unquote(path),
            headers={key.lower(): value for key, value in self.headers.items()},
            model_id=unquote(match["model"]) if match else None,
            operation=match["operation"] if match else None,
        )
        try:
            request.json = json.loads(raw) if raw else {}
        except ValueError:
            request.json = raw.decode(errors="replace")
        self.app._record(request)
        if not self.app._authorized(request, self.path, raw):
            code = (
                "UnrecognizedClientException"
                if request.authorization.startswith("Bearer ")
                else "InvalidSignatureException"
            )
            self._fail(ConverseFailure(403, code, "The request signature or API key is not valid."))
        elif match is None:
            self._fail(ConverseFailure(404, "UnknownOperationException", f"unknown path {path}"))
        elif not isinstance(request.json, dict):
            self._fail(ConverseFailure(400, "SerializationException", "the body is not a JSON object"))
        else:
            self._converse(request.json, stream=match["operation"] == "converse-stream")

    def _fail(self, failure: ConverseFailure) -> None:
        status, headers, payload = _failure(failure)
        self._send_json(status, payload, headers)

    def _converse(self, body: dict[str, Any], stream: bool) -> None:
        status, headers, answer = self.app._answer(body, stream)
        if isinstance(answer, Iterator):
            self._send_events(answer)
        else:
            self._send_json(status, answer, headers)


BedrockConverseServer.handler_class = _Handler
BedrockConverseServer.thread_name = "bedrock-test-server"
