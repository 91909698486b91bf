"""Translation between agent messages and Amazon Bedrock's Converse API, free of any I/O.

Converse is one request shape for every model on Bedrock, but a strict one: only ``user``
and ``assistant`` turns, alternating, system prompts in a separate ``system`` field, images
as raw bytes, tools as ``toolSpec`` entries, no blank text. ``converse_request`` builds that
shape from the parameters ``Model._prepare_completion_kwargs`` prepares;
``message_from_converse`` and ``ConverseStreamMapper`` read answers back, so that
``generate`` and ``generate_stream`` share one mapping.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from .._monitoring_types import TokenUsage
from ..errors import AgentGenerationError, UserError
from ..messages import (
    ChatMessage,
    ChatMessageStreamDelta,
    ChatMessageToolCall,
    ChatMessageToolCallFunction,
    ChatMessageToolCallStreamDelta,
    MessageRole,
)
from ._cleaning import _image_bytes
from ._text import StopSequenceCutter, ThinkSplitter, remove_content_after_stop_sequences, split_reasoning
from ._tool_parsing import parse_arguments

__all__ = ["ConverseStreamMapper", "converse_messages", "converse_request", "message_from_converse"]

# Top-level Converse fields; anything else given as a kwarg is model-specific and travels in
# ``additionalModelRequestFields`` (the Converse counterpart of OpenAI's ``extra_body``).
_CONVERSE_FIELDS = frozenset(
    {"system", "inferenceConfig", "toolConfig", "guardrailConfig", "additionalModelRequestFields",
     "promptVariables", "additionalModelResponseFieldPaths", "requestMetadata", "performanceConfig",
     "serviceTier", "outputConfig"}
)  # fmt: skip
# Generic kwargs and the ``inferenceConfig`` keys they become.
_INFERENCE_KEYS = (
    ("max_tokens", "maxTokens"),
    ("max_completion_tokens", "maxTokens"),
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("stop", "stopSequences"),
)
# Keys of a content block already in Converse form, passed through as given (cache points...).
_CONVERSE_BLOCK_KEYS = frozenset(
    {"text", "image", "document", "video", "audio", "toolUse", "toolResult", "guardContent", "cachePoint",
     "reasoningContent", "citationsContent", "searchResult"}
)  # fmt: skip
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


# --------------------------------------------------------------------------- requests
def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(
        str(part.get("text", "")) for part in content if isinstance(part, Mapping) and "text" in part
    )


def _image_block(image: Any) -> dict[str, Any]:
    """A Converse image block: Bedrock wants raw bytes (or an S3 location), never a web URL."""
    if isinstance(image, Mapping):  # an OpenAI-style {"url": ...}
        image = image.get("url")
    if isinstance(image, str) and image.startswith("s3://"):
        fmt = image.rsplit(".", 1)[-1].lower().replace("jpg", "jpeg")
        fmt = fmt if fmt in _IMAGE_FORMATS.values() else "png"
        return {"image": {"format": fmt, "source": {"s3Location": {"uri": image}}}}
    if isinstance(image, str) and image.startswith("data:"):
        image = base64.b64decode(image.partition(",")[2])
    elif isinstance(image, str) and image.startswith(("http://", "https://")):
        raise UserError(
            f"Bedrock Converse cannot fetch image URLs ({image[:60]!r}): pass the image itself "
            "(PIL image, bytes, file path or data URL) or an s3:// location."
        )
    data, mime = _image_bytes(image)
    if mime not in _IMAGE_FORMATS:  # e.g. BMP: re-encode as PNG, which every model accepts
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.open(io.BytesIO(data)).save(buffer, format="PNG")
        data, mime = buffer.getvalue(), "image/png"
    return {"image": {"format": _IMAGE_FORMATS[mime], "source": {"bytes": data}}}


def _content_blocks(content: Any) -> list[dict[str, Any]]:
    """Converse content blocks for a cleaned message content; blank text is dropped (Bedrock rejects it)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            text = str(part.get("text") or "")
            if text.strip():
                blocks.append({"text": text})
        elif kind == "image":
            blocks.append(_image_block(part.get("image")))
        elif kind == "image_url":
            blocks.append(_image_block(part.get("image_url")))
        elif kind is None and part and set(part) <= _CONVERSE_BLOCK_KEYS:
            blocks.append(dict(part))
        else:
            raise UserError(
                f"Bedrock Converse cannot send a message part of type {kind!r}: {str(part)[:100]}"
            )
    return blocks


def _tool_use_blocks(tool_calls: list[Any]) -> list[dict[str, Any]]:
    blocks = []
    for i, call in enumerate(tool_calls):
        call = call.dict() if hasattr(call, "dict") else dict(call)
        function = call.get("function") or {}
        arguments = parse_arguments(function.get("arguments"))
        blocks.append(
            {
                "toolUse": {
                    "toolUseId": str(call.get("id") or f"call_{i}"),
                    "name": function.get("name", ""),
                    "input": arguments if isinstance(arguments, Mapping) else {"input": arguments},
                }
            }
        )
    return blocks


