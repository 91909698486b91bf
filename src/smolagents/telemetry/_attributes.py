"""Span attributes from our records, in the OpenTelemetry GenAI semantic conventions' terms.

Content (messages, tool arguments and results, the task and the answer) is only built when
the user opted in: these helpers are called behind that check.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import AgentGenerationError, ModelHTTPError

__all__ = [
    "error_type",
    "finish_reasons",
    "input_messages_json",
    "output_messages_json",
    "provider_name",
    "request_attributes",
    "response_attributes",
    "to_json",
    "tool_arguments_json",
]

#: our model classes -> ``gen_ai.provider.name`` (the convention's well-known values)
_PROVIDERS = {
    "OpenAIModel": "openai",
    "OpenAIServerModel": "openai",
    "AzureOpenAIModel": "azure.ai.openai",
    "AzureOpenAIServerModel": "azure.ai.openai",
    "AmazonBedrockModel": "aws.bedrock",
}
_ROLES = {"tool-call": "assistant", "tool-response": "tool"}


def to_json(value: Any) -> str:
    """A JSON string for any value (what JSON cannot hold is written as its ``str``)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def error_type(exc: BaseException) -> str:
    """``error.type``: the provider's status code for HTTP errors, else the exception's class
    (the cause's, for a model call whose error we wrapped)."""
    if isinstance(exc, ModelHTTPError) and getattr(exc, "status_code", None) is not None:
        return str(exc.status_code)
    if type(exc) is AgentGenerationError and exc.__cause__ is not None:
        exc = exc.__cause__
    return type(exc).__qualname__


def provider_name(model: Any) -> str | None:
    """``gen_ai.provider.name`` when the model class tells it (LiteLLM: the id's prefix)."""
    name = type(model).__name__
    if name in _PROVIDERS:
        return _PROVIDERS[name]
    model_id = getattr(model, "model_id", None)
    if name.startswith("LiteLLM") and isinstance(model_id, str) and "/" in model_id:
        return model_id.split("/", 1)[0]
    return None


def request_attributes(model: Any, call_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The request settings the conventions name, from the model's and the call's kwargs."""
    settings = {**(getattr(model, "kwargs", None) or {}), **call_kwargs}
    attributes: dict[str, Any] = {}
    stops = settings.get("stop_sequences") or settings.get("stop")
    if isinstance(stops, (list, tuple)) and all(isinstance(s, str) for s in stops):
        attributes["gen_ai.request.stop_sequences"] = list(stops)
    for key, attribute in (
        ("temperature", "gen_ai.request.temperature"),
        ("top_p", "gen_ai.request.top_p"),
        ("max_tokens", "gen_ai.request.max_tokens"),
        ("max_completion_tokens", "gen_ai.request.max_tokens"),
        ("seed", "gen_ai.request.seed"),
    ):
        value = settings.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attributes[attribute] = value
    return attributes


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)


def finish_reasons(message: Any) -> list[str]:
    """``gen_ai.response.finish_reasons``: what the provider's raw response says (OpenAI-style
    ``choices``, Bedrock's ``stopReason``); without one (streams, local models), inferred
    from the message: ``tool_calls`` when it calls tools, else ``stop``."""
    raw = getattr(message, "raw", None)
    reasons: list[str] = []
    if raw is not None:
        choices = _field(raw, "choices")
        if isinstance(choices, (list, tuple)):
            reasons = [str(r) for r in (_field(c, "finish_reason") for c in choices) if r is not None]
        stop_reason = _field(raw, "stopReason")
        if not reasons and isinstance(stop_reason, str):
            reasons = [stop_reason]
    if not reasons:
        reasons = ["tool_calls" if getattr(message, "tool_calls", None) else "stop"]
    return reasons


def response_attributes(message: Any) -> dict[str, str]:
    """``gen_ai.response.id`` / ``gen_ai.response.model`` when the raw response has them."""
    raw = getattr(message, "raw", None)
    attributes: dict[str, str] = {}
    if raw is None:
        return attributes
    for key, attribute in (("id", "gen_ai.response.id"), ("model", "gen_ai.response.model")):
        value = _field(raw, key)
        if isinstance(value, str) and value:
            attributes[attribute] = value
    return attributes


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for part in content if isinstance(content, Iterable) else [content]:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            parts.append({"type": "text", "content": part.get("text", "")})
        elif kind in ("image", "image_url"):
            parts.append({"type": "blob", "modality": "image"})  # the image itself is not recorded
        else:
            parts.append({"type": "text", "content": str(part)})
    return parts


def _tool_call_parts(tool_calls: Any) -> list[dict[str, Any]]:
    parts = []
    for call in tool_calls or []:
        function = _field(call, "function")
        parts.append(
            {
                "type": "tool_call",
                "id": _field(call, "id"),
                "name": _field(function, "name"),
                "arguments": _field(function, "arguments"),
            }
        )
    return parts


def _message(message: Any) -> dict[str, Any]:
    role = _field(message, "role")
    role = str(getattr(role, "value", role))
    return {
        "role": _ROLES.get(role, role),
        "parts": _parts(_field(message, "content")) + _tool_call_parts(_field(message, "tool_calls")),
    }


def input_messages_json(messages: Iterable[Any]) -> str:
    """``gen_ai.input.messages``: the chat history sent to the model."""
    return to_json([_message(m) for m in messages])


def output_messages_json(message: Any, reasons: list[str]) -> str:
    """``gen_ai.output.messages``: the model's answer."""
    out = _message(message)
    out["finish_reason"] = reasons[0] if reasons else "stop"
    return to_json([out])


def tool_arguments_json(tool: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    """``gen_ai.tool.call.arguments`` for a direct ``tool(...)`` call, positional arguments
    named after the tool's inputs."""
    if len(args) == 1 and not kwargs and isinstance(args[0], Mapping):
        return to_json(dict(args[0]))
    names = list(getattr(tool, "inputs", None) or {})
    if len(args) <= len(names):
        return to_json({**dict(zip(names, args)), **kwargs})
    return to_json({"args": list(args), **kwargs})
