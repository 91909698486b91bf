"""Stand-ins for the cloud SDKs' *network* objects, so E2B, Blaxel and Modal executors run
offline through their real SDK code where possible.

No cloud is reachable from the tests. What is replaced, and why it is faithful:

- E2B and Blaxel run a Jupyter "code interpreter" server inside the sandbox; their SDKs POST
  code to ``/execute`` and parse the NDJSON lines it streams back. Here the SDK's own
  ``Sandbox``/``SyncCodeInterpreter`` classes are used, and only their HTTP client is swapped
  for an ``httpx.MockTransport`` whose handler (:class:`JupyterServerStandIn`) runs the code
  in a real local IPython kernel (``jupyter_client``) and streams the same NDJSON lines. The
  SDK's ``run_code``, its timeout handling and its output parsing all run unchanged.
- Modal's SDK talks gRPC to Modal's control plane; the stand-in replaces ``Sandbox.create``
  and ``App.lookup`` with :class:`ModalSandboxStandIn`, whose ``exec`` starts the very command
  the cloud would run as a local process and exposes ``stdin``/``stdout`` shaped like Modal's
  ``StreamWriter``/``StreamReader`` (stdout deliberately split into odd-sized chunks).
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import httpx

__all__ = [
    "JupyterServerStandIn",
    "ModalSandboxStandIn",
    "blaxel_executor",
    "e2b_executor",
    "make_blaxel_interpreter",
    "make_e2b_sandbox",
    "modal_executor",
]

#: env of the stand-in kernels and processes: pip never reaches an index from a test
SANDBOX_ENV = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


class _Kernel:
    def __init__(self) -> None:
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=SANDBOX_ENV)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)
        self.executions = 0

    def restart(self) -> None:
        self.manager.restart_kernel(now=True)
        self.client.wait_for_ready(timeout=120)

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


class JupyterServerStandIn:
    """The sandbox's Jupyter code-interpreter server, as an ``httpx.MockTransport`` handler.

    Endpoints (the path may carry a prefix such as ``/port/8888``): ``POST /contexts``,
    ``POST /contexts/<id>/restart``, ``POST /execute`` (NDJSON: ``stdout``, ``stderr``,
    ``result``, ``error``, ``number_of_executions``, ``end_of_execution``). A run past the
    request's read timeout raises ``httpx.ReadTimeout`` (what the real transport raises) and
    leaves the kernel busy, as a real server does.
    """

    def __init__(self) -> None:
        self.kernels: dict[str, _Kernel] = {}
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.closed = False

    # ------------------------------------------------------------------ httpx handler
    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        path = request.url.path
        self.requests.append((request.method, path, body))
        if path.endswith("/execute"):
            lines = self._execute(body, request)
            return httpx.Response(200, content="".join(json.dumps(line) + "\n" for line in lines).encode())
        if path.endswith("/restart"):
            self.kernels[path.rstrip("/").split("/")[-2]].restart()
            return httpx.Response(204)
        if path.endswith("/contexts"):
            context_id = uuid.uuid4().hex
            self.kernels[context_id] = _Kernel()
            return httpx.Response(
                200, json={"id": context_id, "language": body.get("language") or "python", "cwd": "/"}
            )
        return httpx.Response(404, json={"error": f"no route {path}"})

    def _kernel(self, context_id: str | None) -> _Kernel:
        key = context_id or "default"
        if key not in self.kernels:
            self.kernels[key] = _Kernel()
        return self.kernels[key]

    def _execute(self, body: dict[str, Any], request: httpx.Request) -> list[dict[str, Any]]:
        kernel = self._kernel(body.get("context_id"))
        read_timeout = (request.extensions.get("timeout") or {}).get("read")
        deadline = None if read_timeout is None else time.monotonic() + float(read_timeout)
        msg_id = kernel.client.execute(body["code"], store_history=True, allow_stdin=False)
        lines: list[dict[str, Any]] = []
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise httpx.ReadTimeout(
                    "stand-in: execution still running at the read timeout", request=request
                )
            try:
                message = kernel.client.get_iopub_msg(timeout=min(remaining or 1.0, 1.0))
            except queue.Empty:
                continue
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            stamp = int(time.time() * 1e9)
            if kind == "stream":
                lines.append({"type": content["name"], "text": content["text"], "timestamp": stamp})
            elif kind in ("execute_result", "display_data"):
                data = content.get("data", {})
                lines.append(
                    {
                        "type": "result",
                        "text": data.get("text/plain"),
                        "is_main_result": kind == "execute_result",
                    }
                )
            elif kind == "error":
                lines.append(
                    {
                        "type": "error",
                        "name": content["ename"],
                        "value": content["evalue"],
                        "traceback": "\n".join(content["traceback"]),
                    }
                )
            elif kind == "execute_input":
                kernel.executions += 1
                lines.append({"type": "number_of_executions", "execution_count": content["execution_count"]})
            elif kind == "status" and content["execution_state"] == "idle":
                lines.append({"type": "end_of_execution"})
                return lines

    def close(self) -> None:
        for kernel in self.kernels.values():
            kernel.shutdown()
        self.kernels.clear()
        self.closed = True


# ---------------------------------------------------------------------------- E2B
def make_e2b_sandbox(server: JupyterServerStandIn, created_with: dict[str, Any]) -> Any:
    """A real ``e2b_code_interpreter.Sandbox`` whose HTTP client is the stand-in server."""
    from e2b import ConnectionConfig
    from e2b_code_interpreter import Sandbox
    from packaging.version import Version

    class StandInE2BSandbox(Sandbox):
        killed = 0

        @property
        def _client(self) -> httpx.Client:  # the SDK's only network object for run_code
            return httpx.Client(transport=httpx.MockTransport(server.handle))

        def kill(self, *args: Any, **kwargs: Any) -> bool:  # type: ignore[override]
            type(self).killed += 1
            server.close()
            return True

    with warnings.catch_warnings():  # the constructor is marked deprecated in favour of create()
        warnings.simplefilter("ignore")
        sandbox = StandInE2BSandbox(
            sandbox_id=f"standin-{uuid.uuid4().hex[:8]}",
            sandbox_domain="sandbox.invalid",
            envd_version=Version("0.2.0"),
            envd_access_token=None,
            traffic_access_token=None,
            connection_config=ConnectionConfig(api_key="e2b_standin", domain="sandbox.invalid"),
        )
    sandbox.created_with = created_with
    sandbox.server = server
    return sandbox


# ---------------------------------------------------------------------------- Blaxel
def make_blaxel_interpreter(server: JupyterServerStandIn, created_with: Any) -> Any:
    """A real ``blaxel.core.SyncCodeInterpreter`` whose HTTP client is the stand-in server."""
    from blaxel.core import SyncCodeInterpreter
    from blaxel.core.client.models import Metadata, Sandbox, SandboxSpec

    class StandInBlaxelInterpreter(SyncCodeInterpreter):
        deleted = 0

        def delete(self) -> None:  # type: ignore[override]
            type(self).deleted += 1
            server.close()

    name = (created_with or {}).get("name") or "standin-sandbox"
    interpreter = StandInBlaxelInterpreter(
        sandbox=Sandbox(metadata=Metadata(name=name), spec=SandboxSpec()), force_url="http://sandbox.invalid"
    )

    def get_client() -> httpx.Client:  # the SDK's only network object for run_code
        return httpx.Client(base_url="http://sandbox.invalid", transport=httpx.MockTransport(server.handle))

    interpreter.process.get_client = get_client
    interpreter.created_with = created_with
    interpreter.server = server
    return interpreter


# ---------------------------------------------------------------------------- Modal
class _ChunkedReader:
    """Modal's ``StreamReader``: iterating yields text chunks that need not end at a newline."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[str]:
        sizes = itertools.cycle((7, 61, 3, 4096))
        fd = self._stream.fileno()
        for size in sizes:
            chunk = os.read(fd, size)
            if not chunk:
                return
            yield chunk.decode("utf-8", "replace")


