"""Chat messages, tool calls and stream deltas: the data models, memory and agents exchange.

A foundation type, not a model detail: memory steps store these messages, agents build and
parse them, test doubles script them, and every model adapter speaks them. They live here,
below ``smolagents.models``, so those layers depend on the data and not on the adapters
(``smolagents.models`` re-exports every name, so ``from smolagents.models import
ChatMessage`` keeps working).

These are plain dataclasses with ``dict()`` / ``from_dict()`` so that memory steps, the UI
and remote executors can store and rebuild them without knowing any provider's SDK.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping  # Mapping: `dict` is a method name in the classes
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ._monitoring_types import TokenUsage

__all__ = [
    "ChatMessage",
    "ChatMessageStreamDelta",
    "ChatMessageToolCall",
    "ChatMessageToolCallFunction",
    "ChatMessageToolCallStreamDelta",
    "MessageRole",
    "agglomerate_stream_deltas",
    "content_to_text",
]


class MessageRole(str, Enum):
    """Roles in the conversation memory.

    ``tool-call`` and ``tool-response`` are the agent's own records of actions; adapters
    convert them to roles their API accepts (usually ``assistant`` and ``user``).
    """

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL_CALL = "tool-call"
    TOOL_RESPONSE = "tool-response"

    @classmethod
    def roles(cls) -> list[str]:
        return [r.value for r in cls]

    def __str__(self) -> str:
        return self.value


@dataclass
class ChatMessageToolCallFunction:
    """The function part of a tool call; ``arguments`` is a dict, or raw text before parsing."""

    name: str
    arguments: Any = None
    description: str | None = None

    def dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "arguments": self.arguments}
        if self.description is not None:
            out["description"] = self.description
        return out


@dataclass
class ChatMessageToolCall:
    """One tool call requested by the model."""

    function: ChatMessageToolCallFunction
    id: str
    type: str = "function"

    def dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "function": self.function.dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChatMessageToolCall:
        fn = data.get("function") or {}
        return cls(
            function=ChatMessageToolCallFunction(
                name=fn.get("name", ""), arguments=fn.get("arguments"), description=fn.get("description")
            ),
            id=str(data.get("id", "")),
            type=data.get("type", "function"),
        )


def content_to_text(content: str | list[dict[str, Any]] | None) -> str:
    """The text of a message content, whether a plain string or a list of typed parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
    return "\n".join(parts)


@dataclass
class ChatMessage:
    """A message in the conversation, as sent to or returned by a model.

    ``raw`` keeps the provider's original response for debugging; ``dict()`` leaves it out
    (memory steps store it, as text when JSON cannot hold it).
    ``reasoning_content`` holds a reasoning model's thinking, kept out of action parsing.
    """

    role: MessageRole | str
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[ChatMessageToolCall] | None = None
    raw: Any = field(default=None, repr=False, compare=False)
    token_usage: TokenUsage | None = None
    reasoning_content: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.role, str) and not isinstance(self.role, MessageRole):
            try:
                self.role = MessageRole(self.role)
            except ValueError:
                pass  # unknown roles are kept as given; adapters decide what to do with them

    @property
    def text(self) -> str:
        return content_to_text(self.content)

    def dict(self) -> dict[str, Any]:
        """JSON-safe form (images in content are kept as given: callers encode them)."""
        out: dict[str, Any] = {"role": str(self.role), "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [tc.dict() for tc in self.tool_calls]
        if self.token_usage is not None:
            out["token_usage"] = self.token_usage.dict()
        if self.reasoning_content:
            out["reasoning_content"] = self.reasoning_content
        return out

    def model_dump_json(self) -> str:
        return json.dumps(self.dict(), default=str)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], raw: Any = None, token_usage: TokenUsage | None = None
    ) -> ChatMessage:
        tool_calls = data.get("tool_calls")
        usage = token_usage
        if usage is None and isinstance(data.get("token_usage"), dict):
            tu = data["token_usage"]
            usage = TokenUsage(tu.get("input_tokens", 0), tu.get("output_tokens", 0))
        return cls(
            role=data.get("role", MessageRole.ASSISTANT),
            content=data.get("content"),
            tool_calls=[ChatMessageToolCall.from_dict(tc) for tc in tool_calls] if tool_calls else None,
            raw=raw,
            token_usage=usage,
            reasoning_content=data.get("reasoning_content"),
        )

    @classmethod
    def coerce(cls, value: Any) -> ChatMessage:
        """Accept what a user-written ``Model.generate`` may return: a ChatMessage, a dict,
        a string, or any object with ``.content`` (and maybe ``.tool_calls``)."""
        if isinstance(value, ChatMessage):
            return value
        if isinstance(value, str):
            return cls(role=MessageRole.ASSISTANT, content=value)
        if isinstance(value, dict):
            return cls.from_dict({"role": "assistant", **value})
        if hasattr(value, "content"):
            tool_calls = None
            raw_calls = getattr(value, "tool_calls", None)
            if raw_calls:
                tool_calls = []
                for i, tc in enumerate(raw_calls):
                    fn = getattr(tc, "function", None)
                    tool_calls.append(
                        ChatMessageToolCall(
                            function=ChatMessageToolCallFunction(
                                name=getattr(fn, "name", ""), arguments=getattr(fn, "arguments", None)
                            ),
                            id=str(getattr(tc, "id", None) or f"call_{i}"),
                        )
                    )
            return cls(role=MessageRole.ASSISTANT, content=value.content, tool_calls=tool_calls, raw=value)
        raise TypeError(
            f"A model returned {type(value).__name__!r}, which is not a message. Model.generate must "
            "return a ChatMessage (or an object with a `.content` attribute)."
        )

    def render_as_markdown(self) -> str:
        text = self.text
        if self.tool_calls:
            text += "\n" + "\n".join(
                json.dumps({"tool": tc.function.name, "arguments": tc.function.arguments}, default=str)
                for tc in self.tool_calls
            )
        return text


