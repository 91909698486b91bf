"""Compatibility path: the message types live in :mod:`smolagents.messages`.

Kept so that code (and pickles) naming ``smolagents.models._messages`` still resolve.
"""

from __future__ import annotations

from ..messages import (
    ChatMessage,
    ChatMessageStreamDelta,
    ChatMessageToolCall,
    ChatMessageToolCallFunction,
    ChatMessageToolCallStreamDelta,
    MessageRole,
    agglomerate_stream_deltas,
    content_to_text,
)

__all__ = [
    "ChatMessage",
    "ChatMessageStreamDelta",
    "ChatMessageToolCall",
    "ChatMessageToolCallFunction",
    "ChatMessageToolCallStreamDelta",
    "MessageRole",
    "agglomerate_stream_deltas",
    "content_to_text",
]
