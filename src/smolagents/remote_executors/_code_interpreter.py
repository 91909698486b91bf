"""Transport shared by cloud SDKs that expose a Jupyter "code interpreter": E2B and Blaxel.

Why one module: both SDKs send code to a Jupyter server inside the sandbox and hand back the
same shape, ``run_code(code, context=..., timeout=...) -> Execution`` with ``logs.stdout``,
``logs.stderr`` and ``error`` (``name``, ``value``, ``traceback``). Only creating the sandbox,
recognising a timeout and resetting a context differ, so subclasses implement those.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from ._base import RemoteConnectionError, RemotePythonExecutor, RemoteTimeoutError

__all__ = ["CodeInterpreterExecutor", "execution_output"]


def _texts(chunks: Any) -> str:
    if chunks is None:
        return ""
    if isinstance(chunks, str):
        return chunks
    return "".join(str(chunk) for chunk in chunks)


def execution_output(execution: Any) -> str:
    """Everything an ``Execution`` printed, then its error (a failure of the program itself)."""
    logs = getattr(execution, "logs", None)
    output = _texts(getattr(logs, "stdout", None))
    stderr = _texts(getattr(logs, "stderr", None))
    if stderr:
        output += ("\n" if output and not output.endswith("\n") else "") + stderr
    error = getattr(execution, "error", None)
    if error is not None:
        trace = getattr(error, "traceback", "")
        trace = "\n".join(trace) if isinstance(trace, list) else str(trace or "")
        output += f"\n{getattr(error, 'name', 'Error')}: {getattr(error, 'value', '')}\n{trace}"
    return output


class CodeInterpreterExecutor(RemotePythonExecutor):
    """Runs programs through an SDK sandbox's ``run_code`` in one dedicated code context."""

    #: the service's name, for error messages
    service = "the sandbox"

    def __init__(self, additional_imports: list[str], logger: Any, **options: Any) -> None:
        super().__init__(additional_imports, logger, **options)
        self.sandbox: Any = None
        self._context: Any = None

    # ------------------------------------------------------------------ SDK hooks
    @abstractmethod
    def _new_context(self) -> Any:
        """A fresh code context (one Python kernel) in ``self.sandbox``."""

    @abstractmethod
    def _is_timeout(self, error: BaseException) -> bool:
        """Whether ``error`` is the SDK's way of saying the execution ran out of time."""

    def _reset_context(self) -> None:
        """Throw away the context's state after a timeout; default: use a new context."""
        self._context = self._new_context()

    @abstractmethod
    def _kill_sandbox(self) -> None:
        """Stop and delete the sandbox."""

    # ------------------------------------------------------------------ transport
    def _start(self) -> None:
        """Called by subclasses once ``self.sandbox`` exists."""
        try:
            self._context = self._new_context()
            self._ensure_ready()
        except BaseException:
            self.cleanup()
            raise

    def _run_program(self, program: str, timeout: float | None) -> str:
        try:
            execution = self.sandbox.run_code(program, context=self._context, timeout=timeout)
        except Exception as error:
            if not self._is_timeout(error):
                raise RemoteConnectionError(
                    f"Running code in {self.service} failed: {type(error).__name__}: {error}"
                ) from error
            try:
                self._reset_context()
            except Exception as reset_error:
                raise RemoteConnectionError(
                    f"A call timed out in {self.service} and its Python session could not be reset: "
                    f"{type(reset_error).__name__}: {reset_error}"
                ) from reset_error
            raise RemoteTimeoutError(
                f"Execution exceeded {timeout} seconds in {self.service}; its Python session was reset",
                session_lost=True,
            ) from None
        return execution_output(execution)

    def _close_transport(self) -> None:
        if self.sandbox is not None:
            try:
                self._kill_sandbox()
            finally:
                self.sandbox = None
                self._context = None
