"""The ``Model`` base class: the one interface every adapter and every agent relies on.

The four public generation methods (``generate``, ``agenerate``, ``generate_stream``,
``agenerate_stream``) and their documented signature are written once, here: each bundles
its arguments into one :class:`ModelRequest` and hands it to a hook. Adapters implement only
the hooks that differ (``_generate(request)``, and ``_generate_stream``, ``_agenerate``,
``_agenerate_stream`` when they can stream or have a native async client); the base gives
async defaults that run the sync hooks in a worker thread. The base also gives shared
request building (message cleaning, kwargs merging, tools, stop sequences,
``REMOVE_PARAMETER``), JSON tool-call parsing and (de)serialisation without secrets.

A user's custom model may still override ``generate`` itself, as the docs show: the async
and streaming defaults call the public methods, so such a model works everywhere.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..messages import ChatMessage, ChatMessageStreamDelta, MessageRole
from ._cleaning import TOOL_ROLE_CONVERSIONS, get_clean_message_list
from ._tool_parsing import parse_arguments, tool_calls_from_text

__all__ = ["REMOVE_PARAMETER", "Model", "ModelRequest", "tool_json_schema"]


class _RemoveParameter:
    """Type of ``REMOVE_PARAMETER``: a single, picklable marker."""

    _instance: ClassVar[_RemoveParameter | None] = None

    def __new__(cls) -> _RemoveParameter:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "REMOVE_PARAMETER"

    def __reduce__(self) -> str:
        return "REMOVE_PARAMETER"

    def __copy__(self) -> _RemoveParameter:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _RemoveParameter:
        return self


REMOVE_PARAMETER = _RemoveParameter()
"""Pass as a kwarg value (``stop=REMOVE_PARAMETER``) to drop that parameter from API calls."""

KwargsPriority = Literal["constructor", "call"]
_KWARGS_PRIORITIES = ("constructor", "call")

_REMOVE_MARKER = "__smolagents_REMOVE_PARAMETER__"  # how REMOVE_PARAMETER is written by to_dict()

_SECRET_KEY = re.compile(
    r"(^|_)(api_?key|key|token|secret|password|passwd|authorization|credentials?|bearer|cookie)$"
    r"|secret|password|authorization",
    re.IGNORECASE,
)


def _is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key.replace("-", "_")))


def _without_secrets(value: Any) -> Any:
    """A copy of ``value`` with secret-looking keys removed at any depth, ready for JSON."""
    if value is REMOVE_PARAMETER:
        return _REMOVE_MARKER
    if isinstance(value, Mapping):
        return {k: _without_secrets(v) for k, v in value.items() if not _is_secret_key(str(k))}
    if isinstance(value, (list, tuple)):
        return [_without_secrets(v) for v in value]
    return value


def _restore_markers(value: Any) -> Any:
    if value == _REMOVE_MARKER:
        return REMOVE_PARAMETER
    if isinstance(value, dict):
        return {k: _restore_markers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore_markers(v) for v in value]
    return value


def tool_json_schema(tool: Any) -> dict[str, Any]:
    """The OpenAI ``tools`` entry for a tool: a Tool object, or a schema dict given directly."""
    schema = tool.to_json_schema() if hasattr(tool, "to_json_schema") else tool
    if not isinstance(schema, Mapping):
        raise TypeError(
            f"tools_to_call_from must hold Tool objects or JSON schema dicts; got {type(tool).__name__}."
        )
    if "function" in schema:
        return {"type": schema.get("type", "function"), "function": dict(schema["function"])}
    return {"type": "function", "function": dict(schema)}


@dataclass
class ModelRequest:
    """One generation call's arguments, bundled once by ``Model``'s public methods.

    Adapters receive this instead of repeating the documented seven-line signature in every
    method; :meth:`Model._completion_kwargs` turns it into the API parameters.
    ``kwargs`` are the call's own extra keyword arguments, not yet merged with the model's.
    """

    messages: list[ChatMessage | dict[str, Any]]
    stop_sequences: list[str] | None = None
    response_format: dict[str, Any] | None = None
    tools_to_call_from: list[Any] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments that call a public method again with this request."""
        return {
            "stop_sequences": self.stop_sequences,
            "response_format": self.response_format,
            "tools_to_call_from": self.tools_to_call_from,
            **self.kwargs,
        }


