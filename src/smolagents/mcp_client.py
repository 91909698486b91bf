"""Compatibility path for the MCP client; it lives in :mod:`smolagents.tools._mcp`."""

from __future__ import annotations

from .tools._mcp import MCPClient

__all__ = ["MCPClient"]
