"""``ModalExecutor``: code runs in a Modal sandbox, through the ``modal`` SDK.

Why a pipe and no Jupyter: a Modal sandbox runs commands and gives their stdin/stdout as
streams, so one long-lived ``python`` process in the sandbox (the same stdlib-only harness
the Wasm executor uses) keeps the state across calls and answers line-delimited JSON. No
port, tunnel or kernel gateway is needed, and nothing is installed in the image for it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .._optional import require
from ._base import (
    RemoteConnectionError,
    RemoteExecutorError,
    RemotePythonExecutor,
    RemoteSessionLostError,
    RemoteTimeoutError,
)
from ._line_channel import ChannelClosed, ChannelTimeout, LineChannel

__all__ = ["ModalExecutor"]

_HARNESS_PATH = Path(__file__).with_name("_wasm_harness.py")
_STARTUP_TIMEOUT = 300.0
#: seconds past a call's timeout before an interrupt that did not work becomes a kill
_KILL_GRACE = 10.0


class ModalExecutor(RemotePythonExecutor):
    """Executes Python code in a Modal sandbox (``pip install 'smolagents[modal]'``).

    Modal reads its credentials the SDK's usual way (``modal token new``, or
    ``MODAL_TOKEN_ID``/``MODAL_TOKEN_SECRET``). The sandbox's image is
    ``modal.Image.debian_slim()`` with ``additional_imports`` pip-installed, unless ``image``
    is given. A call that runs past ``timeout_seconds`` is interrupted (SIGINT, so
    ``KeyboardInterrupt``; the state is kept); if it still runs 10 seconds later, the Python
    process in the sandbox is killed and a new one starts (its state is lost, and the error
    says so). :meth:`cleanup` terminates the sandbox.

    Args:
        additional_imports: packages the code needs in the sandbox.
        logger: an ``AgentLogger`` (or ``None``).
        app_name: the Modal App the sandbox belongs to (created if missing).
        image: a ``modal.Image`` to run instead of the default one.
        sandbox_timeout: the sandbox's maximum lifetime in seconds.
        allow_pickle, timeout_seconds, max_print_outputs_length: see ``RemotePythonExecutor``.
        **sandbox_kwargs: passed to ``modal.Sandbox.create`` (``cpu``, ``memory``,
            ``block_network``, ``secrets``, ...).
    """

    def __init__(
        self,
        additional_imports: list[str],
        logger: Any = None,
        app_name: str = "smolagents-executor",
        *,
        image: Any = None,
        sandbox_timeout: int = 3600,
        allow_pickle: bool = False,
        timeout_seconds: float | None = None,
        max_print_outputs_length: int | None = None,
        **sandbox_kwargs: Any,
    ) -> None:
        self._modal = require("modal", "modal", "ModalExecutor")
        super().__init__(
            additional_imports,
            logger,
            allow_pickle=allow_pickle,
            timeout_seconds=timeout_seconds,
            max_print_outputs_length=max_print_outputs_length,
        )
        self.sandbox: Any = None
        self._process: Any = None
        self._channel: LineChannel | None = None
        self._pid: int | None = None
        self._noise: list[str] = []
        try:
            app = self._modal.App.lookup(app_name, create_if_missing=True)
            if image is None:
                image = self._default_image()
            self.sandbox = self._modal.Sandbox.create(
                app=app, image=image, timeout=sandbox_timeout, **sandbox_kwargs
            )
        except Exception as error:
            raise RemoteConnectionError(
                f"Could not create the Modal sandbox: {type(error).__name__}: {error}. "
                "Check your Modal credentials (modal token new) and network access."
            ) from error
        self._log("Modal sandbox started")
        try:
            self._ensure_ready()
        except BaseException:
            self.cleanup()
            raise

    def _default_image(self) -> Any:
        """debian_slim with the non-stdlib ``additional_imports`` installed at build time."""
        from .._tool_source import _PIP_NAMES

        packages = []
        for name in self.additional_imports:
            root = (name[:-2] if name.endswith(".*") else name).split(".")[0]
            if root and root != "*" and root not in sys.stdlib_module_names:
                packages.append(_PIP_NAMES.get(root, root))
        image = self._modal.Image.debian_slim()
        packages = list(dict.fromkeys(packages))
        return image.pip_install(*packages) if packages else image

    # ------------------------------------------------------------------ the Python process
    def _start_process(self) -> LineChannel:
        source = _HARNESS_PATH.read_text(encoding="utf-8") + "\nsmolagents_harness_serve()\n"
        process = self.sandbox.exec("python", "-u", "-c", source)
        self._noise = []

        def write(line: str) -> None:
            process.stdin.write(line)
            process.stdin.drain()

        channel = LineChannel(write, process.stdout, self._noise.append)
        try:
            ready = channel.receive(_STARTUP_TIMEOUT)
        except (ChannelTimeout, ChannelClosed) as error:
            raise RemoteConnectionError(
                f"The Python process in the Modal sandbox did not start: {error}\n"
                + "\n".join(self._noise[-20:])
            ) from None
        if not ready.get("ready"):
            raise RemoteConnectionError(f"The Python process in the Modal sandbox answered {ready!r}")
        self._process, self._channel, self._pid = process, channel, ready.get("pid")
        return channel

    def _signal_process(self, name: str) -> None:
        """Send a signal to the Python process in the sandbox (``kill`` run there)."""
        if self._pid is None:
            return
        try:
            self.sandbox.exec("kill", f"-{name}", str(int(self._pid))).wait()
        except Exception as error:  # the sandbox may be gone already
            self._log(f"Could not signal the Python process in the Modal sandbox: {error}")

    def _kill_process(self) -> None:
        """Stop the Python process (not the sandbox); its state is gone."""
        self._signal_process("KILL")
        self._process, self._channel, self._pid = None, None, None

    def _run_program(self, program: str, timeout: float | None) -> str:
        channel = self._channel
        if channel is None or channel.closed:
            channel = self._start_process()
        try:
            try:
                answer = channel.request({"fn": "smolagents_harness_run", "args": [program]}, timeout)
            except ChannelTimeout:
                # Interrupt first (KeyboardInterrupt, state kept); kill if that does not stop it.
                self._signal_process("INT")
                try:
                    answer = channel.receive(_KILL_GRACE)
                except ChannelTimeout:
                    self._kill_process()
                    raise RemoteTimeoutError(
                        f"Execution exceeded {timeout} seconds and did not stop when interrupted; the "
                        "Python process in the Modal sandbox was killed",
                        session_lost=True,
                    ) from None
                answer["interrupted"] = True
        except ChannelClosed:
            self._process, self._channel, self._pid = None, None, None
            raise RemoteSessionLostError(
                "The Python process in the Modal sandbox exited; a new one starts on the next call, and the "
                "variables and imports of earlier steps are lost.\n" + "\n".join(self._noise[-20:])
            ) from None
        if not answer.get("ok"):
            raise RemoteExecutorError(
                f"The Modal sandbox's harness failed: {str(answer.get('error'))[:4000]}"
            )
        report = json.loads(answer["result"])
        output = str(report.get("stdout", ""))
        if not report.get("ok"):
            output += "\n" + str(report.get("error", ""))
        if answer.get("interrupted"):
            raise RemoteTimeoutError(
                f"Execution exceeded {timeout} seconds and was interrupted", output=output, session_lost=False
            )
        return output

    def _close_transport(self) -> None:
        sandbox, self.sandbox = self.sandbox, None
        self._process, self._channel, self._pid = None, None, None
        if sandbox is not None:
            sandbox.terminate()
