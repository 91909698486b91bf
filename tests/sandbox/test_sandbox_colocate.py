"""The sandbox thread and its caller share a CPU during short calls (``_colocate``): the
caller's affinity must come back after every call, tools must run with it, long calls
must be unpinned, and threads a call starts must not stay pinned to one CPU."""

from __future__ import annotations

import os

import pytest

from smolagents.local_python_executor import LocalPythonExecutor
from smolagents.local_python_executor._colocate import Colocation

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="CPU affinity needs Linux and at least two usable CPUs",
)


def executor(*imports: str) -> LocalPythonExecutor:
    ex = LocalPythonExecutor(["time", *imports])
    ex.send_tools({})
    ex("x = 1")  # the sandbox thread is up and known
    return ex


def test_the_callers_affinity_comes_back_after_each_call() -> None:
    before = os.sched_getaffinity(0)
    ex = executor()
    for code in ("x = 2", "y = [i * i for i in range(1000)]", "1 / 0"):
        try:
            ex(code)
        except Exception:
            pass
        assert os.sched_getaffinity(0) == before


def test_a_short_call_runs_on_the_callers_cpu() -> None:
    ex = executor()
    colocation = ex._thread._colocation
    ex("x = 3")
    if Colocation._getcpu is None:
        pytest.skip("affinity cannot be set here")
    assert colocation.worker_cpu is not None
    assert os.sched_getaffinity(colocation.worker_tid) == {colocation.worker_cpu}


def test_tools_run_with_the_callers_own_affinity() -> None:
    before = os.sched_getaffinity(0)
    seen: list[set[int]] = []

    def probe() -> int:
        seen.append(os.sched_getaffinity(0))
        return 1

    ex = LocalPythonExecutor([])
    ex.send_tools({"probe": probe})
    ex("probe()\nprobe()")
    assert seen == [before, before]


def test_a_long_call_is_unpinned() -> None:
    full = os.sched_getaffinity(0)
    ex = executor()
    colocation = ex._thread._colocation
    ex("import time\ntime.sleep(0.05)")
    assert colocation.worker_cpu is None
    assert os.sched_getaffinity(colocation.worker_tid) == full


def test_threads_started_during_a_call_get_the_callers_affinity() -> None:
    # a library creating its thread pool on first use from sandboxed code must not leave
    # those threads on one CPU: here the code starts a (host-function) thread itself
    full = os.sched_getaffinity(0)
    with pytest.warns(UserWarning, match="threading"):
        ex = executor("threading")
    before = set(os.listdir("/proc/self/task"))
    ex("import threading, time\nt = threading.Thread(target=time.sleep, args=(0.5,), daemon=True)\nt.start()")
    new = {int(tid) for tid in set(os.listdir("/proc/self/task")) - before}
    new.discard(ex._thread._colocation.worker_tid)
    assert new, "the thread the code started is running"
    for tid in new:
        assert os.sched_getaffinity(tid) == full


def test_turned_off_nothing_is_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Colocation, "_getcpu", None)
    full = os.sched_getaffinity(0)
    ex = LocalPythonExecutor([])
    ex.send_tools({})
    ex("x = 1")
    ex("x = 2")
    assert ex._thread._colocation.worker_cpu is None
    assert os.sched_getaffinity(ex._thread._colocation.worker_tid) == full
