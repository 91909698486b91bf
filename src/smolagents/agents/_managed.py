"""Managed agents: a sub-agent presented to its manager as a tool with ``task`` and
``additional_args``, whose answer comes back as a report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..memory import RunResult
from ..tools import Tool
from ._prompts import populate_template
from ._run_routing import RoutedRun, routed_run

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
        if getattr(agent, "_output_spec", None) is not None:  # a typed agent answers with an object
            self.output_type = "object"
        super().__init__()

    def forward(self, task: str, additional_args: dict[str, Any] | None = None) -> Any:
        return self.agent(task, additional_args=additional_args)

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], dict) and not kwargs and len(args) == 1:
            kwargs = dict(args[0])
        elif args:
            kwargs = {"task": args[0], **kwargs}
        return await self.agent.acall(kwargs["task"], additional_args=kwargs.get("additional_args"))


class ManagedAgentCalls:
    """What makes an agent callable by a manager: run on a task and report the answer (or
    the failure). Concurrent calls run isolated, like concurrent runs (``_concurrent.py``)."""

    if TYPE_CHECKING:  # provided by MultiStepAgent
        name: str | None
        prompt_templates: Any
        provide_run_summary: bool

        def write_memory_to_messages(self, summary_mode: bool = False) -> list[Any]: ...

    def __call__(self, task: str, additional_args: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Called by a manager: run on the task and report the answer (or the failure); a typed
        agent (``output_type=...``) returns its validated object itself."""
        agent: MultiStepAgent = self  # type: ignore[assignment]
        args = agent._run_args(self._managed_task(task), additional_args=additional_args, **kwargs)
        return routed_run(RoutedRun(agent, args, True, _report, pull=False))  # through agent.run

    async def acall(self, task: str, additional_args: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Async form of :meth:`__call__`, used by async managers."""
        agent: MultiStepAgent = self  # type: ignore[assignment]
        args = agent._run_args(self._managed_task(task), additional_args=additional_args, **kwargs)
        return await agent._arun_to_end(args, True, then=_report)

    def _managed_task(self, task: str) -> str:
        return populate_template(
            self.prompt_templates["managed_agent"]["task"], {"name": self.name, "task": task}
        )

    def _managed_report(self, result: RunResult) -> Any:
        """The report of a finished run; called on the agent (or copy) that ran it, before its
        claim ends, so the work log is that run's. A typed run's object is returned as is, so
        the manager's code can use its fields."""
        if result.state == "success" and getattr(self, "_output_spec", None) is not None:
            return result.output
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


def _report(agent: MultiStepAgent, result: RunResult) -> Any:
    """The text report, or a typed run's object as is (never stringified)."""
    return agent._managed_report(result)
