"""The agent's memory: one record per step, and the conversion of records into messages.

Everything a step learns lives in its record (no side channels), so replay, serialisation,
the UI and the next model call all read the same data.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._monitoring_types import LogLevel, Timing, TokenUsage
from .errors import AgentError, SandboxSecurityError
from .models._messages import ChatMessage, MessageRole

if TYPE_CHECKING:
    from .monitoring import AgentLogger

__all__ = [
    "ActionOutput",
    "ActionStep",
    "AgentMemory",
    "FinalAnswerStep",
    "MemoryStep",
    "PlanningStep",
    "RunResult",
    "SystemPromptStep",
    "TaskStep",
    "ToolCall",
    "ToolOutput",
    "safe_text",
]


def _text_part(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}]


def _image_parts(images: list[Any] | None) -> list[dict[str, Any]]:
    return [{"type": "image", "image": image} for image in images or []]


def safe_text(value: Any, as_str: bool = False) -> str:
    """``repr(value)`` (``str`` with ``as_str``) that never raises.

    Objects of classes defined in the sandbox refuse to run their ``__repr__``/``__str__``
    once the executor call is over; they are named by type instead, so logs, memory
    serialisation and ``RunResult`` never crash on a value the code produced."""
    try:
        return str(value) if as_str else repr(value)
    except SandboxSecurityError:
        return f"<{type(value).__name__} object defined in the sandbox>"
    except Exception as error:
        return (
            f"<{type(value).__name__} object: {'str' if as_str else 'repr'}() raised {type(error).__name__}>"
        )


def _jsonable(value: Any) -> Any:
    """Best-effort JSON-safe copy of a value stored in memory (images become a placeholder)."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    # subclasses (AgentText, IntEnum...): plain copies through the base type's own slot, so
    # no overridden (possibly sandbox-defined) method runs
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, dict):
        return {k if type(k) is str else safe_text(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    # typed answers (issue 12): pydantic models and dataclasses are stored as their fields
    if callable(getattr(type(value), "model_dump", None)):
        try:
            return _jsonable(value.model_dump(mode="json"))
        except Exception:  # not a pydantic model after all, or sandbox code refusing to run
            pass
    if callable(getattr(type(value), "dict", None)):
        try:
            return _jsonable(value.dict())
        except Exception:  # not a record after all, or sandbox code refusing to run
            pass
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        try:
            return {f.name: _jsonable(getattr(value, f.name, None)) for f in dataclasses.fields(value)}
        except Exception:  # sandbox code refusing to run
            pass
    return safe_text(value)


def _raw_value(raw: Any) -> Any:
    """A provider's raw response as stored data: kept when JSON can hold it, else its text."""
    if raw is None:
        return None
    try:
        json.dumps(raw)
    except (TypeError, ValueError):
        return safe_text(raw, as_str=True)
    return raw


def _message_dict(message: ChatMessage) -> dict[str, Any]:
    """A message of a step as plain data, with ``tool_calls``, ``raw`` and ``token_usage``
    always present: replays, telemetry and UIs read them from the stored step."""
    data: dict[str, Any] = _jsonable(message.dict())
    data["tool_calls"] = data.get("tool_calls")
    data["raw"] = _raw_value(message.raw)
    data["token_usage"] = data.get("token_usage")
    return data


# ---------------------------------------------------------------- records back into steps
# The inverse of the ``dict()`` methods below, so a stored run (a checkpoint) becomes memory
# again: ``Step.from_dict(step.dict()).dict() == step.dict()``. Values ``dict()`` already made
# JSON-safe (action outputs, images as text) come back in that form.
def _timing_from_dict(data: Any) -> Timing:
    if not isinstance(data, dict):
        return Timing()
    return Timing(start_time=data.get("start_time") or 0.0, end_time=data.get("end_time"))


def _usage_from_dict(data: Any) -> TokenUsage | None:
    if not isinstance(data, dict):
        return None
    return TokenUsage(int(data.get("input_tokens") or 0), int(data.get("output_tokens") or 0))


def _message_from_dict(data: Any) -> ChatMessage:
    return ChatMessage.from_dict(data, raw=data.get("raw"))


def _error_from_dict(data: Any) -> AgentError | None:
    """The stored error as an instance of the class it names (any loaded ``AgentError``
    subclass; ``AgentError`` itself when that class is unknown here)."""
    if not isinstance(data, dict):
        return None
    message, name = str(data.get("message", "")), data.get("type")
    pending: list[type[AgentError]] = [AgentError]
    while pending:
        cls = pending.pop()
        if cls.__name__ == name:
            try:
                return cls(message)
            except Exception:  # a subclass with a constructor of its own
                break
        pending.extend(cls.__subclasses__())
    return AgentError(message)


@dataclass
class ToolCall:
    """A tool call the agent made (or is about to make) in an action step."""

    name: str
    arguments: Any
    id: str

    def dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": _jsonable(self.arguments)},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        function = data.get("function") or {}
        return cls(name=function.get("name", ""), arguments=function.get("arguments"), id=data.get("id", ""))


@dataclass
class ToolOutput:
    """The result of one tool call, as streamed to the caller."""

    id: str
    output: Any
    is_final_answer: bool
    observation: str
    tool_call: ToolCall


@dataclass
class ActionOutput:
    """What an action step produced; ``is_final_answer`` ends the run."""

    output: Any
    is_final_answer: bool


class MemoryStep:
    """Base of every memory record."""

    def dict(self) -> dict[str, Any]:
        """The record as plain data; a bare step has no fields."""
        return {}

    def to_messages(self, summary_mode: bool = False) -> list[ChatMessage]:
        raise NotImplementedError


@dataclass
class ActionStep(MemoryStep):
    """One think-act-observe cycle."""

    step_number: int
    timing: Timing = field(default_factory=Timing)
    model_input_messages: list[ChatMessage] | None = None
    tool_calls: list[ToolCall] | None = None
    error: AgentError | None = None
    model_output_message: ChatMessage | None = None
    model_output: str | list[dict[str, Any]] | None = None
    code_action: str | None = None
    observations: str | None = None
    observations_images: list[Any] | None = None
    action_output: Any = None
    token_usage: TokenUsage | None = None
    is_final_answer: bool = False

    def dict(self) -> dict[str, Any]:
        return {
            "step_number": self.step_number,
            "timing": self.timing.dict(),
            "model_input_messages": [_message_dict(m) for m in self.model_input_messages or []] or None,
            "tool_calls": [tc.dict() for tc in self.tool_calls] if self.tool_calls else [],
            "error": self.error.dict() if self.error else None,
            "model_output_message": _message_dict(self.model_output_message)
            if self.model_output_message
            else None,
            "model_output": _jsonable(self.model_output),
            "code_action": self.code_action,
            "observations": self.observations,
            "observations_images": [repr(i) for i in self.observations_images or []] or None,
            "action_output": _jsonable(self.action_output),
            "token_usage": self.token_usage.dict() if self.token_usage else None,
            "is_final_answer": self.is_final_answer,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActionStep:
        """The step :meth:`dict` describes (images come back as their stored text)."""
        output_message = data.get("model_output_message")
        return cls(
            step_number=int(data["step_number"]),
            timing=_timing_from_dict(data.get("timing")),
            model_input_messages=[_message_from_dict(m) for m in data["model_input_messages"]]
            if data.get("model_input_messages")
            else None,
            tool_calls=[ToolCall.from_dict(tc) for tc in data["tool_calls"]]
            if data.get("tool_calls")
            else None,
            error=_error_from_dict(data.get("error")),
            model_output_message=_message_from_dict(output_message) if output_message else None,
            model_output=data.get("model_output"),
            code_action=data.get("code_action"),
            observations=data.get("observations"),
            observations_images=data.get("observations_images"),
            action_output=data.get("action_output"),
            token_usage=_usage_from_dict(data.get("token_usage")),
            is_final_answer=bool(data.get("is_final_answer")),
        )

    def _calls_text(self) -> str:
        """``Calling tools:`` and the calls as JSON. Every later step replays this step, so
        the text is kept while the calls are the same values (immutable arguments only:
        a dict argument could change in place unseen)."""
        calls = self.tool_calls or []
        snapshot = [(tc.name, tc.id, tc.arguments) for tc in calls]
        cached: tuple[list[Any], str] | None = self.__dict__.get("_calls_cache")
        if cached is not None and cached[0] == snapshot:
            return cached[1]
        text = "Calling tools:\n" + json.dumps([tc.dict() for tc in calls], default=str)
        if all(type(tc.arguments) in (str, int, float, bool, type(None)) for tc in calls):
            self.__dict__["_calls_cache"] = (snapshot, text)
        return text

    def to_messages(self, summary_mode: bool = False) -> list[ChatMessage]:
        messages: list[ChatMessage] = []
        if self.model_output is not None and not summary_mode:
            text = self.model_output if isinstance(self.model_output, str) else str(self.model_output)
            if text.strip():
                messages.append(ChatMessage(role=MessageRole.ASSISTANT, content=_text_part(text.strip())))
        if self.tool_calls:
            messages.append(ChatMessage(role=MessageRole.TOOL_CALL, content=_text_part(self._calls_text())))
        if self.observations_images:
            messages.append(
                ChatMessage(role=MessageRole.USER, content=_image_parts(self.observations_images))
            )
        if self.observations is not None:
            messages.append(
                ChatMessage(
                    role=MessageRole.TOOL_RESPONSE, content=_text_part("Observation:\n" + self.observations)
                )
            )
        if self.error is not None:
            text = (
                "Error:\n" + str(self.error) + "\nNow let's retry: take care not to repeat previous errors! "
                "If you have retried several times, try a completely different approach.\n"
            )
            messages.append(ChatMessage(role=MessageRole.TOOL_RESPONSE, content=_text_part(text)))
        return messages


@dataclass
class PlanningStep(MemoryStep):
    """A plan (initial or updated) written by the model between action steps."""

    model_input_messages: list[ChatMessage]
    model_output_message: ChatMessage
    plan: str
    timing: Timing = field(default_factory=Timing)
    token_usage: TokenUsage | None = None

    def dict(self) -> dict[str, Any]:
        return {
            "model_input_messages": [_message_dict(m) for m in self.model_input_messages],
            "model_output_message": _message_dict(self.model_output_message),
            "plan": self.plan,
            "timing": self.timing.dict(),
            "token_usage": self.token_usage.dict() if self.token_usage else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanningStep:
        return cls(
            model_input_messages=[_message_from_dict(m) for m in data.get("model_input_messages") or []],
            model_output_message=_message_from_dict(data["model_output_message"]),
            plan=data["plan"],
            timing=_timing_from_dict(data.get("timing")),
            token_usage=_usage_from_dict(data.get("token_usage")),
        )

    def to_messages(self, summary_mode: bool = False) -> list[ChatMessage]:
        if summary_mode:
            return []
        return [
            ChatMessage(role=MessageRole.ASSISTANT, content=_text_part(self.plan.strip())),
            ChatMessage(role=MessageRole.USER, content=_text_part("Now proceed and carry out this plan.")),
        ]


@dataclass
class TaskStep(MemoryStep):
    """The task given to the agent, with its images if any."""

    task: str
    task_images: list[Any] | None = None

    def dict(self) -> dict[str, Any]:
        return {"task": self.task, "task_images": [repr(i) for i in self.task_images or []] or None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskStep:
        return cls(task=data["task"], task_images=data.get("task_images"))

    def to_messages(self, summary_mode: bool = False) -> list[ChatMessage]:
        content = _text_part(f"New task:\n{self.task}") + _image_parts(self.task_images)
        return [ChatMessage(role=MessageRole.USER, content=content)]


@dataclass
class SystemPromptStep(MemoryStep):
    """The system prompt the agent ran with."""

    system_prompt: str

    def dict(self) -> dict[str, Any]:
        return {"system_prompt": self.system_prompt}

    def to_messages(self, summary_mode: bool = False) -> list[ChatMessage]:
        if summary_mode:
            return []
        return [ChatMessage(role=MessageRole.SYSTEM, content=_text_part(self.system_prompt))]

    def __str__(self) -> str:
        return self.system_prompt


@dataclass
class FinalAnswerStep(MemoryStep):
    """The last event of a run: its answer."""

    output: Any

    def dict(self) -> dict[str, Any]:
        return {"output": _jsonable(self.output)}

    def to_messages(self, summary_mode: bool = False) -> list[ChatMessage]:
        return []


@dataclass
class RunResult:
    """Everything a run produced, returned when ``return_full_result`` is set.

    ``state`` is ``"success"`` or ``"max_steps_error"``; ``steps`` are JSON-safe dicts.
    ``run_id`` names the run (given to ``run(..., run_id=...)`` or generated): the key of its
    checkpoint, for ``agent.resume(run_id, checkpoint=store)``.
    A run with a checkpoint store that stopped to wait for tool approval has ``state``
    ``"awaiting_approval"`` and its requests (``ApprovalRequest``) in ``pending_approvals``.
    """

    output: Any
    state: str
    steps: list[dict[str, Any]]
    token_usage: TokenUsage | None
    timing: Timing
    run_id: str | None = None
    pending_approvals: list[Any] = field(default_factory=list)

    def dict(self) -> dict[str, Any]:
        return {
            "output": _jsonable(self.output),
            "state": self.state,
            "steps": self.steps,
            "token_usage": self.token_usage.dict() if self.token_usage else None,
            "timing": self.timing.dict(),
            "run_id": self.run_id,
            "pending_approvals": [request.dict() for request in self.pending_approvals],
        }


class AgentMemory:
    """The system prompt and every step of the current conversation."""

    def __init__(self, system_prompt: str | Callable[[], str]) -> None:
        # an agent passes a factory: its prompt is rendered only when first read
        self._render: Callable[[], str] | None = system_prompt if callable(system_prompt) else None
        self._system_prompt = (
            None if callable(system_prompt) else SystemPromptStep(system_prompt=system_prompt)
        )
        self.steps: list[TaskStep | ActionStep | PlanningStep] = []

    @property
    def system_prompt(self) -> SystemPromptStep:
        if self._system_prompt is None:
            render, self._render = self._render, None
            self._system_prompt = SystemPromptStep(system_prompt=render() if render is not None else "")
        return self._system_prompt

    @system_prompt.setter
    def system_prompt(self, value: SystemPromptStep) -> None:
        self._render, self._system_prompt = None, value

    def reset(self) -> None:
        """Forget every step; keep the system prompt."""
        self.steps = []

    def get_succinct_steps(self) -> list[dict[str, Any]]:
        """Steps as dicts, without the (large) model input messages."""
        out = []
        for step in self.steps:
            data = step.dict()
            data.pop("model_input_messages", None)
            out.append(data)
        return out

    def get_full_steps(self) -> list[dict[str, Any]]:
        """Steps as dicts, model input messages included."""
        return [step.dict() for step in self.steps]

    def return_full_code(self) -> str:
        """Every code action of the run, joined into one script."""
        return "\n\n".join(
            step.code_action for step in self.steps if isinstance(step, ActionStep) and step.code_action
        )

    def replay(self, logger: AgentLogger, detailed: bool = False) -> None:
        """Print the steps again, as they were logged during the run."""
        logger.log("Replaying the agent's steps:", level=LogLevel.ERROR)
        logger.log_markdown(
            title="System prompt", content=self.system_prompt.system_prompt, level=LogLevel.ERROR
        )
        for step in self.steps:
            if isinstance(step, TaskStep):
                logger.log_task(step.task, "", level=LogLevel.ERROR)
            elif isinstance(step, ActionStep):
                logger.log_rule(f"Step {step.step_number}", level=LogLevel.ERROR)
                if detailed and step.model_input_messages:
                    logger.log_messages(step.model_input_messages, level=LogLevel.ERROR)
                if step.model_output:
                    logger.log_markdown(
                        title="Agent output:", content=str(step.model_output), level=LogLevel.ERROR
                    )
                if step.observations:
                    logger.log(f"Observations: {step.observations}", level=LogLevel.ERROR)
                if step.error:
                    logger.log_error(str(step.error), level=LogLevel.ERROR)
            elif isinstance(step, PlanningStep):
                logger.log_rule("Planning step", level=LogLevel.ERROR)
                if detailed:
                    logger.log_messages(step.model_input_messages, level=LogLevel.ERROR)
                logger.log_markdown(title="Agent output:", content=step.plan, level=LogLevel.ERROR)
