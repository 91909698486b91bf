"""Public executor classes: ``PythonExecutor`` and the sandboxed ``LocalPythonExecutor``.

A call parses the code, rewrites it (``_transform``), compiles it once (cached per code
string), then executes the bytecode with the executor's state as globals and the
sandbox builtins as builtins. Whatever happens inside, the call returns a
``CodeOutput`` or raises an ``InterpreterError`` carrying the print logs.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import gc
import re
import sys
import threading
import types
import weakref
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import InterpreterError, SandboxResourceError, SandboxSecurityError, UserError
from ._builtins import build_builtins
from ._limits import DEFAULT_MAX_LEN_OUTPUT, SandboxAbort, SandboxLimits
from ._loop_types import rebinding_names
from ._modules import ImportPolicy, ModuleGateway
from ._ops import make_operators
from ._policy import BASE_BUILTIN_MODULES, HELPER_PREFIX, SANDBOX_FILENAME
from ._regex import RegexGuard
from ._runtime import FinalAnswerException, Runtime
from ._security import AttributeGuard, SealedProxy
from ._transform import StaticRefusal, rewrite
from ._worker import SandboxThread, stack_bytes_for

__all__ = [
    "BASE_BUILTIN_MODULES",
    "DEFAULT_MAX_LEN_OUTPUT",
    "CodeOutput",
    "FinalAnswerException",
    "LocalPythonExecutor",
    "PythonExecutor",
    "SandboxLimits",
]

_UNSET: Any = object()
#: stdlib modules that C functions import lazily on behalf of sandboxed code
_HOST_IMPORTS = frozenset(
    {"_strptime", "encodings", "_datetime", "_pydatetime", "_decimal", "_pydecimal", "copyreg"}
)
_TOOL_TOKEN = object()
#: libraries whose values the host may send although the code may not import them
_HOST_VALUE_LIBRARIES = frozenset({"numpy", "pandas", "PIL"})


@dataclass
class CodeOutput:
    """What one executor call produced."""

    output: Any
    logs: str
    is_final_answer: bool


class PythonExecutor(ABC):
    """Runs model-written Python; local and remote executors implement this."""

    @abstractmethod
    def __call__(self, code: str, additional_variables: dict[str, Any] | None = None) -> CodeOutput:
        """Run ``code`` (after merging ``additional_variables`` into the state)."""

    @abstractmethod
    def send_tools(self, tools: dict[str, Callable[..., Any]]) -> None:
        """Make ``tools`` callable by name from the executed code."""

    @abstractmethod
    def send_variables(self, variables: dict[str, Any]) -> None:
        """Add ``variables`` to the state seen by the executed code."""

    def cleanup(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release resources (containers, kernels); nothing to do by default."""

    def __enter__(self) -> PythonExecutor:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.cleanup()


class _MissingModuleError(InterpreterError, UserError):
    """An authorised module is not installed (a configuration error)."""


