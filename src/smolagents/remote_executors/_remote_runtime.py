"""The runtime installed inside the remote interpreter: runs code, reports one JSON envelope.

Why a separate module: its *source text* is sent to the remote Python (a Jupyter kernel, a
cloud sandbox) by :class:`RemotePythonExecutor` and executed there as the module
``__smolagents_remote__``, so the remote side needs nothing pre-installed. It must only use
the standard library and must not import smolagents at top level (tools do, when sent).

Every operation prints exactly one line ``<MARKER> <nonce> <json>`` to the real stdout and
returns ``None``. What the code printed travels *inside* the envelope, so user output can
never be mistaken for a result. Values are encoded with the typed codec
(``smolagents._value_codec``, installed next to this module), never pickled unless the host
asked for it.
"""

from __future__ import annotations

import ast
import builtins
import importlib.metadata
import importlib.util
import io
import json
import subprocess
import sys
import traceback
import types
from typing import Any

__all__ = ["FinalAnswerSignal", "configure", "op"]

MARKER = "__smolagents_envelope__"
CELL = "<smolagents code>"
_PROTOCOL = 1
_config: dict[str, Any] = {"codec": None, "allow_pickle": False, "max_logs": 50_000}
_TABLE: dict[str, Any] = dict(builtins.__dict__)
_NS: dict[str, Any] = {"__name__": "__main__", "__builtins__": _TABLE}
_overlay: dict[str, Any] = {}
_protected: set[str] = {"final_answer"}
_final: list[Any] = []
_lines: list[str] = []


class FinalAnswerSignal(BaseException):
    """Raised by ``final_answer``; a BaseException so ``except Exception`` does not stop it."""

    def __init__(self, value: Any) -> None:
        super().__init__("final_answer() was called")
        self.value = value


def _make_final_answer(tool: Any = None) -> Any:
    def final_answer(*args: Any, **kwargs: Any) -> Any:
        if tool is not None:
            value = tool(*args, **kwargs)
        elif len(args) + len(kwargs) != 1:
            raise TypeError("final_answer() takes exactly one argument (the answer)")
        else:
            value = args[0] if args else next(iter(kwargs.values()))
        # recorded before raising: a bare ``except:`` in the code cannot hide the answer
        _final[:] = [value]
        raise FinalAnswerSignal(value)

    return final_answer


def _refresh_builtins() -> None:
    """Updated in place: functions defined earlier keep the builtins table they captured."""
    _TABLE.clear()
    _TABLE.update(builtins.__dict__)
    _TABLE.update(_overlay)
    _NS["__builtins__"] = _TABLE


def configure(codec: Any, allow_pickle: bool, max_logs: int) -> None:
    """Called once by the bootstrap program with the codec module and the host's options."""
    _config.update(codec=codec, allow_pickle=bool(allow_pickle), max_logs=int(max_logs))
    _overlay["final_answer"] = _make_final_answer()
    _refresh_builtins()


def _emit(nonce: str, envelope: dict[str, Any]) -> None:
    envelope["v"] = _PROTOCOL
    text = json.dumps(envelope, separators=(",", ":"), allow_nan=False)
    sys.stdout.write(f"{MARKER} {nonce} {text}\n")
    sys.stdout.flush()


def _encode(value: Any) -> dict[str, Any]:
    codec = _config["codec"]
    try:
        return {"value": codec.encode_value(value, allow_pickle=_config["allow_pickle"])}
    except BaseException as error:  # an unencodable result travels as its repr
        try:
            text = repr(value)
        except BaseException:
            text = f"<{type(value).__name__} object>"
        return {"repr": text[:100_000], "unencodable": f"{type(error).__name__}: {error}"[:2000]}


def _clip(text: str) -> str:
    limit = _config["max_logs"]
    if limit and len(text) > limit:
        half = limit // 2
        return f"{text[:half]}\n..._This content has been truncated to stay below {limit} characters_...\n{text[-half:]}"
    return text


def _failure(error: BaseException) -> dict[str, Any]:
    lineno = None
    if isinstance(error, SyntaxError) and error.filename == CELL:
        return {
            "type": type(error).__name__,
            "message": str(error.msg),
            "lineno": error.lineno,
            "offset": error.offset,
            "line": (error.text or "").rstrip("\n"),
            "syntax": True,
        }
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename == CELL:
            lineno = frame.lineno
    line = _lines[lineno - 1].strip() if lineno and 0 < lineno <= len(_lines) else ""
    try:
        message = str(error)
    except BaseException:
        message = "<exception message could not be computed>"
    return {"type": type(error).__name__, "message": message[:20_000], "lineno": lineno, "line": line}


def _read_back(target: ast.expr) -> ast.expr | None:
    if isinstance(target, ast.Name):
        return ast.Name(id=target.id, ctx=ast.Load())
    if isinstance(target, (ast.Tuple, ast.List)) and target.elts:
        items = [_read_back(item) for item in target.elts]
        if all(item is not None for item in items):
            return ast.Tuple(elts=items, ctx=ast.Load())  # type: ignore[arg-type]
    return None


