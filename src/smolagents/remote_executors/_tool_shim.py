"""A minimal ``smolagents.tools`` for a remote Python where smolagents is not installed.

Why: tools travel to a remote interpreter as the source code ``Tool.to_dict()`` writes, which
starts with ``from smolagents.tools import Tool`` (or ``tool``). The real package needs rich,
jinja2, pyyaml and pillow, none of which Pyodide can load without its package CDN. This file
(standard library only) is written into Pyodide's site-packages as ``smolagents/tools.py``,
and loaded as an in-memory module by the other remote executors, when ``smolagents`` is not
importable there (installing ``smolagents`` from PyPI would bring another project's package). It keeps what a *call* needs: ``Tool`` with
``forward``/``setup``, calls with positional or keyword arguments or one dict of inputs,
omitted nullable inputs filled with ``None``, ``Tool.from_code`` and the ``@tool`` decorator.
Prompt rendering, schemas checks, Hub and agent types stay on the host.
"""

from __future__ import annotations

import inspect
import sys
import types
import uuid
from collections.abc import Callable
from typing import Any

__all__ = ["Tool", "tool"]


class Tool:
    """The remote side of a tool: name, description, inputs, output type and ``forward``."""

    name: str = ""
    description: str = ""
    inputs: dict[str, dict[str, Any]] = {}
    output_type: str = "any"
    is_initialized: bool = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.is_initialized = False

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"Tool class {type(self).__qualname__!r} does not implement forward()")

    def setup(self) -> None:
        self.is_initialized = True

    def __call__(self, *args: Any, sanitize_inputs_outputs: bool = False, **kwargs: Any) -> Any:
        if not self.is_initialized:
            self.setup()
            self.is_initialized = True
        if len(args) == 1 and not kwargs and isinstance(args[0], dict):
            required = {key for key, spec in self.inputs.items() if not spec.get("nullable")}
            if args[0] and set(args[0]) <= set(self.inputs) and required <= set(args[0]):
                kwargs = dict(args[0])
                args = ()
        try:
            parameters = list(inspect.signature(self.forward).parameters.values())
        except (TypeError, ValueError):
            parameters = []
        given = {parameter.name for parameter in parameters[: len(args)]}
        for parameter in parameters:
            if (
                parameter.name not in kwargs
                and parameter.name not in given
                and parameter.default is parameter.empty
                and self.inputs.get(parameter.name, {}).get("nullable")
            ):
                kwargs[parameter.name] = None
        return self.forward(*args, **kwargs)

    @classmethod
    def from_code(cls, tool_code: str, **kwargs: Any) -> Tool:
        """Run ``tool_code`` and return the tool it defines (a ``@tool`` function or a subclass)."""
        module = types.ModuleType(f"__smolagents_tool_{uuid.uuid4().hex}")
        sys.modules[module.__name__] = module
        exec(compile(tool_code, f"<tool code {module.__name__}>", "exec"), module.__dict__)
        instances = [value for value in module.__dict__.values() if isinstance(value, Tool)]
        if instances:
            return instances[-1]
        classes = [
            value
            for value in module.__dict__.values()
            if isinstance(value, type) and issubclass(value, Tool) and value.__module__ == module.__name__
        ]
        leaves = [c for c in classes if not any(o is not c and issubclass(o, c) for o in classes)]
        if not leaves:
            raise ValueError("The tool code defines no Tool subclass and no @tool function.")
        return leaves[-1](**kwargs)


def tool(function: Callable[..., Any]) -> Tool:
    """Turn a function into a tool (its inputs read from the signature)."""
    signature = inspect.signature(function)
    inputs = {
        name: {"type": "any", "description": "", "nullable": parameter.default is not parameter.empty}
        for name, parameter in signature.parameters.items()
    }

    class FunctionTool(Tool):
        def forward(self, *args: Any, **kwargs: Any) -> Any:
            return function(*args, **kwargs)

    FunctionTool.__signature__ = signature  # type: ignore[attr-defined]
    instance = FunctionTool()
    instance.name = function.__name__
    instance.description = inspect.getdoc(function) or ""
    instance.inputs = inputs
    instance.forward = function  # type: ignore[method-assign]
    return instance
