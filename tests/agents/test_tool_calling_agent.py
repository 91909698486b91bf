"""ToolCallingAgent driven by ScriptedModel: the loop's behaviour, without any network."""

from __future__ import annotations

import threading
import time

import pytest

from smolagents import (
    ActionStep,
    AgentError,
    AgentGenerationError,
    AgentMaxStepsError,
    AgentParsingError,
    AgentToolCallError,
    AgentToolExecutionError,
    ChatMessageStreamDelta,
    LogLevel,
    PlanningStep,
    RunResult,
    TaskStep,
    ToolCallingAgent,
    ToolOutput,
    tool,
)
from smolagents.testing import ScriptedModel, UnexpectedModelCall

call = ScriptedModel.tool_call


def make_agent(tools, replies, **kwargs):
    kwargs.setdefault("verbosity_level", LogLevel.OFF)
    return ToolCallingAgent(tools=tools, model=ScriptedModel(replies), **kwargs)


def test_run_calls_tools_and_returns_final_answer(tools):
    agent = make_agent(tools, [call("add", {"a": 2, "b": 3}), call("final_answer", {"answer": "5"})])
    assert agent.run("What is 2+3?") == "5"
    actions = [s for s in agent.memory.steps if isinstance(s, ActionStep)]
    assert [s.tool_calls[0].name for s in actions] == ["add", "final_answer"]
    assert actions[0].observations == "5"
    assert actions[1].is_final_answer and actions[1].action_output == "5"
    assert isinstance(agent.memory.steps[0], TaskStep) and agent.memory.steps[0].task == "What is 2+3?"
    agent.model.assert_consumed()


def test_stream_yields_every_event_once_in_order(tools):
    agent = make_agent(tools, [call("add", {"a": 1, "b": 1}), call("final_answer", {"answer": 2})])
    events = list(agent.run("1+1?", stream=True))
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "ToolCall", "ToolOutput", "ActionOutput", "ActionStep",
        "ToolCall", "ToolOutput", "ActionOutput", "ActionStep",
        "FinalAnswerStep",
    ]  # fmt: skip
    assert events[-1].output == 2
    steps = [e for e in events if isinstance(e, ActionStep)]
    assert steps == [s for s in agent.memory.steps if isinstance(s, ActionStep)]


def test_stream_outputs_yields_deltas_that_rebuild_the_message(tools):
    agent = make_agent(
        tools,
        [call("final_answer", {"answer": "done"}, content="I know the answer already")],
        stream_outputs=True,
    )
    events = list(agent.run("go", stream=True))
    deltas = [e for e in events if isinstance(e, ChatMessageStreamDelta)]
    assert len(deltas) > 2
    assert "".join(d.content or "" for d in deltas) == "I know the answer already"
    assert events[-1].output == "done"
    step = next(e for e in events if isinstance(e, ActionStep))
    assert step.tool_calls[0].arguments == {"answer": "done"}
    assert step.token_usage is not None and step.token_usage.output_tokens > 0


def test_unknown_tool_becomes_step_error_and_run_recovers(tools):
    agent = make_agent(tools, [call("multiply", {"a": 2}), call("final_answer", {"answer": "ok"})])
    assert agent.run("x") == "ok"
    first = agent.memory.steps[1]
    # code written for smolagents catches AgentToolExecutionError for an unknown tool (issue 8)
    assert isinstance(first.error, AgentToolExecutionError)
    assert "multiply" in str(first.error) and "lookup_capital" in str(first.error)
    # the error is shown to the model in the next call
    second_call_text = " ".join(m.text for m in agent.model.calls[1].messages)
    assert "Unknown tool 'multiply'" in second_call_text


def test_malformed_json_arguments_are_reported_with_the_raw_text(tools):
    agent = make_agent(tools, [call("add", '{"a": 1, "b": '), call("final_answer", {"answer": 1})])
    agent.run("x")
    error = agent.memory.steps[1].error
    assert isinstance(error, AgentToolCallError)
    assert "not valid JSON" in str(error) and '{"a": 1, "b": ' in str(error)


