"""Logic shared by the in-process adapters (transformers, vLLM, MLX).

Local models have no server between them and the agent, so the adapter does what a chat
server would: apply the model's chat template (with tool schemas when the template knows
them, tools described in text when it does not), stop at stop sequences, split ``<think>``
reasoning out, find JSON tool calls in the text and count tokens. It is written once here
so that the three adapters, streamed or not, map generated text the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._monitoring_types import TokenUsage
from ..errors import AgentParsingError
from ..messages import (
    ChatMessage,
    ChatMessageStreamDelta,
    ChatMessageToolCallFunction,
    ChatMessageToolCallStreamDelta,
    agglomerate_stream_deltas,
)
from ._text import StopSequenceCutter, ThinkSplitter
from ._tool_parsing import parse_arguments, tool_calls_from_text
from .base import Model, ModelRequest

__all__ = [
    "LocalRequest",
    "OutputMapper",
    "extract_images",
    "message_from_deltas",
    "prepare_local_request",
    "render_chat_prompt",
    "tools_as_text",
]

logger = logging.getLogger(__name__)

_REQUEST_KEYS = ("messages", "stop", "tools", "tool_choice", "response_format")


@dataclass
class LocalRequest:
    """One generation request, split into what the adapter handles and what the engine takes."""

    messages: list[dict[str, Any]]
    stop: list[str] = field(default_factory=list)
    tools: list[dict[str, Any]] | None = None
    response_format: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    """Remaining keyword arguments (temperature, max_tokens...) for the generation engine."""


def fold_token_limit(kwargs: dict[str, Any], name: str) -> dict[str, Any]:
    """``max_tokens`` and ``max_new_tokens`` of one side of the kwargs as the single ``name``
    (``max_tokens`` wins when both are set), so a constructor's ``max_new_tokens`` and a
    call's ``max_tokens`` compete as one setting instead of both reaching the engine."""
    if "max_tokens" in kwargs or "max_new_tokens" in kwargs:
        max_tokens = kwargs.pop("max_tokens", None)
        max_new_tokens = kwargs.pop("max_new_tokens", None)
        kwargs[name] = max_tokens if max_tokens is not None else max_new_tokens
    return kwargs


def prepare_local_request(model: Model, request: ModelRequest) -> LocalRequest:
    """Build the engine's request through ``Model._completion_kwargs``.

    Going through the base class keeps precedence (``kwargs_priority``: the constructor
    wins by default) and ``REMOVE_PARAMETER`` identical to the API adapters: ``stop=REMOVE_PARAMETER`` really
    switches stopping off, ``response_format=REMOVE_PARAMETER`` drops a schema the engine
    cannot enforce.
    """
    # a local model has no tool_choice switch: tools are in the prompt
    params = model._completion_kwargs(request, tool_choice=None)
    stop = params.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    return LocalRequest(
        messages=params["messages"],
        stop=[s for s in stop if s],
        tools=params.get("tools") or None,
        response_format=params.get("response_format"),
        options={key: value for key, value in params.items() if key not in _REQUEST_KEYS},
    )


# --------------------------------------------------------------------------- prompts
def tools_as_text(tools: list[dict[str, Any]]) -> str:
    """Tool schemas as instructions, for chat templates that cannot render ``tools``."""
    lines = [
        "You can call the following tools. To call a tool, answer with one JSON object "
        '{"name": "<tool name>", "arguments": {<arguments>}} per call.',
        "Tools:",
    ]
    for tool in tools:
        function = tool.get("function", tool)
        lines.append(json.dumps(function, ensure_ascii=False, default=str))
    return "\n".join(lines)


def _with_system_text(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """A copy of ``messages`` whose system message ends with ``text`` (one is added if needed)."""
    messages = [dict(message) for message in messages]
    if messages and messages[0].get("role") == "system":
        content = messages[0].get("content")
        if isinstance(content, list):
            messages[0]["content"] = [*content, {"type": "text", "text": text}]
        else:
            messages[0]["content"] = f"{content}\n\n{text}" if content else text
    else:
        messages.insert(0, {"role": "system", "content": text})
    return messages


def _plain_transcript(messages: list[dict[str, Any]]) -> str:
    parts = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "\n".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
        parts.append(f"{str(message.get('role', 'user')).capitalize()}: {content or ''}")
    parts.append("Assistant:")
    return "\n".join(parts)


def _render(owner: Any, messages: list[dict[str, Any]], **kwargs: Any) -> str:
    rendered = owner.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **kwargs)
    if isinstance(rendered, (list, tuple)):  # some processors return one string per conversation
        rendered = rendered[0]
    return str(rendered)


