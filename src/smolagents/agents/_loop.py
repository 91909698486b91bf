"""The run loop's I/O boundary: effects, and the two drivers that perform them.

The agent's run logic is written once, as a generator (a "flow") that yields two kinds of
items: *events* for the caller (steps, tool calls, stream deltas...) and *effects*, the only
places where I/O happens (a model call, a batch of tool calls). A driver performs each
effect and sends its result back into the flow:

- :func:`drive_sync` performs effects on the caller's thread (so ``run()`` works inside
  Jupyter's running event loop, and a single sync tool runs on the caller's thread);
- :func:`drive_async` awaits async model calls and async tools, and runs sync tools in
  worker threads, so several agents interleave in one event loop.

A failed effect is thrown back into the flow at the point it was yielded, so the flow's
own ``try/except`` turns it into the step's error exactly as in a synchronous program.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import AgentGenerationError
from ..models._messages import ChatMessage, ChatMessageStreamDelta, agglomerate_stream_deltas

_T = TypeVar("_T")

__all__ = ["Calls", "Effect", "ModelCall", "Outcome", "drive_async", "drive_sync", "run_flow_to_end"]


class Effect:
    """Something the flow needs done; a driver performs it and sends back the result."""

    def run_sync(self) -> Generator[Any, None, Any]:
        raise NotImplementedError

    def run_async(self) -> AsyncIterator[Any]:
        raise NotImplementedError


@dataclass
class _Done:
    """Last item of an effect's async iterator: carries the effect's result."""

    value: Any


def _generation_error(model: Any, exc: Exception) -> AgentGenerationError:
    if isinstance(exc, AgentGenerationError):
        return exc
    model_id = getattr(model, "model_id", None) or type(model).__name__
    err = AgentGenerationError(
        f"Error while generating output with model {model_id!r}: {type(exc).__name__}: {exc}"
    )
    err.__cause__ = exc
    return err


@dataclass
class ModelCall(Effect):
    """One model call; when ``stream`` is set, the deltas are forwarded to the caller as
    events and the result is the message they add up to."""

    model: Any
    messages: list[ChatMessage]
    kwargs: dict[str, Any]
    stream: bool = False

    def run_sync(self) -> Generator[Any, None, ChatMessage]:
        try:
            if self.stream:
                deltas: list[ChatMessageStreamDelta] = []
                for delta in self.model.generate_stream(self.messages, **self.kwargs):
                    deltas.append(delta)
                    yield delta
                return agglomerate_stream_deltas(deltas)
            return ChatMessage.coerce(self.model.generate(self.messages, **self.kwargs))
        except Exception as exc:
            raise _generation_error(self.model, exc) from exc

    async def run_async(self) -> AsyncIterator[Any]:
        import asyncio  # deferred: sync-only users never pay for importing asyncio

        try:
            if self.stream:
                deltas: list[ChatMessageStreamDelta] = []
                async for delta in self.model.agenerate_stream(self.messages, **self.kwargs):
                    deltas.append(delta)
                    yield delta
                result = agglomerate_stream_deltas(deltas)
            else:
                agenerate = getattr(self.model, "agenerate", None)
                if agenerate is None:  # a user model with only a sync generate()
                    raw = await asyncio.to_thread(self.model.generate, self.messages, **self.kwargs)
                else:
                    raw = await agenerate(self.messages, **self.kwargs)
                result = ChatMessage.coerce(raw)
        except Exception as exc:
            raise _generation_error(self.model, exc) from exc
        yield _Done(result)


@dataclass
class Outcome:
    """Result of one call in a :class:`Calls` batch: a value, or the exception it raised."""

    value: Any = None
    error: Exception | None = None


@dataclass
class Calls(Effect):
    """A batch of independent calls, run in parallel where there is more than one.

    Each call is given twice: as a sync callable and as an async one. Exceptions are
    captured per call, so one failing tool does not hide the others' results. Worker
    threads run each call in a copy of the caller's context (tracing spans, context vars).

    ``tool_calls`` says what each call is, for observers (tracing); ``runs_code`` marks a
    CodeAgent's code execution.
    """

    sync_calls: list[Callable[[], Any]]
    async_calls: list[Callable[[], Awaitable[Any]]]
    max_workers: int | None = None
    tool_calls: list[Any] | None = None
    runs_code: bool = False

    def run_sync(self) -> Generator[Any, None, list[Outcome]]:
        yield from ()  # nothing to stream: the results come back together
        if len(self.sync_calls) == 1:  # one call runs on the caller's thread
            return [_capture(self.sync_calls[0])]
        from concurrent.futures import ThreadPoolExecutor
        from contextvars import Context, copy_context

        contexts = [copy_context() for _ in self.sync_calls]  # one each: a context runs in one thread
        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            return list(pool.map(Context.run, contexts, [_capture] * len(contexts), self.sync_calls))

    async def run_async(self) -> AsyncIterator[Any]:
        import asyncio

        semaphore = asyncio.Semaphore(self.max_workers or len(self.async_calls) or 1)

        async def one(call: Callable[[], Awaitable[Any]]) -> Outcome:
            async with semaphore:
                try:
                    return Outcome(value=await call())
                except Exception as exc:
                    return Outcome(error=exc)

        yield _Done(list(await asyncio.gather(*(one(c) for c in self.async_calls))))


def _capture(call: Callable[[], Any]) -> Outcome:
    try:
        return Outcome(value=call())
    except Exception as exc:
        return Outcome(error=exc)


def drive_sync(flow: Generator[Any, Any, Any]) -> Generator[Any, None, Any]:
    """Run a flow, performing its effects synchronously; yields its events, returns its value."""
    to_send: Any = None
    to_throw: BaseException | None = None
    while True:
        try:
            item = flow.throw(to_throw) if to_throw is not None else flow.send(to_send)
        except StopIteration as stop:
            return stop.value
        to_send, to_throw = None, None
        if isinstance(item, Effect):
            try:
                to_send = yield from item.run_sync()
            except Exception as exc:
                to_throw = exc
        else:
            yield item


async def drive_async(flow: Generator[Any, Any, Any]) -> AsyncIterator[Any]:
    """Run a flow, awaiting its effects; yields its events."""
    to_send: Any = None
    to_throw: BaseException | None = None
    while True:
        try:
            item = flow.throw(to_throw) if to_throw is not None else flow.send(to_send)
        except StopIteration:
            return
        to_send, to_throw = None, None
        if isinstance(item, Effect):
            try:
                async for event in item.run_async():
                    if isinstance(event, _Done):
                        to_send = event.value
                    else:
                        yield event
            except Exception as exc:
                to_throw = exc
        else:
            yield item


def run_flow_to_end(flow: Generator[Any, Any, _T]) -> _T:
    """Drive a flow synchronously, discard its events and return its value."""
    events: Iterator[Any] = drive_sync(flow)
    while True:
        try:
            next(events)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
