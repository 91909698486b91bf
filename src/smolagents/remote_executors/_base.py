"""``RemotePythonExecutor``: everything remote executors share, written once.

Why one base: what differs between a Jupyter kernel, Pyodide in Deno and a cloud sandbox is
only how a piece of Python text reaches the remote interpreter and how its printed output
comes back. Everything else (the remote runtime, values as typed data, tools as source code,
``final_answer`` detection, error messages with the failing line, refusing hostile results,
recovering from a dead remote session) lives here, so every executor behaves the same.

Contract for subclasses (transport only):

- ``_run_program(program, timeout)``: run ``program`` (Python source text) in the remote
  interpreter's *persistent* session and return everything it printed to stdout (stderr may
  be appended). Raise :class:`RemoteSessionLostError` when the remote interpreter died or was
  replaced (the next call must work again: restart or reconnect there), and
  :class:`RemoteTimeoutError` when ``timeout`` seconds passed (interrupt or restart the
  remote side first; put what was printed so far in ``output``). Other transport failures
  raise :class:`RemoteExecutorError` (or :class:`RemoteConnectionError`) with a clear message.
- ``_close_transport()``: release the remote side; called once by :meth:`cleanup`.
- Call ``self._ensure_ready()`` at the end of ``__init__`` to fail fast on a bad setup.

``run_code_raise_errors`` is concrete on purpose: parsing what the remote side sends back is a
security boundary (the host never unpickles or evaluates it), so it is not reimplemented per
transport. A subclass may still override it.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import secrets
import sys
import types
import warnings
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

from ..errors import InterpreterError, SandboxResourceError, UserError
from ..local_python_executor import DEFAULT_MAX_LEN_OUTPUT, CodeOutput, PythonExecutor
from . import _remote_runtime

__all__ = [
    "RemoteConnectionError",
    "RemoteExecutorError",
    "RemotePayloadError",
    "RemotePythonExecutor",
    "RemoteSessionLostError",
    "RemoteTimeoutError",
]

MARKER = _remote_runtime.MARKER
_RUNTIME_MODULE = "__smolagents_remote__"
_CODEC_MODULE = "__smolagents_codec__"
#: largest output one call may send back (the envelope plus stray prints)
MAX_RESULT_CHARS = 64 * 2**20
_KINDS = frozenset({"value", "final", "error", "done", "missing"})
_LOST_NOTE = (
    "The remote session was lost: variables and imports made by earlier steps are gone; the tools "
    "and variables sent by the host are sent again on the next call, which starts a fresh session."
)
_TYPE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,100}$")

# Runs in a fresh dict on the remote side, so nothing leaks into the interpreter's globals.
_BOOTSTRAP = """
import sys, types
for _name, _source, _file in ((CODEC_NAME, CODEC, "<smolagents codec>"), (RUNTIME_NAME, RUNTIME, "<smolagents runtime>")):
    _module = types.ModuleType(_name)
    sys.modules[_name] = _module
    try:
        exec(compile(_source, _file, "exec"), _module.__dict__)
    except BaseException:
        del sys.modules[_name]
        raise