def test_bad_argument_type_is_a_tool_call_error(tools):
    agent = make_agent(tools, [call("add", {"a": "two", "b": 3}), call("final_answer", {"answer": 1})])
    agent.run("x")
    error = agent.memory.steps[1].error
    assert isinstance(error, AgentToolCallError) and "'a'" in str(error)


def test_tool_exception_is_a_tool_execution_error(tools):
    agent = make_agent(
        tools, [call("lookup_capital", {"country": "Atlantis"}), call("final_answer", {"answer": 1})]
    )
    agent.run("x")
    error = agent.memory.steps[1].error
    assert isinstance(error, AgentToolExecutionError)
    assert "Atlantis" in str(error) and "lookup_capital" in str(error)


def test_text_without_tool_call_is_a_parsing_error_then_json_in_text_works(tools):
    agent = make_agent(
        tools,
        [
            "I think the answer is 4.",
            'Let me answer. {"name": "final_answer", "arguments": {"answer": "4"}}',
        ],
    )
    assert agent.run("2+2?") == "4"
    assert isinstance(agent.memory.steps[1].error, AgentParsingError)


def test_final_answer_with_other_calls_is_an_error(tools):
    agent = make_agent(
        tools,
        [
            ScriptedModel.tool_calls([("add", {"a": 1, "b": 2}), ("final_answer", {"answer": 3})]),
            call("final_answer", {"answer": 3}),
        ],
    )
    assert agent.run("x") == 3
    assert "final_answer alone" in str(agent.memory.steps[1].error)


def test_parallel_tool_calls_run_concurrently_bounded_by_max_tool_threads():
    active, peak = [0], [0]
    lock = threading.Lock()

    @tool
    def slow(n: int) -> int:
        """Wait a little and echo n.

        Args:
            n: a number.
        """
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return n

    batch = ScriptedModel.tool_calls([("slow", {"n": i}) for i in range(4)])
    agent = make_agent([slow], [batch, call("final_answer", {"answer": "x"})], max_tool_threads=2)
    events = list(agent.run("x", stream=True))
    outputs = [e for e in events if isinstance(e, ToolOutput)]
    assert [o.output for o in outputs[:4]] == [0, 1, 2, 3]
    assert peak[0] == 2
    assert "Result of slow" in agent.memory.steps[1].observations


def test_state_variable_named_in_an_argument_is_replaced(tools):
    agent = make_agent(
        tools, [call("shout", {"text": "greeting"}), call("final_answer", {"answer": "greeting"})]
    )
    result = agent.run("shout it", additional_args={"greeting": "hello"})
    assert agent.memory.steps[1].observations == "HELLO!"
    assert result == "hello"
    assert "greeting" in agent.memory.steps[0].task


def test_final_answer_checks_get_answer_memory_and_agent(tools):
    seen = []

    def must_be_int(answer, memory, agent=None):
        seen.append((answer, memory is not None, agent is not None))
        return isinstance(answer, int)

    def doc_style(final_answer, agent_memory=None):  # the docs' two-argument form
        return True

    agent = make_agent(
        tools,
        [call("final_answer", {"answer": "five"}), call("final_answer", {"answer": 5})],
        final_answer_checks=[must_be_int, doc_style],
    )
    assert agent.run("x") == 5
    assert seen == [("five", True, True), (5, True, True)]
    assert "must_be_int" in str(agent.memory.steps[1].error)


def test_max_steps_asks_model_for_final_answer_and_reports_state(tools):
    replies = [call("add", {"a": 1, "b": 1})] * 2 + ["Final: 2"]
    agent = make_agent(tools, replies, max_steps=2)
    result = agent.run("x", return_full_result=True)
    assert isinstance(result, RunResult)
    assert result.state == "max_steps_error" and result.output == "Final: 2"
    last = agent.memory.steps[-1]
    assert isinstance(last.error, AgentMaxStepsError)
    assert len(result.steps) == 4  # task + 2 actions + the max-steps step
    assert result.token_usage.input_tokens > 0


def test_return_full_result_success(tools):
    agent = make_agent(tools, [call("final_answer", {"answer": "a"})], return_full_result=True)
    result = agent.run("x")
    assert result.state == "success" and result.output == "a"
    assert result.timing.duration is not None and result.timing.duration >= 0


