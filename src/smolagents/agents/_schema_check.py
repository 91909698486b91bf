"""A small JSON-schema validator for typed final answers.

Typed output must work without the ``jsonschema`` package (it is not a dependency of the
library), so this module checks the subset that output schemas use in practice: ``type``
(one or a list), ``enum``, ``const``, ``properties`` / ``required`` /
``additionalProperties``, ``items`` / ``prefixItems`` / ``minItems`` / ``maxItems`` /
``uniqueItems``, string lengths and ``pattern``, numeric bounds, ``anyOf`` / ``oneOf`` /
``allOf`` / ``not``, ``nullable`` and local ``$ref`` (``#/$defs/...``, ``#/definitions/...``).
Unknown keywords (``format``, ``title``, ``description``...) are ignored, as the standard
allows. When ``jsonschema`` is installed, :func:`schema_errors` uses it instead, so the whole
standard applies.

Errors are returned as readable lines with the JSON path of the offending value, because
they are shown to the model so that it can fix its answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["check_schema", "schema_errors"]

_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, Mapping),
    "array": lambda v: isinstance(v, (list, tuple)),
}


def schema_errors(value: Any, schema: Mapping[str, Any], use_jsonschema: bool = True) -> list[str]:
    """Every way ``value`` breaks ``schema`` (empty when it is valid).

    ``jsonschema`` is used when installed (and ``use_jsonschema``); otherwise the subset
    described in the module docstring is checked."""
    if use_jsonschema:
        try:
            import jsonschema
        except ImportError:
            pass
        else:
            validator_class = jsonschema.validators.validator_for(schema)
            errors = sorted(validator_class(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
            return [f"at {_path_text(list(e.absolute_path))}: {e.message}" for e in errors]
    return check_schema(value, schema)


def check_schema(value: Any, schema: Mapping[str, Any]) -> list[str]:
    """The built-in check (no ``jsonschema``): errors as ``"at $.path: what is wrong"``."""
    problems: list[str] = []
    _check(value, schema, schema, [], problems)
    return problems


def _path_text(path: list[Any]) -> str:
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    seen = 0
    while isinstance(schema, Mapping) and "$ref" in schema:
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise ValueError(f"Only local $ref ('#/$defs/...') is supported in output schemas, got {ref!r}.")
        target: Any = root
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or part not in target:
                raise ValueError(f"The $ref {ref!r} of the output schema points nowhere.")
            target = target[part]
        extra = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **extra} if extra else target
        seen += 1
        if seen > 50:
            raise ValueError(f"The $ref {ref!r} of the output schema refers to itself in a loop.")
    return schema


def _check(value: Any, schema: Any, root: Mapping[str, Any], path: list[Any], out: list[str]) -> None:
    if schema is True or schema == {}:
        return
    if schema is False:
        out.append(f"at {_path_text(path)}: no value is allowed here")
        return
    schema = _resolve(schema, root)
    where = f"at {_path_text(path)}"
    if value is None and schema.get("nullable"):
        return
    kinds = schema.get("type")
    if kinds is not None:
        names = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_TYPES.get(name, lambda v: True)(value) for name in names):
            out.append(f"{where}: expected {' or '.join(names)}, got {_describe(value)}")
            return
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {value!r} is not one of {schema['enum']!r}")
    if "const" in schema and value != schema["const"]:
        out.append(f"{where}: expected exactly {schema['const']!r}, got {value!r}")
    for keyword in ("allOf", "anyOf", "oneOf"):
        if keyword in schema:
            _check_combination(keyword, value, schema[keyword], root, path, out)
    if "not" in schema and not check_schema_at(value, schema["not"], root, path):
        out.append(f"{where}: the value matches a schema it must not match")
    if isinstance(value, Mapping):
        _check_object(value, schema, root, path, out)
    elif isinstance(value, (list, tuple)):
        _check_array(value, schema, root, path, out)
    elif isinstance(value, str):
        _check_string(value, schema, where, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(value, schema, where, out)


def check_schema_at(value: Any, schema: Any, root: Mapping[str, Any], path: list[Any]) -> list[str]:
    found: list[str] = []
    _check(value, schema, root, path, found)
    return found


def _check_combination(
    keyword: str, value: Any, options: list[Any], root: Mapping[str, Any], path: list[Any], out: list[str]
) -> None:
    results = [check_schema_at(value, option, root, path) for option in options]
    passed = sum(1 for r in results if not r)
    where = f"at {_path_text(path)}"
    if keyword == "allOf":
        for r in results:
            out.extend(r)
    elif (keyword == "anyOf" and passed == 0) or (keyword == "oneOf" and passed == 0):
        reasons = "; ".join(r[0] for r in results if r)
        out.append(f"{where}: the value matches none of the allowed forms ({reasons})")
    elif keyword == "oneOf" and passed > 1:
        out.append(f"{where}: the value matches {passed} of the forms where exactly one must match")


def _check_object(
    value: Mapping[str, Any],
    schema: Mapping[str, Any],
    root: Mapping[str, Any],
    path: list[Any],
    out: list[str],
) -> None:
    properties = schema.get("properties") or {}
    for name in schema.get("required") or []:
        if name not in value:
            out.append(f"at {_path_text(path)}: missing required field {name!r}")
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            _check(item, properties[key], root, [*path, key], out)
        elif extra is False:
            allowed = sorted(properties)
            out.append(f"at {_path_text(path)}: unexpected field {key!r} (allowed fields: {allowed})")
        elif isinstance(extra, Mapping):
            _check(item, extra, root, [*path, key], out)
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        out.append(f"at {_path_text(path)}: needs at least {schema['minProperties']} fields")
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        out.append(f"at {_path_text(path)}: allows at most {schema['maxProperties']} fields")


def _check_array(
    value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], path: list[Any], out: list[str]
) -> None:
    where = f"at {_path_text(path)}"
    prefix = schema.get("prefixItems") or []
    for index, item in enumerate(value):
        if index < len(prefix):
            _check(item, prefix[index], root, [*path, index], out)
        elif isinstance(schema.get("items"), (Mapping, bool)):
            _check(item, schema["items"], root, [*path, index], out)
    if "minItems" in schema and len(value) < schema["minItems"]:
        out.append(f"{where}: needs at least {schema['minItems']} items, got {len(value)}")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        out.append(f"{where}: allows at most {schema['maxItems']} items, got {len(value)}")
    if schema.get("uniqueItems"):
        seen: list[Any] = []
        for item in value:
            if item in seen:
                out.append(f"{where}: items must be unique, {item!r} appears twice")
                break
            seen.append(item)


def _check_string(value: str, schema: Mapping[str, Any], where: str, out: list[str]) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        out.append(f"{where}: needs at least {schema['minLength']} characters, got {len(value)}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        out.append(f"{where}: allows at most {schema['maxLength']} characters, got {len(value)}")
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        out.append(f"{where}: {value!r} does not match the pattern {schema['pattern']!r}")


def _check_number(value: float, schema: Mapping[str, Any], where: str, out: list[str]) -> None:
    bounds = (
        ("minimum", lambda v, b: v >= b, ">="),
        ("maximum", lambda v, b: v <= b, "<="),
        ("exclusiveMinimum", lambda v, b: v > b, ">"),
        ("exclusiveMaximum", lambda v, b: v < b, "<"),
    )
    for keyword, ok, sign in bounds:
        bound = schema.get(keyword)
        if isinstance(bound, (int, float)) and not isinstance(bound, bool) and not ok(value, bound):
            out.append(f"{where}: must be {sign} {bound}, got {value!r}")
    step = schema.get("multipleOf")
    if isinstance(step, (int, float)) and step and (value / step) % 1:
        out.append(f"{where}: must be a multiple of {step}, got {value!r}")


def _describe(value: Any) -> str:
    kind = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )
    text = repr(value)
    return f"{kind} {text[:60] + '...' if len(text) > 60 else text}"