class _Writer:
    """Modal's ``StreamWriter``: ``write`` buffers, ``drain`` sends."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._buffer: list[str] = []

    def write(self, data: str | bytes) -> None:
        self._buffer.append(data.decode() if isinstance(data, bytes) else data)

    def drain(self) -> None:
        text, self._buffer = "".join(self._buffer), []
        self._stream.write(text.encode())
        self._stream.flush()

    def write_eof(self) -> None:
        self._stream.close()


class _ContainerProcess:
    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=SANDBOX_ENV
        )
        self.stdin = _Writer(self.popen.stdin)
        self.stdout = _ChunkedReader(self.popen.stdout)

    def wait(self) -> int:
        return self.popen.wait(timeout=60)

    def poll(self) -> int | None:
        return self.popen.poll()


class ModalSandboxStandIn:
    """``modal.Sandbox`` as the executor uses it: ``exec`` runs the command here, locally."""

    instances: list[ModalSandboxStandIn] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs
        self.processes: list[_ContainerProcess] = []
        self.terminated = 0
        ModalSandboxStandIn.instances.append(self)

    def exec(self, *argv: str, **kwargs: Any) -> _ContainerProcess:
        command = [sys.executable if part == "python" else part for part in argv]
        process = _ContainerProcess(command)
        self.processes.append(process)
        return process

    def terminate(self) -> None:
        self.terminated += 1
        for process in self.processes:
            if process.popen.poll() is None:
                process.popen.kill()
                process.popen.wait(timeout=30)


# ---------------------------------------------------------------------------- executors
def e2b_executor(monkeypatch: Any, additional_imports: list[str] | None = None, **options: Any) -> Any:
    """An ``E2BExecutor`` whose ``Sandbox.create`` returns a stand-in-backed real SDK sandbox."""
    import e2b_code_interpreter

    from smolagents.remote_executors import E2BExecutor

    def create(**kwargs: Any) -> Any:  # stands in for the API call that starts a cloud sandbox
        return make_e2b_sandbox(JupyterServerStandIn(), kwargs)

    monkeypatch.setattr(e2b_code_interpreter.Sandbox, "create", staticmethod(create))
    return E2BExecutor(list(additional_imports or []), None, **options)


def blaxel_executor(monkeypatch: Any, additional_imports: list[str] | None = None, **options: Any) -> Any:
    """A ``BlaxelExecutor`` whose ``SyncCodeInterpreter.create`` returns a stand-in-backed one."""
    import blaxel.core

    from smolagents.remote_executors import BlaxelExecutor

    def create(sandbox: Any = None, safe: bool = True, create_if_not_exist: bool = False) -> Any:
        return make_blaxel_interpreter(JupyterServerStandIn(), sandbox)

    monkeypatch.setattr(blaxel.core.SyncCodeInterpreter, "create", staticmethod(create))
    return BlaxelExecutor(list(additional_imports or []), None, **options)


def modal_executor(monkeypatch: Any, additional_imports: list[str] | None = None, **options: Any) -> Any:
    """A ``ModalExecutor`` on :class:`ModalSandboxStandIn`; ``looked_up`` records App lookups."""
    import modal

    from smolagents.remote_executors import ModalExecutor

    looked_up: list[tuple[str, dict[str, Any]]] = []

    def lookup(name: str, **kwargs: Any) -> Any:  # stands in for the control-plane call
        looked_up.append((name, kwargs))
        return f"app:{name}"

    monkeypatch.setattr(modal.App, "lookup", staticmethod(lookup))
    monkeypatch.setattr(modal.Sandbox, "create", staticmethod(ModalSandboxStandIn))
    executor = ModalExecutor(list(additional_imports or []), None, **options)
    executor.looked_up = looked_up
    return executor