def test_planning_interval_plans_first_and_every_interval(tools):
    replies = [
        "1. add\n2. answer\n<end_plan>",
        call("add", {"a": 1, "b": 2}),
        call("add", {"a": 3, "b": 4}),
        "Updated: answer now<end_plan> junk",
        call("final_answer", {"answer": 7}),
    ]
    agent = make_agent(tools, replies, planning_interval=2, max_steps=5)
    events = list(agent.run("x", stream=True))
    plans = [e for e in events if isinstance(e, PlanningStep)]
    assert [p.plan for p in plans] == ["1. add\n2. answer", "Updated: answer now"]
    update_prompt = agent.model.calls[3].messages[-1].text
    assert "3 steps left" in update_prompt  # max_steps=5, planning before step 3 (steps 3, 4, 5 left)


def test_step_callbacks_list_and_dict(tools):
    seen = []
    agent = make_agent(
        tools,
        ["plan<end_plan>", call("final_answer", {"answer": 1})],
        planning_interval=5,
        step_callbacks={
            PlanningStep: lambda s: seen.append("plan"),
            ActionStep: [lambda s, agent: seen.append(agent)],
        },
    )
    agent.run("x")
    assert seen == ["plan", agent]
    listed = []
    agent2 = make_agent(tools, [call("final_answer", {"answer": 1})], step_callbacks=[listed.append])
    agent2.run("x")
    assert len(listed) == 1 and isinstance(listed[0], ActionStep)


def test_interrupt_stops_after_current_step(tools):
    def stop(step, agent):
        agent.interrupt()

    # one reply: a second step would call the model again and fail with another error
    agent = make_agent(tools, [call("add", {"a": 1, "b": 1})], step_callbacks=[stop])
    with pytest.raises(AgentError, match="interrupted"):
        agent.run("x")
    assert len([s for s in agent.memory.steps if isinstance(s, ActionStep)]) == 1


def test_reset_false_continues_the_conversation(tools):
    agent = make_agent(tools, [call("final_answer", {"answer": "A"}), call("final_answer", {"answer": "B"})])
    agent.run("first")
    agent.run("second", reset=False)
    tasks = [s.task for s in agent.memory.steps if isinstance(s, TaskStep)]
    assert tasks == ["first", "second"]
    assert "first" in " ".join(m.text for m in agent.model.calls[1].messages)


def test_generation_error_keeps_memory(tools):
    agent = make_agent(tools, [call("add", {"a": 1, "b": 1}), RuntimeError("server exploded")])
    with pytest.raises(AgentGenerationError, match="server exploded"):
        agent.run("x")
    actions = [s for s in agent.memory.steps if isinstance(s, ActionStep)]
    assert actions[0].observations == "2"
    assert isinstance(actions[1].error, AgentGenerationError)


def test_exhausted_script_fails_loudly(tools):
    agent = make_agent(tools, [])
    with pytest.raises(AgentGenerationError) as info:
        agent.run("x")
    assert isinstance(info.value.__cause__, UnexpectedModelCall)


def test_step_by_step_like_the_memory_tutorial(tools):
    agent = make_agent(tools, [call("add", {"a": 20, "b": 1}), call("final_answer", {"answer": 21})])
    agent.memory.steps.append(TaskStep(task="What is 20+1?", task_images=[]))
    final_answer, step_number = None, 1
    while final_answer is None and step_number <= 10:
        memory_step = ActionStep(step_number=step_number, observations_images=[])
        final_answer = agent.step(memory_step)
        agent.memory.steps.append(memory_step)
        step_number += 1
    assert final_answer == 21 and step_number == 3
    assert agent.memory.steps[1].observations == "21"


def test_write_memory_to_messages_summary_mode_drops_model_outputs(tools):
    agent = make_agent(
        tools, [call("add", {"a": 1, "b": 1}, content="thinking hard"), call("final_answer", {"answer": 2})]
    )
    agent.run("x")
    full = agent.write_memory_to_messages()
    summary = agent.write_memory_to_messages(summary_mode=True)
    assert full[0].role == "system" and summary[0].role != "system"
    assert any("thinking hard" in m.text for m in full)
    assert not any("thinking hard" in m.text for m in summary)


