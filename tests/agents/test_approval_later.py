"""Approvals answered later: a run with a checkpoint store pauses at a call that needs
approval; another process answers; the run resumes (in yet another process) and the
approved call runs (once), or the denial becomes what the model sees. Both agent kinds."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from approval_script import TASK, make_agent, replies

from smolagents import ActionStep, ApprovalRequest, FinalAnswerStep, RunResult, UserError
from smolagents.checkpoints import SQLiteCheckpointStore

SCRIPT = str(Path(__file__).with_name("approval_script.py"))
KINDS = ["tool_calling", "code"]


def child(*args: object) -> str:
    done = subprocess.run(
        [sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip().splitlines()[-1]


def deleted(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def first_action(agent) -> ActionStep:
    return next(step for step in agent.memory.steps if isinstance(step, ActionStep))


@pytest.fixture
def store(tmp_path):
    with SQLiteCheckpointStore(tmp_path / "runs.db") as store:
        yield store


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("answer", ["yes", "no"])
def test_a_paused_run_is_answered_in_another_process_and_resumed_in_a_third(kind, answer, tmp_path, store):
    log = tmp_path / "deleted.txt"
    paused = json.loads(child("run", kind, store.path, log))  # the process then exits
    assert paused["state"] == "awaiting_approval" and deleted(log) == []
    (request,) = paused["pending_approvals"]
    assert (request["tool_name"], request["arguments"], request["step_number"]) == (
        "delete_file",
        {"path": "a.txt"},
        1,
    )
    assert request["run_id"] == paused["run_id"]

    assert child("approve", kind, store.path, request["id"], answer, "not today") == "answered"
    saved = store.load(paused["run_id"])["pending"]["approval"]["ledger"]
    assert saved[0]["decision"] == {"approved": answer == "yes", "reason": "not today"}

    # this test's process resumes: the model is not asked for step 1 again, only for step 2
    agent = make_agent(kind, replies(kind)[1:], log)
    result = agent.resume(paused["run_id"], checkpoint=store, return_full_result=True)
    assert (result.state, result.output, result.run_id) == ("success", "done", paused["run_id"])
    assert len(agent.model.calls) == 1
    step = first_action(agent)
    if answer == "yes":
        assert deleted(log) == ["a.txt"]  # once, by the resumed run
        assert step.error is None and "deleted a.txt" in step.observations
    else:
        assert deleted(log) == []
        shown = step.observations if kind == "tool_calling" else str(step.error)
        assert "approval was denied: not today" in shown
    if kind == "code":  # the step's code ran again from its start: what came before the call too
        assert step.observations.startswith("Execution logs:\nbefore\n")
    assert store.load(paused["run_id"])["pending"] == {}  # answered and used


@pytest.mark.parametrize("kind", KINDS)
def test_a_paused_run_resumed_before_an_answer_pauses_again_at_once(kind, tmp_path, store):
    log = tmp_path / "deleted.txt"
    first = make_agent(kind, replies(kind)[:1], log).run(TASK, checkpoint=store)
    assert isinstance(first, RunResult) and first.state == "awaiting_approval"  # without return_full_result

    agent = make_agent(kind, [], log)
    again = agent.resume(first.run_id, checkpoint=store)
    assert again.state == "awaiting_approval"
    assert [r.id for r in again.pending_approvals] == [r.id for r in first.pending_approvals]
    assert agent.model.calls == [] and deleted(log) == []
    assert agent.pending_approvals == again.pending_approvals

    agent.approve(again.pending_approvals[0].id, True)  # this agent's own paused run: no store needed
    final = make_agent(kind, replies(kind)[1:], log).resume(first.run_id, checkpoint=store)
    assert final == "done" and deleted(log) == ["a.txt"]


def test_code_that_pauses_twice_makes_an_approved_call_once(tmp_path, store):
    log = tmp_path / "deleted.txt"
    two_calls = (
        "Thought: both.\n<code>\nx = delete_file('a.txt')\ny = delete_file('b.txt')\nprint(x, y)\n</code>"
    )
    first = make_agent("code", [two_calls], log).run(TASK, checkpoint=store)
    make_agent("code", [], log).approve(first.pending_approvals[0].id, True, checkpoint=store)

    second = make_agent("code", [], log).resume(first.run_id, checkpoint=store)
    assert second.state == "awaiting_approval" and deleted(log) == ["a.txt"]
    assert second.pending_approvals[0].arguments == {"path": "b.txt"}
    make_agent("code", [], log).approve(
        second.pending_approvals[0].id, True, checkpoint=store, run_id=first.run_id
    )

    agent = make_agent("code", replies("code")[1:], log)
    assert agent.resume(first.run_id, checkpoint=store) == "done"
    assert deleted(log) == ["a.txt", "b.txt"]  # a.txt was not deleted a second time
    assert "deleted a.txt deleted b.txt" in first_action(agent).observations


@pytest.mark.parametrize("kind", KINDS)
def test_a_stream_with_a_store_goes_on_when_answered_before_the_next_event(kind, tmp_path, store):
    log = tmp_path / "deleted.txt"
    agent = make_agent(kind, replies(kind), log)
    events = []
    for event in agent.run(TASK, stream=True, checkpoint=store):
        events.append(event)
        if isinstance(event, ApprovalRequest):
            agent.approve(event.id, True)
    assert isinstance(events[-1], FinalAnswerStep) and deleted(log) == ["a.txt"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_stream_with_a_store_pauses_when_the_consumer_does_not_answer(kind, tmp_path, store):
    log = tmp_path / "deleted.txt"
    agent = make_agent(kind, replies(kind)[:1], log)
    events = list(agent.run(TASK, stream=True, checkpoint=store))  # no answer: no wait either
    assert isinstance(events[-1], ApprovalRequest) and deleted(log) == []
    assert agent.pending_approvals == [events[-1]]
    agent.approve(events[-1].id, True)

    resumed = make_agent(kind, replies(kind)[1:], log)
    rest = list(resumed.resume(events[-1].run_id, checkpoint=store, stream=True))
    assert isinstance(rest[-1], FinalAnswerStep) and deleted(log) == ["a.txt"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_async_stream_with_a_store_pauses_or_goes_on(kind, tmp_path, store):
    log = tmp_path / "deleted.txt"

    async def consume(agent, answer: bool):
        events = []
        async for event in agent.arun(TASK, stream=True, checkpoint=store):
            events.append(event)
            if answer and isinstance(event, ApprovalRequest):
                agent.approve(event.id, True)
        return events

    goes_on = asyncio.run(consume(make_agent(kind, replies(kind), log), answer=True))
    assert isinstance(goes_on[-1], FinalAnswerStep) and deleted(log) == ["a.txt"]
    paused = asyncio.run(consume(make_agent(kind, replies(kind)[:1], log), answer=False))
    assert isinstance(paused[-1], ApprovalRequest) and deleted(log) == ["a.txt"]


def test_answering_a_paused_run_wrongly_is_a_clear_error(tmp_path, store):
    log = tmp_path / "deleted.txt"
    paused = make_agent("tool_calling", replies("tool_calling")[:1], log).run(TASK, checkpoint=store)
    other = make_agent("tool_calling", [], log)
    request_id = paused.pending_approvals[0].id
    with pytest.raises(UserError, match=f"Unknown approval request id 'approval_nope'.*\\['{request_id}'\\]"):
        other.approve("approval_nope", True, checkpoint=store)
    other.approve(request_id, False, checkpoint=store, run_id=paused.run_id)
    with pytest.raises(UserError, match="already answered"):
        other.approve(request_id, True, checkpoint=store)