def converse_messages(
    messages: list[dict[str, Any]], fold_system: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Cleaned chat messages to Converse ``(messages, system)``.

    System turns go to ``system`` (or, with ``fold_system``, to the start of the first user
    turn, for models without system prompts); OpenAI-style ``tool_calls`` / ``tool`` turns
    become ``toolUse`` / ``toolResult`` blocks; other roles become ``user``; neighbouring
    turns with the same role are merged, since Converse requires alternation.
    """
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "system":
            text = _text_of(message.get("content"))
            if text.strip():
                system.append({"text": text})
            continue
        if message.get("tool_call_id"):  # an OpenAI-style tool result
            result = {
                "toolUseId": str(message.get("tool_call_id", "")),
                "content": [{"text": _text_of(message.get("content")) or "(empty)"}],
            }
            turns.append({"role": "user", "content": [{"toolResult": result}]})
            continue
        blocks = _content_blocks(message.get("content"))
        if message.get("tool_calls"):
            blocks += _tool_use_blocks(message["tool_calls"])
        if blocks:
            turns.append({"role": "assistant" if role == "assistant" else "user", "content": blocks})
    if fold_system and system:
        folded = [{"text": "\n".join(block["text"] for block in system)}]
        turns.insert(0, {"role": "user", "content": folded})
        system = []
    merged: list[dict[str, Any]] = []
    for turn in turns:
        if merged and merged[-1]["role"] == turn["role"]:
            merged[-1]["content"] = merged[-1]["content"] + turn["content"]
        else:
            merged.append({"role": turn["role"], "content": list(turn["content"])})
    return merged, system


def _tool_config(tools: list[dict[str, Any]], tool_choice: Any) -> dict[str, Any]:
    specs = []
    for tool in tools:
        function = tool.get("function", tool)
        spec: dict[str, Any] = {
            "name": function["name"],
            "inputSchema": {"json": function.get("parameters") or {"type": "object", "properties": {}}},
        }
        if function.get("description"):
            spec["description"] = function["description"]
        specs.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": specs}
    if tool_choice in ("required", "any"):
        config["toolChoice"] = {"any": {}}
    elif tool_choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif isinstance(tool_choice, str) and tool_choice != "none":
        config["toolChoice"] = {"tool": {"name": tool_choice}}
    elif isinstance(tool_choice, Mapping):
        name = (tool_choice.get("function") or {}).get("name")
        config["toolChoice"] = {"tool": {"name": name}} if name else dict(tool_choice)
    return config


def _output_config(response_format: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI ``response_format`` (json_schema) to Converse ``outputConfig``."""
    schema = response_format.get("json_schema") if response_format.get("type") == "json_schema" else None
    if not isinstance(schema, Mapping) or "schema" not in schema:
        raise UserError(
            "AmazonBedrockModel supports response_format={'type': 'json_schema', 'json_schema': "
            f"{{'name': ..., 'schema': {{...}}}}}} only; got {dict(response_format)!r:.200}."
        )
    definition = {"schema": json.dumps(schema["schema"]), "name": schema.get("name") or "response"}
    if schema.get("description"):
        definition["description"] = schema["description"]
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}


def converse_request(
    params: Mapping[str, Any], model_id: str, fold_system: bool = False, drop_stop: bool = False
) -> dict[str, Any]:
    """Turn prepared completion parameters into Converse call arguments.

    Generic kwargs (``max_tokens``, ``temperature``, ``top_p``, ``stop``) fill
    ``inferenceConfig``; an explicit ``inferenceConfig`` wins key by key. Converse fields
    (``guardrailConfig``, ``toolConfig``...) pass through; other kwargs are model-specific and
    go to ``additionalModelRequestFields``.
    """
    rest = dict(params)
    messages, system = converse_messages(rest.pop("messages", []), fold_system)
    request: dict[str, Any] = {"modelId": model_id, "messages": messages}
    if system:
        request["system"] = system
    inference: dict[str, Any] = {}
    for name, key in _INFERENCE_KEYS:
        value = rest.pop(name, None)
        if value is not None:
            inference[key] = [value] if key == "stopSequences" and isinstance(value, str) else value
    inference.update(rest.pop("inferenceConfig", None) or {})
    if drop_stop:
        inference.pop("stopSequences", None)
    if inference:
        request["inferenceConfig"] = inference
    tools, tool_choice = rest.pop("tools", None), rest.pop("tool_choice", None)
    if tools and "toolConfig" not in rest:
        request["toolConfig"] = _tool_config(tools, tool_choice)
    response_format = rest.pop("response_format", None)
    if response_format is not None and "outputConfig" not in rest:
        request["outputConfig"] = _output_config(response_format)
    extra: dict[str, Any] = {}
    for key, value in rest.items():
        if key in _CONVERSE_FIELDS:
            request[key] = value
        elif key != "modelId":
            extra[key] = value
    if extra:
        request["additionalModelRequestFields"] = {
            **extra,
            **(request.get("additionalModelRequestFields") or {}),
        }
    return request