class _ToolProxy(SealedProxy):
    """A tool or managed agent as the sandbox sees it: callable, ``name``/``description`` only."""

    __slots__ = ("_sb_call", "_sb_via", "description", "name")
    _sb_call: Callable[..., Any]
    _sb_via: Callable[..., Any]
    description: str
    name: str

    def __init__(self, token: object, name: str, call: Callable[..., Any], via: Callable[..., Any]) -> None:
        if token is not _TOOL_TOKEN:
            raise TypeError("tool proxies cannot be created in the sandbox")
        object.__setattr__(self, "_sb_call", call)
        object.__setattr__(self, "_sb_via", via)  # runs the tool on the caller's thread
        object.__setattr__(self, "name", str(getattr(call, "name", name)))
        description = getattr(call, "description", None)
        object.__setattr__(self, "description", description if isinstance(description, str) else "")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._sb_via(self._sb_call, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<tool {self.name!r}>"


@dataclass(frozen=True)
class _Compiled:
    body: types.CodeType
    tail: types.CodeType | None
    lines: list[str]
    #: module globals this code may rebind from inside calls (``global``, ``:=``)
    rebinding: frozenset[str] = frozenset()


_cache: OrderedDict[tuple[str, frozenset[str], int], _Compiled] = OrderedDict()
_cache_lock = threading.Lock()
#: CPython 3.11 keeps one AST recursion counter per interpreter: two conversions that
#: interleave (another thread, or a garbage-collected generator whose cleanup formats a
#: traceback, which parses source) corrupt it ("AST constructor recursion depth
#: mismatch"). Compiles take this lock and run with the cyclic collector paused.
_compile_lock = threading.Lock()
_CACHE_SIZE = 512


def _syntax_message(error: SyntaxError) -> str:
    text = (error.text or "").rstrip("\n")
    caret = ""
    if text and error.offset:
        stripped = text.lstrip()
        caret = "\n" + " " * max(error.offset - 1 - (len(text) - len(stripped)), 0) + "^"
        text = stripped
    return f"Code parsing failed on line {error.lineno} due to: {type(error).__name__}: {error.msg}\n{text}{caret}"


def _assigned_value(target: ast.expr) -> ast.expr | None:
    """An expression reading back what an assignment bound (plain names only: re-reading
    an attribute or item could run code twice)."""
    if isinstance(target, ast.Name):
        return ast.Name(id=target.id, ctx=ast.Load())
    if isinstance(target, (ast.Tuple, ast.List)) and target.elts:
        items = [_assigned_value(item) for item in target.elts]
        if all(item is not None for item in items):
            return ast.Tuple(elts=items, ctx=ast.Load())  # type: ignore[arg-type]
    return None


def _split_tail(tree: ast.Module) -> ast.Expr | None:
    """The statement whose value the call returns: a final expression is taken out of the
    body; a final assignment stays in it and its target is read back (``x = 2**10`` -> 1024)."""
    if not tree.body:
        return None
    last = tree.body[-1]
    if isinstance(last, ast.Expr):
        tree.body.pop()
        return last
    target = None
    if isinstance(last, ast.Assign):
        target = last.targets[-1]
    elif isinstance(last, ast.AugAssign) or (isinstance(last, ast.AnnAssign) and last.value is not None):
        target = last.target
    value = _assigned_value(target) if target is not None else None
    if value is None:
        return None
    return ast.copy_location(ast.Expr(value=value), last)


def _check_code_size(code: str, tree: ast.Module | None, limits: SandboxLimits) -> None:
    """Parsing, rewriting and compiling run before any tick and cannot be interrupted: bound
    the source length before parsing and the syntax-node count before rewriting."""
    if tree is None:
        if len(code) > limits.max_code_length:
            raise SandboxResourceError(
                f"The code is {len(code)} characters long, over the limit of {limits.max_code_length} "
                "(SandboxLimits.max_code_length): compiling it could take too long. Split it into "
                "smaller steps, or load data from a variable instead of a literal",
                limit="max_code_length",
            )
        return
    for nodes, _ in enumerate(ast.walk(tree), 1):
        if nodes > limits.max_code_nodes:
            raise SandboxResourceError(
                f"The code has over {limits.max_code_nodes} syntax nodes (SandboxLimits.max_code_nodes): "
                "compiling it could take too long. Use loops and data structures instead of very long "
                "straight-line code or literals",
                limit="max_code_nodes",
            )


def _compile(code: str, protected: frozenset[str], limits: SandboxLimits | None = None) -> _Compiled:
    limits = limits or SandboxLimits()
    _check_code_size(code, None, limits)
    key = (code, protected, limits.max_code_nodes)  # a hit must have passed the same node bound
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    lines = code.splitlines()
    with _compile_lock:
        collecting = gc.isenabled()
        gc.disable()
        try:
            compiled = _compile_unlocked(code, lines, protected, limits)
        finally:
            if collecting:
                gc.enable()
    with _cache_lock:
        _cache[key] = compiled
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


def _compile_unlocked(
    code: str, lines: list[str], protected: frozenset[str], limits: SandboxLimits
) -> _Compiled:
    try:
        tree = ast.parse(code, filename=SANDBOX_FILENAME)
        _check_code_size(code, tree, limits)
        rebinding = rebinding_names(tree)
        tail_node = _split_tail(tree)
        tree, flags = rewrite(tree, protected)
        body = compile(tree, SANDBOX_FILENAME, "exec", flags=flags, dont_inherit=True, optimize=0)
        tail = None
        if tail_node is not None:
            tail_module, _ = rewrite(
                ast.Module(body=[tail_node], type_ignores=[]), protected, as_function=False
            )
            expression = ast.Expression(body=tail_module.body[0].value)  # type: ignore[attr-defined]
            tail = compile(expression, SANDBOX_FILENAME, "eval", flags=flags, dont_inherit=True, optimize=0)
    except SandboxResourceError:
        raise
    except SyntaxError as error:
        raise InterpreterError(_syntax_message(error)) from None
    except (ValueError, TypeError, RecursionError, MemoryError) as error:  # e.g. absurdly nested code
        raise InterpreterError(f"Code could not be compiled: {type(error).__name__}: {error}") from None
    except StaticRefusal as refusal:
        line = lines[refusal.lineno - 1].strip() if refusal.lineno and refusal.lineno <= len(lines) else ""
        kind = SandboxSecurityError if refusal.security else InterpreterError
        where = f" at line '{line}'" if line else ""
        raise kind(f"Code execution failed{where} due to: {kind.__name__}: {refusal.message}") from None
    return _Compiled(body, tail, lines, rebinding)


def _guard_class_patterns(cls: type, regex: RegexGuard) -> None:
    """Host classes may compile a regex from a sandbox subclass's attributes when it is
    created (``string.Template`` with a custom ``idpattern``) and run it later with no time
    limit; swap such patterns for the sandbox's time-limited ones."""
    for name, value in list(vars(cls).items()):
        if isinstance(value, re.Pattern):
            type.__setattr__(cls, name, regex.compile(value.pattern, value.flags))


def _failing_line(error: BaseException, lines: list[str]) -> str:
    lineno = None
    trace = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == SANDBOX_FILENAME:
            lineno = trace.tb_lineno
        trace = trace.tb_next
    if lineno is None or not 0 < lineno <= len(lines):
        return ""
    return lines[lineno - 1].strip()


class LocalPythonExecutor(PythonExecutor):
    """Runs model-written code in-process, inside a security boundary.

    The code is checked and rewritten once, then runs as native bytecode in which every
    attribute access, risky operator, import, loop iteration and function entry goes
    through the sandbox policy. State persists across calls in ``state``.

    Authorising a module hands out its safe parts only: process creation and code
    evaluation (``os.system``, ``subprocess``, ``eval``...) stay refused even then.

    What an in-process sandbox cannot stop: time and memory are checked *between*
    operations, so a single C-level call that runs long without calling back into Python
    (comparing or hashing huge shared tuple structures, a regex engine of a library that
    bypasses ``re``) overruns the timeout until it returns. Size checks make these hard
    to reach, not impossible. For untrusted code where that matters, run it in a separate
    process (``ProcessExecutor`` or a remote executor), where the OS can kill it.

    The code runs on a thread of the executor's own whose C stack is deeper than the
    memory cap lets any structure nest (C code that recurses without a check, like tuple
    hashing, cannot overflow it); tools still run on the thread that called the executor.

    Args:
        additional_authorized_imports: modules importable on top of ``BASE_BUILTIN_MODULES``
            (``'pkg.*'`` authorises submodules, ``'*'`` everything).
        max_print_outputs_length: characters of print output kept per call (default 50,000).
        additional_functions: extra host callables visible to the code by name.
        limits: resource limits; the keyword arguments below override single fields.
        allow_data_io: let pandas/numpy/pickle read and write files and evaluate strings.
    """

    def __init__(
        self,
        additional_authorized_imports: list[str],
        max_print_outputs_length: int | None = None,
        additional_functions: dict[str, Callable[..., Any]] | None = None,
        *,
        limits: SandboxLimits | None = None,
        timeout_seconds: float | None = _UNSET,
        max_operations: int | None = _UNSET,
        max_memory_bytes: int | None = _UNSET,
        allow_data_io: bool = False,
    ) -> None:
        overrides: dict[str, Any] = {
            name: value
            for name, value in (
                ("timeout_seconds", timeout_seconds),
                ("max_operations", max_operations),
                ("max_memory_bytes", max_memory_bytes),
            )
            if value is not _UNSET
        }
        if max_print_outputs_length is not None:
            overrides["max_output_length"] = max_print_outputs_length
        self.limits = dataclasses.replace(limits or SandboxLimits(), **overrides)
        self.max_print_outputs_length = self.limits.max_output_length
        self.allow_data_io = allow_data_io
        self._policy = ImportPolicy(additional_authorized_imports or [])
        missing = self._policy.missing()
        if missing:
            raise _MissingModuleError(
                f"Non-installed authorized modules: {missing}. Install them or remove them from "
                "additional_authorized_imports."
            )
        self.authorized_imports: list[str] = self._policy.authorized
        self.state: dict[str, Any] = {}
        self._tool_names: frozenset[str] = frozenset()
        self._unbindable_cache: frozenset[str] | None = None

        rt = self._runtime = Runtime(self.limits)
        self._thread = SandboxThread(stack_bytes_for(self.limits.max_memory_bytes))
        weakref.finalize(self, self._thread.stop)
        guard = AttributeGuard(rt, self.limits, allow_data_io)
        operators = make_operators(self.limits)
        regex = RegexGuard(rt, self.limits)
        guard.value_wrappers[re.Pattern] = regex.compile
        rt.sandbox_classes.checks.append(lambda cls: _guard_class_patterns(cls, regex))
        gateway = ModuleGateway(
            self._policy,
            rt,
            guard,
            self.limits,
            allow_data_io,
            operators,
            regex.module_functions(),
            state=lambda: self.state,
            protected=lambda: self._protected,
        )
        rt.fast_types.add(_ToolProxy)
        guard.proxy_module = gateway.proxy_for_value
        guard.authorized_root = self._policy.root_authorized
        rt.builtins.update(build_builtins(rt, guard, self.limits, operators))
        rt.builtins.update(
            {
                "__sb_import__": gateway.import_module,
                "__sb_import_from__": gateway.import_from,
                "__sb_import_star__": gateway.import_star,
                "final_answer": self._make_final_answer(None),
            }
        )
        rt.builtins["__import__"] = self._make_host_import()
        for name, function in (additional_functions or {}).items():
            rt.builtins[name] = function
            guard.safe_ids.add(id(function))

    # ------------------------------------------------------------------ wiring
    def _make_host_import(self) -> Callable[..., Any]:
        """``__import__`` for *C code* called from sandbox frames (numpy's lazy imports,
        ``datetime.strptime``): CPython looks it up in the calling frame's builtins.
        Sandboxed code can never name it; it only imports authorised packages and a few
        stdlib helpers."""
        policy = self._policy

        def host_import(
            name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
        ) -> Any:
            root = name.split(".")[0]
            if level == 0 and (root in _HOST_IMPORTS or policy.root_authorized(root)):
                return builtins.__import__(name, globals, locals, fromlist, level)
            if level == 0 and root in _HOST_VALUE_LIBRARIES and name in sys.modules:
                # a numpy array or DataFrame the host sent: its methods import their own
                # helpers (``a.sum()`` -> numpy._core._methods) even when the code may not
                return sys.modules[name]
            raise ImportError(f"import of {name!r} from inside the sandbox is not allowed")

        return host_import

    @property
    def _protected(self) -> frozenset[str]:
        return self._tool_names | {"final_answer"}

    @property
    def _unbindable(self) -> frozenset[str]:
        """Names module-level code may not rebind: tools, ``final_answer`` and the builtins.

        A rebinding would persist in the state and silently change every later step
        (``len = lambda x: 0``)."""
        names = self._unbindable_cache
        if names is None:
            public = (name for name in self._runtime.builtins if not name.startswith("_"))
            names = self._unbindable_cache = self._protected | frozenset(public)
        return names

    def _make_final_answer(self, host: Callable[..., Any] | None) -> Callable[..., Any]:
        runtime = self._runtime
        call_host = self._thread.call_host

        def final_answer(*args: Any, **kwargs: Any) -> Any:
            if host is not None:
                value = call_host(host, *args, **kwargs)
            elif len(args) + len(kwargs) != 1:
                raise TypeError("final_answer() takes exactly one argument (the answer)")
            else:
                value = args[0] if args else next(iter(kwargs.values()))
            runtime.finish(value)

        return final_answer

    def send_tools(self, tools: dict[str, Callable[..., Any]]) -> None:
        """Expose ``tools`` (tools, managed agents, functions) as opaque callables.

        An ``__import__`` entry is accepted and ignored: imports always follow the policy."""
        builtins = self._runtime.builtins
        for name in self._tool_names:
            builtins.pop(name, None)
        names = set()
        for name, tool in tools.items():
            if name == "final_answer":
                builtins["final_answer"] = self._make_final_answer(tool)
                continue
            if name == "__import__":
                # Code written for smolagents passes the host's ``__import__`` along with the
                # tools. Sandboxed code cannot name it, and imports keep following the
                # authorised-imports policy, so it is accepted and not installed.
                continue
            if not name.isidentifier() or name.startswith("_"):
                raise UserError(f"Tool name {name!r} is not a valid Python identifier usable in code")
            builtins[name] = _ToolProxy(_TOOL_TOKEN, name, tool, self._thread.call_host)
            names.add(name)
        if "final_answer" not in tools:
            builtins["final_answer"] = self._make_final_answer(None)
        if names != self._tool_names:  # agents send the same tools before every run
            self._tool_names = frozenset(names)
            self._unbindable_cache = None

    def send_variables(self, variables: dict[str, Any]) -> None:
        """Add host values (data frames, images, answers of earlier steps) to the state."""
        self.state.update(variables)

    # ------------------------------------------------------------------ running
    def __call__(self, code: str, additional_variables: dict[str, Any] | None = None) -> CodeOutput:
        if additional_variables:
            self.send_variables(additional_variables)
        try:
            compiled = _compile(code, self._unbindable, self.limits)
        except InterpreterError as error:
            error.logs = ""  # type: ignore[attr-defined]
            raise
        return self._thread.run(
            lambda: self._run(compiled), self._runtime.trip_interrupt, self.limits.timeout_seconds
        )

    def _run(self, compiled: _Compiled) -> CodeOutput:
        """One call, on the sandbox thread (see ``_worker``)."""
        rt = self._runtime
        state = self.state
        try:
            rt.begin()
        except InterpreterError as exc:
            exc.logs = ""  # type: ignore[attr-defined]
            raise
        rt.state = state
        if compiled.rebinding:
            rt.rebound.update(compiled.rebinding)  # before any of it runs: loop flags read it
        state["__builtins__"] = rt.builtins
        value: Any = None
        error: BaseException | None = None
        try:
            try:
                exec(compiled.body, state)
                if compiled.tail is not None:
                    value = eval(compiled.tail, state)
            except BaseException as exc:  # everything stays inside: SystemExit, KeyboardInterrupt...
                error = exc
            logs = rt.output.getvalue()
            if rt.pending is not None:
                raise self._error(rt.pending, error, compiled, logs, rt.pending) from None
            if rt.final is not None:
                return CodeOutput(output=rt.final.value, logs=logs, is_final_answer=True)
            if error is not None:
                cause = None if isinstance(error, SandboxAbort) or rt.is_sandbox_instance(error) else error
                raise self._error(error, error, compiled, logs, None) from cause
            return CodeOutput(output=value, logs=logs, is_final_answer=False)
        finally:
            rt.end()
            for key in [key for key in state if key.startswith(HELPER_PREFIX) or key == "__builtins__"]:
                del state[key]

    def cleanup(self) -> None:
        """Stop the sandbox thread (a later call starts a new one; the state is kept)."""
        self._thread.stop()

    def _error(
        self,
        cause: BaseException,
        error: BaseException | None,
        compiled: _Compiled,
        logs: str,
        pending: InterpreterError | None,
    ) -> InterpreterError:
        line = _failing_line(error, compiled.lines) if error is not None else ""
        inner = pending if pending is not None else cause.error if isinstance(cause, SandboxAbort) else None
        if inner is not None:
            kind: type[InterpreterError] = type(inner)
            name, message = kind.__name__, inner.message
        else:
            kind = InterpreterError
            name = type(cause).__name__
            try:
                message = str(cause)
            except BaseException:
                message = "<exception message could not be computed>"
        where = f" at line '{line}'" if line else ""
        text = f"Code execution failed{where} due to: {name}: {message}"
        if isinstance(inner, SandboxResourceError) and kind is SandboxResourceError:
            result: InterpreterError = SandboxResourceError(text, limit=inner.limit)
        else:
            result = kind(text)
        result.logs = logs  # type: ignore[attr-defined]
        return result
