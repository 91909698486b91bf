"""Tool approval: the request and decision types, the board of open requests, and the effect.

An approval is one more effect of the run loop (see ``_loop.py``). The flow yields
:class:`AskApproval` before it runs calls that need approval, and gets one
:class:`ApprovalDecision` per request back. How the answer is obtained depends on the run:

- with an ``approval_callback``, the driver calls it (the sync driver on the caller's thread,
  the async driver in a worker thread, so a callback may block on a human);
- in a stream without a callback (``run(stream=True)``, ``arun(stream=True)``), the
  :class:`ApprovalRequest` events are yielded to the consumer, and the run waits until
  ``agent.approve(request_id, approved, reason=None)`` answers each of them, from the
  consuming thread before it asks for the next event, or from any other thread;
- with a checkpoint store, the run is paused instead (:class:`ApprovalPause`): the request is
  saved with the run and answered later, possibly from another process.

A wait is never silent: after ``APPROVAL_NOTICE_SECONDS`` without an answer a warning says
which request is waiting and how to answer it; with ``approval_timeout`` set, a request still
unanswered after that many seconds is denied.
"""

from __future__ import annotations

import threading
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError
from ._loop import Effect, _Done

__all__ = [
    "APPROVAL_NOTICE_SECONDS",
    "ApprovalBoard",
    "ApprovalDecision",
    "ApprovalPause",
    "ApprovalRequest",
    "AskApproval",
    "coerce_decision",
    "denial_text",
    "new_request_id",
]

#: seconds a run waits for an answer before it warns that it is waiting (tests lower it)
APPROVAL_NOTICE_SECONDS = 30.0
_ANSWERED_MEMORY = 1000


def new_request_id() -> str:
    return f"approval_{uuid.uuid4().hex[:16]}"


@dataclass
class ApprovalRequest:
    """A tool call waiting for a human (or a program) to approve or deny it.

    ``id`` is what ``agent.approve(id, approved, reason=None)`` answers. ``source`` is
    ``"tool_call"`` (a ToolCallingAgent's call; ``call_id`` is the model's call id) or
    ``"code"`` (a tool called from a CodeAgent's code; the code waits for the answer).
    """

    id: str
    tool_name: str
    arguments: dict[str, Any]
    step_number: int
    run_id: str | None = None
    agent_name: str | None = None
    call_id: str | None = None
    source: str = "tool_call"

    def dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tool_name": self.tool_name,
            "arguments": self.arguments,
            "step_number": self.step_number,
            "run_id": self.run_id,
            "agent_name": self.agent_name,
            "call_id": self.call_id,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApprovalRequest:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


@dataclass(frozen=True)
class ApprovalDecision:
    """The answer to an :class:`ApprovalRequest`; ``reason`` is shown to the model on denial."""

    approved: bool
    reason: str | None = None

    def dict(self) -> dict[str, Any]:
        return {"approved": self.approved, "reason": self.reason}


def coerce_decision(value: Any) -> ApprovalDecision:
    """What an approval callback returned, as a decision: an :class:`ApprovalDecision`, an
    ``(approved, reason)`` pair, or any value whose truth approves."""
    if isinstance(value, ApprovalDecision):
        return value
    if isinstance(value, tuple) and len(value) == 2 and (value[1] is None or isinstance(value[1], str)):
        return ApprovalDecision(bool(value[0]), value[1])
    return ApprovalDecision(bool(value))


def denial_text(tool_name: str, decision: ApprovalDecision) -> str:
    """What the model is told about a denied call."""
    why = f": {decision.reason}" if decision.reason else ""
    return (
        f"The call to {tool_name!r} was not run: approval was denied{why}. Continue without it (another "
        "approach, or explain in your final answer)."
    )


class ApprovalPause(Exception):
    """Raised through the flow when a run with a checkpoint store stops to wait for approval.

    Not an ``AgentError``: the step loop lets it pass and ends the run, whose state is then
    ``"awaiting_approval"``. ``decided`` holds the answers already given to other requests
    of the same batch (a stream's consumer may answer some and not others)."""

    def __init__(
        self, requests: list[ApprovalRequest], decided: dict[str, ApprovalDecision] | None = None
    ) -> None:
        super().__init__(
            f"The run is paused until a decision on approval request(s) {[r.id for r in requests]}; the tool "
            "was not run."
        )
        self.requests = requests
        self.decided = dict(decided or {})


