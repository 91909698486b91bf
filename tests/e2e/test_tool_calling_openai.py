"""End to end: ToolCallingAgent on OpenAIModel (the real openai SDK) against a loopback
OpenAI-compatible server, with tools, a managed agent, planning and a final-answer check."""

from __future__ import annotations

import asyncio

import openai  # noqa: F401  (in the test extra: fail if missing, never skip)
import pytest

from smolagents import (
    ActionOutput,
    ActionStep,
    AgentGenerationError,
    AgentToolCallError,
    AgentToolExecutionError,
    LogLevel,
    OpenAIModel,
    PlanningStep,
    TaskStep,
    ToolCallingAgent,
    ToolOutput,
    tool,
)
from smolagents.testing.openai_server import OpenAICompatibleServer, ServerFailure, ServerReply


def calls(*pairs):
    return ServerReply(tool_calls=[{"name": n, "arguments": a} for n, a in pairs])


def make_tools(asynchronous: bool):
    if asynchronous:

        @tool
        async def lookup_capital(country: str) -> str:
            """Return the capital of a country.

            Args:
                country: the country's English name.
            """
            await asyncio.sleep(0)
            return {"france": "Paris"}[country.lower()]

        @tool
        async def add(a: int, b: int) -> int:
            """Add two integers.

            Args:
                a: first number.
                b: second number.
            """
            return a + b

        @tool
        async def shout(text: str) -> str:
            """Upper-case some text and add an exclamation mark.

            Args:
                text: the text to shout.
            """
            return text.upper() + "!"

        return [lookup_capital, add, shout]

    @tool
    def lookup_capital(country: str) -> str:
        """Return the capital of a country.

        Args:
            country: the country's English name.
        """
        return {"france": "Paris"}[country.lower()]

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: first number.
            b: second number.
        """
        return a + b

    @tool
    def shout(text: str) -> str:
        """Upper-case some text and add an exclamation mark.

        Args:
            text: the text to shout.
        """
        return text.upper() + "!"

    return [lookup_capital, add, shout]


MANAGER_SCRIPT = [
    "1. Look up the capital and add the numbers.\n2. Ask the researcher.\n3. Answer.\n<end_plan>",
    calls(("lookup_capital", {"country": "France"}), ("add", {"a": 2, "b": 3})),
    calls(("researcher", {"task": "How many people live in Paris?"})),
    "1. Answer with the capital, shouted.\n<end_plan>",
    calls(("final_answer", {"answer": "paris"})),  # rejected by the check: not shouted
    calls(("shout", {"text": "paris"})),
    "1. Give the shouted answer.\n<end_plan>",
    calls(("final_answer", {"answer": "PARIS!"})),
]
RESEARCHER_SCRIPT = [calls(("final_answer", {"answer": "About 2.1 million people."}))]

EXPECTED_EVENTS = [
    "PlanningStep",
    "ToolCall", "ToolCall", "ToolOutput", "ToolOutput", "ActionOutput", "ActionStep",
    "ToolCall", "ToolOutput", "ActionOutput", "ActionStep",
    "PlanningStep",
    "ToolCall", "ToolOutput", "ActionStep",  # final answer rejected: no ActionOutput
    "ToolCall", "ToolOutput", "ActionOutput", "ActionStep",
    "PlanningStep",
    "ToolCall", "ToolOutput", "ActionOutput", "ActionStep",
    "FinalAnswerStep",
]  # fmt: skip


def is_shouted(answer, memory, agent=None):
    return isinstance(answer, str) and answer.isupper()


@pytest.fixture
def servers():
    with (
        OpenAICompatibleServer(MANAGER_SCRIPT) as manager,
        OpenAICompatibleServer(RESEARCHER_SCRIPT) as research,
    ):
        yield manager, research


def build_team(servers, asynchronous):
    manager_server, research_server = servers
    researcher = ToolCallingAgent(
        tools=[],
        model=OpenAIModel(
            "research-model", api_base=research_server.base_url, api_key="k", retry_base_delay=0.001
        ),
        name="researcher",
        description="Finds facts about cities.",
        verbosity_level=LogLevel.OFF,
    )
    manager = ToolCallingAgent(
        tools=make_tools(asynchronous),
        model=OpenAIModel(
            "manager-model", api_base=manager_server.base_url, api_key="k", retry_base_delay=0.001
        ),
        managed_agents=[researcher],
        planning_interval=2,
        final_answer_checks=[is_shouted],
        max_steps=6,
        verbosity_level=LogLevel.OFF,
    )
    return manager, researcher


def check_run(events, manager, researcher, servers):
    manager_server, research_server = servers
    assert [type(e).__name__ for e in events] == EXPECTED_EVENTS
    assert events[-1].output == "PARIS!"
    outputs = [e for e in events if isinstance(e, ToolOutput)]
    assert [o.output for o in outputs[:2]] == ["Paris", 5]
    assert "About 2.1 million people." in outputs[2].output
    assert [e.is_final_answer for e in events if isinstance(e, ActionOutput)] == [False, False, False, True]

    steps = manager.memory.steps
    assert [type(s).__name__ for s in steps] == [
        "TaskStep", "PlanningStep", "ActionStep", "ActionStep", "PlanningStep",
        "ActionStep", "ActionStep", "PlanningStep", "ActionStep",
    ]  # fmt: skip
    actions = [s for s in steps if isinstance(s, ActionStep)]
    assert [a.step_number for a in actions] == [1, 2, 3, 4, 5]
    assert "Paris" in actions[0].observations and "5" in actions[0].observations
    assert "is_shouted" in str(actions[2].error) and actions[2].is_final_answer is False
    assert actions[3].observations == "PARIS!"
    assert actions[4].is_final_answer and actions[4].action_output == "PARIS!"
    assert all(a.token_usage and a.token_usage.input_tokens > 0 for a in actions)
    assert isinstance(steps[0], TaskStep)
    assert [p.plan for p in steps if isinstance(p, PlanningStep)][1] == "1. Answer with the capital, shouted."

    # what went over the wire
    requests = manager_server.requests
    assert len(requests) == len(MANAGER_SCRIPT)
    tool_names = [t["function"]["name"] for t in requests[1].json["tools"]]
    assert sorted(tool_names) == ["add", "final_answer", "lookup_capital", "researcher", "shout"]
    assert "tools" not in requests[0].json  # planning calls offer no tools
    assert requests[0].json["stop"] == ["<end_plan>"]
    # the rejected final answer is explained to the model in the next call
    assert "is_shouted" in str(requests[5].json["messages"])
    assert len(research_server.requests) == 1
    assert "How many people live in Paris?" in str(research_server.requests[0].json["messages"])
    assert isinstance(researcher.memory.steps[0], TaskStep)


def test_end_to_end_sync_stream(servers):
    manager, researcher = build_team(servers, asynchronous=False)
    events = list(manager.run("What is the capital of France, shouted?", stream=True))
    check_run(events, manager, researcher, servers)


def test_end_to_end_async_stream_with_async_tools(servers):
    manager, researcher = build_team(servers, asynchronous=True)

    async def collect():
        return [e async for e in manager.arun("What is the capital of France, shouted?", stream=True)]

    events = asyncio.run(collect())
    check_run(events, manager, researcher, servers)


def test_end_to_end_arun_returns_the_answer(servers):
    manager, _ = build_team(servers, asynchronous=True)
    assert asyncio.run(manager.arun("What is the capital of France, shouted?")) == "PARIS!"


# ---------------------------------------------------------------- failures over HTTP
def single_agent(server, **model_kwargs):
    model = OpenAIModel("m", api_base=server.base_url, api_key="k", retry_base_delay=0.001, **model_kwargs)
    return ToolCallingAgent(tools=make_tools(False), model=model, verbosity_level=LogLevel.OFF)


def test_server_500_is_retried_then_generation_error_keeps_memory():
    with OpenAICompatibleServer(
        [calls(("add", {"a": 1, "b": 1}))]
        + [ServerFailure(500, {"error": {"message": "backend on fire"}})] * 5
    ) as server:
        agent = single_agent(server, retry_max_attempts=3)
        with pytest.raises(AgentGenerationError) as info:
            agent.run("x")
        assert "500" in str(info.value) and "backend on fire" in str(info.value)
        assert len(server.requests) == 1 + 3  # first step, then three attempts
        actions = [s for s in agent.memory.steps if isinstance(s, ActionStep)]
        assert actions[0].observations == "2"
        assert isinstance(actions[1].error, AgentGenerationError)


def test_429_with_retry_after_waits_then_succeeds():
    with OpenAICompatibleServer(
        [ServerFailure(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "2"}),
         calls(("final_answer", {"answer": "ok"}))]
    ) as server:  # fmt: skip
        agent = single_agent(server)
        waits = []
        agent.model._sleep = waits.append  # record instead of sleeping
        assert agent.run("x") == "ok"
        assert waits and waits[0] >= 2


def test_stop_rejection_is_retried_without_stop_and_cut_client_side():
    with OpenAICompatibleServer(
        [
            ServerReply(
                content='I will answer. {"name": "final_answer", "arguments": {"answer": "yes"}}\nObservation: junk'
            )
        ],
        reject_stop=True,
    ) as server:
        agent = single_agent(server)
        assert agent.run("x") == "yes"
        assert "stop" in server.requests[0].json and "stop" not in server.requests[1].json
        step = agent.memory.steps[1]
        assert "junk" not in step.model_output  # cut at the "Observation:" stop sequence


def test_unknown_tool_and_malformed_json_over_http_are_step_errors():
    with OpenAICompatibleServer(
        [
            calls(("teleport", {"to": "Mars"})),
            calls(("add", '{"a": 1,')),
            calls(("final_answer", {"answer": "ok"})),
        ]
    ) as server:
        agent = single_agent(server)
        assert agent.run("x") == "ok"
        errors = [s.error for s in agent.memory.steps if isinstance(s, ActionStep)]
        # an unknown tool is an AgentToolExecutionError (issue 8: code written for smolagents catches it)
        assert isinstance(errors[0], AgentToolExecutionError) and "teleport" in str(errors[0])
        assert isinstance(errors[1], AgentToolCallError) and '{"a": 1,' in str(errors[1])
        assert errors[2] is None
        assert "teleport" in str(server.requests[1].json["messages"])
