"""The tool-input dialect of JSON schema: values checked against it, and conversions both ways.

A tool's ``inputs`` use a small dialect of JSON schema that LLM prompts have used for a long
time: ``{"type": "string", "description": ..., "nullable": True}`` where ``type`` is one of
:data:`AUTHORIZED_TYPES` (or a list of them). This module is the bottom of the tools package:
it checks values against that dialect (:func:`check_value`), turns it into standard JSON
schema for function-calling APIs (:func:`to_json_schema`), and turns standard JSON-schema
properties (LangChain args, MCP ``inputSchema``) back into it (:func:`input_from_json_schema`).
It imports only the standard library.
"""

from __future__ import annotations

import collections.abc as abc
import json
import keyword
import re
from typing import Any

__all__ = [
    "AUTHORIZED_TYPES",
    "check_value",
    "identifier",
    "input_from_json_schema",
    "schema_text",
    "to_json_schema",
    "type_label",
]

AUTHORIZED_TYPES: tuple[str, ...] = (
    "string",
    "boolean",
    "integer",
    "number",
    "image",
    "audio",
    "array",
    "object",
    "any",
    "null",
)


def _matches(value: Any, kind: str) -> bool:
    if kind in ("any", "image", "audio"):
        return True
    if kind == "null":
        return value is None
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "array":
        return isinstance(value, (list, tuple))
    if kind == "object":
        return isinstance(value, abc.Mapping)
    return False


def check_value(value: Any, schema: dict[str, Any]) -> str | None:
    """Why ``value`` does not fit ``schema`` (a tool-input spec), or None when it fits."""
    kinds = schema.get("type", "any")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if value is None:
        if schema.get("nullable") or "null" in kinds or "any" in kinds:
            return None
        return "got None, but this argument is not nullable"
    if not any(_matches(value, kind) for kind in kinds):
        expected = kinds[0] if len(kinds) == 1 else " or ".join(kinds)
        return f"expected {expected}, got {type(value).__name__}"
    if "enum" in schema and value not in schema["enum"]:
        return f"must be one of {schema['enum']!r}"
    if isinstance(value, (list, tuple)) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            if problem := check_value(item, schema["items"]):
                return f"item {index}: {problem}"
    return None


# --------------------------------------------------------------------------- JSON schema

_JSON_TYPES = {"image": "string", "audio": "string"}


def to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Translate the tool dialect to standard JSON schema (what function-calling APIs expect).

    ``any`` drops the type constraint, ``image``/``audio`` become strings (paths or URLs) and
    ``nullable`` adds ``"null"`` to the allowed types.
    """
    out = {key: value for key, value in schema.items() if key not in ("type", "nullable")}
    kinds = schema.get("type", "any")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "any" not in kinds:
        names = list(dict.fromkeys(_JSON_TYPES.get(kind, kind) for kind in kinds))
        if schema.get("nullable") and "null" not in names:
            names.append("null")
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        out = {"type": names[0] if len(names) == 1 else names, **out}
    if isinstance(out.get("items"), dict):
        out["items"] = to_json_schema(out["items"])
    if isinstance(out.get("prefixItems"), list):
        out["prefixItems"] = [to_json_schema(item) for item in out["prefixItems"]]
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = to_json_schema(out["additionalProperties"])
    if isinstance(out.get("properties"), dict):
        out["properties"] = {
            key: to_json_schema(value) if isinstance(value, dict) else value
            for key, value in out["properties"].items()
        }
    return out


def schema_text(schema: Any) -> str:
    """A compact JSON rendering used in error messages and prompts."""
    return json.dumps(schema, ensure_ascii=False, default=str)


def type_label(spec: dict[str, Any]) -> str:
    """A short label for an input's type in prompts and messages: 'string', 'array[integer]'."""
    kind = spec.get("type", "any")
    label = " | ".join(kind) if isinstance(kind, list) else str(kind)
    items = spec.get("items")
    if label == "array" and isinstance(items, dict) and "type" in items:
        label = f"array[{type_label(items)}]"
    return label


# --------------------------------------------------------------------------- from JSON schema


def identifier(name: str) -> str:
    """A tool or argument name made into a valid Python identifier ('get-weather' -> 'get_weather')."""
    text = re.sub(r"\W", "_", str(name)) or "tool"
    if text[0].isdigit():
        text = f"_{text}"
    return f"{text}_" if keyword.iskeyword(text) else text


def input_from_json_schema(name: str, spec: dict[str, Any], required: bool) -> dict[str, Any]:
    """One JSON-schema property (LangChain args, MCP inputSchema) as a tool input."""
    kinds: list[str] = []
    nullable = not required or "default" in spec
    for option in spec.get("anyOf") or spec.get("oneOf") or [spec]:
        kind = option.get("type", "any") if isinstance(option, dict) else "any"
        for item in kind if isinstance(kind, list) else [kind]:
            if item == "null":
                nullable = True
            elif item not in kinds:
                kinds.append(item if item in AUTHORIZED_TYPES else "any")
    kinds = ["any"] if not kinds or "any" in kinds else kinds
    entry: dict[str, Any] = {
        "type": kinds[0] if len(kinds) == 1 else kinds,
        "description": spec.get("description") or spec.get("title") or name,
    }
    entry.update({key: spec[key] for key in ("enum", "items", "properties") if key in spec})
    if nullable:
        entry["nullable"] = True
    return entry