@dataclass
class _Open:
    request: ApprovalRequest
    decision: ApprovalDecision | None = None
    event: threading.Event = field(default_factory=threading.Event)
    #: async waiters: (event loop, future) pairs woken with ``call_soon_threadsafe``
    waiters: list[tuple[Any, Any]] = field(default_factory=list)


class ApprovalBoard:
    """The requests of an agent's runs that wait for an answer (shared by concurrent copies)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, _Open] = {}
        self._answered: OrderedDict[str, ApprovalDecision] = OrderedDict()

    def open(self, request: ApprovalRequest) -> _Open:
        entry = _Open(request)
        with self._lock:
            self._open[request.id] = entry
        return entry

    def close(self, request_id: str) -> None:
        with self._lock:
            self._open.pop(request_id, None)

    def requests(self) -> list[ApprovalRequest]:
        with self._lock:
            return [entry.request for entry in self._open.values() if entry.decision is None]

    def answer(self, request_id: str, decision: ApprovalDecision) -> None:
        with self._lock:
            entry = self._open.get(request_id)
            if entry is not None and entry.decision is None:
                entry.decision = decision
                self._answered[request_id] = decision
                while len(self._answered) > _ANSWERED_MEMORY:
                    self._answered.popitem(last=False)
                waiters, entry.waiters = entry.waiters, []
            else:
                entry = None
        if entry is None:
            raise self._unknown(request_id)  # outside the lock: the message lists the waiting requests
        entry.event.set()
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # that loop is closed: nobody waits there any more
                pass

    def _unknown(self, request_id: str) -> UserError:
        waiting = [r.id for r in self.requests()]
        if request_id in self._answered:
            return UserError(
                f"Approval request {request_id!r} was already answered; each request is answered once."
            )
        listed = f"The requests waiting now are {waiting}." if waiting else "No request is waiting now."
        return UserError(
            f"Unknown approval request id {request_id!r}. {listed} Answer the .id of an ApprovalRequest "
            "that the run yielded (a paused run's requests are in RunResult.pending_approvals)."
        )

    # ------------------------------------------------------------------ waiting
    def wait(
        self, entry: _Open, timeout: float | None, notice: Callable[[ApprovalRequest], None]
    ) -> ApprovalDecision | None:
        """Block until ``entry`` is answered; None when ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        noticed = False
        while True:
            limits = [] if noticed else [APPROVAL_NOTICE_SECONDS]
            if deadline is not None:
                limits.append(max(0.0, deadline - time.monotonic()))
            if entry.event.wait(min(limits) if limits else None):
                return entry.decision
            if deadline is not None and time.monotonic() >= deadline:
                return None
            if not noticed:
                notice(entry.request)
                noticed = True

    async def wait_async(
        self, entry: _Open, timeout: float | None, notice: Callable[[ApprovalRequest], None]
    ) -> ApprovalDecision | None:
        """:meth:`wait` without blocking the event loop."""
        import asyncio

        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            if entry.decision is not None:
                return entry.decision
            entry.waiters.append((loop, future))
        deadline = None if timeout is None else loop.time() + timeout
        noticed = False
        while True:
            limits = [] if noticed else [APPROVAL_NOTICE_SECONDS]
            if deadline is not None:
                limits.append(max(0.0, deadline - loop.time()))
            try:
                await asyncio.wait_for(asyncio.shield(future), min(limits) if limits else None)
                return entry.decision
            except asyncio.TimeoutError:
                pass
            if deadline is not None and loop.time() >= deadline:
                return entry.decision  # None unless answered at the last moment
            if not noticed:
                notice(entry.request)
                noticed = True


def _resolve(future: Any) -> None:
    if not future.done():
        future.set_result(None)


