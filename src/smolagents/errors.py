"""Every error the library raises, in one tree.

```
AgentError                      root of everything an agent run can fail with
├── AgentParsingError           the model output could not be parsed into an action
├── AgentExecutionError         the action failed while running
│   ├── AgentToolCallError      the model called a tool wrongly (unknown name, bad arguments)
│   ├── AgentToolExecutionError the tool itself raised
│   └── InterpreterError        the sandbox refused or failed to run model-written code
│       ├── SandboxSecurityError    a forbidden name, attribute, module or builtin
│       └── SandboxResourceError    a limit was hit (time, operations, memory, output, size)
├── AgentMaxStepsError          the run reached max_steps
├── AgentGenerationError        the model call itself failed (HTTP errors, bad responses)
│   └── ModelHTTPError          the provider answered with an HTTP error status
└── CheckpointError             a durable run's checkpoint cannot be saved, read or used
    └── CheckpointNotFoundError no checkpoint has that run id
UserError (AgentError, ValueError)   a developer mistake: bad configuration or definition
MissingDependencyError (ImportError) an optional extra is not installed
```

Constructors have no side effects (nothing is logged when an error is created) and every
error pickles, so errors can cross process boundaries (remote executors, worker pools).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AgentError",
    "AgentExecutionError",
    "AgentGenerationError",
    "AgentMaxStepsError",
    "AgentParsingError",
    "AgentToolCallError",
    "AgentToolExecutionError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "InterpreterError",
    "MissingDependencyError",
    "ModelHTTPError",
    "SandboxResourceError",
    "SandboxSecurityError",
    "UserError",
]


class AgentError(Exception):
    """Base class for errors raised while building or running an agent.

    ``logger`` is accepted for compatibility with code written against older releases,
    and ignored: creating an error never prints anything.
    """

    def __init__(self, message: str, logger: Any = None) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message,), self.__dict__.copy())

    def __str__(self) -> str:
        return self.message

    def dict(self) -> dict[str, str]:
        """JSON-safe form, used when an error is stored in a memory step."""
        return {"type": type(self).__name__, "message": self.message}


class AgentParsingError(AgentError):
    """The model's output could not be parsed into an action."""


class AgentExecutionError(AgentError):
    """The parsed action failed while it ran."""


class AgentToolCallError(AgentExecutionError):
    """The model called a tool wrongly: an unknown tool or arguments that do not fit."""


class AgentToolExecutionError(AgentExecutionError):
    """A tool raised while it ran."""


class AgentMaxStepsError(AgentError):
    """The run used all its steps without a final answer."""


class AgentGenerationError(AgentError):
    """The model could not produce an output (connection, HTTP or response errors)."""


class ModelHTTPError(AgentGenerationError):
    """The provider answered with an HTTP error status; ``status_code`` and ``body`` say which."""

    def __init__(self, message: str, status_code: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.status_code, self.body), self.__dict__.copy())


class CheckpointError(AgentError):
    """A durable run's checkpoint cannot be saved, read or used (corrupt, newer format, the
    store failing); the message names the run id, the store and what to do."""


class CheckpointNotFoundError(CheckpointError):
    """``agent.resume(run_id, ...)`` was given a run id the store holds no checkpoint for."""


class InterpreterError(AgentExecutionError, ValueError):
    """Model-written code could not run in the sandbox (also raised for code errors).

    Also a ``ValueError``: code written for smolagents catches it as one."""


class SandboxSecurityError(InterpreterError):
    """Sandboxed code tried to reach something outside the boundary."""


class SandboxResourceError(InterpreterError):
    """Sandboxed code hit a resource limit; ``limit`` names which one."""

    def __init__(self, message: str, limit: str = "") -> None:
        super().__init__(message)
        self.limit = limit

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.limit), self.__dict__.copy())


class UserError(AgentError, ValueError):
    """A developer mistake caught at construction time (bad tool definition, bad option)."""


class MissingDependencyError(ImportError):
    """An optional dependency is missing; the message names the ``pip install`` to run."""
