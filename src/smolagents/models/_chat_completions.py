"""One driver for adapters whose SDK answers with OpenAI-shaped chat completions.

The ``openai`` SDK, ``huggingface_hub.InferenceClient`` and LiteLLM all return objects with
``choices[0].message`` (or ``.delta``), ``tool_calls`` and ``usage`` shaped like OpenAI's.
The response mapping and the four generation hooks live here once; an adapter only says
how to call its SDK (``_sync_call`` / ``_async_call``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from .._monitoring_types import TokenUsage
from ..errors import AgentGenerationError
from ..messages import (
    ChatMessage,
    ChatMessageStreamDelta,
    ChatMessageToolCall,
    ChatMessageToolCallFunction,
    ChatMessageToolCallStreamDelta,
    MessageRole,
)
from ._text import StopSequenceCutter, ThinkSplitter, remove_content_after_stop_sequences, split_reasoning
from ._tool_parsing import parse_arguments
from .api import ApiModel
from .base import ModelRequest

__all__ = ["ChatCompletionsApiModel", "StreamMapper", "create_call_with_extras", "message_from_completion"]


def _reasoning_field(obj: Any) -> str | None:
    """Reasoning text that servers put beside the content (``reasoning_content`` or ``reasoning``)."""
    for name in ("reasoning_content", "reasoning"):
        value = getattr(obj, name, None)
        if isinstance(value, str) and value:
            return value
    return None


def _usage(usage: Any) -> TokenUsage | None:
    if usage is None:
        return None
    return TokenUsage(
        input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
    )


_SDK_PARAMETERS: dict[Any, frozenset[str] | None] = {}


def create_call_with_extras(create: Any) -> Callable[..., Any]:
    """Wrap an SDK ``create`` so that parameters it does not name travel in ``extra_body``.

    OpenAI-compatible servers accept extras (vLLM's ``top_k``, OpenRouter's ``provider``...)
    that the SDK would refuse as unexpected keyword arguments.
    """
    key = getattr(create, "__func__", create)
    if key not in _SDK_PARAMETERS:
        import inspect

        try:
            parameters = inspect.signature(create).parameters.values()
        except (TypeError, ValueError):
            parameters = None
        names = None
        if parameters is not None and not any(p.kind is p.VAR_KEYWORD for p in parameters):
            names = frozenset(p.name for p in parameters)
        _SDK_PARAMETERS[key] = names
    accepted = _SDK_PARAMETERS[key]

    def call(params: dict[str, Any]) -> Any:
        if accepted is not None:
            extra = {k: v for k, v in params.items() if k not in accepted}
            if extra:
                params = {k: v for k, v in params.items() if k in accepted}
                params["extra_body"] = {**(params.get("extra_body") or {}), **extra}
        return create(**params)

    return call


def message_from_completion(
    response: Any, stop_sequences: list[str] | None, model_id: str | None
) -> ChatMessage:
    """Map a chat completion to a ``ChatMessage`` (shared by ``generate`` and ``agenerate``).

    ``<think>`` blocks and reasoning fields go to ``reasoning_content``; the text is cut at
    the first stop sequence in case the server did not apply ``stop``; tool-call arguments
    that are valid JSON are decoded.
    """
    choices = getattr(response, "choices", None)
    if not choices:
        raise AgentGenerationError(f"Model {model_id!r} returned no choices: {response!r:.300}")
    message = choices[0].message
    content, inline_reasoning = split_reasoning(message.content)
    reasoning = "\n".join(part for part in (_reasoning_field(message), inline_reasoning) if part) or None
    tool_calls = []
    for i, call in enumerate(message.tool_calls or []):
        function = getattr(call, "function", None)
        if function is None:  # not a function call (e.g. a custom tool): nothing an agent can run
            continue
        tool_calls.append(
            ChatMessageToolCall(
                function=ChatMessageToolCallFunction(
                    name=function.name, arguments=parse_arguments(function.arguments)
                ),
                id=call.id or f"call_{i}",
                type=call.type or "function",
            )
        )
    return ChatMessage(
        role=MessageRole.ASSISTANT,
        content=remove_content_after_stop_sequences(content, stop_sequences),
        tool_calls=tool_calls or None,
        raw=response,
        token_usage=_usage(getattr(response, "usage", None)),
        reasoning_content=reasoning,
    )


class StreamMapper:
    """Map stream chunks to ``ChatMessageStreamDelta``s (shared by both streaming methods).

    Token usage is held until the end and put on exactly one final delta, so servers that
    repeat cumulative usage on every chunk are not counted twice. Text after a stop sequence
    in ``cut_at`` is dropped, in case the server did not apply (or was not sent) ``stop``.
    """

    def __init__(self, cut_at: list[str] | None = None) -> None:
        self._think = ThinkSplitter()
        self._cutter = StopSequenceCutter(cut_at)
        self._usage: TokenUsage | None = None

    def _text_delta(self, content: str, reasoning: str) -> ChatMessageStreamDelta | None:
        content = self._cutter.feed(content) if content else ""
        if content or reasoning:
            return ChatMessageStreamDelta(content=content or None, reasoning_content=reasoning or None)
        return None

    def feed(self, chunk: Any) -> list[ChatMessageStreamDelta]:
        if getattr(chunk, "usage", None) is not None:
            self._usage = _usage(chunk.usage)
        deltas: list[ChatMessageStreamDelta] = []
        for choice in getattr(chunk, "choices", None) or []:
            if getattr(choice, "index", 0) not in (0, None):
                continue
            delta = choice.delta
            if delta is None:
                continue
            content, reasoning = self._think.feed(delta.content or "")
            reasoning = (_reasoning_field(delta) or "") + reasoning
            text = self._text_delta(content, reasoning)
            if text is not None:
                deltas.append(text)
            fragments = [
                ChatMessageToolCallStreamDelta(
                    index=call.index,
                    id=call.id,
                    type=call.type,
                    function=ChatMessageToolCallFunction(
                        name=(call.function.name or "") if call.function else "",
                        arguments=(call.function.arguments or "") if call.function else "",
                    ),
                )
                for call in (delta.tool_calls or [])
            ]
            if fragments:
                deltas.append(ChatMessageStreamDelta(tool_calls=fragments))
        return deltas

    def finish(self) -> list[ChatMessageStreamDelta]:
        deltas = []
        content, reasoning = self._think.flush()
        text = self._text_delta(content, reasoning)
        rest = self._cutter.flush()
        if text is not None:
            deltas.append(text)
        if rest:
            deltas.append(ChatMessageStreamDelta(content=rest))
        if self._usage is not None:
            deltas.append(ChatMessageStreamDelta(token_usage=self._usage))
        return deltas


Call = Callable[[dict[str, Any]], Any]


class ChatCompletionsApiModel(ApiModel):
    """An ``ApiModel`` on an SDK with a chat-completions call (sync, async and streaming).

    Subclasses implement ``_sync_call`` and ``_async_call``, each returning a function that
    takes the request parameters and returns a completion (or a stream when
    ``params["stream"]`` is true). Retries, rate limiting, the ``stop`` fallback, reasoning
    extraction and single-counted stream usage all come from the shared helpers.
    """

    def _sync_call(self) -> Call:
        raise NotImplementedError(f"{type(self).__name__} must implement _sync_call().")

    async def _async_call(self) -> Callable[[dict[str, Any]], Awaitable[Any]]:
        raise NotImplementedError(f"{type(self).__name__} must implement _async_call().")

    def _completion_params(self, request: ModelRequest, stream: bool = False) -> dict[str, Any]:
        """The request: messages, tools, stop, the model's and the call's kwargs, the model id."""
        params = self._completion_kwargs(request, convert_images_to_image_urls=True, model=self.model_id)
        if stream:
            params["stream"] = True
            if "stream_options" not in self.kwargs and "stream_options" not in request.kwargs:
                params["stream_options"] = {"include_usage": True}  # usage arrives in a final chunk
        return params

    # ----------------------------------------------------------------- generation
    def _generate(self, request: ModelRequest) -> ChatMessage:
        params = self._completion_params(request)  # first: a refused request creates no client
        response, _ = self._call_api(self._sync_call(), params)
        return message_from_completion(response, request.stop_sequences, self.model_id)

    async def _agenerate(self, request: ModelRequest) -> ChatMessage:
        params = self._completion_params(request)
        response, _ = await self._acall_api(await self._async_call(), params)
        return message_from_completion(response, request.stop_sequences, self.model_id)

    def _generate_stream(self, request: ModelRequest) -> Iterator[ChatMessageStreamDelta]:
        params = self._completion_params(request, stream=True)
        stream, _ = self._call_api(self._sync_call(), params)
        yield from self._map_stream(stream, StreamMapper(request.stop_sequences))

    async def _agenerate_stream(self, request: ModelRequest) -> AsyncIterator[ChatMessageStreamDelta]:
        params = self._completion_params(request, stream=True)
        stream, _ = await self._acall_api(await self._async_call(), params)
        async for delta in self._amap_stream(stream, StreamMapper(request.stop_sequences)):
            yield delta
