"""Approvals answered later: a run with a checkpoint store pauses, another process answers.

How it goes (``_durable.py`` saves and restores the run; this module adds the approval):

1. A call needs approval, the run has a checkpoint store and nobody answers at once (no
   callback; in a stream, the consumer did not answer before asking for the next event).
   The run saves a checkpoint whose ``pending["approval"]`` holds the step number and the
   step's *ledger* (every request of that step so far, with its decision or None), and the
   step in progress (model output, tool calls or code). The run then ends: ``run()``
   returns a :class:`RunResult` (always, even without ``return_full_result``) whose state is
   ``"awaiting_approval"`` and whose ``pending_approvals`` lists the requests; a stream ends
   after yielding the :class:`ApprovalRequest` events.
2. Anyone, in any process, answers: ``agent.approve(request_id, approved, reason=None,
   checkpoint=store, run_id=None)`` writes the decision into the saved ledger (without
   ``run_id`` the store's runs are searched for the request).
3. ``agent.resume(run_id, checkpoint=store)`` continues the paused step without calling the
   model again: a ToolCallingAgent runs the step's tool calls, the approved ones really and
   the denied ones as denial observations. A CodeAgent runs the step's code again from its
   start, with the decisions already taken: **what the code did before the paused call is
   done again** (prints, computations, changes to variables, calls to tools that need no
   approval). A call that was approved and ran before the step paused again is not made
   twice: the code gets its saved result (if that result could not be saved as data, the
   code gets an error at that call instead). A run resumed while a request is still
   unanswered pauses again at once (nothing re-runs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._monitoring_types import LogLevel
from .._value_codec import decode_value, encode_value
from ..errors import CheckpointError, UserError
from ..memory import ActionStep, _jsonable
from ._approval import ApprovalDecision, ApprovalPause, ApprovalRequest

if TYPE_CHECKING:
    from ..monitoring import AgentLogger

__all__ = ["ApprovalCheckpoints", "LedgerEntry", "PauseFailedError"]

#: the fields of a paused step that its continuation takes over (the model already answered)
_STEP_FIELDS = (
    "model_input_messages",
    "model_output_message",
    "model_output",
    "code_action",
    "tool_calls",
    "token_usage",
)


_NOT_RUN = object()


@dataclass
class LedgerEntry:
    """One approval request of the current step, its decision once known, whether this
    execution of the step has reached it, and (a call from code that was approved and ran
    before the step paused again) its result, so that it does not run twice."""

    request: ApprovalRequest
    decision: ApprovalDecision | None = None
    used: bool = False
    result: Any = _NOT_RUN

    @property
    def ran(self) -> bool:
        return self.result is not _NOT_RUN

    def record(self) -> dict[str, Any]:
        request = self.request.dict()
        request["arguments"] = _jsonable(request["arguments"])
        data: dict[str, Any] = {
            "request": request,
            "decision": self.decision.dict() if self.decision else None,
        }
        if self.ran:
            try:
                data["result"] = encode_value(self.result)
            except Exception:  # ValueCodecError and friends: not data
                data["result_unsaved"] = type(self.result).__name__
        return data

    def replay(self) -> Any:
        """The result of the call made before the step paused (it is not made again)."""
        if isinstance(self.result, _Unsaved):
            raise RuntimeError(
                f"The call to {self.request.tool_name!r} was approved and ran before the run paused, but its "
                f"result (a {self.result.type_name}) could not be saved; it is not run a second time. Continue "
                "without its result."
            )
        return self.result


@dataclass
class _Unsaved:
    type_name: str


def _same_arguments(a: Any, b: Any) -> bool:
    def canonical(value: Any) -> str:
        return json.dumps(_jsonable(value), sort_keys=True, default=repr)

    return canonical(a) == canonical(b)


def _ledger_from_pending(data: dict[str, Any]) -> list[LedgerEntry]:
    entries = []
    for item in data.get("ledger") or []:
        decision = item.get("decision")
        entry = LedgerEntry(
            ApprovalRequest.from_dict(item["request"]),
            ApprovalDecision(bool(decision["approved"]), decision.get("reason")) if decision else None,
        )
        if "result" in item:
            entry.result = decode_value(item["result"])
        elif "result_unsaved" in item:
            entry.result = _Unsaved(str(item["result_unsaved"]))
        entries.append(entry)
    return entries


class PauseFailedError(RuntimeError):
    """A run could not save its checkpoint to pause for approval (raised out of the run)."""


class ApprovalCheckpoints:
    """The ledger of the current step, pausing a run, continuing a paused step, and
    answering a paused run's requests in its checkpoint store."""

    if TYPE_CHECKING:  # provided by MultiStepAgent and its mixins
        logger: AgentLogger
        step_number: int
        _durable: Any
        _checkpoint_resume: Any

        def _approval_request(
            self, tool_name: str, arguments: dict[str, Any], call_id: str | None, source: str
        ) -> ApprovalRequest: ...
        def _approval_mode(self) -> str: ...
        def _save_checkpoint(
            self, pending: dict[str, Any] | None = None, current_step: Any = None
        ) -> bool: ...

    _approval_ledger: list[LedgerEntry]
    _ledger_step: int = -1
    #: the step in progress (saved with a pause)
    _approval_step: ActionStep | None = None
    #: set when a call from code paused: the code is stopped, the step pauses after it
    _code_paused: ApprovalPause | None = None
    #: the requests the last run of this agent paused on, and where they are saved
    _paused_requests: list[ApprovalRequest]
    _paused_store: Any = None

    # ------------------------------------------------------------------ the ledger
    def _ledger_entry(
        self, tool_name: str, arguments: dict[str, Any], call_id: str | None, source: str
    ) -> LedgerEntry:
        """The ledger entry for this call: the one a paused execution of the step made (same
        tool, arguments and call id, in order), or a new request."""
        if self._ledger_step != self.step_number:
            self._approval_ledger, self._ledger_step = [], self.step_number
        for entry in self._approval_ledger:
            request = entry.request
            if (
                not entry.used
                and request.source == source
                and request.tool_name == tool_name
                and request.call_id == call_id
                and _same_arguments(request.arguments, arguments)
            ):
                entry.used = True
                return entry
        entry = LedgerEntry(self._approval_request(tool_name, arguments, call_id, source), used=True)
        self._approval_ledger.append(entry)
        return entry

    def _ledger_decide(self, request_id: str, decision: ApprovalDecision) -> None:
        for entry in self._approval_ledger:
            if entry.request.id == request_id:
                entry.decision = decision

    # ------------------------------------------------------------------ pausing
    def _pause_for_approval(self, pause: ApprovalPause) -> None:
        """Save the paused step and its ledger in the run's checkpoint; the run then ends."""
        for request_id, decision in pause.decided.items():
            self._ledger_decide(request_id, decision)
        step = self._approval_step
        pending = {
            "approval": {
                "step_number": self.step_number,
                "ledger": [entry.record() for entry in self._approval_ledger],
            }
        }
        try:
            self._save_checkpoint(pending=pending, current_step=step)
        except CheckpointError as exc:  # not a step error: without its checkpoint the run cannot pause
            raise PauseFailedError(
                f"The run cannot pause for approval of {[r.id for r in pause.requests]}: its checkpoint could "
                f"not be saved ({exc}). The call was not run."
            ) from exc
        self._paused_requests = [e.request for e in self._approval_ledger if e.decision is None]
        self._paused_store = self._durable.store if self._durable is not None else None
        run_id = self._durable.run_id if self._durable is not None else None
        ids = [request.id for request in self._paused_requests]
        self.logger.log(
            f"Run {run_id} paused at step {self.step_number}, waiting for approval of {ids}. Answer with "
            f"agent.approve(request_id, True or False, checkpoint=store), then continue with "
            f"agent.resume({run_id!r}, checkpoint=store).",
            level=LogLevel.INFO,
        )

    def _paused_approvals(self) -> list[ApprovalRequest]:
        """For the run's result: the requests it paused on (none unless it paused)."""
        if getattr(self, "_run_state", None) != "awaiting_approval":
            return []
        return list(getattr(self, "_paused_requests", []))

    # ------------------------------------------------------------------ continuing
    def _continue_paused_step(self, memory_step: ActionStep) -> bool:
        """Called as each step starts. True when ``memory_step`` is the step a resumed run
        paused in: it then holds that step's model output, and the ledger its decisions."""
        self._approval_step = memory_step
        self._code_paused = None
        resume = self._checkpoint_resume
        pending = resume.pending if resume is not None else None
        if not isinstance(pending, dict) or not isinstance(pending.get("approval"), dict):
            return False
        data: dict[str, Any] = pending.pop("approval")  # continued once
        if self._durable is not None and isinstance(getattr(self._durable, "pending", None), dict):
            self._durable.pending.pop("approval", None)  # later checkpoints no longer hold it
        saved = resume.current_step
        if saved is None or data.get("step_number") != memory_step.step_number:
            return False
        for name in _STEP_FIELDS:
            setattr(memory_step, name, getattr(saved, name))
        self._approval_ledger, self._ledger_step = _ledger_from_pending(data), memory_step.step_number
        undecided = [entry.request for entry in self._approval_ledger if entry.decision is None]
        if undecided and self._approval_mode() == "pause":
            # nobody has answered yet: pause again before anything of the step runs again
            pause = ApprovalPause(undecided)
            self._pause_for_approval(pause)
            raise pause
        self.logger.log(
            f"Continuing step {memory_step.step_number}, paused for approval, with the decisions taken.",
            level=LogLevel.INFO,
        )
        return True

    # ------------------------------------------------------------------ answering later
    def _approve_in_store(
        self, checkpoint: Any, run_id: str | None, request_id: str, decision: ApprovalDecision
    ) -> None:
        from ._durable import as_checkpoint_store

        store = as_checkpoint_store(checkpoint)
        assert store is not None
        candidates = [run_id] if run_id is not None else store.list_runs()
        waiting: list[str] = []
        for candidate in candidates:
            record = store.load(candidate)
            pending = record.get("pending")
            data = pending.get("approval") if isinstance(pending, dict) else None
            if not isinstance(data, dict):
                continue
            for item in data.get("ledger") or []:
                if item["request"]["id"] != request_id:
                    if item.get("decision") is None:
                        waiting.append(item["request"]["id"])
                    continue
                if item.get("decision") is not None:
                    raise UserError(
                        f"Approval request {request_id!r} of run {candidate!r} was already answered "
                        f"({item['decision']}); each request is answered once."
                    )
                item["decision"] = decision.dict()
                store.save(candidate, record)
                return
        where = f"run {run_id!r}" if run_id is not None else "any run"
        listed = f"Requests waiting there: {waiting}." if waiting else "No request is waiting there."
        raise UserError(
            f"Unknown approval request id {request_id!r}: {where} in {store!r} has no such pending request. "
            f"{listed} Use the .id of an ApprovalRequest from RunResult.pending_approvals."
        )
