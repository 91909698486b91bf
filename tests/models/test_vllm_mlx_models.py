"""VLLMModel and MLXModel, tested up to the library boundary.

These are boundary tests because the real libraries cannot run on this machine: vLLM needs a
supported GPU and mlx-lm needs Apple silicon, and neither is available here. Each test
installs a stand-in ``vllm`` / ``mlx_lm`` module into ``sys.modules`` that records the calls
the adapter makes (constructor arguments, prompts, SamplingParams, stream_generate kwargs)
and returns canned outputs shaped like the real ones (``RequestOutput`` with
``prompt_token_ids`` and ``outputs[0].text/token_ids``; ``GenerationResponse`` with
``text``, ``prompt_tokens``, ``generation_tokens``, ``finish_reason``). The tokenizer
stand-in renders a real Jinja chat template, as Hugging Face tokenizers do.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jinja2
import pytest

from smolagents import LogLevel, ToolCallingAgent, tool
from smolagents.errors import MissingDependencyError
from smolagents.models import ChatMessage, Model, agglomerate_stream_deltas
from smolagents.models.mlx import MLXModel
from smolagents.models.vllm import VLLMModel

TEMPLATE = (
    "{% if tools %}<tools>{% for t in tools %}{{ t.function.name }};{% endfor %}</tools>{% endif %}"
    "{% for m in messages %}<{{ m.role }}>{{ m.content }}</{{ m.role }}>{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% if enable_thinking is defined and not enable_thinking %}"
    "<nothink>{% endif %}{% endif %}"
)
MESSAGES = [
    ChatMessage(role="system", content=[{"type": "text", "text": "Be terse."}]),
    ChatMessage(role="user", content=[{"type": "text", "text": "Hi"}]),
]
PROMPT = "<system>Be terse.</system><user>Hi</user><assistant>"


class FakeTokenizer:
    """A Hugging Face tokenizer's chat-template and encode surface; one token per character."""

    def __init__(self, template: str | None = TEMPLATE) -> None:
        self.chat_template = template
        self.template_calls: list[dict[str, Any]] = []

    def apply_chat_template(
        self, conversation: list[dict[str, Any]], tools: Any = None, add_generation_prompt: bool = False,
        tokenize: bool = True, **kwargs: Any,
    ) -> Any:  # fmt: skip
        self.template_calls.append({"tools": tools, "tokenize": tokenize, **kwargs})
        text = jinja2.Template(self.chat_template).render(
            messages=conversation, tools=tools, add_generation_prompt=add_generation_prompt, **kwargs
        )
        return text if not tokenize else self.encode(text)

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return ([1] if add_special_tokens else []) + [ord(c) for c in text]


Responder = Callable[[str], str]


def answer_by_turn(first: str, later: str) -> Responder:
    """Answer ``first`` to a conversation's first turn, ``later`` once an assistant turn exists."""
    return lambda prompt: later if "</assistant>" in prompt else first


@tool
def get_weather(city: str) -> str:
    """Weather for a city.

    Args:
        city: The city name.
    """
    return f"Sunny in {city}"


WEATHER_CALL = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
FINAL_CALL = '{"name": "final_answer", "arguments": {"answer": "Sunny in Paris"}}'


# =========================================================================== vLLM
@dataclass
class CompletionOutput:
    text: str
    token_ids: list[int]
    finish_reason: str | None = "stop"


@dataclass
class RequestOutput:
    prompt: str
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]


