"""Typed final answers: ``run(task, output_type=...)`` validates the answer and returns it typed.

Scripted transcripts for both agent kinds: a valid answer, an invalid one fixed after the
validation message, and one that stays invalid until ``output_retries`` runs out; and a
manager getting a typed object back from a typed managed agent.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Literal, TypedDict

import pytest

from smolagents import CodeAgent, ToolCallingAgent
from smolagents.agents._schema_check import check_schema
from smolagents.agents._typed_output import OutputValidationError, output_spec
from smolagents.errors import UserError
from smolagents.memory import ActionStep
from smolagents.testing import ScriptedModel


@dataclass
class City:
    """A city and how many people live there."""

    name: str
    population: int
    country: str | None = None


class Weather(TypedDict):
    city: str
    sky: Literal["sunny", "cloudy", "rainy"]
    temperatures: list[float]


WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "celsius": {"type": "number", "minimum": -90}},
    "required": ["city", "celsius"],
    "additionalProperties": False,
}


def code(source: str) -> str:
    return f"<code>\n{source}\n</code>"


def final_call(answer) -> object:
    return ScriptedModel.tool_call("final_answer", {"answer": answer})


def step_errors(agent) -> list[str]:
    return [str(s.error) for s in agent.memory.steps if isinstance(s, ActionStep) and s.error is not None]


# --------------------------------------------------------------------------- ToolCallingAgent
def test_tool_calling_agent_returns_a_pydantic_object_and_shows_its_schema_on_final_answer():
    pydantic = pytest.importorskip("pydantic")

    class Report(pydantic.BaseModel):
        title: str
        score: int

    model = ScriptedModel([final_call({"title": "ok", "score": 3})])
    agent = ToolCallingAgent([], model, verbosity_level=0)
    result = agent.run("rate it", output_type=Report, return_full_result=True)
    assert isinstance(result.output, Report) and result.output == Report(title="ok", score=3)
    tools = model.calls[0].kwargs["tools_to_call_from"]
    schema = next(t for t in tools if t.name == "final_answer").to_json_schema()["function"]["parameters"]
    assert schema["properties"]["answer"]["properties"]["score"] == {"title": "Score", "type": "integer"}
    assert schema["required"] == ["answer"]


def test_tool_calling_agent_fixes_an_invalid_answer_after_seeing_the_validation_message():
    model = ScriptedModel(
        [
            final_call({"name": "Paris", "population": "many"}),
            final_call({"name": "Paris", "population": 2_100_000}),
        ]
    )
    agent = ToolCallingAgent([], model, verbosity_level=0)
    assert agent.run("biggest French city", output_type=City) == City("Paris", 2_100_000)
    (error,) = step_errors(agent)
    assert "does not match the required output type City" in error and "$.population" in error
    assert "$.population" in model.calls[1].last_text or "$.population" in str(model.calls[1].messages)


def test_tool_calling_agent_stops_when_output_retries_run_out():
    model = ScriptedModel([final_call({"name": "X"}) for _ in range(3)])
    agent = ToolCallingAgent([], model, verbosity_level=0)
    with pytest.raises(
        OutputValidationError, match=r"(?s)gave 3 final answers .*output_retries=2.*population"
    ):
        agent.run("x", output_type=City, output_retries=2)
    assert len(model.calls) == 3  # the first answer and two retries
    assert len(step_errors(agent)) == 3


def test_answers_given_as_json_text_are_parsed():
    model = ScriptedModel([final_call(json.dumps({"city": "Oslo", "celsius": -3}))])
    agent = ToolCallingAgent([], model, verbosity_level=0)
    assert agent.run("weather", output_type=WEATHER_SCHEMA) == {"city": "Oslo", "celsius": -3}


# --------------------------------------------------------------------------- CodeAgent
def test_code_agent_states_the_schema_and_returns_a_typeddict():
    model = ScriptedModel(
        [code("final_answer({'city': 'Lima', 'sky': 'cloudy', 'temperatures': [18, 19.5]})")]
    )
    agent = CodeAgent([], model, verbosity_level=0)
    answer = agent.run("weather in Lima", output_type=Weather)
    assert answer == {"city": "Lima", "sky": "cloudy", "temperatures": [18.0, 19.5]}
    system = model.calls[0].messages[0].content[0]["text"]
    assert "Required form of the final answer" in system and '"sunny"' in system


def test_a_custom_system_prompt_without_the_schema_variable_gets_the_schema_appended():
    model = ScriptedModel([code("final_answer({'name': 'A', 'population': 1})")])
    agent = CodeAgent(
        [], model, verbosity_level=0, prompt_templates={"system_prompt": "Solve it. Tools: {{tools}}"}
    )
    agent.run("x", output_type=City)
    system = model.calls[0].messages[0].content[0]["text"]
    assert (
        system.startswith("Solve it.")
        and "Your final answer must be a value matching this JSON schema" in system
    )
    assert '"population": {\n      "type": "integer"' in system


def test_code_agent_fixes_an_invalid_answer_against_a_json_schema():
    model = ScriptedModel(
        [
            code("final_answer({'city': 'Oslo', 'celsius': -300})"),
            code("final_answer({'city': 'Oslo', 'celsius': -3})"),
        ]
    )
    agent = CodeAgent([], model, verbosity_level=0)
    assert agent.run("weather", output_type=WEATHER_SCHEMA) == {"city": "Oslo", "celsius": -3}
    (error,) = step_errors(agent)
    assert "$.celsius" in error and "-90" in error
    assert "$.celsius" in str(model.calls[1].messages[-1].content)


def test_code_agent_stops_when_output_retries_run_out():
    model = ScriptedModel([code("final_answer('not an object')")] * 2)
    agent = CodeAgent([], model, verbosity_level=0, output_retries=1)
    with pytest.raises(OutputValidationError, match="output_retries=1"):
        agent.run("x", output_type=City)


def test_a_typed_run_does_not_leak_into_the_next_untyped_run():
    model = ScriptedModel(
        [code("final_answer({'name': 'A', 'population': 1})"), code("final_answer('plain')")]
    )
    agent = CodeAgent([], model, verbosity_level=0)
    assert agent.run("x", output_type=City) == City("A", 1)
    assert agent.run("y") == "plain"
    assert "Required form of the final answer" not in agent.system_prompt


def test_validation_works_without_the_jsonschema_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # import jsonschema -> ImportError
    model = ScriptedModel(
        [code("final_answer({'city': 'Oslo'})"), code("final_answer({'city': 'Oslo', 'celsius': 1})")]
    )
    agent = CodeAgent([], model, verbosity_level=0)
    assert agent.run("x", output_type=WEATHER_SCHEMA) == {"city": "Oslo", "celsius": 1}
    assert "missing required field 'celsius'" in step_errors(agent)[0]


# --------------------------------------------------------------------------- managed agents
def test_a_manager_gets_a_typed_object_from_a_typed_managed_agent():
    worker_model = ScriptedModel(
        [final_call({"name": "Tokyo", "population": 14_000_000, "country": "Japan"})]
    )
    worker = ToolCallingAgent(
        [], worker_model, name="researcher", description="Finds cities.", output_type=City, verbosity_level=0
    )
    manager_model = ScriptedModel(
        [code("city = researcher(task='largest city of Japan')\nfinal_answer(city.population // 1_000_000)")]
    )
    manager = CodeAgent([], manager_model, managed_agents=[worker], verbosity_level=0)
    assert manager.run("How many millions live in Japan's largest city?") == 14
    assert manager.memory.steps[1].error is None


def test_a_typed_manager_validates_what_its_tool_calling_team_returns():
    worker_model = ScriptedModel([final_call({"name": "Lima", "population": 10_000_000})])
    worker = ToolCallingAgent(
        [], worker_model, name="researcher", description="Finds cities.", output_type=City, verbosity_level=0
    )
    manager_model = ScriptedModel(
        [
            ScriptedModel.tool_call("researcher", {"task": "capital of Peru"}),
            final_call({"name": "Lima", "population": 10_000_000, "country": "Peru"}),
        ]
    )
    manager = ToolCallingAgent([], manager_model, managed_agents=[worker], verbosity_level=0)
    assert manager.run("x", output_type=City) == City("Lima", 10_000_000, "Peru")
    assert "City(name='Lima'" in str(manager.memory.steps[1].observations)


@dataclass
class Team:
    name: str
    members: list[City]


def test_nested_dataclasses_are_built_and_their_schema_reaches_final_answer():
    answer = {
        "name": "capitals",
        "members": [{"name": "Lima", "population": 10}, {"name": "Oslo", "population": 1}],
    }
    model = ScriptedModel([final_call(answer)])
    agent = ToolCallingAgent([], model, verbosity_level=0)
    team = agent.run("x", output_type=Team)
    assert team == Team("capitals", [City("Lima", 10), City("Oslo", 1)])
    final = next(t for t in model.calls[0].kwargs["tools_to_call_from"] if t.name == "final_answer")
    parameters = final.to_json_schema()["function"]["parameters"]
    assert parameters["properties"]["answer"]["properties"]["members"]["items"] == {"$ref": "#/$defs/City"}
    assert "City" in parameters["$defs"]  # refs resolve from the parameters' root


def test_nested_pydantic_models_validate():
    pydantic = pytest.importorskip("pydantic")

    class Member(pydantic.BaseModel):
        name: str

    class Group(pydantic.BaseModel):
        members: list[Member]

    model = ScriptedModel(
        [
            code("final_answer({'members': [{'nom': 'x'}]})"),
            code("final_answer({'members': [{'name': 'x'}]})"),
        ]
    )
    agent = CodeAgent([], model, verbosity_level=0)
    assert agent.run("x", output_type=Group) == Group(members=[Member(name="x")])
    assert "at $.members[0].name: Field required" in step_errors(agent)[0]


# --------------------------------------------------------------------------- bad input, validator
def test_unsupported_output_types_are_rejected_when_the_run_is_requested():
    agent = CodeAgent([], ScriptedModel([]), verbosity_level=0)
    with pytest.raises(UserError, match="output_type must be a pydantic model class"):
        agent.run("x", output_type=int)
    with pytest.raises(UserError, match="not a JSON schema"):
        agent.run("x", output_type={"city": "string"})
    with pytest.raises(UserError, match="output_retries must be an integer >= 0"):
        agent.run("x", output_type=City, output_retries=-1)


def test_dataclass_schema_and_builtin_validator():
    spec = output_spec(City)
    assert spec is not None
    assert spec.schema["required"] == ["name", "population"]
    assert spec.schema["description"] == "A city and how many people live there."
    assert check_schema({"name": "A", "population": 1.0}, spec.schema) == []
    assert check_schema({"name": "A", "population": 1, "mayor": "B"}, spec.schema) == [
        "at $: unexpected field 'mayor' (allowed fields: ['country', 'name', 'population'])"
    ]
    nested = {
        "type": "array",
        "items": {"$ref": "#/$defs/P"},
        "$defs": {"P": {"type": "integer", "maximum": 3}},
    }
    assert check_schema([1, 5], nested) == ["at $[1]: must be <= 3, got 5"]
    assert check_schema("x", {"anyOf": [{"type": "integer"}, {"type": "null"}]})


def test_run_result_of_a_typed_run_is_json_safe():
    model = ScriptedModel([final_call({"name": "Lima", "population": 10})])
    result = ToolCallingAgent([], model, verbosity_level=0).run(
        "x", output_type=City, return_full_result=True
    )
    assert result.output == City("Lima", 10) and result.state == "success"
    assert json.loads(json.dumps(result.dict()))["output"] == {
        "name": "Lima",
        "population": 10,
        "country": None,
    }
