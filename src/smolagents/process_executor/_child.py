"""The child process: a ``LocalPythonExecutor`` behind a pipe, confined by the OS.

Lifecycle: the child imports the sandbox, says ``ready`` and waits (a warm spare can wait
here for a long time); the ``init`` message brings the configuration, the child confines
itself (``_isolation``), builds its executor and answers ``started``. Then it serves
``tools``, ``vars`` and ``run`` requests one at a time. Tools are stand-ins that send a
``tool`` request to the parent and wait for its ``tool_result``: the real tools run in
the parent, with the host access model code must not have.

Everything the child sends is data encoded by ``_value_codec``; the parent treats it as
hostile anyway. The child exits when its lifeline pipe closes (the parent died or called
``cleanup``), so no orphan outlives its parent.
"""

from __future__ import annotations

import builtins
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from .._value_codec import ValueCodecError, decode_value, encode_value
from ..errors import (
    AgentError,
    AgentExecutionError,
    AgentToolCallError,
    AgentToolExecutionError,
    InterpreterError,
)
from ..local_python_executor import LocalPythonExecutor, SandboxLimits
from . import _isolation
from ._protocol import ChannelClosed, ChildChannel, MessageTooLarge

__all__ = ["main"]

_ERROR_KINDS = ("InterpreterError", "SandboxSecurityError", "SandboxResourceError")
_LIBRARY_ERRORS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (AgentError, AgentExecutionError, AgentToolCallError, AgentToolExecutionError, ValueCodecError)
}
_made_errors: dict[str, type[Exception]] = {}
_MAX_REPR = 100_000


def _error_class(name: Any) -> type[Exception]:
    """The exception class a tool error is re-raised as inside the sandbox: the builtin or
    library class of that name, so ``except ValueError`` behaves as with local tools."""
    if type(name) is not str or not name.isidentifier():
        return RuntimeError
    known = getattr(builtins, name, None)
    if isinstance(known, type) and issubclass(known, Exception):
        return known
    if name in _LIBRARY_ERRORS:
        return _LIBRARY_ERRORS[name]
    if name not in _made_errors:
        _made_errors[name] = type(name, (Exception,), {"__module__": "tools"})
    return _made_errors[name]


def _rebuild_error(reply: dict[str, Any]) -> Exception:
    """The tool's exception, rebuilt from its class name and arguments (data only)."""
    name, message = reply.get("type"), str(reply.get("message", ""))
    try:
        args = decode_value(reply.get("args"))
        return _error_class(name)(*args) if type(args) is list else _error_class(name)(message)
    except Exception:  # a class whose constructor wants other arguments
        return RuntimeError(f"{name}: {message}")


class _RemoteTool:
    """Stands in for a tool that lives in the parent."""

    def __init__(self, channel: ChildChannel, name: str, description: str, allow_pickle: bool) -> None:
        self.channel = channel
        self.name = name
        self.description = description
        self.allow_pickle = allow_pickle

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = {
            "op": "tool",
            "name": self.name,
            "args": encode_value(list(args)),
            "kwargs": encode_value(kwargs),
        }
        self.channel.send(request)
        reply = self.channel.recv()
        if reply.get("op") != "tool_result":
            raise ChannelClosed(f"expected a tool result, got {reply.get('op')!r}")
        if reply.get("ok"):
            return decode_value(reply.get("v"), allow_pickle=self.allow_pickle)
        raise _rebuild_error(reply)


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except BaseException:
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= _MAX_REPR else text[:_MAX_REPR] + "..."


