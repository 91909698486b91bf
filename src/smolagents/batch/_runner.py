"""``run_batch``: one scheduler for every backend (concurrency, deadlines, retries, resume).

Keeping these rules here rather than in each backend is what makes a batch behave the same
on threads, processes and Ray: the same task gets the same number of attempts, the same
timeout message and the same line in the results file wherever it ran.
"""

from __future__ import annotations

import itertools
import os
import pickle
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ._backends import Backend, ProcessBackend, ThreadBackend, check_picklable
from ._execute import Outcome, format_error
from ._progress import BatchProgress
from ._records import BatchResult, BatchTask, ResultsFile, TaskLike, normalize_tasks

__all__ = ["BACKENDS", "run_batch"]

BACKENDS = ("threads", "processes", "ray")


@dataclass
class _Attempt:
    task: BatchTask
    number: int
    deadline: float | None


def run_batch(
    tasks: Iterable[TaskLike],
    make_agent: Callable[..., Any],
    *,
    backend: Literal["threads", "processes", "ray"] = "threads",
    max_concurrency: int = 8,
    results_path: str | os.PathLike[str] | None = None,
    task_timeout: float | None = None,
    retries: int = 0,
    ray_address: str | None = None,
    ray_options: dict[str, Any] | None = None,
    rerun_errors: bool = False,
    quiet: bool = False,
) -> list[BatchResult]:
    """Run every task on a fresh agent and return one :class:`BatchResult` per task, in order.

    Args:
        tasks: strings, or dicts with ``"task"`` and optionally ``"id"`` (default: the
            position), ``"additional_args"`` (passed to ``agent.run``) and any other keys
            (kept as ``BatchTask.metadata``).
        make_agent: builds the agent for one task: ``make_agent()`` or, if it takes one
            argument, ``make_agent(task)`` with the :class:`BatchTask`. A fresh agent per
            task keeps tasks independent, and for ``"processes"``/``"ray"`` means only this
            function (a module-level function) crosses to the workers, never a live agent.
        backend: ``"threads"`` (default), ``"processes"`` (spawned workers) or ``"ray"``.
        max_concurrency: tasks running at once.
        results_path: JSONL file each result is appended to as soon as it is known. If it
            already has results, those ids are not run again (resume after a crash) and
            their recorded results are returned with ``resumed=True``.
        task_timeout: seconds one attempt may take. Threads: the agent is interrupted (at
            the end of its current step) and the result recorded as a timeout right away;
            processes and Ray: the worker running it is killed.
        retries: extra attempts for a task that failed or timed out; the last error is kept.
        ray_address: an existing Ray cluster; without it a private local runtime on
            127.0.0.1 is started for the batch (unless Ray is already initialised).
        ray_options: options for each Ray task (``num_cpus``, ``resources``, ``runtime_env``...).
        rerun_errors: on resume, also run again the ids whose recorded result is an error.
        quiet: no progress bar and no summary.

    One task failing or hanging never stops the batch; only an exception of the driver
    itself (Ctrl-C) does, and then workers are stopped and the results file keeps what
    was finished.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, got {retries}")
    if task_timeout is not None and task_timeout <= 0:
        raise ValueError(f"task_timeout must be positive seconds, got {task_timeout}")
    if not callable(make_agent):
        raise TypeError(f"make_agent must be callable, got {type(make_agent).__name__}")
    all_tasks = normalize_tasks(tasks)
    blob = b""
    if backend == "processes":  # fail before any work starts, not in every worker
        blob = check_picklable(make_agent, backend, pickle.dumps)

    results: dict[str, BatchResult] = {}
    results_file = ResultsFile(results_path) if results_path is not None else None
    if results_file is not None:
        recorded = results_file.load()
        for task in all_tasks:
            record = recorded.get(task.id)
            if record is not None and not (rerun_errors and record.get("error")):
                result = BatchResult.from_record(record)
                result.task = task.task
                results[task.id] = result
    to_run = [task for task in all_tasks if task.id not in results]

    progress = BatchProgress(len(all_tasks), len(results), backend, quiet=quiet)
    runner: Backend | None = None
    finished = False
    try:
        if to_run:
            if backend == "threads":
                runner = ThreadBackend(make_agent)
            elif backend == "processes":
                runner = ProcessBackend(blob)
            else:
                from ._ray import RayBackend

                runner = RayBackend(
                    make_agent,
                    max_concurrency=max_concurrency,
                    ray_address=ray_address,
                    ray_options=ray_options,
                )

            def on_result(result: BatchResult) -> None:
                results[result.id] = result
                if results_file is not None:
                    results_file.append(result)
                progress.update(result)

            _schedule(runner, to_run, max_concurrency, task_timeout, retries, on_result)
        finished = True
    finally:
        if runner is not None:
            runner.close()
        if results_file is not None:
            results_file.close()
        ordered = [results[task.id] for task in all_tasks] if finished else None
        progress.close(ordered)
    return ordered  # type: ignore[return-value]


def _schedule(
    runner: Backend,
    tasks: list[BatchTask],
    max_concurrency: int,
    task_timeout: float | None,
    retries: int,
    record: Callable[[BatchResult], None],
) -> None:
    """Keep ``max_concurrency`` attempts running until every task has its final result."""
    pending: deque[tuple[BatchTask, int]] = deque((task, 1) for task in tasks)
    running: dict[int, _Attempt] = {}
    spent: dict[str, float] = {}
    keys = itertools.count()

    def finish(attempt: _Attempt, outcome: Outcome) -> None:
        task = attempt.task
        spent[task.id] = spent.get(task.id, 0.0) + outcome.duration
        if outcome.error is not None and attempt.number <= retries:
            pending.append((task, attempt.number + 1))
            return
        record(
            BatchResult(
                id=task.id,
                task=task.task,
                output=outcome.output,
                error=outcome.error,
                steps=outcome.steps,
                token_usage=outcome.token_usage,
                duration=spent.pop(task.id),
                attempts=attempt.number,
            )
        )

    while pending or running:
        while pending and len(running) < max_concurrency:
            task, number = pending.popleft()
            key = next(keys)
            deadline = None
            if task_timeout is not None and not runner.reports_start:
                deadline = time.monotonic() + task_timeout
            attempt = _Attempt(task, number, deadline)
            try:
                runner.start(key, task)
            except Exception as exc:  # e.g. a task that cannot be sent to a worker
                finish(_Attempt(task, retries + 1, None), Outcome(error=format_error(exc)))
                continue
            running[key] = attempt
        deadlines = [a.deadline for a in running.values() if a.deadline is not None]
        wait_for = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        for key, outcome in runner.wait(wait_for):
            if outcome is None:  # the attempt began in its worker: the timeout counts from now
                if key in running and task_timeout is not None:
                    running[key].deadline = time.monotonic() + task_timeout
                continue
            done = running.pop(key, None)
            if done is not None:  # None: the late result of an attempt already timed out
                finish(done, outcome)
        now = time.monotonic()
        for key, attempt in list(running.items()):
            if attempt.deadline is not None and now >= attempt.deadline:
                del running[key]
                runner.cancel(key)
                message = f"TimeoutError: no result within {task_timeout:g} s (attempt {attempt.number})"
                finish(attempt, Outcome(error=message, duration=task_timeout or 0.0))
