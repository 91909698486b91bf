"""Checking a model's arguments against a tool's inputs, with messages the model can act on.

Agents call :func:`validate_tool_arguments` before running a tool; what it raises becomes the
step's error, shown to the model, so every message says what was wrong and what to send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import AgentToolCallError
from ._json_schema import check_value, schema_text, to_json_schema, type_label

if TYPE_CHECKING:
    from ._tool import Tool

__all__ = ["validate_tool_arguments"]


def _short_repr(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def validate_tool_arguments(tool: Tool, arguments: Any) -> None:
    """Check a model's arguments for ``tool``; raise :class:`AgentToolCallError` saying what to fix.

    ``arguments`` is a dict of keyword arguments, or a single value for a one-input tool.
    """
    inputs = tool.inputs
    expected = ", ".join(
        f"{key} ({type_label(spec)}{', optional' if spec.get('nullable') else ''})"
        for key, spec in inputs.items()
    )
    schema = schema_text({key: to_json_schema(spec) for key, spec in inputs.items()})
    only = next(iter(inputs.values())) if len(inputs) == 1 else None
    if isinstance(arguments, dict) and set(arguments) <= set(inputs):
        given = arguments
    elif only is not None and (not isinstance(arguments, dict) or _accepts_mapping(only)):
        given = {next(iter(inputs)): arguments}
    elif arguments is None and not inputs:
        return
    elif isinstance(arguments, dict):
        unexpected = [key for key in arguments if key not in inputs]
        raise AgentToolCallError(
            f"Tool '{tool.name}' got unexpected argument(s) {unexpected} in {_short_repr(arguments)}. "
            f"It accepts: {expected or 'no arguments'}. Expected arguments schema: {schema}"
        )
    else:
        raise AgentToolCallError(
            f"Tool '{tool.name}' needs its arguments as a dict of {{name: value}}, got "
            f"{_short_repr(arguments)}. It accepts: {expected or 'no arguments'}. Expected arguments schema: {schema}"
        )

    params = tool._forward_parameters()
    defaults = {p.name for p in params or [] if p.default is not p.empty}
    problems = []
    for key, spec in inputs.items():
        if key not in given:
            if not spec.get("nullable") and key not in defaults and params is not None:
                problems.append(
                    f"missing required argument '{key}' (expected {schema_text(to_json_schema(spec))})"
                )
            continue
        if problem := check_value(given[key], spec):
            problems.append(
                f"argument '{key}' {problem}; received {_short_repr(given[key])} "
                f"(expected {schema_text(to_json_schema(spec))})"
            )
    if problems:
        raise AgentToolCallError(
            f"Invalid call to tool '{tool.name}': " + "; ".join(problems) + f". It accepts: {expected}."
        )


def _accepts_mapping(spec: dict[str, Any]) -> bool:
    kind = spec.get("type", "any")
    return bool({"object", "any"} & set(kind if isinstance(kind, list) else [kind]))
