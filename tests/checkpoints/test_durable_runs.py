"""Durable runs in one process: what is saved and when (sync, stream, async), run ids,
resuming (finished, failed, interrupted, typed runs), errors, and the hooks for features
that pause a run mid-step."""

from __future__ import annotations

import asyncio
import io
import json
import re

import pytest
from rich.console import Console

from smolagents import (
    ActionStep,
    AgentGenerationError,
    AgentLogger,
    CheckpointError,
    CheckpointNotFoundError,
    CodeAgent,
    FinalAnswerStep,
    LogLevel,
    PlanningStep,
    TaskStep,
    ToolCallingAgent,
    UserError,
    tool,
)
from smolagents.checkpoints import DirectoryCheckpointStore, SQLiteCheckpointStore
from smolagents.memory import ActionStep as MemoryActionStep
from smolagents.testing import ScriptedModel


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: first number
        b: second number
    """
    return a + b


def code(body: str) -> str:
    return f"Thought: next.\n<code>\n{body}\n</code>"


def code_agent(replies, allow_unused=False, **kwargs):
    kwargs.setdefault("verbosity_level", LogLevel.OFF)
    model = ScriptedModel(replies, allow_unused_replies=allow_unused)
    return CodeAgent(tools=[add], model=model, **kwargs)


def tools_agent(replies, **kwargs):
    kwargs.setdefault("verbosity_level", LogLevel.OFF)
    return ToolCallingAgent(tools=[add], model=ScriptedModel(replies), **kwargs)


@pytest.fixture
def store(tmp_path):
    with SQLiteCheckpointStore(tmp_path / "runs.db") as s:
        yield s


def saved_steps(store, run_id):
    """(status, saved step number) when called, as the model sees it."""
    record = store.load(run_id)
    return record["status"], record["step_number"], [e["kind"] for e in record["memory"]]


def probe(store, run_id, seen, reply):
    """A scripted reply that first records what the checkpoint holds at this model call."""

    def answer(messages, **kwargs):
        seen.append(saved_steps(store, run_id))
        return reply

    return answer


# ---------------------------------------------------------------------------- run ids
def test_run_id_is_generated_and_reported_in_the_result_and_the_logs(store):
    output = io.StringIO()
    logger = AgentLogger(level=LogLevel.INFO, console=Console(file=output, width=200))
    agent = CodeAgent(tools=[], model=ScriptedModel([code("final_answer(1)")]), logger=logger)
    result = agent.run("one", checkpoint=store, return_full_result=True)
    assert re.fullmatch(r"[0-9a-f]{32}", result.run_id)
    assert f"Run id: {result.run_id}" in output.getvalue()
    assert result.dict()["run_id"] == result.run_id
    assert store.list_runs() == [result.run_id]
    plain = CodeAgent(tools=[], model=ScriptedModel([code("final_answer(2)")]), verbosity_level=LogLevel.OFF)
    other = plain.run("two", return_full_result=True)  # without a store: an id all the same
    assert re.fullmatch(r"[0-9a-f]{32}", other.run_id) and other.run_id != result.run_id


def test_a_given_run_id_is_used_and_never_overwrites_a_checkpoint(store):
    result = code_agent([code("final_answer(1)")]).run(
        "t", checkpoint=store, run_id="job-7", return_full_result=True
    )
    assert result.run_id == "job-7" and store.load("job-7")["status"] == "finished"
    with pytest.raises(UserError, match=r"already has a checkpoint.*agent.resume\('job-7'"):
        code_agent([]).run("t", checkpoint=store, run_id="job-7")
    with pytest.raises(UserError, match="run_id must be"):
        code_agent([]).run("t", checkpoint=store, run_id="../x")
    with pytest.raises(UserError, match="checkpoint must be a CheckpointStore"):
        code_agent([]).run("t", checkpoint=42)


def test_a_path_means_an_sqlite_store(tmp_path):
    path = tmp_path / "by-path.db"
    result = code_agent([code("final_answer(3)")]).run("t", checkpoint=str(path), return_full_result=True)
    assert SQLiteCheckpointStore(path).load(result.run_id)["status"] == "finished"


# ---------------------------------------------------------------------------- saving
def _three_steps(store, seen, run_id):
    return [
        probe(store, run_id, seen, code("x = 1")),
        probe(store, run_id, seen, code("x = x + 1")),
        probe(store, run_id, seen, code("final_answer(x)")),
    ]


def _check_saved_each_step(store, seen, run_id):
    assert seen == [
        ("running", 0, ["task"]),  # saved before the first model call
        ("running", 1, ["task", "action"]),
        ("running", 2, ["task", "action", "action"]),
    ]
    record = store.load(run_id)
    assert record["status"] == "finished" and record["step_number"] == 3
    assert record["result"]["output"] == {"value": 2} and record["result"]["state"] == "success"
    assert record["token_usage"]["total_tokens"] > 0


def test_run_saves_after_every_step(store):
    seen: list = []
    assert code_agent(_three_steps(store, seen, "sync")).run("t", checkpoint=store, run_id="sync") == 2
    _check_saved_each_step(store, seen, "sync")


def test_stream_saves_after_every_step(store):
    seen: list = []
    events = list(
        code_agent(_three_steps(store, seen, "s")).run("t", stream=True, checkpoint=store, run_id="s")
    )
    assert isinstance(events[-1], FinalAnswerStep)
    _check_saved_each_step(store, seen, "s")


def test_arun_saves_after_every_step(store):
    seen: list = []
    agent = code_agent(_three_steps(store, seen, "a"))
    assert asyncio.run(agent.arun("t", checkpoint=store, run_id="a")) == 2
    _check_saved_each_step(store, seen, "a")


def test_async_stream_saves_after_every_step(store):
    seen: list = []
    agent = code_agent(_three_steps(store, seen, "as"))

    async def consume():
        return [e async for e in agent.arun("t", stream=True, checkpoint=store, run_id="as")]

    assert isinstance(asyncio.run(consume())[-1], FinalAnswerStep)
    _check_saved_each_step(store, seen, "as")


def test_a_failed_run_is_saved_and_resumes_after_its_last_step(store):
    agent = tools_agent(
        [ScriptedModel.tool_call("add", {"a": 1, "b": 2}, id="a1"), ConnectionError("provider down")]
    )
    with pytest.raises(AgentGenerationError):
        agent.run("t", checkpoint=store, run_id="f")
    record = store.load("f")
    assert record["status"] == "failed" and "provider down" in record["error"]["message"]
    assert record["step_number"] == 2  # the failed step is in memory, with its error
    resumed = tools_agent([ScriptedModel.tool_call("final_answer", {"answer": "3"}, id="a2")])
    result = resumed.resume("f", checkpoint=store, return_full_result=True)
    assert result.output == "3" and result.state == "success"
    assert [s.get("step_number") for s in result.steps] == [None, 1, 2, 3]
    assert "provider down" in result.steps[2]["error"]["message"]


# ---------------------------------------------------------------------------- resuming
def test_resume_an_interrupted_stream_continues_at_the_next_step_and_keeps_the_plan(store):
    replies = [
        "Thought: plan.\n<end_plan>",
        code("x = 20"),
        code("x = x + 1"),
        "Thought: new plan.\n<end_plan>",
    ]
    first = code_agent(replies, planning_interval=2)
    events = first.run("t", stream=True, checkpoint=store, run_id="p")
    plans = 0
    for event in events:  # the consumer stops right after the second plan was recorded
        plans += isinstance(event, PlanningStep)
        if plans == 2:
            break
    events.close()
    assert saved_steps(store, "p") == ("running", 2, ["task", "planning", "action", "action", "planning"])
    second = code_agent([code("final_answer(x + 21)")], planning_interval=2)  # no new plan is asked for
    resumed = list(second.resume("p", checkpoint=store, stream=True))
    assert isinstance(resumed[-1], FinalAnswerStep) and resumed[-1].output == 42
    kinds = [type(s) for s in second.memory.steps]
    assert kinds == [TaskStep, PlanningStep, ActionStep, ActionStep, PlanningStep, ActionStep]
    assert second.memory.steps[-1].step_number == 3


def test_aresume(store):
    events = code_agent([code("x = 5"), code("final_answer(x)")], allow_unused=True).run(
        "t", stream=True, checkpoint=store, run_id="r"
    )
    next(e for e in events if isinstance(e, ActionStep))
    events.close()
    assert asyncio.run(code_agent([code("final_answer(x * 2)")]).aresume("r", checkpoint=store)) == 10


def test_resume_a_finished_run_returns_its_result_without_calling_the_model(store):
    code_agent([code("final_answer('done')")]).run("t", checkpoint=store, run_id="fin")
    again = code_agent([])  # any model call would fail: the script is empty
    assert again.resume("fin", checkpoint=store) == "done"
    full = again.resume("fin", checkpoint=store, return_full_result=True)
    assert full.output == "done" and full.run_id == "fin" and full.state == "success"
    assert [s.get("step_number") for s in full.steps] == [None, 1]
    assert [e.output for e in again.resume("fin", checkpoint=store, stream=True)] == ["done"]


def test_unknown_run_id_lists_how_to_find_ids(store):
    code_agent([code("final_answer(1)")]).run("t", checkpoint=store, run_id="known")
    with pytest.raises(CheckpointNotFoundError) as info:
        code_agent([]).resume("unknown", checkpoint=store)
    assert "'known'" in str(info.value) and "list_runs()" in str(info.value)


def test_corrupt_and_newer_checkpoints_are_errors_never_a_fresh_start(tmp_path):
    store = DirectoryCheckpointStore(tmp_path / "runs")
    events = code_agent([code("x = 1")]).run("t", stream=True, checkpoint=store, run_id="c")
    next(e for e in events if isinstance(e, ActionStep))
    events.close()
    good = store.read("c")
    store.write("c", good[: len(good) // 2])  # a torn write
    agent = code_agent([])  # a fresh start would call the model: the empty script fails then
    with pytest.raises(CheckpointError, match=r"run 'c' .* is corrupt: it is not valid JSON"):
        agent.resume("c", checkpoint=store)
    record = json.loads(good)
    record["memory"][1]["data"].pop("step_number")
    store.write("c", json.dumps(record))
    with pytest.raises(CheckpointError, match=r"corrupt: KeyError: 'step_number'"):
        agent.resume("c", checkpoint=store)
    store.write("c", json.dumps({**json.loads(good), "version": 99}))
    with pytest.raises(CheckpointError, match="version 99, by a newer smolagents"):
        agent.resume("c", checkpoint=store)
    assert agent.memory.steps == [] and agent.model.calls == []


def test_resume_needs_an_agent_like_the_one_that_started_the_run(store):
    events = code_agent([code("x = 1")]).run("t", stream=True, checkpoint=store, run_id="w")
    next(e for e in events if isinstance(e, ActionStep))
    events.close()
    with pytest.raises(UserError, match="started by a CodeAgent"):
        tools_agent([]).resume("w", checkpoint=store)
    with pytest.raises(UserError, match=r"tools \['add'\]"):
        CodeAgent(tools=[], model=ScriptedModel([]), verbosity_level=LogLevel.OFF).resume(
            "w", checkpoint=store
        )
    with pytest.raises(UserError, match="needs the store"):
        code_agent([]).resume("w", checkpoint=None)  # type: ignore[arg-type]


def test_variables_that_cannot_be_saved_are_listed_logged_and_noted_for_the_model(store):
    first = code_agent(
        [code("import math\nx = 2\ndef double(v):\n    return 2 * v\nclass Box:\n    pass\nbox = Box()")]
    )
    events = first.run("t", stream=True, checkpoint=store, run_id="v", additional_args={"limit": 10})
    next(e for e in events if isinstance(e, ActionStep))
    events.close()
    state = store.load("v")["state"]
    assert state["agent"] == {"limit": 10} and state["executor"] == {"x": 2}
    assert state["imports"] == {"math": "math"}
    lost = {(item["name"], item["type"]) for item in state["unencodable"]}
    assert lost == {("double", "function"), ("Box", "type"), ("box", "Box")}

    output = io.StringIO()
    logger = AgentLogger(level=LogLevel.INFO, console=Console(file=output, width=300))
    second = CodeAgent(
        tools=[add],
        model=ScriptedModel([code("final_answer([x, limit, math.floor(2.5), 'double' in dir()])")]),
        logger=logger,
    )
    assert second.resume("v", checkpoint=store) == [2, 10, 2, False]
    note = "could not be saved and are no longer defined: double (function), Box (type), box (Box)"
    assert note in second.model.calls[0].messages[-1].content[0]["text"]  # the model sees it
    assert "Not restored (could not be saved): double (function)" in output.getvalue()
    assert second._checkpoint_resume.lost_variables == ["double", "Box", "box"]


def test_typed_runs_resume_typed(store):
    from pydantic import BaseModel

    class Answer(BaseModel):
        value: int

    events = code_agent([code("x = 41")]).run(
        "t", stream=True, checkpoint=store, run_id="ty", output_type=Answer
    )
    next(e for e in events if isinstance(e, ActionStep))
    events.close()
    assert store.load("ty")["run"]["output_type"] == "Answer"
    typed = code_agent([code("final_answer({'value': x + 1})")]).resume(
        "ty", checkpoint=store, output_type=Answer
    )
    assert typed == Answer(value=42)
    # without the type, the saved schema still checks the answer; it comes back as data
    assert code_agent([]).resume("ty", checkpoint=store) == {"value": 42}
    assert code_agent([]).resume("ty", checkpoint=store, output_type=Answer) == Answer(value=42)


# ---------------------------------------------------------------------------- hooks for paused runs
def test_save_checkpoint_mid_step_keeps_pending_verbatim_until_replaced(store):
    holder: dict = {}

    @tool
    def ask(question: str) -> str:
        """Ask someone.

        Args:
            question: the question
        """
        agent = holder["agent"]
        step = MemoryActionStep(step_number=agent.step_number, model_output="asking")
        assert agent._save_checkpoint(
            pending={"request": {"id": "q1", "question": question}}, current_step=step
        )
        mid = store.load("h")
        holder["mid"] = (mid["pending"], mid["current_step"]["model_output"], mid["step_number"])
        return "yes"

    agent = ToolCallingAgent(
        tools=[ask],
        model=ScriptedModel([ScriptedModel.tool_call("ask", {"question": "ok?"}, id="q")]),
        verbosity_level=LogLevel.OFF,
        max_steps=3,
    )
    holder["agent"] = agent
    events = agent.run("t", stream=True, checkpoint=store, run_id="h")
    next(e for e in events if isinstance(e, ActionStep))
    events.close()
    assert holder["mid"] == ({"request": {"id": "q1", "question": "ok?"}}, "asking", 0)
    after = store.load("h")
    assert after["pending"] == {"request": {"id": "q1", "question": "ok?"}}  # kept by the step's save
    assert after["current_step"] is None and after["step_number"] == 1

    resumed = ToolCallingAgent(
        tools=[ask],
        model=ScriptedModel([ScriptedModel.tool_call("final_answer", {"answer": "fine"}, id="f")]),
        verbosity_level=LogLevel.OFF,
    )
    holder["agent"] = resumed
    assert resumed.resume("h", checkpoint=store) == "fine"
    assert resumed._checkpoint_resume.pending == {"request": {"id": "q1", "question": "ok?"}}
    assert code_agent([])._save_checkpoint(pending={}) is False  # no run, no store: nothing saved


def test_memory_records_round_trip():
    steps = tools_agent(
        [
            "Thought: plan\n<end_plan>",
            ScriptedModel.tool_call("add", {"a": 1, "b": "x"}, id="e"),
            ScriptedModel.tool_call("final_answer", {"answer": "2"}, id="f"),
        ],
        planning_interval=5,
    )
    steps.run("t")
    for step in steps.memory.steps:
        data = step.dict()
        assert type(step).from_dict(json.loads(json.dumps(data))).dict() == data
    assert (
        type(steps.memory.steps[2].error).__name__
        == type(MemoryActionStep.from_dict(steps.memory.steps[2].dict()).error).__name__
    )


def test_an_exception_ending_the_run_is_saved_as_failed_unless_it_is_a_pause(store):
    class Pause(Exception):
        checkpoint_status = "running"

    def stop_after_first_step(step, agent):
        if isinstance(step, ActionStep):
            raise Pause("waiting for someone")

    agent = code_agent([code("x = 1")], step_callbacks=[stop_after_first_step])
    with pytest.raises(Pause):
        agent.run("t", checkpoint=store, run_id="pause")
    record = store.load("pause")
    assert record["status"] == "running" and record["error"] == {
        "type": "Pause",
        "message": "waiting for someone",
    }
    assert record["step_number"] == 1
    assert code_agent([code("final_answer(x + 1)")]).resume("pause", checkpoint=store) == 2

    def fail(step, agent):
        if isinstance(step, ActionStep):
            raise RuntimeError("callback bug")

    with pytest.raises(RuntimeError):
        code_agent([code("x = 1")], step_callbacks=[fail]).run("t", checkpoint=store, run_id="bug")
    assert store.load("bug")["status"] == "failed"


def test_a_continued_conversation_resumes_at_its_own_next_step(store):
    agent = code_agent([code("a = 1"), code("b = 2"), code("final_answer(a + b)"), code("c = 10")])
    assert agent.run("first task") == 3  # three steps
    events = agent.run("second task", reset=False, stream=True, checkpoint=store, run_id="again")
    next(e for e in events if isinstance(e, ActionStep))
    events.close()
    assert store.load("again")["step_number"] == 1  # this run's steps, not the first run's
    resumed = code_agent([code("final_answer(a + b + c)")])
    assert resumed.resume("again", checkpoint=store) == 13
    numbers = [s.step_number for s in resumed.memory.steps if isinstance(s, ActionStep)]
    assert numbers == [1, 2, 3, 1, 2]


def test_an_executor_that_cannot_report_its_variables_is_listed_and_the_model_told(store):
    with code_agent([code("x = 1")], executor_type="process") as first:
        events = first.run("t", stream=True, checkpoint=store, run_id="proc")
        next(e for e in events if isinstance(e, ActionStep))
        events.close()
    lost = store.load("proc")["state"]["unencodable"]
    assert lost == [
        {
            "name": "*",
            "type": "ProcessExecutor",
            "where": "executor",
            "reason": "this executor does not report its variables",
        }
    ]
    with code_agent([code("final_answer('x' in dir())")], executor_type="process") as second:
        assert second.resume("proc", checkpoint=store) is False
        assert "the variables of earlier code (the executor cannot report them)" in str(
            second.model.calls[0].messages
        )
