"""Managed agents: a sub-agent presented to its manager as a tool with ``task`` and
``additional_args``, whose answer comes back as a report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..tools import Tool

if TYPE_CHECKING:
    from ._multistep import MultiStepAgent

__all__ = ["ManagedAgentTool", "managed_agent_inputs"]


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
