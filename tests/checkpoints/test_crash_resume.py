"""A run killed with SIGKILL mid-run, resumed in another process, ends as an uninterrupted
run of the same scripted model would: same answer, same memory."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from crash_script import make_agent, scripted_replies, store_spec

SCRIPT = str(Path(__file__).with_name("crash_script.py"))
TASK = "Compute 42 the long way."


def child(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=90
    )


def comparable(steps: list[dict]) -> list[dict]:
    """Steps as JSON data without their timings (the only thing a restart changes)."""
    steps = json.loads(json.dumps(steps, default=str))
    for step in steps:
        step.pop("timing", None)
    return steps


# (agent kind, store, index of the scripted reply whose model call is killed, saved memory then)
CASES = [
    # killed while the model writes step 3's code: the plan made just before is saved and kept
    ("code", "sqlite", 4, ["task", "planning", "action", "action", "planning"]),
    # killed while the model plans before step 3: the plan is asked for again
    ("tools", "directory", 3, ["task", "planning", "action", "action"]),
    ("code", "postgres", 5, ["task", "planning", "action", "action", "planning", "action"]),
]


@pytest.mark.parametrize(("kind", "store_kind", "kill_at", "saved_kinds"), CASES)
def test_a_killed_run_resumes_in_another_process_like_an_uninterrupted_run(
    kind, store_kind, kill_at, saved_kinds, make_store
):
    store = make_store(store_kind)
    spec = store_spec(store)
    run_id = f"crash-{kind}-{store_kind}"

    killed = child("run", kind, spec, run_id, 0, kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    saved = store.load(run_id)
    assert saved["status"] == "running"
    assert [entry["kind"] for entry in saved["memory"]] == saved_kinds
    if kind == "code":  # the sandbox's variables as data, its modules by name
        assert saved["state"]["executor"]["x"] == 20 and saved["state"]["imports"] == {"math": "math"}
        assert saved["state"]["unencodable"] == []

    resumed = child("resume", kind, spec, run_id, kill_at, -1)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    result = json.loads(resumed.stdout.strip().splitlines()[-1])

    baseline = make_agent(kind, scripted_replies(kind)).run(TASK, return_full_result=True)
    assert result["output"] == str(baseline.output) == "42"
    assert result["run_id"] == run_id
    assert comparable(result["steps"]) == comparable(baseline.steps)  # kinds, model outputs, observations...
    assert store.load(run_id)["status"] == "finished"
