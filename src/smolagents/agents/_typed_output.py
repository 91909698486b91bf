"""Typed final answers: ``agent.run(task, output_type=...)`` returns a validated object.

An output type is a pydantic model, a dataclass, a ``TypedDict`` or a JSON-schema dict.
It becomes one JSON schema, which the model is shown (in the system prompt, and for a
ToolCallingAgent as the schema of ``final_answer``'s ``answer`` argument), and against which
the final answer is checked before the run accepts it. A failed check is the step's error,
with the validation message, so the model can fix its answer on the next step; after
``output_retries`` failed answers the run stops with :class:`OutputValidationError`.

The value is returned as the type itself: a pydantic instance, a dataclass instance, a
dict (TypedDict, JSON schema). pydantic is imported only when a pydantic model is given;
dataclasses and TypedDicts are converted by this module, so neither pydantic nor
``jsonschema`` is needed.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import AgentError, UserError
from ._schema_check import schema_errors

__all__ = ["DEFAULT_OUTPUT_RETRIES", "OutputSpec", "OutputValidationError", "output_spec"]

DEFAULT_OUTPUT_RETRIES = 3
"""Failed final answers a typed run tolerates (each one is shown to the model) before it stops."""


class OutputValidationError(AgentError):
    """The final answer does not match the run's ``output_type``.

    Raised inside a step (the model sees the message and answers again), and out of
    ``run()`` once ``output_retries`` failed answers have been given."""


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def _is_pydantic_model(tp: Any) -> bool:
    return (
        isinstance(tp, type)
        and callable(getattr(tp, "model_json_schema", None))
        and callable(getattr(tp, "model_validate", None))
    )


# --------------------------------------------------------------------------- types -> schema
def type_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """JSON schema of a Python annotation (dataclasses and TypedDicts go to ``defs``)."""
    if tp is Any or tp is object:
        return {}
    if tp is type(None) or tp is None:
        return {"type": "null"}
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if tp in simple:
        return {"type": simple[tp]}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [member.value for member in tp]}
    if dataclasses.is_dataclass(tp) or _is_typeddict(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # placeholder: a recursive type refers to itself
            defs[name] = _record_schema(tp, defs)
        return {"$ref": f"#/$defs/{name}"}
    if _is_pydantic_model(tp):
        schema = dict(tp.model_json_schema(ref_template="#/$defs/{model}"))
        defs.update(schema.pop("$defs", {}))
        defs[tp.__name__] = schema
        return {"$ref": f"#/$defs/{tp.__name__}"}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return {"anyOf": [type_schema(arg, defs) for arg in args]}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (list, set, frozenset) or tp in (list, set, frozenset):
        array: dict[str, Any] = {"type": "array"}
        if args:
            array["items"] = type_schema(args[0], defs)
        if origin in (set, frozenset):
            array["uniqueItems"] = True
        return array
    if origin is tuple or tp is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": type_schema(args[0], defs)}
        if args:
            items = [type_schema(arg, defs) for arg in args]
            return {"type": "array", "prefixItems": items, "minItems": len(args), "maxItems": len(args)}
        return {"type": "array"}
    if origin is dict or tp is dict:
        schema = {"type": "object"}
        if len(args) == 2:
            schema["additionalProperties"] = type_schema(args[1], defs)
        return schema
    if origin is typing.Annotated:
        return type_schema(args[0], defs)
    raise UserError(
        f"output_type cannot describe the annotation {tp!r} as JSON. Use str, int, float, bool, None, "
        "list[...], dict[str, ...], tuple[...], Literal[...], Optional/Union, an Enum, a dataclass, a "
        "TypedDict or a pydantic model for every field."
    )


def _record_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(tp)
    if dataclasses.is_dataclass(tp):
        fields = [f for f in dataclasses.fields(tp) if f.init]
        names = [f.name for f in fields]
        required = [
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
    else:
        names = list(hints)
        required = [name for name in names if name in tp.__required_keys__]
    schema: dict[str, Any] = {
        "type": "object",
        "title": tp.__name__,
        "properties": {name: type_schema(hints.get(name, Any), defs) for name in names},
        "required": required,
        "additionalProperties": False,
    }
    if tp.__doc__ and not tp.__doc__.startswith(f"{tp.__name__}("):  # not the generated dataclass doc
        schema["description"] = " ".join(tp.__doc__.split())
    return schema


# --------------------------------------------------------------------------- JSON value -> type
def build_value(tp: Any, value: Any) -> Any:
    """Turn a schema-valid JSON value into ``tp`` (dataclass instances, enums, tuples...)."""
    if value is None or tp is Any or tp is object:
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = typing.get_type_hints(tp)
        return tp(**{key: build_value(hints.get(key, Any), item) for key, item in value.items()})
    if _is_typeddict(tp):
        hints = typing.get_type_hints(tp)
        return {key: build_value(hints.get(key, Any), item) for key, item in value.items()}
    if _is_pydantic_model(tp):
        return tp.model_validate(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if tp is int and isinstance(value, float):
        return int(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return build_value(args[0], value)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        for arg in args:  # the first alternative the value fits
            if not schema_errors(value, _standalone_schema(arg), use_jsonschema=False):
                return build_value(arg, value)
        return value
    if origin in (list, set, frozenset, tuple) and isinstance(value, (list, tuple)):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return tuple(build_value(arg, item) for arg, item in zip(args, value))
        item_type = args[0] if args else Any
        return origin(build_value(item_type, item) for item in value)
    if origin is dict and isinstance(value, Mapping) and len(args) == 2:
        return {key: build_value(args[1], item) for key, item in value.items()}
    return value


def _standalone_schema(tp: Any) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    schema = type_schema(tp, defs)
    return {**schema, "$defs": defs} if defs else schema


def _to_plain(value: Any) -> Any:
    """An answer given as an instance (dataclass, pydantic model) as JSON data, to re-check it."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):
        return value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k) if not isinstance(k, str) else k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_to_plain(v) for v in value]
    if isinstance(value, str):
        return str.__str__(value)  # AgentText and other str subclasses: plain text
    return value


