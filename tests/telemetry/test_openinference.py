"""The third-party instrumentor users' dashboards (Phoenix, Langfuse...) rely on,
``openinference-instrumentation-smolagents`` from PyPI, used unchanged: it wraps our classes'
methods and reads our objects, and must produce its agent, step, LLM (with token counts)
and tool spans for ``run``, ``run(stream=True)`` and ``arun``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

oi = pytest.importorskip("openinference.instrumentation.smolagents", reason="the test extra installs it")

from span_helpers import Traced, add  # noqa: E402

from smolagents import CodeAgent, LogLevel, Model, MultiStepAgent, ToolCallingAgent  # noqa: E402
from smolagents.testing import ScriptedModel  # noqa: E402

KIND = "openinference.span.kind"
PROMPT, COMPLETION = "llm.token_count.prompt", "llm.token_count.completion"


class SyncClientModel(ScriptedModel):
    """A model without a native async client (like TransformersModel or a user's model):
    ``agenerate`` runs ``generate`` in a worker thread, where the instrumentor sees it."""

    _agenerate = Model._agenerate
    _agenerate_stream = Model._agenerate_stream


@pytest.fixture
def openinference() -> Iterator[Traced]:
    captured = Traced()
    instrumentor = oi.SmolagentsInstrumentor()
    instrumentor.instrument(tracer_provider=captured.provider)
    yield captured
    instrumentor.uninstrument()


def kinds(traced: Traced) -> list[Any]:
    """The spans as nested (kind, name, [children])."""
    by_parent: dict[Any, list[Any]] = {}
    for span in traced.spans():
        by_parent.setdefault(span.parent.span_id if span.parent else None, []).append(span)

    def node(span: Any) -> tuple[str, str, list[Any]]:
        return span.attributes[KIND], span.name, [node(c) for c in by_parent.get(span.context.span_id, [])]

    return [node(s) for s in by_parent.get(None, [])]


def tool_calling_agent(model_class: type[ScriptedModel] = SyncClientModel, **kwargs: Any) -> ToolCallingAgent:
    model = model_class(
        [
            ScriptedModel.tool_call("add", {"a": 1, "b": 2}),
            ScriptedModel.tool_call("final_answer", {"answer": 3}),
        ]
    )
    return ToolCallingAgent(tools=[add], model=model, verbosity_level=LogLevel.OFF, **kwargs)


@pytest.mark.parametrize(
    ("driver", "stream_outputs", "method"),
    [("run", False, "generate"), ("stream", True, "generate_stream"), ("arun", False, "generate")],
)
def test_agent_step_llm_and_tool_spans(
    openinference: Traced, driver: str, stream_outputs: bool, method: str
) -> None:
    agent = tool_calling_agent(stream_outputs=stream_outputs)
    if driver == "run":
        assert agent.run("add") == 3
    elif driver == "stream":
        events = list(agent.run("add", stream=True))
        assert events[-1].output == 3
    else:
        assert asyncio.run(agent.arun("add")) == 3
    llm = f"SyncClientModel.{method}"
    assert kinds(openinference) == [
        (
            "AGENT",
            "ToolCallingAgent.run",
            [
                ("CHAIN", "Step 1", [("LLM", llm, []), ("TOOL", "_FunctionTool", [])]),
                ("CHAIN", "Step 2", [("LLM", llm, []), ("TOOL", "FinalAnswerTool", [])]),
            ],
        )
    ]
    steps = [s for s in agent.memory.steps if hasattr(s, "tool_calls")]
    llm_spans = openinference.named(llm)
    for span, step in zip(llm_spans, steps):
        assert span.attributes[PROMPT] == step.token_usage.input_tokens > 0
        assert span.attributes[COMPLETION] == step.token_usage.output_tokens > 0
        assert span.attributes["llm.model_name"] == "scripted-model"
    run_span = openinference.one("ToolCallingAgent.run")
    total = agent.monitor.get_total_token_counts()
    assert (run_span.attributes[PROMPT], run_span.attributes[COMPLETION]) == (
        total.input_tokens,
        total.output_tokens,
    )
    assert openinference.one("_FunctionTool").attributes["tool.name"] == "add"


def test_code_agent_spans_with_tools_called_from_code(openinference: Traced) -> None:
    model = ScriptedModel(["<code>\nx = add(1, 2)\n</code>", "<code>\nfinal_answer(x)\n</code>"])
    agent = CodeAgent(tools=[add], model=model, verbosity_level=LogLevel.OFF)
    assert agent.run("add") == 3
    assert kinds(openinference) == [
        (
            "AGENT",
            "CodeAgent.run",
            [
                ("CHAIN", "Step 1", [("LLM", "ScriptedModel.generate", []), ("TOOL", "_FunctionTool", [])]),
                ("CHAIN", "Step 2", [("LLM", "ScriptedModel.generate", []), ("TOOL", "FinalAnswerTool", [])]),
            ],
        )
    ]


def test_managed_agents_nest_and_async_runs_with_native_async_models(openinference: Traced) -> None:
    helper = tool_calling_agent(ScriptedModel, name="helper", description="Adds numbers.")
    manager = ToolCallingAgent(
        tools=[],
        managed_agents=[helper],
        model=ScriptedModel(
            [
                ScriptedModel.tool_call("helper", {"task": "add"}),
                ScriptedModel.tool_call("final_answer", {"answer": "done"}),
            ]
        ),
        verbosity_level=LogLevel.OFF,
    )
    assert asyncio.run(manager.arun("delegate")) == "done"
    # ScriptedModel answers async calls natively: the instrumentor, which wraps only the sync
    # generate(), sees no LLM call of an async run then; the rest of the tree is there
    assert kinds(openinference) == [
        (
            "AGENT",
            "ToolCallingAgent.run",
            [
                (
                    "CHAIN",
                    "Step 1",
                    [
                        # an async manager awaits the managed agent itself (not Tool.__call__):
                        # its run nests right under the calling step
                        (
                            "AGENT",
                            "helper.run",
                            [
                                ("CHAIN", "Step 1", [("TOOL", "_FunctionTool", [])]),
                                ("CHAIN", "Step 2", [("TOOL", "FinalAnswerTool", [])]),
                            ],
                        )
                    ],
                ),
                ("CHAIN", "Step 2", [("TOOL", "FinalAnswerTool", [])]),
            ],
        )
    ]


def test_uninstrument_restores_our_methods() -> None:
    captured = Traced()
    instrumentor = oi.SmolagentsInstrumentor()
    instrumentor.instrument(tracer_provider=captured.provider)
    assert CodeAgent._step_stream is not MultiStepAgent._step_stream
    instrumentor.uninstrument()
    assert CodeAgent._step_stream is MultiStepAgent._step_stream
    assert ToolCallingAgent._step_stream is MultiStepAgent._step_stream
    tool_calling_agent().run("add")
    assert captured.spans() == []


def test_with_our_own_tracing_on_too(openinference: Traced) -> None:
    from smolagents import telemetry

    ours = Traced()
    telemetry.instrument(ours.provider)
    assert tool_calling_agent().run("add") == 3
    assert [name for name, _ in ours.tree()] == ["invoke_agent ToolCallingAgent"]
    assert [kind for kind, _name, _children in kinds(openinference)] == ["AGENT"]
    assert len(openinference.named("SyncClientModel.generate")) == 2


def test_a_managed_agent_called_by_a_sync_manager_nests_under_its_tool_span(openinference: Traced) -> None:
    helper = tool_calling_agent(name="helper", description="Adds numbers.")
    manager = ToolCallingAgent(
        tools=[],
        managed_agents=[helper],
        model=ScriptedModel(
            [
                ScriptedModel.tool_call("helper", {"task": "add"}),
                ScriptedModel.tool_call("final_answer", {"answer": "done"}),
            ]
        ),
        verbosity_level=LogLevel.OFF,
    )
    assert manager.run("delegate") == "done"
    helper_run = openinference.one("helper.run")
    parents = {s.context.span_id: s for s in openinference.spans()}
    tool_span = parents[helper_run.parent.span_id]
    assert (tool_span.name, tool_span.attributes[KIND]) == ("ManagedAgentTool", "TOOL")
    step = parents[tool_span.parent.span_id]
    assert step.name == "Step 1" and parents[step.parent.span_id].name == "ToolCallingAgent.run"
    assert len(openinference.children(helper_run)) == 2  # the helper's two steps
    assert helper_run.attributes["smolagents.max_steps"] == 20
