"""Runs inside the remote interpreter (Pyodide, or a plain sandboxed Python): the transport's
"cell runner", the equivalent of a Jupyter kernel's execute request.

Why a separate module: its *source text* is sent to the Deno runner at start-up (so it is
versioned with the Python package, not with the JavaScript), and run as a program in a Modal
sandbox, yet it stays a normal, linted Python file. Standard library only; no smolagents.

A call executes a program in one persistent namespace and returns, as JSON, what it printed
and, if it raised, the exception's type, message and traceback. Meaning (values, final
answers, user errors) is the business of the smolagents runtime that the host installs
through these calls (see ``_remote_runtime``), not of this file.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import io
import json
import os
import signal
import sys
import traceback
import zipfile
from collections.abc import Callable
from typing import Any

__all__ = [
    "smolagents_harness_install_wheel",
    "smolagents_harness_run",
    "smolagents_harness_serve",
]

_NAMESPACE: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}


def smolagents_harness_run(program: str) -> str:
    """Execute ``program`` in the persistent namespace; report its output (and error) as JSON."""
    stdout = io.StringIO()
    report: dict[str, Any] = {"ok": True}
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stdout):
            exec(compile(program, "<program>", "exec"), _NAMESPACE)
    except BaseException as exc:  # the program may raise anything, SystemExit included
        report = {
            "ok": False,
            "error": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-8000:],
        }
    report["stdout"] = stdout.getvalue()
    return json.dumps(report)


def smolagents_harness_install_wheel(filename: str, data_b64: str) -> str:
    """Unpack a pure-Python wheel into site-packages, so no package index or CDN is needed."""
    target = next((path for path in sys.path if path.endswith("site-packages")), None)
    if target is None:
        return json.dumps({"ok": False, "error": "no site-packages directory on sys.path"})
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(data_b64))) as wheel:
        wheel.extractall(target)
    importlib.invalidate_caches()
    return json.dumps({"ok": True, "installed": filename, "into": target})


def smolagents_harness_serve() -> None:
    """Line-delimited JSON loop on stdin/stdout, for a remote side that is a plain process.

    Each request ``{"id", "fn", "args"}`` calls one harness function; the answer
    ``{"id", "ok", "result", "interrupted"}`` is written on the original stdout, so what
    programs print (captured by ``smolagents_harness_run``) never interleaves with answers.
    SIGINT interrupts the running call only (the host's timeout); between calls it is ignored.
    """
    out = sys.stdout
    functions: dict[str, Callable[..., Any]] = {
        "smolagents_harness_run": smolagents_harness_run,
        "smolagents_harness_install_wheel": smolagents_harness_install_wheel,
    }
    state = {"running": False, "interrupted": False}

    def on_interrupt(signum: int, frame: Any) -> None:
        if state["running"]:
            state["interrupted"] = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_interrupt)
    ready = {"ready": True, "python": sys.version.split()[0], "pid": os.getpid()}
    out.write(json.dumps(ready) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        request_id = None
        state["interrupted"] = False
        try:
            request = json.loads(line)
            request_id = request.get("id")
            state["running"] = True
            try:
                result = functions[request["fn"]](*request.get("args", []))
            finally:
                state["running"] = False
            answer = {"id": request_id, "ok": True, "result": result}
        except Exception as exc:
            answer = {"id": request_id, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        answer["interrupted"] = state["interrupted"]
        out.write(json.dumps(answer) + "\n")
        out.flush()
