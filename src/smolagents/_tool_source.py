"""Source code for tools: what ``Tool.to_dict``, ``Tool.save`` and ``Tool.push_to_hub`` write.

Split out of :mod:`smolagents.tools` to keep that module small. Serialising a tool means
rebuilding a standalone Python file from its class or ``@tool`` function: the definition, the
definitions it depends on and the imports they need (:class:`_SourceBuilder`), the third-party
requirements that file imports (:func:`_requirements`), and a small Gradio demo app
(:data:`_GRADIO_APP`). Only the standard library is imported here.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import sys
import textwrap
import types
from typing import TYPE_CHECKING, Any

from .errors import UserError

if TYPE_CHECKING:
    from .tools import Tool

__all__ = [
    "_CODE_MODULE_PREFIX",
    "_GRADIO_APP",
    "_SourceBuilder",
    "_attribute_paths",
    "_free_names",
    "_requirements",
    "_tool_source",
]

# Modules made by Tool.from_code get this prefix; their objects are never imported by name.
_CODE_MODULE_PREFIX = "smolagents_tool_code_"

_PIP_NAMES = {
    "PIL": "pillow",
    "bs4": "beautifulsoup4",
    "cv2": "opencv-python",
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "yaml": "pyyaml",
    "dotenv": "python-dotenv",
    "docx": "python-docx",
    "pptx": "python-pptx",
    "Bio": "biopython",
    "dateutil": "python-dateutil",
    "attr": "attrs",
}


def _requirements(code: str) -> list[str]:
    """Third-party distributions the code imports (stdlib and smolagents left out)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    skip = set(sys.stdlib_module_names) | {"smolagents", "__future__"}
    return sorted({_PIP_NAMES.get(name, name) for name in found if name not in skip})


def _attribute_paths(tree: ast.AST) -> set[str]:
    """Dotted names read in the code ('urllib.parse.quote'), to import submodules they need."""
    paths = set()
    for node in ast.walk(tree):
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if parts and isinstance(node, ast.Name):
            paths.add(".".join([node.id, *reversed(parts)]))
    return paths


def _free_names(tree: ast.AST) -> list[str]:
    """Names a definition reads but never binds (over-approximate binding is fine here)."""
    loaded: dict[str, None] = {}
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loaded[node.id] = None
            else:
                bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler)):
            bound.add(node.name or "")
    return [name for name in loaded if name not in bound and not hasattr(builtins, name)]


class _SourceBuilder:
    """Collects a definition, the definitions it depends on and the imports they need."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.imports: dict[str, None] = {}
        self.blocks: list[str] = []
        self.seen: set[int] = set()

    def add(self, obj: Any, tool_decorator: bool = False) -> None:
        self.seen.add(id(obj))
        try:
            source = textwrap.dedent(inspect.getsource(obj))
        except (OSError, TypeError) as exc:
            raise UserError(
                f"Cannot serialise tool '{self.owner}': the source of '{obj.__qualname__}' is not "
                f"available ({exc}). Define it in a file or a notebook cell, not in exec()'d code."
            ) from None
        tree = ast.parse(source)
        node = tree.body[0]
        if tool_decorator and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = source.splitlines()
            drop = {d.lineno - 1 for d in node.decorator_list if ast.unparse(d).split(".")[-1] == "tool"}
            source = "@tool\n" + "\n".join(line for i, line in enumerate(lines) if i not in drop)
            self.imports["from smolagents.tools import tool"] = None
        if isinstance(obj, type):
            namespace, home = vars(sys.modules[obj.__module__]), obj.__module__
        else:
            closure = inspect.getclosurevars(obj)
            namespace, home = {**obj.__globals__, **closure.nonlocals}, obj.__module__
        paths = _attribute_paths(tree)
        for name in _free_names(tree):
            if name in namespace:
                self._resolve(name, namespace[name], home, paths)
        self.blocks.append(source.rstrip())

    def _resolve(self, name: str, value: Any, home: str, paths: set[str]) -> None:
        if isinstance(value, types.ModuleType):
            module = value.__name__
            self.imports[f"import {module}" if module == name else f"import {module} as {name}"] = None
            for path in paths:  # e.g. urllib.parse.quote needs 'import urllib.parse'
                parts = path.split(".")
                for end in range(2, len(parts) + 1):
                    submodule = ".".join([module, *parts[1:end]])
                    if parts[0] == name and submodule in sys.modules:
                        self.imports[f"import {submodule}"] = None
            return
        if id(value) in self.seen:
            return
        from .tools import _FunctionTool  # tools imports this module

        if isinstance(value, _FunctionTool):
            self.add(value.forward, tool_decorator=True)
            return
        module = getattr(value, "__module__", None)
        if (
            isinstance(module, str)
            and module not in (home, "__main__")
            and not module.startswith(_CODE_MODULE_PREFIX)
        ):
            owner = sys.modules.get(module)
            qualname = getattr(value, "__qualname__", None)
            if owner is not None and getattr(owner, name, None) is value:
                self.imports[f"from {module} import {name}"] = None
                return
            if owner is not None and isinstance(qualname, str) and getattr(owner, qualname, None) is value:
                self.imports[f"from {module} import {qualname} as {name}"] = None
                return
        if isinstance(value, (types.FunctionType, type)):
            self.add(value)
            if value.__name__ != name:
                self.blocks.append(f"{name} = {value.__name__}")
            return
        try:
            literal = ast.literal_eval(repr(value)) == value
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            literal = False
        if literal:
            self.blocks.append(f"{name} = {value!r}")
            return
        raise UserError(
            f"Cannot serialise tool '{self.owner}': it uses the global '{name}' "
            f"({type(value).__name__}), which is neither a module, an importable object, a "
            "function or class with source, nor a literal. Create it inside the tool (e.g. in setup())."
        )

    def code(self) -> str:
        return "\n".join(self.imports) + "\n\n\n" + "\n\n\n".join(self.blocks) + "\n"


def _tool_source(tool: Tool) -> str:
    """Standalone source that rebuilds ``tool``: its ``@tool`` function or its class."""
    from .tools import _FunctionTool  # tools imports this module

    builder = _SourceBuilder(getattr(tool, "name", type(tool).__name__))
    if isinstance(tool, _FunctionTool):
        builder.add(tool.forward, tool_decorator=True)
    else:
        builder.add(type(tool))
    return builder.code()


_GRADIO_APP = '''"""A small Gradio demo for the tool in TOOL_FILE.py."""

import json
from pathlib import Path

import gradio as gr

from smolagents.tools import Tool

tool = Tool.from_code(Path(__file__).with_name("TOOL_FILE.py").read_text(encoding="utf-8"))


def run(*values):
    kwargs = {}
    for (name, spec), value in zip(tool.inputs.items(), values):
        if value not in ("", None):
            kwargs[name] = value if spec["type"] == "string" else json.loads(value)
    return str(tool(**kwargs))


gr.Interface(
    fn=run,
    inputs=[gr.Textbox(label=f"{name} ({spec['type']}): {spec['description']}") for name, spec in tool.inputs.items()],
    outputs=gr.Textbox(label="output"),
    title=tool.name,
    description=tool.description,
).launch()
'''
