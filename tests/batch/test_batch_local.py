"""run_batch on threads and processes: 50 scripted tasks, failures, a hang, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from batch_helpers import (
    FAILING,
    HANGING,
    N_TASKS,
    check_results,
    make_agent,
    make_plain_agent,
    make_tasks,
    ran_ids,
    read_records,
)

from smolagents.batch import BatchTask, run_batch
from smolagents.errors import MissingDependencyError

HERE = Path(__file__).parent
ALL_IDS = [f"t{n:02d}" for n in range(N_TASKS)]


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_fifty_tasks_with_failures_a_hang_and_retries(backend, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    results_path = tmp_path / "results.jsonl"
    results = run_batch(
        make_tasks(markers),
        make_agent,
        backend=backend,
        max_concurrency=4,
        results_path=results_path,
        task_timeout=8,
        retries=1,
        quiet=True,
    )
    check_results(results, results_path, retries=1)
    attempts = ran_ids(markers)
    # failures and the hang are retried once, the flaky task succeeds on its retry
    for task_id in ALL_IDS:
        expected = 2 if task_id in FAILING | {HANGING, "t05"} else 1
        assert attempts.count(task_id) == expected, task_id
    if backend == "threads":
        # the hung agent was interrupted: its thread ends although its model never answers
        deadline = time.monotonic() + 60
        while any(t.name == f"smolagents-batch-{HANGING}" for t in threading.enumerate()):
            assert time.monotonic() < deadline, "the timed-out agent was never interrupted"
            time.sleep(0.1)


DRIVER = """
import sys
from batch_helpers import make_agent, make_tasks
from smolagents.batch import run_batch
run_batch(make_tasks(sys.argv[1], step_delay=0.1), make_agent, backend=sys.argv[3],
          max_concurrency=2, results_path=sys.argv[2], task_timeout=20, quiet=True)
"""


def kill_driver_midway(tmp_path: Path, backend: str, extra_env: dict[str, str] | None = None) -> set[str]:
    """Run the batch in a child process, SIGKILL it once some results are in; the ids done."""
    markers, results_path = tmp_path / "markers-1", tmp_path / "results.jsonl"
    markers.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(markers), str(results_path), backend],
        env={**env, **(extra_env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240
        while not results_path.exists() or len(results_path.read_text().splitlines()) < 8:
            assert child.poll() is None, child.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the driver recorded no results"
            time.sleep(0.1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    done = set(read_records(results_path))
    assert 8 <= len(done) < N_TASKS
    return done


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_rerun_after_the_driver_is_killed_runs_only_the_missing_ids(backend, tmp_path):
    done = kill_driver_midway(tmp_path, backend)
    results_path = tmp_path / "results.jsonl"
    with results_path.open("a") as handle:  # what a crash mid-write leaves behind
        handle.write('{"id": "t49", "task": "Comp')
    markers = tmp_path / "markers-2"
    markers.mkdir()
    results = run_batch(
        make_tasks(markers),
        make_agent,
        backend=backend,
        max_concurrency=4,
        results_path=results_path,
        task_timeout=8,
        quiet=True,
    )
    assert set(ran_ids(markers)) == set(ALL_IDS) - done
    assert {r.id for r in results if r.resumed} == done
    check_results(results, results_path, retries=0, cut_lines=1)


def test_string_tasks_get_positional_ids_and_make_agent_without_argument(tmp_path):
    results = run_batch(["a", "b", "c"], make_plain_agent, quiet=True, results_path=tmp_path / "r.jsonl")
    assert [(r.id, r.task, r.output, r.error) for r in results] == [
        ("0", "a", 42, None),
        ("1", "b", 42, None),
        ("2", "c", 42, None),
    ]
    # everything is done: a re-run builds no agent at all
    again = run_batch(
        ["a", "b", "c"], lambda: pytest.fail("ran again"), quiet=True, results_path=tmp_path / "r.jsonl"
    )
    assert [r.output for r in again] == [42, 42, 42] and all(r.resumed for r in again)


def test_additional_args_reach_the_agent():
    seen = {}

    def make(task: BatchTask):
        agent = make_plain_agent()
        original = agent.run

        def run(prompt, **kwargs):
            seen[task.id] = kwargs.get("additional_args")
            return original(prompt, **kwargs)

        agent.run = run
        return agent

    run_batch([{"id": "x", "task": "t", "additional_args": {"n": 3}}], make, quiet=True)
    assert seen == {"x": {"n": 3}}


def test_rerun_errors_runs_failed_ids_again(tmp_path):
    path = tmp_path / "r.jsonl"
    tasks = [{"id": "ok", "task": "t"}, {"id": "bad", "task": "t", "kind": "fail"}]
    first = run_batch(tasks, make_agent, results_path=path, quiet=True)
    assert [r.ok for r in first] == [True, False]
    markers = tmp_path / "m"
    markers.mkdir()
    tasks = [{**t, "marker_dir": str(markers)} for t in tasks]
    run_batch(tasks, make_agent, results_path=path, quiet=True)
    assert ran_ids(markers) == []
    run_batch(tasks, make_agent, results_path=path, quiet=True, rerun_errors=True)
    assert ran_ids(markers) == ["bad"]


def test_invalid_tasks_and_arguments_are_refused():
    with pytest.raises(ValueError, match="appears twice"):
        run_batch([{"id": "a", "task": "x"}, {"id": "a", "task": "y"}], make_plain_agent, quiet=True)
    with pytest.raises(ValueError, match="no 'task'"):
        run_batch([{"id": "a"}], make_plain_agent, quiet=True)
    with pytest.raises(ValueError, match="backend"):
        run_batch(["x"], make_plain_agent, backend="gpu", quiet=True)  # type: ignore[arg-type]


def test_processes_backend_names_the_problem_with_a_lambda():
    with pytest.raises(TypeError, match="module level") as info:
        run_batch(["x"], lambda: make_plain_agent(), backend="processes", quiet=True)
    assert "<lambda>" in str(info.value)


def test_ray_backend_without_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'smolagents\[ray\]'"):
        run_batch(["x"], make_plain_agent, backend="ray", quiet=True)


@pytest.mark.parametrize(
    ("concurrency", "free_cpus", "shape"),
    [
        (1, None, (1, 1)),
        (8, None, (1, 8)),
        (16, None, (2, 8)),
        (20, None, (3, 7)),
        (64, 4.0, (4, 16)),
        (16, 0.5, (1, 16)),
    ],
)
def test_ray_actor_pool_shape(concurrency, free_cpus, shape):
    """Up to 8 threads per actor, no more actors than whole free CPUs, and always one."""
    from smolagents.batch._ray import pool_shape

    assert pool_shape(concurrency, free_cpus) == shape


def test_a_make_agent_that_raises_is_recorded_as_the_task_error(tmp_path):
    def broken():
        raise RuntimeError("no API key")

    [result] = run_batch(["x"], broken, retries=2, quiet=True, results_path=tmp_path / "r.jsonl")
    assert result.error.startswith("RuntimeError: no API key") and result.attempts == 3
    assert json.loads((tmp_path / "r.jsonl").read_text())["error"] == result.error


def test_progress_and_summary_are_printed_unless_quiet(capsys):
    run_batch(["a", "b"], make_plain_agent)
    out = capsys.readouterr().out
    assert "Batch summary" in out and "succeeded" in out
    run_batch(["a", "b"], make_plain_agent, quiet=True)
    assert capsys.readouterr().out == ""