# --------------------------------------------------------------------------- the spec
@dataclass
class OutputSpec:
    """A run's output type: its JSON schema, and how to check and build an answer."""

    output_type: Any
    schema: dict[str, Any]
    name: str

    def schema_json(self) -> str:
        return json.dumps(self.schema, indent=2, ensure_ascii=False)

    def validate(self, answer: Any) -> Any:
        """The answer as the output type; raises :class:`OutputValidationError` saying why not."""
        value = _to_plain(answer)
        if isinstance(value, str) and self.schema.get("type") != "string":
            try:  # models often send the object as JSON text
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        if _is_pydantic_model(self.output_type):
            return self._validate_pydantic(value)
        problems = schema_errors(value, self.schema)
        if problems:
            raise self._error(problems)
        if isinstance(self.output_type, Mapping):
            return value
        try:
            return build_value(self.output_type, value)
        except (TypeError, ValueError) as exc:
            raise self._error([f"at $: {type(exc).__name__}: {exc}"]) from exc

    def _validate_pydantic(self, value: Any) -> Any:
        try:
            return self.output_type.model_validate(value)
        except Exception as exc:  # pydantic.ValidationError, without importing pydantic here
            errors = getattr(exc, "errors", None)
            if callable(errors):
                lines = []
                for item in errors():
                    path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in item["loc"])
                    lines.append(f"at {path}: {item['msg']} (got {_short(item.get('input'))})")
                raise self._error(lines) from exc
            raise self._error([f"at $: {exc}"]) from exc

    def _error(self, problems: list[str]) -> OutputValidationError:
        listed = "\n".join(f"- {p}" for p in problems[:20])
        more = f"\n- ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        return OutputValidationError(
            f"The final answer does not match the required output type {self.name}:\n{listed}{more}\n"
            f"Fix these and give the final answer again as a value matching this JSON schema:\n"
            f"{json.dumps(self.schema, ensure_ascii=False)}"
        )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def output_spec(output_type: Any) -> OutputSpec | None:
    """The :class:`OutputSpec` of ``output_type`` (None for None); a UserError for a type
    that cannot be turned into a JSON schema."""
    if output_type is None:
        return None
    if isinstance(output_type, Mapping):
        schema = dict(output_type)
        if not schema or not any(
            k in schema for k in ("type", "properties", "anyOf", "oneOf", "enum", "$ref")
        ):
            raise UserError(
                f"output_type={output_type!r} is a dict but not a JSON schema: give at least 'type' (e.g. "
                "{'type': 'object', 'properties': {...}, 'required': [...]}), or pass a pydantic model, a "
                "dataclass or a TypedDict."
            )
        return OutputSpec(output_type, schema, str(schema.get("title") or "(JSON schema)"))
    if _is_pydantic_model(output_type):
        schema = output_type.model_json_schema()
        return OutputSpec(output_type, schema, output_type.__name__)
    if (dataclasses.is_dataclass(output_type) and isinstance(output_type, type)) or _is_typeddict(
        output_type
    ):
        defs: dict[str, Any] = {}
        type_schema(output_type, defs)
        schema = dict(defs.pop(output_type.__name__))
        if defs:
            schema["$defs"] = defs
        return OutputSpec(output_type, schema, output_type.__name__)
    raise UserError(
        f"output_type must be a pydantic model class, a dataclass, a TypedDict or a JSON-schema dict; got "
        f"{output_type!r}. For a plain string answer, leave output_type unset."
    )


