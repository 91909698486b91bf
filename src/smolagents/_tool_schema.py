"""Tool schemas: from Python type hints and Google-style docstrings, and checks against them.

A tool's ``inputs`` use a small dialect of JSON schema that LLM prompts have used for a long
time: ``{"type": "string", "description": ..., "nullable": True}`` where ``type`` is one of
:data:`AUTHORIZED_TYPES` (or a list of them). This module turns type hints into that dialect,
turns the dialect into standard JSON schema for function-calling APIs, and checks values
and definitions against it. It imports nothing heavy: PIL types are recognised by name.
"""

from __future__ import annotations

import collections.abc as abc
import dataclasses
import enum
import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from typing import Any

from .errors import UserError

__all__ = [
    "AUTHORIZED_TYPES",
    "check_value",
    "definition_problems",
    "function_schema",
    "parse_docstring",
    "to_json_schema",
    "type_to_schema",
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

_SCALARS: dict[Any, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}
_ARRAYS = (list, set, frozenset, abc.Sequence, abc.MutableSequence, abc.Set, abc.Iterable, abc.Collection)
_MAPPINGS = (dict, abc.Mapping, abc.MutableMapping)

# Section headers, in English and in the Korean the docs' examples use.
_ARG_SECTIONS = {"args", "arguments", "parameters", "params", "인자", "매개변수"}
_RETURN_SECTIONS = {"returns", "return", "반환값", "반환"}
_OTHER_SECTIONS = {"raises", "yields", "yield", "example", "examples", "note", "notes", "see also"}
_HEADER_RE = re.compile(r"^([^\W\d][\w ]*?)\s*:\s*(.*)$")
_ENTRY_RE = re.compile(r"^\*{0,2}([^\W\d]\w*)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


class _UnsupportedType(Exception):
    def __init__(self, hint: Any) -> None:
        super().__init__(hint)
        self.hint = hint


# --------------------------------------------------------------------------- docstrings


def parse_docstring(doc: str) -> tuple[str, dict[str, str], str | None]:
    """Split a Google-style docstring into (description, {arg: description}, returns).

    Argument entries may span several lines: lines indented deeper than the entry continue it.
    """
    lines = inspect.cleandoc(doc).splitlines()
    sections: dict[str, list[str]] = {"description": []}
    current = "description"
    for line in lines:
        match = _HEADER_RE.match(line) if line[:1].strip() else None
        key = match.group(1).strip().lower() if match else ""
        if match and (key in _ARG_SECTIONS or key in _OTHER_SECTIONS) and not match.group(2):
            current = "args" if key in _ARG_SECTIONS else "other"
            sections.setdefault(current, [])
            continue
        if match and key in _RETURN_SECTIONS:
            current = "returns"
            sections.setdefault(current, []).append(match.group(2))
            continue
        sections[current].append(line)

    args: dict[str, str] = {}
    arg_lines = [line for line in sections.get("args", []) if line.strip()]
    if arg_lines:
        base = min(len(line) - len(line.lstrip()) for line in arg_lines)
        name = None
        for line in arg_lines:
            entry = _ENTRY_RE.match(line.strip()) if len(line) - len(line.lstrip()) == base else None
            if entry:
                name = entry.group(1)
                args[name] = entry.group(2).strip()
            elif name is not None:
                args[name] = f"{args[name]} {line.strip()}".strip()
    returns = " ".join(line.strip() for line in sections.get("returns", []) if line.strip()) or None
    return "\n".join(sections["description"]).strip(), args, returns


# --------------------------------------------------------------------------- type hints


def _merge_types(schemas: list[dict[str, Any]]) -> str | list[str]:
    names: list[str] = []
    for schema in schemas:
        kind = schema["type"]
        for name in kind if isinstance(kind, list) else [kind]:
            if name not in names:
                names.append(name)
    if "any" in names:
        return "any"
    return names[0] if len(names) == 1 else names


def _literal_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    for py, name in _SCALARS.items():
        if isinstance(value, py):
            return name
    raise _UnsupportedType(f"Literal[{value!r}]")


def _object_schema(hint: Any) -> dict[str, Any] | None:
    """Schemas for structured classes: TypedDict, dataclasses and pydantic-style models."""
    if typing.is_typeddict(hint):
        hints = typing.get_type_hints(hint)
        required = [key for key in hints if key in getattr(hint, "__required_keys__", hints)]
        props = {key: type_to_schema(value) for key, value in hints.items()}
        return {"type": "object", "properties": props, "required": required}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        props, required = {}, []
        for field in dataclasses.fields(hint):
            props[field.name] = type_to_schema(hints.get(field.name, Any))
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                required.append(field.name)
        return {"type": "object", "properties": props, "required": required}
    if isinstance(hint, type) and callable(getattr(hint, "model_json_schema", None)):
        return {**hint.model_json_schema(), "type": "object"}
    return None


def type_to_schema(hint: Any) -> dict[str, Any]:
    """Map one type hint to the tool-input dialect; raises ``_UnsupportedType`` otherwise."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return type_to_schema(args[0])
    if hint is Any or hint is object:
        return {"type": "any"}
    if hint is None or hint is type(None):
        return {"type": "null"}
    if origin is typing.Union or origin is types.UnionType:
        members = [arg for arg in args if arg is not type(None)]
        if len(members) == 1:
            schema = dict(type_to_schema(members[0]))
        else:
            schema = {"type": _merge_types([type_to_schema(arg) for arg in members])}
        if len(members) < len(args):
            schema["nullable"] = True
        return schema
    if origin is typing.Literal:
        values = [value for value in args if value is not None]
        kinds = list(dict.fromkeys(_literal_type(value) for value in values))
        schema = {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": values}
        if len(values) < len(args):
            schema["nullable"] = True
        return schema
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [member.value for member in hint]
        kinds = list(dict.fromkeys(_literal_type(value) for value in values))
        return {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": values}
    if isinstance(hint, type) and hint.__name__ == "Image" and hint.__module__.startswith("PIL"):
        return {"type": "image"}
    if isinstance(hint, type) and hint.__module__ == "smolagents.agent_types":
        named = {"AgentImage": "image", "AgentAudio": "audio", "AgentText": "string"}
        if hint.__name__ in named:
            return {"type": named[hint.__name__]}
    container = origin or hint
    if container is tuple:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return {"type": "array", **({"items": type_to_schema(args[0])} if args else {})}
        items = [type_to_schema(arg) for arg in args]
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    if container in _ARRAYS:
        if args and args[0] is not Any:
            return {"type": "array", "items": type_to_schema(args[0])}
        return {"type": "array"}
    if container in _MAPPINGS:
        if len(args) == 2 and args[1] is not Any:
            return {"type": "object", "additionalProperties": type_to_schema(args[1])}
        return {"type": "object"}
    structured = _object_schema(hint)
    if structured is not None:
        return structured
    raise _UnsupportedType(hint)


def _describe_hint(hint: Any) -> str:
    return hint if isinstance(hint, str) else getattr(hint, "__qualname__", None) or repr(hint)


_SUPPORTED = (
    "str, int, float, bool, list/list[T], tuple, set, dict/dict[K, V], Any, None, Optional[X] / X | None, "
    "Union[A, B], Literal[...], Enum, TypedDict, dataclasses, PIL.Image.Image"
)


def function_schema(func: Callable[..., Any], localns: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build name, description, inputs, output_type (and output_schema) for ``@tool``.

    Every problem raises :class:`UserError` naming the function, so a bad tool fails where it
    is defined instead of confusing the model later. ``localns`` resolves string annotations
    that name types local to the defining scope.
    """
    name = getattr(func, "__name__", repr(func))
    where = f"@tool function '{name}'"
    if not (func.__doc__ or "").strip():
        raise UserError(
            f"{where} has no docstring. Add one: a description of what the tool does, then an "
            "'Args:' section with one line per parameter, e.g.\n"
            f'    """Describe {name}.\n\n    Args:\n        x: what x is.\n    """'
        )
    description, arg_docs, returns = parse_docstring(func.__doc__ or "")
    try:
        hints = typing.get_type_hints(func, localns=localns, include_extras=True)
    except Exception as exc:
        raise UserError(
            f"{where}: its type hints could not be resolved ({exc}). Import every type it "
            "names at module level so typing.get_type_hints() can find it."
        ) from exc

    inputs: dict[str, dict[str, Any]] = {}
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise UserError(
                f"{where}: parameter '{param.name}' is variadic (*args/**kwargs). Tools need "
                "named parameters so the model knows what to pass; list each one explicitly."
            )
        if param.name not in hints:
            raise UserError(
                f"{where}: parameter '{param.name}' has no type hint. Add one, e.g. "
                f"'{param.name}: str'. Supported types: {_SUPPORTED}."
            )
        if param.name not in arg_docs:
            raise UserError(
                f"{where}: parameter '{param.name}' has no description in the docstring's "
                f"'Args:' section. Add a line '{param.name}: <what it is>' under 'Args:'."
            )
        try:
            schema = type_to_schema(hints[param.name])
        except _UnsupportedType as exc:
            raise UserError(
                f"{where}: parameter '{param.name}' has unsupported type hint "
                f"'{_describe_hint(exc.hint)}'. Supported types: {_SUPPORTED}."
            ) from None
        schema["description"] = arg_docs[param.name]
        if param.default is not param.empty:
            schema["nullable"] = True
        inputs[param.name] = schema

    unknown = [arg for arg in arg_docs if arg not in inputs]
    if unknown:
        raise UserError(
            f"{where}: the 'Args:' section describes {unknown}, which "
            f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'} of the "
            f"function (parameters: {list(inputs)}). Fix the spelling or remove the entry."
        )
    if "return" not in hints:
        raise UserError(
            f"{where} has no return type hint. Add one to the signature, e.g. "
            f"'def {name}(...) -> str:' (use '-> None' if it returns nothing)."
        )
    try:
        output = type_to_schema(hints["return"])
    except _UnsupportedType as exc:
        raise UserError(
            f"{where}: unsupported return type hint '{_describe_hint(exc.hint)}'. "
            f"Supported types: {_SUPPORTED}."
        ) from None
    output_type = output["type"] if isinstance(output["type"], str) else "any"
    output_schema = to_json_schema(output) if "properties" in output else None
    return {
        "name": name,
        "description": description,
        "inputs": inputs,
        "output_type": output_type,
        "output_schema": output_schema,
        "output_description": returns,
    }


# --------------------------------------------------------------------------- checks


def _type_problem(kind: Any, where: str) -> str | None:
    kinds = kind if isinstance(kind, list) else [kind]
    if not kinds or not all(isinstance(k, str) and k in AUTHORIZED_TYPES for k in kinds):
        return f"{where} has type {kind!r}; use one of {list(AUTHORIZED_TYPES)} (or a list of them)"
    return None


def definition_problems(inputs: Any, output_type: Any, output_schema: Any) -> list[str]:
    """Everything wrong with a tool's declared ``inputs`` / ``output_type`` / ``output_schema``."""
    problems: list[str] = []
    if not isinstance(inputs, dict):
        problems.append(
            f"'inputs' must be a dict {{name: {{'type': ..., 'description': ...}}}}, got {type(inputs).__name__}"
        )
    else:
        for key, spec in inputs.items():
            where = f"inputs[{key!r}]"
            if not isinstance(key, str) or not key.isidentifier():
                problems.append(f"input name {key!r} is not a valid Python identifier")
            if not isinstance(spec, dict):
                problems.append(f"{where} must be a dict with 'type' and 'description', got {spec!r}")
                continue
            if "type" not in spec:
                problems.append(f"{where} has no 'type'; add one of {list(AUTHORIZED_TYPES)}")
            elif problem := _type_problem(spec["type"], where):
                problems.append(problem)
            if not isinstance(spec.get("description"), str):
                problems.append(f"{where} has no 'description' string; add one saying what to pass")
            if not isinstance(spec.get("nullable", False), bool):
                problems.append(f"{where}['nullable'] must be True or False")
    if not isinstance(output_type, str) or output_type not in AUTHORIZED_TYPES:
        problems.append(f"'output_type' is {output_type!r}; use one of {list(AUTHORIZED_TYPES)}")
    if output_schema is not None and not isinstance(output_schema, dict):
        problems.append(
            f"'output_schema' must be a JSON-schema dict or None, got {type(output_schema).__name__}"
        )
    return problems


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