sys.modules[RUNTIME_NAME].configure(sys.modules[CODEC_NAME], ALLOW_PICKLE, MAX_LOGS)
sys.modules[RUNTIME_NAME].op("ping", "", NONCE)
"""


class RemoteExecutorError(InterpreterError):
    """The remote side could not run the code (transport failure, remote refusal)."""


class RemoteConnectionError(RemoteExecutorError):
    """The remote service could not be reached; the message names where and why."""


class RemoteSessionLostError(RemoteExecutorError):
    """The remote interpreter died or was replaced during a call; its state is gone."""


class RemotePayloadError(RemoteExecutorError):
    """What the remote side sent back is malformed or refused (e.g. a pickle); never run."""


class RemoteTimeoutError(SandboxResourceError):
    """A call ran past its deadline; ``output`` holds what it printed, ``session_lost``
    whether the transport had to restart the remote interpreter to stop it."""

    def __init__(
        self, message: str, limit: str = "timeout_seconds", output: str = "", session_lost: bool = False
    ):
        super().__init__(message, limit=limit)
        self.output = output
        self.session_lost = session_lost

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.limit, self.output, self.session_lost), self.__dict__.copy())


def _load_codec() -> tuple[types.ModuleType, str]:
    from .. import _value_codec

    return _value_codec, inspect.getsource(_value_codec)


def _with_logs(error: InterpreterError, logs: str) -> InterpreterError:
    error.logs = logs  # type: ignore[attr-defined]
    return error


def _op_program(name: str, argument: str, nonce: str) -> str:
    """One call: runs the op if the runtime is installed, else says it is missing."""
    missing = f"{MARKER} {nonce} " + '{"v":1,"kind":"missing"}'
    return (
        f"(lambda m: m.op({name!r}, {argument!r}, {nonce!r}) if m is not None else print({missing!r}))"
        f"(__import__('sys').modules.get({_RUNTIME_MODULE!r}))"
    )


def parse_envelope(text: str, nonce: str, limit: int = MAX_RESULT_CHARS) -> tuple[dict[str, Any], str]:
    """The one result envelope in ``text`` (checked field by field) and the stray output.

    Everything here is treated as hostile: JSON only, no code, bounded size."""
    if not isinstance(text, str):
        raise RemotePayloadError(f"The remote side sent {type(text).__name__} instead of text output")
    if len(text) > limit:
        raise RemotePayloadError(
            f"The remote side sent {len(text)} characters for one call, over the limit of {limit}: refusing it. "
            "Print less, or return smaller values"
        )
    found: list[str] = []
    stray: list[str] = []
    for line in text.split("\n"):
        (found if line.startswith(MARKER + " ") else stray).append(line)
    stray_text = "\n".join(stray).strip("\n")
    if not found:
        shown = stray_text[-2000:] or "(nothing)"
        raise RemotePayloadError(
            f"The remote side returned no result for this call. Its output was:\n{shown}"
        )
    if len(found) > 1:
        raise RemotePayloadError(
            f"The remote side returned {len(found)} results for one call; refusing the ambiguous answer"
        )
    parts = found[0].split(" ", 2)
    if len(parts) != 3 or parts[1] != nonce:
        raise RemotePayloadError(
            "The remote side returned a result that does not belong to this call; refusing it"
        )
    try:
        envelope = json.loads(parts[2], parse_constant=lambda name: float("nan"))
    except (ValueError, RecursionError) as error:
        raise RemotePayloadError(
            f"The remote side returned a malformed result (not valid JSON: {str(error)[:200]})"
        ) from None
    _check_envelope(envelope)
    return envelope, stray_text


def _check_envelope(envelope: Any) -> None:
    def bad(why: str) -> RemotePayloadError:
        return RemotePayloadError(f"The remote side returned a malformed result: {why}")

    if not isinstance(envelope, dict) or envelope.get("v") != 1:
        raise bad("not a version-1 result envelope")
    if envelope.get("kind") not in _KINDS:
        raise bad(f"unknown kind {str(envelope.get('kind'))[:40]!r}")
    if not isinstance(envelope.get("logs", ""), str):
        raise bad("'logs' is not text")
    if "repr" in envelope and not isinstance(envelope["repr"], str):
        raise bad("'repr' is not text")
    if envelope["kind"] == "error":
        failure = envelope.get("error")
        if not isinstance(failure, dict):
            raise bad("an error result without error details")
        for key, kinds in (("type", str), ("message", str), ("line", (str, type(None)))):
            if not isinstance(failure.get(key), kinds):
                raise bad(f"error field {key!r} has the wrong type")
        for key in ("lineno", "offset"):
            value = failure.get(key)
            if value is not None and (type(value) is not int):
                raise bad(f"error field {key!r} is not an integer")


def format_remote_error(failure: dict[str, Any]) -> str:
    """The same wording as the local sandbox: message and failing line."""
    name = failure["type"] if _TYPE_NAME.match(failure["type"]) else "RemoteError"
    message = failure["message"][:20_000]
    line = (failure.get("line") or "")[:2000]
    if failure.get("syntax"):
        stripped = line.lstrip()
        caret = ""
        if stripped and failure.get("offset"):
            caret = "\n" + " " * max(failure["offset"] - 1 - (len(line) - len(stripped)), 0) + "^"
        return f"Code parsing failed on line {failure.get('lineno')} due to: {name}: {message}\n{stripped}{caret}"
    where = f" at line '{line.strip()}'" if line.strip() else ""
    return f"Code execution failed{where} due to: {name}: {message}"


class RemotePythonExecutor(PythonExecutor):
    """Runs model-written code in a remote Python interpreter (container, kernel, Wasm, cloud).

    The remote interpreter is *not* a sandbox of ours: the isolation is the remote machine.
    Authorised imports are therefore not enforced there; ``additional_imports`` are packages
    installed remotely. Values cross as typed data (``smolagents._value_codec``), never as
    pickles unless ``allow_pickle=True`` (the remote side can then run code on the host).

    Args:
        additional_imports: packages the code needs; installed remotely when missing.
        logger: an ``AgentLogger`` (or ``None``) for installation messages.
        allow_pickle: let values without a typed encoding travel as pickles (trusted remotes only).
        timeout_seconds: deadline of one code call; ``None`` waits as long as it takes.
        max_print_outputs_length: characters of printed output kept per call.
    """

    def __init__(
        self,
        additional_imports: list[str],
        logger: Any,
        *,
        allow_pickle: bool = False,
        timeout_seconds: float | None = None,
        max_print_outputs_length: int | None = None,
    ) -> None:
        self.additional_imports = list(additional_imports or [])
        self.logger = logger
        self.allow_pickle = bool(allow_pickle)
        if self.allow_pickle:
            warnings.warn(
                "allow_pickle=True: values without a typed encoding cross the executor boundary as pickles; "
                "unpickling what a compromised remote side sends runs arbitrary code on this machine.",
                UserWarning,
                stacklevel=2,
            )
        self.timeout_seconds = timeout_seconds
        self.max_print_outputs_length = max_print_outputs_length or DEFAULT_MAX_LEN_OUTPUT
        self._codec, self._codec_source = _load_codec()
        self._ready = False
        self._closed = False
        self._packages_done = False
        self._tool_specs: list[dict[str, Any]] | None = None
        self._variables: dict[str, Any] = {}

    # ------------------------------------------------------------------ transport hooks
    @abstractmethod
    def _run_program(self, program: str, timeout: float | None) -> str:
        """Run Python text remotely in the persistent session; return what it printed."""

    def _close_transport(self) -> None:
        """Release the remote side (kernel, container, process)."""

    # ------------------------------------------------------------------ session
    def _log(self, text: str) -> None:
        log = getattr(self.logger, "log", None)
        if callable(log):
            log(text)

    def _bootstrap(self) -> None:
        nonce = secrets.token_hex(8)
        namespace = (
            f"{{'CODEC': {self._codec_source!r}, 'RUNTIME': {inspect.getsource(_remote_runtime)!r}, "
            f"'CODEC_NAME': {_CODEC_MODULE!r}, 'RUNTIME_NAME': {_RUNTIME_MODULE!r}, "
            f"'ALLOW_PICKLE': {self.allow_pickle!r}, 'MAX_LOGS': {int(self.max_print_outputs_length)!r}, "
            f"'NONCE': {nonce!r}}}"
        )
        program = f"__import__('builtins').exec({_BOOTSTRAP!r}, {namespace})"
        envelope, _stray = parse_envelope(self._run_program(program, None), nonce)
        if envelope["kind"] != "value":
            detail = (
                format_remote_error(envelope["error"]) if envelope["kind"] == "error" else envelope["kind"]
            )
            raise RemoteExecutorError(
                f"The smolagents runtime could not start in the remote interpreter: {detail}"
            )

    def _ensure_ready(self) -> None:
        """Install the runtime (again after a lost session), packages, tools and variables."""
        if self._closed:
            raise RemoteExecutorError(
                f"This {type(self).__name__} was cleaned up; create a new one to run code"
            )
        if self._ready:
            return
        self._bootstrap()
        self._ready = True
        if not self._packages_done:
            self._packages_done = True
            self.install_packages(self.additional_imports)
        if self._tool_specs is not None:
            self._op_checked("tools", json.dumps(self._tool_specs), "The tools could not be installed")
        if self._variables:
            self._op_checked("vars", self._encode_variables(self._variables), "The variables were refused")

    def _op_checked(self, name: str, argument: str, what: str) -> dict[str, Any]:
        envelope = self._op(name, argument)
        if envelope["kind"] == "error":
            detail = format_remote_error(envelope["error"])
            raise RemoteExecutorError(f"{what} in the remote interpreter: {detail}")
        return envelope

    def _op(self, name: str, argument: str, timeout: float | None = None) -> dict[str, Any]:
        """Run one runtime operation; a non-code operation is retried once on a fresh session."""
        for attempt in (1, 2):
            self._ensure_ready()
            nonce = secrets.token_hex(8)
            try:
                output = self._run_program(_op_program(name, argument, nonce), timeout)
                envelope, stray = parse_envelope(output, nonce)
                if envelope["kind"] == "missing":
                    raise RemoteSessionLostError("The remote interpreter was restarted")
            except RemoteSessionLostError:
                self._ready = False
                if name == "run" or attempt == 2:
                    raise
                continue
            except RemoteTimeoutError as error:
                if error.session_lost:
                    self._ready = False
                raise
            if stray:
                envelope["logs"] = stray + "\n" + envelope.get("logs", "")
            return envelope
        raise AssertionError("unreachable")

    def _decode(self, envelope: dict[str, Any]) -> Any:
        if "value" in envelope:
            try:
                return self._codec.decode_value(envelope["value"], allow_pickle=self.allow_pickle)
            except self._codec.ValueCodecError as error:
                raise RemotePayloadError(f"The remote side sent a value that was refused: {error}") from None
            except Exception as error:  # a library rebuilding a malformed value
                raise RemotePayloadError(
                    f"The remote side sent a value that could not be rebuilt: {type(error).__name__}: {error}"
                ) from None
        return envelope.get("repr")

    # ------------------------------------------------------------------ public API
    def run_code_raise_errors(self, code: str) -> CodeOutput:
        """Run ``code`` remotely: its value, printed logs, and whether it called ``final_answer``.

        A remote exception raises ``InterpreterError`` with its message and failing line."""
        if not isinstance(code, str):
            raise UserError(f"code must be a string, got {type(code).__name__}")
        try:
            envelope = self._op("run", code, self.timeout_seconds)
        except RemoteTimeoutError as error:
            raise self._timeout_error(error) from None
        except RemoteSessionLostError as error:
            raise _with_logs(
                RemoteSessionLostError(f"{error.message.rstrip('.')}. {_LOST_NOTE}"), ""
            ) from None
        except RemoteExecutorError as error:
            raise _with_logs(error, getattr(error, "logs", "")) from None
        logs = envelope.get("logs", "")
        kind = envelope["kind"]
        if kind == "error":
            raise _with_logs(InterpreterError(format_remote_error(envelope["error"])), logs)
        if kind not in ("value", "final"):
            raise _with_logs(RemotePayloadError(f"The remote side answered a code call with {kind!r}"), logs)
        try:
            output = self._decode(envelope)
        except RemotePayloadError as error:
            raise _with_logs(error, logs) from None
        return CodeOutput(output=output, logs=logs, is_final_answer=kind == "final")

    def _timeout_error(self, error: RemoteTimeoutError) -> SandboxResourceError:
        line, logs = "", ""
        if MARKER in (error.output or ""):
            try:
                envelope, logs = parse_envelope(
                    error.output, error.output.split(MARKER + " ", 1)[1].split(" ", 1)[0]
                )
                logs = "\n".join(part for part in (logs, envelope.get("logs", "")) if part)
                line = (envelope.get("error") or {}).get("line") or ""
            except RemotePayloadError:
                pass
        else:
            logs = error.output or ""
        where = f" at line '{line}'" if line else ""
        lost = (
            " The remote interpreter had to be restarted to stop it: variables and imports of earlier steps are lost."
            if error.session_lost
            else ""
        )
        text = (
            f"Code execution failed{where} due to: SandboxResourceError: Execution exceeded the time limit of "
            f"{self.timeout_seconds} seconds (timeout_seconds).{lost}"
        )
        result = SandboxResourceError(text, limit="timeout_seconds")
        return _with_logs(result, logs)  # type: ignore[return-value]

    def __call__(self, code: str, additional_variables: dict[str, Any] | None = None) -> CodeOutput:
        if additional_variables:
            self.send_variables(additional_variables)
        return self.run_code_raise_errors(code)

    def install_packages(self, packages: list[str]) -> list[str]:
        """Install the packages missing remotely (pip); returns the ones it installed."""
        from .._tool_source import _PIP_NAMES

        pairs, seen = [], set()
        for package in packages:
            name = package[:-2] if package.endswith(".*") else package
            root = name.split(".")[0]
            if not root or root == "*" or root in sys.stdlib_module_names or root in seen:
                continue
            seen.add(root)
            pairs.append((_PIP_NAMES.get(root, root), root))
        if not pairs:
            return []
        missing = self._op("missing", json.dumps(pairs)).get("value") or []
        if not isinstance(missing, list) or not all(isinstance(item, str) for item in missing):
            raise RemotePayloadError(
                "The remote side answered the package check with something else than names"
            )
        if not missing:
            return []
        self._log(f"Installing {', '.join(missing)} in the remote environment")
        envelope = self._op("pip", json.dumps(missing))
        if envelope["kind"] == "error":
            raise RemoteExecutorError(
                f"Installing {missing} in the remote environment failed: {envelope['error']['message']}"
            )
        return missing

    def _encode_variables(self, variables: dict[str, Any]) -> str:
        tree = {}
        for name, value in variables.items():
            try:
                tree[name] = self._codec.encode_value(value, allow_pickle=self.allow_pickle)
            except self._codec.ValueCodecError as error:
                raise UserError(f"Variable {name!r} cannot be sent to the remote executor: {error}") from None
        return json.dumps(tree, separators=(",", ":"), allow_nan=False)

    def send_variables(self, variables: dict[str, Any]) -> None:
        """Send host values as typed data (decoded remotely; no pickle unless allowed)."""
        for name in variables:
            if not isinstance(name, str) or not name.isidentifier():
                raise UserError(f"Variable name {name!r} is not a valid Python identifier")
        self._op_checked("vars", self._encode_variables(variables), "The variables were refused")
        self._variables.update(variables)

    def send_tools(self, tools: dict[str, Callable[..., Any]]) -> None:
        """Send tools as source code; their requirements are installed remotely first."""
        specs, requirements = _tool_specs(tools)
        if specs == self._tool_specs and self._ready:
            return
        self.install_packages(requirements)
        self._op_checked("tools", json.dumps(specs), "The tools could not be installed")
        self._tool_specs = specs

    def cleanup(self) -> None:
        """Release the remote side; calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        self._ready = False
        self._close_transport()

    def delete(self) -> None:
        """Same as :meth:`cleanup` (the name older code calls)."""
        self.cleanup()


