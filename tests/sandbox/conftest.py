"""Shared helpers for the sandbox tests.

``attack`` runs a payload and asserts that nothing escaped: the call raised an
``InterpreterError`` (or returned only harmless values), the sentinel file the payload
tries to create does not exist, and no module, frame, code object or traceback came back.
Every test has a pytest-timeout, which is how "answered within the timeout" is checked
without flaky timing assertions.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smolagents.errors import InterpreterError
from smolagents.local_python_executor import LocalPythonExecutor

_ESCAPED_TYPES = (types.ModuleType, types.FrameType, types.CodeType, types.TracebackType)


def assert_harmless(value: Any, depth: int = 0) -> None:
    """No module, frame, code object or traceback anywhere in a returned value."""
    assert not isinstance(value, _ESCAPED_TYPES), f"sandbox leaked {type(value).__name__}: {value!r}"
    if depth > 3:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            assert_harmless(key, depth + 1)
            assert_harmless(item, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            assert_harmless(item, depth + 1)


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    return tmp_path / "pwned.txt"


@pytest.fixture
def executor() -> LocalPythonExecutor:
    return LocalPythonExecutor([], timeout_seconds=2)


@pytest.fixture
def attack(sentinel: Path) -> Callable[..., InterpreterError | None]:
    """Run ``code`` (``SENTINEL`` replaced by a path) and check that nothing escaped."""

    def run(
        code: str,
        executor: LocalPythonExecutor | None = None,
        expect: type[BaseException] | None = InterpreterError,
        match: str | None = None,
    ) -> InterpreterError | None:
        executor = executor or LocalPythonExecutor([], timeout_seconds=2)
        code = code.replace("SENTINEL", str(sentinel))
        error = None
        if expect is None:
            output = executor(code)
            assert_harmless(output.output)
        else:
            with pytest.raises(expect, match=match) as info:
                output = executor(code)
                assert_harmless(output.output)
            error = info.value
        assert not sentinel.exists(), "the payload created the sentinel file"
        # the executor must stay usable after any attack
        assert executor("1 + 1").output == 2
        return error

    return run
