"""Tracing of agent runs with OpenTelemetry (the ``telemetry`` extra).

::

    from smolagents import telemetry

    telemetry.instrument()                  # the global tracer provider, no content recorded
    agent.run("...")                        # invoke_agent -> step -> chat / execute_tool spans
    telemetry.uninstrument()

Or set ``SMOLAGENTS_TELEMETRY=1``: the first agent run then calls ``instrument()`` itself.
Spans follow the OpenTelemetry GenAI semantic conventions; see ``_otel.py`` for the tree.
Prompts, model outputs, tool arguments and results, the task, the answer and error messages
may hold secrets: they are recorded only with ``record_content=True`` (or
``SMOLAGENTS_TELEMETRY_CONTENT=1``).

With tracing off, nothing here runs: each seam of the loop checks one module-level slot
(``smolagents._telemetry_hooks``) and opentelemetry is never imported.

``openinference-instrumentation-smolagents`` (Phoenix, Langfuse...) works too, on its own
or alongside: it wraps our classes' methods, which the loop reaches by attribute lookup.
"""

from __future__ import annotations

from typing import Any

from .. import _telemetry_hooks
from .._optional import require
from .._telemetry_hooks import ENV_CONTENT, ENV_ENABLE, env_flag
from ..errors import UserError

__all__ = ["ENV_CONTENT", "ENV_ENABLE", "instrument", "is_instrumented", "uninstrument"]


def instrument(tracer_provider: Any = None, *, record_content: bool | None = None) -> None:
    """Trace every agent run from now on (calling it again replaces the settings).

    Args:
        tracer_provider: an OpenTelemetry ``TracerProvider``; None uses the global one
            (``opentelemetry.trace.set_tracer_provider``).
        record_content: record prompts, outputs, tool arguments and results, the task and
            the answer on spans. None (default): as ``SMOLAGENTS_TELEMETRY_CONTENT`` says,
            off when it is unset.
    """
    if tracer_provider is not None and not callable(getattr(tracer_provider, "get_tracer", None)):
        raise UserError(
            f"tracer_provider must be an OpenTelemetry TracerProvider (with get_tracer()), got "
            f"{tracer_provider!r}. Pass opentelemetry.sdk.trace.TracerProvider(...), or None for the "
            "global provider."
        )
    if record_content is not None and not isinstance(record_content, bool):
        raise UserError(
            f"record_content must be True, False or None (from {ENV_CONTENT}), got {record_content!r}."
        )
    trace = require("opentelemetry.trace", "telemetry", "Tracing (smolagents.telemetry)")
    from .. import __version__
    from ._otel import OTelHooks

    content = env_flag(ENV_CONTENT) if record_content is None else record_content
    tracer = trace.get_tracer("smolagents", __version__, tracer_provider=tracer_provider)
    _telemetry_hooks.set_hooks(OTelHooks(tracer, content))


def uninstrument() -> None:
    """Stop tracing (runs in progress finish their spans); the environment variable is not
    read again."""
    _telemetry_hooks.set_hooks(None)


def is_instrumented() -> bool:
    """Whether agent runs are traced now."""
    hooks = _telemetry_hooks.hooks
    return hooks is not None and type(hooks).__name__ == "OTelHooks"