class _Server:
    def __init__(self, channel: ChildChannel, config: dict[str, Any], confinement: dict[str, Any]) -> None:
        self.channel = channel
        self.config = config
        self.confinement = confinement
        self.memory_note = ""

    def remote_tool(self, name: str, description: str) -> _RemoteTool:
        return _RemoteTool(self.channel, name, description, self.config["allow_pickle"])

    def build(self) -> dict[str, Any]:
        """Confine the process and build the executor; returns the isolation report."""
        config = self.config
        self.channel.max_message_bytes = config["max_message_bytes"]
        sys.path[:] = config["path"]
        try:
            os.chdir(config["cwd"])
        except OSError:
            pass
        report = dict(self.confinement)
        limits = SandboxLimits(**decode_value(config["limits"]))
        functions: dict[str, Callable[..., Any]] = {
            name: self.remote_tool(name, "") for name in config["functions"]
        }
        self.executor = LocalPythonExecutor(
            config["imports"], None, functions, limits=limits, allow_data_io=config["allow_data_io"]
        )
        self.executor("None")  # starts the sandbox's own thread, so its stack is mapped below
        memory = config["memory_bytes"]
        if memory is not None:
            try:
                report["address_space_cap"] = _isolation.limit_address_space(memory)
            except (OSError, ValueError) as error:  # no /proc, or the hard limit is lower
                report["problems"] = [*report["problems"], f"RLIMIT_AS could not be set: {error}"]
            else:
                self.memory_note = (
                    f" (the process memory cap is {memory // 2**20} MB: ProcessExecutor memory_limit_mb)"
                )
        threading.Thread(target=_lifeline, args=(config["lifeline_fd"],), daemon=True).start()
        return report

    def serve(self) -> None:
        while True:
            request = self.channel.recv()
            op = request["op"]
            if op == "run":
                reply = self.run(request)
                try:
                    self.channel.send(reply)
                except MessageTooLarge as error:
                    message = f"Code execution failed due to: SandboxResourceError: {error}"
                    self.channel.send(
                        {
                            "op": "done",
                            "ok": False,
                            "kind": "SandboxResourceError",
                            "limit": "max_message_bytes",
                            "message": message,
                            "logs": reply.get("logs", "")[:65536],
                        }
                    )
            else:
                os._exit(0)

    def receive_variables(self, tree: Any) -> dict[str, Any]:
        try:
            self.executor.send_variables(decode_value(tree, allow_pickle=self.config["allow_pickle"]))
        except ValueCodecError as error:
            return {"op": "fail", "message": str(error)}
        return {"op": "ok"}

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("tools") is not None:
            tools: dict[str, Callable[..., Any]] = {
                name: self.remote_tool(name, str(desc)) for name, desc in request["tools"]
            }
            self.executor.send_tools(tools)
        if request.get("vars") is not None:
            reply = self.receive_variables(request["vars"])
            if reply["op"] != "ok":
                return {"op": "done", "ok": False, "kind": "InterpreterError", "message": reply["message"]}
        _isolation.limit_cpu_seconds(self.config["cpu_seconds"])
        try:
            result = self.executor(request["code"])
        except InterpreterError as error:
            kind = type(error).__name__
            message = error.message
            if "due to: MemoryError" in message:
                message += self.memory_note
            return {
                "op": "done",
                "ok": False,
                "kind": kind if kind in _ERROR_KINDS else "InterpreterError",
                "message": message,
                "logs": str(getattr(error, "logs", "") or ""),
                "limit": str(getattr(error, "limit", "") or ""),
            }
        except ChannelClosed:
            raise
        except Exception as error:  # the sandbox's own bugs still come back as a step error
            message = f"Code execution failed due to: {type(error).__name__}: {error}"
            return {"op": "done", "ok": False, "kind": "InterpreterError", "message": message, "logs": ""}
        finally:
            _isolation.limit_cpu_seconds(None)
        try:
            output = encode_value(result.output)
            unencodable = None
        except ValueCodecError as error:
            output, unencodable = _safe_repr(result.output), str(error)
        return {
            "op": "done",
            "ok": True,
            "output": output,
            "unencodable": unencodable,
            "logs": result.logs,
            "final": bool(result.is_final_answer),
        }


def _lifeline(fd: int) -> None:
    """Exit as soon as the parent's end of the lifeline closes (it died or cleaned up)."""
    try:
        while os.read(fd, 1):
            pass
    finally:
        os._exit(0)


def main(read_fd: int, write_fd: int, isolate_network: bool) -> None:
    """Serve one parent over ``read_fd``/``write_fd`` until it goes away.

    The configuration-independent confinement (network namespace, no new privileges, no
    core files) happens before ``ready``, so a warm spare has already paid for it."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):  # stray C-level writes must not reach the parent's terminal
        os.dup2(devnull, fd)
    channel = ChildChannel(read_fd, write_fd)
    network, note = False, "network isolation not requested (isolate_network=False)"
    if isolate_network:
        network, note = _isolation.enter_network_namespace()
    confinement = {"network": network, "network_note": note, "problems": _isolation.lock_down()}
    try:
        channel.send({"op": "ready", "pid": os.getpid()})
        init = channel.recv()
        if init.get("op") != "init":
            os._exit(0)
        server = _Server(channel, init["config"], confinement)
        try:
            report = server.build()
        except Exception as error:
            channel.send({"op": "failed", "message": f"{type(error).__name__}: {error}"})
            os._exit(1)
        channel.send({"op": "started", "report": report})
        server.serve()
    except (ChannelClosed, BrokenPipeError, OSError):
        pass
    finally:
        os._exit(0)
