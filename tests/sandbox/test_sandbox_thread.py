"""The sandbox thread: deep C recursion cannot crash the host, tools stay on the caller's thread.

The crash tests run in a child interpreter: before the sandbox had a thread of its own, these
payloads killed the process with SIGSEGV, which would take the whole test run with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from smolagents.errors import InterpreterError, SandboxResourceError
from smolagents.local_python_executor import LocalPythonExecutor

_DEEP = 600_000  # an 8 MiB stack overflows at about 170,000 levels

# (an explicit ``hash()`` is refused earlier by its own structure check, see _resource_overrides)
_HASHES = {
    "set_display": "s = {t}\nlen(s)",
    "dict_key": "d = {t: 1}\nlen(d)",
    "frozenset": "len(frozenset([t]))",
    "membership": "int(t in {1, 2})",
    "dict_fromkeys": "len(dict.fromkeys([t]))",
    "subscript_store": "d = {}\nd[t] = 1\nlen(d)",
}


def _child(script: str, *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("imports", [[], ["numpy", "pandas"]], ids=["base", "numpy_pandas"])
def test_hashing_a_deeply_nested_tuple_does_not_crash_the_host(imports: list[str]) -> None:
    script = f"""
        from smolagents.local_python_executor import LocalPythonExecutor
        executor = LocalPythonExecutor({imports!r}, max_operations=None, timeout_seconds=120)
        executor("t = ()\\nfor _ in range({_DEEP}):\\n    t = (t,)")
        for name, code in {_HASHES!r}.items():
            print(name, executor(code).output, flush=True)
        print("after", executor("2 + 2").output)
    """
    result = _child(script)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert lines == {**{name: "1" if name != "membership" else "0" for name in _HASHES}, "after": "4"}


def test_deep_nesting_bounded_by_the_memory_cap_not_the_stack() -> None:
    # a cap of 256 MiB stops the structure at about 5 million levels, before it could be hashed
    script = """
        from smolagents.local_python_executor import LocalPythonExecutor
        executor = LocalPythonExecutor([], max_operations=None, timeout_seconds=120,
                                       max_memory_bytes=256 * 2**20)
        try:
            executor("t = ()\\nfor _ in range(20_000_000):\\n    t = (t,)\\nlen({t})")
        except Exception as error:
            print(type(error).__name__, "max_memory_bytes" in str(error))
        print("after", executor("2 + 2").output)
    """
    result = _child(script)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["SandboxResourceError", "True", "after", "4"]


def test_a_capped_address_space_gets_the_largest_stack_it_allows() -> None:
    script = """
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
        from smolagents.local_python_executor import LocalPythonExecutor
        executor = LocalPythonExecutor([])  # would ask for ~3 GiB of stack for its 2 GiB cap
        print(executor("sum(range(10))").output, executor._thread.stack_bytes <= 3 * 2**30 // 4)
        print(executor("x = list(range(10**7))\\nlen(x)").output)  # room left for data
    """
    result = _child(script)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["45", "True", "10000000"]


def test_tools_and_final_answer_run_on_the_callers_thread() -> None:
    executor = LocalPythonExecutor([])
    seen: list[str] = []

    def lookup(key: str, default: str = "none") -> str:
        seen.append(threading.current_thread().name)
        return f"{key}={default}"

    def final_answer(answer: str) -> str:
        seen.append(threading.current_thread().name)
        return answer.upper()

    executor.send_tools({"lookup": lookup, "final_answer": final_answer})
    caller = threading.current_thread().name
    assert executor("lookup('a', default='b')").output == "a=b"
    out = executor("def inner():\n    final_answer(lookup('x'))\ninner()")
    assert out.is_final_answer and out.output == "X=NONE"
    assert seen == [caller, caller, caller]


def test_tool_errors_reach_the_sandbox_as_exceptions() -> None:
    executor = LocalPythonExecutor([])

    def broken() -> None:
        raise RuntimeError("disk full")

    executor.send_tools({"broken": broken})
    out = executor("try:\n    broken()\nexcept RuntimeError as e:\n    msg = str(e)\nmsg")
    assert out.output == "disk full"
    with pytest.raises(InterpreterError, match="disk full"):
        executor("broken()")


def test_calling_the_executor_from_one_of_its_tools_is_refused_not_a_deadlock() -> None:
    executor = LocalPythonExecutor([])
    errors: list[str] = []

    def reenter() -> str:
        try:
            executor("1 + 1")
        except InterpreterError as error:
            errors.append(str(error))
        return "done"

    executor.send_tools({"reenter": reenter})
    assert executor("reenter()").output == "done"
    assert errors and "already running" in errors[0]


def test_concurrent_calls_on_one_executor_are_refused() -> None:
    executor = LocalPythonExecutor([])
    started = threading.Event()
    release = threading.Event()
    executor.send_tools({"wait": lambda: (started.set(), release.wait(10))[1]})
    results: list[object] = []
    first = threading.Thread(target=lambda: results.append(executor("wait()").output))
    first.start()
    assert started.wait(10)
    with pytest.raises(InterpreterError, match="already running"):
        executor("1")
    release.set()
    first.join(10)
    assert results == [True]
    assert executor("3 * 3").output == 9


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need the main thread"
)
def test_ctrl_c_while_code_runs_stops_it_and_the_executor_stays_usable() -> None:
    executor = LocalPythonExecutor([], timeout_seconds=60, max_operations=None)
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        executor("n = 0\nwhile True:\n    n += 1")
    assert time.monotonic() - start < 30  # stopped by the interrupt, not by the 60 s timeout
    assert executor("n > 0").output is True
    assert executor("2 + 3").output == 5


def test_cleanup_stops_the_thread_and_a_later_call_restarts_it_with_the_state() -> None:
    executor = LocalPythonExecutor([])
    executor("x = 41")
    thread = executor._thread._thread
    assert thread is not None and thread.is_alive()
    executor.cleanup()
    thread.join(5)
    assert not thread.is_alive()
    executor.cleanup()  # twice is fine
    assert executor("x + 1").output == 42


def test_a_dropped_executor_ends_its_thread() -> None:
    import gc

    executor = LocalPythonExecutor([])  # with a deadline: the watchdog saw its runtime
    executor("1")
    thread = executor._thread._thread
    assert thread is not None
    del executor
    time.sleep(0.05)  # the watchdog goes back to waiting
    gc.collect()
    thread.join(5)
    assert not thread.is_alive()


def test_a_call_stuck_outside_python_past_the_deadline_does_not_hang_the_caller() -> None:
    # a host function that blocks without returning to Python plays a long C call that
    # releases the GIL (a long numpy routine): the caller stops waiting after the grace period
    release = threading.Event()
    executor = LocalPythonExecutor(
        [], additional_functions={"block": lambda: release.wait(60)}, timeout_seconds=0.5
    )
    start = time.monotonic()
    with pytest.raises(SandboxResourceError, match="does not return to Python") as caught:
        executor("x = 1\nblock()")
    assert caught.value.limit == "timeout_seconds"
    assert time.monotonic() - start < 30
    with pytest.raises(InterpreterError, match="still running earlier code"):
        executor("1 + 1")
    release.set()  # the stuck call returns: the executor is usable again, its state kept
    deadline = time.monotonic() + 10
    while True:
        try:
            assert executor("x + 1").output == 2
            break
        except InterpreterError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
