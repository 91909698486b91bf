"""``E2BExecutor``: code runs in an E2B cloud sandbox, through the ``e2b-code-interpreter`` SDK.

Why so short: E2B's sandbox runs a Jupyter server and the SDK's ``run_code`` returns what the
code printed; the shared :class:`RemotePythonExecutor` turns that into values, final answers
and errors, and :class:`CodeInterpreterExecutor` holds what E2B and Blaxel share.
"""

from __future__ import annotations

from typing import Any

from .._optional import require
from ._base import RemoteConnectionError
from ._code_interpreter import CodeInterpreterExecutor

__all__ = ["E2BExecutor"]


class E2BExecutor(CodeInterpreterExecutor):
    """Executes Python code in an E2B sandbox (``pip install 'smolagents[e2b]'``).

    Needs ``E2B_API_KEY`` in the environment (or ``api_key=...``). The code runs in its own
    code context (one Jupyter kernel) of the sandbox; a call that runs past
    ``timeout_seconds`` restarts that kernel (its state is lost, and the error says so).
    Packages in ``additional_imports`` that are missing in the sandbox are pip-installed there.

    Args:
        additional_imports: packages the code needs in the sandbox.
        logger: an ``AgentLogger`` (or ``None``).
        allow_pickle, timeout_seconds, max_print_outputs_length: see ``RemotePythonExecutor``.
        **kwargs: passed to ``e2b_code_interpreter.Sandbox.create`` (``template``, ``timeout``
            (the sandbox's lifetime), ``api_key``, ``envs``, ...).
    """

    service = "the E2B sandbox"

    def __init__(
        self,
        additional_imports: list[str],
        logger: Any = None,
        *,
        allow_pickle: bool = False,
        timeout_seconds: float | None = None,
        max_print_outputs_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        sdk = require("e2b_code_interpreter", "e2b", "E2BExecutor")
        super().__init__(
            additional_imports,
            logger,
            allow_pickle=allow_pickle,
            timeout_seconds=timeout_seconds,
            max_print_outputs_length=max_print_outputs_length,
        )
        self._timeout_types = tuple(
            kind for kind in (getattr(sdk, "TimeoutException", None),) if isinstance(kind, type)
        )
        sandbox_class = sdk.Sandbox
        try:
            create = getattr(sandbox_class, "create", None)
            self.sandbox = create(**kwargs) if create is not None else sandbox_class(**kwargs)
        except Exception as error:
            raise RemoteConnectionError(
                f"Could not create the E2B sandbox: {type(error).__name__}: {error}. "
                "Check E2B_API_KEY (or pass api_key=...) and your network access to E2B."
            ) from error
        self._log(f"E2B sandbox {getattr(self.sandbox, 'sandbox_id', '?')} started")
        self._start()

    def _new_context(self) -> Any:
        return self.sandbox.create_code_context()

    def _is_timeout(self, error: BaseException) -> bool:
        if self._timeout_types and isinstance(error, self._timeout_types):
            return True
        return type(error).__name__ in ("TimeoutException", "ReadTimeout")

    def _reset_context(self) -> None:
        try:
            self.sandbox.restart_code_context(self._context)
        except Exception:
            self._context = self._new_context()

    def _kill_sandbox(self) -> None:
        self.sandbox.kill()
