"""Building an agent stays cheap: the packaged prompts parse without a YAML library, the
system prompt renders (Jinja) when first read, the console (rich) appears when a run logs,
and the local sandbox is built when code first runs."""

from __future__ import annotations

import importlib.resources
import subprocess
import sys

import pytest
import yaml

from smolagents import CodeAgent, LogLevel, ToolCallingAgent, UserError
from smolagents.agents._prompts import parse_block_yaml
from smolagents.local_python_executor import LocalPythonExecutor
from smolagents.testing import ScriptedModel


@pytest.mark.parametrize("name", ["code_agent", "structured_code_agent", "toolcalling_agent"])
def test_packaged_prompt_files_parse_the_same_as_with_pyyaml(name: str) -> None:
    text = (
        importlib.resources.files("smolagents.prompts").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    )
    parsed = parse_block_yaml(text)
    assert parsed is not None
    assert parsed == yaml.safe_load(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\n",
        "- item\n",
        "a: |\n  keep\n",
        "a: |-\n",
        "a: |-\n  x\na: |-\n  y\n",
        "a: 'quoted'\n",
        "a:\n",  # null in YAML, not an empty mapping
        "a: |-\n    deeper first\n  then shallower\n",
        "a: |-\n  x\n     \n  y\n",  # spaces past the indentation on a blank line
    ],
)
def test_anything_beyond_the_subset_is_left_to_a_real_yaml_parser(text: str) -> None:
    assert parse_block_yaml(text) is None


def test_block_scalars_keep_inner_blank_lines_and_drop_trailing_ones() -> None:
    text = "outer:\n  inner: |-\n    line one\n\n      indented\n    last\n\n\nnext: |-\n  x\n"
    assert parse_block_yaml(text) == yaml.safe_load(text)


def test_constructing_agents_loads_neither_jinja_rich_yaml_nor_the_sandbox() -> None:
    code = (
        "import sys\n"
        "import smolagents\n"
        "from smolagents.testing import ScriptedModel\n"
        "before = set(sys.modules)\n"
        "smolagents.CodeAgent(tools=[], model=ScriptedModel(['x'], allow_unused_replies=True))\n"
        "smolagents.ToolCallingAgent(tools=[], model=ScriptedModel(['x'], allow_unused_replies=True))\n"
        "new = set(sys.modules) - before\n"
        "print(sorted(m for m in new if m.split('.')[0] in ('jinja2', 'rich', 'yaml')"
        " or m.startswith('smolagents.local_python_executor')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_system_prompt_and_the_sandbox_appear_when_first_needed() -> None:
    model = ScriptedModel(["<code>\nfinal_answer(6 * 7)\n</code>"])
    agent = CodeAgent(tools=[], model=model, verbosity_level=LogLevel.OFF)
    assert agent._python_executor is None and agent._system_prompt is None
    assert "final_answer" in agent.system_prompt
    assert agent.memory.system_prompt.system_prompt == agent.system_prompt
    assert isinstance(agent.python_executor, LocalPythonExecutor)
    assert agent.run("answer") == 42


def test_a_broken_template_is_reported_when_the_prompt_is_first_rendered() -> None:
    agent = ToolCallingAgent(tools=[], model=ScriptedModel([], allow_unused_replies=True), verbosity_level=0)
    agent.prompt_templates["system_prompt"] = "Hello {{ no_such_variable }}"
    with pytest.raises(UserError, match="no_such_variable"):
        _ = agent.system_prompt


def test_an_executor_passed_in_is_used_and_never_replaced() -> None:
    executor = LocalPythonExecutor([])
    model = ScriptedModel(["<code>\nfinal_answer(1)\n</code>"])
    agent = CodeAgent(tools=[], model=model, executor=executor, verbosity_level=LogLevel.OFF)
    assert agent.python_executor is executor
    assert agent.run("x") == 1
    agent.cleanup()
