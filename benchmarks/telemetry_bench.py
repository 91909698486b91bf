"""Per-step cost of tracing (and of a SQLite checkpoint) against the plain loop.

Run with ``.venv/bin/python benchmarks/telemetry_bench.py`` (``--quick`` for fewer runs).
Scripted 5-step runs on a model that answers at once (so the loop's own cost is all there
is to see), for CodeAgent (trivial code calling a tool) and ToolCallingAgent (a trivial
tool call). It prints milliseconds per step and the ratio to the plain loop for:

- plain loop: the loop with its tracing seams taken out (each seam replaced by what it
  does when tracing is off, minus the check): the baseline;
- tracing off: the library as shipped, nobody tracing (issue 11: must cost nothing
  measurable);
- tracing on: ``smolagents.telemetry.instrument()`` into the OTel SDK's in-memory exporter
  (a SimpleSpanProcessor: spans are exported as they end), without and with content;
- openinference: the third-party instrumentor from PyPI, into the same exporter;
- SQLite checkpoint: ``agent.run(task, checkpoint=SQLiteCheckpointStore(path))``, saving
  after every step (``checkpoint_runner`` below; skipped if checkpoints are not available).

Configurations are measured in turns (each round runs every one once, starting with another
one each time), in CPU time of this process, and the best round is kept, so a busy neighbour
on a shared machine hurts every row alike. A difference of a few percent between the first
two rows is noise; the last line times the seams directly (a few hundred nanoseconds per
step), which the row-level numbers cannot resolve.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

STEPS = 5
Runner = Callable[[Any, str], Any]


def make_agent(kind: str, runs: int) -> Any:
    from smolagents import CodeAgent, LogLevel, ToolCallingAgent, tool
    from smolagents.testing import ScriptedModel

    @tool
    def noop(x: int) -> int:
        """Return x.

        Args:
            x: a number.
        """
        return x

    if kind == "CodeAgent":
        replies: list[Any] = ["Thought: go.\n<code>\nx = noop(1)\n</code>"] * (STEPS - 1)
        replies.append("<code>\nfinal_answer(x)\n</code>")
        agent: Any = CodeAgent(tools=[noop], model=ScriptedModel(replies * runs), max_steps=STEPS + 1)
    else:
        replies = [ScriptedModel.tool_call("noop", {"x": 1})] * (STEPS - 1)
        replies.append(ScriptedModel.tool_call("final_answer", {"answer": 1}))
        agent = ToolCallingAgent(tools=[noop], model=ScriptedModel(replies * runs), max_steps=STEPS + 1)
    agent.logger.level = LogLevel.OFF
    return agent


def ms_per_step(kind: str, runs: int, runner: Runner) -> float:
    agent = make_agent(kind, runs)
    runner(agent, "warm up")  # first run: sandbox, prompts and caches warm
    agent.model.allow_unused_replies = True
    start = time.process_time()  # CPU time: other processes on a shared machine do not count
    for _ in range(runs - 1):
        runner(agent, "go")
    return (time.process_time() - start) * 1000 / ((runs - 1) * STEPS)


def plain_run(agent: Any, task: str) -> Any:
    return agent.run(task)


def tool_call_without_seam() -> Callable[..., Any]:
    """``Tool.__call__`` as it was before the tracing seam (its body inline)."""
    import inspect

    from smolagents.agent_types import handle_agent_output_types
    from smolagents.tools._tool import _run_sync

    def __call__(self: Any, *args: Any, sanitize_inputs_outputs: bool = False, **kwargs: Any) -> Any:
        self._ensure_setup()
        call_args, call_kwargs = self._prepare_call(args, kwargs, sanitize_inputs_outputs)
        result = self.forward(*call_args, **call_kwargs)
        if inspect.isawaitable(result):
            result = _run_sync(result)
        return handle_agent_output_types(result, self.output_type) if sanitize_inputs_outputs else result

    return __call__


# ---------------------------------------------------------------------- configurations
@contextlib.contextmanager
def plain_loop() -> Iterator[Runner]:
    """The seams taken out: each replaced by what it does with tracing off, without the check."""
    from smolagents import MultiStepAgent, Tool

    seams = ("_run_seam", "_plan_seam", "_action_flow")  # inherited from TelemetrySeams
    tool_call = Tool.__dict__["__call__"]
    MultiStepAgent._run_seam = lambda self, flow: flow  # type: ignore[method-assign]
    MultiStepAgent._plan_seam = lambda self, flow: flow  # type: ignore[method-assign]
    MultiStepAgent._action_flow = lambda self, step: self._step_flow(step)  # type: ignore[method-assign]
    Tool.__call__ = tool_call_without_seam()  # type: ignore[method-assign]
    try:
        yield plain_run
    finally:
        for name in seams:
            delattr(MultiStepAgent, name)
        Tool.__call__ = tool_call  # type: ignore[method-assign]


@contextlib.contextmanager
def tracing_off() -> Iterator[Runner]:
    from smolagents import telemetry

    telemetry.uninstrument()
    yield plain_run


def _exporter() -> tuple[Any, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter, provider


def _clearing(exporter: Any) -> Runner:
    def run(agent: Any, task: str) -> Any:
        result = agent.run(task)
        exporter.clear()  # keep memory flat over many runs
        return result

    return run


@contextlib.contextmanager
def tracing_on(record_content: bool = False) -> Iterator[Runner]:
    from smolagents import telemetry

    exporter, provider = _exporter()
    telemetry.instrument(provider, record_content=record_content)
    try:
        yield _clearing(exporter)
    finally:
        telemetry.uninstrument()


@contextlib.contextmanager
def openinference() -> Iterator[Runner]:
    from openinference.instrumentation.smolagents import SmolagentsInstrumentor

    exporter, provider = _exporter()
    instrumentor = SmolagentsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield _clearing(exporter)
    finally:
        instrumentor.uninstrument()


def checkpoint_runner(path: str) -> Runner | None:
    """The SQLite checkpoint row: a runner saving every step to a store at ``path``, or None
    when durable runs are not available in this tree."""
    try:
        from smolagents.checkpoints import SQLiteCheckpointStore
    except ImportError:
        return None
    store = SQLiteCheckpointStore(path)

    def run(agent: Any, task: str) -> Any:
        return agent.run(task, checkpoint=store)

    return run


@contextlib.contextmanager
def sqlite_checkpoint() -> Iterator[Runner | None]:
    with tempfile.TemporaryDirectory() as folder:
        yield checkpoint_runner(f"{folder}/runs.db")


CONFIGS: list[tuple[str, Callable[[], Any]]] = [
    ("plain loop (seams taken out)", plain_loop),
    ("tracing off (as shipped)", tracing_off),
    ("tracing on (in-memory exporter)", tracing_on),
    ("tracing on, with content", lambda: tracing_on(record_content=True)),
    ("openinference instrumentor", openinference),
    ("SQLite checkpoint (tracing off)", sqlite_checkpoint),
]


def measure(runs: int, rounds: int) -> dict[str, dict[str, float | None]]:
    best: dict[str, dict[str, float | None]] = {name: {} for name, _ in CONFIGS}
    for round_index in range(rounds):
        turn = round_index % len(CONFIGS)  # each round starts with another configuration
        for name, config in CONFIGS[turn:] + CONFIGS[:turn]:
            for kind in ("CodeAgent", "ToolCallingAgent"):
                with config() as runner:
                    if runner is None:
                        best[name][kind] = None
                        continue
                    value = ms_per_step(kind, runs, runner)
                previous = best[name].get(kind)
                best[name][kind] = value if previous is None else min(previous, value)
    return best


def seam_ns_per_step(repeats: int = 200_000) -> float:
    """What the seams cost a step with tracing off, timed directly (the macro numbers above
    cannot resolve it on a shared machine): one action seam and one ``Tool.__call__`` seam per
    step, the run seam and the routing check once per run of STEPS steps."""
    import timeit

    from smolagents import ActionStep, Timing, tool
    from smolagents.agents._run_routing import take_routed_run

    @tool
    def noop(x: int) -> int:
        """Return x.

        Args:
            x: a number.
        """
        return x

    agent = make_agent("ToolCallingAgent", 1)
    agent.model.allow_unused_replies = True
    step = ActionStep(step_number=1, timing=Timing())
    flow = iter(())

    def per_call(statement: Callable[[], Any]) -> float:
        return (
            min(timeit.repeat(statement, number=repeats, repeat=7, timer=time.process_time)) / repeats * 1e9
        )

    action = per_call(lambda: agent._action_flow(step)) - per_call(lambda: agent._step_flow(step))
    without_seam = tool_call_without_seam()
    tool_call = per_call(lambda: noop(x=1)) - per_call(lambda: without_seam(noop, x=1))
    per_run = per_call(lambda: agent._run_seam(flow)) + per_call(lambda: take_routed_run(agent))
    return max(0.0, action) + max(0.0, tool_call) + per_run / STEPS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    runs, rounds = (15, 3) if args.quick else (30, 9)
    results = measure(runs, rounds)
    base = results["plain loop (seams taken out)"]
    print(f"{'ms per step (ratio to the plain loop)':<36}{'CodeAgent':>20}{'ToolCallingAgent':>22}")
    for name, _ in CONFIGS:
        cells = []
        for kind in ("CodeAgent", "ToolCallingAgent"):
            value, reference = results[name].get(kind), base[kind]
            if value is None or reference is None:
                cells.append("n/a")
            else:
                cells.append(f"{value:.3f} ({value / reference:.2f}x)")
        print(f"{name:<36}{cells[0]:>20}{cells[1]:>22}")
    seams = seam_ns_per_step()
    fastest = min(v for v in base.values() if v is not None)
    print(
        f"\nseams with tracing off, timed directly: {seams:.0f} ns per step "
        f"({seams / (fastest * 1e6) * 100:.2f}% of the fastest plain step)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
