"""The Model base: kwargs merging, REMOVE_PARAMETER, tool-call parsing, serialisation, async
defaults, and the request hooks adapters implement instead of the public signature."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
from collections.abc import Iterator
from typing import Any

import pytest

from smolagents.errors import AgentParsingError
from smolagents.models import (
    REMOVE_PARAMETER,
    ChatMessage,
    ChatMessageStreamDelta,
    ChatMessageToolCall,
    ChatMessageToolCallFunction,
    MessageRole,
    Model,
    ModelRequest,
    agglomerate_stream_deltas,
)

MESSAGES = [{"role": "user", "content": "hi"}]


class EchoTool:
    """Stands in for a Tool: only ``to_json_schema`` is used by models."""

    def to_json_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": "echo",
                "description": "Echo.",
                "parameters": {"type": "object", "properties": {}},
            },
        }


class Recording(Model):
    def generate(
        self, messages, stop_sequences=None, response_format=None, tools_to_call_from=None, **kwargs
    ):
        self.params = self._prepare_completion_kwargs(
            messages, stop_sequences=stop_sequences, tools_to_call_from=tools_to_call_from, **kwargs
        )
        return ChatMessage(role=MessageRole.ASSISTANT, content="ok")


class Streaming(Recording):
    def generate_stream(self, messages, **kwargs) -> Iterator[ChatMessageStreamDelta]:
        yield ChatMessageStreamDelta(content="a")
        yield ChatMessageStreamDelta(content="b")


def test_constructor_kwargs_go_to_every_call_and_win_over_call_kwargs() -> None:
    # issue 8: what the user set when building the model is not silently replaced per call
    model = Recording(model_id="m", temperature=0.2, max_tokens=10)
    model([{"role": "user", "content": "hi"}])
    assert model.params["temperature"] == 0.2 and model.params["max_tokens"] == 10
    model.generate(MESSAGES, temperature=0.9, top_p=0.5)
    assert model.params["temperature"] == 0.2 and model.params["top_p"] == 0.5


def test_kwargs_priority_call_restores_call_wins() -> None:
    model = Recording(model_id="m", temperature=0.2, kwargs_priority="call")
    model.generate(MESSAGES, temperature=0.9)
    assert model.params["temperature"] == 0.9
    model.generate(MESSAGES)
    assert model.params["temperature"] == 0.2
    assert "kwargs_priority" not in model.params  # a setting of the adapter, never sent
    assert model.to_dict()["kwargs_priority"] == "call"
    assert Model.from_dict(model.to_dict()).kwargs_priority == "call"


def test_kwargs_priority_can_be_switched_on_the_attribute_and_is_validated() -> None:
    model = Recording(temperature=0.2)
    model.kwargs_priority = "call"
    model.generate(MESSAGES, temperature=0.9)
    assert model.params["temperature"] == 0.9
    assert "kwargs_priority" not in Recording().to_dict()
    with pytest.raises(ValueError, match="kwargs_priority must be one of"):
        Recording(kwargs_priority="caller")


def test_remove_parameter_in_constructor_removes_derived_and_call_values() -> None:
    model = Recording(stop=REMOVE_PARAMETER, temperature=REMOVE_PARAMETER)
    model.generate(MESSAGES, stop_sequences=["Observation:"])
    assert "stop" not in model.params
    model.generate(MESSAGES, temperature=0.7, stop=["x"])
    assert "temperature" not in model.params and "stop" not in model.params


def test_remove_parameter_per_call() -> None:
    model = Recording(temperature=0.5)
    model.generate(MESSAGES, stop_sequences=["Observation:"], stop=REMOVE_PARAMETER, top_p=REMOVE_PARAMETER)
    assert "stop" not in model.params and model.params["temperature"] == 0.5
    # the constructor's own value wins over a per-call removal, unless the call has priority
    model.generate(MESSAGES, temperature=REMOVE_PARAMETER)
    assert model.params["temperature"] == 0.5
    model.kwargs_priority = "call"
    model.generate(MESSAGES, temperature=REMOVE_PARAMETER)
    assert "temperature" not in model.params


def test_tools_schema_and_tool_choice_override() -> None:
    model = Recording()
    model.generate(MESSAGES, tools_to_call_from=[EchoTool()])
    assert model.params["tools"][0]["function"]["name"] == "echo"
    assert model.params["tool_choice"] == "required"
    model.generate(MESSAGES, tools_to_call_from=[EchoTool()], tool_choice="auto")
    assert model.params["tool_choice"] == "auto"
    model.generate(MESSAGES)
    assert "tools" not in model.params and "tool_choice" not in model.params


def test_bare_function_schema_is_wrapped() -> None:
    model = Recording()
    model.generate(MESSAGES, tools_to_call_from=[{"name": "f", "parameters": {}}])
    assert model.params["tools"] == [{"type": "function", "function": {"name": "f", "parameters": {}}}]


def test_agent_roles_are_converted_by_default() -> None:
    model = Recording()
    model.generate([ChatMessage(role=MessageRole.TOOL_RESPONSE, content="Observation: 3")])
    assert model.params["messages"][0]["role"] == "user"


def test_generate_not_implemented_and_streaming_support() -> None:
    with pytest.raises(NotImplementedError, match="override"):
        Model().generate(MESSAGES)
    with pytest.raises(NotImplementedError, match="Recording does not support streaming"):
        list(Recording().generate_stream(MESSAGES))
    assert not Recording().supports_streaming
    assert Streaming().supports_streaming


def test_async_defaults_use_the_sync_methods() -> None:
    async def run() -> tuple[ChatMessage, list[ChatMessageStreamDelta]]:
        model = Streaming()
        message = await model.agenerate(MESSAGES)
        deltas = [delta async for delta in model.agenerate_stream(MESSAGES)]
        return message, deltas

    message, deltas = asyncio.run(run())
    assert message.content == "ok"
    assert agglomerate_stream_deltas(deltas).content == "ab"


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "search", "arguments": {"q": "cats"}}',
        'Sure!\n```json\n{"name": "search", "arguments": {"q": "cats"}}\n```\nDone.',
        '<think>I will call {"name": "wrong"}</think>\nAction: {"name": "search", "arguments": {"q": "cats"}}',
        '{"name": "search", "arguments": "{\\"q\\": \\"cats\\"}"}',
        '{"tool_call": {"name": "search", "arguments": {"q": "cats"}}}',
        'I think {not json} then {"name": "search", "q": "cats"}',
    ],
)
def test_parse_tool_calls_from_text(text: str) -> None:
    message = Model().parse_tool_calls(ChatMessage(role=MessageRole.ASSISTANT, content=text))
    assert len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert call.function.name == "search"
    assert call.function.arguments == {"q": "cats"}
    assert call.id


def test_parse_tool_calls_custom_keys_and_lists() -> None:
    model = Model(tool_name_key="tool", tool_arguments_key="params")
    message = model.parse_tool_calls(
        ChatMessage(
            role="assistant", content='[{"tool": "a", "params": {}}, {"tool": "b", "params": {"x": 1}}]'
        )
    )
    assert [(c.function.name, c.function.arguments) for c in message.tool_calls] == [
        ("a", {}),
        ("b", {"x": 1}),
    ]


def test_parse_tool_calls_without_a_call_raises_clearly() -> None:
    with pytest.raises(AgentParsingError, match="did not call a tool"):
        Model().parse_tool_calls(ChatMessage(role="assistant", content="I refuse."))


def test_parse_tool_calls_normalises_native_arguments() -> None:
    calls = [
        ChatMessageToolCall(function=ChatMessageToolCallFunction("f", '{"a": 1}'), id="1"),
        ChatMessageToolCall(function=ChatMessageToolCallFunction("g", '{"a": 1'), id="2"),
    ]
    message = Model().parse_tool_calls(ChatMessage(role="assistant", content=None, tool_calls=calls))
    assert message.tool_calls[0].function.arguments == {"a": 1}
    assert message.tool_calls[1].function.arguments == '{"a": 1'  # left for the agent to report


def test_to_dict_round_trip_without_secrets() -> None:
    model = Recording(
        model_id="m",
        temperature=0.1,
        stop=REMOVE_PARAMETER,
        api_key="sk-secret",
        extra_headers={"Authorization": "Bearer x", "X-Trace": "1"},
        max_tokens=5,
    )
    data = model.to_dict()
    text = json.dumps(data)
    assert "sk-secret" not in text and "Bearer" not in text
    assert data["class"] == "Recording" and data["model_id"] == "m" and data["max_tokens"] == 5
    rebuilt = Model.from_dict(data)
    assert type(rebuilt) is Recording
    assert rebuilt.kwargs["stop"] is REMOVE_PARAMETER
    assert rebuilt.kwargs["extra_headers"] == {"X-Trace": "1"}
    assert rebuilt.to_dict() == data


def test_remove_parameter_is_a_picklable_singleton() -> None:
    assert pickle.loads(pickle.dumps(REMOVE_PARAMETER)) is REMOVE_PARAMETER
    assert copy.deepcopy(REMOVE_PARAMETER) is REMOVE_PARAMETER
    assert repr(REMOVE_PARAMETER) == "REMOVE_PARAMETER"


# --------------------------------------------------------------------------- adapter hooks
class HookOnly(Model):
    """An adapter in the house style: only the ``_generate`` / ``_generate_stream`` hooks."""

    def _generate(self, request: ModelRequest) -> ChatMessage:
        self.request = request
        self.params = self._completion_kwargs(request, tool_choice="auto")
        return ChatMessage(role=MessageRole.ASSISTANT, content=f"{len(request.messages)} messages")

    def _generate_stream(self, request: ModelRequest) -> Iterator[ChatMessageStreamDelta]:
        self.request = request
        yield ChatMessageStreamDelta(content="x")
        yield ChatMessageStreamDelta(content="y")


def test_public_methods_bundle_the_call_into_one_request_for_the_hooks() -> None:
    model = HookOnly(temperature=0.3)
    tools = [EchoTool()]
    answer = model(MESSAGES, stop_sequences=["END"], response_format={"type": "json_object"},
                   tools_to_call_from=tools, top_p=0.5)  # fmt: skip
    assert answer.content == "1 messages"
    assert model.request == ModelRequest(MESSAGES, ["END"], {"type": "json_object"}, tools, {"top_p": 0.5})
    # the request goes through the same building as before: merge, stop, tools, adapter options
    assert model.params["stop"] == ["END"] and model.params["tool_choice"] == "auto"
    assert model.params["temperature"] == 0.3 and model.params["top_p"] == 0.5
    assert model.request.arguments() == {
        "stop_sequences": ["END"],
        "response_format": {"type": "json_object"},
        "tools_to_call_from": tools,
        "top_p": 0.5,
    }


def test_a_call_option_wins_over_the_adapter_option_in_completion_kwargs() -> None:
    model = HookOnly()
    model.generate(MESSAGES, tools_to_call_from=[EchoTool()], tool_choice="none")
    assert model.params["tool_choice"] == "none"


def test_hooks_give_streaming_and_async_without_redefining_public_methods() -> None:
    model = HookOnly()
    assert model.supports_streaming
    assert agglomerate_stream_deltas(model.generate_stream(MESSAGES, stop_sequences=["S"])).content == "xy"
    assert model.request.stop_sequences == ["S"]

    async def main() -> tuple[ChatMessage, list[ChatMessageStreamDelta]]:
        message = await model.agenerate(MESSAGES, max_tokens=5)
        assert model.request.kwargs == {"max_tokens": 5}
        deltas = [delta async for delta in model.agenerate_stream(MESSAGES)]
        return message, deltas

    message, deltas = asyncio.run(main())
    assert message.content == "1 messages" and [d.content for d in deltas] == ["x", "y"]


def test_async_defaults_go_through_a_user_override_of_the_public_methods() -> None:
    # the docs' custom models override generate() (not the hooks): async and streaming use it
    model = Streaming()
    message = asyncio.run(model.agenerate(MESSAGES, stop_sequences=["Obs"], temperature=0.1))
    assert message.content == "ok" and model.params["stop"] == ["Obs"] and model.params["temperature"] == 0.1

    async def collect() -> list[str | None]:
        return [d.content async for d in model.agenerate_stream(MESSAGES)]

    assert asyncio.run(collect()) == ["a", "b"]


def test_no_adapter_repeats_the_public_generation_signature() -> None:
    # issue 8: the signature is written once, in Model; adapters implement hooks only
    from smolagents.testing import ScriptedModel

    public = {"generate", "agenerate", "generate_stream", "agenerate_stream"}
    ours = ("smolagents.models.", "smolagents.testing.")
    adapters = [cls for cls in {ScriptedModel, *_subclasses(Model)} if cls.__module__.startswith(ours)]
    assert len(adapters) >= 10  # every adapter module is imported by smolagents.models
    for cls in adapters:
        for klass in cls.__mro__[: cls.__mro__.index(Model)]:
            assert not public & set(vars(klass)), (
                f"{klass.__qualname__} redefines {public & set(vars(klass))}"
            )


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found
