"""A model that answers from a script, for driving agents in tests (sync, stream, async).

A script that is not used up means the agent stopped earlier than the test expected (an
error swallowed into a step, a final answer given too soon): such a test passes for the
wrong reason. So every ``ScriptedModel`` created inside :meth:`ScriptedModel.tracking` (our
test suite wraps every test in it) must have used all its replies when the block ends,
unless it was built with ``allow_unused_replies=True``. Agents call no model hook when a
run ends, so "the end of the run" is the end of the tracked block; a single model is checked
directly with :meth:`ScriptedModel.assert_all_used`.
"""

from __future__ import annotations

import functools
import itertools
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .._monitoring_types import TokenUsage
from ..messages import (
    ChatMessage,
    ChatMessageStreamDelta,
    ChatMessageToolCall,
    ChatMessageToolCallFunction,
    ChatMessageToolCallStreamDelta,
    MessageRole,
    content_to_text,
)
from ..models.base import Model, ModelRequest

__all__ = ["Reply", "ScriptedCall", "ScriptedModel", "UnexpectedModelCall", "UnusedRepliesError"]

Reply = str | ChatMessage | dict[str, Any] | Exception | Callable[..., Any]


class UnexpectedModelCall(AssertionError):
    """The agent called the model more times than the script has replies."""


class UnusedRepliesError(AssertionError):
    """A script was not used up: the run ended earlier than the test expected."""


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

# Open ``ScriptedModel.tracking()`` blocks, innermost last. Process-wide rather than per
# context, because agents in batch runs and tests build their models in worker threads.
_trackers: list[list[ScriptedModel]] = []
_trackers_lock = threading.Lock()


@functools.lru_cache(maxsize=1024)
def _word_count(text: str) -> int:
    """Words of a message: the stand-in token count (the system prompt repeats every call)."""
    return len(text.split())


class ScriptedModel(Model):
    """Answers each call with the next reply of its script.

    A reply is a string (assistant text), a :class:`ChatMessage`, a dict, an exception (raised
    when reached), or a callable ``(messages, **kwargs) -> reply`` for replies that depend on
    the input. Token usage is counted deterministically (words in, words out) unless the
    reply carries its own. ``stop_sequences`` are honoured like a real model would.

    Replies left unused when the run ends are an error (see :meth:`tracking` and
    :meth:`assert_all_used`); pass ``allow_unused_replies=True`` for a script that is
    deliberately longer than the run (a run that is interrupted, times out or is cancelled).

    Example::

        model = ScriptedModel([
            ScriptedModel.tool_call("get_weather", {"city": "Paris"}),
            ScriptedModel.tool_call("final_answer", {"answer": "Sunny"}),
        ])
    """

    def __init__(
        self,
        replies: Iterable[Reply],
        model_id: str = "scripted-model",
        chunk_size: int = 6,
        allow_unused_replies: bool = False,
        **kwargs: Any,
    ):
        super().__init__(model_id=model_id, **kwargs)
        self._replies = list(replies)
        self.chunk_size = chunk_size
        self.allow_unused_replies = allow_unused_replies
        self._reported = False
        self.calls: list[ScriptedCall] = []
        self._lock = threading.Lock()
        with _trackers_lock:
            for tracker in _trackers:
                tracker.append(self)

    @staticmethod
    @contextmanager
    def tracking() -> Iterator[list[ScriptedModel]]:
        """Check every ``ScriptedModel`` created inside the block when it ends.

        Yields the list of models created so far. When the block ends without an exception,
        raises :class:`UnusedRepliesError` naming each model (without
        ``allow_unused_replies=True``) that still holds replies; when the block raises, that
        error is left alone. Each model is reported once, by the innermost block that sees it. In pytest, wrap each test in it from an autouse fixture::

            @pytest.fixture(autouse=True)
            def scripted_models_used_up():
                with ScriptedModel.tracking():
                    yield
        """
        created: list[ScriptedModel] = []
        with _trackers_lock:
            _trackers.append(created)
        try:
            yield created
        finally:
            with _trackers_lock:
                _trackers.remove(created)
        unused = [
            model
            for model in created
            if model.remaining and not model.allow_unused_replies and not model._reported
        ]
        for model in unused:
            model._reported = True  # reported once: an enclosing block does not repeat it
        if unused:
            details = "\n".join(f"- {model._unused_description()}" for model in unused)
            raise UnusedRepliesError(
                f"{len(unused)} ScriptedModel(s) ended with scripted replies never used: the run stopped "
                "earlier than the script expected. Fix the script (or the code under test), or pass "
                f"ScriptedModel(..., allow_unused_replies=True) if the run is meant to stop early.\n{details}"
            )

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
        """How many replies the script still holds."""
        return len(self._replies)

    def _unused_description(self) -> str:
        return (
            f"{self.model_id!r}: {len(self._replies)} of {len(self._replies) + len(self.calls)} "
            f"replies unused, next {self._replies[0]!r:.200}"
        )

    def assert_all_used(self) -> None:
        """Raise :class:`UnusedRepliesError` when replies are left (whatever ``allow_unused_replies``
        says): the run stopped earlier than the script expected."""
        if self._replies:
            raise UnusedRepliesError(f"Scripted replies were never used: {self._unused_description()}")

    assert_consumed = assert_all_used
    """Former name of :meth:`assert_all_used`."""

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
            words_in = sum(_word_count(content_to_text(_content(m))) for m in messages)
            words_out = len(message.text.split()) + sum(
                len(json.dumps(tc.function.arguments, default=str).split()) + 1
                for tc in message.tool_calls or []
            )
            message.token_usage = TokenUsage(words_in, words_out)
        return message

    def _generate(self, request: ModelRequest) -> ChatMessage:
        call_kwargs = {
            "stop_sequences": request.stop_sequences,
            "response_format": request.response_format,
            "tools_to_call_from": request.tools_to_call_from,
            **self._merge_kwargs(request.kwargs),  # same precedence as real adapters (kwargs_priority)
        }
        return self._next(request.messages, call_kwargs)

    def _generate_stream(self, request: ModelRequest) -> Iterator[ChatMessageStreamDelta]:
        return iter(self._to_deltas(self._generate(request)))

    async def _agenerate(self, request: ModelRequest) -> ChatMessage:
        import asyncio

        await asyncio.sleep(0)  # a real client yields to the loop while waiting for the server
        return self._generate(request)

    async def _agenerate_stream(self, request: ModelRequest) -> AsyncIterator[ChatMessageStreamDelta]:
        import asyncio

        for delta in self._to_deltas(self._generate(request)):
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
