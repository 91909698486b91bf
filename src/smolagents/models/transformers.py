"""``TransformersModel``: a Hugging Face ``transformers`` model run in this process.

``torch`` and ``transformers`` are imported when a model is constructed, never when this
module is imported. Text models load with ``AutoModelForCausalLM`` + ``AutoTokenizer``;
vision-language models with ``AutoModelForImageTextToText`` + ``AutoProcessor``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from .._monitoring_types import TokenUsage
from .._optional import require
from ..messages import ChatMessage, ChatMessageStreamDelta
from ._local import (
    LocalRequest,
    OutputMapper,
    extract_images,
    fold_token_limit,
    message_from_deltas,
    prepare_local_request,
    render_chat_prompt,
)
from .base import Model, ModelRequest

__all__ = ["TransformersModel"]

# AutoConfig / tokenizer loading understands these model_kwargs too (the rest is for the model).
_HUB_KWARGS = ("revision", "token", "cache_dir", "local_files_only", "subfolder")


def _transformers() -> Any:
    require("torch", "transformers", "TransformersModel")
    return require("transformers", "transformers", "TransformersModel")


def _stop_on_text(transformers: Any, tokenizer: Any, stops: list[str], prompt_length: int) -> Any:
    """A StoppingCriteria that ends generation once a stop sequence appears in the new text.

    Only the tail of the generated tokens is decoded at each step (enough tokens for the
    longest stop sequence even at one byte per token), and never the prompt, which may well
    contain the stop sequence already (e.g. ``Observation:``).
    """
    import torch

    window = 4 * max((len(stop) for stop in stops), default=1) + 2

    class StopOnText(transformers.StoppingCriteria):
        def __init__(self) -> None:
            self.cancelled = threading.Event()

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            if self.cancelled.is_set():
                return torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
            if not stops:
                return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
            tails = input_ids[:, prompt_length:][:, -window:]
            done = [
                any(stop in tokenizer.decode(row, skip_special_tokens=True) for stop in stops)
                for row in tails
            ]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StopOnText()


_DEFAULT_MAX_NEW_TOKENS = 4096


class TransformersModel(Model):
    """A local ``transformers`` model: chat template, stop sequences that stop generation,
    streaming, JSON tool calls in text and ``<think>`` reasoning handled like an API server.

    Extra kwargs (``temperature``, ``top_p``, ``do_sample``...) are passed to
    ``model.generate``; ``max_tokens`` is an alias of ``max_new_tokens`` and wins over it.
    ``device`` is accepted as a shorthand for ``device_map``.

    Example::

        model = TransformersModel("HuggingFaceTB/SmolLM2-360M-Instruct", max_new_tokens=500)
        model([{"role": "user", "content": "Hi!"}], stop_sequences=["END"])
    """

    def __init__(
        self,
        model_id: str | None = None,
        device_map: str | dict[str, Any] | None = None,
        torch_dtype: str | Any | None = None,
        trust_remote_code: bool = False,
        model_kwargs: dict[str, Any] | None = None,
        max_new_tokens: int | None = None,
        max_tokens: int | None = None,
        **kwargs: Any,
    ) -> None:
        if not model_id:
            raise ValueError(
                "TransformersModel needs a model_id: a Hub id such as "
                "'HuggingFaceTB/SmolLM2-360M-Instruct' or a local folder."
            )
        device = kwargs.pop("device", None)
        flatten = kwargs.pop("flatten_messages_as_text", None)
        limit = max_tokens if max_tokens is not None else max_new_tokens
        kwargs["max_new_tokens"] = _DEFAULT_MAX_NEW_TOKENS if limit is None else limit
        super().__init__(model_id=model_id, flatten_messages_as_text=bool(flatten), **kwargs)
        if limit is None:  # our default, not the user's choice: a call's limit replaces it
            self._kwargs_defaults = frozenset({"max_new_tokens"})
        self.device_map = device_map if device_map is not None else device
        self.torch_dtype = torch_dtype
        self.trust_remote_code = trust_remote_code
        self.model_kwargs: dict[str, Any] = dict(model_kwargs or {})
        self.model, self.processor, self.tokenizer = self._load()
        self.is_vision_model = self.processor is not None
        if flatten is None:  # text models want string contents; processors want typed parts
            self.flatten_messages_as_text = not self.is_vision_model

    # ----------------------------------------------------------------- loading
    def _load_kwargs(self, transformers: Any) -> dict[str, Any]:
        import torch

        kwargs: dict[str, Any] = {"trust_remote_code": self.trust_remote_code, **self.model_kwargs}
        device_map = self.device_map
        if device_map is None:  # a GPU when there is one; otherwise leave the model on the CPU
            if torch.cuda.is_available():
                device_map = "cuda"
            elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
                device_map = "mps"
        if device_map is not None:
            kwargs["device_map"] = device_map
        if self.torch_dtype is not None:
            dtype = self.torch_dtype
            if isinstance(dtype, str) and dtype != "auto":
                dtype = getattr(torch, dtype.removeprefix("torch."))
            from packaging.version import Version

            newer = Version(transformers.__version__.split("+")[0]) >= Version("4.56")
            kwargs["dtype" if newer else "torch_dtype"] = dtype  # the argument was renamed in 4.56
        return kwargs

    def _load(self) -> tuple[Any, Any, Any]:
        """Load (model, processor or None, tokenizer), trying the vision-language classes first
        when the config has a vision part, and the causal-LM classes first otherwise."""
        transformers = _transformers()
        kwargs = self._load_kwargs(transformers)
        hub = {key: self.model_kwargs[key] for key in _HUB_KWARGS if key in self.model_kwargs}
        config = kwargs.pop("config", None) or transformers.AutoConfig.from_pretrained(
            self.model_id, trust_remote_code=self.trust_remote_code, **hub
        )
        attempts = [("AutoModelForCausalLM", False), ("AutoModelForImageTextToText", True)]
        if getattr(config, "vision_config", None) is not None:
            attempts.reverse()
        failures = []
        for class_name, vision in attempts:
            auto_class = getattr(transformers, class_name, None)
            if auto_class is None:
                failures.append(f"{class_name}: not available in transformers {transformers.__version__}")
                continue
            try:
                model = auto_class.from_pretrained(self.model_id, config=config, **kwargs)
            except ValueError as exc:  # "Unrecognized configuration class ... for this kind of AutoModel"
                failures.append(f"{class_name}: {exc}".splitlines()[0])
                continue
            options = {"trust_remote_code": self.trust_remote_code, **hub}
            if vision:
                processor = transformers.AutoProcessor.from_pretrained(self.model_id, **options)
                return model, processor, getattr(processor, "tokenizer", processor)
            return model, None, transformers.AutoTokenizer.from_pretrained(self.model_id, **options)
        raise ValueError(
            f"Could not load {self.model_id!r} as a text or vision-language model:\n- "
            + "\n- ".join(failures)
        )

    # ----------------------------------------------------------------- requests
    def _request(self, model_request: ModelRequest) -> LocalRequest:
        request = prepare_local_request(self, model_request)
        if request.response_format is not None:
            raise ValueError(
                "TransformersModel cannot enforce response_format (constrained JSON decoding). Use "
                "VLLMModel or an API model for structured outputs, or drop it for this model with "
                "TransformersModel(..., response_format=REMOVE_PARAMETER)."
            )
        return request

    def _inputs(self, request: LocalRequest) -> Any:
        """Token ids (and pixels) for the request, on the model's device."""
        import torch

        if self.processor is None:
            prompt = render_chat_prompt(self.tokenizer, request.messages, request.tools)
            inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
            return inputs.to(self.model.device)
        messages, images = extract_images(request.messages)
        prompt = render_chat_prompt(self.processor, messages, request.tools)
        inputs = self.processor(
            text=[prompt], images=images or None, return_tensors="pt", add_special_tokens=False
        )
        inputs = inputs.to(self.model.device)
        for key, value in inputs.items():  # pixels in the model's dtype (e.g. bfloat16)
            if isinstance(value, torch.Tensor) and torch.is_floating_point(value):
                inputs[key] = value.to(self.model.dtype)
        return inputs

    def _normalize_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return fold_token_limit(kwargs, "max_new_tokens")

    def _generate_kwargs(self, options: dict[str, Any]) -> dict[str, Any]:
        """Map request options to ``model.generate`` kwargs."""
        options = dict(options)
        max_tokens = options.pop("max_tokens", None)
        max_new_tokens = options.pop("max_new_tokens", None)
        options["max_new_tokens"] = max_tokens if max_tokens is not None else max_new_tokens
        if options["max_new_tokens"] is None:
            options.pop("max_new_tokens")
        temperature = options.get("temperature")
        if temperature is not None and "do_sample" not in options:
            # temperature=0 means greedy; any other temperature only matters when sampling.
            options["do_sample"] = temperature > 0
        if options.get("do_sample") is False:
            options.pop("temperature", None)
        if (
            "pad_token_id" not in options
            and getattr(self.model.generation_config, "pad_token_id", None) is None
        ):
            pad = self.tokenizer.pad_token_id
            options["pad_token_id"] = pad if pad is not None else self.tokenizer.eos_token_id
        return options

    def _run(self, request: LocalRequest, inputs: Any, streamer: Any = None, criterion: Any = None) -> Any:
        """Call ``model.generate`` and return the generated ids (prompt excluded)."""
        transformers = _transformers()
        prompt_length = inputs["input_ids"].shape[1]
        options = self._generate_kwargs(request.options)
        if criterion is not None:
            criteria = [*options.pop("stopping_criteria", []), criterion]
            options["stopping_criteria"] = transformers.StoppingCriteriaList(criteria)
        if streamer is not None:
            options["streamer"] = streamer
        output = self.model.generate(**inputs, **options)
        sequences = output.sequences if hasattr(output, "sequences") else output
        return sequences[0, prompt_length:]

    def _criterion(self, request: LocalRequest, inputs: Any) -> Any:
        if not request.stop:
            return None
        return _stop_on_text(_transformers(), self.tokenizer, request.stop, inputs["input_ids"].shape[1])

    def _usage(self, inputs: Any, generated: Any) -> TokenUsage:
        return TokenUsage(input_tokens=int(inputs["input_ids"].shape[1]), output_tokens=len(generated))

    # ----------------------------------------------------------------- generation
    def _generate(self, model_request: ModelRequest) -> ChatMessage:
        request = self._request(model_request)
        inputs = self._inputs(request)
        generated = self._run(request, inputs, criterion=self._criterion(request, inputs))
        text = self.tokenizer.decode(generated, skip_special_tokens=True)
        mapper = OutputMapper(self, request.stop, tools_offered=bool(request.tools))
        deltas = mapper.feed(text) + mapper.finish(self._usage(inputs, generated))
        return message_from_deltas(deltas, raw={"text": text, "token_ids": generated.tolist()})

    def _generate_stream(self, model_request: ModelRequest) -> Iterator[ChatMessageStreamDelta]:
        """Stream the answer as it is generated (``generate`` runs in a worker thread).

        Closing the stream early stops generation at the next token.
        """
        transformers = _transformers()
        request = self._request(model_request)
        inputs = self._inputs(request)
        streamer = transformers.TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True
        )
        # Always installed, even without stop sequences: closing the stream cancels through it.
        criterion = _stop_on_text(transformers, self.tokenizer, request.stop, inputs["input_ids"].shape[1])
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["generated"] = self._run(request, inputs, streamer, criterion)
            except BaseException as exc:  # re-raised in the consumer's thread
                outcome["error"] = exc
                streamer.end()  # unblock the consumer, which would otherwise wait forever

        worker = threading.Thread(target=work, name=f"generate-{self.model_id}", daemon=True)
        mapper = OutputMapper(self, request.stop, tools_offered=bool(request.tools))
        worker.start()
        try:
            for piece in streamer:
                yield from mapper.feed(piece)
        finally:
            criterion.cancelled.set()  # no-op after a normal end; stops generation if closed early
            worker.join()
        if "error" in outcome:
            raise outcome["error"]
        yield from mapper.finish(self._usage(inputs, outcome["generated"]))

    # ----------------------------------------------------------------- serialisation
    def _config(self) -> dict[str, Any]:
        config = super()._config()
        if self.flatten_messages_as_text == self.is_vision_model:  # not the default for this model
            config["flatten_messages_as_text"] = self.flatten_messages_as_text
        else:
            config.pop("flatten_messages_as_text", None)
        if self.device_map is not None:
            config["device_map"] = self.device_map
        if self.torch_dtype is not None:
            config["torch_dtype"] = str(self.torch_dtype).removeprefix("torch.")
        if self.trust_remote_code:
            config["trust_remote_code"] = True
        if self.model_kwargs:
            config["model_kwargs"] = dict(self.model_kwargs)
        return config

    def __repr__(self) -> str:
        kind = "vision-language" if self.is_vision_model else "text"
        return f"TransformersModel(model_id={self.model_id!r}, {kind}, device={self.model.device})"
