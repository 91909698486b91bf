"""Source code for tools: what ``Tool.to_dict``, ``Tool.save`` and ``Tool.push_to_hub`` write.

Serialising a tool means rebuilding a standalone Python file from its class or ``@tool``
function: the definition, the definitions it depends on and the imports they need
(:class:`SourceBuilder`), the third-party requirements that file imports
(:func:`code_requirements`), and a small Gradio demo app (:data:`GRADIO_APP`). Remote executors
use the same builder to ship tools and plain functions as source.

This module sits below the ``Tool`` class and never imports it: a ``@tool`` function tool is
recognised by the function it carries under :data:`TOOL_FUNCTION_ATTR`. Only the standard
library is imported here.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import os
import sys
import textwrap
import types
from typing import Any

from ..errors import UserError

__all__ = [
    "CODE_MODULE_PREFIX",
    "GRADIO_APP",
    "PIP_NAMES",
    "TOOL_FUNCTION_ATTR",
    "SourceBuilder",
    "attribute_paths",
    "check_rebuildable",
    "code_requirements",
    "free_names",
    "tool_source",
]

# A @tool function tool keeps its function under this attribute; it is written back as "@tool def".
TOOL_FUNCTION_ATTR = "_tool_function"

# Modules made by Tool.from_code get this prefix; their objects are never imported by name.
CODE_MODULE_PREFIX = "smolagents_tool_code_"

PIP_NAMES = {
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


def code_requirements(code: str) -> list[str]:
    """Third-party distributions the code imports (stdlib and smolagents left out)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    skip = set(sys.stdlib_module_names) | {"smolagents", "__future__"}
    return sorted({PIP_NAMES.get(name, name) for name in found if name not in skip})


def attribute_paths(tree: ast.AST) -> set[str]:
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


_NAMED_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler)


def free_names(tree: ast.AST) -> list[str]:
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
        elif isinstance(node, (*_NAMED_DEFINITIONS, ast.MatchAs, ast.MatchStar)):  # match captures bind
            bound.add(node.name or "")
        elif isinstance(node, ast.MatchMapping):
            bound.add(node.rest or "")
    return [name for name in loaded if name not in bound and not hasattr(builtins, name)]


def _annotation_names(tree: ast.AST) -> set[str]:
    """Names read only inside annotations (they need not exist at run time with postponed hints)."""
    in_annotations: set[str] = set()
    annotations: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            annotations.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
    annotation_nodes = {id(sub) for annotation in annotations for sub in ast.walk(annotation)}
    elsewhere: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (in_annotations if id(node) in annotation_nodes else elsewhere).add(node.id)
    return in_annotations - elsewhere


def _absolute_imports(source: str, module: str) -> str:
    """Rewrite relative imports (``from .x import y`` in a packaged tool) against ``module``'s
    package, since the saved code runs as a standalone file."""
    import importlib.util

    tree = ast.parse(source)
    package = module if hasattr(sys.modules.get(module), "__path__") else module.rpartition(".")[0]
    nodes = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level]
    if not nodes or not package:
        return source
    lines = source.splitlines(keepends=True)
    for node in sorted(nodes, key=lambda n: (n.lineno, n.col_offset), reverse=True):
        target = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
        names = ", ".join(f"{a.name} as {a.asname}" if a.asname else a.name for a in node.names)
        start, end = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        prefix = lines[start][: node.col_offset]
        suffix = lines[end][node.end_col_offset :]
        lines[start : end + 1] = [f"{prefix}from {target} import {names}{suffix}"]
    return "".join(lines)


def _functions_of(obj: Any) -> list[types.FunctionType]:
    """The Python functions that make up ``obj``: itself, or the methods of a class."""
    if isinstance(obj, types.FunctionType):
        return [obj]
    found = []
    for value in vars(obj).values() if isinstance(obj, type) else ():
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        elif isinstance(value, property):
            found += [f for f in (value.fget, value.fset, value.fdel) if isinstance(f, types.FunctionType)]
            continue
        value = inspect.unwrap(value) if callable(value) else value
        if isinstance(value, types.FunctionType):
            found.append(value)
    return found


