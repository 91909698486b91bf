"""Per-executor runtime state: the tick slow path, aborts, final answers and ``with``.

One :class:`Runtime` belongs to one executor. Its ``builtins`` dict is the builtins
namespace of every function the sandbox defines, so swapping the tick iterator in that
dict (see ``_limits``) reaches code that is already running, and code defined in an
earlier call, at once.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from itertools import chain, repeat
from types import FrameType
from typing import Any, NoReturn

from ..errors import InterpreterError, SandboxResourceError, SandboxSecurityError
from ._limits import (
    OutputBuffer,
    SandboxAbort,
    SandboxLimits,
    StackMeter,
    current_heap,
    current_rss,
    enter_call,
    exit_call,
    watchdog,
)

__all__ = [
    "EMPTY_TICKS",
    "TICK_CHUNK",
    "ClassRegistry",
    "FinalAnswerException",
    "OutsideCallError",
    "Runtime",
    "WithProxy",
]

#: An exhausted iterator: ``next(EMPTY_TICKS, True)`` is True, which sends a tick to the
#: slow path. Installed whenever no call is running, so sandbox code run later by the
#: host refuses to start.
EMPTY_TICKS = iter(())

#: Ticks granted per refill; the slow path (time, depth, thread checks) runs this often.
TICK_CHUNK = 1000

#: Above this recursion limit (the host may raise it) code without loops could nest C-level
#: calls deep enough to matter before a periodic check sees it: function entries are then
#: counted like loop ticks, so the depth and C-stack checks run every ``TICK_CHUNK`` calls.
SAFE_RECURSION_LIMIT = 8000

_get_ident = threading.get_ident
_monotonic = time.monotonic


class FinalAnswerException(BaseException):
    """Raised inside the sandbox by ``final_answer(x)``; ``__call__`` turns it into a result.

    It derives from ``BaseException`` and user ``except``/``finally``/``with`` clauses
    re-raise it, so sandboxed code cannot catch it.
    """

    def __init__(self, value: Any) -> None:
        super().__init__("final_answer was called")
        self.value = value


class OutsideCallError(SandboxSecurityError, AttributeError):
    """Sandbox code or a guarded object was used while no executor call runs on this thread.

    The host touches returned objects later (``repr``, ``len``, IPython/rich probing
    ``_repr_html_``...). It must get an ordinary ``Exception``, never the sandbox's
    internal ``BaseException`` signals; being an ``AttributeError`` too, attribute probes
    (``hasattr``, ``getattr(x, name, default)``) simply read "absent".
    """


def _outside(message: str) -> OutsideCallError:
    return OutsideCallError(
        f"{message} (sandbox objects refuse to run sandbox code or policy checks outside an executor call: "
        "they were used by the host after the call returned, or from another thread)"
    )


class ClassRegistry(set[type]):
    """The set of sandbox-made classes; ``add`` first runs the registered checks on the class.

    ``build_class`` registers every class a ``class`` statement creates, so this is the one
    place where a class body's bindings (e.g. host callables bound to dunders the host
    would call later) can be refused before the class is usable.
    """

    def __init__(self) -> None:
        super().__init__()
        self.checks: list[Callable[[type], None]] = []

    def add(self, cls: Any) -> None:
        for check in self.checks:
            check(cls)
        super().add(cls)


class _RaiseOnce:
    """A chunk of loop ticks that raises ``error`` instead of ticking, then is empty.

    ``itertools.chain`` gives up on its source for good when the source raises (every loop
    of the executor would then end at once, in later calls too), but only passes on an
    error raised by the chunk it draws from; so a stopped loop reports through one of these."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error: BaseException | None = error

    def __iter__(self) -> _RaiseOnce:
        return self

    def __next__(self) -> bool:
        error, self.error = self.error, None
        if error is None:
            raise StopIteration
        raise error


def _stack_depth() -> int:
    depth = 0
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