def _tool_specs(tools: dict[str, Callable[..., Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Tools as ``{name, kind, code}`` source specs and the packages they import."""
    from .._tool_source import _requirements, _SourceBuilder
    from ..tools import Tool

    specs: list[dict[str, Any]] = []
    requirements: list[str] = []
    for name, value in tools.items():
        if name == "__import__":  # passed along by agents; imports are the remote's business
            continue
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise UserError(f"Tool name {name!r} is not a valid Python identifier usable in code")
        if isinstance(value, Tool):
            data = value.to_dict()
            specs.append({"name": name, "kind": "tool", "code": data["code"]})
            requirements.extend(data["requirements"])
        elif isinstance(value, types.FunctionType):
            builder = _SourceBuilder(name)
            builder.add(value)
            code = builder.code()
            specs.append({"name": name, "kind": "function", "code": code, "attr": value.__name__})
            requirements.extend(_requirements(code))
        else:
            raise UserError(
                f"Tool {name!r} ({type(value).__name__}) cannot be sent to a remote executor: only Tool instances "
                "and plain functions travel (as source code). Managed agents are not supported by remote "
                "executors; run them with executor_type='local'."
            )
    if any(spec["kind"] == "tool" for spec in specs):
        # Tool classes import ``smolagents.tools``: where the remote has no smolagents, it
        # gets a small stand-in (``_tool_shim``) instead of a pip install
        specs.insert(0, {"name": "", "kind": "shim", "code": _shim_source()})
    return specs, list(dict.fromkeys(requirements))


@functools.lru_cache(maxsize=1)
def _shim_source() -> str:
    from . import _tool_shim

    return inspect.getsource(_tool_shim)
