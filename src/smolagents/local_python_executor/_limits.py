"""Resource limits: the limits dataclass, the watchdog thread and size pre-checks.

Preemption is cooperative but cannot be dodged: the rewriter puts a one-instruction tick
in every loop body, function entry and comprehension step. A tick draws from an
``itertools.repeat`` iterator held in the sandbox builtins; when the iterator runs dry
(budget spent, or the watchdog swapped in an empty one because the deadline passed or
memory grew too much) the tick calls the runtime's slow path, which refills or aborts.

Single C-level operations cannot be interrupted, so everything that can blow up in one
call (big-int arithmetic, repetition, padding, ``range`` materialisation) is checked
*before* it runs, with the helpers at the bottom of this module.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, NoReturn

from ..errors import InterpreterError, SandboxResourceError

__all__ = [
    "DEFAULT_MAX_LEN_OUTPUT",
    "OutputBuffer",
    "SandboxAbort",
    "SandboxLimits",
    "StackMeter",
    "check_format_spec",
    "check_int_bits",
    "check_int_work",
    "check_length",
    "check_percent_format",
    "current_heap",
    "current_rss",
    "enter_call",
    "exit_call",
    "int_work_budget",
    "resource_error",
    "watchdog",
]

DEFAULT_MAX_LEN_OUTPUT = 50_000


@dataclass
class SandboxLimits:
    """Bounds on one executor call. ``None`` disables a limit (not recommended).

    Defaults are generous for agent code and still keep a runaway snippet from hurting
    the host: 30 s, 100 M ticks, 2 GiB of memory growth, 100 k-bit integers (30,000
    digits, far more than ``str(int)`` prints), 10 M-item sequences, 600 nested calls,
    1 MB / 50 k syntax nodes of code per call (parsing and compiling are not preemptible).

    ``max_operations`` counts loop iterations; with a timeout, function calls and the
    iterations of short innermost ``range`` loops inside functions (at most 256 per loop
    entry) are bounded by the time instead of counted (checking a flag is much cheaper
    than a tick), and without one they are counted too. ``max_recursion_depth`` is checked at loop
    ticks and every few milliseconds; recursion without loops that outruns those checks
    stops at Python's own recursion limit with a ``RecursionError``.
    """

    timeout_seconds: float | None = 30.0
    max_operations: int | None = 100_000_000
    max_memory_bytes: int | None = 2 * 1024**3
    max_output_length: int = DEFAULT_MAX_LEN_OUTPUT
    max_int_bits: int = 100_000
    max_sequence_length: int = 10_000_000
    max_recursion_depth: int = 600
    regex_timeout_seconds: float | None = 2.0
    max_code_length: int = 1_000_000
    max_code_nodes: int = 50_000


class SandboxAbort(BaseException):
    """Carries a security or resource error out of sandboxed code.

    It derives from ``BaseException`` and every ``except`` clause, ``finally`` block and
    ``with`` exit written by the user re-raises it, so user code can never swallow it.
    """

    def __init__(self, error: InterpreterError) -> None:
        super().__init__(error.message)
        self.error = error


#: Per thread: how many executor calls are running on it (``Runtime.begin``/``end``).
_calls = threading.local()


def enter_call() -> None:
    _calls.depth = getattr(_calls, "depth", 0) + 1


def exit_call() -> None:
    _calls.depth = max(getattr(_calls, "depth", 0) - 1, 0)


def resource_error(message: str, limit: str) -> NoReturn:
    """Abort the running sandbox call with a :class:`SandboxResourceError`.

    Outside a call (the host using a returned ``BigRange`` or override later) it raises
    the error itself, an ordinary ``Exception``: the sandbox's abort signal is a
    ``BaseException`` that only an executor call may see."""
    error = SandboxResourceError(message, limit=limit)
    if getattr(_calls, "depth", 0):
        raise SandboxAbort(error)
    raise error


# --------------------------------------------------------------------------- C stack

_stack_budget: int | None = None


class StackMeter:
    """How much C stack the running thread used since ``start()`` (Linux; else a no-op).

    Some C code recurses without CPython's recursion check (``list(map(list, gen))`` with a
    generator yielding such maps, deep tuple hashing...) and overflows the C stack, which
    kills the process. Python frames do not show that depth, the stack pointer does: the
    kernel reports it in ``/proc/thread-self/syscall``, read here with one ``pread``.
    """

    def __init__(self) -> None:
        self._fd: int | None = None
        self._base = 0

    def start(self) -> None:
        self.stop()
        try:
            self._fd = os.open("/proc/thread-self/syscall", os.O_RDONLY)
            self._base = self._pointer()
        except (OSError, ValueError, IndexError):
            self.stop()

    def stop(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def _pointer(self) -> int:
        return int(os.pread(self._fd, 256, 0).split()[-2], 16)  # type: ignore[arg-type]

    @staticmethod
    def budget() -> int:
        """C stack a call may use beyond what the host had used: half the thread's stack
        (the limit for the main thread, ``threading.stack_size()`` for new ones), at most 4 MiB."""
        global _stack_budget
        if _stack_budget is None:
            try:
                import resource

                soft = resource.getrlimit(resource.RLIMIT_STACK)[0]
            except (ImportError, ValueError, OSError):
                soft = -1
            limit = soft if soft > 0 else 8 * 2**20
            threads = threading.stack_size() or limit
            _stack_budget = min(4 * 2**20, limit // 2, threads // 2)
        return _stack_budget

    def used(self) -> int:
        """Bytes of C stack used since ``start()`` (0 where it cannot be measured)."""
        if self._fd is None:
            return 0
        try:
            return self._base - self._pointer()
        except (OSError, ValueError, IndexError):
            return 0


# --------------------------------------------------------------------------- output


class OutputBuffer:
    """Print capture that keeps the head and the tail, so memory stays bounded."""

    def __init__(self, limit: int) -> None:
        self.limit = max(int(limit), 0)
        self._head: list[str] = []
        self._head_len = 0
        self._tail: deque[str] = deque()
        self._tail_len = 0
        self.total = 0

    def write(self, text: str) -> None:
        self.total += len(text)
        head_room = self.limit // 2 - self._head_len
        if head_room > 0:
            piece = text[:head_room]
            self._head.append(piece)
            self._head_len += len(piece)
            text = text[head_room:]
            if not text:
                return
        tail_limit = self.limit - self.limit // 2
        if len(text) >= tail_limit:
            self._tail.clear()
            self._tail.append(text[len(text) - tail_limit :] if tail_limit else "")
            self._tail_len = tail_limit
            return
        self._tail.append(text)
        self._tail_len += len(text)
        while self._tail_len > tail_limit and self._tail:
            first = self._tail.popleft()
            excess = self._tail_len - tail_limit
            if len(first) > excess:
                self._tail.appendleft(first[excess:])
                self._tail_len -= excess
            else:
                self._tail_len -= len(first)

    def getvalue(self) -> str:
        head = "".join(self._head)
        tail = "".join(self._tail)
        dropped = self.total - len(head) - len(tail)
        if dropped <= 0:
            return head + tail
        return (
            f"{head}\n..._Print outputs were over {self.limit} characters, so {dropped} characters "
            f"were truncated_...\n{tail}"
        )


# --------------------------------------------------------------------------- memory


def _make_rss_reader() -> Any:
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        with open("/proc/self/statm", "rb") as fh:
            fh.read()
    except (OSError, ValueError, AttributeError):
        return None

    # one descriptor per process, re-read with pread (opening the file was most of the cost
    # of every executor call); reopened after a fork, whose /proc/self is another process
    opened: list[tuple[int, int]] = []

    def read() -> int:
        pid = os.getpid()
        if not opened or opened[0][0] != pid:
            opened[:] = [(pid, os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC))]
        return int(os.pread(opened[0][1], 256, 0).split()[1]) * page

    return read


_rss_reader = _make_rss_reader()


def current_rss() -> int | None:
    """Resident memory of this process in bytes, or None where it cannot be read cheaply."""
    return _rss_reader() if _rss_reader is not None else None


_UNSET_READER: Any = object()
_heap_reader: Any = _UNSET_READER


def _make_heap_reader() -> Any:
    """Bytes the C allocator has handed out (glibc ``mallinfo2``), or None elsewhere.

    Resident memory alone misses growth that reuses memory the process freed earlier (a
    long-lived host after a big computation): the sandbox could then allocate that much
    again before RSS moved. ``ctypes`` is imported here, on first use of the memory cap."""
    try:
        import ctypes

        class MallInfo2(ctypes.Structure):
            _fields_ = [
                (name, ctypes.c_size_t)
                for name in (
                    "arena",
                    "ordblks",
                    "smblks",
                    "hblks",
                    "hblkhd",
                    "usmblks",
                    "fsmblks",
                    "uordblks",
                    "fordblks",
                    "keepcost",
                )
            ]

        mallinfo2 = ctypes.CDLL(None).mallinfo2
        mallinfo2.restype = MallInfo2
        mallinfo2.argtypes = []
        mallinfo2()
    except (ImportError, OSError, AttributeError):
        return None

    def read() -> int:
        info = mallinfo2()
        return int(info.uordblks + info.hblkhd)

    return read


def current_heap() -> int | None:
    """Bytes allocated through malloc and still in use, or None where it cannot be read."""
    global _heap_reader
    if _heap_reader is _UNSET_READER:
        _heap_reader = _make_heap_reader()
    return _heap_reader() if _heap_reader is not None else None


# --------------------------------------------------------------------------- watchdog


class _Watchdog:
    """One daemon thread that trips running executors past their deadline or memory cap.

    It only sleeps while nothing runs. Tripping never raises in the sandbox thread from
    outside; it swaps the tick iterator so the sandbox thread aborts at its next tick.
    Every round it also pokes each runtime, whose next function entry then runs the
    periodic checks that loops get from their ticks.
    """

    interval = 0.01

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active: set[Any] = set()
        self._thread: threading.Thread | None = None

    def register(self, runtime: Any) -> None:
        with self._cond:
            self._active.add(runtime)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="smolagents-sandbox-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def unregister(self, runtime: Any) -> None:
        with self._cond:
            self._active.discard(runtime)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._active:
                    self._cond.wait()
                active = list(self._active)
            now = time.monotonic()
            rss: int | None = None
            heap: int | None = None
            for runtime in active:
                try:
                    runtime.poke()
                    if runtime.deadline is not None and now > runtime.deadline:
                        runtime.trip_timeout()
                    elif runtime.memory_cap is not None and _rss_reader is not None:
                        if rss is None:
                            rss = _rss_reader()
                            heap = current_heap()
                        grown = rss - runtime.base_rss
                        if heap is not None and runtime.base_heap is not None:
                            grown = max(grown, heap - runtime.base_heap)
                        if grown > runtime.memory_cap:
                            runtime.trip_memory(grown)
                except Exception:  # pragma: no cover - the watchdog must never die
                    pass
            # hold no runtime while sleeping or waiting: a dropped executor must be freed
            active = []
            runtime = None
            time.sleep(self.interval)


watchdog = _Watchdog()


# --------------------------------------------------------------------------- pre-checks


def check_int_bits(bits: int, limits: SandboxLimits, what: str) -> None:
    """Refuse an integer result estimated to need more than ``max_int_bits`` bits."""
    if bits > limits.max_int_bits:
        resource_error(
            f"{what} would produce an integer of about {bits} bits, over the limit of "
            f"{limits.max_int_bits} bits (SandboxLimits.max_int_bits)",
            "max_int_bits",
        )


def int_work_budget(limits: SandboxLimits) -> int:
    """Bit-operations allowed for one quadratic integer operation (division, gcd, modular
    ``pow``, ``isqrt``): four times a full-size ``max_int_bits`` product, about 0.1 s."""
    return 4 * limits.max_int_bits * limits.max_int_bits


def check_int_work(work: int, limits: SandboxLimits, what: str, bits: tuple[int, ...] = ()) -> None:
    """Refuse an integer operation estimated to cost more than :func:`int_work_budget`."""
    if work > int_work_budget(limits):
        sizes = f" on operands of {' and '.join(str(b) for b in bits)} bits" if bits else ""
        resource_error(
            f"{what}{sizes} would take too long (about {work:.2e} bit operations in one uninterruptible "
            f"call; the budget is 4 * max_int_bits**2 = {int_work_budget(limits):.2e}, "
            "SandboxLimits.max_int_bits). Work with smaller numbers, or raise max_int_bits",
            "max_int_bits",
        )


def check_length(length: int, limits: SandboxLimits, what: str) -> None:
    """Refuse a sequence result longer than ``max_sequence_length`` items."""
    if length > limits.max_sequence_length:
        resource_error(
            f"{what} would produce {length} items, over the limit of {limits.max_sequence_length} "
            "(SandboxLimits.max_sequence_length)",
            "max_sequence_length",
        )


_DIGITS = re.compile(r"\d+")


def check_format_spec(spec: str, limits: SandboxLimits) -> None:
    """Refuse format specs whose width or precision would build a huge string."""
    for run in _DIGITS.findall(spec):
        if len(run) > 9 or int(run) > limits.max_sequence_length:
            resource_error(
                f"format spec {spec[:40]!r} asks for a width or precision over "
                f"{limits.max_sequence_length} characters (SandboxLimits.max_sequence_length)",
                "max_sequence_length",
            )


_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_percent_cache: dict[tuple[str | bytes, int], bool] = {}


def check_percent_format(fmt: str | bytes | bytearray, args: Any, limits: SandboxLimits) -> None:
    """Refuse ``'%10000000000d' % x`` style padding bombs, including ``*`` widths."""
    # a bytearray is unhashable: its cache key is an immutable copy
    key = (bytes(fmt) if isinstance(fmt, bytearray) else fmt, limits.max_sequence_length)
    uses_star = _percent_cache.get(key)
    if uses_star is None:
        text = fmt.decode("latin-1") if isinstance(fmt, (bytes, bytearray)) else fmt
        uses_star = False
        for match in _PERCENT.finditer(text):
            for group in match.groups():
                if group == "*":
                    uses_star = True
                elif group:
                    check_format_spec(group, limits)
        if len(_percent_cache) > 2048:
            _percent_cache.clear()
        _percent_cache[key] = uses_star
    if uses_star:
        values = args if isinstance(args, tuple) else (args,)
        for value in values:
            if isinstance(value, int) and abs(value) > limits.max_sequence_length:
                resource_error(
                    f"'*' width or precision {value} is over {limits.max_sequence_length} characters",
                    "max_sequence_length",
                )
