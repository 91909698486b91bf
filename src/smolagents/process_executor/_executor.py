"""``ProcessExecutor``: the local sandbox in a child process, with OS limits around it.

Why: an in-process sandbox checks time and memory *between* operations, so one long C
call (sorting a huge list, hashing an exponentially shared tuple) overruns its timeout,
and a C stack overflow kills the host. Here the same sandbox runs in a child process the
parent can kill at a hard deadline; a kill or a crash costs the code's state, never the
host, and the next call runs in a fresh child with the host's tools and variables
restored. Tools run in the parent, so they keep their host access while the code gets
none. Everything crossing the pipe is data (``_value_codec``), size-bounded, and what
comes from the child is validated as hostile input.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from .._value_codec import ValueCodecError, decode_value, encode_value
from ..errors import InterpreterError, SandboxResourceError, SandboxSecurityError, UserError
from ..local_python_executor import CodeOutput, LocalPythonExecutor, PythonExecutor, SandboxLimits
from ._protocol import ChannelClosed, ChannelError, ChannelTimeout
from ._spawn import Child, take_child

__all__ = ["ProcessExecutor"]

logger = logging.getLogger("smolagents.process_executor")

_UNSET: Any = object()
_ERROR_KINDS: dict[str, type[InterpreterError]] = {
    "InterpreterError": InterpreterError,
    "SandboxSecurityError": SandboxSecurityError,
    "SandboxResourceError": SandboxResourceError,
}
_LOST_STATE = (
    "The executor restarted in a fresh process: variables, functions and imports defined by earlier "
    "code are lost (the tools and the variables sent by the host were restored). Re-run the code that "
    "defined the values you still need."
)


def _positive(name: str, value: Any, unit: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
        raise UserError(f"ProcessExecutor {name} must be a positive number of {unit} or None, got {value!r}")


def _kill_quietly(holder: list[Child | None]) -> None:
    child = holder[0]
    holder[0] = None
    if child is not None:
        child.kill()


class ProcessExecutor(PythonExecutor):
    """Runs model-written code in the local sandbox inside a confined child process.

    Same arguments as ``LocalPythonExecutor``, plus OS-level limits:

    Args:
        timeout_s: hard wall-clock limit per call, in seconds: at the deadline the child
            is killed (SIGKILL), so even a single long C-level call stops. Time spent in
            tools (which run in the parent) does not count. Default: the sandbox's own
            ``timeout_seconds`` plus a grace period; when only ``timeout_s`` is given, the
            sandbox's cooperative timeout is set a little below it, so ordinary loops stop
            cleanly and keep the state.
        memory_limit_mb: address space the child may add after start-up (``RLIMIT_AS``);
            the sandbox's own memory check is capped to it as well. ``None``: no OS cap.
        cpu_time_limit_s: CPU seconds per call (``RLIMIT_CPU``; SIGXCPU ends the child).
        isolate_network: ``None`` (default) gives the child its own network namespace with
            loopback only where the kernel permits it and records why when it does not;
            ``True`` requires it (error otherwise); ``False`` skips it. See
            ``network_isolated`` and ``isolation_notes``.
        allow_pickle: let values without a typed encoding be pickled *towards* the child
            (with a warning). Results from the child are never unpickled.
        max_message_bytes: largest message accepted from the child.
        start_timeout_s: how long the child may take to start.

    After a kill or a crash the call raises an ``InterpreterError`` (a
    ``SandboxResourceError`` for limits) saying that the state was lost; the next call
    works in a fresh child. ``restarts`` counts the restarts.

    Values cross as typed data (``_value_codec``): agent types (``AgentImage``...) travel
    as their raw value, and results that have no typed encoding come back as their
    ``repr()`` text. The child gets a minimal environment (no API keys or other secrets
    from ``os.environ``). Namespaces and rlimits are Linux features; where one cannot be
    applied, the child runs without it and ``isolation_notes`` says why.
    """

    #: keep one started child ready per parent process, so starts and restarts are fast
    keep_spare: bool = True

    def __init__(
        self,
        additional_authorized_imports: list[str],
        max_print_outputs_length: int | None = None,
        additional_functions: dict[str, Callable[..., Any]] | None = None,
        *,
        limits: SandboxLimits | None = None,
        timeout_seconds: float | None = _UNSET,
        max_operations: int | None = _UNSET,
        max_memory_bytes: int | None = _UNSET,
        allow_data_io: bool = False,
        timeout_s: float | None = _UNSET,
        memory_limit_mb: int | None = 4096,
        cpu_time_limit_s: float | None = None,
        isolate_network: bool | None = None,
        allow_pickle: bool = False,
        max_message_bytes: int = 128 * 2**20,
        start_timeout_s: float = 60.0,
    ) -> None:
        self._init_kwargs = {
            name: value
            for name, value in locals().items()
            if name not in ("self", "__class__") and value is not _UNSET
        }
        if timeout_s is not _UNSET:
            _positive("timeout_s", timeout_s, "seconds")
        _positive("memory_limit_mb", memory_limit_mb, "megabytes")
        _positive("cpu_time_limit_s", cpu_time_limit_s, "seconds")
        _positive("start_timeout_s", start_timeout_s, "seconds")
        if isolate_network not in (None, True, False):
            raise UserError(
                f"ProcessExecutor isolate_network must be True, False or None, got {isolate_network!r}"
            )
        if not isinstance(max_message_bytes, int) or max_message_bytes < 2**20:
            raise UserError(
                f"ProcessExecutor max_message_bytes must be an int of at least 1 MiB, got {max_message_bytes!r}"
            )
        overrides: dict[str, Any] = {
            name: value
            for name, value in (
                ("timeout_seconds", timeout_seconds),
                ("max_operations", max_operations),
                ("max_memory_bytes", max_memory_bytes),
            )
            if value is not _UNSET
        }
        if timeout_s not in (_UNSET, None) and "timeout_seconds" not in overrides:
            # the sandbox stops ordinary code cooperatively (state kept) before the hard kill
            overrides["timeout_seconds"] = max(timeout_s - 1.0, timeout_s * 0.5)
        # Validates every sandbox argument exactly as the local executor does (same errors).
        local = LocalPythonExecutor(
            additional_authorized_imports,
            max_print_outputs_length,
            None,
            limits=limits,
            allow_data_io=allow_data_io,
            **overrides,
        )
        sandbox_limits = local.limits
        memory_bytes = None if memory_limit_mb is None else int(memory_limit_mb * 2**20)
        if memory_bytes is not None and (
            sandbox_limits.max_memory_bytes is None or sandbox_limits.max_memory_bytes > memory_bytes
        ):
            sandbox_limits = dataclasses.replace(sandbox_limits, max_memory_bytes=memory_bytes)
        self.limits = sandbox_limits
        self.authorized_imports: list[str] = local.authorized_imports
        self.max_print_outputs_length = sandbox_limits.max_output_length
        self.allow_data_io = allow_data_io
        self.allow_pickle = allow_pickle
        if timeout_s is _UNSET:
            soft = sandbox_limits.timeout_seconds
            timeout_s = None if soft is None else soft + max(2.0, soft * 0.1)
        self.timeout_s: float | None = timeout_s
        self.memory_limit_mb = memory_limit_mb
        self.cpu_time_limit_s = cpu_time_limit_s
        self.isolate_network = isolate_network
        self.max_message_bytes = max_message_bytes
        self.start_timeout_s = start_timeout_s
        self._functions = dict(additional_functions or {})
        self._config: dict[str, Any] = {
            "imports": list(additional_authorized_imports or []),
            "limits": encode_value(dataclasses.asdict(sandbox_limits)),
            "allow_data_io": allow_data_io,
            "functions": sorted(self._functions),
            "isolate_network": isolate_network,
            "memory_bytes": memory_bytes,
            "cpu_seconds": cpu_time_limit_s,
            "allow_pickle": allow_pickle,
            "max_message_bytes": max_message_bytes,
        }
        self._tools: dict[str, Callable[..., Any]] = {}
        self._tools_version = 0
        self._variables: dict[str, Any] = {}  # encoded trees of every variable sent, for restarts
        self._pending: set[str] = set()  # names the current child has not received yet
        self._child_tools_version = -1
        self._busy = threading.Lock()
        self._holder: list[Child | None] = [None]
        self._finalizer = weakref.finalize(self, _kill_quietly, self._holder)
        self.restarts = 0
        #: whether the child runs in its own network namespace (known once it started)
        self.network_isolated: bool | None = None
        #: what the child could and could not apply to confine itself, in words
        self.isolation_notes: list[str] = []
        self._new_child()
        if isolate_network is True:
            self._ensure_started()

    # ------------------------------------------------------------------ child lifecycle
    @property
    def pid(self) -> int | None:
        """Process id of the current child (``None`` after ``cleanup``)."""
        child = self._holder[0]
        return None if child is None else child.pid

    def _new_child(self) -> Child:
        child = take_child(
            self.max_message_bytes,
            keep_spare=self.keep_spare,
            isolate_network=self.isolate_network is not False,
        )
        self._holder[0] = child
        self._pending = set(self._variables)
        self._child_tools_version = -1
        return child

    def _ensure_started(self) -> Child:
        child = self._holder[0]
        if child is None:  # after cleanup(): start afresh, nothing to report
            child = self._new_child()
        elif child.started and not child.alive():  # it died between calls: the state is gone
            child.close()
            raise self._death_error(child)
        if child.started:
            return child
        config = dict(self._config, lifeline_fd=child.child_lifeline_fd, path=list(sys.path), cwd=os.getcwd())
        try:
            report = child.handshake(config, time.monotonic() + self.start_timeout_s)
        except ChannelError as error:
            child.kill()
            self._holder[0] = None
            detail = "it did not start in time" if isinstance(error, ChannelTimeout) else str(error)
            raise InterpreterError(
                f"The ProcessExecutor's child process could not start: {detail} (it {child.exit_description()}). "
                f"Python used: {sys.executable}"
            ) from None
        self.network_isolated = report.get("network") is True
        self.isolation_notes = [str(report.get("network_note", ""))] + [
            str(p) for p in report.get("problems", [])
        ]
        if self.isolate_network is True and not self.network_isolated:
            self.cleanup()
            raise UserError(
                f"isolate_network=True, but the child could not get a network namespace: {self.isolation_notes[0]}. "
                "Pass isolate_network=None to run without it where it is not permitted."
            )
        if not self.network_isolated and self.isolate_network is None:
            logger.info("ProcessExecutor runs without network isolation: %s", self.isolation_notes[0])
        return child

    def _restart(self, old: Child) -> None:
        old.kill()
        self.restarts += 1
        self._new_child()

    def cleanup(self) -> None:
        """Stop the child process; safe to call twice. A later call starts a fresh one."""
        child = self._holder[0]
        self._holder[0] = None
        if child is not None:
            child.close()

    def __copy__(self) -> ProcessExecutor:
        """A new executor with its own child, the same settings, tools and sent variables."""
        clone = type(self)(**copy.copy(self._init_kwargs))
        clone._tools = dict(self._tools)
        clone._tools_version = 1
        clone._variables = dict(self._variables)
        clone._pending = set(self._variables)
        return clone

    # ------------------------------------------------------------------ tools and variables
    def send_tools(self, tools: dict[str, Callable[..., Any]]) -> None:
        """Tools stay in this process; the code calls them through the pipe by name."""
        accepted = {}
        for name, tool in tools.items():
            if name == "__import__":
                continue  # accepted and ignored, as by the local executor: imports follow the policy
            if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
                raise UserError(f"Tool name {name!r} is not a valid Python identifier usable in code")
            accepted[name] = tool
        self._tools = accepted
        self._tools_version += 1

    def send_variables(self, variables: dict[str, Any]) -> None:
        """Encode ``variables`` now (an unsendable value raises here, naming it); they reach
        the child with the next call and are restored after a restart."""
        trees = {}
        for name, value in variables.items():
            if not isinstance(name, str):
                raise ValueCodecError(f"Variable names must be strings, got {name!r}")
            try:
                trees[name] = self._encode(value)
            except ValueCodecError as error:
                raise ValueCodecError(
                    f"Variable {name!r} cannot be sent to the process executor: {error}"
                ) from None
        self._variables.update(trees)
        self._pending.update(trees)

    def _encode(self, value: Any) -> Any:
        """A value for the child; agent types (``AgentImage``, ``AgentAudio``) travel as
        their raw value (a PIL image, an array)."""
        try:
            return encode_value(value, allow_pickle=self.allow_pickle)
        except ValueCodecError:
            to_raw = getattr(type(value), "to_raw", None)
            if to_raw is None:
                raise
            return encode_value(to_raw(value), allow_pickle=self.allow_pickle)

    # ------------------------------------------------------------------ running
    def __call__(self, code: str, additional_variables: dict[str, Any] | None = None) -> CodeOutput:
        if not isinstance(code, str):
            raise InterpreterError(f"Code must be a string, got {type(code).__name__}")
        if additional_variables:
            self.send_variables(additional_variables)
        if not self._busy.acquire(blocking=False):
            raise InterpreterError(
                "This executor is already running code: executor calls cannot be nested or concurrent."
            )
        try:
            return self._run(code)
        finally:
            self._busy.release()

    def _run(self, code: str) -> CodeOutput:
        child = self._ensure_started()
        request: dict[str, Any] = {"op": "run", "code": code, "tools": None, "vars": None}
        if self._child_tools_version != self._tools_version:
            request["tools"] = [[name, _description(tool)] for name, tool in self._tools.items()]
        if self._pending:
            request["vars"] = _dict_tree({name: self._variables[name] for name in self._pending})
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
        try:
            child.channel.send(request, deadline)
            self._child_tools_version = self._tools_version
            self._pending = set()
            while True:
                reply = child.channel.recv(deadline)
                if reply["op"] == "tool":
                    started = time.monotonic()
                    answer = self._call_tool(reply)
                    if deadline is not None:
                        deadline += time.monotonic() - started
                    child.channel.send(answer, deadline)
                elif reply["op"] == "done":
                    return _finish(reply)
                else:
                    raise ValueCodecError(f"unexpected message {reply['op'][:40]!r}")
        except InterpreterError:
            raise
        except ChannelTimeout:
            self._restart(child)
            raise SandboxResourceError(
                f"Code execution failed due to: SandboxResourceError: the code ran past the hard time limit of "
                f"{self.timeout_s:g} seconds (ProcessExecutor timeout_s) and its process was killed. {_LOST_STATE}",
                limit="timeout_s",
            ) from None
        except ChannelClosed:
            child.close(grace=2.0)  # it is exiting: let it finish, so its exit status is the real one
            raise self._death_error(child) from None
        except (ChannelError, ValueCodecError, KeyError, TypeError) as error:
            self._restart(child)
            raise InterpreterError(
                f"Code execution failed: the sandbox process sent an invalid reply ({str(error)[:300]}) and was "
                f"stopped. {_LOST_STATE}"
            ) from None
        except BaseException:  # KeyboardInterrupt while waiting, or raised by a tool: stop the child
            self._restart(child)
            raise

    def _death_error(self, child: Child) -> InterpreterError:
        how = child.exit_description()
        self._restart(child)
        code = child.popen.returncode
        if code == -24:  # SIGXCPU
            return SandboxResourceError(
                f"Code execution failed due to: SandboxResourceError: the code used more than "
                f"{self.cpu_time_limit_s:g} CPU seconds (ProcessExecutor cpu_time_limit_s) and its process "
                f"was stopped. {_LOST_STATE}",
                limit="cpu_time_limit_s",
            )
        if code == -9 and not child.killed_by_parent:
            return SandboxResourceError(
                "Code execution failed due to: SandboxResourceError: the process running the code was killed "
                f"(SIGKILL), most likely by the system's out-of-memory killer. {_LOST_STATE}",
                limit="memory_limit_mb",
            )
        return InterpreterError(f"Code execution failed: the process running the code {how}. {_LOST_STATE}")

    def _call_tool(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run a tool the child asked for; its errors go back to the code as exceptions."""
        name = request.get("name")
        tool = (self._tools.get(name) or self._functions.get(name)) if isinstance(name, str) else None
        if tool is None:
            return _tool_error("NameError", f"there is no tool named {str(name)[:100]!r}")
        try:
            args = decode_value(request.get("args"))
            kwargs = decode_value(request.get("kwargs"))
        except ValueCodecError as error:
            return _tool_error("ValueCodecError", str(error))
        if type(args) is not list or type(kwargs) is not dict or not all(type(key) is str for key in kwargs):
            return _tool_error("ValueCodecError", "malformed tool call arguments")
        try:
            result = tool(*args, **kwargs)
        except Exception as error:
            try:
                error_args = encode_value(list(error.args))
            except ValueCodecError:
                error_args = None
            return _tool_error(type(error).__name__, _text_of(error), error_args)
        try:
            return {
                "op": "tool_result",
                "ok": True,
                "v": self._encode(result),
            }
        except ValueCodecError as error:
            return _tool_error(
                "ValueCodecError",
                f"tool {name!r} returned a value that cannot be sent into the process sandbox: {error}",
            )


