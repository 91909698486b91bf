"""The ``Tool`` class and the ``@tool`` decorator.

A tool is a :class:`Tool` subclass (``name``, ``description``, ``inputs``, ``output_type``,
``forward``) or a function decorated with :func:`tool`, whose schema comes from its type
hints and Google-style docstring. Definitions are checked when they are made, so a bad tool
fails in the developer's hands with a precise message instead of confusing a model later.

This module builds on :mod:`._schema` (definitions) and :mod:`._source` (saving), which never
import it. The Hub functions live in :mod:`._hub`; ``from_space``/``from_langchain`` import
:mod:`._adapters` (``Tool`` subclasses) when called. Only the standard library is imported
here, and asyncio (about 25 ms) only when a call needs it.
"""

from __future__ import annotations

import contextvars
import copy
import functools
import inspect
import json
import keyword
import os
import sys
import textwrap
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, overload

from .. import _telemetry_hooks
from ..agent_types import handle_agent_input_types, handle_agent_output_types
from ..errors import UserError
from ._json_schema import schema_text, to_json_schema, type_label
from ._schema import definition_problems, function_schema, nullable_problems
from ._source import (
    CODE_MODULE_PREFIX,
    GRADIO_APP,
    TOOL_FUNCTION_ATTR,
    check_rebuildable,
    code_requirements,
    tool_source,
)

__all__ = ["Tool", "tool"]

_SETUP_LOCK = threading.RLock()
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _definition_error(owner: str, problems: list[str]) -> UserError:
    listed = "\n".join(f"  - {problem}" for problem in problems)
    return UserError(
        f"{owner} is not a valid tool definition:\n{listed}\n"
        'A tool needs: name = "snake_case_name", description = "...", '
        'inputs = {"arg": {"type": "string", "description": "..."}}, output_type = "string", '
        "and forward(self, arg) with one parameter per input."
    )


