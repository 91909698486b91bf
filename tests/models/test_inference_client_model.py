"""InferenceClientModel through the real huggingface_hub InferenceClient against the loopback server.

``InferenceClient(base_url=...)`` posts to ``{base_url}/chat/completions`` and makes no Hub
call, so everything here runs offline. ``HF_HUB_OFFLINE`` is not set: huggingface_hub's
offline mode refuses every request, the loopback one included.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from typing import Any

import huggingface_hub  # noqa: F401  (in the test extra: fail if missing, never skip)
import pytest

from smolagents.errors import MissingDependencyError, ModelHTTPError, UserError
from smolagents.models import REMOVE_PARAMETER, ChatMessage, MessageRole, Model, agglomerate_stream_deltas
from smolagents.models.huggingface import DEFAULT_INFERENCE_MODEL_ID, InferenceClientModel
from smolagents.testing.openai_server import OpenAICompatibleServer, ServerFailure, ServerReply

MESSAGES = [
    ChatMessage(role=MessageRole.SYSTEM, content=[{"type": "text", "text": "You are a helpful agent."}]),
    ChatMessage(role=MessageRole.USER, content=[{"type": "text", "text": "What is the weather in Paris?"}]),
]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer() as running:
        yield running


@pytest.fixture
def hf_model(server: OpenAICompatibleServer, monkeypatch) -> Iterator[Callable[..., InferenceClientModel]]:
    """InferenceClientModels on the loopback server whose retries wait a few milliseconds."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    made: list[InferenceClientModel] = []

    def make(**kwargs: Any) -> InferenceClientModel:
        kwargs.setdefault("retry_base_delay", 0.001)
        kwargs.setdefault("token", "hf_test")
        made.append(InferenceClientModel("test-model", base_url=server.base_url, **kwargs))
        return made[-1]

    yield make
    for model in made:
        model.close()


def test_generate_posts_chat_completions_with_token_and_kwargs(server, hf_model) -> None:
    server.enqueue("It is sunny.")
    answer = hf_model(temperature=0.3, max_tokens=50, top_k=5).generate(MESSAGES)
    assert (answer.role, answer.content) == (MessageRole.ASSISTANT, "It is sunny.")
    assert (answer.token_usage.input_tokens, answer.token_usage.output_tokens) == (11, 3)
    request = server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer hf_test"
    body = request.json
    assert body["model"] == "test-model"
    assert (body["temperature"], body["max_tokens"], body["top_k"]) == (0.3, 50, 5)  # top_k via extra_body
    assert body["messages"][1]["content"] == [{"type": "text", "text": "What is the weather in Paris?"}]


def test_native_tool_calls(server, hf_model) -> None:
    server.enqueue(ServerReply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}]))
    message = hf_model().generate(MESSAGES, tools_to_call_from=[WEATHER_TOOL])
    (call,) = message.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", {"city": "Paris"})
    body = server.requests[0].json
    assert body["tools"] == [WEATHER_TOOL] and body["tool_choice"] == "required"