@dataclass
class FakeVLLM:
    """The recorded state of the stand-in ``vllm`` module."""

    respond: Responder = lambda prompt: "Hello world"
    tokenizer: FakeTokenizer = field(default_factory=FakeTokenizer)
    llm_kwargs: list[dict[str, Any]] = field(default_factory=list)
    generate_calls: list[dict[str, Any]] = field(default_factory=list)

    def module(self, structured: str = "StructuredOutputsParams") -> types.ModuleType:
        fake = self

        class SamplingParams:
            def __init__(self, **kwargs: Any) -> None:
                self.kwargs = kwargs

        class OutputsParams:
            def __init__(self, **kwargs: Any) -> None:
                self.kwargs = kwargs

        class LLM:
            def __init__(self, model: str, **kwargs: Any) -> None:
                fake.llm_kwargs.append({"model": model, **kwargs})

            def get_tokenizer(self) -> FakeTokenizer:
                return fake.tokenizer

            def generate(self, prompts: Any, sampling_params: Any = None, use_tqdm: bool = True) -> list[Any]:
                fake.generate_calls.append(
                    {"prompts": prompts, "params": sampling_params, "use_tqdm": use_tqdm}
                )
                results = []
                for prompt in prompts:
                    text = fake.respond(prompt)
                    keep = sampling_params.kwargs.get("include_stop_str_in_output", False)
                    for stop in sampling_params.kwargs.get("stop") or []:  # vLLM applies stop itself
                        if stop in text:
                            text = text.split(stop)[0] + (stop if keep else "")
                    results.append(
                        RequestOutput(
                            prompt,
                            fake.tokenizer.encode(prompt),
                            [CompletionOutput(text, list(range(len(text.split()))))],
                        )
                    )
                return results

        vllm = types.ModuleType("vllm")
        vllm.LLM, vllm.SamplingParams = LLM, SamplingParams
        sampling = types.ModuleType("vllm.sampling_params")
        setattr(sampling, structured, OutputsParams)
        vllm.sampling_params = sampling
        return vllm

    @property
    def params(self) -> dict[str, Any]:
        return self.generate_calls[-1]["params"].kwargs


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> FakeVLLM:
    fake = FakeVLLM()
    module = fake.module()
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", module.sampling_params)
    return fake


def test_vllm_loads_the_model_with_model_kwargs(fake_vllm: FakeVLLM) -> None:
    model = VLLMModel("org/tiny", model_kwargs={"max_model_len": 4096, "revision": "main"})
    assert fake_vllm.llm_kwargs == [{"model": "org/tiny", "max_model_len": 4096, "revision": "main"}]
    assert model.tokenizer is fake_vllm.tokenizer
    assert not model.supports_streaming  # vLLM's offline engine answers whole


def test_vllm_generate_renders_template_and_maps_sampling_params(fake_vllm: FakeVLLM) -> None:
    fake_vllm.respond = lambda prompt: "Hello big world"
    model = VLLMModel("org/tiny", temperature=0.2, max_new_tokens=64)
    answer = model.generate(MESSAGES, stop_sequences=["Observation:"], top_p=0.9)
    call = fake_vllm.generate_calls[0]
    assert call["prompts"] == [PROMPT] and call["use_tqdm"] is False
    assert fake_vllm.params == {"temperature": 0.2, "max_tokens": 64, "top_p": 0.9, "stop": ["Observation:"]}
    assert answer.content == "Hello big world"
    assert (answer.token_usage.input_tokens, answer.token_usage.output_tokens) == (len(PROMPT) + 1, 3)
    assert answer.raw.prompt == PROMPT


def test_vllm_max_tokens_default_and_precedence(fake_vllm: FakeVLLM) -> None:
    model = VLLMModel("org/tiny")
    model.generate(MESSAGES)
    assert fake_vllm.params == {"max_tokens": None}  # not vLLM's 16-token default
    model.generate(MESSAGES, max_new_tokens=10, max_tokens=20)
    assert fake_vllm.params["max_tokens"] == 20


def test_vllm_cuts_stop_sequences_the_engine_left_in(fake_vllm: FakeVLLM) -> None:
    fake_vllm.respond = lambda prompt: "Thought: ok<end_code>junk"
    model = VLLMModel("org/tiny", include_stop_str_in_output=True)
    answer = model.generate(MESSAGES, stop_sequences=["<end_code>"])
    assert answer.raw.outputs[0].text == "Thought: ok<end_code>"
    assert answer.content == "Thought: ok"
    assert fake_vllm.params["include_stop_str_in_output"] is True


