"""The local Python sandbox: run model-written code in-process, safely and fast.

Design in one paragraph: the code is parsed, checked and rewritten once into an AST in
which every attribute access, risky operator (``*``, ``**``, ``<<``, ``%``), import,
loop iteration, function entry and exception handler calls into a small policy layer;
CPython compiles that AST to bytecode, cached per code string, and runs it with the
executor's state as globals and a curated builtins namespace. Limits (time, operations,
memory, output, sizes, recursion, regex time) preempt at the inserted ticks; a watchdog
thread trips deadlines and the memory cap. See the module docstrings for each concern.
"""

from __future__ import annotations

from typing import Any

from ._executor import CodeOutput, LocalPythonExecutor, PythonExecutor
from ._limits import DEFAULT_MAX_LEN_OUTPUT, SandboxLimits
from ._policy import BASE_BUILTIN_MODULES
from ._runtime import FinalAnswerException

__all__ = [
    "BASE_BUILTIN_MODULES",
    "DEFAULT_MAX_LEN_OUTPUT",
    "CodeOutput",
    "FinalAnswerException",
    "LocalPythonExecutor",
    "PythonExecutor",
    "SandboxLimits",
]


def __getattr__(name: str) -> Any:
    # Instrumentors written for upstream's layout find the thread pool here and patch it to
    # carry the tracing context into worker threads; our thread pools carry it themselves.
    if name == "ThreadPoolExecutor":
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
