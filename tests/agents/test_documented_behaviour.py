"""Behaviour code written for smolagents relies on (issue 8): planning after ``reset=False``,
a completed code block in the model's message record, logging, unknown tools, and state
values named in a final answer."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from smolagents import (
    ActionStep,
    AgentToolExecutionError,
    CodeAgent,
    LogLevel,
    PlanningStep,
    ToolCallingAgent,
    tool,
)
from smolagents.models import ChatMessage, MessageRole
from smolagents.monitoring import AgentLogger
from smolagents.testing import ScriptedModel

call = ScriptedModel.tool_call


def make_agent(tools, replies, cls=ToolCallingAgent, **kwargs):
    kwargs.setdefault("verbosity_level", LogLevel.OFF)
    return cls(tools=tools, model=ScriptedModel(replies), **kwargs)


# ---------------------------------------------------------------- planning after reset=False
def test_planning_after_reset_false_updates_the_plan_with_earlier_history(tools):
    replies = [
        "1. answer A\n<end_plan>",
        call("final_answer", {"answer": "A"}),
        "1. answer B, as before\n<end_plan>",
        call("final_answer", {"answer": "B"}),
    ]
    agent = make_agent(tools, replies, planning_interval=3)
    agent.run("first task")
    initial_messages = agent.model.calls[0].messages
    assert [m.role for m in initial_messages] == [MessageRole.USER]  # a first plan: task only
    agent.run("second task", reset=False)
    update_messages = agent.model.calls[2].messages
    pre = agent.prompt_templates["planning"]["update_plan_pre_messages"].split("{{")[0].strip()[:40]
    assert update_messages[0].role == MessageRole.SYSTEM and pre in update_messages[0].text
    history = " ".join(m.text for m in update_messages[1:-1])
    assert "first task" in history and "second task" in history
    plans = [s for s in agent.memory.steps if isinstance(s, PlanningStep)]
    assert [p.plan for p in plans] == ["1. answer A", "1. answer B, as before"]


def test_planning_with_reset_true_starts_a_fresh_plan(tools):
    replies = ["plan A<end_plan>", call("final_answer", {"answer": "A"})] * 2
    agent = make_agent(tools, replies, planning_interval=3)
    agent.run("first task")
    agent.run("second task")
    assert [m.role for m in agent.model.calls[2].messages] == [MessageRole.USER]


# ---------------------------------------------------------------- completed code block
def test_missing_closing_tag_is_completed_in_model_output_message_too():
    # the scripted model applies the stop sequence: the reply loses its "</code>"
    agent = make_agent([], ["Thought: done.\n<code>\nfinal_answer(3)\n</code>"], cls=CodeAgent)
    assert agent.run("x") == 3
    step = next(s for s in agent.memory.steps if isinstance(s, ActionStep))
    assert step.model_output.endswith("</code>")
    assert step.model_output_message.content == step.model_output
    assert step.model_output_message.role == MessageRole.ASSISTANT
    assert step.model_output_message.token_usage == step.token_usage


def test_complete_code_block_message_is_kept_as_the_model_sent_it():
    reply = ChatMessage(role=MessageRole.ASSISTANT, content="Thought: ok\n<code>\nfinal_answer(1)\n</code>")
    agent = CodeAgent(tools=[], model=_NoStopModel([reply]), verbosity_level=LogLevel.OFF)
    assert agent.run("x") == 1
    step = next(s for s in agent.memory.steps if isinstance(s, ActionStep))
    assert step.model_output_message.content == reply.content


class _NoStopModel(ScriptedModel):
    """A model that ignores stop sequences (some servers do)."""

    def generate(self, messages, stop_sequences=None, **kwargs):
        return super().generate(messages, None, **kwargs)


# ---------------------------------------------------------------- logging, tools, state
def _logger():
    buffer = io.StringIO()
    return AgentLogger(
        level=LogLevel.INFO, console=Console(file=buffer, width=100, color_system=None)
    ), buffer


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            [{"type": "text", "text": "describe [this] picture"}, {"type": "image", "image": b"..."}],
            "describe [this]",
        ),
        ({"question": 42}, "{'question': 42}"),
        (12345, "12345"),
    ],
)
def test_log_task_renders_non_string_content(content, expected):
    logger, buffer = _logger()
    logger.log_task(content=content, subtitle="ScriptedModel - m", title="helper")
    printed = buffer.getvalue()
    assert expected in printed and "New run - helper" in printed


def test_unknown_tool_is_an_agent_tool_execution_error(tools):
    agent = make_agent(tools, [])
    with pytest.raises(AgentToolExecutionError, match=r"Unknown tool 'multiply'.*lookup_capital"):
        agent.execute_tool_call("multiply", {"a": 1})


def test_process_tool_calls_without_calls_yields_nothing(tools):
    agent = make_agent(tools, [])
    step = ActionStep(step_number=1)
    message = ChatMessage(role=MessageRole.ASSISTANT, content="just text", tool_calls=None)
    assert list(agent.process_tool_calls(message, step)) == []
    assert step.tool_calls == [] and step.error is None and step.observations is None


def test_final_answer_naming_a_state_key_returns_the_stored_image():
    from PIL import Image

    @tool
    def draw() -> Image.Image:
        """Draw a small red square."""
        return Image.new("RGB", (4, 4), "red")

    agent = make_agent([draw], [call("draw", {}), call("final_answer", {"answer": "image_1.png"})])
    answer = agent.run("draw something")
    assert "image_1.png" in agent.memory.steps[1].observations
    assert answer is not None and getattr(answer, "size", None) == (4, 4)  # the image, not its name
