"""Tools: the functions an agent may call, described well enough for a model to call them.

Public names: :class:`Tool`, :func:`tool`, :class:`ToolCollection`, :func:`load_tool` and
:func:`validate_tool_arguments`. The package is layered; each module imports only the ones
listed before it:

- ``_json_schema``: the tool-input dialect of JSON schema, value checks, conversions;
- ``_schema``: schemas from type hints and docstrings, definition checks;
- ``_source``: the source code that saving a tool writes (also used by remote executors);
- ``_tool``: the ``Tool`` class and ``@tool``;
- ``_validation``: checking a model's arguments for a tool;
- ``_hub``, ``_adapters`` (Spaces, LangChain), ``_mcp`` (MCP servers): tools from elsewhere;
- ``_collection``: ``ToolCollection`` and ``load_tool``.

``Tool.from_space``/``Tool.from_langchain`` import ``_adapters`` when called (its classes
subclass ``Tool``), never at import time. Optional packages (huggingface_hub, gradio_client,
mcp) are imported only when used.
"""

from __future__ import annotations

from ._collection import ToolCollection, load_tool
from ._tool import Tool, tool
from ._validation import validate_tool_arguments

__all__ = ["Tool", "ToolCollection", "load_tool", "tool", "validate_tool_arguments"]
