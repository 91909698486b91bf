"""``BlaxelExecutor``: code runs in a Blaxel sandbox, through the ``blaxel`` SDK's
``SyncCodeInterpreter`` (a sandbox from the ``blaxel/jupyter-server`` image).

Why so short: like E2B, Blaxel runs a Jupyter server in the sandbox and its SDK's ``run_code``
returns what the code printed; the shared classes do everything else.
"""

from __future__ import annotations

from typing import Any

from .._optional import require
from ._base import RemoteConnectionError
from ._code_interpreter import CodeInterpreterExecutor

__all__ = ["BlaxelExecutor"]


class BlaxelExecutor(CodeInterpreterExecutor):
    """Executes Python code in a Blaxel sandbox (``pip install 'smolagents[blaxel]'``).

    Blaxel reads its credentials the SDK's usual way (``BL_API_KEY`` and ``BL_WORKSPACE``, or
    ``bl login``). The code runs in its own code context; a call that runs past
    ``timeout_seconds`` moves to a fresh context (its state is lost, and the error says so).
    The sandbox is deleted by :meth:`cleanup`.

    Args:
        additional_imports: packages the code needs in the sandbox (pip-installed if missing).
        logger: an ``AgentLogger`` (or ``None``).
        allow_pickle, timeout_seconds, max_print_outputs_length: see ``RemotePythonExecutor``.
        **kwargs: the sandbox settings ``SyncCodeInterpreter.create`` accepts (``name``,
            ``envs``, ``memory``, ``region``, ``headers``).
    """

    service = "the Blaxel sandbox"

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
        core = require("blaxel.core", "blaxel", "BlaxelExecutor")
        import httpx  # a dependency of the blaxel SDK, which reports timeouts with it

        super().__init__(
            additional_imports,
            logger,
            allow_pickle=allow_pickle,
            timeout_seconds=timeout_seconds,
            max_print_outputs_length=max_print_outputs_length,
        )
        self._timeout_types: tuple[type[BaseException], ...] = (httpx.TimeoutException,)
        try:
            self.sandbox = core.SyncCodeInterpreter.create(sandbox=dict(kwargs) or None)
        except Exception as error:
            raise RemoteConnectionError(
                f"Could not create the Blaxel sandbox: {type(error).__name__}: {error}. "
                "Check your Blaxel credentials (BL_API_KEY, BL_WORKSPACE) and network access."
            ) from error
        self._log("Blaxel sandbox started")
        self._start()

    def _new_context(self) -> Any:
        return self.sandbox.create_code_context(language="python")

    def _is_timeout(self, error: BaseException) -> bool:
        return isinstance(error, self._timeout_types)

    def _kill_sandbox(self) -> None:
        self.sandbox.delete()
