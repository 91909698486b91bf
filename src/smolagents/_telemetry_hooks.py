"""The seams' hook slot: what the run loop and tools check before doing anything for tracing.

Tracing wraps the loop at a few seams (a run's flow, a step's stream, a tool call). Each
seam reads :data:`hooks` once and does nothing more when it is ``None``, so a run with
tracing off pays one global lookup per seam and never imports opentelemetry.
``smolagents.telemetry.instrument()`` puts its hooks here; ``uninstrument()`` takes them away.

Until the first agent run the slot holds a probe: that run reads ``SMOLAGENTS_TELEMETRY``
once and either instruments or leaves the slot empty for good.

This module sits at the bottom of the package (tools and agents both read it) and imports
nothing from smolagents.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Generator
from typing import Any

__all__ = ["ENV_CONTENT", "ENV_ENABLE", "TelemetryHooks", "env_flag", "hooks", "set_hooks"]

ENV_ENABLE = "SMOLAGENTS_TELEMETRY"
"""Set to ``1`` to trace every agent run from the first one (``instrument()`` with its defaults)."""
ENV_CONTENT = "SMOLAGENTS_TELEMETRY_CONTENT"
"""Set to ``1`` to record prompts, outputs and tool arguments on spans (off by default)."""

_TRUE = {"1", "true", "yes", "on"}


def env_flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to a true value (``1``, ``true``...)."""
    return os.environ.get(name, "").strip().lower() in _TRUE


class TelemetryHooks:
    """What the seams call when tracing is on. Each method returns its input unchanged here;
    the OpenTelemetry implementation (``smolagents.telemetry``) overrides them."""

    def run(self, agent: Any, flow: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
        """Wrap a run's flow (events and effects) for the whole run."""
        return flow

    def step(
        self, agent: Any, memory_step: Any, stream: Generator[Any, Any, Any], kind: str = "action"
    ) -> Generator[Any, Any, Any]:
        """Wrap one step's stream (``kind``: ``"action"`` or ``"planning"``)."""
        return stream

    def tool_call(
        self, tool: Any, call: Callable[[], Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Run ``call`` (``tool`` called with ``args``/``kwargs`` outside the agent's own tool
        calls: from model-written code, or by the user)."""
        return call()


class _FromEnvironment(TelemetryHooks):
    """The slot's first value: the first agent run decides from the environment."""

    def run(self, agent: Any, flow: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
        resolved = _resolve_from_environment(self)
        return flow if resolved is None else resolved.run(agent, flow)


_lock = threading.Lock()
hooks: TelemetryHooks | None = _FromEnvironment()
"""The active hooks, or None: tracing is off."""


def set_hooks(new: TelemetryHooks | None) -> None:
    """Install (or with None, remove) the hooks every seam calls."""
    global hooks
    with _lock:
        hooks = new


def _resolve_from_environment(probe: TelemetryHooks) -> TelemetryHooks | None:
    global hooks
    with _lock:
        if hooks is not probe:  # another run (or instrument()) decided first
            return hooks
        hooks = None
    if env_flag(ENV_ENABLE):
        from .telemetry import instrument  # imports opentelemetry: only when asked for

        try:
            instrument()
        except Exception:  # the extra is missing: every run says so until it is installed
            set_hooks(probe)
            raise
    return hooks
