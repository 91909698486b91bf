"""The run loop's tracing seams, and the attributes instrumentors written for smolagents use.

Two kinds of observers wrap an agent's run:

- our own tracing (``smolagents.telemetry``): its hooks sit in the slot
  ``smolagents._telemetry_hooks.hooks``, which each seam reads once; with the slot empty a
  seam returns its flow untouched (one global lookup, nothing imported);
- third-party instrumentors (``openinference-instrumentation-smolagents``), which replace
  methods on our classes: ``MultiStepAgent.run``, ``CodeAgent._step_stream`` /
  ``ToolCallingAgent._step_stream``, ``Model.generate`` / ``generate_stream`` and
  ``Tool.__call__``. The loop reaches each of them by attribute lookup, so a replacement
  takes effect (``arun`` and managed agents run through ``run`` too: ``_run_routing.py``).

``_step_stream`` is a step in upstream's shape: a generator of the step's events and effects
whose *last item* is the step's :class:`ActionOutput` (an instrumentor's wrapper re-yields the
items but drops a generator's return value). Our own step is ``_step_flow``, which returns
its output; the loop calls ``_step_stream`` only when someone replaced it, so an
uninstrumented run pays nothing for the adapter.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from .. import _telemetry_hooks
from .._monitoring_types import TokenUsage
from ..memory import ActionOutput, ActionStep

__all__ = ["RunTotals", "TelemetrySeams", "step_output"]


def step_output(stream: Generator[Any, Any, Any]) -> Generator[Any, Any, ActionOutput | None]:
    """Drive an upstream-shaped step stream as a flow: forward its items (and what the
    driver sends back), keep its :class:`ActionOutput` and return it."""
    output: ActionOutput | None = None
    to_send: Any = None
    to_throw: BaseException | None = None
    try:
        while True:
            try:
                item = stream.throw(to_throw) if to_throw is not None else stream.send(to_send)
            except StopIteration:
                return output
            to_send, to_throw = None, None
            if isinstance(item, ActionOutput):
                output = item
                continue
            try:
                to_send = yield item
            except GeneratorExit:
                raise
            except BaseException as exc:  # a failed effect, thrown back where it was yielded
                to_throw = exc
    finally:
        stream.close()


class RunTotals:
    """``agent.monitor``: token totals of the agent's last run, read from its memory (the
    names instrumentors written for smolagents read after a run)."""

    def __init__(self, agent: Any) -> None:
        self._agent = agent

    def get_total_token_counts(self) -> TokenUsage:
        total = TokenUsage(0, 0)
        for step in self._agent.memory.steps:
            usage = getattr(step, "token_usage", None)
            if usage is not None:
                total = total + usage
        return total

    @property
    def total_input_token_count(self) -> int:
        return self.get_total_token_counts().input_tokens

    @property
    def total_output_token_count(self) -> int:
        return self.get_total_token_counts().output_tokens


class TelemetrySeams:
    """The seams of ``MultiStepAgent``'s run flow (see the module docstring)."""

    if TYPE_CHECKING:  # provided by MultiStepAgent and its subclasses

        def _step_flow(self, memory_step: ActionStep) -> Generator[Any, Any, ActionOutput | None]: ...

    def _step_stream(self, memory_step: ActionStep) -> Generator[Any, Any, None]:
        """One step as upstream's generator: its events and effects, then its ActionOutput
        (if it produced one) as the last item."""
        output = yield from self._step_flow(memory_step)
        if output is not None:
            yield output

    @property
    def monitor(self) -> RunTotals:
        """Token totals of the last run (``total_input_token_count``...)."""
        return RunTotals(self)

    def _run_seam(self, flow: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
        """Seam: a run's whole flow."""
        hooks = _telemetry_hooks.hooks
        return flow if hooks is None else hooks.run(self, flow)

    def _plan_seam(self, flow: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
        """Seam: a planning step's flow."""
        hooks = _telemetry_hooks.hooks
        return flow if hooks is None else hooks.step(self, None, flow, "planning")

    def _action_flow(self, memory_step: ActionStep) -> Generator[Any, Any, ActionOutput | None]:
        """Seam: one action step, through ``_step_stream`` when an instrumentor replaced it."""
        if type(self)._step_stream is TelemetrySeams._step_stream:
            flow = self._step_flow(memory_step)
        else:
            flow = step_output(self._step_stream(memory_step))
        hooks = _telemetry_hooks.hooks
        return flow if hooks is None else hooks.step(self, memory_step, flow, "action")