class Runtime:
    """Mutable state shared by the helpers of one executor."""

    def __init__(self, limits: SandboxLimits) -> None:
        self.limits = limits
        #: ``__sb_halt__`` is the flag checked at function entries (``_ast_build.gate_statement``):
        #: set whenever no call runs, when the call must stop, and by the watchdog's pokes
        self.builtins: dict[str, Any] = {"__sb_it__": EMPTY_TICKS, "__sb_halt__": True}
        #: count function entries as ticks (no timeout, or a very high recursion limit)
        self.count_entries = False
        #: ticks for loops: ``for x in compress(it, loop_ticks)`` draws one per iteration at
        #: C speed; a chunk is a list the stopping paths clear, so loops stop at once
        self._loop_chunk: list[bool] = []
        self.loop_ticks = chain.from_iterable(map(self._next_loop_chunk, repeat(None)))
        #: globals some code run here may rebind from inside a call (see ``_loop_types``)
        self.rebound: set[str] = set()
        #: the executor's state dict (the sandbox's globals) during a call
        self.state: dict[str, Any] = {}
        self.owner: int | None = None
        self.deadline: float | None = None
        self.memory_cap: int | None = None
        self.base_rss = 0
        self.base_heap: int | None = None
        self.ops_left: int | None = None
        self.pending: InterpreterError | None = None
        self.final: FinalAnswerException | None = None
        self.output = OutputBuffer(limits.max_output_length)
        self.depth_probe = 0
        #: classes created by sandboxed ``class`` statements (their instances are "ours")
        self.sandbox_classes: ClassRegistry = ClassRegistry()
        #: (enter, exit) pairs run at the start and end of every call: host-global state
        #: (decimal context, csv field limit...) is swapped for the sandbox's private copy
        self.stack = StackMeter()
        self.call_hooks: list[tuple[Callable[[], None], Callable[[], None]]] = []
        self._later_hooks: list[tuple[Callable[[], None], Callable[[], None]]] = []
        #: receiver types whose public attributes need no guard (see ``_security``)
        self.fast_types: set[type] = set()
        #: receiver types whose ``_private`` attributes can only be ones the sandbox set
        self.private_fast_types: set[type] = set()

    # ------------------------------------------------------------------ call lifetime
    def begin(self) -> None:
        if self.owner is not None:
            raise InterpreterError(
                "This executor is already running code: executor calls cannot be nested or concurrent."
            )
        limits = self.limits
        self.owner = _get_ident()
        self.pending = None
        self.final = None
        self.output = OutputBuffer(limits.max_output_length)
        self.deadline = _monotonic() + limits.timeout_seconds if limits.timeout_seconds else None
        self.ops_left = limits.max_operations
        self.memory_cap = limits.max_memory_bytes
        rss = current_rss() if self.memory_cap else None
        if rss is None:
            self.memory_cap = None
        else:
            self.base_rss = rss
            self.base_heap = current_heap()
        self.depth_probe = _stack_depth() + limits.max_recursion_depth
        # with a deadline the watchdog pokes the gate (see ``gate``); without one, counting
        # calls is what bounds code without loops (``max_operations``)
        self.count_entries = self.deadline is None or sys.getrecursionlimit() > SAFE_RECURSION_LIMIT
        self.stack.start()
        enter_call()
        try:
            self._refill()
            self._open_gate()
            self.call_hooks.extend(self._later_hooks)
            self._later_hooks.clear()
            for enter, _exit in self.call_hooks:
                enter()
            if self.deadline is not None or self.memory_cap is not None:
                watchdog.register(self)
        except BaseException:
            self.end()  # a failed start must not leave the executor marked as running
            raise

    def end(self) -> None:
        self._stop_ticks()
        try:
            for _enter, exit_ in reversed(self.call_hooks):
                try:
                    exit_()
                except Exception:  # restoring host state must never break the call's result
                    pass
        finally:
            self.owner = None
            exit_call()
            self.stack.stop()
            watchdog.unregister(self)

    def add_call_hook(self, enter: Callable[[], None], exit_: Callable[[], None]) -> None:
        """Swap host state at every call boundary; takes effect at once in the running call.

        Added from another thread while a call runs (the host probing a returned proxy),
        it waits for the next call, so ``exit_`` never runs without its ``enter``."""
        if self.owner is None:
            self.call_hooks.append((enter, exit_))
        elif self.active:
            self.call_hooks.append((enter, exit_))
            enter()
        else:
            self._later_hooks.append((enter, exit_))

    @property
    def active(self) -> bool:
        return self.owner == _get_ident()

    def remaining_time(self) -> float | None:
        return None if self.deadline is None else self.deadline - _monotonic()

    # ------------------------------------------------------------------ ticks
    def _refill(self) -> None:
        if self.ops_left is None:
            grant = TICK_CHUNK
        else:
            grant = min(TICK_CHUNK, self.ops_left)
            self.ops_left -= grant
        self.builtins["__sb_it__"] = repeat(False, grant)
        if self.pending is not None:  # the watchdog tripped while this slow path ran
            self.builtins["__sb_it__"] = EMPTY_TICKS

    def slow_tick(self) -> None:
        """Run when the tick iterator is empty: refill, or stop the sandbox."""
        self._check()
        self._refill()

    def _open_gate(self) -> None:
        self.builtins["__sb_halt__"] = self.count_entries
        if self.pending is not None:  # the watchdog tripped while this ran
            self.builtins["__sb_halt__"] = True

    def gate(self) -> None:
        """Run when sandbox code finds ``__sb_halt__`` set: stop the call, refuse code run
        outside one, or run the periodic checks (recursion depth, C stack) and reopen.

        The watchdog sets the flag every few milliseconds, so recursion without loops is
        checked too; counting entries instead (``count_entries``) costs a call per entry.
        Another thread running sandbox code during a call passes the gate but not a loop
        tick, and is stopped with the call."""
        if self.count_entries:
            if next(self.builtins["__sb_it__"], True):
                self.slow_tick()
            return
        self._check()
        self._open_gate()

    def poke(self) -> None:
        """From the watchdog: the next gate runs the periodic checks."""
        self.builtins["__sb_halt__"] = True

    def _next_loop_chunk(self, _: Any) -> Iterator[bool]:
        """The next chunk of loop ticks, after the same checks as ``slow_tick`` (whose
        error comes out of the chunk: see ``_RaiseOnce``)."""
        try:
            self._check()
        except BaseException as error:  # the abort, a final answer, a call from outside
            return _RaiseOnce(error)
        if self.ops_left is None:
            grant = TICK_CHUNK
        else:
            grant = min(TICK_CHUNK, self.ops_left)
            self.ops_left -= grant
        chunk = self._loop_chunk = [True] * grant
        if self.pending is not None:  # the watchdog tripped while this ran
            chunk.clear()
        return iter(chunk)

    def _stop_ticks(self) -> None:
        self.builtins["__sb_it__"] = EMPTY_TICKS
        self.builtins["__sb_halt__"] = True
        self._loop_chunk.clear()

    def _check(self) -> None:
        if self.owner != _get_ident():
            raise _outside("Code defined in the sandbox cannot run outside an executor call")
        if self.pending is not None:
            raise SandboxAbort(self.pending)
        if self.final is not None:
            raise self.final
        if self.deadline is not None and _monotonic() > self.deadline:
            self.trip_timeout()
            raise SandboxAbort(self.pending)  # type: ignore[arg-type]
        if self.ops_left == 0:
            counted = "loop iterations and function calls" if self.count_entries else "loop iterations"
            self.abort(
                SandboxResourceError(
                    f"Execution exceeded the limit of {self.limits.max_operations} operations "
                    f"({counted}; SandboxLimits.max_operations)",
                    limit="max_operations",
                )
            )
        try:
            sys._getframe(self.depth_probe)
        except ValueError:
            pass
        else:
            self.abort(
                SandboxResourceError(
                    f"Maximum recursion depth of {self.limits.max_recursion_depth} exceeded "
                    "(SandboxLimits.max_recursion_depth)",
                    limit="max_recursion_depth",
                )
            )
        if self.stack.used() > self.stack.budget():
            self.abort(
                SandboxResourceError(
                    f"Execution nested C calls {self.stack.used() // 1024} KiB deep into the C stack "
                    "(e.g. iterators or generators consuming each other recursively); stopped before it "
                    "could crash the interpreter (limit: half the thread's stack, at most 4 MiB)",
                    limit="max_recursion_depth",
                )
            )

    def slow_true(self) -> bool:
        """Slow path for ticks inside comprehension conditions (must evaluate true)."""
        self.slow_tick()
        return True

    def tick(self) -> None:
        """A tick for host-side helpers that loop on behalf of sandboxed code."""
        if next(self.builtins["__sb_it__"], True):
            self.slow_tick()

    def resume(self, value: Any) -> Any:
        """Wraps ``(yield)`` expressions: a generator resumed later must still be guarded."""
        if next(self.builtins["__sb_it__"], True):
            self.slow_tick()
        return value

    # ------------------------------------------------------------------ stopping
    def trip_timeout(self) -> None:
        if self.pending is None:
            self.pending = SandboxResourceError(
                f"Execution exceeded the time limit of {self.limits.timeout_seconds} seconds "
                "(SandboxLimits.timeout_seconds)",
                limit="timeout_seconds",
            )
        self._stop_ticks()

    def trip_interrupt(self) -> None:
        """The caller was interrupted (Ctrl-C) while waiting: stop at the next tick."""
        if self.pending is None:
            self.pending = InterpreterError("Execution was interrupted (KeyboardInterrupt)")
        self._stop_ticks()

    def trip_memory(self, grown: int) -> None:
        if self.pending is None:
            self.pending = SandboxResourceError(
                f"Execution used about {grown // 2**20} MiB of new memory, over the limit of "
                f"{(self.memory_cap or 0) // 2**20} MiB (SandboxLimits.max_memory_bytes)",
                limit="max_memory_bytes",
            )
        self._stop_ticks()

    def abort(self, error: InterpreterError) -> NoReturn:
        """Stop the running call with ``error``; later ticks keep re-raising it.

        Outside a call on this thread (the host using a returned object, another thread)
        there is no call to stop: raise an ordinary exception and leave the state alone.
        """
        if self.owner != _get_ident():
            raise _outside(error.message)
        if self.pending is None:
            self.pending = error
        self._stop_ticks()
        raise SandboxAbort(self.pending)

    def security(self, message: str) -> NoReturn:
        self.abort(SandboxSecurityError(message))

    def rethrow(self) -> None:
        """First statement of every user ``except`` and ``finally`` block."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (SandboxAbort, FinalAnswerException)):
            raise exc
        if self.owner != _get_ident():
            if isinstance(exc, GeneratorExit):
                raise exc  # the host closing a sandbox generator: finish it without running user code
            self.slow_tick()  # refuses: sandbox code does not run outside a call
        if self.pending is not None:
            raise SandboxAbort(self.pending)
        if self.final is not None:
            raise self.final

    def finish(self, value: Any) -> NoReturn:
        """Record and raise a final answer (see ``final_answer`` in ``_builtins``)."""
        if self.owner != _get_ident():
            raise _outside("final_answer() can only be called while the executor runs code")
        if self.pending is not None:
            raise SandboxAbort(self.pending)
        self.final = FinalAnswerException(value)
        raise self.final

    # ------------------------------------------------------------------ classes
    def is_sandbox_instance(self, obj: Any) -> bool:
        return any(klass in self.sandbox_classes for klass in type(obj).__mro__)

    def is_sandbox_class(self, obj: Any) -> bool:
        return isinstance(obj, type) and any(klass in self.sandbox_classes for klass in obj.__mro__)


class WithProxy:
    """Wraps a context manager so its ``__exit__`` cannot swallow sandbox aborts.

    The protocol is otherwise followed exactly: ``__enter__``/``__exit__`` are looked up
    on the type before entering, and ``__exit__``'s return value decides suppression.
    Tracebacks are never handed to user code (``tb`` is always None).
    """

    __slots__ = ("_enter", "_exit", "_manager")

    def __init__(self, manager: Any) -> None:
        kind = type(manager)
        try:
            enter = kind.__enter__
            exit_ = kind.__exit__
        except AttributeError:
            raise TypeError(
                f"'{kind.__name__}' object does not support the context manager protocol"
            ) from None
        self._manager = manager
        self._enter = enter
        self._exit = exit_

    def __enter__(self) -> Any:
        return self._enter(self._manager)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if isinstance(exc, (SandboxAbort, FinalAnswerException)):
            self._exit(self._manager, exc_type, exc, None)
            return False
        return bool(self._exit(self._manager, exc_type, exc, None))
