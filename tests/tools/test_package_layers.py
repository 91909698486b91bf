"""The tools package's imports point one way, and its compatibility paths keep working."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import smolagents.tools

# Bottom first: a module may import (at module level) only modules listed before it.
LAYERS = [
    "_json_schema",
    "_schema",
    "_source",
    "_tool",
    "_validation",
    "_hub",
    "_adapters",
    "_mcp",
    "_collection",
]
# These never import the Tool class, not even inside a function.
BELOW_TOOL = ["_json_schema", "_schema", "_source", "_hub"]
PACKAGE = Path(smolagents.tools.__file__).parent


def _sibling_imports(path: Path, module_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_every_module_of_the_package_has_a_layer() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == set(LAYERS)


@pytest.mark.parametrize("module", LAYERS)
def test_module_level_imports_point_down(module: str) -> None:
    allowed = set(LAYERS[: LAYERS.index(module)])
    imported = _sibling_imports(PACKAGE / f"{module}.py", module_level_only=True)
    assert imported <= allowed, f"{module} imports {sorted(imported - allowed)} from above it"


@pytest.mark.parametrize("module", BELOW_TOOL)
def test_helpers_never_import_the_tool_class(module: str) -> None:
    imported = _sibling_imports(PACKAGE / f"{module}.py", module_level_only=False)
    assert not imported & {"_tool", "_validation", "_adapters", "_mcp", "_collection"}


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("smolagents.tools", ["Tool", "ToolCollection", "load_tool", "tool", "validate_tool_arguments"]),
        ("smolagents.mcp_client", ["MCPClient"]),
        ("smolagents.default_tools", ["FinalAnswerTool", "GoogleSearchTool", "WikipediaSearchTool"]),
        ("smolagents._tool_source", ["_PIP_NAMES", "_SourceBuilder", "_requirements", "_tool_source"]),
    ],
)
def test_compatibility_paths(path: str, names: list[str]) -> None:
    module = importlib.import_module(path)
    for name in names:
        assert hasattr(module, name), f"{path}.{name}"
