"""Executor benchmark: start-up time and per-call round trips, side by side.

Run with ``.venv/bin/python benchmarks/executors_bench.py`` (``--quick`` for fewer
repeats, ``--only process`` for some entries). For each executor in ``EXECUTORS`` it
measures:

- start: from creating the executor to the result of its first trivial call (median of
  fresh instances; each is cleaned up before the next);
- trivial call: median round trip of ``x = 1 + 1`` on a started executor;
- 100 KB variable: median round trip of a call that receives a 100 KB string as an
  additional variable and returns its length.

The last column is the trivial call's overhead over the in-process sandbox. To add an
executor, add one entry to ``EXECUTORS``: a name and a factory taking no arguments. A
factory that raises (an SDK or a service missing here) is reported and skipped.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from smolagents.local_python_executor import LocalPythonExecutor


def _process(keep_spare: bool) -> Callable[[], Any]:
    def make() -> Any:
        from smolagents.process_executor import ProcessExecutor, _spawn

        class Executor(ProcessExecutor):
            pass

        Executor.keep_spare = keep_spare
        if not keep_spare:
            _spawn._drop_spare()  # a spare left by an earlier entry would make this start warm
        return Executor([])

    return make


_gateway_port: list[int] = []


def _kernel_gateway() -> Any:
    """KernelGatewayExecutor on a ``jupyter kernelgateway`` started once on 127.0.0.1 (the
    gateway's own start is not counted: only the executor's, which starts a kernel)."""
    import atexit
    import os
    import signal
    import socket
    import subprocess
    import tempfile

    from smolagents.remote_executors import KernelGatewayClient, KernelGatewayExecutor

    if not _gateway_port:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": tempfile.mkdtemp(prefix="kg-bench-")}
        process = subprocess.Popen(
            [sys.executable, "-m", "kernel_gateway", "--KernelGatewayApp.ip=127.0.0.1",
             f"--KernelGatewayApp.port={port}", "--KernelGatewayApp.port_retries=0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True,
        )  # fmt: skip
        atexit.register(lambda: os.killpg(process.pid, signal.SIGTERM))
        KernelGatewayClient("127.0.0.1", port).wait_ready(timeout=60)
        _gateway_port.append(port)
    return KernelGatewayExecutor([], None, port=_gateway_port[0])


def _wasm() -> Any:
    from smolagents.remote_executors import WasmExecutor

    return WasmExecutor([], None)


EXECUTORS: dict[str, Callable[[], Any]] = {
    "local": lambda: LocalPythonExecutor([]),
    "process": _process(keep_spare=True),
    "process (cold: no warm spare)": _process(keep_spare=False),
    "kernel gateway": _kernel_gateway,
    "wasm (Deno + Pyodide)": _wasm,
}

PAYLOAD = "x" * 100_000


def _cleanup(executor: Any) -> None:
    cleanup = getattr(executor, "cleanup", None)
    if cleanup is not None:
        cleanup()


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def measure(factory: Callable[[], Any], starts: int, calls: int) -> dict[str, float]:
    start_times = []
    for _ in range(starts):
        began = time.perf_counter()
        executor = factory()
        assert executor("1").output == 1
        start_times.append(time.perf_counter() - began)
        _cleanup(executor)
        time.sleep(1.5)  # lets a warm spare (if the executor keeps one) finish starting
    executor = factory()
    try:
        for _ in range(20):
            executor("x = 1 + 1")
        trivial = []
        for _ in range(calls):
            began = time.perf_counter()
            executor("x = 1 + 1")
            trivial.append(time.perf_counter() - began)
        transfer = []
        for _ in range(max(calls // 4, 5)):
            began = time.perf_counter()
            result = executor("len(payload)", {"payload": PAYLOAD})
            transfer.append(time.perf_counter() - began)
            assert result.output == len(PAYLOAD)
    finally:
        _cleanup(executor)
    return {
        "start": _median_ms(start_times),
        "trivial": _median_ms(trivial),
        "transfer": _median_ms(transfer),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--only", nargs="*", help="names (or name prefixes) of executors to run")
    options = parser.parse_args(argv)
    starts, calls = (3, 100) if options.quick else (7, 400)
    chosen = {
        name: factory
        for name, factory in EXECUTORS.items()
        if not options.only or any(name.startswith(prefix) for prefix in options.only)
    }
    results: dict[str, dict[str, float]] = {}
    for name, factory in chosen.items():
        try:
            results[name] = measure(factory, starts, calls)
        except Exception as error:  # an executor that cannot run here is reported, not fatal
            print(f"{name}: skipped ({type(error).__name__}: {error})", file=sys.stderr)
    baseline = results.get("local", {}).get("trivial")
    header = f"{'executor':<32} {'start (ms)':>11} {'trivial call (ms)':>18} {'100 KB variable (ms)':>21} {'overhead (ms)':>14}"
    print(header)
    print("-" * len(header))
    for name, row in results.items():
        overhead = "" if baseline is None else f"{row['trivial'] - baseline:+.3f}"
        print(
            f"{name:<32} {row['start']:>11.1f} {row['trivial']:>18.3f} {row['transfer']:>21.3f} {overhead:>14}"
        )
    print(f"\nPython {sys.version.split()[0]}; medians; byte-code caching: {not sys.dont_write_bytecode}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
