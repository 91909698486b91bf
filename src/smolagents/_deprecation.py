"""The warning category for smolagents' own deprecations, and the one way to emit it.

A category of our own lets users silence (or escalate) exactly our deprecations, and lets
our test suite turn them into errors (``filterwarnings`` in ``pyproject.toml``) without also
failing on deprecations that third-party libraries announce to us.
"""

from __future__ import annotations

import warnings

__all__ = ["SmolagentsDeprecationWarning", "warn_deprecated"]


class SmolagentsDeprecationWarning(DeprecationWarning):
    """A smolagents feature, name or argument that will be removed; the message says what to use."""


def warn_deprecated(message: str, stacklevel: int = 2) -> None:
    """Warn that the caller's caller uses something deprecated (``stacklevel`` as in ``warnings.warn``).

    Always say what replaces the deprecated thing, so the fix is in the message.
    """
    warnings.warn(message, SmolagentsDeprecationWarning, stacklevel=stacklevel + 1)
