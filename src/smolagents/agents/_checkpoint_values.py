"""The run's values in a checkpoint: variables, imports and the final answer, as data.

Values go through the typed value codec (``_value_codec.py``), never pickle, so a
checkpoint holds no code. What cannot be encoded is listed (name, type, where, why), so
the resumed run can say what is gone.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any

from .._value_codec import decode_value, encode_value
from ..memory import _jsonable

if TYPE_CHECKING:
    from ._multistep import MultiStepAgent

__all__ = ["capture_state", "decode_output", "describe_lost", "encode_output", "encode_variable"]


def encode_variable(value: Any) -> Any:
    """The value codec's tree; agent types (AgentImage...) travel as their raw value."""
    try:
        return encode_value(value)
    except Exception:
        to_raw = getattr(type(value), "to_raw", None)
        if to_raw is None:
            raise
        return encode_value(to_raw(value))


def _module_name(value: Any) -> str | None:
    """The module a variable holds (the sandbox's module proxies included), if it holds one."""
    if isinstance(value, types.ModuleType):
        return value.__name__
    if type(value).__name__ == "ModuleProxy":
        try:
            module = object.__getattribute__(value, "_sb_module")
        except AttributeError:
            return None
        return module.__name__ if isinstance(module, types.ModuleType) else None
    return None


def _executor_variables(executor: Any) -> dict[str, Any] | None:
    getter = getattr(executor, "get_variables", None)
    variables = getter() if callable(getter) else getattr(executor, "state", None)
    return variables if isinstance(variables, dict) else None


def capture_state(agent: MultiStepAgent) -> dict[str, Any]:
    """The run's variables as data: encoded values, imports, and what could not be encoded."""
    saved: dict[str, Any] = {"agent": {}, "executor": {}, "imports": {}, "unencodable": []}
    unencodable: list[dict[str, str]] = saved["unencodable"]

    def put(where: str, name: str, value: Any) -> None:
        try:
            saved[where][name] = encode_variable(value)
        except Exception as exc:
            reason = str(exc).split(":")[0] if str(exc) else type(exc).__name__
            unencodable.append({"name": name, "type": type(value).__name__, "where": where, "reason": reason})

    for name, value in agent.state.items():
        put("agent", str(name), value)
    executor = getattr(agent, "python_executor", None)
    if executor is not None:
        variables = _executor_variables(executor)
        if variables is None:
            unencodable.append(
                {
                    "name": "*",
                    "type": type(executor).__name__,
                    "where": "executor",
                    "reason": "this executor does not report its variables",
                }
            )
        else:
            for name, value in list(variables.items()):
                if not isinstance(name, str) or name.startswith("_"):
                    continue
                if name in agent.state and agent.state[name] is value:
                    continue  # sent from agent.state: saved there once
                module = _module_name(value)
                if module is not None:
                    saved["imports"][name] = module
                else:
                    put("executor", name, value)
    return saved


def encode_output(value: Any) -> dict[str, Any]:
    try:
        return {"value": encode_variable(value)}
    except Exception:  # typed answers (pydantic, dataclasses) are stored as their fields
        return {"json": _jsonable(value)}


def decode_output(data: dict[str, Any], agent: MultiStepAgent) -> Any:
    if "value" in data:
        return decode_value(data["value"])
    value = data.get("json")
    spec = agent._output_spec
    if spec is not None:
        try:
            return spec.validate(value)
        except Exception:  # returned as stored
            pass
    return value


def describe_lost(lost: list[dict[str, str]]) -> str:
    return ", ".join(
        "the variables of earlier code (the executor cannot report them)"
        if item["name"] == "*"
        else f"{item['name']} ({item['type']})"
        for item in lost
    )