def _description(tool: Any) -> str:
    description = getattr(tool, "description", None)
    return description if isinstance(description, str) else ""


def _text_of(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:
        return f"<{type(error).__name__} message could not be computed>"


def _tool_error(kind: str, message: str, args: Any = None) -> dict[str, Any]:
    if args is None:
        args = [message]
    return {"op": "tool_result", "ok": False, "type": kind, "message": message, "args": args}


def _dict_tree(trees: dict[str, Any]) -> Any:
    """A dict of already-encoded values as one encoded dict."""
    if "$t" in trees:
        return {"$t": "dict", "v": [[name, tree] for name, tree in trees.items()]}
    return trees


def _string(reply: dict[str, Any], field: str) -> str:
    value = reply.get(field, "")
    if value is None:
        return ""
    if type(value) is not str:
        raise ValueCodecError(f"the {field!r} field is a {type(value).__name__}, not a string")
    return value


def _finish(reply: dict[str, Any]) -> CodeOutput:
    """The ``CodeOutput`` or the error a ``done`` message stands for (validated)."""
    logs = _string(reply, "logs")
    if reply.get("ok") is True:
        output = decode_value(reply.get("output"))
        return CodeOutput(output=output, logs=logs, is_final_answer=reply.get("final") is True)
    kind = _ERROR_KINDS.get(_string(reply, "kind"), InterpreterError)
    message = _string(reply, "message")
    if kind is SandboxResourceError:
        error: InterpreterError = SandboxResourceError(message, limit=_string(reply, "limit"))
    else:
        error = kind(message)
    error.logs = logs  # type: ignore[attr-defined]
    raise error
