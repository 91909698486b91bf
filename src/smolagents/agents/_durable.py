"""Durable runs: a checkpoint after every step, and ``resume`` in another process.

How it plugs into the loop (ARCHITECTURE.md, "The loop's seams"): ``run(...,
checkpoint=store, run_id=None)`` gives the run a :class:`DurableRun` (its id, and its
store if any), which travels with the run's arguments. When the run starts,
``DurableRun.prepare`` restores a resumed run's memory and variables, and
``DurableRun.watch`` wraps the run's flow: it forwards every event and effect unchanged
and saves a checkpoint when the flow has recorded a step (a ``PlanningStep`` or
``ActionStep`` event: the step is in memory by then), once before the first model call, at
the final answer, and when the run fails. Nothing else in the loop knows about
checkpoints; the drivers (``run``, ``run(stream=True)``, ``arun``) are unchanged.

A checkpoint (format: ``smolagents/checkpoints/_format.py``) holds the memory (every step,
through the steps' own ``dict()``; images through the value codec), the last step number,
the token usage, what is needed to continue (the task as run, ``max_steps``, the images,
the output schema of a typed run), ``agent.state`` (``additional_args``) and the executor's
variables that the typed value codec can encode (``_value_codec.py``: data, never
pickles; see ``_checkpoint_values.py``). Modules the code imported are recorded by name
and imported again on resume. Other values (functions and classes defined by the code,
open files, objects of the code's own classes...) are listed in the checkpoint under
``state.unencodable`` and logged; after resume they are not defined, and a note appended
to the last observation tells the model so. An executor that cannot report its variables (``process``, remote executors) is
listed as ``"*"``: only ``LocalPythonExecutor`` (its ``state``) and executors with a
``get_variables()`` method have their variables saved.

``agent.resume(run_id, checkpoint=store)`` needs an agent built like the one that started
the run (same class, same tools; a different class or a missing tool is a UserError). It
continues at the step after the last one saved, so a step cut short by the crash runs again
(its model call is made again). A finished run returns its result again without calling
the model; a failed or interrupted run continues after its last recorded step.

For features that pause a run inside a step (tool approval):

- ``agent._save_checkpoint(pending=None, current_step=None) -> bool`` saves the current
  state at any point of a run (inside a step too). ``pending`` (a JSON-safe dict, e.g. the
  approval request) replaces the run's ``pending`` dict, which every later save keeps
  verbatim until it is replaced again (pass ``{}`` to clear it); ``current_step`` (the
  ``ActionStep`` in progress, not yet in memory) is saved as ``current_step`` until the
  next step-boundary save. Returns False when the run has no checkpoint store.
- On resume, ``agent._checkpoint_resume`` is a :class:`ResumePoint` with the saved
  ``pending`` dict and ``current_step`` (an ``ActionStep`` rebuilt from its record, or
  None), set before the flow starts; the run continues at that step's number.
- An exception that ends the run is saved as status ``failed`` with its ``error``, unless
  its class sets ``checkpoint_status = "running"`` (a pause: saved as ``running``, with the
  exception in ``error``); either way the run can be resumed after its last recorded step.
- Another process reads or answers a pending request with ``store.load(run_id)`` (the
  checked document, a dict), changes ``record["pending"]`` and ``store.save(run_id, record)``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._monitoring_types import LogLevel
from .._value_codec import decode_value
from ..errors import CheckpointError, UserError
from ..memory import (
    ActionOutput,
    ActionStep,
    FinalAnswerStep,
    MemoryStep,
    PlanningStep,
    TaskStep,
    _message_dict,
    safe_text,
)
from ..models._messages import ChatMessage
from ._checkpoint_values import capture_state, decode_output, describe_lost, encode_output, encode_variable

if TYPE_CHECKING:
    from ..checkpoints import CheckpointStore
    from ._multistep import MultiStepAgent

__all__ = ["DurableRun", "ResumePoint", "as_checkpoint_store", "new_durable_run"]

_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_KINDS: dict[type, str] = {TaskStep: "task", ActionStep: "action", PlanningStep: "planning"}


@dataclass
class ResumePoint:
    """Where a resumed run starts: for code that continues a step paused mid-way."""

    run_id: str
    pending: dict[str, Any] = field(default_factory=dict)
    current_step: ActionStep | None = None
    lost_variables: list[str] = field(default_factory=list)


def as_checkpoint_store(checkpoint: Any) -> CheckpointStore | None:
    """A store from ``run(checkpoint=...)``: a store, None, or a path (an SQLite file)."""
    if checkpoint is None:
        return None
    from ..checkpoints import CheckpointStore, SQLiteCheckpointStore

    if isinstance(checkpoint, CheckpointStore):
        return checkpoint
    if isinstance(checkpoint, (str, os.PathLike)):
        return SQLiteCheckpointStore(checkpoint)
    raise UserError(
        f"checkpoint must be a CheckpointStore (SQLiteCheckpointStore(path), DirectoryCheckpointStore(path), "
        f"PostgresCheckpointStore(dsn) from smolagents.checkpoints) or a path to an SQLite file; got {checkpoint!r}."
    )


def new_durable_run(checkpoint: Any, run_id: str | None) -> DurableRun:
    """The identity of a new run; an existing checkpoint under an explicit ``run_id`` is
    refused (continuing it is ``resume``'s job, overwriting it would lose it)."""
    store = as_checkpoint_store(checkpoint)
    if run_id is None:
        return DurableRun(os.urandom(16).hex(), store)
    from ..checkpoints._stores import check_run_id

    check_run_id(run_id)
    if store is not None:
        try:
            existing = store.read(run_id)
        except Exception as exc:
            raise CheckpointError(f"Could not read {store!r} to check run id {run_id!r}: {exc}") from exc
        if existing is not None:
            raise UserError(
                f"Run id {run_id!r} already has a checkpoint in {store!r}. Continue that run with "
                f"agent.resume({run_id!r}, checkpoint=store), delete it first (store.delete({run_id!r})), or "
                "leave run_id out to get a new one."
            )
    return DurableRun(run_id, store)


# ---------------------------------------------------------------------------- memory
def _this_run(steps: list[Any]) -> list[Any]:
    """The steps of the current run: from its task on (``reset=False`` keeps earlier runs')."""
    starts = [index for index, step in enumerate(steps) if isinstance(step, TaskStep)]
    return steps[starts[-1] :] if starts else steps


def _last_step_number(steps: list[Any]) -> int:
    """The number of the current run's last recorded action step (0 before the first)."""
    return max((s.step_number for s in _this_run(steps) if isinstance(s, ActionStep)), default=0)


def _step_from_entry(entry: dict[str, Any], messages: list[Any]) -> TaskStep | ActionStep | PlanningStep:
    kind, data = entry["kind"], entry["data"]
    if entry.get("inputs") is not None:
        data = {**data, "model_input_messages": [messages[index] for index in entry["inputs"]]}
    images = [decode_value(image) for image in entry["images"]] if entry.get("images") else None
    if kind == "task":
        task = TaskStep.from_dict(data)
        task.task_images = images or task.task_images
        return task
    if kind == "action":
        action = ActionStep.from_dict(data)
        action.observations_images = images or action.observations_images
        return action
    if kind == "planning":
        return PlanningStep.from_dict(data)
    raise ValueError(f"unknown step kind {kind!r}")


# ---------------------------------------------------------------------------- one run
class DurableRun:
    """One run's identity and, with a store, its checkpoints (see the module docstring)."""

    def __init__(self, run_id: str, store: CheckpointStore | None) -> None:
        self.run_id = run_id
        self.store = store
        self.created_at = time.time()
        self.pending: dict[str, Any] = {}
        self.resumes = 0
        self.max_steps = 0
        self.images: list[Any] | None = None
        #: a resumed run: the restored steps, variables and (for a finished run) its result
        self.record: dict[str, Any] | None = None
        self.steps: list[TaskStep | ActionStep | PlanningStep] = []
        self.current_step: ActionStep | None = None
        self.finished = False
        self._texts: dict[int, tuple[MemoryStep, str]] = {}
        #: model input messages, each stored once (every step's input repeats the previous ones)
        self._message_texts: list[str] = []
        self._message_index: dict[str, int] = {}
        self._message_keys: dict[str, int] = {}
        self._reported_lost: set[str] = set()
        self._answer: tuple[Any] | None = None
        self._saved = False
        self._final_saved = False
        self._agent_vars: dict[str, Any] = {}
        self._executor_vars: dict[str, Any] = {}
        self._imports: dict[str, str] = {}
        self._lost: list[dict[str, str]] = []

    @classmethod
    def resuming(cls, run_id: str, store: CheckpointStore, record: dict[str, Any]) -> DurableRun:
        """A run continued from ``record``; its memory, images and variables are decoded now, so a
        damaged checkpoint fails here, before the agent is touched."""
        durable = cls(run_id, store)
        durable.record = record
        try:
            durable.created_at = float(record.get("created_at") or time.time())
            durable.pending = dict(record["pending"])
            durable.resumes = int(record.get("resumes") or 0) + 1
            messages = record.get("messages") or []
            durable.steps = [_step_from_entry(entry, messages) for entry in record["memory"]]
            if not durable.steps or not isinstance(durable.steps[0], TaskStep):
                raise ValueError("its memory does not start with the task")
            current = record.get("current_step")
            durable.current_step = ActionStep.from_dict(current) if isinstance(current, dict) else None
            run = record["run"]
            durable.images = [decode_value(image) for image in run.get("images") or []] or None
            durable.max_steps = int(run["max_steps"])
            state = record["state"]
            durable._agent_vars = {k: decode_value(v) for k, v in (state.get("agent") or {}).items()}
            durable._executor_vars = {k: decode_value(v) for k, v in (state.get("executor") or {}).items()}
            imports = state.get("imports") or {}
            if not all(
                isinstance(k, str) and k.isidentifier() and _MODULE.match(str(v)) for k, v in imports.items()
            ):
                raise ValueError("state.imports holds names that are not Python identifiers")
            durable._imports = dict(imports)
            durable._lost = [dict(item) for item in state.get("unencodable") or []]
            durable.finished = record["status"] == "finished" and isinstance(record.get("result"), dict)
        except CheckpointError:
            raise
        except Exception as exc:
            raise CheckpointError(
                f"The checkpoint of run {run_id!r} in {store!r} is corrupt: {type(exc).__name__}: {exc}. It "
                f"cannot be resumed. Restore the store from a backup, or delete the record "
                f"(store.delete({run_id!r})) and start the run again."
            ) from exc
        for step in durable.steps:  # the restored steps are the records already saved
            durable._texts[id(step)] = (step, durable._entry_text(step))
        return durable

    # ------------------------------------------------------------------ starting
    def prepare(self, agent: MultiStepAgent, images: list[Any] | None, max_steps: int) -> int | None:
        """Bind the run to ``agent`` as it starts; for a resumed run, restore its memory and
        variables and return the step to continue at (None for a new run)."""
        self.max_steps, self.images = max_steps, images
        agent._durable = self
        agent._checkpoint_resume = None
        if self.store is None:
            agent.logger.log(f"Run id: {self.run_id}", level=LogLevel.DEBUG)
            return None
        if self.record is None:
            agent.logger.log(
                _escape(f"Run id: {self.run_id} (checkpoints in {self.store!r})"), level=LogLevel.INFO
            )
            return None
        return self._restore(agent)

    def _restore(self, agent: MultiStepAgent) -> int:
        assert self.record is not None
        agent.memory.steps = list(self.steps)
        agent.state.update(self._agent_vars)
        lost = list(self._lost)
        executor = getattr(agent, "python_executor", None)
        if executor is not None:
            executor.send_variables({**agent.state, **self._executor_vars})
            for name, module in self._imports.items():
                try:
                    executor(f"import {module} as {name}")
                except Exception:  # the module is not allowed or not installed here
                    lost.append(
                        {"name": name, "type": "module", "where": "executor", "reason": "import failed"}
                    )
        if self._output_failures is not None:
            agent._output_failures = self._output_failures
        if lost:
            note = (
                "\n\n[The run was resumed from a checkpoint. These values could not be saved and are no longer "
                f"defined: {describe_lost(lost)}. Define them again if you need them.]"
            )
            current = _this_run(agent.memory.steps)
            actions = [s for s in current if isinstance(s, ActionStep)]
            target: ActionStep | TaskStep = actions[-1] if actions else current[0]
            if isinstance(target, ActionStep):
                target.observations = (target.observations or "") + note
            else:
                target.task += note
            self._texts.pop(id(target), None)
            agent.logger.log(
                _escape(f"Not restored (could not be saved): {describe_lost(lost)}"), level=LogLevel.INFO
            )
        done = _last_step_number(agent.memory.steps)
        agent.step_number = done
        agent._checkpoint_resume = ResumePoint(
            self.run_id, dict(self.pending), self.current_step, [item["name"] for item in lost]
        )
        agent.logger.log(
            _escape(f"Resuming run {self.run_id} at step {done + 1} (checkpoint in {self.store!r})"),
            level=LogLevel.INFO,
        )
        return done + 1

    @property
    def _output_failures(self) -> int | None:
        value = (self.record or {}).get("run", {}).get("output_failures")
        return value if isinstance(value, int) else None

    def finished_result(self, agent: MultiStepAgent) -> tuple[Any, str]:
        """A finished run's (output, state), its memory restored onto ``agent``."""
        assert self.record is not None
        agent.memory.steps = list(self.steps)
        agent._durable = self
        result = self.record["result"]
        return decode_output(result.get("output") or {}, agent), str(result.get("state") or "success")

    # ------------------------------------------------------------------ saving
    def _entry_text(self, step: MemoryStep) -> str:
        """A memory entry as JSON: the step's ``dict()``, its model input messages as indexes
        into the run's message table, its images through the value codec."""
        entry: dict[str, Any] = {"kind": _KINDS[type(step)]}
        if isinstance(step, ActionStep) and step.model_input_messages:
            # the step's own dict() without its inputs, which are interned from the messages
            entry["data"] = dataclasses.replace(step, model_input_messages=None).dict()
            entry["inputs"] = [self._intern_message(message) for message in step.model_input_messages]
        else:
            entry["data"] = step.dict()
            inputs = entry["data"].get("model_input_messages")
            if inputs:
                entry["data"]["model_input_messages"] = None
                entry["inputs"] = [self._intern(message) for message in inputs]
        images = getattr(step, "task_images", None) or getattr(step, "observations_images", None)
        if images:
            try:
                entry["images"] = [encode_variable(image) for image in images]
            except Exception:  # kept as the text dict() gives them
                pass
        return json.dumps(entry, separators=(",", ":"), default=safe_text)

    def _intern_message(self, message: ChatMessage) -> int:
        """``_intern(_message_dict(message))``, with the (slow) conversion skipped for a message
        seen before: every step's input repeats the previous steps' messages."""
        if message.raw is not None:
            return self._intern(_message_dict(message))
        key = json.dumps(
            [
                str(message.role),
                message.content,
                [call.dict() for call in message.tool_calls or ()],
                message.token_usage.dict() if message.token_usage is not None else None,
                message.reasoning_content,
            ],
            separators=(",", ":"),
            default=safe_text,
        )
        index = self._message_keys.get(key)
        if index is None:
            index = self._message_keys[key] = self._intern(_message_dict(message))
        return index

    def _intern(self, message: dict[str, Any]) -> int:
        text = json.dumps(message, separators=(",", ":"), default=safe_text)
        index = self._message_index.get(text)
        if index is None:
            index = self._message_index[text] = len(self._message_texts)
            self._message_texts.append(text)
        return index

    def watch(self, agent: MultiStepAgent, flow: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
        """``flow`` unchanged (events, effects, sent results and thrown errors pass through), with
        a checkpoint saved at each step boundary."""
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            try:
                item = flow.throw(to_throw) if to_throw is not None else flow.send(to_send)
            except StopIteration as stop:
                return stop.value
            except Exception as exc:
                self._save_failure(agent, exc)
                raise
            to_send, to_throw = None, None
            try:
                self._observe(agent, item)
            except BaseException:
                flow.close()
                raise
            try:
                to_send = yield item
            except GeneratorExit:
                flow.close()
                raise
            except BaseException as exc:  # thrown by the driver: the flow handles it
                to_throw = exc

    def _observe(self, agent: MultiStepAgent, item: Any) -> None:
        if not self._saved:  # before the first effect: the task (or the restored memory) is recorded
            self.save(agent)
        if isinstance(item, ActionOutput):
            if item.is_final_answer:
                self._answer = (item.output,)
        elif isinstance(item, (ActionStep, PlanningStep)):
            if not agent.memory.steps or agent.memory.steps[-1] is not item:
                return  # not this run's step (a managed agent's, forwarded)
            if isinstance(item, ActionStep) and item.is_final_answer:
                # the rest of the run only logs and announces this answer: the run is finished
                answer, state = (
                    (self._answer[0], "success") if self._answer else (item.action_output, "max_steps_error")
                )
                self.save(agent, "finished", result={"output": encode_output(answer), "state": state})
                self._final_saved = True
            else:
                self.save(agent)
        elif isinstance(item, FinalAnswerStep) and not self._final_saved:
            result = {"output": encode_output(agent._final_output), "state": agent._run_state}
            self.save(agent, "finished", result=result)
            self._final_saved = True

    def _save_failure(self, agent: MultiStepAgent, error: Exception) -> None:
        """Record why the run stopped (an exception whose class sets ``checkpoint_status =
        "running"`` is a pause, not a failure); a failing store is logged, not raised over the
        run's error."""
        if self.store is None or isinstance(error, CheckpointError):
            return
        status = "running" if getattr(error, "checkpoint_status", None) == "running" else "failed"
        try:
            self.save(agent, status, error={"type": type(error).__name__, "message": str(error)})
        except CheckpointError as exc:
            agent.logger.log_error(f"The failed run's checkpoint could not be saved: {exc}")

    def save(
        self,
        agent: MultiStepAgent,
        status: str = "running",
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, str] | None = None,
        current_step: ActionStep | None = None,
    ) -> bool:
        """Write the run's checkpoint now (False without a store)."""
        if self.store is None:
            return False
        self._saved = True
        texts = []
        for step in agent.memory.steps:
            cached = self._texts.get(id(step))
            if cached is None or cached[0] is not step:
                cached = self._texts[id(step)] = (step, self._entry_text(step))
            texts.append(cached[1])
        state = capture_state(agent)
        self._report_lost(agent, state["unencodable"])
        usage = agent._total_token_usage()
        spec = agent._output_spec
        run_images = []
        for image in self.images or []:
            try:
                run_images.append(encode_variable(image))
            except Exception:
                state["unencodable"].append(
                    {
                        "name": "images",
                        "type": type(image).__name__,
                        "where": "run",
                        "reason": "not encodable",
                    }
                )
        record = {
            "format": "smolagents.checkpoint",
            "version": 1,
            "run_id": self.run_id,
            "status": status,
            "created_at": self.created_at,
            "updated_at": time.time(),
            "resumes": self.resumes,
            "agent": {
                "class": type(agent).__name__,
                "name": agent.name,
                "model_id": getattr(agent.model, "model_id", None),
                "tools": sorted(agent.tools),
            },
            "run": {
                "task": agent.task,
                "max_steps": self.max_steps,
                "images": run_images,
                "output_schema": spec.schema if spec is not None else None,
                "output_type": spec.name if spec is not None else None,
                "output_retries": agent._output_retries,
                "output_failures": agent._output_failures,
            },
            "step_number": _last_step_number(agent.memory.steps),
            "token_usage": usage.dict() if usage is not None else None,
            "state": state,
            "pending": self.pending,
            "current_step": current_step.dict() if current_step is not None else None,
            "result": result,
            "error": error,
        }
        from ..checkpoints._format import encode_record

        try:
            text = encode_record(record, {"messages": self._message_texts, "memory": texts})
        except (TypeError, ValueError) as exc:
            raise CheckpointError(
                f"The checkpoint of run {self.run_id!r} cannot be encoded: {exc}. Keep agent._save_checkpoint(pending=...) "
                "to JSON data."
            ) from exc
        self.store.save_text(self.run_id, text)
        return True

    def _report_lost(self, agent: MultiStepAgent, lost: list[dict[str, str]]) -> None:
        new = [item for item in lost if item["name"] not in self._reported_lost]
        if new:
            self._reported_lost.update(item["name"] for item in new)
            agent.logger.log(
                _escape(
                    f"Checkpoint of run {self.run_id}: cannot save {describe_lost(new)}; "
                    "they will be missing if the run is resumed."
                ),
                level=LogLevel.INFO,
            )


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
