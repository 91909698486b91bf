"""Agents round-trip through dicts and folders; hub loading refuses untrusted code."""

from __future__ import annotations

import json

import openai  # noqa: F401  (in the test extra: fail if missing, never skip)
import pytest

from smolagents import LogLevel, MultiStepAgent, OpenAIModel, ToolCallingAgent, UserError
from smolagents.testing import ScriptedModel


def make_agent(tools):
    add, _, shout = tools
    sub = ToolCallingAgent(
        tools=[shout],
        model=OpenAIModel("sub-model", api_key="secret-sub"),
        name="shouter",
        description="Shouts.",
    )
    return ToolCallingAgent(
        tools=[add],
        model=OpenAIModel(
            "main-model", api_base="http://127.0.0.1:9/v1", api_key="secret-key", temperature=0.2
        ),
        managed_agents=[sub],
        max_steps=7,
        planning_interval=3,
        instructions="Be brief.",
        max_tool_threads=2,
        verbosity_level=LogLevel.OFF,
    )


def test_to_dict_is_json_safe_and_has_no_secrets(tools):
    data = make_agent(tools).to_dict()
    text = json.dumps(data)
    assert "secret-key" not in text and "secret-sub" not in text
    assert data["class"] == "ToolCallingAgent"
    assert data["settings"]["max_steps"] == 7 and data["settings"]["max_tool_threads"] == 2
    assert data["model"]["temperature"] == 0.2
    assert [t["name"] for t in data["tools"]] == ["add"]
    assert data["managed_agents"][0]["settings"]["name"] == "shouter"


def test_save_and_load_folder_round_trip(tmp_path, tools):
    agent = make_agent(tools)
    agent.prompt_templates["system_prompt"] += "\nSaved prompt marker."
    agent.save(tmp_path)
    assert (tmp_path / "agent.json").is_file() and (tmp_path / "tools" / "add.py").is_file()
    assert (tmp_path / "managed_agents" / "shouter" / "agent.json").is_file()
    assert "smolagents" in (tmp_path / "requirements.txt").read_text()

    loaded = MultiStepAgent.from_folder(tmp_path)
    assert type(loaded) is ToolCallingAgent
    assert loaded.max_steps == 7 and loaded.planning_interval == 3 and loaded.instructions == "Be brief."
    assert loaded.model.model_id == "main-model" and loaded.model.kwargs["temperature"] == 0.2
    assert loaded.system_prompt.endswith("Saved prompt marker.")
    assert loaded.tools["add"](a=2, b=3) == 5
    assert loaded.managed_agents["shouter"].tools["shout"](text="hi") == "HI!"


def test_from_dict_with_overrides_runs(tools):
    data = make_agent(tools).to_dict()
    model = ScriptedModel(
        [
            ScriptedModel.tool_call("add", {"a": 1, "b": 2}),
            ScriptedModel.tool_call("final_answer", {"answer": 3}),
        ]
    )
    agent = ToolCallingAgent.from_dict(data, model=model, verbosity_level=LogLevel.OFF)
    assert agent.run("1+2") == 3


def test_from_hub_requires_trust():
    with pytest.raises(UserError, match="trust_remote_code=True"):
        MultiStepAgent.from_hub("someone/agent")


def test_from_folder_on_a_non_agent_folder_is_clear(tmp_path):
    with pytest.raises(UserError, match=r"no agent\.json"):
        MultiStepAgent.from_folder(tmp_path)
