"""Sandbox settings agents read at construction, kept apart from the sandbox package so
that building an agent does not load the sandbox (it loads when the first code runs)."""

from __future__ import annotations

__all__ = ["BASE_BUILTIN_MODULES"]

#: Standard-library modules sandboxed code may always import.
BASE_BUILTIN_MODULES = [
    "collections",
    "datetime",
    "itertools",
    "math",
    "queue",
    "random",
    "re",
    "stat",
    "statistics",
    "time",
    "unicodedata",
]
