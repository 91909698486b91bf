"""The thread sandboxed code runs on: a deep C stack, and tool calls sent back to the caller.

Why a thread of its own: some C code in CPython recurses without a depth check. Hashing a
tuple nested a few hundred thousand levels deep (``t = (t,)`` in a loop, then ``{t}``)
recurses once per level and overflows an ordinary 8 MiB stack, killing the host process.
Such a structure costs at least 48 bytes of memory per level and the hash about 50 bytes
of stack per level, so a stack somewhat larger than the memory cap makes the overflow
unreachable: the memory cap stops the structure first. A thread's stack is only reserved
address space until it is touched, so a large one costs nothing in normal runs.

Tools still run on the thread that called the executor (browser drivers and database
connections are often bound to their thread): the worker sends each tool call back and
waits, and the caller runs it between waits.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import InterpreterError, SandboxResourceError
from ._colocate import PINNED_SECONDS, Colocation, Pin

__all__ = ["SandboxThread", "stack_bytes_for"]

_MiB = 2**20
_MIN_STACK = 64 * _MiB
_MAX_STACK = 8 * 1024 * _MiB
#: ``threading.stack_size`` is process-wide: set it and start the thread under one lock
_stack_size_lock = threading.Lock()
_STOP = object()
#: how long past its time limit the caller waits for code that does not return to Python
_GRACE_SECONDS = 2.0


def stack_bytes_for(max_memory_bytes: int | None) -> int:
    """A stack deep enough to hash any tuple nesting the memory cap lets code build.

    Under a capped address space (``RLIMIT_AS``, as in a process sandbox) the stack takes
    at most a quarter of it: the code's own data needs the rest, and there the process
    boundary is what contains a crash."""
    wanted = 4 * 1024 * _MiB if max_memory_bytes is None else max_memory_bytes * 3 // 2 + _MIN_STACK
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            wanted = min(wanted, soft // 4)
    except (ImportError, OSError, ValueError):  # not POSIX
        pass
    return max(_MIN_STACK, min(_MAX_STACK, wanted))


class _Failure:
    """An exception crossing between the two threads (re-raised on the other side)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class SandboxThread:
    """One daemon thread that runs an executor's calls, one at a time.

    ``run(job)`` blocks the caller until ``job`` finished on the thread and returns its
    result (or raises its exception). While it waits, the caller runs the host calls the
    job sends back with ``call_host``. Started lazily; ``stop()`` ends it."""

    def __init__(self, stack_bytes: int) -> None:
        self.stack_bytes = stack_bytes
        self._thread: threading.Thread | None = None
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # messages to the caller: ("host", fn, args, kwargs) or ("done", result | _Failure)
        self._to_caller: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # answers to the worker's host calls
        self._to_worker: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._busy = threading.Lock()
        #: the caller gave up on the running job (stuck past its deadline): the worker drops
        #: its answer and frees the executor when it finally returns
        self._abandoned = False
        self._handoff = threading.Lock()
        self._colocation = Colocation()

    # ------------------------------------------------------------------ caller side
    def run(
        self, job: Callable[[], Any], on_interrupt: Callable[[], None], timeout: float | None = None
    ) -> Any:
        """Run ``job`` on the sandbox thread; ``on_interrupt`` asks it to stop early
        (the caller got ``KeyboardInterrupt`` while waiting).

        With ``timeout`` (the sandbox's own limit), the caller stops waiting a grace period
        after it: code stuck in one call that never returns to Python (a blocking host
        function, a long numpy routine) cannot be stopped in-process, but it must not hang
        the agent. The executor then refuses calls until that call returns. (A C call that
        also holds the GIL, like ``==`` on huge shared tuples, blocks the caller too: only a
        process boundary stops that.)"""
        if not self._busy.acquire(blocking=False):
            raise InterpreterError(self._busy_message())
        release = True
        pin: Pin | None = None
        try:
            self._ensure_started()
            pin = self._colocation.begin()  # see _colocate: both threads on the caller's CPU
            self._jobs.put(job)
            interrupted: BaseException | None = None
            patience = None if timeout is None else timeout + _GRACE_SECONDS + timeout / 10
            waited_since = time.monotonic()
            unpin_at = waited_since + PINNED_SECONDS
            while True:
                try:
                    now = time.monotonic()
                    wait = None if patience is None else max(0.0, patience - (now - waited_since))
                    if pin is not None and pin.active:
                        if now >= unpin_at:  # a long call: let it use every CPU
                            self._colocation.release(pin, worker_too=True)
                        else:
                            wait = unpin_at - now if wait is None else min(wait, unpin_at - now)
                    message = self._to_caller.get(timeout=wait)
                except queue.Empty:
                    if pin is not None and pin.active and time.monotonic() >= unpin_at:
                        continue  # the unpinning moment, not the time limit
                    if self._abandon():
                        release = False  # the worker releases it when the stuck call returns
                        raise SandboxResourceError(
                            f"Execution exceeded the time limit of {timeout} seconds and is stuck in a single "
                            "call that does not return to Python (a C function or a blocking host function), "
                            "which cannot be interrupted in-process. This executor is unusable until that call "
                            "returns; use executor_type='process' (ProcessExecutor) to have such code killed.",
                            limit="timeout_seconds",
                        ) from None
                    continue  # it finished just now
                except BaseException as error:  # Ctrl-C while the sandbox runs
                    if interrupted is None:
                        interrupted = error
                        on_interrupt()
                    continue
                if message[0] == "done":
                    break
                _, function, args, kwargs = message
                if interrupted is not None:
                    self._to_worker.put(_Failure(interrupted))
                    continue
                host_started = time.monotonic()
                self._colocation.host_call(pin, starting=True)
                try:
                    answer: Any = function(*args, **kwargs)
                except BaseException as error:
                    answer = _Failure(error)
                self._colocation.host_call(pin, starting=False)
                waited_since += time.monotonic() - host_started  # tools' time is not the code's
                self._to_worker.put(answer)
            if interrupted is not None:
                raise interrupted
            result = message[1]
            if isinstance(result, _Failure):
                raise result.error
            return result
        finally:
            self._colocation.release(pin, worker_too=False)
            if release:
                self._busy.release()

    def _abandon(self) -> bool:
        """Give up on the running job unless its answer is already there."""
        with self._handoff:
            if not self._to_caller.empty():
                return False
            self._abandoned = True
            return True

    def _busy_message(self) -> str:
        if self._abandoned:
            return (
                "This executor is still running earlier code stuck in a single C-level call past its "
                "time limit; it cannot be used until that call returns. Create a new executor, or use "
                "executor_type='process' (ProcessExecutor), which kills such code."
            )
        return "This executor is already running code: executor calls cannot be nested or concurrent."

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        size = self.stack_bytes
        with _stack_size_lock:
            previous = threading.stack_size()
            try:
                while True:
                    thread = threading.Thread(target=self._serve, name="smolagents-sandbox", daemon=True)
                    try:
                        threading.stack_size(size)
                        thread.start()
                        break
                    except (RuntimeError, ValueError, MemoryError):
                        # the address space is capped (RLIMIT_AS) or the reservation refused:
                        # take the largest stack the system gives
                        if size <= _MIN_STACK:
                            raise
                        size = max(_MIN_STACK, size // 2)
            finally:
                threading.stack_size(previous)
        self.stack_bytes = size
        self._thread = thread

    def stop(self) -> None:
        """End the thread (it finishes a running job first); a later ``run`` restarts it."""
        if self._thread is not None and self._thread.is_alive():
            self._jobs.put(_STOP)
        self._thread = None

    # ------------------------------------------------------------------ worker side
    @property
    def on_worker(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def call_host(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``function`` on the caller's thread (from the worker); elsewhere call it directly."""
        if not self.on_worker:
            return function(*args, **kwargs)
        with self._handoff:
            if self._abandoned:
                raise InterpreterError("The caller stopped waiting for this code (time limit exceeded)")
            self._to_caller.put(("host", function, args, kwargs))
        answer = self._to_worker.get()
        if isinstance(answer, _Failure):
            raise answer.error
        return answer

    def _serve(self) -> None:
        self._colocation.worker_started()
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            try:
                result: Any = job()
            except BaseException as error:  # everything goes back to the caller
                result = _Failure(error)
            # Drop the job before answering: freeing what it held can run finalizers, and
            # those must not run on this thread while the caller already goes on (CPython
            # 3.11's AST state is shared by threads: a traceback formatted here while the
            # caller compiles corrupts it).
            job = None
            with self._handoff:
                if self._abandoned:  # nobody waits for this answer any more
                    self._abandoned = False
                    self._busy.release()
                else:
                    self._to_caller.put(("done", result))
            result = None
