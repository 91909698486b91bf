"""OpenAIModel through the real openai SDK against the loopback server."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import openai  # noqa: F401  (in the test extra: fail if missing, never skip)
import pytest

from smolagents.errors import AgentGenerationError, MissingDependencyError, ModelHTTPError
from smolagents.models import (
    REMOVE_PARAMETER,
    AzureOpenAIModel,
    ChatMessage,
    MessageRole,
    Model,
    OpenAIModel,
    OpenAIServerModel,
    agglomerate_stream_deltas,
)
from smolagents.testing.openai_server import OpenAICompatibleServer, ServerFailure, ServerReply

MESSAGES = [
    ChatMessage(role=MessageRole.SYSTEM, content=[{"type": "text", "text": "You are a helpful agent."}]),
    ChatMessage(role=MessageRole.USER, content=[{"type": "text", "text": "What is the weather in Paris?"}]),
]


class WeatherTool:
    def to_json_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city.",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }


def test_generate_text_sends_model_messages_and_kwargs(server, openai_model) -> None:
    server.enqueue("It is sunny.", "Still sunny.")
    model = openai_model(temperature=0.3, max_tokens=50)
    answer = model.generate(MESSAGES)
    assert answer.role == MessageRole.ASSISTANT
    assert answer.content == "It is sunny."
    assert answer.token_usage.input_tokens == 11 and answer.token_usage.output_tokens == 3
    model(MESSAGES, temperature=0.9)
    first, second = (r.json for r in server.requests)
    assert first["model"] == "test-model"
    assert first["messages"][0] == {
        "role": "system",
        "content": [{"type": "text", "text": "You are a helpful agent."}],
    }
    assert (first["temperature"], first["max_tokens"]) == (0.3, 50)
    # constructor kwargs win over the call's (issue 8); kwargs_priority="call" restores call-wins
    assert (second["temperature"], second["max_tokens"]) == (0.3, 50)
    server.enqueue("Sunny again.")
    openai_model(temperature=0.3, kwargs_priority="call")(MESSAGES, temperature=0.9)
    assert server.requests[2].json["temperature"] == 0.9
    assert server.requests[0].headers["authorization"] == "Bearer sk-test"


def test_native_tool_calls(server, openai_model) -> None:
    server.enqueue(ServerReply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}]))
    message = openai_model().generate(MESSAGES, tools_to_call_from=[WeatherTool()])
    assert message.content is None
    (call,) = message.tool_calls
    assert (call.function.name, call.function.arguments, call.type) == (
        "get_weather",
        {"city": "Paris"},
        "function",
    )
    request = server.requests[0].json
    assert request["tools"][0]["function"]["name"] == "get_weather"
    assert request["tool_choice"] == "required"


def test_malformed_tool_arguments_are_kept_as_text(server, openai_model) -> None:
    server.enqueue(ServerReply(tool_calls=[{"name": "get_weather", "arguments": '{"city": "Par'}]))
    message = openai_model().generate(MESSAGES, tools_to_call_from=[WeatherTool()])
    assert message.tool_calls[0].function.arguments == '{"city": "Par'


def test_stream_assembles_text_reasoning_and_tool_call_fragments(server, openai_model) -> None:
    reply = ServerReply(
        content="Let me check the weather for you.",
        reasoning_content="The user wants weather.",
        tool_calls=[
            {"name": "get_weather", "arguments": {"city": "Paris"}},
            {"name": "get_weather", "arguments": {"city": "Lyon"}},
        ],
    )
    server.enqueue(reply, reply)
    model = openai_model()
    deltas = list(model.generate_stream(MESSAGES, tools_to_call_from=[WeatherTool()]))
    assert sum(1 for d in deltas if d.content) > 3  # really streamed in pieces
    assert sum(1 for d in deltas if d.tool_calls) >= 6  # names and argument fragments
    assert sum(1 for d in deltas if d.token_usage is not None) == 1
    streamed = agglomerate_stream_deltas(deltas)
    assert streamed.content == "Let me check the weather for you."
    assert streamed.reasoning_content == "The user wants weather."
    assert [(c.function.name, c.function.arguments) for c in streamed.tool_calls] == [
        ("get_weather", '{"city": "Paris"}'),
        ("get_weather", '{"city": "Lyon"}'),
    ]
    parsed = model.parse_tool_calls(streamed)
    assert [c.function.arguments for c in parsed.tool_calls] == [{"city": "Paris"}, {"city": "Lyon"}]
    whole = model.generate(MESSAGES, tools_to_call_from=[WeatherTool()])
    assert streamed.token_usage == whole.token_usage
    assert server.requests[0].json["stream_options"] == {"include_usage": True}


def test_think_blocks_go_to_reasoning(server, openai_model) -> None:
    reply = "<think>Paris is in France.</think>\nIt is sunny."
    server.enqueue(reply, reply)
    model = openai_model()
    whole = model.generate(MESSAGES)
    streamed = agglomerate_stream_deltas(model.generate_stream(MESSAGES))
    for message in (whole, streamed):
        assert message.content == "It is sunny."
        assert message.reasoning_content == "Paris is in France."


def test_async_generate_and_stream(server, openai_model) -> None:
    server.enqueue("async hello", ServerReply(content="streamed async hello", usage=(7, 3)))
    model = openai_model()

    async def run() -> tuple[ChatMessage, ChatMessage]:
        whole = await model.agenerate(MESSAGES)
        deltas = [delta async for delta in model.agenerate_stream(MESSAGES)]
        return whole, agglomerate_stream_deltas(deltas)

    whole, streamed = asyncio.run(run())
    assert whole.content == "async hello"
    assert streamed.content == "streamed async hello"
    assert (streamed.token_usage.input_tokens, streamed.token_usage.output_tokens) == (7, 3)
    assert server.requests[1].json["stream"] is True


def test_async_calls_interleave_in_one_loop(server, openai_model) -> None:
    server.default = lambda body: f"echo {body['messages'][-1]['content'][0]['text']}"
    model = openai_model()

    async def ask(text: str) -> str:
        return (await model.agenerate([{"role": "user", "content": text}])).content

    async def run() -> list[str]:
        return await asyncio.gather(*(ask(f"q{i}") for i in range(5)))

    assert asyncio.run(run()) == [f"echo q{i}" for i in range(5)]
    assert asyncio.run(ask("again")) == "echo again"  # a new event loop gets its own client


def test_server_error_is_retried_then_names_the_cause(server, openai_model) -> None:
    for _ in range(3):
        server.enqueue(ServerFailure(500, {"error": {"message": "upstream exploded"}}))
    model = openai_model(retry_max_attempts=3)
    with pytest.raises(ModelHTTPError) as caught:
        model.generate(MESSAGES)
    assert len(server.requests) == 3
    assert caught.value.status_code == 500
    message = str(caught.value)
    assert "test-model" in message and "500" in message and "upstream exploded" in message
    assert "3 attempts" in message


def test_server_error_then_success(server, openai_model) -> None:
    server.enqueue(ServerFailure(503), "recovered")
    assert openai_model().generate(MESSAGES).content == "recovered"
    assert len(server.requests) == 2


def test_rate_limit_honours_retry_after(server, openai_model) -> None:
    server.enqueue(ServerFailure(429, headers={"Retry-After": "2"}), "after the wait")
    model = openai_model()
    waits: list[float] = []
    model._sleep = waits.append
    assert model.generate(MESSAGES).content == "after the wait"
    assert waits == [2.0]
    assert len(server.requests) == 2


def test_rate_limit_honours_retry_after_async(server, openai_model) -> None:
    server.enqueue(ServerFailure(429, headers={"Retry-After": "1"}), "async after the wait")
    model = openai_model()
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    model._async_sleep = fake_sleep
    assert asyncio.run(model.agenerate(MESSAGES)).content == "async after the wait"
    assert waits == [1.0]


def test_retry_after_longer_than_allowed_fails_at_once(server, openai_model) -> None:
    server.enqueue(ServerFailure(429, headers={"Retry-After": "3600"}))
    with pytest.raises(ModelHTTPError, match="retry after 3600s"):
        openai_model(retry_max_delay=5).generate(MESSAGES)
    assert len(server.requests) == 1


def test_client_errors_are_not_retried(server, openai_model) -> None:
    server.enqueue(ServerFailure(401, {"error": {"message": "Incorrect API key provided"}}))
    with pytest.raises(ModelHTTPError, match=r"HTTP 401: Incorrect API key provided \(check the API key\)"):
        openai_model().generate(MESSAGES)
    assert len(server.requests) == 1


def test_retry_false_makes_one_attempt(server, openai_model) -> None:
    server.enqueue(ServerFailure(500))
    with pytest.raises(ModelHTTPError):
        openai_model(retry=False).generate(MESSAGES)
    assert len(server.requests) == 1


def test_connection_error_names_the_model(openai_model) -> None:
    with OpenAICompatibleServer() as closed:
        url = closed.base_url
    model = OpenAIModel("gone-model", api_base=url, api_key="k", retry_max_attempts=2, retry_base_delay=0.001)
    with pytest.raises(AgentGenerationError, match="'gone-model' could not be reached after 2 attempts"):
        model.generate(MESSAGES)
    model.close()


def test_stop_rejection_falls_back_to_client_side_cut(server, openai_model) -> None:
    server.reject_stop = True
    text = "Thought: look it up\nAction: search<end_action>Observation: invented"
    server.enqueue(text, text, text)
    model = openai_model()
    first = model.generate(MESSAGES, stop_sequences=["<end_action>", "Observation:"])
    assert first.content == "Thought: look it up\nAction: search"
    sent = [r.json for r in server.requests]
    assert [("stop" in body) for body in sent] == [True, False]
    second = model.generate(MESSAGES, stop_sequences=["Observation:"])
    assert second.content == "Thought: look it up\nAction: search<end_action>"
    assert "stop" not in server.requests[-1].json  # remembered: no second rejection
    streamed = agglomerate_stream_deltas(model.generate_stream(MESSAGES, stop_sequences=["<end_action>"]))
    assert streamed.content == "Thought: look it up\nAction: search"
    assert len(server.requests) == 4


def test_server_applies_stop_when_accepted(server, openai_model) -> None:
    server.enqueue("Answer\nObservation: x")
    assert openai_model().generate(MESSAGES, stop_sequences=["Observation:"]).content == "Answer\n"
    assert server.requests[0].json["stop"] == ["Observation:"]


def test_remove_parameter_over_the_wire(server, openai_model) -> None:
    server.enqueue("one", "two")
    model = openai_model(stop=REMOVE_PARAMETER, temperature=0.7)
    assert model.generate(MESSAGES, stop_sequences=["two"]).content == "one"
    model.generate(MESSAGES, temperature=REMOVE_PARAMETER, stop=["x"])
    first, second = (r.json for r in server.requests)
    assert "stop" not in first and first["temperature"] == 0.7
    # the constructor wins: its REMOVE_PARAMETER removes a per-call stop, its temperature stays
    assert "stop" not in second and second["temperature"] == 0.7
    server.enqueue("three")
    model.kwargs_priority = "call"
    model.generate(MESSAGES, temperature=REMOVE_PARAMETER)
    assert "temperature" not in server.requests[2].json


def test_flatten_messages_as_text_and_role_conversions(server, openai_model) -> None:
    server.enqueue("ok")
    model = openai_model(flatten_messages_as_text=True, custom_role_conversions={"system": "user"})
    model.generate(MESSAGES)
    assert server.requests[0].json["messages"] == [
        {"role": "user", "content": "You are a helpful agent.\nWhat is the weather in Paris?"}
    ]


def test_to_dict_has_no_api_key_and_round_trips(server) -> None:
    model = OpenAIServerModel(
        "test-model",
        api_base=server.base_url,
        api_key="sk-very-secret",
        client_kwargs={"timeout": 10, "default_headers": {"api-key": "sk-header-secret"}},
        temperature=0.5,
        requests_per_minute=600,
    )
    data = model.to_dict()
    assert "sk-very-secret" not in str(data) and "sk-header-secret" not in str(data)
    assert data["class"] == "OpenAIModel" and data["api_base"] == server.base_url
    rebuilt = Model.from_dict(data, api_key="sk-again")
    assert isinstance(rebuilt, OpenAIModel)
    assert rebuilt.to_dict() == data
    server.enqueue("rebuilt works")
    assert rebuilt.generate(MESSAGES).content == "rebuilt works"
    assert server.requests[0].json["temperature"] == 0.5
    rebuilt.close()


def test_azure_model_uses_deployment_path_and_api_version(server) -> None:
    server.enqueue("from azure", "streamed from azure")
    model = AzureOpenAIModel(
        "my-deployment",
        azure_endpoint=server.url,
        api_key="azure-key",
        api_version="2024-10-21",
        retry_base_delay=0.001,
    )
    assert model.generate(MESSAGES).content == "from azure"
    assert agglomerate_stream_deltas(model.generate_stream(MESSAGES)).content == "streamed from azure"
    request = server.requests[0]
    assert request.path == "/openai/deployments/my-deployment/chat/completions"
    assert request.query["api-version"] == "2024-10-21"
    assert request.headers["api-key"] == "azure-key"
    assert model.to_dict()["azure_endpoint"] == server.url and "api_key" not in model.to_dict()
    model.close()


def test_azure_reads_environment(server, monkeypatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-01-01")
    server.enqueue("env ok")
    model = AzureOpenAIModel("dep")
    assert model.generate(MESSAGES).content == "env ok"
    model.close()
    assert server.requests[0].query["api-version"] == "2025-01-01"
    assert server.requests[0].headers["api-key"] == "env-key"


def test_openai_reads_environment(server, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "env-openai-key")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    server.enqueue("env openai ok")
    model = OpenAIModel("test-model")
    assert model.generate(MESSAGES).content == "env openai ok"
    model.close()
    assert server.requests[0].headers["authorization"] == "Bearer env-openai-key"


def test_missing_openai_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'smolagents\[openai\]'"):
        OpenAIModel("gpt-4o")
    with pytest.raises(MissingDependencyError, match="AzureOpenAIModel"):
        AzureOpenAIModel("dep")


def test_requests_per_minute_spaces_calls(server, openai_model) -> None:
    server.enqueue("a", "b")
    model = openai_model(requests_per_minute=60)
    waits: list[float] = []
    model._sleep = waits.append
    model.generate(MESSAGES)
    model.generate(MESSAGES)
    assert len(waits) == 1 and 0.5 < waits[0] <= 1.0  # the second call waited for its slot


def test_parameters_unknown_to_the_sdk_travel_in_extra_body(server, openai_model) -> None:
    server.enqueue("ok")
    openai_model(top_k=5, extra_body={"min_p": 0.1}).generate(MESSAGES, temperature=0.2)
    body = server.requests[0].json
    assert (body["top_k"], body["min_p"], body["temperature"]) == (5, 0.1, 0.2)


def test_model_copies_and_pickles_after_use(server, openai_model) -> None:
    import copy
    import pickle

    server.enqueue("before", "after copy", "after pickle")
    model = openai_model(temperature=0.1)
    model.generate(MESSAGES)
    clone = copy.deepcopy(model)
    revived = pickle.loads(pickle.dumps(model))
    assert clone.generate(MESSAGES).content == "after copy"
    assert revived.generate(MESSAGES).content == "after pickle"
    assert clone.client is not model.client
    clone.close()
    revived.close()


def _model_named(server, model_id):
    from smolagents.models import OpenAIModel

    return OpenAIModel(model_id, api_base=server.base_url, api_key="sk-test", retry_base_delay=0.001)


@pytest.mark.parametrize("model_id", ["o3-mini", "o4-mini", "gpt-5", "openai/gpt-5-mini", "xai/grok-4"])
def test_models_known_to_reject_stop_never_get_it(server, model_id) -> None:
    server.enqueue("Answer\nObservation: invented")
    model = _model_named(server, model_id)
    message = model.generate(MESSAGES, stop_sequences=["Observation:"])
    model.close()
    assert "stop" not in server.requests[0].json  # no round trip to learn the rejection
    assert message.content == "Answer\n"  # cut client-side


def test_other_models_still_get_stop(server) -> None:
    server.enqueue("Answer\n")
    model = _model_named(server, "gpt-4o-mini")
    model.generate(MESSAGES, stop_sequences=["Observation:"])
    model.close()
    assert server.requests[0].json["stop"] == ["Observation:"]