def _validating_init(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a subclass ``__init__`` so the definition is checked once the outermost one ends."""

    @functools.wraps(init)
    def __init__(self: Tool, *args: Any, **kwargs: Any) -> None:
        depth = self.__dict__.get("_tool_init_depth", 0)
        self.__dict__["_tool_init_depth"] = depth + 1
        try:
            init(self, *args, **kwargs)
        finally:
            if depth:
                self.__dict__["_tool_init_depth"] = depth
            else:
                del self.__dict__["_tool_init_depth"]
        if depth == 0:
            self.validate_arguments()

    return __init__


def _run_sync(awaitable: Any) -> Any:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    import asyncio
    import concurrent.futures

    async def wait() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    context = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="smolagents-tool") as pool:
        return pool.submit(context.run, asyncio.run, wait()).result()


class Tool:
    """Base class for tools: subclass it, set the attributes, implement ``forward``.

    Call a tool with keyword arguments, with one dict of them, or positionally.
    ``setup()`` runs once before the first call, for expensive initialisation.
    """

    name: str
    description: str
    inputs: dict[str, dict[str, Any]]
    output_type: str
    output_schema: dict[str, Any] | None = None
    output_description: str | None = None
    is_initialized: bool = False
    #: an agent asks for approval before each call (``approval_callback``, or an
    #: ``ApprovalRequest`` in a stream); an agent's ``approval_policy`` may decide otherwise
    requires_approval: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = {key: cls.__dict__[key] for key in ("inputs", "output_type") if key in cls.__dict__}
        if declared:
            problems = definition_problems(
                declared.get("inputs", {}),
                declared.get("output_type", "any"),
                cls.__dict__.get("output_schema"),
            )
            if problems:
                raise _definition_error(f"Tool class '{cls.__qualname__}'", problems)
        if "__init__" in cls.__dict__:
            cls.__init__ = _validating_init(cls.__dict__["__init__"])  # type: ignore[method-assign]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if self.__dict__.get("_tool_init_depth", 0) == 0:
            self.validate_arguments()

    def validate_arguments(self) -> None:
        """Raise :class:`UserError` listing everything wrong with this tool's definition."""
        problems = [
            f"it has no '{attr}' attribute"
            for attr in ("name", "description", "inputs", "output_type")
            if not hasattr(self, attr)
        ]
        name = getattr(self, "name", None)
        if name is not None and (
            not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name)
        ):
            problems.append(f"'name' is {name!r}; use a valid Python identifier such as 'web_search'")
        description = getattr(self, "description", "")
        if not isinstance(description, str) or (hasattr(self, "description") and not description.strip()):
            problems.append("'description' must be a non-empty string saying what the tool does")
        if hasattr(self, "inputs") and hasattr(self, "output_type"):
            problems += definition_problems(self.inputs, self.output_type, self.output_schema)
        if type(self).forward is Tool.forward and "forward" not in self.__dict__:
            problems.append("it does not implement forward(self, ...) with one parameter per input")
        elif isinstance(getattr(self, "inputs", None), dict):
            problems += self._signature_problems()
        if problems:
            raise _definition_error(f"Tool class '{type(self).__qualname__}' (name {name!r})", problems)

    def _forward_parameters(self) -> list[inspect.Parameter] | None:
        """forward's parameters (without self), or None when it takes ``*args``/``**kwargs``."""
        forward = self.forward
        key = getattr(forward, "__func__", forward)
        cached = self.__dict__.get("_forward_params_cache")
        if cached is not None and cached[0] is key:
            cached_params: list[inspect.Parameter] | None = cached[1]
            return cached_params
        try:
            params = list(inspect.signature(forward).parameters.values())
        except (TypeError, ValueError):
            return None
        result = None if any(param.kind in _VARIADIC for param in params) else params
        self.__dict__["_forward_params_cache"] = (key, result)
        return result

    def _signature_problems(self) -> list[str]:
        params = self._forward_parameters()
        if params is None:
            return []
        names = [param.name for param in params]
        problems = []
        missing = [key for key in self.inputs if key not in names]
        if missing:
            problems.append(
                f"inputs {missing} are not parameters of forward{inspect.signature(self.forward)}; "
                "the keys of 'inputs' and the parameter names of forward() must match"
            )
        extra = [p.name for p in params if p.name not in self.inputs and p.default is p.empty]
        if extra:
            problems.append(
                f"forward() parameters {extra} have no entry in 'inputs' (and no default); "
                "describe them in 'inputs' or give them a default value"
            )
        return problems + nullable_problems(self.inputs, params)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The tool's action; subclasses implement it (sync or ``async def``)."""
        raise UserError(f"Tool class '{type(self).__qualname__}' does not implement forward()")

    def setup(self) -> None:
        """One-time initialisation (load a model, open a client); runs before the first call."""
        self.is_initialized = True

    @property
    def is_async(self) -> bool:
        """True when ``forward`` is a coroutine function."""
        return inspect.iscoroutinefunction(self.forward)

    def _ensure_setup(self) -> None:
        if not self.is_initialized:
            with _SETUP_LOCK:
                if not self.is_initialized:
                    self.setup()
                    self.is_initialized = True

    def _prepare_call(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], sanitize: bool
    ) -> tuple[list[Any], dict[str, Any]]:
        """Accept ``tool({"a": 1})``, fill omitted nullable inputs, unwrap agent types."""
        if len(args) == 1 and not kwargs and isinstance(args[0], dict) and self._is_kwargs_dict(args[0]):
            args, kwargs = tuple(), dict(args[0])
        params = self._forward_parameters()
        if params is not None:
            positional = {param.name for param in params[: len(args)]}
            for param in params:
                omitted = param.name not in kwargs and param.name not in positional
                if (
                    omitted
                    and param.default is param.empty
                    and self.inputs.get(param.name, {}).get("nullable")
                ):
                    kwargs[param.name] = None
        if sanitize:
            return handle_agent_input_types(*args, **kwargs)
        return list(args), kwargs

    def _is_kwargs_dict(self, value: dict[Any, Any]) -> bool:
        required = {key for key, spec in self.inputs.items() if not spec.get("nullable")}
        return bool(value) and set(value) <= set(self.inputs) and required <= set(value)

    def __call__(self, *args: Any, sanitize_inputs_outputs: bool = False, **kwargs: Any) -> Any:
        hooks = _telemetry_hooks.hooks
        if hooks is not None:  # tracing is on (or not decided yet): see smolagents.telemetry
            return hooks.tool_call(
                self, lambda: self._call(args, kwargs, sanitize_inputs_outputs), args, kwargs
            )
        return self._call(args, kwargs, sanitize_inputs_outputs)

    def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any], sanitize_inputs_outputs: bool) -> Any:
        self._ensure_setup()
        call_args, call_kwargs = self._prepare_call(args, kwargs, sanitize_inputs_outputs)
        result = self.forward(*call_args, **call_kwargs)
        if inspect.isawaitable(result):
            result = _run_sync(result)
        return handle_agent_output_types(result, self.output_type) if sanitize_inputs_outputs else result

    async def acall(self, *args: Any, sanitize_inputs_outputs: bool = False, **kwargs: Any) -> Any:
        """Call from async code: async tools are awaited, sync ones run in a worker thread."""
        import asyncio

        if not self.is_async:
            # through ``__call__``, looked up on the class: a wrapper of it (an instrumentor's)
            # sees the calls of async runs too
            call = functools.partial(
                self.__call__, *args, sanitize_inputs_outputs=sanitize_inputs_outputs, **kwargs
            )
            return await asyncio.to_thread(contextvars.copy_context().run, call)
        if not self.is_initialized:
            await asyncio.to_thread(self._ensure_setup)
        call_args, call_kwargs = self._prepare_call(args, kwargs, sanitize_inputs_outputs)
        result = await self.forward(*call_args, **call_kwargs)
        return handle_agent_output_types(result, self.output_type) if sanitize_inputs_outputs else result

    # ------------------------------------------------------------------ prompts

    def _defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self._forward_parameters() or [] if p.default is not p.empty}

    def to_code_prompt(self) -> str:
        """The tool as a Python function stub with a docstring, for CodeAgent prompts."""
        defaults = self._defaults()
        params, arg_lines = [], []
        for key, spec in self.inputs.items():
            param = f"{key}: {type_label(spec)}"
            if key in defaults:
                param += f" = {defaults[key]!r}"
            elif spec.get("nullable"):
                param += " = None"
            params.append(param)
            line = f"{key}: {spec.get('description', '')}".rstrip()
            if "enum" in spec:
                line += "" if line.endswith((".", "!", "?", ":")) else "."
                line += f" Allowed values: {', '.join(repr(value) for value in spec['enum'])}."
            arg_lines.append(line)
        output_schema = self.output_schema
        structured = isinstance(output_schema, dict)
        returns = (
            "dict"
            if isinstance(output_schema, dict) and output_schema.get("type") == "object"
            else self.output_type
        )
        doc = [_escape_doc(self.description)]
        if arg_lines:
            doc += ["", "Args:", *(textwrap.indent(_escape_doc(line), "    ") for line in arg_lines)]
        if structured:
            schema = textwrap.indent(json.dumps(self.output_schema, indent=2, ensure_ascii=False), " " * 8)
            summary = f"{self.output_description.rstrip('.')}. " if self.output_description else ""
            doc += [
                "",
                "Returns:",
                f"    {returns}: {summary}Always follows this JSON schema, so you can use its fields directly:",
                _escape_doc(schema),
            ]
        elif self.output_description:
            doc += ["", "Returns:", f"    {returns}: {_escape_doc(self.output_description)}"]
        body = textwrap.indent("\n".join(doc), "    ")
        return f'def {self.name}({", ".join(params)}) -> {returns}:\n    """{body.lstrip()}\n    """'

    def to_tool_calling_prompt(self) -> str:
        """A one-paragraph description of the tool, for ToolCallingAgent prompts."""
        text = (
            f"{self.name}: {self.description}\n"
            f"    Takes inputs: {self.inputs}\n"
            f"    Returns an output of type: {self.output_type}"
        )
        if self.output_schema is not None:
            text += f"\n    The output follows this JSON schema: {schema_text(self.output_schema)}"
        return text

    def to_json_schema(self) -> dict[str, Any]:
        """The tool in the OpenAI function-calling format that model APIs expect."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {
                    "type": "object",
                    "properties": {key: to_json_schema(spec) for key, spec in self.inputs.items()},
                    "required": [key for key, spec in self.inputs.items() if not spec.get("nullable")],
                },
            },
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={getattr(self, 'name', None)!r})"

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description, with ``code`` that rebuilds the tool on its own."""
        check_rebuildable(self)
        code = self.__dict__.get("_tool_code") or type(self).__dict__.get("_tool_code") or tool_source(self)
        return {
            "name": self.name,
            "description": self.description,
            "inputs": copy.deepcopy(self.inputs),
            "output_type": self.output_type,
            "output_schema": copy.deepcopy(self.output_schema),
            "code": code,
            "requirements": code_requirements(code),
            **({"requires_approval": True} if self.requires_approval else {}),
        }

    @classmethod
    def from_dict(cls, tool_dict: dict[str, Any], **kwargs: Any) -> Tool:
        """Rebuild a tool from :meth:`to_dict` output (runs its code: trust the source)."""
        if "code" not in tool_dict:
            raise UserError("Tool.from_dict needs a dict with a 'code' entry, as written by Tool.to_dict()")
        tool = cls.from_code(tool_dict["code"], **kwargs)
        for attr in ("name", "description"):
            if attr in tool_dict:
                setattr(tool, attr, tool_dict[attr])
        if tool_dict.get("requires_approval"):
            tool.requires_approval = True
        return tool

    @classmethod
    def from_code(cls, tool_code: str, **kwargs: Any) -> Tool:
        """Run ``tool_code`` and return the tool it defines (a ``@tool`` function or a subclass)."""
        import uuid

        module = types.ModuleType(f"{CODE_MODULE_PREFIX}{uuid.uuid4().hex}")
        sys.modules[module.__name__] = module
        exec(compile(tool_code, f"<tool code {module.__name__}>", "exec"), module.__dict__)
        instances = [value for value in module.__dict__.values() if isinstance(value, Tool)]
        if instances:
            tool = instances[-1]
            tool.__dict__["_tool_code"] = tool_code
            return tool
        classes = [
            value
            for value in module.__dict__.values()
            if isinstance(value, type) and issubclass(value, Tool) and value.__module__ == module.__name__
        ]
        leaves = [c for c in classes if not any(o is not c and issubclass(o, c) for o in classes)]
        if not leaves:
            raise UserError("The tool code defines no Tool subclass and no @tool function.")
        tool_class = leaves[-1]
        tool_class._tool_code = tool_code  # type: ignore[attr-defined]
        return tool_class(**kwargs)

    def save(
        self, output_dir: str | os.PathLike[str], tool_file_name: str = "tool", make_gradio_app: bool = True
    ) -> None:
        """Write ``tool.py``, ``requirements.txt`` and (optionally) a Gradio ``app.py``."""
        data = self.to_dict()
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{tool_file_name}.py").write_text(data["code"], encoding="utf-8")
        requirements = ["smolagents", *data["requirements"], *(["gradio"] if make_gradio_app else [])]
        (out / "requirements.txt").write_text("\n".join(dict.fromkeys(requirements)) + "\n", encoding="utf-8")
        if make_gradio_app:
            (out / "app.py").write_text(GRADIO_APP.replace("TOOL_FILE", tool_file_name), encoding="utf-8")

    def push_to_hub(
        self,
        repo_id: str,
        commit_message: str = "Upload tool",
        private: bool | None = None,
        token: bool | str | None = None,
        create_pr: bool = False,
    ) -> str:
        """Upload the tool to a Hub Space (code, requirements and a Gradio demo)."""
        from ._hub import push_to_hub

        return push_to_hub(self, repo_id, commit_message, private, token, create_pr)

    @classmethod
    def from_hub(
        cls, repo_id: str, token: str | None = None, trust_remote_code: bool = False, **kwargs: Any
    ) -> Tool:
        """Load a tool pushed with :meth:`push_to_hub`; its code runs locally, so opt in."""
        if not trust_remote_code:
            raise UserError(
                f"Loading the tool '{repo_id}' from the Hub runs its code on this machine. Read it at "
                f"https://huggingface.co/spaces/{repo_id}, then pass trust_remote_code=True."
            )
        from ._hub import hub_tool_code

        return cls.from_code(hub_tool_code(repo_id, token), **kwargs)

    @staticmethod
    def from_space(
        space_id: str, name: str, description: str, api_name: str | None = None, token: str | None = None
    ) -> Tool:
        """Use a Gradio Space as a tool (its endpoint's parameters become the inputs)."""
        from ._adapters import space_tool  # a Tool subclass: imported on use, never at import time

        return space_tool(space_id, name, description, api_name, token)

    @staticmethod
    def from_langchain(langchain_tool: Any) -> Tool:
        """Wrap a LangChain tool (anything with ``name``, ``description``, ``args``, ``run``)."""
        from ._adapters import LangChainTool  # a Tool subclass: imported on use, never at import time

        return LangChainTool(langchain_tool)


