"""Agents: the run loop (written once) and the two kinds of action, code and tool calls."""

from __future__ import annotations

from ..memory import RunResult
from ._code import CodeAgent
from ._multistep import MultiStepAgent
from ._prompts import (
    FinalAnswerPromptTemplate,
    ManagedAgentPromptTemplate,
    PlanningPromptTemplate,
    PromptTemplates,
    populate_template,
)
from ._tool_calling import ToolCallingAgent

__all__ = [
    "CodeAgent",
    "FinalAnswerPromptTemplate",
    "ManagedAgentPromptTemplate",
    "MultiStepAgent",
    "PlanningPromptTemplate",
    "PromptTemplates",
    "RunResult",
    "ToolCallingAgent",
    "populate_template",
]
