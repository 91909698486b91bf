"""``ToolCollection`` (tools loaded together from a Hub collection or MCP servers) and ``load_tool``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import UserError
from ._tool import Tool

__all__ = ["ToolCollection", "load_tool"]


def load_tool(
    repo_id: str,
    model_repo_id: str | None = None,
    token: str | None = None,
    trust_remote_code: bool = False,
    **kwargs: Any,
) -> Tool:
    """Load a tool from the Hub (a Space or repo holding ``tool.py``); see :meth:`Tool.from_hub`."""
    if model_repo_id is not None:
        kwargs["model_repo_id"] = model_repo_id
    return Tool.from_hub(repo_id, token=token, trust_remote_code=trust_remote_code, **kwargs)


class ToolCollection:
    """A group of tools loaded together (from a Hub collection or an MCP server)."""

    def __init__(self, tools: list[Tool]) -> None:
        self.tools = list(tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(self.tools)

    def __len__(self) -> int:
        return len(self.tools)

    def __repr__(self) -> str:
        return f"ToolCollection({[t.name for t in self.tools]})"

    @classmethod
    def from_hub(
        cls, collection_slug: str, token: str | None = None, trust_remote_code: bool = False
    ) -> ToolCollection:
        """Load every Space tool of a Hub collection (each runs locally: opt in)."""
        if not trust_remote_code:
            raise UserError(
                f"Loading the tools of the Hub collection '{collection_slug}' runs their code on this "
                "machine. Review them, then pass trust_remote_code=True."
            )
        from ._hub import hub_collection_spaces

        spaces = hub_collection_spaces(collection_slug, token)
        return cls([Tool.from_hub(space, token=token, trust_remote_code=True) for space in spaces])

    @classmethod
    @contextmanager
    def from_mcp(
        cls, server_parameters: Any, trust_remote_code: bool = False, structured_output: bool | None = None
    ) -> Iterator[ToolCollection]:
        """Connect to MCP server(s) and yield their tools; the connection closes on exit.

        ``server_parameters``: an ``mcp.StdioServerParameters``, a dict ``{"url": ...,
        "transport": "streamable-http" | "sse"}``, or a list of those. To manage the
        connection yourself, use :class:`smolagents.mcp_client.MCPClient`.
        """
        if not trust_remote_code:
            raise UserError(
                "ToolCollection.from_mcp starts or connects to an MCP server whose tools run code. "
                "Make sure you trust it, then pass trust_remote_code=True."
            )
        from ._mcp import MCPClient

        with MCPClient(server_parameters, structured_output=structured_output) as tools:
            yield cls(tools)
