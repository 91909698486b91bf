"""Approval for tools called from a CodeAgent's code.

When approvals are on, the executor gets each tool wrapped in a :class:`GatedTool`: a call
from the code goes through the agent (``_code_call_flow``), which asks for approval when the
call needs it and then runs the tool, or raises ``PermissionError`` into the code when it is
denied. This works for every executor that calls tools in the host (the local sandbox and
the process sandbox, whose child sends tool calls back to the parent); remote executors run
tools remotely, where nobody can ask, so they are refused.

With an ``approval_callback`` the callback is simply called where the tool is called. In a
stream without a callback the request must reach the stream's consumer while the code waits
in the middle of a call, so the code runs on a thread of its own (:class:`CodeWithApprovals`):

- sync stream: tool calls are sent back to the consumer's thread (tools keep running on the
  caller's thread), where the request is yielded and the answer awaited;
- async stream: the code runs in a worker thread as usual; a call that needs approval posts
  the request to the event loop, which yields it, and waits in its thread for the answer.
"""

from __future__ import annotations

import contextvars
import queue
import sys
import threading
from collections.abc import AsyncIterator, Generator
from typing import Any

from ..errors import AgentError, UserError
from ._approval import ApprovalDecision, ApprovalRequest, denial_text
from ._loop import Calls, Effect, Outcome, _capture, _Done, drive_sync

__all__ = ["CodeWithApprovals", "GatedTool", "call_arguments", "check_executor_calls_host", "denied_error"]


#: seconds a closed stream waits for its code to end (it ends at its next tool call)
_STOPPED_CODE_WAIT = 10.0


def _stopped() -> AgentError:
    return AgentError("The run was stopped while its code was calling a tool; the tool did not run.")


class GatedTool:
    """A tool as the executor sees it when approvals are on."""

    def __init__(self, agent: Any, name: str, tool: Any) -> None:
        self._agent = agent
        self._tool = tool
        self.name = name
        description = getattr(tool, "description", "")
        self.description = description if isinstance(description, str) else ""

    def __getattr__(self, attr: str) -> Any:  # inputs, output_type... of the tool itself
        if attr.startswith("__") or attr in ("_agent", "_tool"):
            raise AttributeError(attr)
        return getattr(self._tool, attr)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._agent._call_from_code(self.name, self._tool, args, kwargs)

    def __repr__(self) -> str:
        return f"<approval-gated tool {self.name!r}>"