def _escape_doc(text: str) -> str:
    return text.replace('"""', '\\"\\"\\"')


class _FunctionTool(Tool):
    """The tool that :func:`tool` builds around a function."""

    def __init__(
        self,
        function: Callable[..., Any],
        name: str,
        description: str,
        inputs: dict[str, dict[str, Any]],
        output_type: str,
        output_schema: dict[str, Any] | None = None,
        output_description: str | None = None,
    ) -> None:
        self.name, self.description, self.inputs = name, description, inputs
        self.output_type, self.output_schema, self.output_description = (
            output_type,
            output_schema,
            output_description,
        )
        self.forward = function  # type: ignore[method-assign]
        self.__wrapped__ = function
        self.__dict__[TOOL_FUNCTION_ATTR] = function  # how saving recognises a @tool function
        self.__doc__ = function.__doc__
        super().__init__()


_Decorator = Callable[[Callable[..., Any]], Tool]


@overload
def tool(tool_function: Callable[..., Any], *, requires_approval: bool = False) -> Tool: ...
@overload
def tool(tool_function: None = None, *, requires_approval: bool = False) -> _Decorator: ...
def tool(
    tool_function: Callable[..., Any] | None = None, *, requires_approval: bool = False
) -> Tool | _Decorator:
    """Turn a typed function with a Google-style docstring into a :class:`Tool`.

    The name is the function's name, the description and argument descriptions come from the
    docstring, the input and output types from the type hints. ``async def`` functions give
    async tools. ``(choices: ["a", "b"])`` in an argument's description becomes an ``enum``. A
    function without arguments may omit its return hint (output type ``"null"``); any other
    problem raises :class:`UserError` here, at definition time.

    ``@tool(requires_approval=True)`` makes agents ask for approval before each call.
    """
    if tool_function is None:

        def decorate(function: Callable[..., Any]) -> Tool:
            return _make_tool(function, sys._getframe(1), requires_approval)

        return decorate
    return _make_tool(tool_function, sys._getframe(1), requires_approval)


def _make_tool(tool_function: Callable[..., Any], caller: types.FrameType, requires_approval: bool) -> Tool:
    if not isinstance(requires_approval, bool):
        raise UserError(f"@tool(requires_approval=...) takes True or False, got {requires_approval!r}.")
    if isinstance(tool_function, Tool):
        if requires_approval:
            tool_function.requires_approval = True
        return tool_function
    if not inspect.isfunction(tool_function):
        raise UserError(f"@tool decorates a function, got {type(tool_function).__name__}: {tool_function!r}")
    localns = dict(caller.f_locals) if caller.f_code.co_name != "<module>" else None
    made = _FunctionTool(tool_function, **function_schema(tool_function, localns))
    if requires_approval:
        made.requires_approval = True
    return made