def test_vllm_tools_in_template_and_tool_calls_from_text(fake_vllm: FakeVLLM) -> None:
    fake_vllm.respond = lambda prompt: f"<think>Need weather.</think>{WEATHER_CALL}"
    answer = VLLMModel("org/tiny").generate(MESSAGES, tools_to_call_from=[get_weather])
    assert fake_vllm.generate_calls[0]["prompts"][0].startswith("<tools>get_weather;</tools><system>")
    assert answer.reasoning_content == "Need weather."
    (call,) = answer.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", {"city": "Paris"})
    assert "tool_choice" not in fake_vllm.params and "tools" not in fake_vllm.params


def test_vllm_describes_tools_in_text_when_the_template_cannot(fake_vllm: FakeVLLM) -> None:
    fake_vllm.tokenizer = FakeTokenizer("{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}")
    VLLMModel("org/tiny").generate(MESSAGES, tools_to_call_from=[get_weather])
    prompt = fake_vllm.generate_calls[0]["prompts"][0]
    assert prompt.startswith("<system>Be terse.\n\nYou can call the following tools.")
    assert '"name": "get_weather"' in prompt


def test_vllm_without_chat_template_sends_a_plain_transcript(fake_vllm: FakeVLLM) -> None:
    fake_vllm.tokenizer = FakeTokenizer(None)  # a base model: no chat template at all
    VLLMModel("org/tiny").generate(MESSAGES, tools_to_call_from=[get_weather])
    prompt = fake_vllm.generate_calls[0]["prompts"][0]
    assert prompt.startswith("System: Be terse.\n\nYou can call the following tools.")
    assert prompt.endswith("\nUser: Hi\nAssistant:")


@pytest.mark.parametrize("structured", ["StructuredOutputsParams", "GuidedDecodingParams"])
def test_vllm_response_format_becomes_structured_outputs(
    monkeypatch: pytest.MonkeyPatch, structured: str
) -> None:
    fake = FakeVLLM(respond=lambda prompt: '{"answer": 1}')
    module = fake.module(structured)
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", module.sampling_params)
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    VLLMModel("org/tiny").generate(MESSAGES, response_format=response_format)
    key = "structured_outputs" if structured == "StructuredOutputsParams" else "guided_decoding"
    assert fake.params[key].kwargs == {"json": schema}
    VLLMModel("org/tiny").generate(MESSAGES, response_format={"type": "json_object"})
    assert fake.params[key].kwargs == {"json_object": True}


def test_vllm_tool_calling_agent_run(fake_vllm: FakeVLLM) -> None:
    fake_vllm.respond = answer_by_turn(WEATHER_CALL, FINAL_CALL)
    agent = ToolCallingAgent(tools=[get_weather], model=VLLMModel("org/tiny"), verbosity_level=LogLevel.OFF)
    assert agent.run("Weather in Paris?") == "Sunny in Paris"
    assert len(fake_vllm.generate_calls) == 2
    assert fake_vllm.params["stop"] == ["Observation:", "Calling tools:"]


def test_vllm_code_agent_run(fake_vllm: FakeVLLM) -> None:
    fake_vllm.respond = lambda prompt: "Thought: easy.\n<code>\nfinal_answer(6 * 7)\n</code>"
    _run_code_agent(VLLMModel("org/tiny"))
    assert "</code>" in fake_vllm.params["stop"]


def test_vllm_round_trip(fake_vllm: FakeVLLM) -> None:
    model = VLLMModel("org/tiny", model_kwargs={"max_model_len": 2048, "hf_token": "s3cret"}, temperature=0.1)
    data = model.to_dict()
    assert data == {
        "class": "VLLMModel",
        "model_id": "org/tiny",
        "model_kwargs": {"max_model_len": 2048},
        "temperature": 0.1,
    }
    rebuilt = Model.from_dict(data)
    assert isinstance(rebuilt, VLLMModel) and rebuilt.to_dict() == data
    assert fake_vllm.llm_kwargs[-1] == {"model": "org/tiny", "max_model_len": 2048}


def test_missing_vllm_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'smolagents\[vllm\]'"):
        VLLMModel("org/tiny")


# =========================================================================== MLX
@dataclass
class GenerationResponse:
    text: str
    token: int
    prompt_tokens: int
    generation_tokens: int
    finish_reason: str | None = None


