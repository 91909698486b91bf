"""Turn agent messages into the plain dicts a chat API accepts.

Agent memory speaks in ``ChatMessage`` objects with roles such as ``tool-call`` and typed
content parts that may hold images; providers want a few roles, alternating turns and image
URLs. The conversion is written once here and every adapter calls it.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..messages import ChatMessage, MessageRole

__all__ = [
    "TOOL_ROLE_CONVERSIONS",
    "encode_image_base64",
    "get_clean_message_list",
    "make_image_url",
]

TOOL_ROLE_CONVERSIONS: dict[str, str] = {
    MessageRole.TOOL_CALL.value: MessageRole.ASSISTANT.value,
    MessageRole.TOOL_RESPONSE.value: MessageRole.USER.value,
}
"""Agent-only roles and the API roles they become unless an adapter says otherwise."""

# Keys of an OpenAI-style message that tie it to a native tool call; such messages are
# passed through without merging so the call/response pairing stays intact.
_PASSTHROUGH_KEYS = ("tool_calls", "tool_call_id", "name")

_MAGIC_MIME = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


def _sniff_mime(data: bytes) -> str | None:
    for magic, mime in _MAGIC_MIME:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _pil_to_png(image: Any) -> bytes:
    buffer = io.BytesIO()
    if getattr(image, "mode", "RGB") not in ("RGB", "RGBA", "L", "LA", "P", "1", "I", "I;16"):
        image = image.convert("RGBA")
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _image_bytes(image: Any) -> tuple[bytes, str]:
    """Raw bytes and MIME type of an image given as PIL image, array, bytes, path or base64."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        mime = _sniff_mime(data)
        if mime is None:  # an unknown container: let Pillow read it and re-encode as PNG
            from PIL import Image

            return _pil_to_png(Image.open(io.BytesIO(data))), "image/png"
        return data, mime
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                data = handle.read()
            import mimetypes

            mime = _sniff_mime(data) or mimetypes.guess_type(path)[0] or "image/png"
            return data, mime
        try:
            data = base64.b64decode(path, validate=True)
        except ValueError:
            data = b""
        if data and _sniff_mime(data):
            return data, _sniff_mime(data) or "image/png"
        raise ValueError(
            f"Cannot read the image {path[:80]!r}: it is not a URL, an existing file or base64 image data."
        )
    if hasattr(image, "save") and hasattr(image, "mode"):  # a PIL image, without importing PIL
        return _pil_to_png(image), "image/png"
    if hasattr(image, "__array_interface__"):
        from PIL import Image

        return _pil_to_png(Image.fromarray(image)), "image/png"
    raise TypeError(
        f"Unsupported image type {type(image).__name__}: pass a PIL image, bytes, a file path or a URL."
    )


def encode_image_base64(image: Any) -> str:
    """Base64 text of an image (PNG unless given as already-encoded bytes or a file)."""
    return base64.b64encode(_image_bytes(image)[0]).decode("ascii")


def make_image_url(image: Any) -> str:
    """A URL for an image part: web and data URLs pass through, anything else becomes a data URL."""
    if isinstance(image, str) and image.startswith(("http://", "https://", "data:")):
        return image
    data, mime = _image_bytes(image)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _as_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, Mapping):
        return [dict(content)]
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append({"type": "text", "text": part})
        elif isinstance(part, Mapping):
            parts.append(dict(part))
        else:
            raise TypeError(f"A message content part must be a dict or a string, got {type(part).__name__}.")
    return parts


def _convert_image_part(part: dict[str, Any]) -> dict[str, Any]:
    if part.get("type") == "image":
        return {"type": "image_url", "image_url": {"url": make_image_url(part.get("image"))}}
    if part.get("type") == "image_url" and not isinstance(part.get("image_url"), Mapping):
        return {"type": "image_url", "image_url": {"url": make_image_url(part.get("image_url"))}}
    return part


def _join_text_parts(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join neighbouring text parts with a newline so merged turns read as one text."""
    joined: list[dict[str, Any]] = []
    for part in parts:
        if part.get("type") == "text" and joined and joined[-1].get("type") == "text":
            joined[-1] = {"type": "text", "text": f"{joined[-1].get('text', '')}\n{part.get('text', '')}"}
        else:
            joined.append(part)
    return joined


def _message_fields(message: ChatMessage | Mapping[str, Any]) -> tuple[str, Any, dict[str, Any]]:
    """Role, content and native tool-call fields of a ChatMessage or message dict."""
    if isinstance(message, ChatMessage):
        extra: dict[str, Any] = {}
        return str(message.role), message.content, extra
    if isinstance(message, Mapping):
        if "role" not in message:
            raise ValueError(f"A message dict needs a 'role' key; got keys {sorted(message)}.")
        role = message["role"]
        role = role.value if isinstance(role, MessageRole) else str(role)
        extra = {key: message[key] for key in _PASSTHROUGH_KEYS if message.get(key) is not None}
        return role, message.get("content"), extra
    raise TypeError(
        f"Messages must be ChatMessage objects or dicts with 'role' and 'content'; got {type(message).__name__}."
    )


def get_clean_message_list(
    messages: Iterable[ChatMessage | Mapping[str, Any]],
    role_conversions: Mapping[str, str] | None = None,
    convert_images_to_image_urls: bool = False,
    flatten_messages_as_text: bool = False,
) -> list[dict[str, Any]]:
    """Return API-ready message dicts.

    - roles are renamed through ``role_conversions`` (e.g. ``tool-response`` -> ``user``);
    - consecutive messages with the same role are merged into one turn (many APIs require
      alternating roles);
    - with ``convert_images_to_image_urls``, ``{"type": "image", "image": ...}`` parts become
      ``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}``;
    - with ``flatten_messages_as_text``, content becomes one plain string (image parts are
      dropped: flattening is for text-only servers).

    Message dicts that carry native tool-call fields (``tool_calls``, ``tool_call_id``) are
    passed through unmerged so that a call and its response stay paired.
    """
    conversions = dict(role_conversions or {})
    cleaned: list[dict[str, Any]] = []
    mergeable = False  # whether the last cleaned message may absorb the next one
    for message in messages:
        role, content, extra = _message_fields(message)
        role = conversions.get(role, role)
        parts = _as_parts(content)
        if convert_images_to_image_urls:
            parts = [_convert_image_part(part) for part in parts]
        if mergeable and not extra and cleaned[-1]["role"] == role:
            cleaned[-1]["content"] = _join_text_parts(cleaned[-1]["content"] + parts)
            continue
        # An assistant turn that only calls tools has no content; APIs want null there.
        cleaned.append(
            {"role": role, "content": _join_text_parts(parts) if parts or not extra else None, **extra}
        )
        mergeable = not extra
    if flatten_messages_as_text:
        for entry in cleaned:
            if entry["content"] is not None:
                entry["content"] = "\n".join(
                    str(part.get("text", "")) for part in entry["content"] if part.get("type") == "text"
                )
    return cleaned
