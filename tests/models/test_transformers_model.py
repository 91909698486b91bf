"""TransformersModel on real torch + transformers, with tiny models built inside the tests.

No download: each model is a randomly initialised Llama (or Llava) with a tokenizer built
offline from ``tokenizers`` and a Jinja chat template set here, saved with
``save_pretrained`` to a temporary folder and loaded through ``TransformersModel``'s real
loading path with ``HF_HUB_OFFLINE=1``.

To make the output deterministic, the weights are rigged into a "successor" model: the
attention and MLP blocks write nothing to the residual stream, the embedding of token ``i``
is the unit vector ``e_i``, and ``lm_head`` maps ``e_i`` to the token chosen to follow
``i``. Greedy decoding therefore emits a scripted chain of tokens, starting from the last
token of the prompt (the generation marker the chat template writes). Script tokens are
whole strings (``"Hello"``, ``'{"name": "get_weather", '``...) in the vocabulary, while
prompts are tokenised character by character, so prompts never contain script tokens.
The chat template writes ``<|assistant|>`` for a conversation's first answer and
``<|answer|>`` once an assistant turn exists, which lets one model answer an agent's
first and second step differently. Everything else (template rendering, tokenisation,
``generate`` with stopping criteria, streaming, decoding, parsing) is the real pipeline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

from smolagents import LogLevel, ToolCallingAgent, tool
from smolagents.errors import MissingDependencyError
from smolagents.models import REMOVE_PARAMETER, ChatMessage, Model, agglomerate_stream_deltas
from smolagents.models.transformers import TransformersModel

SPECIAL = ["<unk>", "<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>", "<|answer|>"]
SPECIAL += ["<|end|>", "<|tools|>", "<image>"]
CHARS = [chr(i) for i in range(32, 127)] + ["\n"]
EOS = "</s>"

ROLE_TURNS = (
    "{% for m in messages %}<|{{ m.role }}|>"
    "{% if m.content is string %}{{ m.content }}{% else %}{% for p in m.content %}"
    "{% if p.type == 'image' %}<image>{% elif p.type == 'text' %}{{ p.text }}{% endif %}"
    "{% endfor %}{% endif %}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}"
    "{% if messages | selectattr('role', 'equalto', 'assistant') | list %}<|answer|>"
    "{% else %}<|assistant|>{% endif %}{% endif %}"
)
TOOLS_TEMPLATE = (
    "{% if tools %}<|tools|>{% for t in tools %}{{ t.function.name }};{% endfor %}<|end|>{% endif %}"
    + ROLE_TURNS
)
PLAIN_TEMPLATE = ROLE_TURNS  # ignores tools: the adapter must describe them in text

# Scripts: marker -> tokens emitted after it; ``loop`` makes the first chain cycle forever.
LOOP_SCRIPT = {
    "<|assistant|>": ["Hello", " world", "STOP", " after", " more"],
    "<|answer|>": ["<think>", "plan it", "</think>", "Done."],
}
WEATHER_CALL = ['{"name": "get_weather", ', '"arguments": {"city": "Paris"}}']
FINAL_CALL = ['{"name": "final_answer", ', '"arguments": {"answer": "Sunny in Paris"}}']
AGENT_SCRIPT = {"<|assistant|>": WEATHER_CALL, "<|answer|>": FINAL_CALL}
CODE_SCRIPT = {
    "<|assistant|>": [
        "Thought: compute it.\n",
        "<code>\n",
        "final_answer(6 * 7)\n",
        "</code>",
        "\nObservation: x",
    ]
}

MESSAGES = [
    ChatMessage(role="system", content=[{"type": "text", "text": "Be terse."}]),
    ChatMessage(role="user", content=[{"type": "text", "text": "Hi"}]),
]


# --------------------------------------------------------------------------- building
def _tokenizer(script: dict[str, list[str]], template: str) -> Any:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    words = [token for chain in script.values() for token in chain]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(SPECIAL + CHARS + words))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # characters
    backend.decoder = decoders.Fuse()  # decoding concatenates tokens
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token=EOS,
        additional_special_tokens=SPECIAL[4:],
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = template
    return tokenizer


def _successors(vocab: dict[str, int], script: dict[str, list[str]], loop: bool) -> dict[int, int]:
    following: dict[int, int] = {}
    for index, (marker, chain) in enumerate(script.items()):
        ids = [vocab[marker], *(vocab[token] for token in chain)]
        end = ids[1] if loop and index == 0 else vocab[EOS]
        following.update(zip(ids, [*ids[1:], end]))
    return following


def _rig(language_model: Any, lm_head: Any, following: dict[int, int], eos: int) -> None:
    """Turn a randomly initialised Llama into the successor model described at the top."""
    size = lm_head.weight.shape[1]
    with torch.no_grad():
        embeddings = language_model.embed_tokens.weight
        embeddings.zero_()
        for i in range(embeddings.shape[0]):
            embeddings[i, i] = 1.0
        for layer in language_model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        lm_head.weight.zero_()
        for i in range(min(embeddings.shape[0], size)):
            lm_head.weight[following.get(i, eos), i] = 10.0


def _text_config(vocab_size: int) -> Any:
    hidden = -(-vocab_size // 4) * 4  # >= vocab (one-hot embeddings); 2 heads of even size (RoPE)
    return transformers.LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        pad_token_id=1,
        bos_token_id=2,
        eos_token_id=3,
    )


def build_text_model(path: Path, script: dict[str, list[str]], template: str, loop: bool = False) -> Path:
    tokenizer = _tokenizer(script, template)
    vocab = tokenizer.get_vocab()
    model = transformers.LlamaForCausalLM(_text_config(len(vocab)))
    _rig(model.model, model.lm_head, _successors(vocab, script, loop), vocab[EOS])
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_vision_model(path: Path, script: dict[str, list[str]]) -> Path:
    tokenizer = _tokenizer(script, ROLE_TURNS)
    vocab = tokenizer.get_vocab()
    vision = transformers.CLIPVisionConfig(
        hidden_size=16,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=16,
        patch_size=8,
    )
    config = transformers.LlavaConfig(
        vision_config=vision,
        text_config=_text_config(len(vocab)),
        image_token_id=vocab["<image>"],
        image_seq_length=4,
        vision_feature_layer=-1,
    )
    model = transformers.LlavaForConditionalGeneration(config)
    _rig(model.model.language_model, model.lm_head, _successors(vocab, script, False), vocab[EOS])
    image_processor = transformers.CLIPImageProcessor(
        size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}
    )
    processor = transformers.LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=ROLE_TURNS,
    )
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="module", autouse=True)
def offline() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def loop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_text_model(tmp_path_factory.mktemp("loop"), LOOP_SCRIPT, TOOLS_TEMPLATE, loop=True)


@pytest.fixture(scope="module")
def loop_model(loop_dir: Path) -> TransformersModel:
    return TransformersModel(model_id=str(loop_dir), max_new_tokens=12)


@pytest.fixture(scope="module")
def agent_model(tmp_path_factory: pytest.TempPathFactory) -> TransformersModel:
    path = build_text_model(tmp_path_factory.mktemp("agent"), AGENT_SCRIPT, TOOLS_TEMPLATE)
    return TransformersModel(model_id=str(path), max_new_tokens=40)


class Prompts:
    """Records the token ids the model's forward pass receives (the prompt on the first call)."""

    def __init__(self, model: TransformersModel) -> None:
        self.model = model
        self.calls: list[Any] = []

    def __enter__(self) -> Prompts:
        def hook(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
            self.calls.append(kwargs)

        self._handle = self.model.model.register_forward_pre_hook(hook, with_kwargs=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._handle.remove()

    @property
    def first_prompt(self) -> str:
        ids = self.calls[0]["input_ids"][0]
        return self.model.tokenizer.decode(ids, skip_special_tokens=False)


# --------------------------------------------------------------------------- generation
def test_generate_applies_chat_template_and_counts_tokens(loop_model: TransformersModel) -> None:
    with Prompts(loop_model) as prompts:
        answer = loop_model.generate(MESSAGES)
    prompt = "<|system|>Be terse.<|end|><|user|>Hi<|end|><|assistant|>"
    assert prompts.first_prompt == prompt
    assert answer.content == "Hello worldSTOP after more" * 2 + "Hello world"
    assert answer.token_usage.input_tokens == len(
        loop_model.tokenizer(prompt, add_special_tokens=False).input_ids
    )
    assert answer.token_usage.output_tokens == 12  # max_new_tokens: the chain loops forever
    assert answer.tool_calls is None and answer.reasoning_content is None


def test_stop_sequences_really_stop_generation(loop_model: TransformersModel) -> None:
    with Prompts(loop_model) as prompts:
        answer = loop_model.generate(MESSAGES, stop_sequences=["Observation:", "STOP"])
    assert answer.content == "Hello world"
    assert answer.token_usage.output_tokens == 3  # Hello, world, STOP: then generation ended
    assert len(prompts.calls) == 3  # one forward pass per generated token, none after the stop
    # A stop sequence inside a token cuts the text there too.
    assert loop_model.generate(MESSAGES, stop_sequences=["orl"]).content == "Hello w"


def test_stop_sequence_in_the_prompt_does_not_stop_generation(loop_model: TransformersModel) -> None:
    messages = [{"role": "user", "content": "Say STOP please"}]
    answer = loop_model.generate(messages, stop_sequences=["STOP"])
    assert (answer.content, answer.token_usage.output_tokens) == ("Hello world", 3)


def test_remove_parameter_switches_stop_sequences_off(loop_dir: Path) -> None:
    model = TransformersModel(model_id=str(loop_dir), max_new_tokens=4, stop=REMOVE_PARAMETER)
    answer = model.generate(MESSAGES, stop_sequences=["STOP"])
    assert answer.content == "Hello worldSTOP after"


def test_max_tokens_takes_precedence_over_max_new_tokens(loop_dir: Path) -> None:
    model = TransformersModel(model_id=str(loop_dir), max_new_tokens=8, max_tokens=5)
    assert model.generate(MESSAGES).token_usage.output_tokens == 5
    # the constructor's limit wins over a call's, whichever alias either side uses (issue 8)
    assert model.generate(MESSAGES, max_tokens=2).token_usage.output_tokens == 5
    assert model.generate(MESSAGES, max_new_tokens=3).token_usage.output_tokens == 5
    model.kwargs_priority = "call"
    assert model.generate(MESSAGES, max_tokens=2).token_usage.output_tokens == 2
    assert model.generate(MESSAGES, max_new_tokens=3).token_usage.output_tokens == 3
    assert model.generate(MESSAGES, max_new_tokens=3, max_tokens=4).token_usage.output_tokens == 4
    # the default limit is not the user's choice: a call's limit replaces it
    default = TransformersModel(model_id=str(loop_dir))
    assert default.kwargs["max_new_tokens"] == 4096 and "max_new_tokens" not in default.to_dict()
    assert default.generate(MESSAGES, max_tokens=2).token_usage.output_tokens == 2
    assert default.generate(MESSAGES, max_new_tokens=3, max_tokens=4).token_usage.output_tokens == 4


def test_stream_assembles_to_the_generated_message(loop_model: TransformersModel) -> None:
    whole = loop_model.generate(MESSAGES, stop_sequences=["more"])
    deltas = list(loop_model.generate_stream(MESSAGES, stop_sequences=["more"]))
    assert len([d for d in deltas if d.content]) > 1  # really streamed, piece by piece
    assert [d.token_usage for d in deltas if d.token_usage] == [whole.token_usage]  # usage counted once
    streamed = agglomerate_stream_deltas(deltas)
    assert streamed.content == whole.content == "Hello worldSTOP after "
    assert streamed.token_usage == whole.token_usage
    assert whole.token_usage.output_tokens == 5


def test_closing_a_stream_early_cancels_generation(loop_model: TransformersModel) -> None:
    with Prompts(loop_model) as prompts:
        stream = loop_model.generate_stream(MESSAGES, max_new_tokens=100_000)
        first = next(stream)
        stream.close()  # returns once the worker thread has ended
        steps = len(prompts.calls)
    assert first.content
    assert steps < 100_000
    assert len(prompts.calls) == steps  # nothing runs after close()


def test_think_blocks_become_reasoning(loop_model: TransformersModel) -> None:
    conversation = [
        *MESSAGES,
        ChatMessage(role="assistant", content="Hello"),
        {"role": "user", "content": "And?"},
    ]
    answer = loop_model.generate(conversation)
    assert (answer.content, answer.reasoning_content) == ("Done.", "plan it")
    streamed = agglomerate_stream_deltas(loop_model.generate_stream(conversation))
    assert (streamed.content, streamed.reasoning_content) == ("Done.", "plan it")


def test_generation_kwargs_mapping(loop_model: TransformersModel) -> None:
    greedy = loop_model._generate_kwargs({"temperature": 0, "max_tokens": 7})
    assert greedy["do_sample"] is False and "temperature" not in greedy and greedy["max_new_tokens"] == 7
    sampled = loop_model._generate_kwargs({"temperature": 0.7, "top_p": 0.9})
    assert (sampled["do_sample"], sampled["temperature"], sampled["top_p"]) == (True, 0.7, 0.9)
    # Real sampling kwargs go through generate(); top_k=1 keeps the answer deterministic.
    answer = loop_model.generate(MESSAGES, temperature=0.8, top_k=1, stop_sequences=["STOP"])
    assert answer.content == "Hello world"


def test_generation_errors_reach_the_caller_streamed_or_not(loop_model: TransformersModel) -> None:
    with pytest.raises(ValueError, match="bogus_option"):
        loop_model.generate(MESSAGES, bogus_option=1)
    with pytest.raises(ValueError, match="bogus_option"):  # raised in the worker thread, re-raised here
        list(loop_model.generate_stream(MESSAGES, bogus_option=1))


def test_response_format_is_refused_clearly(loop_model: TransformersModel) -> None:
    with pytest.raises(ValueError, match="response_format"):
        loop_model.generate(MESSAGES, response_format={"type": "json_object"})


# --------------------------------------------------------------------------- tools
@tool
def get_weather(city: str) -> str:
    """Weather for a city.

    Args:
        city: The city name.
    """
    return f"Sunny in {city}"


def test_tools_go_to_the_template_when_it_supports_them(agent_model: TransformersModel) -> None:
    with Prompts(agent_model) as prompts:
        message = agent_model.generate(MESSAGES, tools_to_call_from=[get_weather])
    assert prompts.first_prompt.startswith("<|tools|>get_weather;<|end|><|system|>Be terse.<|end|>")
    (call,) = message.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", {"city": "Paris"})
    assert message.content == "".join(WEATHER_CALL)  # the raw text stays visible
    streamed = agglomerate_stream_deltas(
        agent_model.generate_stream(MESSAGES, tools_to_call_from=[get_weather])
    )
    (streamed_call,) = streamed.tool_calls
    assert streamed_call.function.name == "get_weather"
    assert json.loads(streamed_call.function.arguments) == {"city": "Paris"}
    assert streamed.token_usage == message.token_usage


def test_tools_described_in_text_when_the_template_ignores_them(tmp_path: Path) -> None:
    model = TransformersModel(model_id=str(build_text_model(tmp_path, AGENT_SCRIPT, PLAIN_TEMPLATE)))
    with Prompts(model) as prompts:
        message = model.generate(MESSAGES, tools_to_call_from=[get_weather])
    prompt = prompts.first_prompt
    assert prompt.startswith("<|system|>Be terse.\n\nYou can call the following tools.")
    assert '"name": "get_weather"' in prompt and "<|tools|>" not in prompt
    assert message.tool_calls[0].function.name == "get_weather"


def test_plain_text_answer_with_tools_has_no_tool_calls(loop_model: TransformersModel) -> None:
    message = loop_model.generate(MESSAGES, tools_to_call_from=[get_weather], stop_sequences=["STOP"])
    assert message.content == "Hello world" and message.tool_calls is None


# --------------------------------------------------------------------------- agents
@pytest.mark.parametrize("stream_outputs", [False, True])
def test_tool_calling_agent_runs_on_the_tiny_model(
    agent_model: TransformersModel, stream_outputs: bool
) -> None:
    agent = ToolCallingAgent(
        tools=[get_weather], model=agent_model, verbosity_level=LogLevel.OFF, stream_outputs=stream_outputs
    )
    result = agent.run("What is the weather in Paris?", return_full_result=True)
    assert result.output == "Sunny in Paris"
    calls = [step["tool_calls"][0]["function"]["name"] for step in result.steps if step.get("tool_calls")]
    assert calls == ["get_weather", "final_answer"]
    assert result.token_usage.output_tokens == len(WEATHER_CALL) + 1 + len(FINAL_CALL) + 1  # + EOS each


def test_streamed_and_plain_agent_runs_count_the_same_tokens(agent_model: TransformersModel) -> None:
    usages = []
    for stream_outputs in (False, True):
        agent = ToolCallingAgent(
            tools=[get_weather],
            model=agent_model,
            verbosity_level=LogLevel.OFF,
            stream_outputs=stream_outputs,
        )
        usages.append(agent.run("Weather in Paris?", return_full_result=True).token_usage)
    assert usages[0] == usages[1]


def test_code_agent_runs_on_the_tiny_model(tmp_path: Path) -> None:
    from smolagents import CodeAgent

    model = TransformersModel(model_id=str(build_text_model(tmp_path, CODE_SCRIPT, PLAIN_TEMPLATE)))
    agent = CodeAgent(tools=[], model=model, verbosity_level=LogLevel.OFF)
    result = agent.run("What is 6 times 7?", return_full_result=True)
    assert result.output == 42
    # "</code>" is a stop sequence of CodeAgent: generation ended there, the junk after it never ran.
    assert result.token_usage.output_tokens == 4


# --------------------------------------------------------------------------- vision-language
def test_vision_language_model_uses_processor_and_images(tmp_path: Path) -> None:
    from PIL import Image

    model = TransformersModel(
        model_id=str(build_vision_model(tmp_path, {"<|assistant|>": ["A cat", " sits"]}))
    )
    assert model.is_vision_model and model.processor is not None
    assert type(model.model).__name__ == "LlavaForConditionalGeneration"
    image = Image.new("RGB", (20, 20), "red")
    messages = [
        {"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "What?"}]}
    ]
    (vision_tower,) = [m for name, m in model.model.named_modules() if name.endswith("vision_tower")]
    pixels: list[Any] = []
    handle = vision_tower.register_forward_pre_hook(
        lambda module, args, kwargs: pixels.append(args[0] if args else kwargs["pixel_values"]),
        with_kwargs=True,
    )
    try:
        with Prompts(model) as prompts:
            answer = model.generate(messages)
    finally:
        handle.remove()
    assert answer.content == "A cat sits"
    assert [tuple(p.shape) for p in pixels] == [(1, 3, 16, 16)]  # the image went through the vision tower
    prompt = model.tokenizer.decode(prompts.calls[0]["input_ids"][0], skip_special_tokens=False)
    assert prompt == "<|user|>" + "<image>" * 4 + "What?<|end|><|assistant|>"  # 4 patch tokens
    streamed = agglomerate_stream_deltas(model.generate_stream(messages))
    assert streamed.content == "A cat sits" and streamed.token_usage == answer.token_usage


def test_unloadable_model_names_both_attempts(tmp_path: Path) -> None:
    transformers.T5Config(
        d_model=8, num_layers=1, num_heads=1, d_kv=8, d_ff=8, vocab_size=16
    ).save_pretrained(tmp_path)
    with pytest.raises(ValueError) as failure:
        TransformersModel(model_id=str(tmp_path))
    assert "AutoModelForCausalLM" in str(failure.value)
    assert "AutoModelForImageTextToText" in str(failure.value)


# --------------------------------------------------------------------------- config & packaging
def test_to_dict_from_dict_round_trip(loop_dir: Path) -> None:
    model = TransformersModel(
        model_id=str(loop_dir),
        device_map="cpu",
        torch_dtype="float32",
        model_kwargs={"low_cpu_mem_usage": True, "token": "hf_secret"},
        max_tokens=9,
        temperature=0.5,
    )
    data = model.to_dict()
    assert data == {
        "class": "TransformersModel",
        "model_id": str(loop_dir),
        "device_map": "cpu",
        "torch_dtype": "float32",
        "model_kwargs": {"low_cpu_mem_usage": True},  # the token is a secret: never written
        "max_new_tokens": 9,
        "temperature": 0.5,
    }
    rebuilt = Model.from_dict(data)
    assert isinstance(rebuilt, TransformersModel)
    assert rebuilt.to_dict() == data
    assert rebuilt.model.dtype == torch.float32


def test_model_id_is_required() -> None:
    with pytest.raises(ValueError, match="model_id"):
        TransformersModel()


def test_missing_transformers_names_the_extra(monkeypatch: pytest.MonkeyPatch, loop_dir: Path) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'smolagents\[transformers\]'"):
        TransformersModel(model_id=str(loop_dir))


def test_importing_the_module_imports_neither_torch_nor_transformers() -> None:
    code = (
        "import sys, smolagents.models.transformers, smolagents.models.vllm, smolagents.models.mlx; "
        "print(sorted(m for m in ('torch', 'transformers', 'vllm', 'mlx_lm') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert output.stdout.strip() == "[]"
