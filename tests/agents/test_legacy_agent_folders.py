"""Agents already shared on the Hub load (issue 8): their ``agent.json`` keeps settings at
the top level, ``model`` as ``{class, data}``, tools and managed agents by name, and the
retired facts prompts. The folders here are written by hand in that layout."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import openai  # noqa: F401  (in the test extra: fail if missing, never skip)
import pytest

from smolagents import CodeAgent, LogLevel, MultiStepAgent, OpenAIServerModel, ToolCallingAgent, UserError
from smolagents.testing import ScriptedModel

WEATHER_TOOL = textwrap.dedent(
    """\
    from typing import Any, Optional
    from smolagents.tools import Tool

    class GetWeatherTool(Tool):
        name = "get_weather"
        description = "Get the weather in a city."
        inputs = {'city': {'type': 'string', 'description': 'The city.'}}
        output_type = "string"

        def forward(self, city: str) -> str:
            return f"Sunny in {city}"

        def __init__(self, *args, **kwargs):
            self.is_initialized = False
    """
)

FINAL_ANSWER_TOOL = textwrap.dedent(
    """\
    from typing import Any, Optional
    from smolagents.tools import Tool

    class FinalAnswerTool(Tool):
        name = "final_answer"
        description = "Provides a final answer to the given problem."
        inputs = {'answer': {'type': 'any', 'description': 'The final answer to the problem'}}
        output_type = "any"

        def forward(self, answer: Any) -> Any:
            return answer

        def __init__(self, *args, **kwargs):
            self.is_initialized = False
    """
)

LEGACY_PROMPTS = {
    "system_prompt": (
        "You are an expert assistant who solves tasks with code.\n"
        "{%- for tool in tools.values() %}\n- {{ tool.name }}: {{ tool.description }}\n{%- endfor %}\n"
        "{%- for agent in managed_agents.values() %}\n- {{ agent.name }}: {{ agent.description }}\n{%- endfor %}\n"
        "You can import from: {{authorized_imports}}. Legacy prompt marker."
    ),
    "planning": {
        "initial_facts": "List the facts of: {{task}}",
        "initial_plan": "Plan for the task: {{task}}. End with <end_plan>.",
        "update_facts_pre_messages": "Update the facts.",
        "update_facts_post_messages": "Now list the updated facts.",
        "update_plan_pre_messages": "Replan the task: {{task}}",
        "update_plan_post_messages": "You have {{remaining_steps}} steps left. End with <end_plan>.",
    },
    "managed_agent": {
        "task": "You are {{name}}. Task: {{task}}",
        "report": "{{name}} says: {{final_answer}}",
    },
    "final_answer": {"pre_messages": "Answer from memory.", "post_messages": "The task was: {{task}}"},
}

BASE_IMPORTS = ["collections", "datetime", "itertools", "math", "queue", "random", "re", "stat", "statistics"]


def write_legacy_folder(root: Path) -> Path:
    """A CodeAgent folder in the layout agents shared on the Hub have, with a managed agent."""
    (root / "tools").mkdir(parents=True)
    (root / "tools" / "get_weather.py").write_text(WEATHER_TOOL)
    (root / "tools" / "final_answer.py").write_text(FINAL_ANSWER_TOOL)
    agent_json = {
        "class": "CodeAgent",
        "version": "1.17.0",
        "tools": ["get_weather", "final_answer"],
        "model": {
            "class": "OpenAIServerModel",
            "data": {
                "model_id": "gpt-4o",
                "api_base": "http://127.0.0.1:9/v1",
                "temperature": 0.4,
                "organization": None,
                "last_input_token_count": 120,
                "last_output_token_count": 30,
            },
        },
        "managed_agents": {"helper": "ToolCallingAgent"},
        "prompt_templates": LEGACY_PROMPTS,
        "max_steps": 6,
        "verbosity_level": 1,
        "grammar": None,
        "planning_interval": 2,
        "name": None,
        "description": None,
        "requirements": ["smolagents"],
        "authorized_imports": [*BASE_IMPORTS, "time", "unicodedata", "numpy"],
        "executor_type": "local",
        "executor_kwargs": {},
        "max_print_outputs_length": 5000,
    }
    (root / "agent.json").write_text(json.dumps(agent_json, indent=4))
    helper = root / "managed_agents" / "helper"
    (helper / "tools").mkdir(parents=True)
    (helper / "tools" / "final_answer.py").write_text(FINAL_ANSWER_TOOL)
    (helper / "agent.json").write_text(
        json.dumps(
            {
                "class": "ToolCallingAgent",
                "version": "1.17.0",
                "tools": ["final_answer"],
                "model": {"class": "HfApiModel", "data": {"model_id": "Qwen/Qwen2.5-Coder-32B-Instruct"}},
                "managed_agents": {},
                "max_steps": 3,
                "verbosity_level": 0,
                "grammar": None,
                "planning_interval": None,
                "name": "helper",
                "description": "Helps with anything.",
                "requirements": ["smolagents"],
            }
        )
    )
    return root


def test_legacy_folder_loads_settings_model_tools_and_managed_agents(tmp_path):
    agent = MultiStepAgent.from_folder(write_legacy_folder(tmp_path))
    assert type(agent) is CodeAgent
    assert (agent.max_steps, agent.planning_interval, agent.max_print_outputs_length) == (6, 2, 5000)
    assert agent.additional_authorized_imports == ["numpy"] and "numpy" in agent.authorized_imports
    assert isinstance(agent.model, OpenAIServerModel) and agent.model.model_id == "gpt-4o"
    assert agent.model.kwargs == {"temperature": 0.4}  # no token counters or unset values sent to the API
    assert agent.tools["get_weather"](city="Oslo") == "Sunny in Oslo"
    assert type(agent.tools["final_answer"]).__name__ == "FinalAnswerTool"
    assert "Legacy prompt marker" in agent.system_prompt and "get_weather" in agent.system_prompt
    assert "initial_facts" not in agent.prompt_templates["planning"]
    helper = agent.managed_agents["helper"]
    assert type(helper) is ToolCallingAgent and helper.description == "Helps with anything."
    assert type(helper.model).__name__ == "InferenceClientModel"  # HfApiModel's name today
    assert "helper" in agent.system_prompt


def test_legacy_folder_runs_with_its_planning_prompts(tmp_path):
    model = ScriptedModel(
        [
            "1. Ask the weather.\n<end_plan>",
            "Thought: weather.\n<code>\nfinal_answer(get_weather(city='Oslo'))\n</code>",
        ]
    )
    agent = CodeAgent.from_folder(write_legacy_folder(tmp_path), model=model, verbosity_level=LogLevel.OFF)
    assert agent.run("Weather in Oslo?") == "Sunny in Oslo"
    assert model.calls[0].messages[0].text == "Plan for the task: Weather in Oslo?. End with <end_plan>."


def test_legacy_dict_with_tool_code_and_model_data_loads_with_from_dict():
    data = {
        "class": "ToolCallingAgent",
        "tools": [{"name": "get_weather", "code": WEATHER_TOOL, "requirements": ["smolagents"]}],
        "model": {"class": "OpenAIServerModel", "data": {"model_id": "gpt-4o", "last_input_token_count": 5}},
        "managed_agents": {},
        "prompt_templates": {"planning": {"initial_facts": "old", "initial_plan": "Plan {{task}}"}},
        "max_steps": 4,
        "verbosity_level": 0,
        "max_tool_threads": 3,
    }
    agent = ToolCallingAgent.from_dict(data)
    assert agent.max_steps == 4 and agent.max_tool_threads == 3
    assert agent.tools["get_weather"](city="Rome") == "Sunny in Rome"
    assert agent.prompt_templates["planning"]["initial_plan"] == "Plan {{task}}"


def test_legacy_dict_naming_tools_without_their_folder_is_a_clear_error():
    data = {
        "class": "CodeAgent",
        "tools": ["get_weather"],
        "model": {"class": "OpenAIServerModel", "data": {}},
    }
    with pytest.raises(UserError, match=r"tool 'get_weather' by name.*from_folder"):
        CodeAgent.from_dict(data, model=ScriptedModel([]))


def test_save_writes_the_final_answer_tool_and_reloads(tmp_path, tools):
    agent = CodeAgent(tools=[tools[0]], model=ScriptedModel([]), verbosity_level=LogLevel.OFF)
    agent.save(tmp_path)
    assert (tmp_path / "tools" / "final_answer.py").is_file()
    assert "final_answer" in (tmp_path / "tools" / "final_answer.py").read_text()
    loaded = MultiStepAgent.from_folder(tmp_path, model=ScriptedModel([]))
    assert loaded.tools["final_answer"](answer=3) == 3 and loaded.tools["add"](a=1, b=2) == 3
