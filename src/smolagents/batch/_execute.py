"""Running one task on a fresh agent: the code every backend's worker runs.

It never raises: whatever happens (``make_agent`` failing, the model failing, the agent
giving up) comes back as an :class:`Outcome`, so a worker thread, process or Ray task
always has something to report and one bad task cannot take its worker down with it.
"""

from __future__ import annotations

import inspect
import pickle
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._monitoring_types import TokenUsage
from ._records import BatchTask, encode_output

__all__ = ["Outcome", "build_agent", "format_error", "run_task"]


@dataclass
class Outcome:
    """What one attempt produced (plain data: it crosses process and machine boundaries)."""

    output: Any = None
    error: str | None = None
    steps: int = 0
    token_usage: TokenUsage | None = None
    duration: float = 0.0


def format_error(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _takes_task(make_agent: Callable[..., Any]) -> bool:
    """Whether ``make_agent`` wants the task (one positional parameter) or nothing."""
    try:
        signature = inspect.signature(make_agent)
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    varargs = any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values())
    return len(positional) == 1 or (not positional and varargs)


def build_agent(make_agent: Callable[..., Any], task: BatchTask) -> Any:
    """A fresh agent for ``task``: ``make_agent(task)`` if it takes an argument, else ``make_agent()``."""
    return make_agent(task) if _takes_task(make_agent) else make_agent()


def _steps_and_usage(agent: Any) -> tuple[int, TokenUsage | None]:
    """Action steps and tokens in the agent's memory (also known after a failed run)."""
    from ..memory import ActionStep

    steps = getattr(getattr(agent, "memory", None), "steps", None) or []
    usage: TokenUsage | None = None
    for step in steps:
        spent = getattr(step, "token_usage", None)
        if isinstance(spent, TokenUsage):
            usage = spent if usage is None else usage + spent
    return sum(isinstance(step, ActionStep) for step in steps), usage


def _portable(output: Any) -> Any:
    """The output itself if it can be pickled back to the driver, else its JSON encoding."""
    try:
        pickle.dumps(output)
        return output
    except Exception:
        return encode_output(output)[0]


def run_task(
    make_agent: Callable[..., Any],
    task: BatchTask,
    on_agent: Callable[[Any], None] | None = None,
    portable: bool = False,
) -> Outcome:
    """Build an agent, run ``task`` on it, and report how it went.

    ``on_agent`` sees the agent as soon as it exists (the thread backend keeps it to
    interrupt it on timeout); ``portable`` makes sure the output survives pickling.
    """
    started = time.perf_counter()
    agent = None
    try:
        agent = build_agent(make_agent, task)
        if on_agent is not None:
            on_agent(agent)
        result = agent.run(task.task, additional_args=task.additional_args, return_full_result=True)
        output = getattr(result, "output", result)
        usage = getattr(result, "token_usage", None)
        outcome = Outcome(output=_portable(output) if portable else output, token_usage=usage)
    except Exception as exc:
        error = format_error(exc)
        if not isinstance(exc, getattr(_agent_errors(), "AgentError", ())):
            error += (
                "\n" + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:]).rstrip()
            )
        outcome = Outcome(error=error)
    if agent is not None:
        outcome.steps, spent = _steps_and_usage(agent)
        outcome.token_usage = outcome.token_usage or spent
    outcome.duration = time.perf_counter() - started
    return outcome


def _agent_errors() -> Any:
    from .. import errors

    return errors
