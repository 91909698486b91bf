"""End to end: CodeAgent on OpenAIModel (real openai SDK) over the loopback server, with
printed observations, a recovered code error, a tool with output_schema, a managed agent
called from code, and a final answer; sync, streamed and async."""

from __future__ import annotations

import asyncio

import openai  # noqa: F401  (in the test extra: fail if missing, never skip)
import pytest

from smolagents import (
    ActionStep,
    AgentExecutionError,
    ChatMessageStreamDelta,
    CodeAgent,
    LogLevel,
    OpenAIModel,
    Tool,
    ToolCallingAgent,
)
from smolagents.testing.openai_server import OpenAICompatibleServer, ServerReply


class CityStatsTool(Tool):
    name = "city_stats"
    description = "Population and area of a city."
    inputs = {"city": {"type": "string", "description": "The city's name."}}
    output_type = "object"
    output_schema = {
        "type": "object",
        "properties": {"population": {"type": "integer"}, "area_km2": {"type": "number"}},
        "required": ["population", "area_km2"],
    }

    def forward(self, city: str) -> dict:
        return {"paris": {"population": 2_102_650, "area_km2": 105.4}}[city.lower()]


def code(thought: str, body: str) -> str:
    return f"Thought: {thought}\n<code>\n{body}\n</code>"


MANAGER_SCRIPT = [
    code("Get the stats.", "stats = city_stats(city='Paris')\nprint('population:', stats['population'])"),
    code(
        "Compute density.", "density = stats['population'] / stats['area']"
    ),  # KeyError: recovered next step
    code(
        "Fix the key.", "density = round(stats['population'] / stats['area_km2'])\nprint('density', density)"
    ),
    code("Ask the historian.", "report = historian(task='When was the Eiffel Tower built?')\nprint(report)"),
    code("Answer.", "final_answer(f'{density} people/km2; tower: 1889')"),
]
HISTORIAN_SCRIPT = [
    ServerReply(tool_calls=[{"name": "final_answer", "arguments": {"answer": "Built 1887-1889."}}])
]


@pytest.fixture
def team():
    with (
        OpenAICompatibleServer(MANAGER_SCRIPT) as manager_server,
        OpenAICompatibleServer(HISTORIAN_SCRIPT) as hist,
    ):
        historian = ToolCallingAgent(
            tools=[],
            model=OpenAIModel("history-model", api_base=hist.base_url, api_key="k", retry_base_delay=0.001),
            name="historian",
            description="Knows the history of monuments.",
            verbosity_level=LogLevel.OFF,
        )
        agent = CodeAgent(
            tools=[CityStatsTool()],
            model=OpenAIModel(
                "code-model", api_base=manager_server.base_url, api_key="k", retry_base_delay=0.001
            ),
            managed_agents=[historian],
            verbosity_level=LogLevel.OFF,
        )
        yield agent, manager_server


def check(agent, server, answer):
    assert answer == "19949 people/km2; tower: 1889"
    steps = [s for s in agent.memory.steps if isinstance(s, ActionStep)]
    assert len(steps) == 5
    assert "population: 2102650" in steps[0].observations
    assert isinstance(steps[1].error, AgentExecutionError) and "KeyError" in str(steps[1].error)
    assert "density 19949" in steps[2].observations
    assert "Built 1887-1889." in steps[3].observations
    assert steps[4].is_final_answer
    # the system prompt showed the tool's output schema and the team member
    system = server.requests[0].json["messages"][0]["content"]
    system_text = system if isinstance(system, str) else " ".join(p.get("text", "") for p in system)
    assert "area_km2" in system_text and "historian" in system_text
    # the model was told about the error, with the failing line
    assert "KeyError" in str(server.requests[2].json["messages"])
    assert "</code>" in server.requests[0].json["stop"]


def test_code_agent_end_to_end(team):
    agent, server = team
    check(agent, server, agent.run("How dense is Paris, and when was its tower built?"))


def test_code_agent_end_to_end_streaming(team):
    agent, server = team
    agent.stream_outputs = True
    events = list(agent.run("How dense is Paris, and when was its tower built?", stream=True))
    deltas = [e for e in events if isinstance(e, ChatMessageStreamDelta)]
    assert deltas and "city_stats" in "".join(d.content or "" for d in deltas)
    check(agent, server, events[-1].output)


def test_code_agent_end_to_end_async(team):
    agent, server = team
    check(agent, server, asyncio.run(agent.arun("How dense is Paris, and when was its tower built?")))
