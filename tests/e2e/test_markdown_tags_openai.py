"""``code_block_tags="markdown"`` against a chat API that applies ``stop`` as real ones do
(the loopback server cuts the reply at the first stop sequence found anywhere in it)."""

from __future__ import annotations

import openai  # noqa: F401  (in the test extra: fail if missing, never skip)

from smolagents import ActionStep, CodeAgent, LogLevel, OpenAIModel
from smolagents.agents._code_parsing import resolve_code_block_tags
from smolagents.testing.openai_server import OpenAICompatibleServer


def markdown_reply(thought: str, body: str) -> str:
    # what a model writes, including the made-up observation real models add when not stopped
    return f"Thought: {thought}\n```python\n{body}\n```\nObservation: (invented by the model)\n"


def test_markdown_code_blocks_survive_the_servers_stop_sequences():
    script = [
        markdown_reply("Compute.", "x = 6 * 7\nprint(x)"),
        markdown_reply("Answer.", "final_answer(x)"),
    ]
    with OpenAICompatibleServer(script) as server:
        agent = CodeAgent(
            tools=[],
            model=OpenAIModel("code-model", api_base=server.base_url, api_key="k", retry_base_delay=0.001),
            code_block_tags="markdown",
            verbosity_level=LogLevel.OFF,
        )
        assert agent.run("What is 6*7?") == 42
        stops = server.requests[0].json["stop"]
    steps = [s for s in agent.memory.steps if isinstance(s, ActionStep)]
    assert [s.error for s in steps] == [None, None]
    assert steps[0].code_action == "x = 6 * 7\nprint(x)" and "42" in steps[0].observations
    # no stop sequence occurs in the opening fence (the server would cut the code away)
    assert all(stop not in "\n```python\n" for stop in stops)
    # the reply was still cut at the end of the block: the invented observation never got in
    assert "invented" not in steps[0].model_output
    assert steps[0].model_output.rstrip().endswith("```")


def test_stop_sequence_of_tags_never_matches_the_opening_tag():
    assert resolve_code_block_tags(None).stop_sequence == "</code>"
    assert resolve_code_block_tags("markdown").stop_sequence == "```\n"
    custom = resolve_code_block_tags(("<py>", "</py>"))
    assert custom.stop_sequence == "</py>"
    tricky = resolve_code_block_tags(("Observation: code", "end"))  # a tag holding a default stop
    assert tricky.cuts_opening("Observation:") and not tricky.cuts_opening("Calling tools:")


def test_no_stop_sequence_sent_by_a_code_agent_cuts_its_opening_tag():
    from smolagents.testing import ScriptedModel

    model = ScriptedModel(["Observation: code\nfinal_answer(5)\nend"])
    agent = CodeAgent(
        tools=[], model=model, code_block_tags=("Observation: code", "end"), verbosity_level=LogLevel.OFF
    )
    assert agent.run("x") == 5
    assert model.calls[0].kwargs["stop_sequences"] == ["Calling tools:", "end"]