# --------------------------------------------------------------------------- responses
def _usage(usage: Any) -> TokenUsage | None:
    """Token usage; prompt-cache reads and writes are input tokens too (Converse counts them apart)."""
    if not isinstance(usage, Mapping):
        return None
    prompt = sum(
        int(usage.get(key) or 0) for key in ("inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")
    )
    return TokenUsage(input_tokens=prompt, output_tokens=int(usage.get("outputTokens") or 0))


def message_from_converse(
    response: Mapping[str, Any], stop_sequences: list[str] | None, model_id: str | None
) -> ChatMessage:
    """Map a Converse response to a ``ChatMessage`` (reasoning apart, text cut at stop sequences)."""
    message = ((response.get("output") or {}).get("message")) if isinstance(response, Mapping) else None
    if not isinstance(message, Mapping):
        raise AgentGenerationError(f"Model {model_id!r} returned no message: {response!r:.300}")
    texts: list[str] = []
    reasoning: list[str] = []
    tool_calls: list[ChatMessageToolCall] = []
    for block in message.get("content") or []:
        if "text" in block:
            texts.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            tool_calls.append(
                ChatMessageToolCall(
                    function=ChatMessageToolCallFunction(
                        name=use.get("name", ""), arguments=use.get("input")
                    ),
                    id=use.get("toolUseId") or f"call_{len(tool_calls)}",
                )
            )
        elif "reasoningContent" in block:
            text = (block["reasoningContent"].get("reasoningText") or {}).get("text")
            if text:
                reasoning.append(text)
    content, inline = split_reasoning("".join(texts)) if texts else (None, None)
    if inline:
        reasoning.append(inline)
    return ChatMessage(
        role=MessageRole.ASSISTANT,
        content=remove_content_after_stop_sequences(content, stop_sequences),
        tool_calls=tool_calls or None,
        raw=response,
        token_usage=_usage(response.get("usage")),
        reasoning_content="\n".join(reasoning) or None,
    )


class ConverseStreamMapper:
    """Map ConverseStream events to deltas (text, reasoning, tool-call fragments, usage once).

    ``toolUse`` blocks become fragments keyed by their content-block index: the start event
    gives id and name, each delta a piece of the JSON input. Usage, from the ``metadata``
    event, is put on exactly one final delta.
    """

    def __init__(self, cut_at: list[str] | None = None) -> None:
        self._think = ThinkSplitter()
        self._cutter = StopSequenceCutter(cut_at)
        self._usage: TokenUsage | None = None

    def _text(self, text: str, reasoning: str = "") -> list[ChatMessageStreamDelta]:
        content, inline = self._think.feed(text) if text else ("", "")
        content = self._cutter.feed(content) if content else ""
        reasoning += inline
        if content or reasoning:
            return [ChatMessageStreamDelta(content=content or None, reasoning_content=reasoning or None)]
        return []

    def feed(self, event: Mapping[str, Any]) -> list[ChatMessageStreamDelta]:
        if "contentBlockStart" in event:
            start = event["contentBlockStart"]
            use = (start.get("start") or {}).get("toolUse")
            if use:
                fragment = ChatMessageToolCallStreamDelta(
                    index=start.get("contentBlockIndex"),
                    id=use.get("toolUseId"),
                    type="function",
                    function=ChatMessageToolCallFunction(name=use.get("name", ""), arguments=""),
                )
                return [ChatMessageStreamDelta(tool_calls=[fragment])]
        elif "contentBlockDelta" in event:
            body = event["contentBlockDelta"]
            delta = body.get("delta") or {}
            if "text" in delta:
                return self._text(delta["text"])
            if "toolUse" in delta:
                fragment = ChatMessageToolCallStreamDelta(
                    index=body.get("contentBlockIndex"),
                    function=ChatMessageToolCallFunction(
                        name="", arguments=delta["toolUse"].get("input", "")
                    ),
                )
                return [ChatMessageStreamDelta(tool_calls=[fragment])]
            if "reasoningContent" in delta:
                return self._text("", delta["reasoningContent"].get("text") or "")
        elif "metadata" in event:
            self._usage = _usage(event["metadata"].get("usage")) or self._usage
        return []

    def finish(self) -> list[ChatMessageStreamDelta]:
        content, reasoning = self._think.flush()
        deltas = self._text("", reasoning) if reasoning else []
        content = (self._cutter.feed(content) if content else "") + self._cutter.flush()
        if content:
            deltas.append(ChatMessageStreamDelta(content=content))
        if self._usage is not None:
            deltas.append(ChatMessageStreamDelta(token_usage=self._usage))
        return deltas
