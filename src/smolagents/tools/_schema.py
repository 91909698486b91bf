"""Tool schemas from Python type hints and Google-style docstrings, and definition checks.

``@tool`` builds a tool's ``inputs`` (in the dialect of :mod:`._json_schema`) from the function's
type hints and its docstring's ``Args:`` section (:func:`function_schema`); a ``Tool`` subclass
gets its declared ``inputs``/``output_type`` checked (:func:`definition_problems`) and its
``nullable`` flags compared with ``forward()`` (:func:`nullable_problems`). Every problem is
reported when the tool is defined, to its author, rather than to a model later. Imports nothing
heavy: PIL types are recognised by name.
"""

from __future__ import annotations

import ast
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

from ..errors import UserError
from ._json_schema import AUTHORIZED_TYPES, check_value, schema_text, to_json_schema

__all__ = [
    "definition_problems",
    "function_schema",
    "nullable_problems",
    "parse_docstring",
    "type_to_schema",
]

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
    model_json_schema = getattr(hint, "model_json_schema", None) if isinstance(hint, type) else None
    if callable(model_json_schema):  # pydantic models, recognised without importing pydantic
        return {**model_json_schema(), "type": "object"}
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


_CHOICES_RE = re.compile(r"\s*\(\s*choices\s*:\s*(\[.*?\])\s*\)", re.IGNORECASE | re.DOTALL)


def _split_choices(text: str, where: str) -> tuple[str, list[Any] | None]:
    """Take ``(choices: [...])`` out of an argument description: the values become an ``enum``.

    Models read the enum from the schema (and CodeAgent prompts list it as "Allowed values"),
    so the marker is removed from the description rather than shown twice. Values are Python
    or JSON literals; bare words (``[celsius, fahrenheit]``) are read as strings.
    """
    match = _CHOICES_RE.search(text)
    if match is None:
        return text, None
    raw = match.group(1)
    values: Any = None
    for parse in (json.loads, ast.literal_eval):
        try:
            values = parse(raw)
            break
        except (ValueError, SyntaxError):
            continue
    else:
        inner = raw[1:-1].strip()
        values = [item.strip().strip("'\"") for item in inner.split(",")] if inner else []
    if not isinstance(values, list) or not values:
        raise UserError(
            f"{where}: '(choices: {raw})' in its description must list at least one value, "
            'e.g. (choices: ["celsius", "fahrenheit"]).'
        )
    description = (text[: match.start()] + text[match.end() :]).strip()
    return description or text.strip(), values


def _check_choices(choices: list[Any], schema: dict[str, Any], where: str) -> None:
    bad = [value for value in choices if check_value(value, {**schema, "nullable": True}) is not None]
    if bad:
        raise UserError(
            f"{where}: the choices {bad!r} in its description do not match its type hint "
            f"({schema_text(schema.get('type'))}). Make the choices values of that type, or change the hint."
        )


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
        schema["description"], choices = _split_choices(
            arg_docs[param.name], f"{where}: parameter '{param.name}'"
        )
        if choices is not None:
            _check_choices(choices, schema, f"{where}: parameter '{param.name}'")
            schema["enum"] = choices
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
    if "return" not in hints and not inputs:
        hints["return"] = None  # a zero-argument action, e.g. "clear the cache": returns nothing
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


_NONE_WORDS = re.compile(r"\b(?:None|Optional)\b")
_ANY_WORD = re.compile(r"\bAny\b")


def _hint_admits_none(hint: Any, explicit: bool) -> bool:
    """Whether a resolved hint lets ``None`` through; ``explicit`` ignores ``Any``/unannotated."""
    if hint is inspect.Parameter.empty:
        return not explicit
    if isinstance(hint, str):  # postponed annotation: judged by its text, without resolving names
        return bool(_NONE_WORDS.search(hint)) or (not explicit and bool(_ANY_WORD.search(hint)))
    if typing.get_origin(hint) is typing.Annotated:
        return _hint_admits_none(typing.get_args(hint)[0], explicit)
    if hint is None or hint is type(None):
        return True
    if hint is Any or hint is object:
        return not explicit
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_hint_admits_none(arg, explicit) for arg in typing.get_args(hint))
    if typing.get_origin(hint) is typing.Literal:
        return None in typing.get_args(hint)
    return False


def nullable_problems(inputs: dict[str, Any], params: list[inspect.Parameter]) -> list[str]:
    """Where ``nullable`` in ``inputs`` disagrees with ``forward``'s defaults and ``Optional`` hints.

    ``nullable`` tells the model it may leave an input out; forward() must then cope with the
    value being missing (a default) or None (an ``Optional`` hint; the tool passes None for an
    omitted input). Conversely a default or an ``Optional`` hint means the argument is optional,
    and the schema must say so or the model is made to invent a value. Checked when the tool is
    defined, so the mismatch is fixed by its author rather than discovered by a model.
    """
    problems = []
    for param in params:
        spec = inputs.get(param.name)
        if not isinstance(spec, dict):
            continue
        hint = param.annotation
        has_default = param.default is not param.empty
        if spec.get("nullable"):
            if not has_default and not _hint_admits_none(hint, explicit=False):
                problems.append(
                    f"inputs[{param.name!r}] is nullable (the model may leave it out) but forward() "
                    f"parameter '{param.name}' has no default and its hint does not allow None; "
                    f"give it a default (e.g. '{param.name}: ... | None = None') or remove 'nullable'"
                )
        elif has_default:
            problems.append(
                f"forward() gives '{param.name}' a default ({param.default!r}), so it is optional, but "
                f'inputs[{param.name!r}] is not nullable; add "nullable": True to inputs[{param.name!r}] '
                "or remove the default"
            )
        elif _hint_admits_none(hint, explicit=True):
            problems.append(
                f"forward() hints '{param.name}' as Optional, but inputs[{param.name!r}] is not nullable; "
                f'add "nullable": True to inputs[{param.name!r}] or drop None from the hint'
            )
    return problems
