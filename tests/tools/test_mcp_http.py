"""MCP over streamable HTTP and SSE, against the mcp SDK's own server on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import mcp
import pytest

from smolagents.errors import AgentToolExecutionError, UserError
from smolagents.mcp_client import MCPClient
from smolagents.tools import ToolCollection

SERVER = textwrap.dedent(
    '''
    import sys
    from typing import TypedDict

    try:  # mcp 2.x
        from mcp.server.mcpserver import Context, MCPServer

        V2 = True
    except ImportError:  # mcp 1.x
        from mcp.server.fastmcp import Context, FastMCP as MCPServer

        V2 = False

    transport, port = sys.argv[1], int(sys.argv[2])
    server = MCPServer("demo") if V2 else MCPServer("demo", host="127.0.0.1", port=port)


    class Weather(TypedDict):
        city: str
        celsius: float


    @server.tool()
    def add(a: int, b: int = 1) -> int:
        """Adds two numbers."""
        return a + b


    @server.tool(name="get-weather")
    def get_weather(city: str) -> Weather:
        """Gets the weather."""
        return {"city": city, "celsius": 21.5}


    @server.tool()
    def fail() -> str:
        """Always fails."""
        raise ValueError("boom")


    @server.tool()
    def header(name: str, ctx: Context) -> str:
        """Returns a request header."""
        headers = getattr(ctx.request_context.request, "headers", None) or {}
        return headers.get(name, "<missing>")


    if V2:
        server.run(transport, host="127.0.0.1", port=port)
    else:
        server.run(transport)
    '''
)

PATHS = {"streamable-http": "/mcp", "sse": "/sse"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"MCP server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"MCP server did not listen on port {port}:\n{log.read_text()}")


@pytest.fixture(scope="module", params=["streamable-http", "sse"])
def server_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    transport = request.param
    folder = tmp_path_factory.mktemp(f"mcp-{transport}")
    script, log = folder / "server.py", folder / "server.log"
    script.write_text(SERVER)
    port = _free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, str(script), transport, str(port)], stdout=output, stderr=subprocess.STDOUT
        )
    try:
        _wait_for_port(port, process, log)
        yield {"url": f"http://127.0.0.1:{port}{PATHS[transport]}", "transport": transport}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_tools_over_http(server_url: dict[str, str]) -> None:
    with ToolCollection.from_mcp(server_url, trust_remote_code=True) as collection:
        tools = {t.name: t for t in collection.tools}
        assert set(tools) == {"add", "get_weather", "fail", "header"}
        add = tools["add"]
        assert add.inputs["a"]["type"] == "integer" and "nullable" not in add.inputs["a"]
        assert add.inputs["b"]["nullable"] is True
        assert add(a=2, b=3) in ("5", 5, {"result": 5})
        assert add(a=2) in ("3", 3, {"result": 3})
        weather = tools["get_weather"]
        assert weather.output_type == "object"
        assert weather(city="Paris") == {"city": "Paris", "celsius": 21.5}
        with pytest.raises(AgentToolExecutionError, match="MCP tool 'fail' failed"):
            tools["fail"]()


def test_mcp_client_with_headers(server_url: dict[str, str]) -> None:
    options = {"headers": {"X-Smol-Test": "hello"}, "timeout": 30}
    client = MCPClient({**server_url, **options}, structured_output=False)
    try:
        header = {t.name: t for t in client.get_tools()}["header"]
        assert header.output_type == "string" and header.output_schema is None
        assert header(name="x-smol-test") == "hello"
    finally:
        client.disconnect()
    with pytest.raises(UserError, match="disconnected"):
        client.get_tools()


def test_several_servers_and_a_stdio_one_together(server_url: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "stdio_server.py"
    script.write_text(
        SERVER.replace("transport, port = sys.argv[1], int(sys.argv[2])", 'transport, port = "stdio", 0')
    )
    params = [server_url, mcp.StdioServerParameters(command=sys.executable, args=[str(script)])]
    with MCPClient(params) as tools:
        assert [t.name for t in tools].count("add") == 2
        assert all(t(a=1, b=1) in ("2", 2, {"result": 2}) for t in tools if t.name == "add")


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_unreachable_server_says_which_without_secrets(transport: str) -> None:
    params = {
        "url": f"http://127.0.0.1:{_free_port()}/mcp",
        "transport": transport,
        "headers": {"Authorization": "Bearer sk-secret"},
    }
    with pytest.raises(ConnectionError) as info:
        MCPClient(params)
    message = str(info.value)
    assert f"Could not start or connect to the MCP server ({transport} at 'http://127.0.0.1:" in message
    assert "sk-secret" not in message


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"transport": "sse"}, r"need 'url': the server's http\(s\) endpoint.*got url=None"),
        ({"url": "127.0.0.1:8000/mcp"}, r"need 'url'.*got url='127.0.0.1:8000/mcp'"),
        ({"url": "http://127.0.0.1:1/mcp", "transport": "websocket"}, "Unknown MCP transport 'websocket'"),
        (
            {"url": "http://127.0.0.1:1/sse", "transport": "sse", "retries": 3},
            r"unknown option\(s\) \['retries'\]",
        ),
        (
            {"url": "http://127.0.0.1:1/mcp", "bogus": 1},
            r"unknown option\(s\) \['bogus'\] for the 'streamable-http'",
        ),
        (["not parameters"], "must be mcp.StdioServerParameters"),
    ],
)
def test_bad_server_parameters_are_user_errors(params: object, message: str) -> None:
    with pytest.raises(UserError, match=message):
        MCPClient(params)
