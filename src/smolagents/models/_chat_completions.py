"""One driver for adapters whose SDK answers with OpenAI-shaped chat completions.

``huggingface_hub.InferenceClient`` and LiteLLM both return objects with ``choices[0].message``
(or ``.delta``), ``tool_calls`` and ``usage`` shaped like OpenAI's, so the response mapping in
``openai.py`` applies to them unchanged. This base class holds the four generation methods
once; an adapter only says how to call its SDK (``_sync_call`` / ``_async_call``).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from ._messages import ChatMessage, ChatMessageStreamDelta
from .api import ApiModel
from .openai import StreamMapper, message_from_completion

__all__ = ["ChatCompletionsApiModel"]

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

    def _completion_params(
        self,
        messages: list[ChatMessage | dict[str, Any]],
        stop_sequences: list[str] | None,
        response_format: dict[str, Any] | None,
        tools_to_call_from: list[Any] | None,
        kwargs: dict[str, Any],
        stream: bool = False,
    ) -> dict[str, Any]:
        """The request: messages, tools, stop, the model's and the call's kwargs, the model id."""
        params = self._prepare_completion_kwargs(
            messages,
            stop_sequences=stop_sequences,
            response_format=response_format,
            tools_to_call_from=tools_to_call_from,
            convert_images_to_image_urls=True,
            **{"model": self.model_id, **kwargs},
        )
        if stream:
            params["stream"] = True
            if "stream_options" not in self.kwargs and "stream_options" not in kwargs:
                params["stream_options"] = {"include_usage": True}  # usage arrives in a final chunk
        return params

    # ----------------------------------------------------------------- generation
    def generate(
        self,
        messages: list[ChatMessage | dict[str, Any]],
        stop_sequences: list[str] | None = None,
        response_format: dict[str, Any] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> ChatMessage:
        params = self._completion_params(
            messages, stop_sequences, response_format, tools_to_call_from, kwargs
        )
        response, _ = self._call_api(self._sync_call(), params)
        return message_from_completion(response, stop_sequences, self.model_id)

    async def agenerate(
        self,
        messages: list[ChatMessage | dict[str, Any]],
        stop_sequences: list[str] | None = None,
        response_format: dict[str, Any] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> ChatMessage:
        params = self._completion_params(
            messages, stop_sequences, response_format, tools_to_call_from, kwargs
        )
        response, _ = await self._acall_api(await self._async_call(), params)
        return message_from_completion(response, stop_sequences, self.model_id)

    def generate_stream(
        self,
        messages: list[ChatMessage | dict[str, Any]],
        stop_sequences: list[str] | None = None,
        response_format: dict[str, Any] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatMessageStreamDelta]:
        params = self._completion_params(
            messages, stop_sequences, response_format, tools_to_call_from, kwargs, stream=True
        )
        stream, _ = self._call_api(self._sync_call(), params)
        mapper = StreamMapper(stop_sequences)
        try:
            for chunk in stream:
                yield from mapper.feed(chunk)
        except Exception as exc:
            error = self._stream_error(exc)
            if error is exc:
                raise
            raise error from exc
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        yield from mapper.finish()

    async def agenerate_stream(
        self,
        messages: list[ChatMessage | dict[str, Any]],
        stop_sequences: list[str] | None = None,
        response_format: dict[str, Any] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatMessageStreamDelta]:
        params = self._completion_params(
            messages, stop_sequences, response_format, tools_to_call_from, kwargs, stream=True
        )
        stream, _ = await self._acall_api(await self._async_call(), params)
        mapper = StreamMapper(stop_sequences)
        try:
            async for chunk in stream:
                for delta in mapper.feed(chunk):
                    yield delta
        except Exception as exc:
            error = self._stream_error(exc)
            if error is exc:
                raise
            raise error from exc
        finally:
            await _aclose(stream)
        for delta in mapper.finish():
            yield delta


async def _aclose(stream: Any) -> None:
    """Close an async stream, whichever spelling its SDK uses (``aclose`` or ``close``)."""
    close = getattr(stream, "aclose", None) or getattr(stream, "close", None)
    if close is not None:
        result = close()
        if inspect.isawaitable(result):
            await result
