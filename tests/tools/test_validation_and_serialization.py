"""validate_tool_arguments, and to_dict / from_dict / from_code / save round trips."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any, Literal

import pytest

from smolagents.default_tools import FinalAnswerTool
from smolagents.errors import AgentToolCallError, UserError
from smolagents.tools import Tool, tool, validate_tool_arguments

ROUNDING = 3


@tool
def describe(name: str, count: int, ratio: float = 1.0, mode: Literal["fast", "slow"] = "fast") -> str:
    """Describes things.

    Args:
        name: what to describe.
        count: how many.
        ratio: a ratio.
        mode: how fast.
    """
    return f"{name}:{count}:{ratio}:{mode}"


@tool
def tags(values: list[str], extra: dict[str, Any] | None = None) -> int:
    """Counts tags.

    Args:
        values: the tags.
        extra: anything else.
    """
    return len(values)


# ----------------------------------------------------------------- validation


def test_valid_arguments_pass() -> None:
    validate_tool_arguments(describe, {"name": "x", "count": 2})
    validate_tool_arguments(describe, {"name": "x", "count": 2, "ratio": 3, "mode": "slow"})  # int for number
    validate_tool_arguments(describe, {"name": "x", "count": 2, "ratio": None})  # None for nullable
    validate_tool_arguments(tags, {"values": ["a", "b"]})
    validate_tool_arguments(FinalAnswerTool(), {"answer": object()})  # any accepts anything
    validate_tool_arguments(FinalAnswerTool(), 42)  # a bare value for a one-input tool


def test_missing_argument() -> None:
    with pytest.raises(AgentToolCallError) as info:
        validate_tool_arguments(describe, {"name": "x"})
    message = str(info.value)
    assert "describe" in message
    assert "missing required argument 'count'" in message
    assert '"type": "integer"' in message


def test_unexpected_argument() -> None:
    with pytest.raises(AgentToolCallError) as info:
        validate_tool_arguments(describe, {"name": "x", "count": 1, "colour": "red"})
    message = str(info.value)
    assert "unexpected argument(s) ['colour']" in message
    assert "'red'" in message
    assert "name (string)" in message and "ratio (number, optional)" in message


def test_wrong_type_reports_value_and_schema() -> None:
    with pytest.raises(AgentToolCallError) as info:
        validate_tool_arguments(describe, {"name": "x", "count": "three"})
    message = str(info.value)
    assert "argument 'count' expected integer, got str" in message
    assert "received 'three'" in message
    assert '{"type": "integer", "description": "how many."}' in message


def test_bool_is_not_an_integer_and_enum_is_enforced() -> None:
    with pytest.raises(AgentToolCallError, match="argument 'count' expected integer, got bool"):
        validate_tool_arguments(describe, {"name": "x", "count": True})
    with pytest.raises(AgentToolCallError, match=r"argument 'mode' must be one of \['fast', 'slow'\]"):
        validate_tool_arguments(describe, {"name": "x", "count": 1, "mode": "medium"})


def test_none_for_required_and_array_items() -> None:
    with pytest.raises(
        AgentToolCallError, match="argument 'name' got None, but this argument is not nullable"
    ):
        validate_tool_arguments(describe, {"name": None, "count": 1})
    with pytest.raises(AgentToolCallError, match="argument 'values' item 1: expected string, got int"):
        validate_tool_arguments(tags, {"values": ["a", 2]})


def test_non_dict_arguments_for_multi_input_tool() -> None:
    with pytest.raises(AgentToolCallError, match="needs its arguments as a dict"):
        validate_tool_arguments(describe, "just a string")


# ----------------------------------------------------------------- serialisation


def _round(value: float) -> float:
    return round(value, ROUNDING)


@tool
def circle_area(radius: float) -> float:
    """Computes the area of a circle.

    Args:
        radius: the radius.
    """
    return _round(math.pi * radius**2)


class CounterTool(Tool):
    name = "counter"
    description = "Counts the words of a text."
    inputs = {"text": {"type": "string", "description": "The text."}}
    output_type = "integer"

    def forward(self, text: str) -> int:
        return len(re.findall(r"\w+", text))


def test_to_dict_of_function_tool_is_self_contained() -> None:
    data = circle_area.to_dict()
    assert data["name"] == "circle_area"
    assert data["inputs"] == circle_area.inputs
    assert data["output_type"] == "number"
    assert data["output_schema"] is None
    code = data["code"]
    assert "import math" in code
    assert "ROUNDING = 3" in code
    assert "def _round(value: float) -> float:" in code
    assert "@tool\ndef circle_area" in code
    assert data["requirements"] == []
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # runs on its own
    assert namespace["circle_area"](radius=1.0) == 3.142


def test_from_dict_round_trip_function_tool() -> None:
    rebuilt = Tool.from_dict(circle_area.to_dict())
    assert rebuilt.name == "circle_area"
    assert rebuilt.inputs == circle_area.inputs
    assert rebuilt(2.0) == circle_area(2.0)
    assert rebuilt.to_dict()["code"] == circle_area.to_dict()["code"]


def test_from_dict_round_trip_class_tool() -> None:
    data = CounterTool().to_dict()
    assert "import re" in data["code"]
    assert "from smolagents.tools import Tool" in data["code"]
    rebuilt = Tool.from_dict(data)
    assert type(rebuilt).__name__ == "CounterTool"
    assert rebuilt(text="one two three") == 3
    assert rebuilt.to_dict() == data


def test_requirements_list_third_party_imports() -> None:
    code = "import numpy as np\nfrom PIL import Image\nimport os\nfrom smolagents import tool\n"
    from smolagents.tools._source import code_requirements

    assert code_requirements(code) == ["numpy", "pillow"]


def test_from_code_without_tool_fails_clearly() -> None:
    with pytest.raises(UserError, match="defines no Tool subclass and no @tool function"):
        Tool.from_code("x = 1\n")


UNSERIALISABLE = object()


@tool
def uses_global_object() -> str:
    """Uses a global that cannot be written as code."""
    return str(UNSERIALISABLE)


def test_to_dict_with_unserialisable_global_says_why() -> None:
    with pytest.raises(UserError, match=r"'uses_global_object'.*global 'UNSERIALISABLE' \(object\)"):
        uses_global_object.to_dict()


def test_save_writes_tool_requirements_and_app(tmp_path: Path) -> None:
    CounterTool().save(tmp_path)
    assert (tmp_path / "tool.py").read_text() == CounterTool().to_dict()["code"]
    assert (tmp_path / "requirements.txt").read_text().split() == ["smolagents", "gradio"]
    app = (tmp_path / "app.py").read_text()
    assert "Tool.from_code" in app
    compile(app, "app.py", "exec")
    sys.modules.pop("tool", None)
    loaded = Tool.from_code((tmp_path / "tool.py").read_text())
    assert loaded("a b") == 2


@tool
def quote_url(text: str) -> str:
    """URL-quotes a text.

    Args:
        text: the text to quote.
    """
    return urllib.parse.quote(text)


def test_serialised_code_runs_in_a_fresh_interpreter(tmp_path: Path) -> None:
    code = quote_url.to_dict()["code"]
    assert "import urllib.parse" in code
    script = tmp_path / "run_tool.py"
    script.write_text(code + "\nprint(quote_url(text='a b'))\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "a%20b"
