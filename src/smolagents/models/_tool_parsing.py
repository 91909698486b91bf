"""Find tool calls that a model wrote as JSON text instead of returning them natively.

Many open models (and servers without native tool calling) answer with text such as
``<think>...</think> Sure! ```json {"name": "search", "arguments": {"q": "x"}}```.`` This
module digs the call out of such text; ``Model.parse_tool_calls`` uses it.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from ..errors import AgentParsingError
from ..messages import ChatMessageToolCall, ChatMessageToolCallFunction
from ._text import split_reasoning

__all__ = ["parse_arguments", "tool_calls_from_text"]

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()


def parse_arguments(arguments: Any) -> Any:
    """Arguments as a Python value: JSON text is decoded, anything unparsable is kept as given.

    Unparsable text is left for the agent, which reports it to the model so it can retry.
    """
    if isinstance(arguments, str):
        stripped = arguments.strip()
        if not stripped:
            return {}
        try:
            return json.loads(stripped)
        except ValueError:
            return arguments
    return arguments


def _as_call(candidate: Any, name_key: str, arguments_key: str) -> tuple[str, Any] | None:
    if not isinstance(candidate, dict) or not isinstance(candidate.get(name_key), str):
        return None
    if arguments_key in candidate:
        arguments = parse_arguments(candidate[arguments_key])
    else:  # {"name": "search", "query": "x"}: the other keys are the arguments
        arguments = {key: value for key, value in candidate.items() if key != name_key}
    return candidate[name_key], {} if arguments is None else arguments


def _calls_in(value: Any, name_key: str, arguments_key: str) -> list[tuple[str, Any]]:
    """Calls in a decoded JSON value: one call object, or a list of them."""
    single = _as_call(value, name_key, arguments_key)
    if single is not None:
        return [single]
    if isinstance(value, list):
        calls = [_as_call(item, name_key, arguments_key) for item in value]
        if calls and all(call is not None for call in calls):
            return [call for call in calls if call is not None]
    return []


def _scan(text: str, name_key: str, arguments_key: str) -> list[tuple[str, Any]]:
    """Decode JSON at every ``{`` or ``[`` in turn; the first value holding calls wins.

    Starting at each bracket finds nested objects too, e.g. ``{"tool_call": {"name": ...}}``.
    """
    for match in re.finditer(r"[\[{]", text):
        try:
            value, _ = _DECODER.raw_decode(text, match.start())
        except ValueError:
            continue
        calls = _calls_in(value, name_key, arguments_key)
        if calls:
            return calls
    return []


def tool_calls_from_text(
    text: str, name_key: str = "name", arguments_key: str = "arguments"
) -> list[ChatMessageToolCall]:
    """Tool calls written in ``text`` as JSON; raises ``AgentParsingError`` when there is none."""
    content, _ = split_reasoning(text)
    content = content or ""
    calls: list[tuple[str, Any]] = []
    for fenced in _FENCE.findall(content):
        calls = _scan(fenced, name_key, arguments_key)
        if calls:
            break
    if not calls:
        calls = _scan(content, name_key, arguments_key)
    if not calls:
        shown = content if len(content) <= 500 else content[:500] + "..."
        raise AgentParsingError(
            f"The model did not call a tool: expected a JSON object like "
            f'{{"{name_key}": "tool_name", "{arguments_key}": {{...}}}} in its output, got: {shown!r}'
        )
    return [
        ChatMessageToolCall(
            function=ChatMessageToolCallFunction(name=name, arguments=arguments),
            id=f"call_{os.urandom(6).hex()}",
        )
        for name, arguments in calls
    ]
