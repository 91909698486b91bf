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
