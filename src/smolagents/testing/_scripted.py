"""A model that answers from a script, for driving agents in tests (sync, stream, async)."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .._monitoring_types import TokenUsage
from ..models._messages import (
    ChatMessage,
    ChatMessageStreamDelta,
    ChatMessageToolCall,
    ChatMessageToolCallFunction,
    ChatMessageToolCallStreamDelta,
    MessageRole,
    content_to_text,
)
from ..models.base import Model

__all__ = ["Reply", "ScriptedCall", "ScriptedModel", "UnexpectedModelCall"]

Reply = str | ChatMessage | dict | Exception | Callable[..., Any]


class UnexpectedModelCall(AssertionError):
    """The agent called the model more times than the script has replies."""


@dataclass
class ScriptedCall:
    """One call the model received: the messages and the keyword arguments."""

    messages: list[Any]
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def last_text(self) -> str:
        if not self.messages:
            return ""
        last = self.messages[-1]
        content = last.content if isinstance(last, ChatMessage) else last.get("content")
        return content_to_text(content)


_ids = itertools.count(1)


class ScriptedModel(Model):
    """Answers each call with the next reply of its script.

    A reply is a string (assistant text), a :class:`ChatMessage`, a dict, an exception (raised
    when reached), or a callable ``(messages, **kwargs) -> reply`` for replies that depend on
    the input. Token usage is counted deterministically (words in, words out) unless the
    reply carries its own. ``stop_sequences`` are honoured like a real model would.

    Example::

        model = ScriptedModel([
            ScriptedModel.tool_call("get_weather", {"city": "Paris"}),
            ScriptedModel.tool_call("final_answer", {"answer": "Sunny"}),
        ])
    """

    def __init__(
        self, replies: Iterable[Reply], model_id: str = "scripted-model", chunk_size: int = 6, **kwargs: Any
    ):
        super().__init__(model_id=model_id, **kwargs)
        self._replies = list(replies)
        self.chunk_size = chunk_size
        self.calls: list[ScriptedCall] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ script helpers
    @staticmethod
    def tool_call(name: str, arguments: Any = None, id: str | None = None, content: str = "") -> ChatMessage:
        """A reply calling one tool."""
        return ScriptedModel.tool_calls([(name, arguments or {})], content=content, ids=[id] if id else None)

    @staticmethod
    def tool_calls(
        calls: list[tuple[str, Any]], content: str = "", ids: list[str] | None = None
    ) -> ChatMessage:
        """A reply calling several tools in one step."""
        tool_calls = [
            ChatMessageToolCall(
                function=ChatMessageToolCallFunction(name=name, arguments=args),
                id=(ids[i] if ids else f"call_{next(_ids)}"),
            )
            for i, (name, args) in enumerate(calls)
        ]
        return ChatMessage(role=MessageRole.ASSISTANT, content=content, tool_calls=tool_calls)

    @property
    def remaining(self) -> int:
        return len(self._replies)

    def assert_consumed(self) -> None:
        """Fail when replies are left: the run stopped earlier than the script expected."""
        if self._replies:
            raise AssertionError(f"{len(self._replies)} scripted replies were never used: {self._replies!r}")

    # ------------------------------------------------------------------ answering
    def _next(self, messages: list[Any], kwargs: dict[str, Any]) -> ChatMessage:
        with self._lock:
            self.calls.append(ScriptedCall(list(messages), dict(kwargs)))
            if not self._replies:
                raise UnexpectedModelCall(
                    f"ScriptedModel was called {len(self.calls)} times but the script has only "
                    f"{len(self.calls) - 1} replies. Last message: {self.calls[-1].last_text[:300]!r}"
                )
            reply = self._replies.pop(0)
        if callable(reply) and not isinstance(reply, (ChatMessage, dict, str)):
            reply = reply(messages, **kwargs)
        if isinstance(reply, Exception):
            raise reply
        message = ChatMessage.coerce(reply)
        message = ChatMessage(
            role=MessageRole.ASSISTANT,
            content=message.content,
            tool_calls=message.tool_calls,
            token_usage=message.token_usage,
            reasoning_content=message.reasoning_content,
        )
        stops = kwargs.get("stop_sequences") or []
        if isinstance(message.content, str) and stops:
            cut = min((message.content.find(s) for s in stops if s in message.content), default=-1)
            if cut >= 0:
                message.content = message.content[:cut]
        if message.token_usage is None:
            words_in = sum(len(content_to_text(_content(m)).split()) for m in messages)
            words_out = len(message.text.split()) + sum(
                len(json.dumps(tc.function.arguments, default=str).split()) + 1
                for tc in message.tool_calls or []
            )
            message.token_usage = TokenUsage(words_in, words_out)
        return message

    def generate(
        self,
        messages: list[Any],
        stop_sequences: list[str] | None = None,
        response_format: dict[str, Any] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> ChatMessage:
        call_kwargs = {
            "stop_sequences": stop_sequences,
            "response_format": response_format,
            "tools_to_call_from": tools_to_call_from,
            **self._merge_kwargs(kwargs),  # same precedence as real adapters (kwargs_priority)
        }
        return self._next(messages, call_kwargs)

    def generate_stream(
        self,
        messages: list[Any],
        stop_sequences: list[str] | None = None,
        response_format: dict[str, Any] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatMessageStreamDelta]:
        message = self.generate(messages, stop_sequences, response_format, tools_to_call_from, **kwargs)
        return iter(self._to_deltas(message))

    async def agenerate(
        self,
        messages: list[Any],
        stop_sequences: list[str] | None = None,
        response_format: dict[str, Any] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> ChatMessage:
        import asyncio

        await asyncio.sleep(0)  # a real client yields to the loop while waiting for the server
        return self.generate(messages, stop_sequences, response_format, tools_to_call_from, **kwargs)

    async def agenerate_stream(
        self,
        messages: list[Any],
        stop_sequences: list[str] | None = None,
        response_format: dict[str, Any] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatMessageStreamDelta]:
        import asyncio

        message = self.generate(messages, stop_sequences, response_format, tools_to_call_from, **kwargs)
        for delta in self._to_deltas(message):
            await asyncio.sleep(0)
            yield delta

    def _to_deltas(self, message: ChatMessage) -> list[ChatMessageStreamDelta]:
        deltas: list[ChatMessageStreamDelta] = []
        text = message.text
        for start in range(0, len(text), self.chunk_size):
            deltas.append(ChatMessageStreamDelta(content=text[start : start + self.chunk_size]))
        for index, tc in enumerate(message.tool_calls or []):
            args = tc.function.arguments
            raw = args if isinstance(args, str) else json.dumps(args)
            half = len(raw) // 2
            deltas.append(
                ChatMessageStreamDelta(
                    tool_calls=[
                        ChatMessageToolCallStreamDelta(
                            index=index,
                            id=tc.id,
                            type="function",
                            function=ChatMessageToolCallFunction(name=tc.function.name, arguments=raw[:half]),
                        )
                    ]
                )
            )
            deltas.append(
                ChatMessageStreamDelta(
                    tool_calls=[
                        ChatMessageToolCallStreamDelta(
                            index=index, function=ChatMessageToolCallFunction(name="", arguments=raw[half:])
                        )
                    ]
                )
            )
        deltas.append(ChatMessageStreamDelta(token_usage=message.token_usage))
        return deltas


def _content(message: Any) -> Any:
    return message.content if isinstance(message, ChatMessage) else message.get("content")
