"""Our own tracing (smolagents.telemetry): the span tree of a run, the same for ``run``,
``run(stream=True)`` and ``arun``; model calls, tool calls, errors, managed agents and
what is recorded only when the user opts in."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode
from span_helpers import Traced, add, lookup

from smolagents import CodeAgent, LogLevel, ToolCallingAgent, UserError, telemetry
from smolagents.testing import ScriptedModel

CONTENT_KEYS = {
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
}


def run_with(driver: str, agent: Any, task: str) -> Any:
    if driver == "run":
        return agent.run(task)
    if driver == "stream":
        events = list(agent.run(task, stream=True))
        return events[-1].output
    return asyncio.run(agent.arun(task))


def code_agent(**kwargs: Any) -> CodeAgent:
    model = ScriptedModel(
        ["Thought: add.\n<code>\nx = add(1, 2)\nprint(x)\n</code>", "<code>\nfinal_answer(x * 10)\n</code>"]
    )
    return CodeAgent(tools=[add], model=model, verbosity_level=LogLevel.OFF, **kwargs)


def tool_calling_agent(**kwargs: Any) -> ToolCallingAgent:
    model = ScriptedModel(
        [
            ScriptedModel.tool_call("add", {"a": 1, "b": 2}),
            ScriptedModel.tool_call("final_answer", {"answer": 30}),
        ]
    )
    return ToolCallingAgent(tools=[add], model=model, verbosity_level=LogLevel.OFF, **kwargs)


CODE_TREE = [
    (
        "invoke_agent CodeAgent",
        [
            (
                "step 1",
                [
                    ("chat scripted-model", []),
                    ("execute_tool python_interpreter", [("execute_tool add", [])]),
                ],
            ),
            (
                "step 2",
                [
                    ("chat scripted-model", []),
                    ("execute_tool python_interpreter", [("execute_tool final_answer", [])]),
                ],
            ),
        ],
    )
]
TOOL_CALLING_TREE = [
    (
        "invoke_agent ToolCallingAgent",
        [
            ("step 1", [("chat scripted-model", []), ("execute_tool add", [])]),
            ("step 2", [("chat scripted-model", []), ("execute_tool final_answer", [])]),
        ],
    )
]


@pytest.mark.parametrize("driver", ["run", "stream", "arun"])
def test_code_agent_span_tree_is_the_same_for_every_driver(traced: Traced, driver: str) -> None:
    agent = code_agent()
    assert run_with(driver, agent, "add one and two") == 30
    assert traced.tree() == CODE_TREE
    run_span = traced.one("invoke_agent CodeAgent")
    assert run_span.kind == SpanKind.INTERNAL
    assert run_span.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run_span.attributes["gen_ai.agent.name"] == "CodeAgent"
    assert run_span.attributes["gen_ai.request.model"] == "scripted-model"
    assert run_span.attributes["smolagents.run.state"] == "success"
    assert run_span.attributes["smolagents.run.steps"] == 2
    usage = agent.monitor.get_total_token_counts()
    assert run_span.attributes["gen_ai.usage.input_tokens"] == usage.input_tokens > 0
    assert run_span.attributes["gen_ai.usage.output_tokens"] == usage.output_tokens > 0
    code_spans = traced.named("execute_tool python_interpreter")
    assert [s.attributes["smolagents.code_execution"] for s in code_spans] == [True, True]
    assert [s.attributes["gen_ai.tool.call.id"] for s in code_spans] == ["call_1", "call_2"]
    assert [s.attributes["smolagents.final_answer"] for s in code_spans] == [False, True]
    assert code_spans[0].attributes["smolagents.code_executor"] == "LocalPythonExecutor"
    assert {s.context.trace_id for s in traced.spans()} == {run_span.context.trace_id}


@pytest.mark.parametrize("driver", ["run", "stream", "arun"])
def test_tool_calling_agent_span_tree_is_the_same_for_every_driver(traced: Traced, driver: str) -> None:
    agent = tool_calling_agent()
    assert run_with(driver, agent, "add one and two") == 30
    assert traced.tree() == TOOL_CALLING_TREE
    add_span = traced.one("execute_tool add")
    assert add_span.kind == SpanKind.INTERNAL
    assert add_span.attributes["gen_ai.operation.name"] == "execute_tool"
    assert add_span.attributes["gen_ai.tool.name"] == "add"
    assert add_span.attributes["gen_ai.tool.description"].startswith("Add two integers")
    assert add_span.status.status_code == StatusCode.UNSET
    steps = traced.named("step ")
    assert [s.attributes["smolagents.step.number"] for s in steps] == [1, 2]
    assert [s.attributes["smolagents.step.final_answer"] for s in steps] == [False, True]


@pytest.mark.parametrize("driver", ["run", "stream", "arun"])
def test_model_call_span_has_model_tokens_finish_reason_and_stream_flag(traced: Traced, driver: str) -> None:
    agent = tool_calling_agent(stream_outputs=True)
    run_with(driver, agent, "add one and two")
    chats = traced.named("chat ")
    assert len(chats) == 2
    records = [step for step in agent.memory.steps if hasattr(step, "tool_calls")]
    for chat, step in zip(chats, records):
        assert chat.kind == SpanKind.CLIENT
        assert chat.attributes["gen_ai.operation.name"] == "chat"
        assert chat.attributes["gen_ai.request.model"] == "scripted-model"
        assert chat.attributes["gen_ai.request.stream"] is True
        assert chat.attributes["smolagents.stream.chunks"] >= 2
        assert chat.attributes["gen_ai.response.time_to_first_chunk"] >= 0
        # the streamed deltas' usage adds up to what the step recorded
        assert chat.attributes["gen_ai.usage.input_tokens"] == step.token_usage.input_tokens > 0
        assert chat.attributes["gen_ai.usage.output_tokens"] == step.token_usage.output_tokens > 0
        assert chat.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
        assert chat.attributes["gen_ai.request.stop_sequences"] == ("Observation:", "Calling tools:")


def test_a_non_streamed_call_says_so_and_reads_the_finish_reason_of_the_raw_response(traced: Traced) -> None:
    from smolagents import ChatMessage, MessageRole

    reply = ChatMessage(
        role=MessageRole.ASSISTANT,
        content="<code>\nfinal_answer(1)\n</code>",
        raw={"id": "cmpl-7", "model": "scripted-2", "choices": [{"finish_reason": "length"}]},
    )

    class RawModel(ScriptedModel):
        def _generate(self, request: Any) -> ChatMessage:
            message = super()._generate(request)
            message.raw = reply.raw
            return message

    CodeAgent(tools=[], model=RawModel([reply]), verbosity_level=LogLevel.OFF).run("one")
    chat = traced.one("chat scripted-model")
    assert chat.attributes["gen_ai.request.stream"] is False
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert chat.attributes["gen_ai.response.id"] == "cmpl-7"
    assert chat.attributes["gen_ai.response.model"] == "scripted-2"
    assert "smolagents.stream.chunks" not in chat.attributes


@pytest.mark.parametrize("driver", ["run", "arun"])
def test_a_failing_tool_marks_its_span_and_the_step_not_the_run(traced: Traced, driver: str) -> None:
    model = ScriptedModel(
        [
            ScriptedModel.tool_call("lookup", {"country": "Atlantis"}),
            ScriptedModel.tool_call("final_answer", {"answer": "unknown"}),
        ]
    )
    agent = ToolCallingAgent(tools=[lookup], model=model, verbosity_level=LogLevel.OFF)
    assert run_with(driver, agent, "capital of Atlantis?") == "unknown"
    failed = traced.one("execute_tool lookup")
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes["error.type"] == "ValueError"
    assert failed.status.description == "ValueError"  # the message may hold data: content only
    assert not failed.events
    step = traced.one("step 1")
    assert step.status.status_code == StatusCode.ERROR
    assert step.attributes["error.type"] == "AgentToolExecutionError"
    run_span = traced.one("invoke_agent ToolCallingAgent")
    assert run_span.status.status_code == StatusCode.UNSET
    assert traced.one("step 2").status.status_code == StatusCode.UNSET


def test_a_failing_model_call_marks_the_chat_step_and_run(traced: Traced) -> None:
    agent = CodeAgent(
        tools=[], model=ScriptedModel([ConnectionError("server gone")]), verbosity_level=LogLevel.OFF
    )
    with pytest.raises(Exception, match="server gone"):
        agent.run("anything")
    for name in ("chat scripted-model", "step 1", "invoke_agent CodeAgent"):
        span = traced.one(name)
        assert span.status.status_code == StatusCode.ERROR, name
    assert traced.one("chat scripted-model").attributes["error.type"] == "ConnectionError"
    # a model call's error is named by its cause (we wrap it in AgentGenerationError)
    assert traced.one("invoke_agent CodeAgent").attributes["error.type"] == "ConnectionError"


@pytest.mark.parametrize("driver", ["run", "arun"])
def test_a_managed_agent_runs_inside_the_managers_tool_span(traced: Traced, driver: str) -> None:
    helper = tool_calling_agent(name="helper", description="Adds numbers.")
    manager = ToolCallingAgent(
        tools=[],
        managed_agents=[helper],
        model=ScriptedModel(
            [
                ScriptedModel.tool_call("helper", {"task": "add one and two"}),
                ScriptedModel.tool_call("final_answer", {"answer": "thirty"}),
            ]
        ),
        verbosity_level=LogLevel.OFF,
    )
    assert run_with(driver, manager, "ask the helper") == "thirty"
    assert traced.tree() == [
        (
            "invoke_agent ToolCallingAgent",
            [
                (
                    "step 1",
                    [
                        ("chat scripted-model", []),
                        ("execute_tool helper", [("invoke_agent helper", TOOL_CALLING_TREE[0][1])]),
                    ],
                ),
                ("step 2", [("chat scripted-model", []), ("execute_tool final_answer", [])]),
            ],
        )
    ]
    tool_span = traced.one("execute_tool helper")
    assert tool_span.attributes["smolagents.managed_agent"] is True
    helper_run = traced.one("invoke_agent helper")
    assert helper_run.attributes["gen_ai.agent.description"] == "Adds numbers."


def test_a_managed_agent_called_from_code_nests_under_the_code_execution(traced: Traced) -> None:
    helper = tool_calling_agent(name="helper", description="Adds numbers.")
    manager = CodeAgent(
        tools=[],
        managed_agents=[helper],
        model=ScriptedModel(['<code>\nreport = helper(task="add")\nfinal_answer("done")\n</code>']),
        verbosity_level=LogLevel.OFF,
    )
    assert manager.run("ask the helper") == "done"
    code = traced.one("execute_tool python_interpreter")
    called = [s.name for s in traced.children(code)]
    assert called == ["execute_tool helper", "execute_tool final_answer"]
    assert [s.name for s in traced.children(traced.one("execute_tool helper"))] == ["invoke_agent helper"]


def test_concurrent_async_runs_keep_their_spans_apart(traced: Traced) -> None:
    first, second = tool_calling_agent(name="first"), tool_calling_agent(name="second")

    async def both() -> list[Any]:
        return list(await asyncio.gather(first.arun("a"), second.arun("b")))

    assert asyncio.run(both()) == [30, 30]
    for name in ("first", "second"):
        run_span = traced.one(f"invoke_agent {name}")
        inside = [s for s in traced.spans() if s.context.trace_id == run_span.context.trace_id]
        assert len(inside) == 1 + 2 * 3  # the run, and per step: the step, a chat, a tool call
        assert all(s.attributes.get("gen_ai.agent.name", name) == name for s in inside)


def test_content_is_not_recorded_by_default(traced: Traced) -> None:
    agent = tool_calling_agent()
    agent.run("the secret word is SWORDFISH; add one and two")
    for span in traced.spans():
        assert not CONTENT_KEYS & set(span.attributes), span.name
    assert "SWORDFISH" not in traced.attribute_values()


def test_content_is_recorded_when_the_user_opts_in() -> None:
    captured = Traced()
    telemetry.instrument(captured.provider, record_content=True)
    agent = tool_calling_agent()
    agent.run("the secret word is SWORDFISH; add one and two")
    run_span = captured.one("invoke_agent ToolCallingAgent")
    assert "SWORDFISH" in run_span.attributes["gen_ai.input.messages"]
    assert '"30"' in run_span.attributes["gen_ai.output.messages"]
    add_span = captured.one("execute_tool add")
    assert add_span.attributes["gen_ai.tool.call.arguments"] == '{"a": 1, "b": 2}'
    assert add_span.attributes["gen_ai.tool.call.result"] == "3"
    chat = captured.named("chat ")[0]
    assert "SWORDFISH" in chat.attributes["gen_ai.input.messages"]
    assert '"tool_call"' in chat.attributes["gen_ai.output.messages"]


def test_content_opt_in_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOLAGENTS_TELEMETRY_CONTENT", "1")
    captured = Traced()
    telemetry.instrument(captured.provider)
    code_agent().run("add one and two")
    code = captured.named("execute_tool python_interpreter")[0]
    assert "x = add(1, 2)" in code.attributes["gen_ai.tool.call.arguments"]
    assert '"logs": "3\\n"' in code.attributes["gen_ai.tool.call.result"]
    assert captured.one("execute_tool add").attributes["gen_ai.tool.call.arguments"] == '{"a": 1, "b": 2}'


def test_error_messages_are_content() -> None:
    captured = Traced()
    telemetry.instrument(captured.provider, record_content=True)
    model = ScriptedModel(
        [
            ScriptedModel.tool_call("lookup", {"country": "Atlantis"}),
            ScriptedModel.tool_call("final_answer", {"answer": "?"}),
        ]
    )
    ToolCallingAgent(tools=[lookup], model=model, verbosity_level=LogLevel.OFF).run("x")
    failed = captured.one("execute_tool lookup")
    assert "Atlantis" in failed.status.description
    assert [event.name for event in failed.events] == ["exception"]


def test_uninstrument_stops_the_spans(traced: Traced) -> None:
    tool_calling_agent().run("first")
    assert traced.spans()
    telemetry.uninstrument()
    assert not telemetry.is_instrumented()
    traced.exporter.clear()
    tool_calling_agent().run("second")
    assert traced.spans() == []


def test_a_stream_closed_early_ends_its_spans(traced: Traced) -> None:
    agent = tool_calling_agent()
    agent.model.allow_unused_replies = True
    events = agent.run("add", stream=True)
    for event in events:
        if type(event).__name__ == "ToolOutput":
            break
    events.close()
    run_span = traced.one("invoke_agent ToolCallingAgent")
    assert run_span.attributes["smolagents.closed_early"] is True
    assert {s.name for s in traced.spans()} == {
        "invoke_agent ToolCallingAgent",
        "step 1",
        "chat scripted-model",
        "execute_tool add",
    }


def test_planning_steps_have_plan_spans(traced: Traced) -> None:
    model = ScriptedModel(["1. add\n<end_plan>", ScriptedModel.tool_call("final_answer", {"answer": 3})])
    ToolCallingAgent(tools=[add], model=model, planning_interval=5, verbosity_level=LogLevel.OFF).run("plan")
    plan = traced.one("plan ToolCallingAgent")
    assert plan.attributes["gen_ai.operation.name"] == "plan"
    assert [s.name for s in traced.children(plan)] == ["chat scripted-model"]
    assert plan.attributes["gen_ai.usage.output_tokens"] > 0


def test_a_tool_called_directly_gets_a_span(traced: Traced) -> None:
    assert add(a=2, b=3) == 5
    span = traced.one("execute_tool add")
    assert span.parent is None and "gen_ai.tool.call.id" not in span.attributes


def test_bad_settings_are_clear_errors() -> None:
    with pytest.raises(UserError, match="TracerProvider"):
        telemetry.instrument("http://collector:4317")
    with pytest.raises(UserError, match="record_content"):
        telemetry.instrument(None, record_content="yes")  # type: ignore[arg-type]


def test_code_and_its_tool_calls_are_traced_when_approvals_stream_in_a_code_agent(traced: Traced) -> None:
    from smolagents import ApprovalRequest, tool

    @tool(requires_approval=True)
    def wipe(path: str) -> str:
        """Delete a file.

        Args:
            path: the file to delete.
        """
        return f"wiped {path}"

    model = ScriptedModel(["<code>\nresult = wipe('/tmp/x')\nfinal_answer(result)\n</code>"])
    agent = CodeAgent(tools=[wipe], model=model, verbosity_level=LogLevel.OFF)
    events = []
    for event in agent.run("wipe it", stream=True):
        events.append(event)
        if isinstance(event, ApprovalRequest):
            agent.approve(event.id, True)
    assert events[-1].output == "wiped /tmp/x"
    code_span = traced.one("execute_tool python_interpreter")
    assert traced.one("step 1") is not None
    assert code_span.parent is not None and code_span.parent.span_id == traced.one("step 1").context.span_id
    wipe_span = traced.one("execute_tool wipe")  # run on the consumer's thread, in the code's context
    assert wipe_span.parent is not None and wipe_span.parent.span_id == code_span.context.span_id