def test_stream_assembles_text_reasoning_and_tool_call_fragments(server, hf_model) -> None:
    reply = ServerReply(
        content="Let me check the weather for you.",
        reasoning_content="The user wants weather.",
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}],
    )
    server.enqueue(reply, reply)
    model = hf_model()
    deltas = list(model.generate_stream(MESSAGES, tools_to_call_from=[WEATHER_TOOL]))
    assert sum(1 for d in deltas if d.content) > 3
    assert sum(1 for d in deltas if d.tool_calls) >= 3  # the name, then argument fragments
    assert sum(1 for d in deltas if d.token_usage is not None) == 1
    streamed = agglomerate_stream_deltas(deltas)
    assert streamed.content == "Let me check the weather for you."
    assert streamed.reasoning_content == "The user wants weather."
    parsed = model.parse_tool_calls(streamed)
    assert [(c.function.name, c.function.arguments) for c in parsed.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    whole = model.generate(MESSAGES, tools_to_call_from=[WEATHER_TOOL])
    assert streamed.token_usage == whole.token_usage
    assert server.requests[0].json["stream_options"] == {"include_usage": True}


def test_async_generate_and_stream(server, hf_model) -> None:
    server.enqueue("async hello", ServerReply(content="<think>hm</think>streamed async", usage=(7, 3)))
    model = hf_model()

    async def run() -> tuple[ChatMessage, ChatMessage]:
        whole = await model.agenerate(MESSAGES)
        deltas = [delta async for delta in model.agenerate_stream(MESSAGES)]
        return whole, agglomerate_stream_deltas(deltas)

    whole, streamed = asyncio.run(run())
    assert whole.content == "async hello"
    assert (streamed.content, streamed.reasoning_content) == ("streamed async", "hm")
    assert (streamed.token_usage.input_tokens, streamed.token_usage.output_tokens) == (7, 3)


def test_server_error_is_retried_then_raises_model_http_error(server, hf_model) -> None:
    for _ in range(3):
        server.enqueue(ServerFailure(500, {"error": {"message": "upstream exploded"}}))
    with pytest.raises(ModelHTTPError) as caught:
        hf_model(retry_max_attempts=3).generate(MESSAGES)
    assert len(server.requests) == 3
    assert caught.value.status_code == 500
    assert "upstream exploded" in str(caught.value) and "3 attempts" in str(caught.value)


def test_rate_limit_honours_retry_after_sync_and_async(server, hf_model) -> None:
    server.enqueue(ServerFailure(429, headers={"Retry-After": "2"}), "after the wait")
    server.enqueue(ServerFailure(429, headers={"Retry-After": "1"}), "async after the wait")
    model = hf_model()
    waits: list[float] = []
    model._sleep = waits.append

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    model._async_sleep = fake_sleep
    assert model.generate(MESSAGES).content == "after the wait"
    assert asyncio.run(model.agenerate(MESSAGES)).content == "async after the wait"
    assert waits == [2.0, 1.0]


def test_client_error_is_not_retried(server, hf_model) -> None:
    server.enqueue(ServerFailure(401, {"error": {"message": "Invalid credentials"}}))
    with pytest.raises(ModelHTTPError, match=r"HTTP 401: Invalid credentials \(check the API key\)"):
        hf_model().generate(MESSAGES)
    assert len(server.requests) == 1


def test_token_and_api_key_are_exclusive_aliases(server, hf_model) -> None:
    with pytest.raises(UserError, match="aliases"):
        InferenceClientModel(token="a", api_key="b")
    server.enqueue("ok")
    hf_model(token=None, api_key="hf_alias").generate(MESSAGES)
    assert server.requests[0].headers["authorization"] == "Bearer hf_alias"


def test_token_falls_back_to_hf_token_env(server, hf_model, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    server.enqueue("ok")
    model = hf_model(token=None)
    model.generate(MESSAGES)
    assert server.requests[0].headers["authorization"] == "Bearer hf_from_env"
    assert "hf_from_env" not in str(model.to_dict())


def test_client_settings_and_bill_to(server, hf_model) -> None:
    server.enqueue("ok")
    model = hf_model(bill_to="my-org", provider="together", client_kwargs={"headers": {"X-Extra": "1"}})
    model.generate(MESSAGES)
    headers = server.requests[0].headers
    assert headers["x-hf-bill-to"] == "my-org" and headers["x-extra"] == "1"
    assert model.client.timeout == 120
    assert model.client.provider is None  # base_url given: the provider is not used


def test_default_model_id_and_lazy_client() -> None:
    model = InferenceClientModel(provider="novita", requests_per_minute=60, temperature=0.8, max_tokens=500)
    assert model.model_id == DEFAULT_INFERENCE_MODEL_ID == "Qwen/Qwen3-Next-80B-A3B-Thinking"
    assert model._client is None  # nothing created, nothing sent
    assert model.kwargs == {"temperature": 0.8, "max_tokens": 500}
    assert model.rate_limiter.interval == 1.0


def test_response_format_is_forwarded_to_base_url(server, hf_model) -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    server.enqueue('{"ok": true}')
    assert hf_model().generate(MESSAGES, response_format=schema).content == '{"ok": true}'
    # huggingface_hub treats a base_url as a TGI server and sends TGI's grammar form of the schema
    assert server.requests[0].json["response_format"] == {"type": "json_object", "value": {"type": "object"}}


@pytest.mark.parametrize("provider", [None, "auto", "novita"])
def test_response_format_with_unsupported_provider_is_a_clear_error(provider) -> None:
    model = InferenceClientModel("some/model", provider=provider, token="hf_x")
    with pytest.raises(UserError, match=r"cannot send response_format.*provider='cerebras'"):
        model.generate(MESSAGES, response_format={"type": "json_object"})
    assert model._client is None  # refused before any request
    assert InferenceClientModel("some/model", provider="cerebras").supports_structured_outputs


def test_remove_parameter_over_the_wire(server, hf_model) -> None:
    server.enqueue("one Observation: two", "three")
    model = hf_model(stop=REMOVE_PARAMETER, temperature=0.7)
    assert model.generate(MESSAGES, stop_sequences=["Observation:"]).content == "one "  # cut client-side
    model.generate(MESSAGES, temperature=REMOVE_PARAMETER, stop=["x"])
    first, second = (r.json for r in server.requests)
    assert "stop" not in first and first["temperature"] == 0.7
    # constructor kwargs win over per-call ones (issue 8), REMOVE_PARAMETER included
    assert "stop" not in second and second["temperature"] == 0.7
    server.enqueue("four")
    model.kwargs_priority = "call"
    model.generate(MESSAGES, temperature=REMOVE_PARAMETER)
    assert "temperature" not in server.requests[2].json


def test_stop_rejection_falls_back_to_client_side_cut(server, hf_model) -> None:
    server.reject_stop = True
    server.enqueue("Action: search\nObservation: invented")
    model = hf_model()
    assert model.generate(MESSAGES, stop_sequences=["Observation:"]).content == "Action: search\n"
    assert ["stop" in r.json for r in server.requests] == [True, False]


def test_to_dict_has_no_token_and_round_trips(server) -> None:
    model = InferenceClientModel(
        "test-model",
        base_url=server.base_url,
        token="hf_very_secret",
        timeout=30,
        bill_to="my-org",
        client_kwargs={"headers": {"Authorization": "Bearer hf_header_secret"}},
        temperature=0.5,
        stop=REMOVE_PARAMETER,
        requests_per_minute=600,
    )
    data = model.to_dict()
    assert "secret" not in str(data)
    assert data["class"] == "InferenceClientModel" and data["timeout"] == 30 and data["bill_to"] == "my-org"
    rebuilt = Model.from_dict(data, token="hf_again")
    assert isinstance(rebuilt, InferenceClientModel)
    assert rebuilt.kwargs["stop"] is REMOVE_PARAMETER
    assert rebuilt.to_dict() == data
    server.enqueue("rebuilt works")
    assert rebuilt.generate(MESSAGES).content == "rebuilt works"
    assert server.requests[0].headers["authorization"] == "Bearer hf_again"
    rebuilt.close()


def test_missing_huggingface_hub_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'smolagents\[hub\]'"):
        InferenceClientModel()


# ---------------------------------------------------------------- agents over the adapter
def _add_tool() -> Any:
    from smolagents import tool

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: first number.
            b: second number.
        """
        return a + b

    return add


TOOL_CALLING_SCRIPT = [
    ServerReply(content="Adding.", tool_calls=[{"name": "add", "arguments": {"a": 2, "b": 3}}]),
    ServerReply(tool_calls=[{"name": "final_answer", "arguments": {"answer": "5"}}]),
]
CODE_SCRIPT = [
    "Thought: add first.\n<code>\nprint(add(2, 3))\n</code>",
    "Thought: now answer.\n<code>\nfinal_answer(6*7)\n</code>",
]


def _require_sandbox() -> None:
    """CodeAgent runs on the sandbox, which is part of the core install: never skipped."""
    import smolagents.local_python_executor  # noqa: F401


def _run(agent_class: type, script: list[Any], stream_outputs: bool) -> tuple[Any, Any, list[Any]]:
    from smolagents import LogLevel

    with OpenAICompatibleServer(script) as server:
        model = InferenceClientModel(
            "test-model", base_url=server.base_url, token="hf_test", retry_base_delay=0.001
        )
        agent = agent_class(
            tools=[_add_tool()],
            model=model,
            stream_outputs=stream_outputs,
            max_steps=3,
            verbosity_level=LogLevel.OFF,
        )
        result = agent.run("Add 2 and 3.", return_full_result=True)
        model.close()
        return result, agent, server.requests


@pytest.mark.parametrize("stream_outputs", [False, True])
def test_tool_calling_agent_runs_two_steps(stream_outputs) -> None:
    from smolagents import ToolCallingAgent

    result, agent, requests = _run(ToolCallingAgent, TOOL_CALLING_SCRIPT, stream_outputs)
    assert result.output == "5"
    assert len(requests) == 2 and requests[0].json.get("stream", False) is stream_outputs
    assert "5" in agent.memory.steps[1].observations


def test_code_agent_runs_two_steps() -> None:
    _require_sandbox()
    from smolagents import CodeAgent

    result, agent, requests = _run(CodeAgent, CODE_SCRIPT, stream_outputs=False)
    assert result.output == 42
    assert "5" in agent.memory.steps[1].observations
    assert len(requests) == 2


@pytest.mark.parametrize("agent_name", ["ToolCallingAgent", "CodeAgent"])
def test_streamed_run_counts_the_same_tokens(agent_name) -> None:
    import smolagents

    if agent_name == "CodeAgent":
        _require_sandbox()
    agent_class = getattr(smolagents, agent_name)
    script = TOOL_CALLING_SCRIPT if agent_name == "ToolCallingAgent" else CODE_SCRIPT
    whole, whole_agent, _ = _run(agent_class, script, stream_outputs=False)
    streamed, streamed_agent, requests = _run(agent_class, script, stream_outputs=True)
    assert requests[0].json["stream"] is True
    assert streamed.output == whole.output
    assert streamed.token_usage == whole.token_usage and whole.token_usage.input_tokens > 0
    per_step = [[s.token_usage for s in a.memory.steps[1:]] for a in (whole_agent, streamed_agent)]
    assert per_step[0] == per_step[1]