@dataclass
class Approver:
    """An agent's approval settings, and how one run obtains decisions (see the module doc)."""

    callback: Callable[[ApprovalRequest], Any] | None
    timeout: float | None
    board: ApprovalBoard
    log: Callable[[str], None]

    def notice(self, request: ApprovalRequest) -> None:
        message = (
            f"The run is waiting for an answer to approval request {request.id!r} (tool {request.tool_name!r}, "
            f"arguments {request.arguments!r}). Answer it with agent.approve({request.id!r}, True or False), "
            "before asking the stream for its next event or from another thread; pass approval_timeout=... "
            "to the agent to deny unanswered requests after a delay, or approval_callback=... to decide "
            "without a stream."
        )
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        self.log(message)

    def timed_out(self) -> ApprovalDecision:
        return ApprovalDecision(False, f"no answer within {self.timeout:g} seconds (approval_timeout)")

    def call_back(self, request: ApprovalRequest) -> ApprovalDecision:
        assert self.callback is not None
        from ..errors import AgentToolExecutionError

        try:
            return coerce_decision(self.callback(request))
        except Exception as exc:
            raise AgentToolExecutionError(
                f"The approval callback raised {type(exc).__name__}: {exc} while deciding on the call to "
                f"{request.tool_name!r} with arguments {request.arguments!r}; the call was not run."
            ) from exc


@dataclass
class AskApproval(Effect):
    """Decide on ``requests``: the effect's result is one :class:`ApprovalDecision` per request.

    ``mode`` is one of:

    - ``"callback"``: call the approval callback for each request;
    - ``"stream"``: yield the requests, then wait until ``approve`` answers each;
    - ``"stream_or_pause"`` (a stream with a checkpoint store): yield the requests; those
      answered by the time the consumer asks for the next event are decided, the others
      pause the run (:class:`ApprovalPause`) instead of waiting;
    - ``"pause"``: raise :class:`ApprovalPause` (the checkpoint store saves the run);
    - ``"none"``: nobody can answer: a clear error, which becomes the step's error.
    """

    requests: list[ApprovalRequest]
    approver: Approver
    mode: str

    def run_sync(self) -> Generator[Any, None, list[ApprovalDecision]]:
        if self.mode == "callback":
            return [self.approver.call_back(request) for request in self.requests]
        if self.mode in ("stream", "stream_or_pause"):
            entries = [self.approver.board.open(request) for request in self.requests]
            try:
                for request in self.requests:
                    yield request
                if self.mode == "stream_or_pause":
                    return self._answered_or_pause(entries)
                decisions = []
                for entry in entries:
                    decision = self.approver.board.wait(entry, self.approver.timeout, self.approver.notice)
                    decisions.append(decision or self.approver.timed_out())
                return decisions
            finally:
                for request in self.requests:
                    self.approver.board.close(request.id)
        yield from ()
        return self._no_answer()

    async def run_async(self) -> AsyncIterator[Any]:
        import asyncio

        if self.mode == "callback":
            decisions = [
                await asyncio.to_thread(self.approver.call_back, request) for request in self.requests
            ]
            yield _Done(decisions)
            return
        if self.mode in ("stream", "stream_or_pause"):
            entries = [self.approver.board.open(request) for request in self.requests]
            try:
                for request in self.requests:
                    yield request
                if self.mode == "stream_or_pause":
                    decisions = self._answered_or_pause(entries)
                else:
                    decisions = []
                    for entry in entries:
                        waited = await self.approver.board.wait_async(
                            entry, self.approver.timeout, self.approver.notice
                        )
                        decisions.append(waited or self.approver.timed_out())
            finally:
                for request in self.requests:
                    self.approver.board.close(request.id)
            yield _Done(decisions)
            return
        yield _Done(self._no_answer())

    @staticmethod
    def _answered_or_pause(entries: list[_Open]) -> list[ApprovalDecision]:
        decided = {entry.request.id: entry.decision for entry in entries if entry.decision is not None}
        if len(decided) < len(entries):
            raise ApprovalPause([entry.request for entry in entries if entry.decision is None], decided)
        return [decided[entry.request.id] for entry in entries]

    def _no_answer(self) -> list[ApprovalDecision]:
        if self.mode == "pause":
            raise ApprovalPause(self.requests)
        names = sorted({request.tool_name for request in self.requests})
        raise UserError(
            f"The call to {names} needs approval, but this run has no way to ask for it. Pass "
            "approval_callback=... to the agent, or run it with stream=True and answer each ApprovalRequest "
            "event with agent.approve(request.id, True or False)."
        )
