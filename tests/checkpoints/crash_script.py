"""A child process for the crash tests: runs (or resumes) a scripted run with a checkpoint
store, and kills itself with SIGKILL when its script reaches the reply marked ``KILL``.

    python crash_script.py run|resume KIND STORE_SPEC RUN_ID SKIP KILL_AT

KIND is ``code`` or ``tools``; STORE_SPEC is ``sqlite:PATH``, ``dir:PATH`` or
``postgres:TABLE|DSN`` (see :func:`store_spec`).
The scripted model answers with ``scripted_replies(KIND)[SKIP:]``; the reply at index
KILL_AT of the full script (``-1``: none) is replaced by a SIGKILL of this process, so
the run dies in the middle of that model call, after the previous step was saved. A
resumed run prints its ``RunResult`` as JSON on the last line of stdout.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from smolagents import CodeAgent, LogLevel, ToolCallingAgent, tool
from smolagents.checkpoints import (
    CheckpointStore,
    DirectoryCheckpointStore,
    PostgresCheckpointStore,
    SQLiteCheckpointStore,
)
from smolagents.testing import ScriptedModel


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: first number
        b: second number
    """
    return a + b


def _code(body: str) -> str:
    return f"Thought: next.\n<code>\n{body}\n</code>"


def scripted_replies(kind: str) -> list[Any]:
    """Five steps with a plan every two (before steps 1, 3 and 5), one of them an error the
    model recovers from. CodeAgent: x is defined in step 1 and used in step 3."""
    if kind == "code":
        return [
            "Thought: the initial plan.\n<end_plan>",
            _code("import math\nx = 20\nprint('x is', x)"),
            _code("y = add(a=x, b=1)\nprint(y)"),
            "Thought: an updated plan.\n<end_plan>",
            _code("z = x + y + math.floor(0.5)\nprint(z)"),
            _code("undefined_name + 1"),
            "Thought: another plan.\n<end_plan>",
            _code("final_answer(z + 1)"),
        ]
    return [
        "Thought: the initial plan.\n<end_plan>",
        ScriptedModel.tool_call("add", {"a": 20, "b": 1}, id="c1"),
        ScriptedModel.tool_call("add", {"a": 21, "b": 20}, id="c2"),
        "Thought: an updated plan.\n<end_plan>",
        ScriptedModel.tool_call("no_such_tool", {}, id="c3"),
        ScriptedModel.tool_call("add", {"a": 41, "b": 1}, id="c4"),
        "Thought: another plan.\n<end_plan>",
        ScriptedModel.tool_call("final_answer", {"answer": "42"}, id="c5"),
    ]


def make_agent(kind: str, replies: list[Any]) -> Any:
    cls = CodeAgent if kind == "code" else ToolCallingAgent
    return cls(
        tools=[add],
        model=ScriptedModel(replies),
        planning_interval=2,
        max_steps=8,
        verbosity_level=LogLevel.OFF,
    )


def open_store(spec: str) -> CheckpointStore:
    kind, _, target = spec.partition(":")
    if kind == "sqlite":
        return SQLiteCheckpointStore(target)
    if kind == "dir":
        return DirectoryCheckpointStore(target)
    table, _, dsn = target.partition("|")
    return PostgresCheckpointStore(dsn, table=table)


def store_spec(store: CheckpointStore) -> str:
    """How this script opens ``store`` in another process."""
    if isinstance(store, SQLiteCheckpointStore):
        return f"sqlite:{store.path}"
    if isinstance(store, DirectoryCheckpointStore):
        return f"dir:{store.path}"
    assert isinstance(store, PostgresCheckpointStore)
    return f"postgres:{store.table}|{store.dsn}"


def _die(*_args: Any, **_kwargs: Any) -> Any:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    mode, kind, spec, run_id, skip, kill_at = sys.argv[1:7]
    replies: list[Any] = list(scripted_replies(kind))
    if int(kill_at) >= 0:
        replies[int(kill_at)] = _die
    agent = make_agent(kind, replies[int(skip) :])
    store = open_store(spec)
    if mode == "run":
        agent.run("Compute 42 the long way.", checkpoint=store, run_id=run_id)
        print("the run was not killed")
        sys.exit(3)
    result = agent.resume(run_id, checkpoint=store, return_full_result=True)
    print(
        json.dumps(
            {"output": str(result.output), "run_id": result.run_id, "steps": result.steps}, default=str
        )
    )


if __name__ == "__main__":
    main()