def _split_tail(tree: ast.Module) -> ast.Expression | None:
    """The value a call returns, as the local sandbox does: a final expression, or what a
    final assignment bound (``x = 2**10`` returns 1024)."""
    if not tree.body:
        return None
    last = tree.body[-1]
    if isinstance(last, ast.Expr):
        tree.body.pop()
        return ast.Expression(body=last.value)
    target = None
    if isinstance(last, ast.Assign):
        target = last.targets[-1]
    elif isinstance(last, ast.AugAssign) or (isinstance(last, ast.AnnAssign) and last.value is not None):
        target = last.target
    value = _read_back(target) if target is not None else None
    if value is None:
        return None
    return ast.fix_missing_locations(ast.copy_location(ast.Expression(body=value), last))


def _run(code: str) -> dict[str, Any]:
    _lines[:] = code.splitlines()
    _final[:] = []
    value: Any = None
    error: BaseException | None = None
    try:
        tree = ast.parse(code, filename=CELL)
        tail = _split_tail(tree)
        exec(compile(tree, CELL, "exec"), _NS)
        if tail is not None:
            value = eval(compile(tail, CELL, "eval"), _NS)
    except BaseException as caught:  # SystemExit, KeyboardInterrupt (timeouts) included
        error = caught
    finally:
        for name in _protected:  # a rebinding of a tool lasts for this call only
            _NS.pop(name, None)
    if _final:
        return {"kind": "final", **_encode(_final[0])}
    if error is not None:
        return {"kind": "error", "error": _failure(error)}
    return {"kind": "value", **_encode(value)}


def _set_variables(payload: str) -> dict[str, Any]:
    codec = _config["codec"]
    values = codec.loads(payload, allow_pickle=_config["allow_pickle"])
    if not isinstance(values, dict) or not all(isinstance(key, str) for key in values):
        raise TypeError("variables must be a dict keyed by names")
    _NS.update(values)
    return {"kind": "done"}


def _install_tools(payload: str) -> dict[str, Any]:
    specs = json.loads(payload)
    for name in [name for name in _overlay if name != "final_answer"]:
        del _overlay[name]
    _protected.intersection_update({"final_answer"})
    final_tool = None
    for spec in specs:
        name, code, kind = spec["name"], spec["code"], spec["kind"]
        if kind == "shim":
            _install_tool_shim(code)
            continue
        if kind == "tool":
            from smolagents.tools import Tool

            value = Tool.from_code(code)
            value.name = name
        else:
            module = types.ModuleType(f"__smolagents_function_{name}")
            sys.modules[module.__name__] = module
            exec(compile(code, f"<function {name}>", "exec"), module.__dict__)
            value = module.__dict__[spec["attr"]]
        if name == "final_answer":
            final_tool = value
            continue
        _overlay[name] = value
        _protected.add(name)
    _overlay["final_answer"] = _make_final_answer(final_tool)
    _refresh_builtins()
    return {"kind": "done"}


def _install_tool_shim(code: str) -> None:
    """``smolagents.tools`` as an in-memory stand-in, unless smolagents is importable here."""
    if "smolagents.tools" in sys.modules or importlib.util.find_spec("smolagents") is not None:
        return
    package = types.ModuleType("smolagents")
    package.__path__ = []  # a package, so ``smolagents.tools`` resolves
    tools = types.ModuleType("smolagents.tools")
    sys.modules["smolagents"], sys.modules["smolagents.tools"] = package, tools
    exec(compile(code, "<smolagents tool shim>", "exec"), tools.__dict__)
    package.tools = tools  # type: ignore[attr-defined]
    package.Tool, package.tool = tools.Tool, tools.tool  # type: ignore[attr-defined]


def _missing(payload: str) -> dict[str, Any]:
    """Which of the (pip name, import name) pairs are neither installed nor importable."""
    missing = []
    for pip_name, import_name in json.loads(payload):
        try:
            importlib.metadata.distribution(pip_name)
            continue
        except Exception:
            pass
        try:
            if importlib.util.find_spec(import_name) is not None:
                continue
        except Exception:
            pass
        missing.append(pip_name)
    return {"kind": "value", "value": missing}


def _pip(payload: str) -> dict[str, Any]:
    packages = json.loads(payload)
    command = [sys.executable, "-m", "pip", "install", "--quiet", *packages]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    importlib.invalidate_caches()
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip()[-4000:]
        return {
            "kind": "error",
            "error": {"type": "PipError", "message": message, "lineno": None, "line": ""},
        }
    return {"kind": "done"}


def _ping(payload: str) -> dict[str, Any]:
    return {"kind": "value", "value": list(sys.version_info[:3])}


_OPS = {
    "ping": _ping,
    "run": _run,
    "vars": _set_variables,
    "tools": _install_tools,
    "missing": _missing,
    "pip": _pip,
}


def op(name: str, argument: str, nonce: str) -> None:
    """Run one operation and print its envelope; user output is captured into ``logs``."""
    buffer = io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = buffer
    try:
        try:
            envelope = _OPS[name](argument)
        except BaseException as error:
            envelope = {"kind": "error", "error": _failure(error)}
    finally:
        sys.stdout, sys.stderr = saved
    envelope["logs"] = _clip(buffer.getvalue())
    try:
        _emit(nonce, envelope)
    except (TypeError, ValueError) as error:  # a codec tree that is not JSON: report, do not die
        failure = {"type": type(error).__name__, "message": f"result could not be serialised: {error}"}
        _emit(
            nonce,
            {"kind": "error", "error": {**failure, "lineno": None, "line": ""}, "logs": envelope["logs"]},
        )
