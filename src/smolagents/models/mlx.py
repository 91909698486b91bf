"""``MLXModel``: models run with ``mlx-lm`` on Apple silicon.

Written against mlx-lm's documented API (``mlx_lm.load`` and ``mlx_lm.stream_generate``).
MLX only runs on Apple silicon, so on other machines (including the one this library is
tested on) it cannot run: the tests check everything up to the library boundary with a
stand-in ``mlx_lm`` module that records calls. ``mlx_lm`` is imported when a model is
constructed, never when this module is imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

from .._monitoring_types import TokenUsage
from .._optional import require
from ..messages import ChatMessage, ChatMessageStreamDelta
from ._local import (
    OutputMapper,
    fold_token_limit,
    message_from_deltas,
    prepare_local_request,
    render_chat_prompt,
)
from .base import Model, ModelRequest

__all__ = ["MLXModel"]

# Request options that mlx-lm takes through a sampler object rather than as keywords.
_SAMPLER_OPTIONS = {
    "temperature": "temp",
    "temp": "temp",
    "top_p": "top_p",
    "min_p": "min_p",
    "top_k": "top_k",
}


class MLXModel(Model):
    """A model loaded with ``mlx_lm.load`` and run with ``mlx_lm.stream_generate``.

    ``load_kwargs`` go to ``mlx_lm.load``; ``apply_chat_template_kwargs`` to the tokenizer's
    ``apply_chat_template``; other kwargs (``max_tokens``, ``temperature``...) to every
    ``stream_generate`` call (``temperature``/``top_p``/``min_p``/``top_k`` through
    ``mlx_lm.sample_utils.make_sampler``). mlx-lm has no stop-string option, so stop
    sequences are checked while streaming and generation ends at the first one.
    """

    def __init__(
        self,
        model_id: str,
        trust_remote_code: bool = False,
        load_kwargs: dict[str, Any] | None = None,
        apply_chat_template_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        mlx_lm = require("mlx_lm", "mlx-lm", "MLXModel")
        kwargs.setdefault("flatten_messages_as_text", True)  # chat templates of text models want strings
        super().__init__(model_id=model_id, **kwargs)
        self.trust_remote_code = trust_remote_code
        self.load_kwargs: dict[str, Any] = dict(load_kwargs or {})
        self.apply_chat_template_kwargs: dict[str, Any] = dict(apply_chat_template_kwargs or {})
        options = dict(self.load_kwargs)
        tokenizer_config = {**options.pop("tokenizer_config", {}), "trust_remote_code": trust_remote_code}
        loaded = mlx_lm.load(model_id, tokenizer_config=tokenizer_config, **options)
        self.model, self.tokenizer = loaded[0], loaded[1]  # (model, tokenizer[, config])

    def _normalize_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return fold_token_limit(kwargs, "max_tokens")

    def _generate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        options = dict(options)
        max_new_tokens = options.pop("max_new_tokens", None)
        if options.get("max_tokens") is None and max_new_tokens is not None:
            options["max_tokens"] = max_new_tokens
        sampler_args = {
            _SAMPLER_OPTIONS[key]: options.pop(key) for key in list(options) if key in _SAMPLER_OPTIONS
        }
        if sampler_args and "sampler" not in options:
            sample_utils = importlib.import_module("mlx_lm.sample_utils")
            options["sampler"] = sample_utils.make_sampler(**sampler_args)
        return options

    def _generate_stream(self, model_request: ModelRequest) -> Iterator[ChatMessageStreamDelta]:
        mlx_lm = require("mlx_lm", "mlx-lm", "MLXModel")
        request = prepare_local_request(self, model_request)
        if request.response_format is not None:
            raise ValueError(
                "MLXModel cannot enforce response_format (constrained JSON decoding); drop it for "
                "this model with MLXModel(..., response_format=REMOVE_PARAMETER)."
            )
        prompt = render_chat_prompt(
            self.tokenizer, request.messages, request.tools, self.apply_chat_template_kwargs
        )
        # The template already wrote the special tokens (BOS...): do not add them twice.
        prompt_ids = self.tokenizer.encode(prompt, add_special_tokens=False)
        mapper = OutputMapper(self, request.stop, tools_offered=bool(request.tools))
        last = None
        stream = mlx_lm.stream_generate(
            self.model, self.tokenizer, prompt=prompt_ids, **self._generate_options(request.options)
        )
        try:
            for response in stream:
                last = response
                yield from mapper.feed(response.text)
                if mapper.stopped:  # ending the generator ends generation: no token is wasted
                    break
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        usage = TokenUsage(
            input_tokens=int(getattr(last, "prompt_tokens", None) or len(prompt_ids)),
            output_tokens=int(getattr(last, "generation_tokens", None) or 0),
        )
        yield from mapper.finish(usage)

    def _generate(self, request: ModelRequest) -> ChatMessage:
        """The streamed answer, joined: one path maps text for both methods."""
        return message_from_deltas(list(self._generate_stream(request)))

    def _config(self) -> dict[str, Any]:
        config = super()._config()
        config.pop("flatten_messages_as_text", None)  # the default here
        if not self.flatten_messages_as_text:
            config["flatten_messages_as_text"] = False
        if self.trust_remote_code:
            config["trust_remote_code"] = True
        if self.load_kwargs:
            config["load_kwargs"] = dict(self.load_kwargs)
        if self.apply_chat_template_kwargs:
            config["apply_chat_template_kwargs"] = dict(self.apply_chat_template_kwargs)
        return config