@dataclass
class ChatMessageToolCallStreamDelta:
    """A fragment of a tool call in a stream: fragments with the same ``index`` join up."""

    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: ChatMessageToolCallFunction | None = None


@dataclass
class ChatMessageStreamDelta:
    """One chunk of a streamed model answer.

    An adapter must put a call's token usage on exactly one delta, so that summing the
    deltas counts every token once.
    """

    content: str | None = None
    tool_calls: list[ChatMessageToolCallStreamDelta] | None = None
    token_usage: TokenUsage | None = None
    reasoning_content: str | None = None


def agglomerate_stream_deltas(
    stream_deltas: Iterable[ChatMessageStreamDelta], role: MessageRole = MessageRole.ASSISTANT
) -> ChatMessage:
    """Join stream deltas into the message they add up to.

    Tool-call fragments are grouped by index (or by id when no index is given); argument
    fragments are concatenated as text, and left for the agent to parse.
    """
    text_parts: list[str] = []
    reasoning_parts: list[str] = []
    calls: dict[Any, dict[str, Any]] = {}
    input_tokens = output_tokens = 0
    saw_usage = False
    for delta in stream_deltas:
        if delta.content:
            text_parts.append(delta.content)
        if delta.reasoning_content:
            reasoning_parts.append(delta.reasoning_content)
        if delta.token_usage is not None:
            saw_usage = True
            input_tokens += delta.token_usage.input_tokens
            output_tokens += delta.token_usage.output_tokens
        for frag in delta.tool_calls or []:
            key: Any = frag.index if frag.index is not None else (frag.id or len(calls))
            acc = calls.setdefault(key, {"id": None, "type": "function", "name": "", "arguments": ""})
            if frag.id:
                acc["id"] = frag.id
            if frag.type:
                acc["type"] = frag.type
            if frag.function is not None:
                if frag.function.name:
                    acc["name"] += frag.function.name
                args = frag.function.arguments
                if isinstance(args, str):
                    acc["arguments"] += args
                elif args is not None:
                    acc["arguments"] = args
    tool_calls = [
        ChatMessageToolCall(
            function=ChatMessageToolCallFunction(name=acc["name"], arguments=acc["arguments"]),
            id=acc["id"] or f"call_{i}",
            type=acc["type"],
        )
        for i, acc in enumerate(calls.values())
    ]
    return ChatMessage(
        role=role,
        content="".join(text_parts),
        tool_calls=tool_calls or None,
        token_usage=TokenUsage(input_tokens, output_tokens) if saw_usage else None,
        reasoning_content="".join(reasoning_parts) or None,
    )
