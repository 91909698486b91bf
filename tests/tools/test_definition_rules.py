"""Definition-time rules: zero-argument @tool without a return hint, ``nullable`` agreeing
with forward()'s defaults and Optional hints, and ``(choices: [...])`` becoming an enum."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from smolagents.default_tools import PythonInterpreterTool
from smolagents.errors import InterpreterError, UserError
from smolagents.tools import Tool, tool

# ----------------------------------------------------------------- zero-argument @tool


def test_zero_argument_tool_without_return_hint_outputs_null() -> None:
    calls: list[str] = []

    @tool
    def clear_cache():  # the point: no return hint
        """Clears the cache."""
        calls.append("cleared")

    assert clear_cache.inputs == {}
    assert clear_cache.output_type == "null"
    assert clear_cache() is None
    assert calls == ["cleared"]
    assert "def clear_cache() -> null:" in clear_cache.to_code_prompt()


def test_tool_with_arguments_still_needs_a_return_hint() -> None:
    with pytest.raises(UserError, match="has no return type hint"):

        @tool
        def echo(text: str):
            """Echoes.

            Args:
                text: what to echo.
            """
            return text


# ----------------------------------------------------------------- nullable vs forward()


def _tool_class(inputs: dict[str, Any], forward: Any) -> type[Tool]:
    return type(
        "Probe",
        (Tool,),
        {
            "name": "probe",
            "description": "Probes.",
            "inputs": inputs,
            "output_type": "string",
            "forward": forward,
        },
    )


def test_nullable_input_without_default_or_optional_hint_is_refused() -> None:
    def forward(self: Tool, query: str, limit: int) -> str:
        return query

    probe = _tool_class(
        {
            "query": {"type": "string", "description": "q"},
            "limit": {"type": "integer", "description": "n", "nullable": True},
        },
        forward,
    )
    with pytest.raises(UserError) as info:
        probe()
    message = str(info.value)
    assert "inputs['limit'] is nullable" in message
    assert "'limit' has no default" in message
    assert "limit: ... | None = None" in message


def test_default_without_nullable_is_refused() -> None:
    def forward(self: Tool, query: str, limit: int = 10) -> str:
        return query

    probe = _tool_class(
        {"query": {"type": "string", "description": "q"}, "limit": {"type": "integer", "description": "n"}},
        forward,
    )
    with pytest.raises(UserError) as info:
        probe()
    message = str(info.value)
    assert "forward() gives 'limit' a default (10)" in message
    assert "add \"nullable\": True to inputs['limit']" in message


def test_optional_hint_without_nullable_is_refused() -> None:
    def forward(self: Tool, query: Optional[str]) -> str:  # noqa: UP045 - the Optional spelling on purpose
        return query or ""

    probe = _tool_class({"query": {"type": "string", "description": "q"}}, forward)
    with pytest.raises(UserError, match=r"hints 'query' as Optional, but inputs\['query'\] is not nullable"):
        probe()


@pytest.mark.parametrize(
    "signature",
    [
        "def forward(self, q: str, n: int | None = None) -> str: return q",
        "def forward(self, q: str, n: int = 3) -> str: return q",
        "def forward(self, q: str, n: 'int | None') -> str: return q",
        "def forward(self, q: str, n: Any) -> str: return q",
    ],
)
def test_consistent_nullable_inputs_are_accepted(signature: str) -> None:
    namespace: dict[str, Any] = {"Any": Any}
    exec(signature, namespace)
    probe = _tool_class(
        {
            "q": {"type": "string", "description": "q"},
            "n": {"type": "integer", "description": "n", "nullable": True},
        },
        namespace["forward"],
    )
    assert probe()(q="x") == "x"


def test_any_typed_required_input_is_accepted() -> None:
    def forward(self: Tool, answer: Any) -> Any:
        return answer

    echo = _tool_class({"answer": {"type": "any", "description": "a"}}, forward)
    assert echo()(answer=None) is None


# ----------------------------------------------------------------- (choices: [...])


def test_choices_in_argument_description_become_an_enum() -> None:
    @tool
    def convert(value: float, unit: str, precision: int = 2) -> str:
        """Converts a temperature.

        Args:
            value: the temperature.
            unit: the target unit (choices: ["celsius", "fahrenheit"]).
            precision: digits to keep (choices: [0, 1, 2]).
        """
        return f"{value:.{precision}f} {unit}"

    assert convert.inputs["unit"] == {
        "type": "string",
        "description": "the target unit.",
        "enum": ["celsius", "fahrenheit"],
    }
    assert convert.inputs["precision"]["enum"] == [0, 1, 2]
    schema = convert.to_json_schema()["function"]["parameters"]["properties"]
    assert schema["unit"]["enum"] == ["celsius", "fahrenheit"]
    assert "Allowed values: 'celsius', 'fahrenheit'." in convert.to_code_prompt()


def test_bare_word_choices_are_strings() -> None:
    @tool
    def pick(mode: str) -> str:
        """Picks a mode.

        Args:
            mode: how to pick (choices: [fast, careful])
        """
        return mode

    assert pick.inputs["mode"]["enum"] == ["fast", "careful"]
    assert pick.inputs["mode"]["description"] == "how to pick"


def test_choices_that_do_not_match_the_hint_are_refused() -> None:
    with pytest.raises(UserError) as info:

        @tool
        def level(n: int) -> int:
            """Sets a level.

            Args:
                n: the level (choices: ["low", "high"]).
            """
            return n

    message = str(info.value)
    assert "parameter 'n'" in message
    assert "['low', 'high']" in message
    assert "integer" in message


# ----------------------------------------------------------------- PythonInterpreterTool


def test_python_interpreter_timeout_is_honoured() -> None:
    interpreter = PythonInterpreterTool(timeout_seconds=0.2)
    assert interpreter(code="print(1 + 1)").startswith("Stdout:\n2")
    with pytest.raises(InterpreterError, match=r"time limit of 0\.2 seconds"):
        interpreter(code="while True:\n    pass")


def test_python_interpreter_bad_timeout_is_refused() -> None:
    with pytest.raises(UserError, match=r"timeout_seconds must be a positive number.*got -1"):
        PythonInterpreterTool(timeout_seconds=-1)
