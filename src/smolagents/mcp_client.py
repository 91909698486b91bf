"""MCP client: use the tools of Model Context Protocol servers as smolagents tools.

Split out of :mod:`smolagents.tools` to keep that module small. ``ToolCollection.from_mcp``
delegates here; :class:`MCPClient` is the same machinery for code that manages the
connection itself. The ``mcp`` package is imported only when a client connects, and asyncio
only when a session starts, so importing this module stays light.
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

from ._optional import require
from ._tool_adapters import _identifier, _input_from_json_schema
from .errors import UserError
from .tools import Tool

__all__ = ["MCPClient"]


class _MCPSession:
    """One MCP client session, served by a private event loop on a daemon thread.

    The session is opened, used and closed by a single task (anyio requires it); tool calls
    are submitted to that loop from whatever thread the agent calls the tool on.
    """

    def __init__(self, parameters: Any, timeout: float = 60.0) -> None:
        import asyncio
        import concurrent.futures

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="smolagents-mcp", daemon=True)
        self.thread.start()
        self.session: Any = None
        self._closing = asyncio.Event()
        self._ready: concurrent.futures.Future[list[Any]] = concurrent.futures.Future()
        self._main = asyncio.run_coroutine_threadsafe(self._serve(parameters), self.loop)
        try:
            self.tools = self._ready.result(timeout)
        except BaseException as exc:
            self.close()
            if isinstance(exc, (UserError, ImportError, KeyboardInterrupt)):
                raise
            raise ConnectionError(
                f"Could not start or connect to the MCP server {parameters!r}: {_root_cause(exc)}"
            ) from exc

    async def _serve(self, parameters: Any) -> None:
        mcp = require("mcp", "mcp", "ToolCollection.from_mcp")
        try:
            async with contextlib.AsyncExitStack() as stack:
                streams = await stack.enter_async_context(_mcp_transport(mcp, parameters))
                self.session = await stack.enter_async_context(mcp.ClientSession(streams[0], streams[1]))
                await self.session.initialize()
                self._ready.set_result((await self.session.list_tools()).tools)
                await self._closing.wait()
        except BaseException as exc:
            if self._ready.done():
                raise
            self._ready.set_exception(exc)

    def call(self, name: str, arguments: dict[str, Any]) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(self.session.call_tool(name, arguments), self.loop).result()

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self._closing.set)
        with contextlib.suppress(BaseException):
            self._main.result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()


def _root_cause(exc: BaseException) -> str:
    """The first leaf of nested exception groups, as 'Type: message'."""
    while isinstance(getattr(exc, "exceptions", None), tuple) and exc.exceptions:  # exception groups
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def _mcp_transport(mcp: Any, parameters: Any) -> Any:
    if isinstance(parameters, mcp.StdioServerParameters):
        from mcp.client.stdio import stdio_client

        return stdio_client(parameters)
    if isinstance(parameters, dict) and "url" in parameters:
        transport = parameters.get("transport", "streamable-http")
        options = {key: value for key, value in parameters.items() if key not in ("url", "transport")}
        if transport == "sse":
            from mcp.client.sse import sse_client

            return sse_client(parameters["url"], **options)
        if transport in ("streamable-http", "streamable_http", "http"):
            from mcp.client import streamable_http

            # mcp 2.x names it streamable_http_client; 1.x streamablehttp_client.
            connect = (
                getattr(streamable_http, "streamable_http_client", None)
                or streamable_http.streamablehttp_client
            )
            return connect(parameters["url"], **options)
        raise UserError(f"Unknown MCP transport {transport!r}; use 'streamable-http' or 'sse'.")
    raise UserError(
        "ToolCollection.from_mcp needs mcp.StdioServerParameters(command=..., args=[...]) or a dict "
        f"{{'url': ..., 'transport': 'streamable-http' | 'sse'}}, got {type(parameters).__name__}."
    )


def _mcp_field(obj: Any, snake: str, camel: str) -> Any:
    """Read a field under its mcp 2.x (snake_case) or 1.x (camelCase) name."""
    value = getattr(obj, snake, None)
    return getattr(obj, camel, None) if value is None else value


class _MCPTool(Tool):
    """A tool served by an MCP server."""

    def __init__(self, session: _MCPSession, remote: Any, structured_output: bool | None) -> None:
        self._session, self._remote_name = session, remote.name
        self.name = _identifier(remote.name)
        self.description = remote.description or f"The MCP tool {remote.name}."
        schema = _mcp_field(remote, "input_schema", "inputSchema") or {}
        required = set(schema.get("required") or [])
        self._arg_names = {_identifier(key): key for key in schema.get("properties") or {}}
        self.inputs = {
            _identifier(key): _input_from_json_schema(key, spec, key in required)
            for key, spec in (schema.get("properties") or {}).items()
        }
        output_schema = _mcp_field(remote, "output_schema", "outputSchema")
        self._structured = output_schema is not None if structured_output is None else structured_output
        self.output_type = "object" if self._structured else "string"
        self.output_schema = output_schema if self._structured else None
        super().__init__()

    def forward(self, **kwargs: Any) -> Any:
        import base64

        from .agent_types import AgentImage
        from .errors import AgentToolExecutionError

        arguments = {
            self._arg_names.get(key, key): value for key, value in kwargs.items() if value is not None
        }
        result = self._session.call(self._remote_name, arguments)
        texts = [item.text for item in result.content if getattr(item, "type", None) == "text"]
        if _mcp_field(result, "is_error", "isError"):
            raise AgentToolExecutionError(
                f"MCP tool '{self.name}' failed: {' '.join(texts) or 'no details given'}"
            )
        if self._structured:
            structured = _mcp_field(result, "structured_content", "structuredContent")
            if structured is not None:
                return structured
            with contextlib.suppress(ValueError):
                return json.loads("\n".join(texts))
        images = [item for item in result.content if getattr(item, "type", None) == "image"]
        if images and not texts:
            return AgentImage(base64.b64decode(images[0].data))
        return "\n".join(texts)


class MCPClient:
    """A connection to one or more MCP servers, whose tools it serves as smolagents tools.

    ``server_parameters``: an ``mcp.StdioServerParameters``, a dict ``{"url": ...,
    "transport": "streamable-http" | "sse"}``, or a list of those. ``structured_output``: give
    tools an ``object`` output (``None``, the default: for tools declaring an output schema).

    The connection opens when the client is made and closes on :meth:`disconnect`, or at the
    end of a ``with`` block, which gives the list of tools::

        with MCPClient(StdioServerParameters(command="uvx", args=["my-mcp-server"])) as tools:
            agent = CodeAgent(tools=tools, model=model)

    A server's tools run code (a stdio server is a process on this machine): connect only to
    servers you trust.
    """

    def __init__(self, server_parameters: Any, structured_output: bool | None = None) -> None:
        self._server_parameters = server_parameters
        self._structured_output = structured_output
        self._sessions: list[_MCPSession] = []
        self._tools: list[Tool] | None = None
        self.connect()

    def connect(self) -> None:
        """Start or connect to the server(s) and list their tools; a no-op when connected."""
        if self._tools is not None:
            return
        require("mcp", "mcp", "ToolCollection.from_mcp")
        parameters = self._server_parameters
        try:
            for params in parameters if isinstance(parameters, list) else [parameters]:
                self._sessions.append(_MCPSession(params))
            self._tools = [
                _MCPTool(session, remote, self._structured_output)
                for session in self._sessions
                for remote in session.tools
            ]
        except BaseException:
            self.disconnect()
            raise

    def get_tools(self) -> list[Tool]:
        """The servers' tools, usable while the client is connected."""
        if self._tools is None:
            raise UserError("The MCPClient is disconnected; call connect() before get_tools().")
        return list(self._tools)

    def disconnect(self) -> None:
        """Close every session (and stop stdio servers); the tools stop working."""
        sessions, self._sessions, self._tools = self._sessions, [], None
        for session in sessions:
            session.close()

    def __enter__(self) -> list[Tool]:
        return self.get_tools()

    def __exit__(self, *exc_info: object) -> None:
        self.disconnect()
