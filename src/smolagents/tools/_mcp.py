"""MCP client: use the tools of Model Context Protocol servers as smolagents tools.

``ToolCollection.from_mcp`` delegates here; :class:`MCPClient` is the same machinery for
code that manages the connection itself (also importable as ``smolagents.mcp_client``). The
servers' tools are ``Tool`` subclasses, so this module sits above the ``Tool`` class. The ``mcp`` package is imported only when a client connects, and asyncio
only when a session starts, so importing this module stays light.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import threading
from typing import Any

from .._optional import require
from ..errors import UserError
from ._json_schema import identifier, input_from_json_schema
from ._tool import Tool

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
                f"Could not start or connect to the MCP server ({_describe(parameters)}): {_root_cause(exc)}"
            ) from exc

    async def _serve(self, parameters: Any) -> None:
        mcp = require("mcp", "mcp", "ToolCollection.from_mcp")
        try:
            async with contextlib.AsyncExitStack() as stack:
                streams = await _enter_transport(stack, mcp, parameters)
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
    nested = getattr(exc, "exceptions", None)  # exception groups (anyio task groups raise them)
    while isinstance(nested, tuple) and nested:
        exc = nested[0]
        nested = getattr(exc, "exceptions", None)
    return f"{type(exc).__name__}: {exc}"


_STREAMABLE_NAMES = ("streamable-http", "streamable_http", "http")


def _describe(parameters: Any) -> str:
    """Which server, without headers or environment: those often carry credentials."""
    if isinstance(parameters, dict):
        return f"{parameters.get('transport', 'streamable-http')} at {parameters.get('url')!r}"
    command = getattr(parameters, "command", None)
    if command is not None:
        return f"stdio: {' '.join([str(command), *map(str, getattr(parameters, 'args', []) or [])])!r}"
    return repr(parameters)


def _check_options(connect: Any, options: dict[str, Any], transport: str) -> None:
    accepted = [name for name in inspect.signature(connect).parameters if name != "url"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise UserError(
            f"MCP server parameters: unknown option(s) {unknown} for the {transport!r} transport of the "
            f"installed mcp SDK. Besides 'url' and 'transport' it accepts {accepted}."
        )


def _http_client(settings: dict[str, Any]) -> Any:
    """An HTTP client carrying ``headers``/``timeout``/``auth``, for SDKs (mcp 2.x) whose
    streamable-HTTP transport takes a client instead of those options."""
    try:
        from mcp.shared._httpx_utils import create_mcp_http_client
    except ImportError:  # pragma: no cover - depends on the SDK's layout
        create_mcp_http_client = None  # type: ignore[assignment]
    timeout = settings.get("timeout")
    if isinstance(timeout, (int, float)) and create_mcp_http_client is not None:
        import httpx2

        read = settings.get("sse_read_timeout", 300.0)
        settings = {**settings, "timeout": httpx2.Timeout(timeout, read=read)}
    settings.pop("sse_read_timeout", None)
    if create_mcp_http_client is None:
        raise UserError(
            "This mcp SDK's streamable-HTTP transport takes no 'headers'/'timeout'/'auth' and offers no "
            "client factory; pass an 'http_client' in the server parameters instead."
        )
    return create_mcp_http_client(**settings)


async def _enter_transport(stack: contextlib.AsyncExitStack, mcp: Any, parameters: Any) -> Any:
    """Open the transport that ``parameters`` names on ``stack``; returns its (read, write, ...) streams."""
    if isinstance(parameters, mcp.StdioServerParameters):
        from mcp.client.stdio import stdio_client

        return await stack.enter_async_context(stdio_client(parameters))
    if not isinstance(parameters, dict):
        raise UserError(
            "MCP server parameters must be mcp.StdioServerParameters(command=..., args=[...]) or a dict "
            f"{{'url': ..., 'transport': 'streamable-http' | 'sse'}}, got {type(parameters).__name__}."
        )
    url = parameters.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise UserError(
            "MCP server parameters given as a dict need 'url': the server's http(s) endpoint, e.g. "
            f"{{'url': 'http://127.0.0.1:8000/mcp', 'transport': 'streamable-http'}}; got url={url!r}."
        )
    transport = parameters.get("transport", "streamable-http")
    options = {key: value for key, value in parameters.items() if key not in ("url", "transport")}
    if transport == "sse":
        from mcp.client.sse import sse_client

        _check_options(sse_client, options, transport)
        return await stack.enter_async_context(sse_client(url, **options))
    if transport not in _STREAMABLE_NAMES:
        raise UserError(f"Unknown MCP transport {transport!r}; use 'streamable-http' or 'sse'.")
    from mcp.client import streamable_http

    # mcp 2.x names it streamable_http_client and takes an http_client; 1.x streamablehttp_client
    # takes headers, timeout, sse_read_timeout and auth itself.
    connect = getattr(streamable_http, "streamable_http_client", None)
    if connect is None:  # mcp 1.x
        connect = streamable_http.streamablehttp_client  # type: ignore[attr-defined]
    accepted = inspect.signature(connect).parameters
    settings = {
        key: options.pop(key)
        for key in ("headers", "timeout", "sse_read_timeout", "auth")
        if key in options and key not in accepted
    }
    if settings:
        if "http_client" not in accepted or "http_client" in options:
            raise UserError(
                f"MCP server parameters: give either 'http_client' or {sorted(settings)}, not both."
            )
        options["http_client"] = await stack.enter_async_context(_http_client(settings))
    _check_options(connect, options, transport)
    return await stack.enter_async_context(connect(url, **options))


def _mcp_field(obj: Any, snake: str, camel: str) -> Any:
    """Read a field under its mcp 2.x (snake_case) or 1.x (camelCase) name."""
    value = getattr(obj, snake, None)
    return getattr(obj, camel, None) if value is None else value


class _MCPTool(Tool):
    """A tool served by an MCP server."""

    def __init__(self, session: _MCPSession, remote: Any, structured_output: bool | None) -> None:
        self._session, self._remote_name = session, remote.name
        self.name = identifier(remote.name)
        self.description = remote.description or f"The MCP tool {remote.name}."
        schema = _mcp_field(remote, "input_schema", "inputSchema") or {}
        required = set(schema.get("required") or [])
        self._arg_names = {identifier(key): key for key in schema.get("properties") or {}}
        self.inputs = {
            identifier(key): input_from_json_schema(key, spec, key in required)
            for key, spec in (schema.get("properties") or {}).items()
        }
        output_schema = _mcp_field(remote, "output_schema", "outputSchema")
        self._structured = output_schema is not None if structured_output is None else structured_output
        self.output_type = "object" if self._structured else "string"
        self.output_schema = output_schema if self._structured else None
        super().__init__()

    def forward(self, **kwargs: Any) -> Any:
        import base64

        from ..agent_types import AgentImage
        from ..errors import AgentToolExecutionError

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
    "transport": "streamable-http" | "sse"}`` (default ``"streamable-http"``; other keys such as
    ``headers``, ``timeout``, ``sse_read_timeout`` or ``auth`` go to the SDK's transport), or a
    list of those. ``structured_output``: give tools an ``object`` output (``None``, the
    default: for tools declaring an output schema).

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