@dataclass
class FakeMLX:
    """The recorded state of the stand-in ``mlx_lm`` module."""

    pieces: Callable[[list[int]], list[str]] = lambda prompt: ["Hello", " world"]
    tokenizer: FakeTokenizer = field(default_factory=FakeTokenizer)
    load_calls: list[dict[str, Any]] = field(default_factory=list)
    stream_calls: list[dict[str, Any]] = field(default_factory=list)
    pulled: int = 0
    closed: bool = False

    def module(self) -> tuple[types.ModuleType, types.ModuleType]:
        fake = self

        def load(path: str, tokenizer_config: dict[str, Any] | None = None, **kwargs: Any) -> tuple[Any, Any]:
            fake.load_calls.append({"path": path, "tokenizer_config": tokenizer_config, **kwargs})
            return object(), fake.tokenizer

        def stream_generate(
            model: Any, tokenizer: Any, prompt: Any, max_tokens: int = 256, **kwargs: Any
        ) -> Iterator[Any]:
            fake.stream_calls.append({"prompt": prompt, "max_tokens": max_tokens, **kwargs})
            pieces = fake.pieces(prompt)[:max_tokens]
            try:
                for i, piece in enumerate(pieces):
                    fake.pulled += 1
                    last = i == len(pieces) - 1
                    yield GenerationResponse(piece, i, len(prompt), i + 1, "stop" if last else None)
            finally:
                fake.closed = True

        mlx_lm = types.ModuleType("mlx_lm")
        mlx_lm.load, mlx_lm.stream_generate = load, stream_generate
        sample_utils = types.ModuleType("mlx_lm.sample_utils")
        sample_utils.make_sampler = lambda **kwargs: ("sampler", kwargs)
        mlx_lm.sample_utils = sample_utils
        return mlx_lm, sample_utils

    @property
    def prompt_text(self) -> str:
        return "".join(chr(i) for i in self.stream_calls[-1]["prompt"])


@pytest.fixture
def fake_mlx(monkeypatch: pytest.MonkeyPatch) -> FakeMLX:
    fake = FakeMLX()
    mlx_lm, sample_utils = fake.module()
    monkeypatch.setitem(sys.modules, "mlx_lm", mlx_lm)
    monkeypatch.setitem(sys.modules, "mlx_lm.sample_utils", sample_utils)
    return fake


def test_mlx_loads_with_load_kwargs_and_trust_remote_code(fake_mlx: FakeMLX) -> None:
    MLXModel("mlx-community/tiny", trust_remote_code=True, load_kwargs={"adapter_path": "a", "lazy": True})
    assert fake_mlx.load_calls == [
        {
            "path": "mlx-community/tiny",
            "tokenizer_config": {"trust_remote_code": True},
            "adapter_path": "a",
            "lazy": True,
        }
    ]


def test_mlx_generate_renders_template_with_kwargs_and_counts_tokens(fake_mlx: FakeMLX) -> None:
    model = MLXModel("m", apply_chat_template_kwargs={"enable_thinking": False}, max_tokens=100)
    answer = model.generate(MESSAGES)
    assert fake_mlx.prompt_text == PROMPT + "<nothink>"  # rendered with the template kwargs
    assert fake_mlx.tokenizer.template_calls[-1]["enable_thinking"] is False
    assert fake_mlx.stream_calls[-1]["prompt"][0] != 1  # no second BOS: the template has it
    assert fake_mlx.stream_calls[-1]["max_tokens"] == 100
    assert answer.content == "Hello world"
    assert (answer.token_usage.input_tokens, answer.token_usage.output_tokens) == (len(PROMPT) + 9, 2)


def test_mlx_stop_sequences_end_generation_while_streaming(fake_mlx: FakeMLX) -> None:
    fake_mlx.pieces = lambda prompt: ["Thought:", " go", "\nObserv", "ation:", " junk", " more", " more"]
    model = MLXModel("m")
    deltas = list(model.generate_stream(MESSAGES, stop_sequences=["Observation:"]))
    assert agglomerate_stream_deltas(deltas).content == "Thought: go\n"
    assert fake_mlx.pulled == 4 and fake_mlx.closed  # nothing generated after the stop sequence
    assert [d.token_usage.output_tokens for d in deltas if d.token_usage] == [4]  # usage once
    assert "stop" not in fake_mlx.stream_calls[-1]  # mlx-lm has no stop option: cut client-side


