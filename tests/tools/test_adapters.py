"""Hub, Space, LangChain and MCP adapters, with stand-in modules (no network)."""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from smolagents.errors import MissingDependencyError, UserError
from smolagents.tools import Tool, ToolCollection, load_tool, tool

HUB_TOOL_CODE = textwrap.dedent(
    '''
    from smolagents.tools import tool


    @tool
    def greet(name: str) -> str:
        """Greets someone.

        Args:
            name: who to greet.
        """
        return f"Hello {name}"
    '''
)


def _fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def test_load_tool_requires_trust_remote_code() -> None:
    with pytest.raises(UserError, match=r"'m-ric/text-to-image'.*trust_remote_code=True"):
        load_tool("m-ric/text-to-image")
    with pytest.raises(UserError, match="trust_remote_code=True"):
        Tool.from_hub("someone/tool")
    with pytest.raises(UserError, match="trust_remote_code=True"):
        ToolCollection.from_hub("someone/collection")


def test_hub_missing_extra_names_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'smolagents\[hub\]'"):
        load_tool("someone/tool", trust_remote_code=True)


def test_load_tool_from_hub_and_push(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "tool.py").write_text(HUB_TOOL_CODE)
    downloads: list[tuple[str, str, str]] = []
    uploads: dict[str, Any] = {}

    def hf_hub_download(repo_id: str, filename: str, repo_type: str, token: Any = None) -> str:
        downloads.append((repo_id, filename, repo_type))
        return str(tmp_path / filename)

    class HfApi:
        def __init__(self, token: Any = None) -> None:
            self.token = token

        def create_repo(self, repo_id: str, **kwargs: Any) -> Any:
            uploads["create"] = kwargs
            return types.SimpleNamespace(repo_id=repo_id)

        def upload_folder(self, folder_path: str, **kwargs: Any) -> str:
            uploads["files"] = {p.name: p.read_text() for p in Path(folder_path).iterdir()}
            uploads["upload"] = kwargs
            return "https://hf.co/spaces/me/greet/commit/1"

    _fake_module(monkeypatch, "huggingface_hub", hf_hub_download=hf_hub_download, HfApi=HfApi)
    greet = load_tool("me/greet", trust_remote_code=True)
    assert downloads == [("me/greet", "tool.py", "space")]
    assert greet.name == "greet"
    assert greet("Ada") == "Hello Ada"

    url = greet.push_to_hub("me/greet", private=True)
    assert url.endswith("/commit/1")
    assert uploads["create"]["repo_type"] == "space" and uploads["create"]["private"] is True
    assert uploads["upload"]["commit_message"] == "Upload tool"
    assert uploads["files"]["tool.py"] == HUB_TOOL_CODE
    assert set(uploads["files"]) == {"tool.py", "requirements.txt", "app.py"}


