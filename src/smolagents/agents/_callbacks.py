"""Step callbacks and user hooks, called with or without ``agent=`` as their signature allows."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..errors import UserError
from ..memory import ActionStep, MemoryStep

__all__ = ["CallbackRegistry", "call_with_optional_agent"]


def _accepts_agent(fn: Callable[..., Any], n_positional: int) -> str:
    """How to pass the agent: ``"kw"`` as ``agent=``, ``"pos"`` positionally, or ``""`` not at all."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return "kw"
    if any(p.kind is p.VAR_KEYWORD for p in params) or any(p.name == "agent" for p in params):
        return "kw"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind is p.VAR_POSITIONAL for p in params) or len(positional) > n_positional:
        return "pos"
    return ""


def call_with_optional_agent(fn: Callable[..., Any], *args: Any, agent: Any) -> Any:
    """Call a user hook with ``agent=agent`` if it takes one, so both ``check(answer, memory)``
    and ``check(answer, memory, agent=None)`` styles work."""
    mode = _accepts_agent(fn, len(args))
    if mode == "kw":
        return fn(*args, agent=agent)
    if mode == "pos":
        return fn(*args, agent)
    return fn(*args)


class CallbackRegistry:
    """Callbacks keyed by memory-step class; a step triggers those of its class and bases."""

    def __init__(self) -> None:
        self._callbacks: dict[type, list[Callable[..., Any]]] = {}

    @classmethod
    def from_user(
        cls,
        step_callbacks: list[Callable[..., Any]]
        | dict[type, Callable[..., Any] | list[Callable[..., Any]]]
        | None,
    ) -> CallbackRegistry:
        """A list registers callbacks for action steps; a dict maps step classes to callbacks."""
        registry = cls()
        if step_callbacks is None:
            return registry
        if isinstance(step_callbacks, dict):
            for step_cls, callbacks in step_callbacks.items():
                if not (isinstance(step_cls, type) and issubclass(step_cls, MemoryStep)):
                    raise UserError(
                        f"step_callbacks keys must be memory step classes such as ActionStep, got {step_cls!r}."
                    )
                for callback in callbacks if isinstance(callbacks, list) else [callbacks]:
                    registry.register(step_cls, callback)
        elif isinstance(step_callbacks, list):
            for callback in step_callbacks:
                registry.register(ActionStep, callback)
        else:
            raise UserError(
                "step_callbacks must be a list of callables or a dict {StepClass: callable or list}, "
                f"got {type(step_callbacks).__name__}."
            )
        return registry

    def register(self, step_cls: type, callback: Callable[..., Any]) -> None:
        if not callable(callback):
            raise UserError(f"Step callback {callback!r} is not callable.")
        self._callbacks.setdefault(step_cls, []).append(callback)

    def callback(self, memory_step: MemoryStep, agent: Any) -> None:
        for klass in type(memory_step).__mro__:
            for callback in self._callbacks.get(klass, []):
                call_with_optional_agent(callback, memory_step, agent=agent)

    def __len__(self) -> int:
        return sum(len(v) for v in self._callbacks.values())