class TypedOutputRuns:
    """What an agent needs for typed runs: the run's spec, validation and the retry bound."""

    _output_spec: OutputSpec | None
    logger: Any

    def _setup_output_type(self, output_type: Any, output_retries: int) -> None:
        self._default_output = (output_spec(output_type), _check_retries(output_retries))
        self._output_spec, self._output_retries = self._default_output
        self._output_failures = 0

    def _run_output(self, output_type: Any, output_retries: int | None) -> tuple[OutputSpec | None, int]:
        """A run's (spec, retries), checked when the run is requested."""
        spec = output_spec(output_type) if output_type is not None else self._default_output[0]
        retries = self._default_output[1] if output_retries is None else _check_retries(output_retries)
        return spec, retries

    def _begin_typed_run(self, output: tuple[OutputSpec | None, int] | None) -> None:
        self._output_spec, self._output_retries = output if output is not None else self._default_output
        self._output_failures = 0

    def _output_prompt_variables(self) -> dict[str, Any]:
        spec = self._output_spec
        return {"output_schema": spec.schema_json() if spec is not None else None}

    def _with_output_schema(self, template: str, prompt: str) -> str:
        """The system prompt states the output schema; a template that does not use the
        ``output_schema`` variable (the user's own, an older saved agent's) gets it appended."""
        if self._output_spec is None or "output_schema" in template:
            return prompt
        return (
            f"{prompt}\n\nYour final answer must be a value matching this JSON schema (give it as an "
            f"object, not as text):\n{self._output_spec.schema_json()}"
        )

    def _typed_answer(self, answer: Any) -> Any:
        """The final answer validated into the run's output type (unchanged for untyped runs)."""
        if self._output_spec is None:
            return answer
        try:
            return self._output_spec.validate(answer)
        except OutputValidationError:
            self._output_failures += 1
            raise

    def _stop_if_output_retries_spent(self, error: Exception | None) -> None:
        """After a step: end the run once more answers failed validation than allowed."""
        if isinstance(error, OutputValidationError) and self._output_failures > self._output_retries:
            spec = self._output_spec
            raise OutputValidationError(
                f"The run gave {self._output_failures} final answers that do not match the output type "
                f"{spec.name if spec else ''} (output_retries={self._output_retries}); stopping. Last "
                f"problem:\n{error}"
            )

    def _tools_with_typed_final_answer(self, tools: list[Any]) -> list[Any]:
        """Tools as shown to the model: ``final_answer``'s ``answer`` takes the output schema."""
        if self._output_spec is None:
            return tools
        return [_TypedFinalAnswer(t, self._output_spec) if t.name == "final_answer" else t for t in tools]


class _TypedFinalAnswer:
    """The final_answer tool as presented to the model of a typed run (its schema only; the
    call still runs the agent's own final_answer tool)."""

    def __init__(self, tool: Any, spec: OutputSpec) -> None:
        self.tool = tool
        self.name = tool.name
        self.spec = spec

    def to_json_schema(self) -> dict[str, Any]:
        answer = {k: v for k, v in self.spec.schema.items() if k != "$defs"}
        parameters: dict[str, Any] = {
            "type": "object",
            "properties": {"answer": answer},
            "required": ["answer"],
        }
        if "$defs" in self.spec.schema:  # refs are '#/$defs/...': they must sit at the root
            parameters["$defs"] = self.spec.schema["$defs"]
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": f"{self.tool.description} The answer must be a {self.spec.name} matching "
                "the schema of `answer`.",
                "parameters": parameters,
            },
        }

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tool, name)


def _check_retries(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UserError(
            f"output_retries must be an integer >= 0 (how many invalid final answers the model may fix), "
            f"got {value!r}."
        )
    return value