class Model:
    """Base class for all language models.

    A user's model overrides ``generate`` (and optionally ``generate_stream``), as documented.
    The library's adapters implement the request hooks instead (``_generate(request)``,
    ``_generate_stream``, ``_agenerate``, ``_agenerate_stream``), so the public signature is
    written once, here. Extra keyword arguments given at construction (``temperature``,
    ``max_tokens``...) are sent with every completion call.

    When the constructor and a call both set a parameter, the constructor wins by default
    (``kwargs_priority="constructor"``): agents pass their own per-call values (``stop``...)
    and a setting the user chose when building the model must not be silently replaced; a
    constructor ``REMOVE_PARAMETER`` therefore removes a per-call value too. Code written
    for "the call wins" passes ``kwargs_priority="call"`` (or sets the attribute).
    """

    kwargs_priority: KwargsPriority = "constructor"
    """Which side wins when the constructor and a call set the same parameter:
    ``"constructor"`` (default) or ``"call"``."""

    def __init__(
        self,
        flatten_messages_as_text: bool = False,
        tool_name_key: str = "name",
        tool_arguments_key: str = "arguments",
        model_id: str | None = None,
        kwargs_priority: KwargsPriority | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs_priority is not None:
            if kwargs_priority not in _KWARGS_PRIORITIES:
                raise ValueError(
                    f"kwargs_priority must be one of {list(_KWARGS_PRIORITIES)}, got {kwargs_priority!r}: "
                    "'constructor' lets constructor kwargs win over per-call kwargs, 'call' the opposite."
                )
            self.kwargs_priority = kwargs_priority
        self.flatten_messages_as_text = flatten_messages_as_text
        self.tool_name_key = tool_name_key
        self.tool_arguments_key = tool_arguments_key
        self.model_id = model_id
        self.kwargs: dict[str, Any] = dict(kwargs)

    # ----------------------------------------------------------------- generation API
    def generate(
        self,
        messages: list[ChatMessage | dict[str, Any]],
        stop_sequences: list[str] | None = None,
        response_format: dict[str, Any] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> ChatMessage:
        """Answer ``messages`` with one assistant ``ChatMessage``."""
        return self._generate(
            ModelRequest(messages, stop_sequences, response_format, tools_to_call_from, kwargs)
        )

    def __call__(self, *args: Any, **kwargs: Any) -> ChatMessage:
        return self.generate(*args, **kwargs)

    def generate_stream(
        self,
        messages: list[ChatMessage | dict[str, Any]],
        stop_sequences: list[str] | None = None,
        response_format: dict[str, Any] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatMessageStreamDelta]:
        """Answer ``messages`` as a stream of deltas (see ``agglomerate_stream_deltas``)."""
        return self._generate_stream(
            ModelRequest(messages, stop_sequences, response_format, tools_to_call_from, kwargs)
        )

    @property
    def supports_streaming(self) -> bool:
        """True when the class implements streaming (``_generate_stream`` or ``generate_stream``)."""
        cls = type(self)
        return (
            cls.generate_stream is not Model.generate_stream
            or cls._generate_stream is not Model._generate_stream
        )

    async def agenerate(
        self,
        messages: list[ChatMessage | dict[str, Any]],
        stop_sequences: list[str] | None = None,
        response_format: dict[str, Any] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> ChatMessage:
        """Async ``generate``; without a native async client, runs ``generate`` in a worker thread."""
        return await self._agenerate(
            ModelRequest(messages, stop_sequences, response_format, tools_to_call_from, kwargs)
        )

    def agenerate_stream(
        self,
        messages: list[ChatMessage | dict[str, Any]],
        stop_sequences: list[str] | None = None,
        response_format: dict[str, Any] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatMessageStreamDelta]:
        """Async ``generate_stream``; without a native async client, advances the sync stream in
        a worker thread, so the event loop is never blocked and each delta arrives at once."""
        return self._agenerate_stream(
            ModelRequest(messages, stop_sequences, response_format, tools_to_call_from, kwargs)
        )

    # ----------------------------------------------------------------- adapter hooks
    def _generate(self, request: ModelRequest) -> ChatMessage:
        """The adapter's answer to ``request``: what every adapter implements."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement generate(). A custom model subclasses Model and "
            "overrides generate(messages, stop_sequences=None, response_format=None, "
            "tools_to_call_from=None, **kwargs) to return a ChatMessage."
        )

    def _generate_stream(self, request: ModelRequest) -> Iterator[ChatMessageStreamDelta]:
        """The adapter's streamed answer to ``request``, for adapters that can stream."""
        raise NotImplementedError(
            f"{type(self).__name__} does not support streaming: it does not implement generate_stream(). "
            "Use generate(), or an agent with stream_outputs=False."
        )

    async def _agenerate(self, request: ModelRequest) -> ChatMessage:
        """Default: the public ``generate`` (an adapter's or a user's override) in a worker thread."""
        import asyncio  # deferred: asyncio is slow to import and sync users never need it

        return await asyncio.to_thread(self.generate, request.messages, **request.arguments())

    async def _agenerate_stream(self, request: ModelRequest) -> AsyncIterator[ChatMessageStreamDelta]:
        """Default: the public ``generate_stream``, advanced delta by delta in a worker thread."""
        import asyncio

        stream = await asyncio.to_thread(self.generate_stream, request.messages, **request.arguments())
        iterator = iter(stream)
        done = object()
        try:
            while True:
                delta = await asyncio.to_thread(next, iterator, done)
                if delta is done:
                    break
                yield delta  # type: ignore[misc]  # not the sentinel: a delta of the stream
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                await asyncio.to_thread(close)

    # ----------------------------------------------------------------- request building
    def _prepare_completion_kwargs(
        self,
        messages: list[ChatMessage | dict[str, Any]],
        stop_sequences: list[str] | None = None,
        response_format: dict[str, Any] | None = None,
        tools_to_call_from: list[Any] | None = None,
        custom_role_conversions: Mapping[str, str] | None = None,
        convert_images_to_image_urls: bool = False,
        tool_choice: Any = "required",
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Build the completion call's parameters.

        Precedence, lowest first: what this method derives (messages, stop, response_format,
        tools, tool_choice), then the call's kwargs, then the model's constructor kwargs (or
        the other way round with ``kwargs_priority="call"``, see :meth:`_merge_kwargs`). Any
        entry whose value is ``REMOVE_PARAMETER`` is dropped at the end.
        """
        flatten = kwargs.pop("flatten_messages_as_text", self.flatten_messages_as_text)
        conversions = {**TOOL_ROLE_CONVERSIONS, **(custom_role_conversions or {})}
        params: dict[str, Any] = {
            "messages": get_clean_message_list(
                messages,
                role_conversions=conversions,
                convert_images_to_image_urls=convert_images_to_image_urls,
                flatten_messages_as_text=flatten,
            )
        }
        if stop_sequences:
            params["stop"] = list(stop_sequences)
        if response_format is not None:
            params["response_format"] = response_format
        if tools_to_call_from:
            params["tools"] = [tool_json_schema(tool) for tool in tools_to_call_from]
            if tool_choice is not None:
                params["tool_choice"] = tool_choice
        params.update(self._merge_kwargs(kwargs))
        tools = params.get("tools")
        if (not tools or tools is REMOVE_PARAMETER) and "tool_choice" in params:
            params.pop("tool_choice")  # a tool_choice without tools is an API error
        return {key: value for key, value in params.items() if value is not REMOVE_PARAMETER}

    def _completion_kwargs(self, request: ModelRequest, **options: Any) -> dict[str, Any]:
        """:meth:`_prepare_completion_kwargs` for a request; ``options`` are the adapter's own
        (``custom_role_conversions``, ``tool_choice``, ``model``...), below the call's kwargs."""
        return self._prepare_completion_kwargs(
            request.messages,
            stop_sequences=request.stop_sequences,
            response_format=request.response_format,
            tools_to_call_from=request.tools_to_call_from,
            **{**options, **request.kwargs},
        )

    _kwargs_defaults: frozenset[str] = frozenset()
    """Keys of ``self.kwargs`` the adapter filled in itself (not chosen by the user): a call's
    value always replaces them, whatever ``kwargs_priority`` says."""

    def _merge_kwargs(self, call_kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Constructor and call kwargs as one dict: the side named by ``kwargs_priority``
        wins a key both set (``REMOVE_PARAMETER`` included, so it removes the other's value).
        Each side goes through :meth:`_normalize_kwargs` first, so aliases compete as one key.
        Adapters with nested settings (Bedrock's ``inferenceConfig``) merge those deeper."""
        call = self._normalize_kwargs(dict(call_kwargs))
        own = self._normalize_kwargs(dict(self.kwargs))
        if self.kwargs_priority == "call":
            return {**own, **call}
        defaults = {k: v for k, v in own.items() if k in self._kwargs_defaults}
        chosen = {k: v for k, v in own.items() if k not in self._kwargs_defaults}
        return {**defaults, **call, **chosen}

    def _normalize_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """One side's kwargs with aliases folded into one name (e.g. ``max_tokens`` /
        ``max_new_tokens`` for local engines); the base has no aliases."""
        return kwargs

    # ----------------------------------------------------------------- tool calls in text
    def parse_tool_calls(self, message: ChatMessage) -> ChatMessage:
        """Make sure ``message.tool_calls`` holds parsed calls, and return the message.

        Some APIs return the call as JSON text; it is parsed from the content (code fences,
        ``<think>`` blocks and surrounding prose are tolerated), using ``tool_name_key`` and
        ``tool_arguments_key``. Arguments given as JSON strings are decoded; unparsable
        strings are left as they are for the agent to report. Raises ``AgentParsingError``
        when the message holds no tool call. The message is updated in place.
        """
        message.role = MessageRole.ASSISTANT
        if not message.tool_calls:
            message.tool_calls = tool_calls_from_text(
                message.text, self.tool_name_key, self.tool_arguments_key
            )
        for call in message.tool_calls:
            call.function.arguments = parse_arguments(call.function.arguments)
        return message

    # ----------------------------------------------------------------- serialisation
    def _config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this model; subclasses add their own."""
        config: dict[str, Any] = {"model_id": self.model_id}
        if self.flatten_messages_as_text:
            config["flatten_messages_as_text"] = True
        if self.tool_name_key != "name":
            config["tool_name_key"] = self.tool_name_key
        if self.tool_arguments_key != "arguments":
            config["tool_arguments_key"] = self.tool_arguments_key
        if self.kwargs_priority != Model.kwargs_priority:
            config["kwargs_priority"] = self.kwargs_priority
        return config

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible description of the model: its class, id and settings.

        API keys, tokens and other secrets are never included; ``from_dict`` takes them from
        the environment again (or from its keyword arguments).
        """
        chosen = {k: v for k, v in self.kwargs.items() if k not in self._kwargs_defaults}
        described: dict[str, Any] = _without_secrets(
            {"class": type(self).__name__, **self._config(), **chosen}
        )
        return described

    @classmethod
    def from_dict(cls, model_dictionary: Mapping[str, Any], **kwargs: Any) -> Model:
        """Rebuild a model from ``to_dict()`` output; ``kwargs`` add or override settings (e.g. api_key).

        Also reads ``{"class": ..., "data": {...}}``, the layout of agents shared on the Hub."""
        data = _restore_markers(dict(model_dictionary))
        if set(data) <= {"class", "data"} and isinstance(data.get("data"), Mapping):
            data = {"class": data.get("class"), **_legacy_model_data(data["data"])}
        class_name = data.pop("class", None)
        class_name = _LEGACY_CLASS_NAMES.get(class_name, class_name)
        target = cls
        if class_name and class_name != cls.__name__:
            target = _find_subclass(cls, class_name)
        return target(**{**data, **kwargs})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r})"


_LEGACY_CLASS_NAMES = {"HfApiModel": "InferenceClientModel"}
"""Model classes of saved agents that exist here under another name."""

_LEGACY_BOOKKEEPING = frozenset({"last_input_token_count", "last_output_token_count"})


def _legacy_model_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """The older layout's model settings as constructor arguments: its token counters and
    unset (None) values are dropped, since any unknown keyword would be sent to the API."""
    return {k: v for k, v in data.items() if k not in _LEGACY_BOOKKEEPING and v is not None}


def _find_subclass(base: type[Model], name: str) -> type[Model]:
    pending = list(base.__subclasses__())
    while pending:
        candidate = pending.pop()
        if candidate.__name__ == name:
            return candidate
        pending.extend(candidate.__subclasses__())
    if name in _LAZY_CLASSES:  # adapters defined in modules not imported yet
        import importlib

        module = importlib.import_module(_LAZY_CLASSES[name], __package__)
        found = getattr(module, name)
        if isinstance(found, type) and issubclass(found, base):
            return found
    raise ValueError(
        f"Unknown model class {name!r} in the model dictionary (not a subclass of {base.__name__})."
    )


_LAZY_CLASSES: dict[str, str] = {
    "ApiModel": ".api",
    "OpenAIModel": ".openai",
    "OpenAIServerModel": ".openai",
    "AzureOpenAIModel": ".openai",
    "AzureOpenAIServerModel": ".openai",
    "InferenceClientModel": ".huggingface",
    "LiteLLMModel": ".litellm",
    "LiteLLMRouterModel": ".litellm",
    "AmazonBedrockModel": ".bedrock",
    "TransformersModel": ".transformers",
    "VLLMModel": ".vllm",
    "MLXModel": ".mlx",
}
"""Where ``from_dict`` finds model classes by name; other adapter modules add themselves here."""
