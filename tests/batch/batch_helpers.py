"""Scripted batch tasks shared by the batch tests (threads, processes, Ray, CLI).

``make_agent`` is module-level so it pickles by reference: worker processes and Ray workers
import this module (its folder is on their ``sys.path``/``PYTHONPATH``). Each task's dict
says how its scripted model behaves (``kind``) and, with ``marker_dir``, leaves a file per
attempt there, which is how the tests see which ids really ran.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from smolagents.agents import CodeAgent
from smolagents.batch import BatchResult, BatchTask
from smolagents.monitoring import LogLevel
from smolagents.testing import ScriptedModel

N_TASKS = 50
FAILING = {"t07", "t13", "t21", "t34"}
HANGING = "t42"
FLAKY = "t05"  # fails on its first attempt only
ODD_OUTPUT = "t10"  # answers a set: not JSON


def code(body: str) -> str:
    return f"Thought: working on it.\n<code>\n{body}\n</code>"


def expected_answer(number: int) -> int:
    return number * 2 + 1


def make_tasks(
    marker_dir: str | os.PathLike[str] | None = None, step_delay: float = 0.0
) -> list[dict[str, Any]]:
    tasks = []
    for number in range(N_TASKS):
        task_id = f"t{number:02d}"
        kind = "ok"
        if task_id in FAILING:
            kind = "fail"
        elif task_id == HANGING:
            kind = "hang"
        elif task_id == FLAKY:
            kind = "flaky"
        elif task_id == ODD_OUTPUT:
            kind = "set"
        task: dict[str, Any] = {
            "id": task_id,
            "task": f"Compute {number} * 2 + 1.",
            "kind": kind,
            "n": number,
        }
        if marker_dir is not None:
            task["marker_dir"] = str(marker_dir)
        if step_delay:
            task["step_delay"] = step_delay
        tasks.append(task)
    return tasks


def _sleeping(reply: str, delay: float) -> Any:
    def answer(messages: Any, **kwargs: Any) -> str:
        time.sleep(delay)
        return reply

    return answer


def make_agent(task: BatchTask) -> CodeAgent:
    """The agent for one scripted task; records the attempt in ``marker_dir`` first."""
    meta = task.metadata
    marker_dir = meta.get("marker_dir")
    if marker_dir:
        Path(marker_dir, f"{task.id}.{os.getpid()}.{uuid.uuid4().hex[:8]}").touch()
    kind, number, delay = meta.get("kind", "ok"), meta.get("n", 0), meta.get("step_delay", 0.0)
    max_steps = 5
    if kind == "fail":
        replies: list[Any] = [RuntimeError(f"model exploded on {task.id}")]
    elif kind == "flaky" and marker_dir and len(list(Path(marker_dir).glob(f"{task.id}.*"))) < 2:
        replies = [ConnectionError(f"transient failure on {task.id}")]
    elif kind == "hang":  # never answers; only a timeout (interrupt, kill, cancel) ends it
        replies = [_sleeping(code("waiting = True"), 0.05)] * 100_000
        max_steps = 1_000_000
    elif kind == "set":
        replies = [code("final_answer({1, 2})")]
    else:
        replies = [code(f"x = {number} * 2"), code("final_answer(x + 1)")]
    if delay:
        replies = [_sleeping(r, delay) if isinstance(r, str) else r for r in replies]
    # a hanging task is ended by its timeout, with most of its script unused on purpose
    model = ScriptedModel(replies, allow_unused_replies=kind == "hang")
    return CodeAgent(tools=[], model=model, verbosity_level=LogLevel.OFF, max_steps=max_steps)


def make_plain_agent() -> CodeAgent:
    """A ``make_agent`` that takes no task: every task answers 42."""
    return CodeAgent(tools=[], model=ScriptedModel([code("final_answer(42)")]), verbosity_level=LogLevel.OFF)


def ran_ids(marker_dir: str | os.PathLike[str]) -> list[str]:
    """Ids of every attempt that started, one entry per attempt."""
    return sorted(path.name.split(".")[0] for path in Path(marker_dir).iterdir())


def read_records(path: str | os.PathLike[str], cut_lines: int = 0) -> dict[str, dict[str, Any]]:
    """The records by id; exactly ``cut_lines`` lines may be unreadable (left by a crash)."""
    records, unreadable = {}, 0
    for line in Path(path).read_text().splitlines():
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                unreadable += 1
                continue
            records[record["id"]] = record
    assert unreadable == cut_lines
    return records


def check_results(
    results: list[BatchResult], results_path: str | os.PathLike[str], *, retries: int, cut_lines: int = 0
) -> None:
    """The 50 scripted tasks' results and their JSONL records are complete and correct."""
    assert [r.id for r in results] == [f"t{n:02d}" for n in range(N_TASKS)]
    records = read_records(results_path, cut_lines)
    assert sorted(records) == [r.id for r in results]
    for number, result in enumerate(results):
        record = records[result.id]
        assert record["error"] == result.error
        assert record["steps"] == result.steps
        assert record["task"] == f"Compute {number} * 2 + 1."
        if result.id in FAILING:
            assert "model exploded on " + result.id in result.error
            assert result.attempts == retries + 1
        elif result.id == HANGING:
            assert result.timed_out and result.error.startswith("TimeoutError: no result within")
            assert result.attempts == retries + 1
            assert result.output is None and record["output"] is None
        elif result.id == FLAKY and retries == 0:
            assert "transient failure" in result.error
        elif result.id == ODD_OUTPUT:
            assert result.ok and result.output == ("{1, 2}" if result.resumed else {1, 2})
            assert record["output"] == "{1, 2}" and record["output_type"] == "set"
        else:
            assert result.ok, result.error
            assert result.output == expected_answer(number) == record["output"]
            assert record["output_type"] == "int"
            assert result.steps == 2
            assert result.token_usage is not None and result.token_usage.total_tokens > 0
            assert record["token_usage"] == result.token_usage.dict()
            assert result.attempts == (2 if result.id == FLAKY else 1)
        assert result.duration >= 0 and record["duration"] >= 0