def test_prompt_templates_and_instructions_reach_the_model(tools):
    agent = make_agent(
        tools, [call("final_answer", {"answer": 1})], instructions="Always talk like a pirate."
    )
    agent.prompt_templates["system_prompt"] += "\nHere you go!"
    agent.run("x")
    system = agent.model.calls[0].messages[0].text
    assert "Always talk like a pirate." in system and system.endswith("Here you go!")
    assert "lookup_capital" in system


def test_unknown_prompt_variable_is_a_clear_error(tools):
    agent = make_agent(tools, [])
    agent.prompt_templates["system_prompt"] = "Hello {{ nonexistent_thing }}"
    with pytest.raises(AgentError, match="nonexistent_thing"):
        agent.run("x")


def test_logger_prints_run_panel_steps_and_footer(tools, quiet_logger):
    agent = ToolCallingAgent(
        tools=tools,
        model=ScriptedModel([call("add", {"a": 1, "b": 1}), call("final_answer", {"answer": 2})]),
        logger=quiet_logger,
    )
    agent.run("Add one and one")
    out = quiet_logger.buffer.getvalue()
    assert "New run" in out and "Add one and one" in out and "scripted-model" in out
    assert "Step 1" in out and "Step 2" in out
    assert "Calling tool: 'add'" in out
    assert "Input tokens:" in out and "Duration" in out
    assert "Final answer:" in out


def test_log_level_off_prints_nothing(tools, capsys):
    agent = make_agent(tools, [call("final_answer", {"answer": 1})], verbosity_level=LogLevel.OFF)
    agent.run("x")
    agent.replay()
    assert capsys.readouterr().out == ""


def test_logs_replay_visualize(tools, quiet_logger):
    agent = ToolCallingAgent(
        tools=tools, model=ScriptedModel([call("final_answer", {"answer": 1})]), logger=quiet_logger
    )
    agent.run("x")
    assert agent.logs[0]["system_prompt"] == agent.system_prompt
    assert agent.logs[2]["is_final_answer"] is True
    agent.replay(detailed=True)
    agent.visualize()
    out = quiet_logger.buffer.getvalue()
    assert "Replaying" in out and "lookup_capital" in out


def test_memory_steps_are_json_safe(tools):
    import json

    agent = make_agent(tools, [call("add", {"a": 1, "b": 1}), call("final_answer", {"answer": 2})])
    agent.run("x")
    json.dumps(agent.memory.get_full_steps())
    succinct = agent.memory.get_succinct_steps()
    assert all("model_input_messages" not in s for s in succinct)


def test_images_go_into_task_step(tools):
    agent = make_agent(tools, [call("final_answer", {"answer": 1})])
    agent.run("look", images=["fake-image"])
    assert agent.memory.steps[0].task_images == ["fake-image"]
    content = agent.model.calls[0].messages[1].content
    assert {"type": "image", "image": "fake-image"} in content


def test_bare_string_arguments_go_to_the_single_argument(tools):
    agent = make_agent(tools, [call("shout", "hello there"), call("final_answer", {"answer": "ok"})])
    assert agent.run("x") == "ok"
    step = agent.memory.steps[1]
    assert step.error is None
    assert "HELLO THERE" in step.observations


def test_managed_agent_called_with_a_bare_task(tools):
    worker = make_agent(
        tools,
        [call("final_answer", {"answer": "Paris is the capital"})],
        name="geographer",
        description="Knows capitals.",
    )
    manager = make_agent(
        [],
        [call("geographer", "What is the capital of France?"), call("final_answer", {"answer": "done"})],
        managed_agents=[worker],
    )
    assert manager.run("ask the geographer") == "done"
    assert manager.memory.steps[1].error is None
    assert "What is the capital of France?" in worker.memory.steps[0].task


def test_bare_string_to_a_tool_with_several_required_arguments_is_explained(tools):
    agent = make_agent(tools, [call("add", "two and three"), call("final_answer", {"answer": 1})])
    agent.run("x")
    error = agent.memory.steps[1].error
    assert isinstance(error, AgentToolCallError)
    assert "are not named" in str(error) and "'two and three'" in str(error) and '{"a": ...}' in str(error)