def _closure_values(obj: Any) -> dict[str, Any]:
    """Variables of enclosing functions that ``obj`` (or its methods) read: imports made in the
    function that defines a tool, for instance. Empty cells (assigned later) are left out."""
    values: dict[str, Any] = {}
    for function in _functions_of(obj):
        for name, cell in zip(function.__code__.co_freevars, function.__closure__ or ()):
            if name == "__class__":
                continue
            try:
                values[name] = cell.cell_contents
            except ValueError:
                continue
    return values


def _is_cell_file(filename: str) -> bool:
    """Whether a code filename is a notebook cell's (IPython, ipykernel) rather than a file."""
    return filename.startswith("<ipython-input-") or (
        "ipykernel_" in filename and not os.path.exists(filename)
    )


def _class_in(source: str, name: str, line: int | None) -> str | None:
    """The source of the last class ``name`` in ``source`` (the one around ``line`` if given)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a cell with IPython magics: no help here
        return None
    lines = source.splitlines()
    found = None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            end = node.end_lineno or node.lineno
            if line is None or start <= line <= end:
                found = textwrap.dedent("\n".join(lines[start - 1 : end])) + "\n"
    return found


def _notebook_class_source(cls: type) -> str | None:
    """Source of a class defined in a Jupyter/IPython cell, where ``inspect.getsource`` fails.

    inspect looks classes up through their module's file, and a notebook's ``__main__`` has
    none. IPython does register each cell in ``linecache`` under a made-up filename, which the
    methods' code objects carry, so the class is found there; failing that, in the shell's
    input history (newest cell first).
    """
    import linecache

    for function in _functions_of(cls):
        filename = function.__code__.co_filename
        lines = linecache.getlines(filename)
        if lines:
            found = _class_in("".join(lines), cls.__name__, function.__code__.co_firstlineno)
            if found:
                return found
    cells = [key for key in list(linecache.cache) if isinstance(key, str) and _is_cell_file(key)]
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    history = list(getattr(getattr(shell, "history_manager", None), "input_hist_parsed", None) or [])
    sources = ["".join(linecache.getlines(key)) for key in cells] + [str(cell) for cell in history]
    for source in reversed(sources):
        found = _class_in(source, cls.__name__, None)
        if found:
            return found
    return None


class SourceBuilder:
    """Collects a definition, the definitions it depends on and the imports they need."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.imports: dict[str, None] = {}
        self.blocks: list[str] = []
        self.seen: set[int] = set()
        self.postponed_annotations = False

    def add(self, obj: Any, tool_decorator: bool = False, decorator_arguments: str = "") -> None:
        self.seen.add(id(obj))
        source = _absolute_imports(self._source(obj), obj.__module__)
        tree = ast.parse(source)
        node = tree.body[0]
        if tool_decorator and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = source.splitlines()
            drop = {
                line
                for d in node.decorator_list
                if ast.unparse(d.func if isinstance(d, ast.Call) else d).split(".")[-1] == "tool"
                for line in range(d.lineno - 1, (d.end_lineno or d.lineno))  # a decorator may span lines
            }
            decorator = f"@tool({decorator_arguments})" if decorator_arguments else "@tool"
            source = decorator + "\n" + "\n".join(line for i, line in enumerate(lines) if i not in drop)
            self.imports["from smolagents.tools import tool"] = None
        module = sys.modules.get(obj.__module__) if isinstance(obj, type) else None
        if module is not None:
            namespace = dict(vars(module))
        else:  # a function, or a class whose module is gone: its (first) method's globals
            functions = _functions_of(obj)
            namespace = dict(functions[0].__globals__) if functions else {}
        namespace.update(_closure_values(obj))
        home = obj.__module__
        paths = attribute_paths(tree)
        annotation_only = _annotation_names(tree)
        missing = []
        for name in free_names(tree):
            if name in namespace:
                self._resolve(name, namespace[name], home, paths)
            elif name in annotation_only:
                self.postponed_annotations = True  # e.g. a type imported under TYPE_CHECKING
            else:
                missing.append(name)
        if missing:
            raise UserError(
                f"Cannot serialise tool '{self.owner}': '{obj.__name__}' uses {missing}, which "
                f"{'is' if len(missing) == 1 else 'are'} defined neither in its module nor in an "
                "enclosing function, so the saved code would fail with NameError. Import or define "
                "them at module level or inside the method that uses them."
            )
        self.blocks.append(source.rstrip())

    def _source(self, obj: Any) -> str:
        try:
            return textwrap.dedent(inspect.getsource(obj))
        except (OSError, TypeError) as exc:
            found = _notebook_class_source(obj) if isinstance(obj, type) else None
            if found is not None:
                return found
            raise UserError(
                f"Cannot serialise tool '{self.owner}': the source of '{obj.__qualname__}' is not "
                f"available ({exc}). Define it in a file or a notebook cell, not in exec()'d code."
            ) from None

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
        function = _tool_function(value)
        if function is not None:
            self.add(function, tool_decorator=True)
            return
        defined_in = getattr(value, "__module__", None)
        if (
            isinstance(defined_in, str)
            and defined_in not in (home, "__main__")
            and not defined_in.startswith(CODE_MODULE_PREFIX)
        ):
            owner = sys.modules.get(defined_in)
            qualname = getattr(value, "__qualname__", None)
            if owner is not None and getattr(owner, name, None) is value:
                self.imports[f"from {_public_home(defined_in, name, value)} import {name}"] = None
                return
            if owner is not None and isinstance(qualname, str) and getattr(owner, qualname, None) is value:
                self.imports[f"from {defined_in} import {qualname} as {name}"] = None
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
        imports = list(self.imports)
        if self.postponed_annotations:
            imports.insert(0, "from __future__ import annotations")
        return "\n".join(imports) + "\n\n\n" + "\n\n\n".join(self.blocks) + "\n"


