"""``agent.resume`` / ``agent.aresume``, and the run's checkpoint hooks on the agent.

The checkpoints themselves (what is saved, when, and what resuming restores) are in
``_durable.py``; this mixin is the agent-facing part: it loads a checkpoint, checks that
this agent can continue it, and hands the run to the same drivers as ``run``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..memory import FinalAnswerStep
from ._durable import DurableRun, ResumePoint, as_checkpoint_store

if TYPE_CHECKING:
    from ..checkpoints import CheckpointStore
    from ..memory import ActionStep
    from ._concurrent import RunArgs
    from ._multistep import MultiStepAgent

__all__ = ["DurableRuns"]


class DurableRuns:
    """Resuming runs from checkpoints (see ``_durable.py``)."""

    #: the current run's identity and checkpointing (set when a run starts)
    _durable: DurableRun | None = None
    #: set when a resumed run starts: what it resumed from (see ``_durable.py``)
    _checkpoint_resume: ResumePoint | None = None

    def resume(
        self,
        run_id: str,
        checkpoint: CheckpointStore | str,
        stream: bool = False,
        return_full_result: bool | None = None,
        max_steps: int | None = None,
        output_type: Any = None,
    ) -> Any:
        """Continue the run ``run_id`` from its last checkpoint in ``checkpoint`` and return what
        ``run`` would have returned (a ``RunResult`` with ``return_full_result``; with
        ``stream=True``, the events of the rest of the run).

        Use an agent built like the one that started the run (same class, tools and model), in
        this process or another. The run continues at the step after the last one saved; a
        finished run returns its result again without calling the model. ``max_steps``
        overrides the run's own; ``output_type`` gives a typed run its type back (without it,
        a typed run's answer is checked against the saved JSON schema and returned as data).
        Raises ``CheckpointNotFoundError`` for an unknown ``run_id`` (``store.list_runs()``
        lists the ids) and ``CheckpointError`` for a corrupt or newer-version checkpoint.
        """
        agent: MultiStepAgent = self  # type: ignore[assignment]
        durable, args = self._resume_request(run_id, checkpoint, max_steps, output_type)
        if args is None:
            if stream:
                return self._finished_stream(durable, output_type)
            return self._finished_result(durable, output_type, return_full_result)
        if stream:
            return agent._stream_sync(args)
        return agent._run_to_end(args, return_full_result)

    def aresume(
        self,
        run_id: str,
        checkpoint: CheckpointStore | str,
        stream: bool = False,
        return_full_result: bool | None = None,
        max_steps: int | None = None,
        output_type: Any = None,
    ) -> Any:
        """Async :meth:`resume`: ``await agent.aresume(run_id, checkpoint=store)``, or
        ``async for event in agent.aresume(run_id, checkpoint=store, stream=True)``."""
        agent: MultiStepAgent = self  # type: ignore[assignment]
        durable, args = self._resume_request(run_id, checkpoint, max_steps, output_type)
        if args is None:
            if stream:
                return self._afinished_stream(durable, output_type)
            return self._afinished_result(durable, output_type, return_full_result)
        if stream:
            return agent._stream_async(args)
        return agent._arun_to_end(args, return_full_result)

    # ------------------------------------------------------------------ hooks for the run
    def _save_checkpoint(
        self, pending: dict[str, Any] | None = None, current_step: ActionStep | None = None
    ) -> bool:
        """Save the current run's checkpoint now, at any point of the run (see ``_durable.py``):
        ``pending`` replaces the run's pending dict (kept by later saves until replaced),
        ``current_step`` is a step in progress. False when the run has no checkpoint store."""
        durable = self._durable
        if durable is None or durable.store is None:
            return False
        if pending is not None:
            if not isinstance(pending, dict):
                raise UserError(f"pending must be a dict of JSON data, got {type(pending).__name__}.")
            durable.pending = dict(pending)
        agent: MultiStepAgent = self  # type: ignore[assignment]
        return durable.save(agent, current_step=current_step)

    def _run_identity(self, started: float) -> tuple[float, str | None]:
        """(start time, run id) for the RunResult: a resumed run started when it first started."""
        durable = self._durable
        if durable is None:
            return started, None
        return (durable.created_at if durable.record is not None else started), durable.run_id

    # ------------------------------------------------------------------ resuming
    def _resume_request(
        self, run_id: str, checkpoint: Any, max_steps: int | None, output_type: Any
    ) -> tuple[DurableRun, RunArgs | None]:
        """The loaded run and the arguments continuing it (None when it is finished)."""
        store = as_checkpoint_store(checkpoint)
        if store is None:
            raise UserError(
                "resume() needs the store holding the run's checkpoints: agent.resume(run_id, checkpoint=store)."
            )
        record = store.load(run_id)
        self._check_checkpoint_agent(record, run_id, store)
        durable = DurableRun.resuming(run_id, store, record)
        if durable.finished:
            return durable, None
        steps = durable.max_steps if max_steps is None else max_steps
        if not isinstance(steps, int) or steps < 1:
            raise UserError(f"max_steps must be a positive integer, got {steps!r}.")
        output = self._resume_output(record, output_type)
        return durable, (str(record["run"]["task"]), True, durable.images, None, steps, output, durable)

    def _check_checkpoint_agent(self, record: dict[str, Any], run_id: str, store: CheckpointStore) -> None:
        agent: MultiStepAgent = self  # type: ignore[assignment]
        info: dict[str, Any] = record["agent"] if isinstance(record.get("agent"), dict) else {}
        kind = info.get("class")
        if kind and kind != type(agent).__name__:
            raise UserError(
                f"Run {run_id!r} in {store!r} was started by a {kind}; resume it with a {kind} built like the one "
                f"that started it (same tools and model), not a {type(agent).__name__}."
            )
        missing = sorted(set(info.get("tools") or []) - set(agent.tools))
        if missing:
            raise UserError(
                f"Run {run_id!r} in {store!r} was started by an agent with the tools {missing}, which this agent "
                "lacks: build the agent with the same tools to resume the run."
            )

    def _resume_output(self, record: dict[str, Any], output_type: Any) -> Any:
        """The run's (output spec, retries): the given type, the agent's own type if its schema is
        the saved one, else the saved schema itself."""
        agent: MultiStepAgent = self  # type: ignore[assignment]
        run = record["run"]
        schema = run.get("output_schema")
        retries = run.get("output_retries")
        if output_type is None and isinstance(schema, dict):
            default = agent._default_output[0]
            output_type = default.output_type if default is not None and default.schema == schema else schema
        return agent._run_output(output_type, retries if isinstance(retries, int) else None)

    def _finished(self, durable: DurableRun, output_type: Any) -> tuple[MultiStepAgent, Any]:
        """Claim the agent and put a finished run's memory and answer on it; returns (target, finish)."""
        agent: MultiStepAgent = self  # type: ignore[assignment]
        assert durable.record is not None
        target, finish = agent._claim_run()
        try:
            target._begin_typed_run(self._resume_output(durable.record, output_type))
            target._final_output, target._run_state = durable.finished_result(target)
            target.task = str(durable.record["run"]["task"])
            target.logger.log(f"Run {durable.run_id} had finished: returning its result.")
        except BaseException:
            finish()
            raise
        return target, finish

    def _finished_result(self, durable: DurableRun, output_type: Any, return_full_result: bool | None) -> Any:
        target, finish = self._finished(durable, output_type)
        try:
            return target._result(durable.created_at, return_full_result)
        finally:
            finish()

    def _finished_stream(self, durable: DurableRun, output_type: Any) -> Generator[Any, None, None]:
        target, finish = self._finished(durable, output_type)
        try:
            yield FinalAnswerStep(output=target._final_output)
        finally:
            finish()

    async def _afinished_result(
        self, durable: DurableRun, output_type: Any, return_full_result: bool | None
    ) -> Any:
        return self._finished_result(durable, output_type, return_full_result)

    async def _afinished_stream(self, durable: DurableRun, output_type: Any) -> AsyncIterator[Any]:
        for event in self._finished_stream(durable, output_type):
            yield event