def test_from_langchain_duck_typed() -> None:
    class FakeLangChainTool:
        name = "wiki-search"
        description = "Searches Wikipedia."
        args = {
            "query": {"title": "Query", "type": "string", "description": "What to look up."},
            "lang": {"title": "Lang", "anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        }

        def __init__(self) -> None:
            self.calls: list[Any] = []

        def run(self, tool_input: dict[str, Any]) -> str:
            self.calls.append(tool_input)
            return f"result for {tool_input['query']}"

    fake = FakeLangChainTool()
    adapted = Tool.from_langchain(fake)
    assert adapted.name == "wiki_search"
    assert adapted.inputs == {
        "query": {"type": "string", "description": "What to look up."},
        "lang": {"type": "string", "description": "Lang", "nullable": True},
    }
    assert adapted(query="smolagents") == "result for smolagents"
    assert fake.calls == [{"query": "smolagents"}]


def test_from_space_with_gradio_client(monkeypatch: pytest.MonkeyPatch) -> None:
    predictions: list[dict[str, Any]] = []

    class Client:
        def __init__(self, src: str, **kwargs: Any) -> None:
            self.src = src

        def view_api(self, return_format: str, print_info: bool) -> dict[str, Any]:
            return {
                "named_endpoints": {
                    "/generate": {
                        "parameters": [
                            {"parameter_name": "prompt", "label": "Prompt", "python_type": {"type": "str"}},
                            {
                                "parameter_name": "steps",
                                "label": "Steps",
                                "python_type": {"type": "int"},
                                "parameter_has_default": True,
                            },
                        ],
                        "returns": [
                            {"label": "Image", "component": "Image", "python_type": {"type": "filepath"}}
                        ],
                    }
                }
            }

        def predict(self, **kwargs: Any) -> str:
            predictions.append(kwargs)
            return "/tmp/generated.png"

    _fake_module(monkeypatch, "gradio_client", Client=Client, handle_file=lambda path: {"path": path})
    space = Tool.from_space(
        "black-forest-labs/FLUX.1-schnell", name="image_generator", description="Makes images."
    )
    assert space.inputs == {
        "prompt": {"type": "string", "description": "Prompt"},
        "steps": {"type": "integer", "description": "Steps", "nullable": True},
    }
    assert space.output_type == "image"
    result = space(prompt="a cat")
    assert result.to_string() == "/tmp/generated.png"
    assert predictions == [{"prompt": "a cat", "api_name": "/generate"}]


def test_tool_collection_basics() -> None:
    @tool
    def one() -> int:
        """Returns one."""
        return 1

    collection = ToolCollection([one])
    assert collection.tools == [one]
    assert list(collection) == [one] and len(collection) == 1


def test_from_mcp_requires_trust_and_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        pytest.raises(UserError, match="trust_remote_code=True"),
        ToolCollection.from_mcp({"url": "http://x"}),
    ):
        pass
    monkeypatch.setitem(sys.modules, "mcp", None)
    with (
        pytest.raises(MissingDependencyError, match=r"pip install 'smolagents\[mcp\]'"),
        ToolCollection.from_mcp({"url": "http://x"}, trust_remote_code=True),
    ):
        pass


MCP_SERVER = textwrap.dedent(
    '''
    from typing import TypedDict

    try:  # mcp 2.x
        from mcp.server.mcpserver import MCPServer as Server
    except ImportError:  # mcp 1.x
        from mcp.server.fastmcp import FastMCP as Server

    server = Server("demo")


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


    server.run()
    '''
)


def test_from_mcp_stdio_server(tmp_path: Path) -> None:
    import mcp

    from smolagents.errors import AgentToolExecutionError

    script = tmp_path / "server.py"
    script.write_text(MCP_SERVER)
    params = mcp.StdioServerParameters(command=sys.executable, args=[str(script)])
    with ToolCollection.from_mcp(params, trust_remote_code=True) as collection:
        tools = {t.name: t for t in collection.tools}
        assert set(tools) == {"add", "get_weather", "fail"}
        add = tools["add"]
        assert add.inputs["a"]["type"] == "integer" and "nullable" not in add.inputs["a"]
        assert add.inputs["b"]["nullable"] is True
        assert add(a=2, b=3) in ("5", 5, {"result": 5})
        weather = tools["get_weather"]
        assert weather.output_type == "object"
        assert weather.output_schema["properties"]["city"]["type"] == "string"
        assert weather(city="Paris") == {"city": "Paris", "celsius": 21.5}
        assert "JSON schema" in weather.to_code_prompt()
        with pytest.raises(AgentToolExecutionError, match="MCP tool 'fail' failed"):
            tools["fail"]()


def test_from_mcp_server_that_cannot_start(tmp_path: Path) -> None:
    import mcp

    script = tmp_path / "broken.py"
    script.write_text("raise SystemExit(3)\n")
    params = mcp.StdioServerParameters(command=sys.executable, args=[str(script)])
    with (
        pytest.raises(ConnectionError, match="Could not start or connect to the MCP server"),
        ToolCollection.from_mcp(params, trust_remote_code=True),
    ):
        pass
