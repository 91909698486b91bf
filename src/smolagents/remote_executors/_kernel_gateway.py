"""A Jupyter Kernel Gateway client, and the executor that runs code through one.

Why our own small client: the gateway protocol needs only two things, REST to start and
stop a kernel (``/api/kernels``) and a WebSocket carrying Jupyter messages
(``/api/kernels/{id}/channels``); ``jupyter_client`` would pull in ZeroMQ for nothing.
REST uses the standard library; the WebSocket uses ``websocket-client`` (the ``docker``
extra), imported when a kernel is started.

The client is usable on its own against a gateway you already run::

    client = KernelGatewayClient("127.0.0.1", 8888)
    client.start_kernel()
    print(client.execute("print(1 + 1)").stdout)
    client.shutdown()
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any

from .._optional import require
from ._base import (
    MAX_RESULT_CHARS,
    RemoteConnectionError,
    RemoteExecutorError,
    RemotePythonExecutor,
    RemoteSessionLostError,
    RemoteTimeoutError,
)

__all__ = ["ExecutionResult", "KernelGatewayClient", "KernelGatewayExecutor"]

#: seconds a kernel gets, after an interrupt at the deadline, to stop before it is replaced
INTERRUPT_GRACE_SECONDS = 5.0
_POLL_SECONDS = 1.0
_LIVENESS_EVERY_SECONDS = 5.0


@dataclass
class ExecutionResult:
    """What one ``execute_request`` produced, gathered from the kernel's replies."""

    stdout: str = ""
    stderr: str = ""
    #: ``data`` bundles of ``execute_result`` and ``display_data`` messages, in order
    results: list[dict[str, Any]] = field(default_factory=list)
    #: ``{"ename", "evalue", "traceback"}`` when the code raised
    error: dict[str, Any] | None = None
    status: str = "ok"