def call_arguments(tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A call's arguments by name (what the policy and the request show)."""
    inputs = getattr(tool, "inputs", None)
    if not isinstance(inputs, dict):
        return {"args": list(args), **kwargs} if args else dict(kwargs)
    if (
        len(args) == 1
        and not kwargs
        and isinstance(args[0], dict)
        and args[0]
        and set(args[0]) <= set(inputs)
    ):
        return dict(args[0])  # tool({"a": 1}), a form tools accept
    names = list(inputs)
    named = dict(zip(names, args))
    if len(args) > len(names):
        named["*args"] = list(args[len(names) :])
    return {**named, **kwargs}


def check_executor_calls_host(executor: Any) -> None:
    """Refuse an executor that runs tools remotely: a call there cannot be held for approval."""
    base = sys.modules.get("smolagents.remote_executors._base")
    if base is not None and isinstance(executor, base.RemotePythonExecutor):
        raise UserError(
            f"{type(executor).__name__} runs tools inside the remote sandbox, where a call cannot be held for "
            "approval, but this agent asks for approval (requires_approval tools or an approval_policy). Use "
            "executor_type='local' or 'process' (tools run in this process), or a ToolCallingAgent."
        )


class _SyncChannel:
    """Tool calls from the code's thread to the stream consumer's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False

    def forward(self, flow: Generator[Any, Any, Any]) -> Any:
        reply: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        with self._lock:
            if self._closed:
                flow.close()
                raise _stopped()
            # the tool runs on the consumer's thread, in the code thread's context (tracing spans)
            self.inbox.put(("call", _in_context(contextvars.copy_context(), flow), reply))
        ok, value = reply.get()
        if ok:
            return value
        raise value

    def close(self) -> None:
        with self._lock:
            self._closed = True
            while True:
                try:
                    message = self.inbox.get_nowait()
                except queue.Empty:
                    return
                if message[0] == "call":
                    message[1].close()
                    message[2].put((False, _stopped()))


def _in_context(context: contextvars.Context, flow: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
    """``flow``, each of its steps run inside ``context`` (the effects it yields are performed
    by the caller, outside it)."""
    to_send: Any = None
    to_throw: BaseException | None = None
    try:
        while True:
            try:
                if to_throw is not None:
                    item = context.run(flow.throw, to_throw)
                else:
                    item = context.run(flow.send, to_send)
            except StopIteration as stop:
                return stop.value
            to_send, to_throw = None, None
            try:
                to_send = yield item
            except GeneratorExit:
                raise
            except BaseException as exc:
                to_throw = exc
    finally:
        flow.close()


class _AsyncChannel:
    """Approval requests from the code's worker thread to the event loop (which yields them)."""

    def __init__(self, loop: Any, events: Any, board: Any) -> None:
        self._loop = loop
        self._events = events
        self._board = board
        self._lock = threading.Lock()
        self._closed = False
        self._asked: list[str] = []

    def forward(self, flow: Generator[Any, Any, Any]) -> Any:
        events = drive_sync(flow)
        while True:
            try:
                event = next(events)
            except StopIteration as stop:
                return stop.value
            # a request is answered "before the next event" (a run that can pause decides then):
            # wait until the consumer has seen it and asked for what follows
            seen = threading.Event() if isinstance(event, ApprovalRequest) else None
            with self._lock:
                if self._closed:
                    events.close()
                    raise _stopped()
                if isinstance(event, ApprovalRequest):
                    self._asked.append(event.id)
                self._loop.call_soon_threadsafe(self._events.put_nowait, (event, seen))
            if seen is not None:
                seen.wait()

    def close(self) -> None:
        """The consumer went away: deny what the code still waits for, so its thread ends."""
        with self._lock:
            self._closed = True
            asked, self._asked = self._asked, []
        while not self._events.empty():  # posted but never yielded: release their threads
            _event, seen = self._events.get_nowait()
            if seen is not None:
                seen.set()
        for request_id in asked:
            try:
                self._board.answer(request_id, ApprovalDecision(False, "the run was stopped"))
            except UserError:  # already answered
                pass


class CodeWithApprovals(Effect):
    """Run the code of ``plain`` (the step's ``Calls`` effect running the code) on a thread of
    its own, so that approval requests from the tools it calls reach the stream; the result
    is ``[Outcome]``, as for ``plain``. (An observer of effects finds the code call in ``.plain``.)"""

    def __init__(self, agent: Any, plain: Calls) -> None:
        self.agent = agent
        self.plain = plain

    def run_sync(self) -> Generator[Any, None, list[Outcome]]:
        channel = _SyncChannel()
        self.agent._code_channel = channel
        run = self.plain.sync_calls[0]

        def run_code() -> None:
            channel.inbox.put(("done", _capture(run)))

        thread = threading.Thread(target=run_code, name="smolagents-code", daemon=True)
        thread.start()
        try:
            while True:
                message = channel.inbox.get()
                if message[0] == "done":
                    return [message[1]]
                _, flow, reply = message
                try:
                    value = yield from drive_sync(flow)  # the tool runs here, on the consumer's thread
                except Exception as exc:
                    reply.put((False, exc))
                    continue
                except BaseException:  # the stream was closed, or Ctrl-C: the code's call fails
                    reply.put((False, _stopped()))
                    raise
                reply.put((True, value))
        finally:
            channel.close()  # later calls from the code fail at once instead of waiting
            # stopped early: the code ends at its next tool call; wait for it (bounded), so the
            # executor is free for the agent's next run
            thread.join(_STOPPED_CODE_WAIT)

    async def run_async(self) -> AsyncIterator[Any]:
        import asyncio

        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Any] = asyncio.Queue()
        channel = _AsyncChannel(loop, events, self.agent._approval_board)
        self.agent._code_channel = channel
        task = asyncio.ensure_future(self.plain.async_calls[0]())  # the code in a worker thread
        getter: asyncio.Future[Any] | None = None
        seen: threading.Event | None = None  # set once the consumer asked for what follows
        try:
            while True:
                getter = asyncio.ensure_future(events.get())
                done, _pending = await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                event, seen = getter.result()
                yield event
                if seen is not None:
                    seen.set()
                    seen = None
            try:
                outcome = Outcome(value=task.result())
            except Exception as exc:
                outcome = Outcome(error=exc)
            yield _Done([outcome])
        finally:
            if getter is not None:
                getter.cancel()
            channel.close()  # denies what the code still waits for, then lets it go on
            if seen is not None:
                seen.set()


def denied_error(request: ApprovalRequest, decision: ApprovalDecision) -> PermissionError:
    """Raised into the code at the denied call: the code stops there unless it handles it."""
    return PermissionError(denial_text(request.tool_name, decision))
