"""Async drivers, concurrency, and managed agents."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest

from smolagents import (
    ActionStep,
    ChatMessageStreamDelta,
    FinalAnswerStep,
    LogLevel,
    TaskStep,
    ToolCallingAgent,
    ToolOutput,
    tool,
)
from smolagents.testing import ScriptedModel

call = ScriptedModel.tool_call


@tool
async def fetch_number(key: str) -> int:
    """Fetch a number asynchronously.

    Args:
        key: which number.
    """
    await asyncio.sleep(0)
    return {"one": 1, "two": 2}[key]


def agent_with(tools, replies, **kwargs):
    kwargs.setdefault("verbosity_level", LogLevel.OFF)
    return ToolCallingAgent(tools=tools, model=ScriptedModel(replies), **kwargs)


def test_arun_with_async_tool():
    agent = agent_with(
        [fetch_number], [call("fetch_number", {"key": "two"}), call("final_answer", {"answer": 2})]
    )
    assert asyncio.run(agent.arun("get two")) == 2
    assert agent.memory.steps[1].observations == "2"


def test_sync_run_of_async_tool_works_inside_a_running_loop():
    """run() must work where an event loop is already running (Jupyter)."""
    agent = agent_with(
        [fetch_number], [call("fetch_number", {"key": "one"}), call("final_answer", {"answer": 1})]
    )

    async def notebook_cell():
        return agent.run("get one")

    assert asyncio.run(notebook_cell()) == 1
    assert agent.memory.steps[1].observations == "1"


def test_sync_tools_run_on_the_callers_thread_in_run_and_in_worker_threads_in_arun():
    threads = []

    @tool
    def where() -> str:
        """Report the current thread."""
        threads.append(threading.current_thread())
        return "ok"

    agent = agent_with([where], [call("where"), call("final_answer", {"answer": 1})] * 2)
    agent.run("x")
    asyncio.run(agent.arun("x"))
    assert threads[0] is threading.main_thread()
    assert threads[1] is not threading.main_thread()


def test_async_stream_matches_sync_stream_events():
    replies = [call("fetch_number", {"key": "one"}), call("final_answer", {"answer": 1})]
    sync_events = list(agent_with([fetch_number], list(replies)).run("x", stream=True))

    async def collect():
        return [e async for e in agent_with([fetch_number], list(replies)).arun("x", stream=True)]

    async_events = asyncio.run(collect())
    assert [type(e).__name__ for e in async_events] == [type(e).__name__ for e in sync_events]
    assert async_events[-1].output == 1


def test_async_stream_outputs_yields_deltas():
    agent = agent_with(
        [fetch_number], [call("final_answer", {"answer": 1}, content="done soon")], stream_outputs=True
    )

    async def collect():
        return [e async for e in agent.astream("x")]

    events = asyncio.run(collect())
    assert "".join(e.content or "" for e in events if isinstance(e, ChatMessageStreamDelta)) == "done soon"


def test_two_agents_interleave_in_one_event_loop():
    order: list[tuple[str, int]] = []

    def agent_named(name):
        replies = [call("fetch_number", {"key": "one"})] * 3 + [call("final_answer", {"answer": name})]
        return agent_with(
            [fetch_number], replies, name=name, step_callbacks=[lambda s: order.append((name, s.step_number))]
        )

    a, b = agent_named("a"), agent_named("b")

    async def main():
        return await asyncio.gather(a.arun("task"), b.arun("task"))

    assert asyncio.run(main()) == ["a", "b"]
    # neither agent ran ahead of the other by a whole step: they interleaved
    for k in range(1, 4):
        assert order.index(("a", k)) < order.index(("b", k + 1))
        assert order.index(("b", k)) < order.index(("a", k + 1))


# ---------------------------------------------------------------- managed agents
def echo_task_reply(messages, **kwargs):
    task_text = next(m.text for m in messages if m.role == "user" and "New task" in m.text)
    match = re.search(r"---\n(.*?)\n---", task_text, re.DOTALL)
    return call("final_answer", {"answer": f"done: {match.group(1).strip()}"})


def make_team(sub_replies, manager_replies, **sub_kwargs):
    sub = agent_with([], sub_replies, name="researcher", description="Researches things.", **sub_kwargs)
    manager = agent_with([], manager_replies, managed_agents=[sub])
    return manager, sub


def test_managed_agent_is_called_like_a_tool_and_reports():
    manager, sub = make_team(
        [echo_task_reply],
        [
            call("researcher", {"task": "find X", "additional_args": {"hint": 42}}),
            call("final_answer", {"answer": "ok"}),
        ],
    )
    assert manager.run("delegate") == "ok"
    observation = manager.memory.steps[1].observations
    assert "Final answer from team member 'researcher'" in observation and "done: find X" in observation
    assert sub.state["hint"] == 42
    assert "researcher" in manager.system_prompt and "Researches things." in manager.system_prompt


def test_failing_managed_agent_is_reported_as_failure():
    manager, _ = make_team(
        [call("final_answer", {"answer": "never"})] * 0 + ["no tool call"] * 2 + ["my guess is 12"],
        [call("researcher", {"task": "find X"}), call("final_answer", {"answer": "ok"})],
        max_steps=2,
    )
    manager.run("delegate")
    observation = manager.memory.steps[1].observations
    assert "FAILED" in observation and "my guess is 12" in observation
    assert "Final answer from team member" not in observation


def test_managed_agent_run_summary():
    manager, _ = make_team(
        [echo_task_reply],
        [call("researcher", {"task": "find X"}), call("final_answer", {"answer": "ok"})],
        provide_run_summary=True,
    )
    manager.run("delegate")
    assert "work log of team member 'researcher'" in manager.memory.steps[1].observations


def test_concurrent_calls_to_one_managed_agent_do_not_share_memory():
    manager, sub = make_team(
        [echo_task_reply, echo_task_reply],
        [
            ScriptedModel.tool_calls([("researcher", {"task": "alpha"}), ("researcher", {"task": "beta"})]),
            call("final_answer", {"answer": "ok"}),
        ],
    )
    events = list(manager.run("delegate twice", stream=True))
    outputs = [e.output for e in events if isinstance(e, ToolOutput) and e.tool_call.name == "researcher"]
    assert "done: alpha" in outputs[0] and "done: beta" in outputs[1]
    assert "beta" not in outputs[0] and "alpha" not in outputs[1]
    tasks = [s.task for s in sub.memory.steps if isinstance(s, TaskStep)]
    assert len(tasks) == 1  # the second call ran on a copy with its own memory


def test_managed_agent_under_async_manager_runs_async():
    manager, _ = make_team(
        [echo_task_reply], [call("researcher", {"task": "find Y"}), call("final_answer", {"answer": "ok"})]
    )
    assert asyncio.run(manager.arun("delegate")) == "ok"
    assert "done: find Y" in manager.memory.steps[1].observations


def test_managed_agent_needs_name_and_description():
    from smolagents import UserError

    sub = agent_with([], [], name="helper")
    with pytest.raises(UserError, match="description"):
        agent_with([], [], managed_agents=[sub])
    with pytest.raises(UserError, match="identifier"):
        agent_with([], [], name="not valid!")


def test_final_step_event_is_last_and_action_steps_complete():
    agent = agent_with([fetch_number], [call("final_answer", {"answer": 3})])
    events = list(agent.run("x", stream=True))
    assert isinstance(events[-1], FinalAnswerStep)
    step = next(e for e in events if isinstance(e, ActionStep))
    assert step.timing.end_time is not None and step.is_final_answer
