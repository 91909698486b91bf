"""Shared fixtures for executor tests: a real Jupyter Kernel Gateway on loopback, a pipe
transport for the remote base, and the registry of executors the conformance suite runs.

To add an executor to the conformance suite, add one line to ``EXECUTORS``::

    "process": ExecutorKind(lambda request, **options: ProcessExecutor(options["additional_imports"],
                            timeout_seconds=options["timeout_seconds"])),
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from smolagents.local_python_executor import LocalPythonExecutor, PythonExecutor
from smolagents.remote_executors import (
    RemoteExecutorError,
    RemotePythonExecutor,
    RemoteSessionLostError,
    RemoteTimeoutError,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- kernel gateway process
@dataclass
class Gateway:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


def start_kernel_gateway(
    port: int, workdir: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``jupyter kernelgateway`` (PyPI jupyter_kernel_gateway) on 127.0.0.1:port, in its own
    process group so that stopping it also stops its kernels."""
    workdir.mkdir(parents=True, exist_ok=True)
    # PIP_NO_INDEX: offline, a pip install in a kernel fails at once instead of retrying the network
    environment = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
        "PIP_NO_INDEX": "1",
        **(env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "kernel_gateway",
        "--KernelGatewayApp.ip=127.0.0.1",
        f"--KernelGatewayApp.port={port}",
        "--KernelGatewayApp.port_retries=0",
    ]
    log = open(workdir / f"gateway-{port}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=workdir, start_new_session=True
    )


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started by these tests (and its kernels, same process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
    else:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # kernels left behind by a crashed gateway
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def kernel_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    from smolagents.remote_executors import KernelGatewayClient

    port = free_port()
    workdir = tmp_path_factory.mktemp("gateway")
    process = start_kernel_gateway(port, workdir)
    try:
        KernelGatewayClient("127.0.0.1", port).wait_ready(timeout=60)
        yield Gateway("127.0.0.1", port, process, workdir / f"gateway-{port}.log")
    finally:
        stop_process_group(process)


# ---------------------------------------------------------------- pipe transport
_PIPE_SERVER = textwrap.dedent(
    """
    import io, sys
    source, sink, real = sys.stdin.buffer, sys.stdout.buffer, sys.stdout
    while True:
        head = source.read(8)
        if len(head) < 8:
            break
        program = source.read(int.from_bytes(head, "big")).decode()
        buffer = io.StringIO()
        sys.stdout = buffer
        try:
            exec(program, {"__name__": "__main__"})
        except BaseException as error:
            buffer.write(f"{type(error).__name__}: {error}\\n")
        finally:
            sys.stdout = real
        data = buffer.getvalue().encode()
        sink.write(len(data).to_bytes(8, "big") + data)
        sink.flush()
    """
)


class PipeExecutor(RemotePythonExecutor):
    """A minimal transport for testing the shared base: a child Python reading programs on
    stdin and answering their output on stdout. ``tamper`` rewrites what comes back, to play
    a compromised remote side. A timeout kills the child (state lost), like a hard kill."""

    def __init__(
        self, additional_imports: list[str] | None = None, logger: Any = None, **kwargs: Any
    ) -> None:
        self.tamper: Callable[[str, str], str] | None = None
        #: extra interpreter flags: ``["-I", "-S"]`` plays a remote Python without smolagents
        self.python_flags: list[str] = list(kwargs.pop("python_flags", []))
        self.programs: list[str] = []
        self.process: subprocess.Popen[bytes] | None = None
        super().__init__(additional_imports or [], logger, **kwargs)
        self._ensure_ready()

    def _spawn(self) -> subprocess.Popen[bytes]:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(
                [sys.executable, *self.python_flags, "-c", _PIPE_SERVER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        return self.process

    def kill_child(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _run_program(self, program: str, timeout: float | None) -> str:
        self.programs.append(program)
        process = self._spawn()
        assert process.stdin is not None and process.stdout is not None
        data = program.encode()
        try:
            process.stdin.write(len(data).to_bytes(8, "big") + data)
            process.stdin.flush()
        except BrokenPipeError:
            self.kill_child()
            raise RemoteSessionLostError("the child interpreter is gone") from None
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        if not ready:
            self.kill_child()
            raise RemoteTimeoutError("timed out; the child was killed", session_lost=True)
        head = process.stdout.read(8)
        if len(head) < 8:
            self.kill_child()
            raise RemoteSessionLostError("The child interpreter died during the call")
        text = process.stdout.read(int.from_bytes(head, "big")).decode()
        return self.tamper(program, text) if self.tamper is not None else text

    def _close_transport(self) -> None:
        self.kill_child()


# ---------------------------------------------------------------- the conformance registry
@dataclass(frozen=True)
class ExecutorKind:
    """How to build one executor for the conformance suite, and where it legitimately differs.

    ``factory(request, additional_imports=..., timeout_seconds=...)`` builds a fresh executor."""

    factory: Callable[..., PythonExecutor]
    #: refuses imports that were not authorised (the local sandbox); remote interpreters
    #: are full Python and only *install* ``additional_imports``
    enforces_authorized_imports: bool = True
    #: variables survive a timed-out call (an interrupt) rather than a hard restart
    timeout_keeps_state: bool = True
    #: code cannot run any more after ``cleanup()``
    unusable_after_cleanup: bool = False
    #: numpy, pandas and PIL can be imported (Pyodide's package CDN is not reachable here)
    data_libraries: bool = True


def _local(
    request: pytest.FixtureRequest, *, additional_imports: list[str], timeout_seconds: float | None
) -> Any:
    options = {} if timeout_seconds is None else {"timeout_seconds": timeout_seconds}
    return LocalPythonExecutor(additional_imports, **options)


def _kernel_gateway(
    request: pytest.FixtureRequest, *, additional_imports: list[str], timeout_seconds: float | None
) -> Any:
    from smolagents.remote_executors import KernelGatewayExecutor

    gateway: Gateway = request.getfixturevalue("kernel_gateway")
    return KernelGatewayExecutor(
        additional_imports, None, host=gateway.host, port=gateway.port, timeout_seconds=timeout_seconds
    )


def _process(
    request: pytest.FixtureRequest, *, additional_imports: list[str], timeout_seconds: float | None
) -> Any:
    from smolagents.process_executor import ProcessExecutor

    options = {} if timeout_seconds is None else {"timeout_seconds": timeout_seconds}
    return ProcessExecutor(additional_imports, **options)


def _wasm(
    request: pytest.FixtureRequest, *, additional_imports: list[str], timeout_seconds: float | None
) -> Any:
    from smolagents.remote_executors import WasmExecutor

    # Deno comes with the test extra (the `deno` package): a missing one fails, never skips
    return WasmExecutor(additional_imports, None, timeout=timeout_seconds or 60)


def _pipe(
    request: pytest.FixtureRequest, *, additional_imports: list[str], timeout_seconds: float | None
) -> Any:
    return PipeExecutor(additional_imports, None, timeout_seconds=timeout_seconds)


EXECUTORS: dict[str, ExecutorKind] = {
    "local": ExecutorKind(_local),
    "kernel_gateway": ExecutorKind(
        _kernel_gateway, enforces_authorized_imports=False, unusable_after_cleanup=True
    ),
    "process": ExecutorKind(_process),
    "wasm": ExecutorKind(
        _wasm, enforces_authorized_imports=False, unusable_after_cleanup=True, data_libraries=False
    ),
    "pipe": ExecutorKind(
        _pipe, enforces_authorized_imports=False, timeout_keeps_state=False, unusable_after_cleanup=True
    ),
}


@pytest.fixture(params=sorted(EXECUTORS))
def executor_kind(request: pytest.FixtureRequest) -> tuple[str, ExecutorKind]:
    return request.param, EXECUTORS[request.param]


@pytest.fixture
def make_executor(
    request: pytest.FixtureRequest, executor_kind: tuple[str, ExecutorKind]
) -> Iterator[Callable[..., PythonExecutor]]:
    """``make_executor(additional_imports=[], timeout_seconds=None)``; all cleaned up after."""
    made: list[PythonExecutor] = []

    def make(
        additional_imports: list[str] | None = None, timeout_seconds: float | None = None
    ) -> PythonExecutor:
        executor = executor_kind[1].factory(
            request, additional_imports=list(additional_imports or []), timeout_seconds=timeout_seconds
        )
        made.append(executor)
        return executor

    yield make
    for executor in made:
        try:
            executor.cleanup()
        except RemoteExecutorError:
            pass
