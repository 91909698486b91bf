"""Memory records as data: what ``ActionStep.dict()`` / ``PlanningStep.dict()`` keep."""

from __future__ import annotations

import json

from smolagents.memory import ActionStep, PlanningStep
from smolagents.models import ChatMessage, ChatMessageToolCall, ChatMessageToolCallFunction, MessageRole
from smolagents.monitoring import TokenUsage


class _Opaque:
    """Stands in for an SDK response object JSON cannot hold."""

    def __str__(self) -> str:
        return "Opaque(response-42)"


def _message(raw: object) -> ChatMessage:
    call = ChatMessageToolCall(
        function=ChatMessageToolCallFunction(name="lookup", arguments={"q": "x"}), id="call_1"
    )
    return ChatMessage(
        role=MessageRole.ASSISTANT,
        content="thinking",
        tool_calls=[call],
        raw=raw,
        token_usage=TokenUsage(input_tokens=7, output_tokens=3),
    )


def test_action_step_dict_keeps_tool_calls_raw_and_token_usage_of_messages():
    step = ActionStep(
        step_number=1,
        model_input_messages=[ChatMessage(role=MessageRole.USER, content="hi", raw={"id": "req"})],
        model_output_message=_message(_Opaque()),
    )
    data = step.dict()
    out = data["model_output_message"]
    assert out["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": {"q": "x"}}}
    ]
    assert out["raw"] == "Opaque(response-42)"  # stringified: JSON cannot hold it
    assert out["token_usage"] == {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    first_input = data["model_input_messages"][0]
    assert first_input["raw"] == {"id": "req"}  # JSON-safe raw is kept as is
    assert first_input["tool_calls"] is None and first_input["token_usage"] is None
    json.dumps(data)  # the whole record is JSON-safe


def test_planning_step_dict_keeps_tool_calls_raw_and_token_usage_of_messages():
    step = PlanningStep(
        model_input_messages=[ChatMessage(role=MessageRole.USER, content="plan")],
        model_output_message=_message({"choices": [{"index": 0}]}),
        plan="1. do it",
    )
    out = step.dict()["model_output_message"]
    assert out["raw"] == {"choices": [{"index": 0}]}
    assert out["tool_calls"][0]["function"]["name"] == "lookup"
    assert out["token_usage"]["total_tokens"] == 10
    json.dumps(step.dict())
