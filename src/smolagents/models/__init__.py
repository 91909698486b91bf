"""Model adapters: one module per API family, sharing the message types and base classes.

The message types (``ChatMessage`` and friends) live in :mod:`smolagents.messages` and are
re-exported here, where the docs import them from.

Importing this package imports no provider SDK: each adapter imports its SDK when a model
is constructed or first called.
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
from ._cleaning import get_clean_message_list
from ._text import remove_content_after_stop_sequences, split_reasoning
from .api import ApiModel
from .base import REMOVE_PARAMETER, Model, ModelRequest, tool_json_schema
from .bedrock import AmazonBedrockModel
from .huggingface import InferenceClientModel
from .litellm import LiteLLMModel, LiteLLMRouterModel
from .mlx import MLXModel
from .openai import AzureOpenAIModel, AzureOpenAIServerModel, OpenAIModel, OpenAIServerModel
from .transformers import TransformersModel
from .vllm import VLLMModel

get_tool_json_schema = tool_json_schema
"""Upstream's name for a tool's OpenAI ``tools`` entry (instrumentors record tool schemas with it)."""

__all__ = [
    "REMOVE_PARAMETER",
    "AmazonBedrockModel",
    "ApiModel",
    "AzureOpenAIModel",
    "AzureOpenAIServerModel",
    "ChatMessage",
    "ChatMessageStreamDelta",
    "ChatMessageToolCall",
    "ChatMessageToolCallFunction",
    "ChatMessageToolCallStreamDelta",
    "InferenceClientModel",
    "LiteLLMModel",
    "LiteLLMRouterModel",
    "MLXModel",
    "MessageRole",
    "Model",
    "ModelRequest",
    "OpenAIModel",
    "OpenAIServerModel",
    "TransformersModel",
    "VLLMModel",
    "agglomerate_stream_deltas",
    "content_to_text",
    "get_clean_message_list",
    "get_tool_json_schema",
    "remove_content_after_stop_sequences",
    "split_reasoning",
]
