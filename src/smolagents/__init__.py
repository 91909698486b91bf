"""smolagents: agents that think in code.

The public names are re-exported here with an explicit ``__all__``; heavy or optional
dependencies are imported only by the classes that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._monitoring_types import LogLevel, Timing, TokenUsage
from .errors import (
    AgentError,
    AgentExecutionError,
    AgentGenerationError,
    AgentMaxStepsError,
    AgentParsingError,
    AgentToolCallError,
    AgentToolExecutionError,
    InterpreterError,
    MissingDependencyError,
    ModelHTTPError,
    SandboxResourceError,
    SandboxSecurityError,
    UserError,
)

__all__ = [
    "AgentError",
    "AgentExecutionError",
    "AgentGenerationError",
    "AgentMaxStepsError",
    "AgentParsingError",
    "AgentToolCallError",
    "AgentToolExecutionError",
    "InterpreterError",
    "LogLevel",
    "MissingDependencyError",
    "ModelHTTPError",
    "SandboxResourceError",
    "SandboxSecurityError",
    "Timing",
    "TokenUsage",
    "UserError",
    "__version__",
]
