# ruff: noqa: UP007, UP045  (the typing forms are what these tests are about)
"""Schemas from type hints and Google-style docstrings, and definition-time errors of @tool."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Literal, Optional, TypedDict, Union

import pytest
from PIL import Image

from smolagents.agent_types import AgentAudio, AgentImage
from smolagents.errors import UserError
from smolagents.tools import tool
from smolagents.tools._json_schema import to_json_schema
from smolagents.tools._schema import parse_docstring, type_to_schema


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(TypedDict):
    x: int
    y: int


@dataclasses.dataclass
class Person:
    name: str
    age: int = 0


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (str, {"type": "string"}),
        (bool, {"type": "boolean"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (list, {"type": "array"}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (list[list[str]], {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}),
        (tuple, {"type": "array"}),
        (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
        (
            tuple[int, str],
            {
                "type": "array",
                "prefixItems": [{"type": "integer"}, {"type": "string"}],
                "minItems": 2,
                "maxItems": 2,
            },
        ),
        (set[str], {"type": "array", "items": {"type": "string"}}),
        (dict, {"type": "object"}),
        (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
        (dict[str, Any], {"type": "object"}),
        (Any, {"type": "any"}),
        (None, {"type": "null"}),
        (Optional[int], {"type": "integer", "nullable": True}),
        (int | None, {"type": "integer", "nullable": True}),
        (Union[int, str], {"type": ["integer", "string"]}),
        (int | str | None, {"type": ["integer", "string"], "nullable": True}),
        (Union[int, Any], {"type": "any"}),
        (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
        (Literal[1, 2], {"type": "integer", "enum": [1, 2]}),
        (Literal["a", 1], {"type": ["string", "integer"], "enum": ["a", 1]}),
        (Literal["a", None], {"type": "string", "enum": ["a"], "nullable": True}),
        (Color, {"type": "string", "enum": ["red", "blue"]}),
        (Image.Image, {"type": "image"}),
        (AgentImage, {"type": "image"}),
        (AgentAudio, {"type": "audio"}),
        (
            Point,
            {
                "type": "object",
                "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
                "required": ["x", "y"],
            },
        ),
        (
            Person,
            {
                "type": "object",
                "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                "required": ["name"],
            },
        ),
    ],
)
def test_type_to_schema(hint: Any, expected: dict[str, Any]) -> None:
    assert type_to_schema(hint) == expected


def test_parse_docstring_multiline_args_and_returns() -> None:
    doc = """Search the web.

    Second paragraph of the description.
        Indented detail stays in the description.

    Args:
        query (str): what to search,
            continued on a second line
            and a third.
        limit: how many results.

    Returns:
        The results,
        as markdown.
    """
    description, args, returns = parse_docstring(doc)
    assert description == (
        "Search the web.\n\nSecond paragraph of the description.\n    Indented detail stays in the description."
    )
    assert args == {
        "query": "what to search, continued on a second line and a third.",
        "limit": "how many results.",
    }
    assert returns == "The results, as markdown."


def test_parse_docstring_korean_headers_from_the_docs() -> None:
    doc = """현재 페이지에서 검색합니다.
    인자:
        text: 검색할 텍스트
        nth_result: 이동할 n번째 검색 결과 (기본값: 1)
    """
    description, args, _ = parse_docstring(doc)
    assert description == "현재 페이지에서 검색합니다."
    assert args == {"text": "검색할 텍스트", "nth_result": "이동할 n번째 검색 결과 (기본값: 1)"}


def test_tool_decorator_builds_schema_from_hints_and_docstring() -> None:
    @tool
    def get_weather(location: str, celsius: bool = False, days: list[int] | None = None) -> str:
        """Get the weather at a location.

        Args:
            location: the city, for example
                "Paris, France".
            celsius: use degrees Celsius.
            days: which days ahead to include.
        """
        return location

    assert get_weather.name == "get_weather"
    assert get_weather.description == "Get the weather at a location."
    assert get_weather.output_type == "string"
    assert get_weather.output_schema is None
    assert get_weather.inputs == {
        "location": {"type": "string", "description": 'the city, for example "Paris, France".'},
        "celsius": {"type": "boolean", "description": "use degrees Celsius.", "nullable": True},
        "days": {
            "type": "array",
            "items": {"type": "integer"},
            "nullable": True,
            "description": "which days ahead to include.",
        },
    }


def test_tool_return_types() -> None:
    @tool
    def nothing() -> None:
        """Does nothing."""

    @tool
    def point(x: int) -> Point:
        """Makes a point.

        Args:
            x: the abscissa.
        """
        return {"x": x, "y": 0}

    @tool
    def either(x: int) -> int | str:
        """Returns an int or a str.

        Args:
            x: a number.
        """
        return x

    assert nothing.output_type == "null"
    assert nothing.inputs == {}
    assert either.output_type == "any"
    assert point.output_type == "object"
    assert point.output_schema == {
        "type": "object",
        "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
        "required": ["x", "y"],
    }


def test_to_json_schema_translation() -> None:
    assert to_json_schema({"type": "any", "description": "d"}) == {"description": "d"}
    assert to_json_schema({"type": "image", "description": "d"}) == {"type": "string", "description": "d"}
    assert to_json_schema({"type": ["integer", "string"], "nullable": True}) == {
        "type": ["integer", "string", "null"]
    }
    assert to_json_schema({"type": "array", "items": {"type": "audio"}}) == {
        "type": "array",
        "items": {"type": "string"},
    }


# ----------------------------------------------------------------- definition-time errors


def test_no_docstring_names_function() -> None:
    with pytest.raises(UserError, match=r"@tool function 'undocumented' has no docstring"):

        @tool
        def undocumented(x: int) -> int:
            return x


def test_missing_args_entry_names_parameter() -> None:
    with pytest.raises(UserError) as info:

        @tool
        def half_documented(a: int, b: int) -> int:
            """Adds numbers.

            Args:
                a: the first number.
            """
            return a + b

    message = str(info.value)
    assert "half_documented" in message
    assert "'b'" in message
    assert "Args:" in message


def test_missing_args_section_entirely() -> None:
    with pytest.raises(UserError, match=r"'no_args'.*parameter 'x' has no description"):

        @tool
        def no_args(x: int) -> int:
            """Does something with x."""
            return x


def test_missing_parameter_type_hint() -> None:
    with pytest.raises(UserError, match=r"'untyped'.*parameter 'x' has no type hint"):

        @tool
        def untyped(x) -> int:  # type: ignore[no-untyped-def]
            """Doubles.

            Args:
                x: a number.
            """
            return x * 2


def test_missing_return_type_hint() -> None:
    with pytest.raises(UserError, match=r"'no_return'.*has no return type hint"):

        @tool
        def no_return(x: int):  # type: ignore[no-untyped-def]
            """Doubles.

            Args:
                x: a number.
            """
            return x * 2


def test_unsupported_type_hint() -> None:
    with pytest.raises(UserError, match=r"'complex_tool'.*parameter 'x' has unsupported type hint 'complex'"):

        @tool
        def complex_tool(x: complex) -> str:
            """Formats.

            Args:
                x: a number.
            """
            return str(x)


def test_args_entry_for_unknown_parameter() -> None:
    with pytest.raises(UserError, match=r"'typo'.*describes \['locaton'\]"):

        @tool
        def typo(location: str) -> str:
            """Looks up a place.

            Args:
                location: the place.
                locaton: oops.
            """
            return location


def test_variadic_parameters_rejected() -> None:
    with pytest.raises(UserError, match=r"'variadic'.*'kwargs' is variadic"):

        @tool
        def variadic(**kwargs: int) -> int:
            """Sums.

            Args:
                kwargs: numbers.
            """
            return sum(kwargs.values())


def test_unresolvable_string_annotation() -> None:
    with pytest.raises(UserError, match=r"'forward_ref'.*could not be resolved"):

        @tool
        def forward_ref(x: NotDefinedAnywhere) -> str:  # type: ignore[name-defined] # noqa: F821
            """Uses a missing type.

            Args:
                x: a value.
            """
            return str(x)
