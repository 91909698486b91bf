"""``VLLMModel``: offline inference with vLLM (``vllm.LLM`` + ``SamplingParams``).

Written against vLLM's documented offline API. vLLM needs a supported GPU, so on machines
without one (including the one this library is tested on) it cannot run: the tests check
everything up to the library boundary with a stand-in ``vllm`` module that records calls.
``vllm`` is imported when a model is constructed, never when this module is imported.
"""

from __future__ import annotations

import importlib
from typing import Any

from .._monitoring_types import TokenUsage
from .._optional import require
from ..messages import ChatMessage
from ._local import (
    LocalRequest,
    OutputMapper,
    fold_token_limit,
    message_from_deltas,
    prepare_local_request,
    render_chat_prompt,
)
from .base import Model, ModelRequest

__all__ = ["VLLMModel"]


def _json_schema(response_format: dict[str, Any]) -> tuple[str, Any]:
    """``("json", schema)`` or ``("json_object", True)`` from an OpenAI-style response_format."""
    if response_format.get("type") == "json_object":
        return "json_object", True
    if response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        return "json", spec.get("schema", spec)
    return "json", response_format  # a bare JSON schema


class VLLMModel(Model):
    """A model served in-process by vLLM.

    ``model_kwargs`` go to ``vllm.LLM(model=model_id, ...)`` (``revision``,
    ``max_model_len``, ``gpu_memory_utilization``...); other kwargs (``temperature``,
    ``max_tokens``, ``top_p``...) go to ``SamplingParams`` on every call. Stop sequences
    are applied by vLLM; ``response_format`` becomes vLLM's structured (guided) decoding.
    vLLM's offline engine does not stream, so this model has no ``generate_stream``.
    """

    def __init__(self, model_id: str, model_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        vllm = require("vllm", "vllm", "VLLMModel")
        kwargs.setdefault("flatten_messages_as_text", True)  # chat templates of text models want strings
        super().__init__(model_id=model_id, **kwargs)
        self.model_kwargs: dict[str, Any] = dict(model_kwargs or {})
        self.model = vllm.LLM(model=model_id, **self.model_kwargs)
        self.tokenizer = self.model.get_tokenizer()

    def _normalize_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return fold_token_limit(kwargs, "max_tokens")

    def _sampling_params(self, request: LocalRequest) -> Any:
        vllm = require("vllm", "vllm", "VLLMModel")
        options = dict(request.options)
        max_new_tokens = options.pop("max_new_tokens", None)
        if options.get("max_tokens") is None:
            # vLLM's default is 16 tokens, which would cut every agent step short; None lets
            # generation run until an end-of-sequence token or the context limit.
            options["max_tokens"] = max_new_tokens
        if request.stop:
            options["stop"] = list(request.stop)
        if request.response_format is not None:
            options.update(self._structured_output(request.response_format))
        return vllm.SamplingParams(**options)

    @staticmethod
    def _structured_output(response_format: dict[str, Any]) -> dict[str, Any]:
        """Guided-decoding options: ``structured_outputs`` in recent vLLM, ``guided_decoding`` before."""
        key, value = _json_schema(response_format)
        module = importlib.import_module("vllm.sampling_params")
        if hasattr(module, "StructuredOutputsParams"):
            return {"structured_outputs": module.StructuredOutputsParams(**{key: value})}
        if hasattr(module, "GuidedDecodingParams"):
            return {"guided_decoding": module.GuidedDecodingParams(**{key: value})}
        raise ValueError("This vLLM version offers no structured outputs; cannot apply response_format.")

    def _generate(self, model_request: ModelRequest) -> ChatMessage:
        request = prepare_local_request(self, model_request)
        prompt = render_chat_prompt(self.tokenizer, request.messages, request.tools)
        outputs = self.model.generate(
            [prompt], sampling_params=self._sampling_params(request), use_tqdm=False
        )
        result = outputs[0]
        completion = result.outputs[0]
        usage = TokenUsage(
            input_tokens=len(result.prompt_token_ids or []),
            output_tokens=len(completion.token_ids or []),
        )
        mapper = OutputMapper(self, request.stop, tools_offered=bool(request.tools))
        return message_from_deltas(mapper.feed(completion.text) + mapper.finish(usage), raw=result)

    def _config(self) -> dict[str, Any]:
        config = super()._config()
        config.pop("flatten_messages_as_text", None)  # the default here
        if not self.flatten_messages_as_text:
            config["flatten_messages_as_text"] = False
        if self.model_kwargs:
            config["model_kwargs"] = dict(self.model_kwargs)
        return config
