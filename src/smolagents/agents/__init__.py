"""Agents: the run loop (written once) and the two kinds of action, code and tool calls.

The memory records are re-exported here too, as the docs import them from this module
(``from smolagents.agents import ActionStep``)."""

from __future__ import annotations

from ..memory import (
    ActionOutput,
    ActionStep,
    AgentMemory,
    FinalAnswerStep,
    MemoryStep,
    PlanningStep,
    RunResult,
    SystemPromptStep,
    TaskStep,
    ToolCall,
    ToolOutput,
)
from ._approval import ApprovalDecision, ApprovalRequest
from ._code import CodeAgent
from ._context import ContextBudgetError, ContextPolicy
from ._multistep import MultiStepAgent
from ._prompts import (
    FinalAnswerPromptTemplate,
    ManagedAgentPromptTemplate,
    PlanningPromptTemplate,
    PromptTemplates,
    populate_template,
)
from ._tool_calling import ToolCallingAgent
from ._typed_output import OutputValidationError

__all__ = [
    "ActionOutput",
    "ActionStep",
    "AgentMemory",
    "ApprovalDecision",
    "ApprovalRequest",
    "CodeAgent",
    "ContextBudgetError",
    "ContextPolicy",
    "FinalAnswerPromptTemplate",
    "FinalAnswerStep",
    "ManagedAgentPromptTemplate",
    "MemoryStep",
    "MultiStepAgent",
    "OutputValidationError",
    "PlanningPromptTemplate",
    "PlanningStep",
    "PromptTemplates",
    "RunResult",
    "SystemPromptStep",
    "TaskStep",
    "ToolCall",
    "ToolCallingAgent",
    "ToolOutput",
    "populate_template",
]
