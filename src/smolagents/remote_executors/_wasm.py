"""``WasmExecutor``: model-written code runs in Pyodide (CPython compiled to WebAssembly)
inside a Deno process that has almost no permissions.

Why this shape: Deno's permission system is the isolation boundary (no network, no
environment, no subprocesses, no writes, reads only of the Pyodide files), and WebAssembly
adds a second one (Python cannot reach the host's memory or syscalls). One long-lived Deno
process keeps the Python state across calls; it speaks line-delimited JSON on stdin/stdout
(``_wasm_runner.js``). Everything else (values as typed data, tools as source,
``final_answer``) is the shared :class:`RemotePythonExecutor`.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import UserError
from ._base import (
    RemoteExecutorError,
    RemotePythonExecutor,
    RemoteSessionLostError,
    RemoteTimeoutError,
)
from ._deno import (
    PYODIDE_VERSION,
    DenoProcess,
    DenoProcessDied,
    DenoTimeout,
    default_deno_dir,
    find_deno,
    snapshot_path,
)

__all__ = ["PYODIDE_VERSION", "WasmExecutor", "WasmPackageError"]

_HARNESS_PATH = Path(__file__).with_name("_wasm_harness.py")
_SHIM_PATH = Path(__file__).with_name("_tool_shim.py")
_SHIM_INIT = (
    '"""smolagents inside Pyodide: only what tools sent as source code need (see tools.py)."""\n'
    "from .tools import Tool, tool\n\n"
    '__all__ = ["Tool", "tool"]\n'
)
_FORBIDDEN_SHORT_FLAGS = frozenset({"-A"})
#: seconds past a call's timeout before an interrupt that did not work becomes a kill
_KILL_GRACE = 10.0


class WasmPackageError(RemoteExecutorError):
    """A package could not be made available inside Pyodide."""


def _normalise(name: str) -> str:
    """Distribution names compare case- and separator-insensitively (PEP 503)."""
    return re.sub(r"[-_.]+", "_", name).lower()


class WasmExecutor(RemotePythonExecutor):
    """Runs code in Pyodide inside Deno: WebAssembly isolation plus Deno's permission sandbox.

    Default Deno permissions, and why (nothing else is granted; ``--no-prompt`` turns any other
    access into an error instead of a prompt):

    - ``--allow-read=<deno_dir>/npm,<snapshot>``: Pyodide reads its own files
      (``pyodide.asm.wasm``, the standard library zip) from Deno's npm cache, and the memory
      snapshot of a fresh interpreter that makes later starts ~7x faster (written once by a
      separate Deno process that runs no model code); and ``_wasm_worker.js``, the script of
      the worker Pyodide runs in (always added). Nothing else on disk is readable.
    - no ``--allow-net``: Python code cannot open connections; loading ``npm:pyodide`` is done
      by Deno's module loader, not by the program, so it needs no runtime permission.
    - no ``--allow-write``, ``--allow-env``, ``--allow-run``, ``--allow-ffi``, ``--allow-sys``:
      Python (and Pyodide's JavaScript bridge) cannot change files, read secrets from the
      environment, start processes, load native code or inspect the host. Deno also runs with
      a cleaned environment (PATH, HOME, proxy and npm settings only).

    The first start downloads ``npm:pyodide`` (about 20 MB on disk) through the npm registry that
    ``npm config get registry`` (or ``NPM_CONFIG_REGISTRY``) names, into ``deno_dir``
    (``~/.cache/smolagents/deno`` by default, ``SMOLAGENTS_DENO_DIR`` overrides it); later
    starts run offline from that cache.

    Packages beyond the standard library come from Pyodide's package CDN, which needs
    ``deno_permissions`` with network access; or give ``wheel_dir``, a folder of pure-Python
    wheels installed from disk. Tools work as everywhere (sent as source code); inside Pyodide
    ``smolagents.tools`` is a small stand-in (``_tool_shim``) with ``Tool`` and ``@tool``,
    because the real package's dependencies cannot be loaded there.

    Args:
        additional_imports: packages the code needs inside Pyodide.
        logger: an ``AgentLogger`` (or ``None``).
        deno_path: the Deno executable; ``"deno"`` looks on PATH, then in the ``deno`` package
            from PyPI (``pip install 'smolagents[wasm]'``).
        deno_permissions: Deno permission flags replacing the defaults above, e.g.
            ``["--allow-read=/path/to/deno/npm", "--allow-net=cdn.jsdelivr.net"]``. Keep read access
            to ``<deno_dir>/npm`` or Pyodide cannot load.
        timeout: seconds one call may run. Past it Python is interrupted (``KeyboardInterrupt``;
            the interpreter's state is kept); code that does not stop within 10 more seconds (it
            swallows the interrupt, or is stuck outside the interpreter loop) gets the Deno process
            killed and a fresh one on the next call (all state lost, and the error says so).
            ``None`` waits as long as the code runs.
        wheel_dir: a folder of ``.whl`` files for ``additional_imports`` (pure-Python wheels).
        deno_dir: Deno's cache directory (``DENO_DIR``), where Pyodide is kept.
        allow_pickle: see :class:`RemotePythonExecutor`.
        max_print_outputs_length: characters of printed output kept per call.
    """

    def __init__(
        self,
        additional_imports: list[str],
        logger: Any = None,
        deno_path: str = "deno",
        deno_permissions: list[str] | None = None,
        timeout: float | None = 60,
        *,
        wheel_dir: str | Path | None = None,
        deno_dir: str | Path | None = None,
        allow_pickle: bool = False,
        max_print_outputs_length: int | None = None,
    ) -> None:
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
            raise UserError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.deno_path = find_deno(deno_path)
        self.deno_dir = Path(deno_dir).expanduser() if deno_dir is not None else default_deno_dir()
        self.wheel_dir = Path(wheel_dir).expanduser() if wheel_dir is not None else None
        if self.wheel_dir is not None and not self.wheel_dir.is_dir():
            raise UserError(f"wheel_dir {str(self.wheel_dir)!r} is not a directory")
        self.timeout = timeout
        # The start-up snapshot is used with the default permissions only (they grant its read).
        self._use_snapshot = deno_permissions is None
        self.deno_permissions = (
            self._default_permissions() if deno_permissions is None else _flags(deno_permissions)
        )
        super().__init__(
            additional_imports,
            logger,
            allow_pickle=allow_pickle,
            timeout_seconds=timeout,
            max_print_outputs_length=max_print_outputs_length,
        )
        self._process: DenoProcess | None = None
        #: Deno processes started so far; more than one means state was lost at least once
        self.starts = 0
        self.installed_packages: list[str] = []
        self._start_process()
        try:
            self._ensure_ready()
        except BaseException:
            self.cleanup()
            raise

    def _default_permissions(self) -> list[str]:
        return [f"--allow-read={self.deno_dir / 'npm'},{snapshot_path(self.deno_dir)}"]

    # ------------------------------------------------------------------ transport
    def _start_process(self) -> DenoProcess:
        process = DenoProcess(
            self.deno_path, self.deno_permissions, self.deno_dir, use_snapshot=self._use_snapshot
        )
        self.starts += 1
        self._log(f"Starting Pyodide {PYODIDE_VERSION} in Deno")
        process.start()
        if process.downloaded:
            self._log(f"Downloaded npm:pyodide@{PYODIDE_VERSION} into {self.deno_dir}")
        process.request({"op": "boot", "code": _HARNESS_PATH.read_text(encoding="utf-8")}, 60)
        answer = process.request(
            {
                "op": "call",
                "fn": "smolagents_harness_install_wheel",
                "args": ["smolagents-shim", _shim_zip()],
            },
            60,
        )
        if not answer.get("ok") or not json.loads(answer["result"]).get("ok"):
            process.kill()
            raise RemoteExecutorError(f"Could not prepare Pyodide for tools: {answer}")
        self._process = process
        return process

    def _call(self, fn: str, *args: str, timeout: float | None) -> dict[str, Any]:
        """Call a harness function in Pyodide; its JSON report, plus ``interrupted``.

        Past ``timeout`` the runner interrupts Python (KeyboardInterrupt, state kept); only
        when that fails for ``_KILL_GRACE`` more seconds is the Deno process killed.
        """
        process = self._process
        if process is None or not process.alive:
            process = self._start_process()
        payload: dict[str, Any] = {"op": "call", "fn": fn, "args": list(args)}
        if timeout is not None:
            payload["timeout"] = timeout
        answer = process.request(payload, None if timeout is None else timeout + _KILL_GRACE)
        if not answer.get("ok"):
            error = str(answer.get("error"))[:4000]
            if "fatal" in error.lower():  # Pyodide is unusable after a fatal error: start afresh
                process.kill()
                raise DenoProcessDied(f"Pyodide failed fatally: {error}")
            raise RemoteExecutorError(f"The Deno runner failed: {error}")
        result = json.loads(answer["result"])
        if not isinstance(result, dict):
            raise RemoteExecutorError("The Deno runner answered with something else than a report")
        result["interrupted"] = bool(answer.get("interrupted"))
        return result

    def _run_program(self, program: str, timeout: float | None) -> str:
        limit = timeout if timeout is not None else self.timeout
        try:
            report = self._call("smolagents_harness_run", program, timeout=limit)
        except DenoTimeout:
            self._process = None
            raise RemoteTimeoutError(
                f"Execution exceeded {limit} seconds and did not stop when interrupted: the Deno "
                "process was killed",
                output="",
                session_lost=True,
            ) from None
        except DenoProcessDied as error:
            self._process = None
            raise RemoteSessionLostError(
                "The Deno process running Pyodide died; a new one starts on the next call, and the "
                f"variables and imports of earlier steps are lost. Cause: {error}"
            ) from None
        output = report.get("stdout", "")
        if not isinstance(output, str):
            raise RemoteExecutorError("The Deno runner sent non-text output")
        if not report.get("ok"):
            output += "\n" + str(report.get("error", ""))
        if report["interrupted"]:
            raise RemoteTimeoutError(
                f"Execution exceeded {limit} seconds and was interrupted", output=output, session_lost=False
            )
        return output

    def _close_transport(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()

    # ------------------------------------------------------------------ packages
    def install_packages(self, packages: list[str]) -> list[str]:
        """Make ``packages`` importable in Pyodide: from ``wheel_dir``, else Pyodide's loader.

        Returns the names that were installed. Raises :class:`WasmPackageError` naming each
        package that could not be installed, and why.
        """
        roots: list[str] = []
        for package in packages:
            name = package[:-2] if package.endswith(".*") else package
            root = name.split(".")[0]
            if root and root != "*" and root not in roots:
                roots.append(root)
        if not roots:
            return []
        missing = self._missing(roots)
        if not missing:
            return []
        installed: list[str] = []
        for name in list(missing):
            wheel = self._find_wheel(name)
            if wheel is None:
                continue
            data = base64.b64encode(wheel.read_bytes()).decode("ascii")
            report = self._call("smolagents_harness_install_wheel", wheel.name, data, timeout=self.timeout)
            if not report.get("ok"):
                raise WasmPackageError(f"Installing {wheel.name} in Pyodide failed: {report.get('error')}")
            self._log(f"Installed {wheel.name} in Pyodide")
            installed.append(name)
        missing = self._missing([name for name in missing if name not in installed])
        if missing:
            installed += self._load_from_pyodide(missing)
        self.installed_packages += installed
        return installed

    def _missing(self, names: list[str]) -> list[str]:
        if not names:
            return []
        pairs = json.dumps([[name, name] for name in names])
        value = self._op("missing", pairs).get("value") or []
        return [name for name in names if name in value]

    def _find_wheel(self, name: str) -> Path | None:
        if self.wheel_dir is None:
            return None
        wanted = _normalise(name)
        for wheel in sorted(self.wheel_dir.glob("*.whl")):
            if _normalise(wheel.name.split("-", 1)[0]) == wanted:
                return wheel
        return None

    def _load_from_pyodide(self, names: list[str]) -> list[str]:
        """Pyodide's own loader: works only where the CDN is reachable and permitted."""
        process = self._process
        if process is None or not process.alive:
            process = self._start_process()
        answer = process.request({"op": "load_packages", "names": names}, self.timeout)
        still_missing = self._missing(names)
        if not still_missing:
            return names
        said = [
            line.strip()
            for error in answer.get("errors", []) or [answer.get("error") or ""]
            for line in str(error).splitlines()
            if line.strip() and not line.strip().startswith("at ")
        ]
        raise WasmPackageError(
            f"Package(s) {', '.join(repr(n) for n in still_missing)} are not available in Pyodide. "
            "Packages beyond the standard library are downloaded from Pyodide's package CDN, which is "
            "unreachable or not permitted here (the default Deno permissions grant no network). Pass "
            "wheel_dir=<folder with pure-Python .whl files>, or deno_permissions including "
            f"--allow-net=cdn.jsdelivr.net where that CDN is reachable.\n"
            "Pyodide said: " + ("\n".join(said[-6:]) or "no further detail")
        )


@functools.lru_cache(maxsize=1)
def _shim_zip() -> str:
    """``smolagents/tools.py`` for Pyodide (see ``_tool_shim``), zipped and base64-encoded."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("smolagents/__init__.py", _SHIM_INIT)
        archive.writestr("smolagents/tools.py", _SHIM_PATH.read_text(encoding="utf-8"))
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _flags(permissions: Sequence[str]) -> list[str]:
    """Accept ``allow-net`` or ``--allow-net``; refuse ``-A`` and non-permission flags."""
    flags = []
    for permission in permissions:
        if not isinstance(permission, str) or not permission.strip():
            raise UserError(f"deno_permissions must be strings like '--allow-net', got {permission!r}")
        flag = permission.strip()
        if flag in _FORBIDDEN_SHORT_FLAGS:
            raise UserError("deno_permissions: spell out '--allow-all' if you really mean it, not '-A'")
        if not flag.startswith("-"):
            flag = "--" + flag
        if not flag.startswith(("--allow-", "--deny-")):
            raise UserError(
                f"deno_permissions: {permission!r} is not a Deno permission flag (--allow-*/--deny-*)"
            )
        flags.append(flag)
    return flags
