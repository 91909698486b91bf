"""Managed agents: a sub-agent presented to its manager as a tool with ``task`` and
``additional_args``, whose answer comes back as a report."""

from __future__ import annotations

import copy
import threading
from typing import TYPE_CHECKING, Any

from ..memory import AgentMemory, RunResult
from ..tools import Tool
from ._prompts import populate_template

if TYPE_CHECKING:
    from ._multistep import MultiStepAgent

__all__ = ["ManagedAgentCalls", "ManagedAgentTool", "managed_agent_inputs"]


def managed_agent_inputs() -> dict[str, dict[str, Any]]:
    return {
        "task": {
            "type": "string",
            "description": "The complete task for this team member: it sees nothing else of your conversation.",
        },
        "additional_args": {
            "type": "object",
            "description": "Values the team member needs (data, images, context), keyed by the variable "
            "name it should use.",
            "nullable": True,
        },
    }


class ManagedAgentTool(Tool):
    """Lets a manager call ``agent`` like a tool; sync calls use ``agent(...)``, async calls
    ``agent.acall(...)``, so a managed agent runs natively in an async manager."""

    name = "managed_agent"
    description = "A team member."
    inputs = managed_agent_inputs()
    output_type = "string"

    def __init__(self, agent: MultiStepAgent) -> None:
        self.agent = agent
        self.name = agent.name  # type: ignore[assignment]
        self.description = agent.description  # type: ignore[assignment]
        super().__init__()

    def forward(self, task: str, additional_args: dict[str, Any] | None = None) -> str:
        return self.agent(task, additional_args=additional_args)

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], dict) and not kwargs and len(args) == 1:
            kwargs = dict(args[0])
        elif args:
            kwargs = {"task": args[0], **kwargs}
        return await self.agent.acall(kwargs["task"], additional_args=kwargs.get("additional_args"))


class ManagedAgentCalls:
    """What makes an agent callable by a manager: run on a task, report the answer (or the
    failure), and never let two concurrent calls share one memory."""

    _run_lock: threading.Lock

    def __call__(self, task: str, additional_args: dict[str, Any] | None = None, **kwargs: Any) -> str:
        """Called by a manager: run on the task and report the answer (or the failure)."""
        target, acquired = self._claim_for_call()
        try:
            full_task = target._managed_task(task)
            result = target.run(full_task, additional_args=additional_args, return_full_result=True, **kwargs)
            return target._managed_report(result)
        finally:
            if acquired:
                self._run_lock.release()

    async def acall(self, task: str, additional_args: dict[str, Any] | None = None, **kwargs: Any) -> str:
        """Async form of :meth:`__call__`, used by async managers."""
        target, acquired = self._claim_for_call()
        try:
            full_task = target._managed_task(task)
            result = await target.arun(
                full_task, additional_args=additional_args, return_full_result=True, **kwargs
            )
            return target._managed_report(result)
        finally:
            if acquired:
                self._run_lock.release()

    def _claim_for_call(self) -> tuple[MultiStepAgent, bool]:
        """This agent if it is idle; otherwise a copy with its own memory, so two concurrent
        calls never share (or corrupt) one memory."""
        if self._run_lock.acquire(blocking=False):
            return self, True
        return self._clone_for_concurrent_call(), False

    def _clone_for_concurrent_call(self) -> MultiStepAgent:
        clone = copy.copy(self)
        clone.memory = AgentMemory(self.system_prompt)
        clone.state = {}
        clone.interrupt_switch = False
        clone._run_lock = threading.Lock()
        return clone

    def _managed_task(self, task: str) -> str:
        return populate_template(
            self.prompt_templates["managed_agent"]["task"], {"name": self.name, "task": task}
        )

    def _managed_report(self, result: RunResult) -> str:
        if result.state == "success":
            report = populate_template(
                self.prompt_templates["managed_agent"]["report"],
                {"name": self.name, "final_answer": result.output},
            )
        else:
            report = (
                f"Team member '{self.name}' FAILED to complete the task: it used all its steps "
                f"({result.state}) without giving a final answer. What follows is an unverified guess "
                f"reconstructed from its notes; do not rely on it without checking:\n{result.output}"
            )
        if self.provide_run_summary:
            report += f"\n\nHere is the work log of team member '{self.name}':\n"
            for message in self.write_memory_to_messages(summary_mode=True):
                report += f"\n[{message.role}] {message.text}"
        return report
