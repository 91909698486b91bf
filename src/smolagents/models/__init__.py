"""Model adapters: one module per API family, sharing the message types and base classes.

Importing this package imports no provider SDK: each adapter imports its SDK when a model
is constructed or first called.
"""

from __future__ import annotations

from ._cleaning import get_clean_message_list
from ._messages import (
    ChatMessage,
    ChatMessageStreamDelta,
    ChatMessageToolCall,
    ChatMessageToolCallFunction,
    ChatMessageToolCallStreamDelta,
    MessageRole,
    agglomerate_stream_deltas,
    content_to_text,
)
from ._text import remove_content_after_stop_sequences, split_reasoning
from .api import ApiModel
from .base import REMOVE_PARAMETER, Model
from .openai import AzureOpenAIModel, AzureOpenAIServerModel, OpenAIModel, OpenAIServerModel

__all__ = [
    "REMOVE_PARAMETER",
    "ApiModel",
    "AzureOpenAIModel",
    "AzureOpenAIServerModel",
    "ChatMessage",
    "ChatMessageStreamDelta",
    "ChatMessageToolCall",
    "ChatMessageToolCallFunction",
    "ChatMessageToolCallStreamDelta",
    "MessageRole",
    "Model",
    "OpenAIModel",
    "OpenAIServerModel",
    "agglomerate_stream_deltas",
    "content_to_text",
    "get_clean_message_list",
    "remove_content_after_stop_sequences",
    "split_reasoning",
]
