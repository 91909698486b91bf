"""``smolagent batch TASKS.jsonl --out RESULTS.jsonl``: run_batch from the shell.

The agent is described by the same flags as the main ``smolagent`` command. What travels
to worker processes or Ray workers is :class:`CliAgentFactory`, a small picklable record of
those flags, so each worker builds its own model client and agent.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from ._runner import BACKENDS, run_batch

__all__ = ["CliAgentFactory", "batch_main", "parse_batch_arguments", "read_tasks_file"]

AGENT_FLAGS = (
    "model_type",
    "model_id",
    "action_type",
    "tools",
    "imports",
    "provider",
    "api_base",
    "api_key",
    "max_steps",
    "verbosity_level",
)


def parse_batch_arguments(argv: list[str]) -> argparse.Namespace:
    from ..cli import _add_agent_arguments

    parser = argparse.ArgumentParser(
        prog="smolagent batch",
        description="Run an agent on every task of a JSONL file (one JSON string or "
        '{"id", "task", "additional_args"} object per line). Results are appended to --out as '
        "they finish; running the same command again resumes, skipping the ids already there.",
    )
    parser.add_argument("tasks", help="JSONL file of tasks.")
    parser.add_argument("--out", required=True, help="JSONL file the results are appended to.")
    parser.add_argument(
        "--backend", choices=BACKENDS, default="threads", help="Where tasks run (default threads)."
    )
    parser.add_argument("--concurrency", type=int, default=8, help="Tasks running at once (default 8).")
    parser.add_argument("--timeout", type=float, default=None, help="Seconds one attempt of a task may take.")
    parser.add_argument(
        "--retries", type=int, default=0, help="Extra attempts for a failed task (default 0)."
    )
    parser.add_argument(
        "--rerun-errors", action="store_true", help="Also run again the ids recorded as errors."
    )
    parser.add_argument("--ray-address", default=None, help="An existing Ray cluster (default: a local one).")
    parser.add_argument("--quiet", action="store_true", help="No progress bar and no summary.")
    _add_agent_arguments(parser, verbosity=-1)  # logs of concurrent agents would interleave
    return parser.parse_args(argv)


def read_tasks_file(path: str) -> list[Any]:
    """The tasks of a JSONL file; blank lines are skipped, a bad line is named."""
    tasks = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                task = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"{path}:{number}: not JSON ({exc.msg}); write one JSON value per line"
                ) from exc
            if not isinstance(task, (str, dict)):
                raise ValueError(
                    f"{path}:{number}: a task is a JSON string or object, got {type(task).__name__}"
                )
            tasks.append(task)
    return tasks


@dataclass
class CliAgentFactory:
    """Builds the agent the CLI flags describe (picklable: plain data and a module-level class)."""

    flags: dict[str, Any] = field(default_factory=dict)

    def __call__(self) -> Any:
        from ..cli import _build_agent, build_model

        args = argparse.Namespace(**self.flags)
        model = build_model(args.model_type, args.model_id, args.api_base, args.api_key, args.provider)
        return _build_agent(args, model)


def batch_main(argv: list[str]) -> int:
    """Exit status: 0 when every task succeeded, 1 when some failed, 2 for bad input."""
    from ..cli import NoModelConfigured

    args = parse_batch_arguments(argv)
    factory = CliAgentFactory({name: getattr(args, name) for name in AGENT_FLAGS})
    try:
        factory()  # a missing model or an unknown tool is reported once, before any work
        tasks = read_tasks_file(args.tasks)
    except (NoModelConfigured, ValueError, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    results = run_batch(
        tasks,
        factory,
        backend=args.backend,
        max_concurrency=args.concurrency,
        results_path=args.out,
        task_timeout=args.timeout,
        retries=args.retries,
        ray_address=args.ray_address,
        rerun_errors=args.rerun_errors,
        quiet=args.quiet,
    )
    return 0 if all(result.ok for result in results) else 1
