"""LiteLLMModel and LiteLLMRouterModel through the real litellm package against loopback servers.

``openai/...`` and ``xai/...`` ids with ``api_base`` speak OpenAI's chat completions to the
loopback server; ``ollama_chat/...`` speaks Ollama's ``/api/chat``, which the server also
answers. ``LITELLM_LOCAL_MODEL_COST_MAP`` keeps litellm from fetching its price list.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported

import litellm

from smolagents.errors import MissingDependencyError, ModelHTTPError, UserError
from smolagents.models import REMOVE_PARAMETER, ChatMessage, MessageRole, Model, agglomerate_stream_deltas
from smolagents.models.litellm import LiteLLMModel, LiteLLMRouterModel
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


@pytest.fixture(autouse=True)
def quiet_litellm(monkeypatch) -> None:
    monkeypatch.setattr(litellm, "suppress_debug_info", True)  # no "Give Feedback" banners on errors


@pytest.fixture
def server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer() as running:
        yield running


@pytest.fixture
def llm(server: OpenAICompatibleServer) -> Callable[..., LiteLLMModel]:
    """LiteLLMModels on the loopback server whose retries wait a few milliseconds."""

    def make(model_id: str = "openai/test-model", **kwargs: Any) -> LiteLLMModel:
        kwargs.setdefault("retry_base_delay", 0.001)
        kwargs.setdefault("api_base", server.base_url)
        return LiteLLMModel(model_id, api_key="sk-test", **kwargs)

    return make


@pytest.fixture
def captured(monkeypatch) -> list[dict[str, Any]]:
    """Replace ``litellm.completion`` to see exactly what the adapter passes to LiteLLM."""
    calls: list[dict[str, Any]] = []

    def completion(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return litellm.ModelResponse(
            choices=[
                {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
            ],
            usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        )

    monkeypatch.setattr(litellm, "completion", completion)
    return calls


def test_generate_sends_model_messages_and_kwargs(server, llm) -> None:
    server.enqueue("It is sunny.")
    answer = llm(temperature=0.3, max_tokens=50).generate(MESSAGES)
    assert (answer.role, answer.content) == (MessageRole.ASSISTANT, "It is sunny.")
    assert (answer.token_usage.input_tokens, answer.token_usage.output_tokens) == (11, 3)
    request = server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.json["model"] == "test-model"
    assert (request.json["temperature"], request.json["max_tokens"]) == (0.3, 50)


def test_native_tool_calls(server, llm) -> None:
    server.enqueue(ServerReply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}]))
    message = llm().generate(MESSAGES, tools_to_call_from=[WEATHER_TOOL])
    (call,) = message.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", {"city": "Paris"})
    assert server.requests[0].json["tools"] == [WEATHER_TOOL]
    assert server.requests[0].json["tool_choice"] == "required"


def test_stream_fragments_and_usage_counted_once(server, llm) -> None:
    reply = ServerReply(
        content="Let me check the weather for you.",
        reasoning_content="The user wants weather.",
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}],
    )
    server.enqueue(reply, reply)
    model = llm()
    deltas = list(model.generate_stream(MESSAGES, tools_to_call_from=[WEATHER_TOOL]))
    assert sum(1 for d in deltas if d.content) > 3
    assert sum(1 for d in deltas if d.tool_calls) >= 3
    assert sum(1 for d in deltas if d.token_usage is not None) == 1
    streamed = agglomerate_stream_deltas(deltas)
    assert streamed.content == "Let me check the weather for you."
    assert streamed.reasoning_content == "The user wants weather."
    assert model.parse_tool_calls(streamed).tool_calls[0].function.arguments == {"city": "Paris"}
    whole = model.generate(MESSAGES, tools_to_call_from=[WEATHER_TOOL])
    assert streamed.token_usage == whole.token_usage
    assert server.requests[0].json["stream_options"] == {"include_usage": True}


def test_async_generate_and_stream_in_two_event_loops(server, llm) -> None:
    server.enqueue("async hello", ServerReply(content="streamed async", usage=(7, 3)), "second loop")
    model = llm()

    async def run() -> tuple[ChatMessage, ChatMessage]:
        whole = await model.agenerate(MESSAGES)
        deltas = [delta async for delta in model.agenerate_stream(MESSAGES)]
        return whole, agglomerate_stream_deltas(deltas)

    whole, streamed = asyncio.run(run())
    assert whole.content == "async hello" and streamed.content == "streamed async"
    assert (streamed.token_usage.input_tokens, streamed.token_usage.output_tokens) == (7, 3)
    assert asyncio.run(model.agenerate(MESSAGES)).content == "second loop"


def test_server_error_is_retried_by_apimodel_only(server, llm) -> None:
    for _ in range(3):
        server.enqueue(ServerFailure(500, {"error": {"message": "upstream exploded"}}))
    with pytest.raises(ModelHTTPError) as caught:
        llm(retry_max_attempts=3).generate(MESSAGES)
    assert len(server.requests) == 3  # max_retries=0: the openai SDK inside litellm does not retry too
    assert caught.value.status_code == 500
    assert "upstream exploded" in str(caught.value) and "3 attempts" in str(caught.value)


def test_rate_limit_honours_retry_after(server, llm) -> None:
    server.enqueue(
        ServerFailure(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "2"}), "ok"
    )
    model = llm()
    waits: list[float] = []
    model._sleep = waits.append
    assert model.generate(MESSAGES).content == "ok"
    assert waits == [2.0]  # read from litellm_response_headers


def test_stop_rejected_by_server_is_dropped_and_cut_client_side(server, llm) -> None:
    server.reject_stop = True
    server.enqueue("Action: search\nObservation: invented", "Again\nObservation: x")
    model = llm()
    assert model.generate(MESSAGES, stop_sequences=["Observation:"]).content == "Action: search\n"
    assert model.generate(MESSAGES, stop_sequences=["Observation:"]).content == "Again\n"
    assert ["stop" in r.json for r in server.requests] == [True, False, False]


def test_grok_recipe_over_the_wire(server) -> None:
    server.enqueue("Hello from Grok.\nObservation: cut")
    model = LiteLLMModel(
        model_id="xai/grok-4",
        api_key="xai-test",
        api_base=server.base_url,
        stop=REMOVE_PARAMETER,
        temperature=0.7,
    )
    assert model.generate(MESSAGES, stop_sequences=["Observation:"]).content == "Hello from Grok.\n"
    body = server.requests[0].json
    assert "stop" not in body and body["model"] == "grok-4" and body["temperature"] == 0.7


def test_grok_recipe_at_the_litellm_boundary(captured) -> None:
    model = LiteLLMModel(model_id="xai/grok-4", api_key="xai-key", stop=REMOVE_PARAMETER, temperature=0.7)
    model.generate(MESSAGES, stop_sequences=["Observation:"])
    (call,) = captured
    assert "stop" not in call
    assert (call["model"], call["api_key"], call["temperature"], call["max_retries"]) == (
        "xai/grok-4",
        "xai-key",
        0.7,
        0,
    )


def test_ollama_recipe_over_the_wire(server) -> None:
    reply = ServerReply(
        content="Checking.\nObservation: none",
        reasoning_content="think",
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}],
    )
    server.enqueue(reply, reply)
    model = LiteLLMModel(
        model_id="ollama_chat/llama3.2",
        api_base=server.url,
        api_key="ollama-key",
        num_ctx=8192,
        retry_base_delay=0.001,
    )
    assert model.flatten_messages_as_text is True
    whole = model.generate(MESSAGES, tools_to_call_from=[WEATHER_TOOL], stop_sequences=["Observation:"])
    streamed = agglomerate_stream_deltas(
        model.generate_stream(MESSAGES, tools_to_call_from=[WEATHER_TOOL], stop_sequences=["Observation:"])
    )
    for message in (whole, streamed):
        assert (message.content, message.reasoning_content) == ("Checking.\n", "think")
        assert model.parse_tool_calls(message).tool_calls[0].function.arguments == {"city": "Paris"}
    assert streamed.token_usage == whole.token_usage
    chats = [r for r in server.requests if r.path == "/api/chat"]  # litellm may also ask /api/show
    request = chats[0]
    assert len(chats) == 2 and request.headers["authorization"] == "Bearer ollama-key"
    assert request.json["options"] == {"num_ctx": 8192, "stop": ["Observation:"]}
    assert [m["content"] for m in request.json["messages"]] == [
        "You are a helpful agent.",
        "What is the weather in Paris?",
    ]
    assert request.json["model"] == "llama3.2" and chats[1].json["stream"] is True


def test_ollama_recipe_at_the_litellm_boundary(captured) -> None:
    model = LiteLLMModel(
        model_id="ollama_chat/llama3.2",
        api_base="http://localhost:11434",
        api_key="YOUR_API_KEY",
        num_ctx=8192,
    )
    model.generate(MESSAGES)
    (call,) = captured
    assert (call["model"], call["api_base"], call["api_key"], call["num_ctx"]) == (
        "ollama_chat/llama3.2",
        "http://localhost:11434",
        "YOUR_API_KEY",
        8192,
    )
    assert call["messages"] == [
        {"role": "system", "content": "You are a helpful agent."},
        {"role": "user", "content": "What is the weather in Paris?"},
    ]


@pytest.mark.parametrize(
    ("model_id", "flatten"),
    [
        ("ollama/llama3", True),
        ("ollama_chat/qwen", True),
        ("groq/llama-3.3-70b", True),
        ("cerebras/x", True),
        ("openai/gpt-4o", False),
        ("anthropic/claude-3-5-sonnet-latest", False),
    ],
)
def test_flatten_default_by_provider_prefix(model_id, flatten) -> None:
    assert LiteLLMModel(model_id).flatten_messages_as_text is flatten
    assert (
        LiteLLMModel(model_id, flatten_messages_as_text=not flatten).flatten_messages_as_text is not flatten
    )


def test_model_name_alias_and_missing_model_id() -> None:
    model = LiteLLMModel(model_name="bedrock/anthropic.claude-3-sonnet-20240229-v1:0")
    assert (
        model.model_id == "bedrock/anthropic.claude-3-sonnet-20240229-v1:0"
        and "model_name" not in model.kwargs
    )
    with pytest.raises(UserError, match="needs a model_id"):
        LiteLLMModel()


def test_to_dict_has_no_api_key_and_round_trips(server) -> None:
    model = LiteLLMModel(
        "ollama_chat/llama3.2",
        api_base=server.url,
        api_key="sk-very-secret",
        flatten_messages_as_text=False,
        num_ctx=8192,
        stop=REMOVE_PARAMETER,
        requests_per_minute=600,
    )
    data = model.to_dict()
    assert "secret" not in str(data)
    assert data["class"] == "LiteLLMModel" and data["flatten_messages_as_text"] is False
    rebuilt = Model.from_dict(data, api_key="sk-again")
    assert isinstance(rebuilt, LiteLLMModel) and rebuilt.flatten_messages_as_text is False
    assert rebuilt.kwargs == {"num_ctx": 8192, "stop": REMOVE_PARAMETER}
    assert rebuilt.to_dict() == data
    assert "flatten_messages_as_text" not in LiteLLMModel("ollama/x").to_dict()  # the default is implied


def test_model_copies_and_pickles_after_use(server, llm) -> None:
    import copy
    import pickle

    server.enqueue("before", "after copy", "after pickle")
    model = llm(temperature=0.1)
    model.generate(MESSAGES)
    assert copy.deepcopy(model).generate(MESSAGES).content == "after copy"
    assert pickle.loads(pickle.dumps(model)).generate(MESSAGES).content == "after pickle"


def test_missing_litellm_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'smolagents\[litellm\]'"):
        LiteLLMModel("openai/gpt-4o")


def test_adapter_modules_do_not_import_their_sdks() -> None:
    code = (
        "import sys, smolagents.models.litellm, smolagents.models.huggingface\n"
        "assert 'litellm' not in sys.modules and 'huggingface_hub' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ---------------------------------------------------------------- router
@pytest.fixture
def two_deployments() -> Iterator[tuple[OpenAICompatibleServer, OpenAICompatibleServer]]:
    with (
        OpenAICompatibleServer(default=ServerFailure(500, {"error": {"message": "down"}})) as broken,
        OpenAICompatibleServer() as healthy,
    ):
        yield broken, healthy


def _router_model(broken: OpenAICompatibleServer, healthy: OpenAICompatibleServer, **kwargs: Any) -> Any:
    return LiteLLMRouterModel(
        model_id="primary",
        model_list=[
            {
                "model_name": "primary",
                "litellm_params": {"model": "openai/a", "api_base": broken.base_url, "api_key": "sk-a"},
            },
            {
                "model_name": "backup",
                "litellm_params": {"model": "openai/b", "api_base": healthy.base_url, "api_key": "sk-b"},
            },
        ],
        # Deterministic and fast: no router retries, fall back from the broken group at once.
        client_kwargs={
            "routing_strategy": "simple-shuffle",
            "num_retries": 0,
            "fallbacks": [{"primary": ["backup"]}],
        },
        retry_base_delay=0.001,
        **kwargs,
    )


def test_router_falls_back_to_the_healthy_deployment(two_deployments) -> None:
    broken, healthy = two_deployments
    healthy.enqueue(
        "from backup",
        ServerReply(
            content="streamed from backup",
            tool_calls=[{"name": "get_weather", "arguments": {"city": "Lyon"}}],
        ),
        "async from backup",
    )
    model = _router_model(broken, healthy, temperature=0.2)
    assert model.generate(MESSAGES).content == "from backup"
    streamed = agglomerate_stream_deltas(model.generate_stream(MESSAGES, tools_to_call_from=[WEATHER_TOOL]))
    assert streamed.content == "streamed from backup"
    assert model.parse_tool_calls(streamed).tool_calls[0].function.arguments == {"city": "Lyon"}
    assert asyncio.run(model.agenerate(MESSAGES)).content == "async from backup"
    assert len(broken.requests) >= 1 and len(healthy.requests) == 3
    assert healthy.requests[0].json["model"] == "b" and healthy.requests[0].json["temperature"] == 0.2
    assert healthy.requests[0].headers["authorization"] == "Bearer sk-b"
    assert model.client.routing_strategy == "simple-shuffle"


def test_router_to_dict_strips_deployment_keys(two_deployments) -> None:
    model = _router_model(*two_deployments)
    data = model.to_dict()
    assert "sk-a" not in str(data) and "sk-b" not in str(data)
    assert (
        data["class"] == "LiteLLMRouterModel"
        and data["client_kwargs"]["routing_strategy"] == "simple-shuffle"
    )
    rebuilt = Model.from_dict(data)
    assert isinstance(rebuilt, LiteLLMRouterModel) and rebuilt.to_dict() == data


def test_router_flattens_for_groq_and_cerebras_deployments() -> None:
    model_list = [
        {"model_name": "llama-3.3-70b", "litellm_params": {"model": "groq/llama-3.3-70b"}},
        {"model_name": "llama-3.3-70b", "litellm_params": {"model": "cerebras/llama-3.3-70b"}},
    ]
    assert LiteLLMRouterModel("llama-3.3-70b", model_list).flatten_messages_as_text is True
    other = [{"model_name": "g", "litellm_params": {"model": "openai/gpt-4o"}}]
    assert LiteLLMRouterModel("g", other).flatten_messages_as_text is False


# ---------------------------------------------------------------- agents over the adapters
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


def _make(kind: str, server: OpenAICompatibleServer) -> Any:
    if kind == "router":
        deployment = {"model": "openai/test-model", "api_base": server.base_url, "api_key": "k"}
        return LiteLLMRouterModel("group", [{"model_name": "group", "litellm_params": deployment}])
    return LiteLLMModel("openai/test-model", api_base=server.base_url, api_key="k", retry_base_delay=0.001)


def _run(agent_name: str, kind: str, stream_outputs: bool) -> tuple[Any, Any, list[Any]]:
    import smolagents

    if agent_name == "CodeAgent":
        _require_sandbox()
    script = TOOL_CALLING_SCRIPT if agent_name == "ToolCallingAgent" else CODE_SCRIPT
    with OpenAICompatibleServer(script) as server:
        agent = getattr(smolagents, agent_name)(
            tools=[_add_tool()],
            model=_make(kind, server),
            stream_outputs=stream_outputs,
            max_steps=3,
            verbosity_level=smolagents.LogLevel.OFF,
        )
        result = agent.run("Add 2 and 3.", return_full_result=True)
        return result, agent, server.requests


@pytest.mark.parametrize("kind", ["litellm", "router"])
@pytest.mark.parametrize("agent_name", ["ToolCallingAgent", "CodeAgent"])
def test_agent_runs_two_steps_and_streamed_usage_matches(agent_name, kind) -> None:
    whole, whole_agent, requests = _run(agent_name, kind, stream_outputs=False)
    streamed, streamed_agent, streamed_requests = _run(agent_name, kind, stream_outputs=True)
    assert whole.output == streamed.output == ("5" if agent_name == "ToolCallingAgent" else 42)
    assert len(requests) == len(streamed_requests) == 2
    assert "5" in whole_agent.memory.steps[1].observations
    assert streamed_requests[0].json["stream"] is True and "stream" not in requests[0].json
    assert streamed.token_usage == whole.token_usage and whole.token_usage.input_tokens > 0
    per_step = [[s.token_usage for s in a.memory.steps[1:]] for a in (whole_agent, streamed_agent)]
    assert per_step[0] == per_step[1]
