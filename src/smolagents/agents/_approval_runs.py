"""What makes an agent ask for approval before risky tool calls (see ``_approval.py``).

Which calls need approval: ``approval_policy(tool_name, arguments)`` decides when the agent
has one and it returns True or False; when there is no policy, or it returns None, the tool's
``requires_approval`` attribute decides. ``final_answer`` never asks.

How a run obtains the answer is chosen when it starts (:meth:`ApprovalRuns._begin_approvals`),
first match wins:

1. the agent's ``approval_callback``;
2. in a stream (``run(stream=True)``, ``arun(stream=True)``): the consumer, through
   ``agent.approve``; the run waits for it, unless the run has a checkpoint store, in which
   case a request not answered by the time the consumer asks for the next event pauses it;
3. with a checkpoint store: the run pauses (``_approval_resume.py``);
4. otherwise nobody could answer: ``run()`` is refused before it starts (a configuration
   error, raised by ``run``), since it could only fail at the first risky call.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from .._monitoring_types import LogLevel
from ..errors import AgentToolExecutionError, UserError
from ..memory import ToolCall, ToolOutput
from ._approval import (
    ApprovalBoard,
    ApprovalDecision,
    ApprovalPause,
    ApprovalRequest,
    Approver,
    AskApproval,
    denial_text,
    new_request_id,
)
from ._approval_code import (
    CodeWithApprovals,
    GatedTool,
    call_arguments,
    check_executor_calls_host,
    denied_error,
)
from ._approval_resume import ApprovalCheckpoints, LedgerEntry
from ._loop import Calls, Effect, run_flow_to_end

if TYPE_CHECKING:
    from ..tools import Tool

__all__ = ["ApprovalCallback", "ApprovalPolicy", "ApprovalRuns"]

ApprovalCallback = Callable[[ApprovalRequest], Any]
ApprovalPolicy = Callable[[str, dict[str, Any]], "bool | None"]


class ApprovalRuns(ApprovalCheckpoints):
    """Approval settings, the public ``approve`` API, and the hooks the agents call."""

    if TYPE_CHECKING:  # provided by MultiStepAgent
        tools: dict[str, Tool]
        _managed_tools: dict[str, Tool]
        name: str | None

    approval_callback: ApprovalCallback | None
    approval_policy: ApprovalPolicy | None
    approval_timeout: float | None
    #: set when a run starts: whether its consumer answers approvals in the stream
    _approvals_in_stream: bool = False
    #: set when a run starts: its checkpoint store, if any
    _approval_store: Any = None
    #: while a CodeAgent's code runs in a stream: where its tool calls go (``_approval_code``)
    _code_channel: Any = None

    def _setup_approvals(
        self,
        approval_callback: ApprovalCallback | None,
        approval_policy: ApprovalPolicy | None,
        approval_timeout: float | None,
    ) -> None:
        for label, value in (("approval_callback", approval_callback), ("approval_policy", approval_policy)):
            if value is not None and not callable(value):
                raise UserError(f"{label} must be a function or None, got {type(value).__name__}: {value!r}.")
        if approval_timeout is not None and (
            isinstance(approval_timeout, bool)
            or not isinstance(approval_timeout, (int, float))
            or not approval_timeout > 0
        ):
            raise UserError(
                f"approval_timeout must be a positive number of seconds or None (wait until answered), "
                f"got {approval_timeout!r}."
            )
        self.approval_callback = approval_callback
        self.approval_policy = approval_policy
        self.approval_timeout = approval_timeout
        # shared with the copies that concurrent runs use, so approve() finds their requests
        self._approval_board = ApprovalBoard()
        self._approval_ledger = []
        self._paused_requests = []

    # ------------------------------------------------------------------ public API
    def approve(
        self,
        request_id: str,
        approved: bool,
        reason: str | None = None,
        *,
        checkpoint: Any = None,
        run_id: str | None = None,
    ) -> None:
        """Answer an :class:`ApprovalRequest`.

        ``approved`` is True or False; ``reason`` (optional) is shown to the model when the call
        is denied. For a streamed run waiting for the answer, call it from the consuming thread
        before asking for the next event, or from any other thread while the consumer waits.

        For a run that paused (``RunResult.state == "awaiting_approval"``), pass its
        ``checkpoint`` store (and its ``run_id``, else the store's runs are searched), from any
        process; then ``agent.resume(run_id, checkpoint=store)``. Without ``checkpoint``, this
        agent's own last paused run is answered. An id nobody waits for (unknown, or already
        answered) raises :class:`UserError`."""
        if not isinstance(approved, bool):
            raise UserError(
                f"approve() takes approved=True or False, got {approved!r}: a value that is merely truthy "
                "could approve a call by mistake."
            )
        if reason is not None and not isinstance(reason, str):
            raise UserError(f"approve() takes a reason that is a string or None, got {reason!r}.")
        decision = ApprovalDecision(approved, reason)
        if checkpoint is None:
            paused = {request.id: request for request in self._paused_requests}
            if request_id not in paused or self._paused_store is None:
                self._approval_board.answer(request_id, decision)
                return
            checkpoint, run_id = self._paused_store, paused[request_id].run_id
        self._approve_in_store(checkpoint, run_id, request_id, decision)
        self._paused_requests = [r for r in self._paused_requests if r.id != request_id]

    @property
    def pending_approvals(self) -> list[ApprovalRequest]:
        """The requests this agent's runs wait for now: those of streamed runs, and those
        its last run paused on (for a UI to list)."""
        return [*self._approval_board.requests(), *self._paused_requests]

    # ------------------------------------------------------------------ deciding
    def _approvals_possible(self) -> bool:
        if self.approval_policy is not None:
            return True
        return any(
            getattr(tool, "requires_approval", False) is True
            for tool in (*self.tools.values(), *self._managed_tools.values())
        )

    def _begin_approvals(self, args: Any, stream: bool) -> None:
        """Called by the drivers when a run starts (before anything runs)."""
        durable = args[6] if len(args) > 6 else None
        self._approvals_in_stream = stream
        self._approval_store = getattr(durable, "store", None)
        self._code_channel = None
        self._paused_requests = []
        self._approval_ledger, self._ledger_step = [], -1
        executor = getattr(self, "python_executor", None)
        if executor is not None and self._approvals_possible():
            check_executor_calls_host(executor)  # before a remote sandbox is started for nothing
        if stream or self.approval_callback is not None or self._approval_store is not None:
            return
        if self._approvals_possible():
            gated = [
                name
                for name, tool in {**self.tools, **self._managed_tools}.items()
                if getattr(tool, "requires_approval", False) is True
            ]
            why = f"tools {gated} require approval" if gated else "it has an approval_policy"
            raise UserError(
                f"This agent asks for approval before some tool calls ({why}), but this run has nobody to ask. "
                "Pass approval_callback=... to the agent (a function deciding each ApprovalRequest); or run "
                "with stream=True and answer each ApprovalRequest event with agent.approve(request.id, True or "
                "False); or run with checkpoint=store, so the run pauses until agent.approve(..., "
                "checkpoint=store) and agent.resume(run_id, checkpoint=store)."
            )

    def _approval_mode(self) -> str:
        if self.approval_callback is not None:
            return "callback"
        if self._approvals_in_stream:
            return "stream_or_pause" if self._approval_store is not None else "stream"
        if self._approval_store is not None:
            return "pause"
        return "none"

    def _approver(self) -> Approver:
        return Approver(
            callback=self.approval_callback,
            timeout=self.approval_timeout,
            board=self._approval_board,
            log=lambda message: self.logger.log(message, level=LogLevel.INFO),
        )

    def _needs_approval(self, tool_name: str, tool: Any, arguments: dict[str, Any]) -> bool:
        if tool_name == "final_answer":
            return False
        if self.approval_policy is not None:
            try:
                verdict = self.approval_policy(tool_name, arguments)
            except Exception as exc:
                raise AgentToolExecutionError(
                    f"approval_policy raised {type(exc).__name__}: {exc} for the call to {tool_name!r} with "
                    f"arguments {arguments!r}; the call was not run."
                ) from exc
            if verdict is not None:
                return bool(verdict)
        return getattr(tool, "requires_approval", False) is True

    def _approval_request(
        self, tool_name: str, arguments: dict[str, Any], call_id: str | None, source: str
    ) -> ApprovalRequest:
        durable = self._durable
        return ApprovalRequest(
            id=new_request_id(),
            tool_name=tool_name,
            arguments=arguments,
            step_number=self.step_number,
            run_id=durable.run_id if durable is not None else None,
            agent_name=self.name,
            call_id=call_id,
            source=source,
        )

    def _decide(self, entries: list[LedgerEntry]) -> Generator[Any, Any, list[ApprovalDecision]]:
        """Decisions for ``entries``: those the ledger already holds (a resumed step), and the
        others asked for (an :class:`AskApproval` effect)."""
        to_ask = [entry.request for entry in entries if entry.decision is None]
        if to_ask:
            for request in to_ask:
                self.logger.log(
                    f"Approval needed for '{request.tool_name}' with arguments: {request.arguments} "
                    f"(request {request.id})",
                    level=LogLevel.INFO,
                )
            try:
                decisions = yield AskApproval(to_ask, self._approver(), self._approval_mode())
            except ApprovalPause as pause:
                for request_id, decision in pause.decided.items():
                    self._ledger_decide(request_id, decision)
                raise
            for request, decision in zip(to_ask, decisions):
                self._ledger_decide(request.id, decision)
        for entry in entries:
            assert entry.decision is not None
            verdict = "approved" if entry.decision.approved else "denied"
            why = f": {entry.decision.reason}" if entry.decision.reason else ""
            self.logger.log(f"Call to '{entry.request.tool_name}' {verdict}{why}", level=LogLevel.INFO)
        return [entry.decision for entry in entries if entry.decision is not None]

    # ------------------------------------------------------------------ ToolCallingAgent
    def _ask_approvals(
        self, prepared: list[Any], errors: list[Any]
    ) -> Generator[Any, Any, tuple[list[Any], list[Any]]]:
        """Split a step's prepared calls into those to run and ``(call, decision)`` denials;
        every call that needs approval is asked about at once (a UI sees them together)."""
        if self.approval_policy is None and not any(
            getattr(p.tool, "requires_approval", False) is True for p in prepared
        ):
            return prepared, []
        asked: list[tuple[Any, LedgerEntry]] = []
        to_run = []
        for p in prepared:
            try:
                needed = self._needs_approval(p.call.name, p.tool, p.arguments)
            except AgentToolExecutionError as exc:
                errors.append(exc)
                continue
            if needed:
                asked.append((p, self._ledger_entry(p.call.name, p.arguments, p.call.id, "tool_call")))
            else:
                to_run.append(p)
        if not asked:
            return to_run, []
        try:
            decisions = yield from self._decide([entry for _, entry in asked])
        except ApprovalPause as pause:
            self._pause_for_approval(pause)
            raise
        denied = []
        for (p, _entry), decision in zip(asked, decisions):
            if decision.approved:
                to_run.append(p)
            else:
                denied.append((p, decision))
        order = {id(p): index for index, p in enumerate(prepared)}
        to_run.sort(key=lambda p: order[id(p)])
        return to_run, denied

    @staticmethod
    def _denied_output(call: ToolCall, decision: ApprovalDecision, labelled: bool) -> ToolOutput:
        label = f"Result of {call.name} (call {call.id}):\n" if labelled else ""
        return ToolOutput(
            id=call.id,
            output=None,
            is_final_answer=False,
            observation=label + denial_text(call.name, decision),
            tool_call=call,
        )

    # ------------------------------------------------------------------ CodeAgent
    def _code_tools(self, tools: dict[str, Any], executor: Any) -> dict[str, Any]:
        """The tools to send to the executor: gated when approvals are on."""
        if not self._approvals_possible():
            return tools
        check_executor_calls_host(executor)
        return {
            name: tool if name == "final_answer" else GatedTool(self, name, tool)
            for name, tool in tools.items()
        }

    def _code_effect(self, plain: Calls, executor: Any, code: str) -> Effect:
        """How a step runs its code: ``plain`` (the ``Calls`` effect running it) unless approvals
        are on, in which case requests may have to reach a stream meanwhile, or pause the run
        after the code stopped (the wrappers keep ``plain`` in ``.plain`` / ``.inner``)."""
        if not self._approvals_possible():
            return plain
        mode = self._approval_mode()
        effect: Effect = CodeWithApprovals(self, plain) if mode in ("stream", "stream_or_pause") else plain
        return _PausableCode(self, effect) if mode in ("pause", "stream_or_pause") else effect

    def _call_from_code(self, name: str, tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        flow = self._code_call_flow(name, tool, args, kwargs)
        channel = self._code_channel
        if channel is not None:
            return channel.forward(flow)
        return run_flow_to_end(flow)

    def _code_call_flow(
        self, name: str, tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Generator[Any, Any, Any]:
        if self._code_paused is not None:  # the code caught the pause: nothing else runs
            raise self._code_paused
        arguments = call_arguments(tool, args, kwargs)
        if not self._needs_approval(name, tool, arguments):
            return tool(*args, **kwargs)
        entry = self._ledger_entry(name, arguments, None, "code")
        if entry.ran:  # approved and made before the step paused again: not made twice
            return entry.replay()
        try:
            (decision,) = yield from self._decide([entry])
        except ApprovalPause as pause:
            self._code_paused = pause
            raise
        if not decision.approved:
            raise denied_error(entry.request, decision)
        entry.result = tool(*args, **kwargs)
        return entry.result


class _PausableCode(Effect):
    """Runs the code; if a call in it paused the run, the step pauses once the code stopped
    (whatever the code did with the exception it got)."""

    def __init__(self, agent: ApprovalRuns, inner: Effect) -> None:
        self.agent = agent
        self.inner = inner

    def _check(self) -> None:
        pause = self.agent._code_paused
        if pause is not None:
            self.agent._pause_for_approval(pause)
            raise pause

    def run_sync(self) -> Generator[Any, None, Any]:
        result = yield from self.inner.run_sync()
        self._check()
        return result

    async def run_async(self) -> Any:
        from ._loop import _Done

        async for event in self.inner.run_async():
            if isinstance(event, _Done):
                self._check()
            yield event