class KernelGatewayClient:
    """Starts a kernel on a Jupyter Kernel Gateway and executes code in it.

    Args:
        host, port: where the gateway listens.
        token: the gateway's ``auth_token``, if it has one.
        kernel_name: the kernel spec to start (``python3``).
        secure: use https/wss.
        request_timeout: seconds for one REST request or WebSocket connect.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8888,
        *,
        token: str | None = None,
        kernel_name: str = "python3",
        secure: bool = False,
        request_timeout: float = 30.0,
    ) -> None:
        self.host, self.port = host, int(port)
        self.token = token
        self.kernel_name = kernel_name
        self.request_timeout = request_timeout
        self.base_url = f"{'https' if secure else 'http'}://{host}:{self.port}"
        self._ws_base = f"{'wss' if secure else 'ws'}://{host}:{self.port}"
        #: seconds the kernel gets to stop after an interrupt at the deadline, before it is replaced
        self.interrupt_grace = INTERRUPT_GRACE_SECONDS
        self.kernel_id: str | None = None
        self._stale: list[str] = []
        self._ws: Any = None
        self._session = uuid.uuid4().hex
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ REST
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"} if self.token else {}

    def _request(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {**self._headers(), **({"Content-Type": "application/json"} if data is not None else {})}
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.request_timeout) as response:
                text = response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")[:500]
            raise RemoteExecutorError(
                f"The Jupyter Kernel Gateway at {self.host}:{self.port} answered {error.code} to {method} {path}: {detail}"
            ) from None
        except (urllib.error.URLError, OSError) as error:
            cause = getattr(error, "reason", error)
            raise RemoteConnectionError(
                f"Cannot reach the Jupyter Kernel Gateway at {self.host}:{self.port} ({method} {path}): {cause}. "
                "Check that the gateway runs and listens there."
            ) from None
        try:
            return json.loads(text) if text.strip() else None
        except ValueError:
            raise RemoteExecutorError(
                f"The Jupyter Kernel Gateway at {self.host}:{self.port} sent a non-JSON answer to {method} {path}"
            ) from None

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the gateway answers ``GET /api`` (after starting it)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._request("GET", "/api", timeout=min(5.0, self.request_timeout))
                return
            except RemoteConnectionError as error:
                if time.monotonic() >= deadline:
                    raise RemoteConnectionError(f"{error.message} (waited {timeout:g} s)") from None
            time.sleep(0.2)

    def start_kernel(self) -> str:
        """Start a kernel and open its WebSocket; returns the kernel id."""
        require("websocket", "docker", "The Jupyter Kernel Gateway client")
        self._delete_stale()
        answer = self._request("POST", "/api/kernels", {"name": self.kernel_name})
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            raise RemoteExecutorError(f"The gateway at {self.host}:{self.port} did not return a kernel id")
        self.kernel_id = answer["id"]
        self._connect()
        return self.kernel_id

    def _connect(self) -> None:
        websocket = require("websocket", "docker", "The Jupyter Kernel Gateway client")
        url = f"{self._ws_base}/api/kernels/{self.kernel_id}/channels"
        try:
            self._ws = websocket.create_connection(url, timeout=self.request_timeout, header=self._headers())
        except Exception as error:
            raise RemoteConnectionError(
                f"Cannot open the kernel WebSocket at {self.host}:{self.port}: {type(error).__name__}: {error}"
            ) from None

    def interrupt(self) -> None:
        """Send SIGINT to the kernel (the running code gets ``KeyboardInterrupt``)."""
        if self.kernel_id is not None:
            self._request("POST", f"/api/kernels/{self.kernel_id}/interrupt")

    def shutdown(self) -> None:
        """Close the WebSocket and delete the kernel; safe to call twice."""
        ws, kernel_id = self._ws, self.kernel_id
        self._ws = self.kernel_id = None
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.close()
        if kernel_id is not None:
            self._stale.append(kernel_id)
        self._delete_stale()

    def _delete_stale(self) -> None:
        """Delete kernels we let go of. A kernel the gateway is restarting (after it died)
        refuses deletion for a moment: it is kept and deleted on the next start or shutdown."""
        for kernel_id in list(self._stale):
            try:
                self._request("DELETE", f"/api/kernels/{kernel_id}", timeout=10.0)
            except RemoteConnectionError:
                return
            except RemoteExecutorError as error:
                if " 404 " not in error.message:
                    continue
            self._stale.remove(kernel_id)

    close = shutdown

    # ------------------------------------------------------------------ WebSocket
    def _alive(self) -> bool:
        try:
            model = self._request("GET", f"/api/kernels/{self.kernel_id}", timeout=5.0)
        except RemoteConnectionError:
            return False
        except RemoteExecutorError:  # 404: the kernel is gone
            return False
        return isinstance(model, dict) and model.get("execution_state") not in ("dead",)

    def _lost(self, why: str) -> RemoteSessionLostError:
        """Drop the connection but keep the kernel id: the gateway restarts a dead kernel
        under the same id (fresh state), and the next call reconnects to it."""
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.close()
        return RemoteSessionLostError(f"The remote kernel {why}")

    def execute(self, code: str, timeout: float | None = None, *, silent: bool = False) -> ExecutionResult:
        """Run ``code`` in the kernel and collect its output until the kernel is idle again.

        Past ``timeout`` the kernel is interrupted, then replaced if it does not stop.
        ``silent`` skips the code echo and the ``execute_result`` (faster for big code)."""
        websocket = require("websocket", "docker", "The Jupyter Kernel Gateway client")
        with self._lock:
            if self._ws is None:
                if self.kernel_id is not None and self._alive():
                    self._connect()
                else:
                    self.shutdown()
                    self.start_kernel()
            msg_id = uuid.uuid4().hex
            message = {
                "header": {
                    "msg_id": msg_id,
                    "username": "smolagents",
                    "session": self._session,
                    "msg_type": "execute_request",
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "content": {
                    "code": code,
                    "silent": silent,
                    "store_history": False,
                    "user_expressions": {},
                    "allow_stdin": False,
                    "stop_on_error": True,
                },
                "channel": "shell",
                "buffers": [],
            }
            try:
                self._ws.send(json.dumps(message))
            except Exception as error:
                raise self._lost(f"connection broke ({type(error).__name__}: {error})") from None
            return self._collect(websocket, msg_id, timeout)

    def _collect(self, websocket: Any, msg_id: str, timeout: float | None) -> ExecutionResult:
        result = ExecutionResult()
        out: list[str] = []
        size = 0
        replied = idle = False
        now = time.monotonic()
        deadline = now + timeout if timeout is not None else None
        interrupted_at: float | None = None
        next_liveness = now + _LIVENESS_EVERY_SECONDS
        while not (replied and idle):
            now = time.monotonic()
            if deadline is not None and now >= deadline and interrupted_at is None:
                interrupted_at = now
                with contextlib.suppress(RemoteExecutorError):
                    self.interrupt()
            if interrupted_at is not None and now >= interrupted_at + self.interrupt_grace:
                self.shutdown()
                raise RemoteTimeoutError(
                    f"The code ran past {timeout} seconds and did not stop when interrupted; the kernel was replaced",
                    output="".join(out),
                    session_lost=True,
                )
            if now >= next_liveness:
                next_liveness = now + _LIVENESS_EVERY_SECONDS
                if not self._alive():
                    raise self._lost("died during the call")
            self._ws.settimeout(_POLL_SECONDS)
            try:
                raw = self._ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except Exception as error:
                raise self._lost(f"connection broke ({type(error).__name__}: {error})") from None
            try:
                message = json.loads(raw)
            except (TypeError, ValueError):
                continue  # binary frames and other protocols: not ours
            msg_type = message.get("msg_type") or message.get("header", {}).get("msg_type")
            content = message.get("content") or {}
            if msg_type == "status" and content.get("execution_state") in ("restarting", "dead"):
                raise self._lost("died during the call (it was restarting)")
            if (message.get("parent_header") or {}).get("msg_id") != msg_id:
                continue
            if msg_type == "stream":
                text = str(content.get("text", ""))
                size += len(text)
                if size > MAX_RESULT_CHARS:
                    self.interrupt()
                    raise RemoteExecutorError(
                        f"The kernel printed over {MAX_RESULT_CHARS} characters; interrupted it"
                    )
                if content.get("name") == "stderr":
                    result.stderr += text
                else:
                    out.append(text)
            elif msg_type in ("execute_result", "display_data"):
                result.results.append(dict(content.get("data") or {}))
            elif msg_type == "error":
                result.error = {
                    "ename": str(content.get("ename", "")),
                    "evalue": str(content.get("evalue", "")),
                    "traceback": [str(line) for line in content.get("traceback") or []],
                }
            elif msg_type == "execute_reply":
                replied = True
                result.status = str(content.get("status", "ok"))
            elif msg_type == "status" and content.get("execution_state") == "idle":
                idle = True
        result.stdout = "".join(out)
        if interrupted_at is not None:
            raise RemoteTimeoutError(
                f"The code ran past {timeout} seconds and was interrupted",
                output=result.stdout + result.stderr,
            )
        return result


class KernelGatewayExecutor(RemotePythonExecutor):
    """Runs code in a kernel of a Jupyter Kernel Gateway you already run.

    The kernel is full, unsandboxed Python: isolate the gateway itself (a container, a VM).
    Authorised imports are not enforced there; ``additional_imports`` are pip-installed.

    Args:
        additional_imports: packages the code needs (installed in the kernel when missing).
        logger: an ``AgentLogger`` or ``None``.
        host, port, token, kernel_name: where the gateway is and what kernel to start.
        client: an existing :class:`KernelGatewayClient` (then host/port/token are ignored).
        **kwargs: ``allow_pickle``, ``timeout_seconds``, ``max_print_outputs_length``.
    """

    def __init__(
        self,
        additional_imports: list[str],
        logger: Any,
        host: str = "127.0.0.1",
        port: int = 8888,
        *,
        token: str | None = None,
        kernel_name: str = "python3",
        client: KernelGatewayClient | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(additional_imports, logger, **kwargs)
        self.client = client or KernelGatewayClient(host, port, token=token, kernel_name=kernel_name)
        # a forgotten executor still deletes its kernel when collected or at exit
        # typed loosely: DockerExecutor installs a finalizer that takes the container too
        self._finalizer: weakref.finalize[..., Any] = weakref.finalize(self, self.client.shutdown)
        self._start_session()

    def _start_session(self) -> None:
        """Start the kernel and install the runtime; a failure releases the kernel."""
        try:
            self.client.start_kernel()
            self._ensure_ready()
        except BaseException:
            self.client.shutdown()
            raise

    def _run_program(self, program: str, timeout: float | None) -> str:
        # silent: the kernel neither echoes the program (variables can be large) nor
        # publishes an execute_result; the runtime prints its envelope, which still arrives
        result = self.client.execute(program, timeout=timeout, silent=True)
        if result.error is not None:
            raise RemoteExecutorError(
                f"The remote kernel raised {result.error['ename']}: {result.error['evalue']}"[:4000]
            )
        return result.stdout + (("\n" + result.stderr) if result.stderr else "")

    def _close_transport(self) -> None:
        self._finalizer()