def render_chat_prompt(
    owner: Any,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    template_kwargs: Mapping[str, Any] | None = None,
) -> str:
    """The prompt text for ``messages``, through ``owner``'s chat template (tokenizer or processor).

    Tool schemas go to the template's ``tools`` argument. A template that ignores them
    renders the same text with and without tools; then the tools are described in the
    system message instead, so the model still learns which tools exist and how to call
    them. A tokenizer without any chat template gets a plain ``Role: text`` transcript.
    """
    extra = dict(template_kwargs or {})
    if not getattr(owner, "chat_template", None):
        logger.warning("The tokenizer has no chat template; sending a plain 'Role: text' transcript.")
        if tools:
            messages = _with_system_text(messages, tools_as_text(tools))
        return _plain_transcript(messages)
    if tools:
        with_tools = _render(owner, messages, tools=tools, **extra)
        if with_tools != _render(owner, messages, **extra):
            return with_tools
        messages = _with_system_text(messages, tools_as_text(tools))
    return _render(owner, messages, **extra)


def _load_image(image: Any) -> Any:
    """A PIL image from whatever a message part holds (PIL, array, bytes, path, URL, base64)."""
    import io

    from PIL import Image

    from ._cleaning import _image_bytes

    if isinstance(image, Image.Image):
        return image
    if isinstance(image, str) and image.startswith(("http://", "https://")):
        from transformers.image_utils import load_image  # only the transformers adapter sees images

        return load_image(image)
    if hasattr(image, "__array_interface__"):
        return Image.fromarray(image)
    if isinstance(image, str) and image.startswith("data:"):
        image = image.split(",", 1)[-1]
    return Image.open(io.BytesIO(_image_bytes(image)[0]))


def extract_images(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Any]]:
    """Split images out of message parts: template-ready messages and the PIL images, in order.

    Processor chat templates only need ``{"type": "image"}`` to place an image token; the
    pixels go to the processor call separately.
    """
    images: list[Any] = []
    cleaned = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            cleaned.append(message)
            continue
        parts = []
        for part in content:
            kind = part.get("type")
            if kind == "image":
                images.append(_load_image(part.get("image")))
                parts.append({"type": "image"})
            elif kind == "image_url":
                url = part.get("image_url")
                images.append(_load_image(url.get("url") if isinstance(url, Mapping) else url))
                parts.append({"type": "image"})
            else:
                parts.append(part)
        cleaned.append({**message, "content": parts})
    return cleaned, images


# --------------------------------------------------------------------------- outputs
class OutputMapper:
    """Generated text pieces -> ``ChatMessageStreamDelta``s: the one path for every local answer.

    Text is cut at the first stop sequence (``stopped`` turns True, so the caller can end
    generation), then ``<think>`` reasoning is split out. At ``finish`` the answer is scanned
    for JSON tool calls when tools were offered, and the token usage is put on one final delta.
    Whole answers go through the same path (one piece), so streamed and non-streamed results
    are identical.
    """

    def __init__(self, model: Model, stop_sequences: Iterable[str] | None, tools_offered: bool) -> None:
        self._model = model
        self._cutter = StopSequenceCutter(list(stop_sequences or []))
        self._think = ThinkSplitter()
        self._tools_offered = tools_offered
        self._content: list[str] = []

    @property
    def stopped(self) -> bool:
        """True once a stop sequence was seen: everything after it is discarded."""
        return self._cutter.done

    def _split(self, text: str) -> list[ChatMessageStreamDelta]:
        content, reasoning = self._think.feed(text) if text else ("", "")
        if content:
            self._content.append(content)
        if content or reasoning:
            return [ChatMessageStreamDelta(content=content or None, reasoning_content=reasoning or None)]
        return []

    def feed(self, piece: str) -> list[ChatMessageStreamDelta]:
        return self._split(self._cutter.feed(piece))

    def finish(self, usage: TokenUsage | None) -> list[ChatMessageStreamDelta]:
        deltas = self._split(self._cutter.flush())
        content, reasoning = self._think.flush()
        if content:
            self._content.append(content)
        if content or reasoning:
            deltas.append(
                ChatMessageStreamDelta(content=content or None, reasoning_content=reasoning or None)
            )
        if self._tools_offered:
            deltas.extend(self._tool_call_deltas("".join(self._content)))
        if usage is not None:
            deltas.append(ChatMessageStreamDelta(token_usage=usage))
        return deltas

    def _tool_call_deltas(self, text: str) -> list[ChatMessageStreamDelta]:
        try:
            calls = tool_calls_from_text(text, self._model.tool_name_key, self._model.tool_arguments_key)
        except AgentParsingError:
            return []  # a plain-text answer: the agent reports the missing call to the model
        fragments = [
            ChatMessageToolCallStreamDelta(
                index=i,
                id=call.id,
                type="function",
                function=ChatMessageToolCallFunction(
                    name=call.function.name,
                    arguments=call.function.arguments
                    if isinstance(call.function.arguments, str)
                    else json.dumps(call.function.arguments, ensure_ascii=False, default=str),
                ),
            )
            for i, call in enumerate(calls)
        ]
        return [ChatMessageStreamDelta(tool_calls=fragments)]


def message_from_deltas(deltas: Iterable[ChatMessageStreamDelta], raw: Any = None) -> ChatMessage:
    """Join a whole answer's deltas into the message; tool-call arguments are decoded."""
    message = agglomerate_stream_deltas(deltas)
    for call in message.tool_calls or []:
        call.function.arguments = parse_arguments(call.function.arguments)
    message.raw = raw
    return message
