"""Keep the sandbox thread and its caller on one CPU while a call is short.

Why: the two threads never run Python at the same time (the caller waits for the job, the
job waits for the caller's tool calls), yet the kernel spreads them over two CPUs. In
CPython 3.11 every switch between them then moves the cache lines of what both touch
(reference counts of ``None``, small ints, shared dicts, code objects) to the other CPU.
Measured on a 2-CPU VM, a CodeAgent step with a zero-latency model cost ~0.45 ms of CPU
over two CPUs and ~0.27 ms on one. So for a call, both threads run on the CPU the caller
was on. The pinning is undone

* around every host call: tools run with the caller's own affinity (threads or processes
  they start inherit it);
* after a few milliseconds: a long call may use several CPUs (numpy releasing the GIL);
* at the end of the call, for the caller, and for any thread the call started (a
  library's thread pool created on first use inherits the pinned CPU): those get the
  caller's affinity back.

Linux only. Nothing changes where the caller may use a single CPU, where the affinity
cannot be set, or with ``SMOLAGENTS_SANDBOX_COLOCATE=0``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

__all__ = ["PINNED_SECONDS", "Colocation", "Pin"]

#: a call still running after this long is unpinned
PINNED_SECONDS = 0.005
_TASKS = "/proc/self/task"


def _load_getcpu() -> Callable[[], int] | None:
    if os.environ.get("SMOLAGENTS_SANDBOX_COLOCATE", "1") == "0" or not hasattr(os, "sched_setaffinity"):
        return None
    try:
        import ctypes

        getcpu = ctypes.CDLL(None).sched_getcpu
        getcpu.restype = ctypes.c_int
        getcpu.argtypes = []
        if getcpu() < 0 or not os.path.isdir(_TASKS):
            return None
        return getcpu
    except (ImportError, OSError, AttributeError):
        return None


class Pin:
    """One call's pinning: the CPU, the caller's own affinity, the threads before it."""

    __slots__ = ("active", "cpu", "saved", "threads")

    def __init__(self, cpu: int, saved: set[int], threads: set[str]) -> None:
        self.cpu = cpu
        self.saved = saved
        self.threads = threads
        self.active = True


class Colocation:
    """The pinning of one sandbox thread (see the module docstring)."""

    _getcpu: Callable[[], int] | bool | None = False  # False: not looked up yet

    def __init__(self) -> None:
        self.worker_tid: int | None = None
        self.worker_cpu: int | None = None  # the CPU the worker is pinned to, if any

    def worker_started(self) -> None:
        """On the sandbox thread, when it starts."""
        self.worker_cpu = None
        self.worker_tid = threading.get_native_id()

    def begin(self) -> Pin | None:
        """Pin the worker and the calling thread to the caller's CPU (None: not pinned)."""
        getcpu = Colocation._getcpu
        if getcpu is False:
            getcpu = Colocation._getcpu = _load_getcpu()
        worker = self.worker_tid
        if getcpu is None or worker is None:
            return None
        try:
            saved = os.sched_getaffinity(0)
            cpu = getcpu()  # type: ignore[operator]
            if len(saved) < 2 or cpu not in saved:
                return None
            pin = Pin(cpu, saved, set(os.listdir(_TASKS)))
            if self.worker_cpu != cpu:
                os.sched_setaffinity(worker, {cpu})
                self.worker_cpu = cpu
            os.sched_setaffinity(0, {cpu})
        except OSError:
            Colocation._getcpu = None  # not permitted here (a sandboxed container...): stop trying
            return None
        return pin

    def host_call(self, pin: Pin | None, starting: bool) -> None:
        """Around a host call on the caller's thread: its own affinity while it runs."""
        if pin is None or not pin.active:
            return
        try:
            os.sched_setaffinity(0, pin.saved if starting else {pin.cpu})
        except OSError:
            pass

    def release(self, pin: Pin | None, worker_too: bool) -> None:
        """Give the caller (and with ``worker_too`` the worker) its affinity back, and the
        threads started meanwhile the caller's affinity."""
        if pin is None or not pin.active:
            return
        pin.active = False
        try:
            os.sched_setaffinity(0, pin.saved)
            if worker_too and self.worker_tid is not None:
                os.sched_setaffinity(self.worker_tid, pin.saved)
                self.worker_cpu = None
            new = set(os.listdir(_TASKS)) - pin.threads
        except OSError:
            return
        for name in new:
            tid = int(name)
            if tid == self.worker_tid:
                continue
            try:
                if os.sched_getaffinity(tid) == {pin.cpu}:
                    os.sched_setaffinity(tid, pin.saved)
            except OSError:
                pass  # it ended already
