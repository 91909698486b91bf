"""Every run goes through ``run``: ``arun``, ``astream`` and a manager's call to a managed
agent ask :meth:`MultiStepAgent.run` for their run, so whoever wraps ``run`` (an
instrumentor such as ``openinference-instrumentation-smolagents``) sees every run, nested
managed runs included.

The request travels in a context variable set only around that call, so ``run`` keeps its
documented signature; ``run`` takes the request (see :func:`take_routed_run`) and serves it:

- a manager's sync call: ``run`` runs to the end and returns the manager's report;
- ``arun`` / ``astream``: ``run(task, stream=True)`` returns a *pull stream* instead of
  events. Its items are the run's events and, for each effect (a model call, tool calls),
  a :class:`PendingEffect` that the caller performs with the async driver, storing the
  outcome in it before asking for the next item. A wrapper that re-yields the items of a
  stream (without forwarding ``send``) therefore passes an async run through unchanged, and
  its span covers the whole run.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Callable, Generator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._loop import Effect, drive_async

if TYPE_CHECKING:
    from ._multistep import MultiStepAgent

__all__ = ["PendingEffect", "RoutedRun", "drive_routed", "pull_effects", "routed_run", "take_routed_run"]


@dataclass
class RoutedRun:
    """A run asked of ``agent.run`` by the library itself: its checked arguments, and how
    the caller wants it back."""

    agent: Any
    args: tuple[Any, ...]  # RunArgs (see _concurrent.py)
    return_full_result: bool | None
    then: Callable[[Any, Any], Any] | None = None
    pull: bool = True  # the caller drives the effects (async); False: run to the end here
    stream: bool = False  # the caller streams the events (astream), no result wanted
    result: Any = None  # a pull stream's result, once it finished
    taken: bool = False  # ``run`` took the request (a subclass's own ``run`` may not)

    def serve(self) -> Any:
        """What ``run`` returns for this request (see ``ConcurrentRuns._pull_run``)."""
        agent: MultiStepAgent = self.agent
        if self.pull:
            return agent._pull_run(self)
        return agent._run_to_end(self.args, self.return_full_result, then=self.then)


_routed: contextvars.ContextVar[RoutedRun | None] = contextvars.ContextVar(
    "smolagents_routed_run", default=None
)


def take_routed_run(agent: Any) -> RoutedRun | None:
    """The request the library made of ``agent.run`` in this call, if any (taken once: a run
    started further down, by a tool for instance, is the user's own)."""
    routed = _routed.get()
    if routed is None or routed.agent is not agent:
        return None
    _routed.set(None)
    routed.taken = True
    return routed


def routed_run(routed: RoutedRun) -> Any:
    """Call ``routed.agent.run`` (looked up on the agent: a wrapper of it takes effect) for
    ``routed``; returns what ``run`` returned."""
    args = routed.args  # task, reset, images, additional_args, max_steps, ...
    token = _routed.set(routed)
    try:
        returned = routed.agent.run(
            args[0],
            stream=routed.pull,
            reset=args[1],
            images=args[2],
            additional_args=args[3],
            max_steps=args[4],
            return_full_result=routed.return_full_result,
        )
    finally:
        _routed.reset(token)
    if routed.pull and not routed.taken:
        # a subclass's own ``run`` that does not call ours left the stream to us
        return routed.serve()
    return returned


async def drive_routed(routed: RoutedRun) -> AsyncIterator[Any]:
    """Run ``routed`` (``pull=True``) through ``run`` and drive it with the async driver;
    yields the run's events. ``routed.result`` holds its result at the end."""
    flow = _push(routed_run(routed))
    try:
        async for event in drive_async(flow):
            yield event
    finally:
        flow.close()


class PendingEffect:
    """An effect handed out by a pull stream; the caller stores its outcome here."""

    __slots__ = ("effect", "error", "value")

    def __init__(self, effect: Effect) -> None:
        self.effect = effect
        self.value: Any = None
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        return f"<pending {type(self.effect).__name__}>"


def pull_effects(flow: Generator[Any, Any, Any]) -> Generator[Any, None, Any]:
    """The flow as a pull stream: effects come out as PendingEffects whose outcome is sent
    (or thrown) into the flow when the next item is asked for."""
    to_send: Any = None
    to_throw: BaseException | None = None
    try:
        while True:
            try:
                item = flow.throw(to_throw) if to_throw is not None else flow.send(to_send)
            except StopIteration as stop:
                return stop.value
            to_send, to_throw = None, None
            if isinstance(item, Effect):
                pending = PendingEffect(item)
                yield pending
                to_send, to_throw = pending.value, pending.error
            else:
                yield item
    finally:
        flow.close()


def _push(stream: Iterable[Any]) -> Generator[Any, Any, None]:
    """A pull stream as a flow again, for the async driver: each pending effect is yielded
    as the effect, and what the driver sends (or throws) back is stored in it."""
    try:
        for item in stream:
            if isinstance(item, PendingEffect):
                try:
                    item.value = yield item.effect
                except Exception as exc:  # the effect failed: the run's flow decides
                    item.error = exc
            else:
                yield item
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
