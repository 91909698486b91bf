"""Concurrent runs of one agent: each run is isolated, the last finished run's memory is kept.

Code written for smolagents shares one agent between requests (the docs' Starlette example
calls ``agent.run`` from worker threads; async apps ``await agent.arun`` from several tasks).
A run keeps its progress on the agent (memory, state, the executor's variables), so two runs
on one agent would cross their answers. Here the first run claims the agent; a run that
starts while it is busy runs on a copy with its own memory, state and executor (see
:meth:`ConcurrentRuns._clone_for_concurrent_call`). When a copy's run ends, its memory and
state become the agent's, unless a run on the agent itself is still going (that one ends
later, so it is the last finished). ``agent.memory`` therefore always holds the memory of
the last finished run, and ``interrupt()`` reaches every run in progress.

The claim is taken when the run starts (for streams and ``arun``: when iteration or the
coroutine starts), and released when it ends, fails, or its stream is closed.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator
from typing import TYPE_CHECKING, Any

from ..memory import AgentMemory
from ._loop import drive_sync
from ._run_routing import RoutedRun, drive_routed, pull_effects

if TYPE_CHECKING:
    from ._multistep import MultiStepAgent

__all__ = ["ConcurrentRuns", "RunArgs"]

RunArgs = tuple[str, bool, "list[Any] | None", "dict[str, Any] | None", int, Any, Any]
"""Checked arguments of a run: (task, reset, images, additional_args, max_steps, output, durable),
where output is the run's (output spec, output retries) (see ``_typed_output.py``) and durable
its id and checkpointing (a ``DurableRun``, see ``_durable.py``)."""

Then = Callable[["MultiStepAgent", Any], Any]


class ConcurrentRuns:
    """Claiming the agent for a run, and the drivers that hold the claim while they run."""

    _run_lock: threading.Lock
    _active_copies: set[Any]
    interrupt_switch: bool

    def _claim_run(self) -> tuple[MultiStepAgent, Callable[[], None]]:
        """The agent to run on (this one if idle, else a copy) and the function ending the claim."""
        agent: MultiStepAgent = self  # type: ignore[assignment]
        if self._run_lock.acquire(blocking=False):
            return agent, self._run_lock.release
        clone = self._clone_for_concurrent_call()
        self._active_copies.add(clone)

        def finish() -> None:
            self._active_copies.discard(clone)
            try:
                self._adopt_finished_run(clone)
            finally:
                clone._release_copy_resources(agent)

        return clone, finish

    def _clone_for_concurrent_call(self) -> MultiStepAgent:
        """A copy sharing configuration (model, tools, prompts, callbacks, logger) but with
        its own memory (a snapshot, so ``reset=False`` continues from it), state and lock."""
        clone = copy.copy(self)
        clone.memory = AgentMemory(self.system_prompt)  # type: ignore[attr-defined]
        clone.memory.steps = list(self.memory.steps)  # type: ignore[attr-defined]
        clone.state = dict(self.state)  # type: ignore[attr-defined]
        clone.interrupt_switch = False
        clone._run_lock = threading.Lock()
        clone._active_copies = set()
        return clone  # type: ignore[return-value]

    def _adopt_finished_run(self, clone: MultiStepAgent) -> None:
        """Keep a copy's finished run as the agent's last run, unless the agent is running
        (its own run will finish later and be the last one)."""
        if not self._run_lock.acquire(blocking=False):
            return
        try:
            for name in ("memory", "state", "task", "step_number", "_final_output", "_run_state"):
                setattr(self, name, getattr(clone, name))
            self._adopt_resources(clone)
        finally:
            self._run_lock.release()

    def _adopt_resources(self, clone: MultiStepAgent) -> None:
        """Hook, under the run lock: take over what the adopted run needs (CodeAgent: its executor)."""

    def _release_copy_resources(self, original: MultiStepAgent) -> None:
        """Hook: free what a finished copy owns and the original does not (CodeAgent: its executor)."""

    def _interrupt_runs(self) -> None:
        self.interrupt_switch = True
        for clone in list(self._active_copies):
            clone.interrupt()

    # ------------------------------------------------------------------ drivers holding a claim
    def _run_to_end(self, args: RunArgs, return_full_result: bool | None, then: Then | None = None) -> Any:
        target, finish = self._claim_run()
        try:
            target._begin_approvals(args, stream=False)
            started = time.time()
            for _event in drive_sync(target._start_run(*args)):
                pass
            result = target._result(started, return_full_result)
            return then(target, result) if then is not None else result
        finally:
            finish()

    async def _arun_to_end(
        self, args: RunArgs, return_full_result: bool | None, then: Then | None = None
    ) -> Any:
        # asked of ``run`` (a wrapper of it sees async runs too), served by ``_pull_run``
        routed = RoutedRun(self, args, return_full_result, then)
        async for _event in drive_routed(routed):
            pass
        return routed.result

    def _pull_run(self, routed: RoutedRun) -> Generator[Any, None, None]:
        """An async run as ``run`` serves it: the flow as a pull stream whose effects the
        async caller performs (``_run_routing.py``)."""
        target, finish = self._claim_run()
        try:
            target._begin_approvals(routed.args, stream=routed.stream)
            started = time.time()
            yield from pull_effects(target._start_run(*routed.args))
            if not routed.stream:
                result = target._result(started, routed.return_full_result)
                routed.result = routed.then(target, result) if routed.then is not None else result
        finally:
            finish()

    def _stream_sync(self, args: RunArgs) -> Generator[Any, None, Any]:
        target, finish = self._claim_run()
        try:
            target._begin_approvals(args, stream=True)
            return (yield from drive_sync(target._start_run(*args)))
        finally:
            finish()

    async def _stream_async(self, args: RunArgs) -> AsyncIterator[Any]:
        async for event in drive_routed(RoutedRun(self, args, None, stream=True)):
            yield event