def _required_init_parameters(tool_class: type) -> list[str]:
    """Parameters of ``tool_class.__init__`` that have no default (``self`` and ``*args`` left out)."""
    init = getattr(tool_class, "__init__")  # noqa: B009 - the class's, not an instance's
    init = getattr(init, "__wrapped__", init)  # Tool wraps subclass __init__ to validate afterwards
    try:
        params = list(inspect.signature(init).parameters.values())[1:]
    except (TypeError, ValueError):
        return []
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p.name for p in params if p.default is p.empty and p.kind not in variadic]


def _public_home(module: str, name: str, value: Any) -> str:
    """The import path to write for ``value``: the deepest public package that exports it under
    ``name`` (``smolagents.tools`` rather than ``smolagents.tools._tool``), else its own module."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if any(part.startswith("_") for part in parts[:end]):
            continue
        owner = sys.modules.get(candidate)
        if owner is not None and getattr(owner, name, None) is value:
            return candidate
    return module


def _tool_function(value: Any) -> types.FunctionType | None:
    """The function of a ``@tool`` function tool, or None for anything else."""
    namespace = getattr(value, "__dict__", None)
    function = namespace.get(TOOL_FUNCTION_ATTR) if isinstance(namespace, dict) else None
    return function if isinstance(function, types.FunctionType) else None


def check_rebuildable(tool: Any) -> None:
    """Refuse a tool whose class cannot be rebuilt from code alone: its __init__ needs arguments.

    Loading saved code calls the class with no arguments, so a tool built with
    ``RetrieverTool(docs)`` would be written out fine and then fail to load, far from the cause.
    """
    if _tool_function(tool) is not None:
        return
    required = _required_init_parameters(type(tool))
    if required:
        raise UserError(
            f"Cannot serialise tool '{getattr(tool, 'name', type(tool).__name__)}': "
            f"{type(tool).__qualname__}.__init__ has required parameters {required}, and a saved tool "
            "is rebuilt by calling its class with no arguments. Give them default values, or create "
            "what they carry inside the tool (in __init__ or setup())."
        )


def tool_source(tool: Any) -> str:
    """Standalone source that rebuilds ``tool``: its ``@tool`` function or its class."""
    builder = SourceBuilder(getattr(tool, "name", type(tool).__name__))
    function = _tool_function(tool)
    if function is not None:
        # the decorator's own settings travel with it (a tool that needs approval still does)
        arguments = "requires_approval=True" if getattr(tool, "requires_approval", False) else ""
        builder.add(function, tool_decorator=True, decorator_arguments=arguments)
    else:
        builder.add(type(tool))
    return builder.code()


GRADIO_APP = '''"""A small Gradio demo for the tool in TOOL_FILE.py."""

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