def test_mlx_stream_equals_generate(fake_mlx: FakeMLX) -> None:
    fake_mlx.pieces = lambda prompt: ["<think>", "hm", "</think>", WEATHER_CALL[:20], WEATHER_CALL[20:]]
    model = MLXModel("m")
    whole = model.generate(MESSAGES, tools_to_call_from=[get_weather])
    streamed = agglomerate_stream_deltas(model.generate_stream(MESSAGES, tools_to_call_from=[get_weather]))
    assert whole.reasoning_content == streamed.reasoning_content == "hm"
    assert whole.content == streamed.content == WEATHER_CALL
    assert whole.token_usage == streamed.token_usage
    assert whole.tool_calls[0].function.arguments == {"city": "Paris"}
    assert json.loads(streamed.tool_calls[0].function.arguments) == {"city": "Paris"}


def test_mlx_sampling_kwargs_go_through_make_sampler(fake_mlx: FakeMLX) -> None:
    MLXModel("m", temperature=0.3).generate(MESSAGES, top_p=0.8, max_new_tokens=7, repetition_penalty=1.1)
    call = fake_mlx.stream_calls[-1]
    assert call["sampler"] == ("sampler", {"temp": 0.3, "top_p": 0.8})
    assert (call["max_tokens"], call["repetition_penalty"]) == (7, 1.1)
    assert "temperature" not in call and "top_p" not in call


def test_mlx_refuses_response_format(fake_mlx: FakeMLX) -> None:
    with pytest.raises(ValueError, match="response_format"):
        MLXModel("m").generate(MESSAGES, response_format={"type": "json_object"})


@pytest.mark.parametrize("stream_outputs", [False, True])
def test_mlx_tool_calling_agent_run(fake_mlx: FakeMLX, stream_outputs: bool) -> None:
    def pieces(prompt: list[int]) -> list[str]:
        text = "".join(chr(i) for i in prompt)
        answer = FINAL_CALL if "</assistant>" in text else WEATHER_CALL
        return [answer[i : i + 7] for i in range(0, len(answer), 7)]

    fake_mlx.pieces = pieces
    agent = ToolCallingAgent(
        tools=[get_weather], model=MLXModel("m"), verbosity_level=LogLevel.OFF, stream_outputs=stream_outputs
    )
    result = agent.run("Weather in Paris?", return_full_result=True)
    assert result.output == "Sunny in Paris"
    expected = -(-len(WEATHER_CALL) // 7) + -(-len(FINAL_CALL) // 7)
    assert result.token_usage.output_tokens == expected


def test_mlx_code_agent_run(fake_mlx: FakeMLX) -> None:
    fake_mlx.pieces = lambda prompt: ["Thought: easy.\n<code>\n", "final_answer(6 * 7)\n", "</code>", "junk"]
    _run_code_agent(MLXModel("m"))
    assert fake_mlx.pulled == 3


def test_mlx_round_trip(fake_mlx: FakeMLX) -> None:
    model = MLXModel(
        "m",
        trust_remote_code=True,
        load_kwargs={"lazy": True},
        apply_chat_template_kwargs={"x": 1},
        max_tokens=9,
    )
    data = model.to_dict()
    assert data == {
        "class": "MLXModel",
        "model_id": "m",
        "trust_remote_code": True,
        "load_kwargs": {"lazy": True},
        "apply_chat_template_kwargs": {"x": 1},
        "max_tokens": 9,
    }
    rebuilt = Model.from_dict(data)
    assert isinstance(rebuilt, MLXModel) and rebuilt.to_dict() == data


def test_missing_mlx_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlx_lm", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'smolagents\[mlx-lm\]'"):
        MLXModel("m")


# =========================================================================== shared
def _run_code_agent(model: Model) -> None:
    from smolagents import CodeAgent

    agent = CodeAgent(tools=[], model=model, verbosity_level=LogLevel.OFF)
    assert agent.run("What is 6 times 7?") == 42
