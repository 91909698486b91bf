"""Tools: the functions an agent may call, described well enough for a model to call them.

A tool is a :class:`Tool` subclass (``name``, ``description``, ``inputs``, ``output_type``,
``forward``) or a function decorated with :func:`tool`, whose schema comes from its type
hints and Google-style docstring. Definitions are checked when they are made, so a bad tool
fails in the developer's hands with a precise message instead of confusing a model later.

Only the standard library is imported here, and asyncio (about 25 ms) only when a call needs
it; the Hub, Gradio, LangChain and MCP adapters import their packages when they are used.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import contextvars
import copy
import functools
import inspect
import json
import keyword
import os
import re
import sys
import textwrap
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._optional import require
from ._tool_schema import (
    AUTHORIZED_TYPES,
    check_value,
    definition_problems,
    function_schema,
    schema_text,
    to_json_schema,
)
from .agent_types import handle_agent_input_types, handle_agent_output_types
from .errors import AgentToolCallError, UserError

__all__ = ["Tool", "ToolCollection", "load_tool", "tool", "validate_tool_arguments"]

_SETUP_LOCK = threading.RLock()
_CODE_MODULE_PREFIX = "smolagents_tool_code_"
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


def _short_repr(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


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
            return cached[1]
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
        return problems

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
            args, kwargs = (), dict(args[0])
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
        self._ensure_setup()
        call_args, call_kwargs = self._prepare_call(args, kwargs, sanitize_inputs_outputs)
        result = self.forward(*call_args, **call_kwargs)
        if inspect.isawaitable(result):
            result = _run_sync(result)
        return handle_agent_output_types(result, self.output_type) if sanitize_inputs_outputs else result

    async def acall(self, *args: Any, sanitize_inputs_outputs: bool = False, **kwargs: Any) -> Any:
        """Call from async code: async tools are awaited, sync ones run in a worker thread."""
        import asyncio

        if not self.is_initialized:
            await asyncio.to_thread(self._ensure_setup)
        call_args, call_kwargs = self._prepare_call(args, kwargs, sanitize_inputs_outputs)
        if self.is_async:
            result = await self.forward(*call_args, **call_kwargs)
        else:
            call = functools.partial(self.forward, *call_args, **call_kwargs)
            result = await asyncio.to_thread(contextvars.copy_context().run, call)
            if inspect.isawaitable(result):
                result = await result
        return handle_agent_output_types(result, self.output_type) if sanitize_inputs_outputs else result

    # ------------------------------------------------------------------ prompts

    def _defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self._forward_parameters() or [] if p.default is not p.empty}

    def to_code_prompt(self) -> str:
        """The tool as a Python function stub with a docstring, for CodeAgent prompts."""
        defaults = self._defaults()
        params, arg_lines = [], []
        for key, spec in self.inputs.items():
            param = f"{key}: {_type_label(spec)}"
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
        structured = isinstance(self.output_schema, dict)
        returns = "dict" if structured and self.output_schema.get("type") == "object" else self.output_type
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
        code = self.__dict__.get("_tool_code") or type(self).__dict__.get("_tool_code") or _tool_source(self)
        return {
            "name": self.name,
            "description": self.description,
            "inputs": copy.deepcopy(self.inputs),
            "output_type": self.output_type,
            "output_schema": copy.deepcopy(self.output_schema),
            "code": code,
            "requirements": _requirements(code),
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
        return tool

    @classmethod
    def from_code(cls, tool_code: str, **kwargs: Any) -> Tool:
        """Run ``tool_code`` and return the tool it defines (a ``@tool`` function or a subclass)."""
        import uuid

        module = types.ModuleType(f"{_CODE_MODULE_PREFIX}{uuid.uuid4().hex}")
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
            (out / "app.py").write_text(_GRADIO_APP.replace("TOOL_FILE", tool_file_name), encoding="utf-8")

    def push_to_hub(
        self,
        repo_id: str,
        commit_message: str = "Upload tool",
        private: bool | None = None,
        token: bool | str | None = None,
        create_pr: bool = False,
    ) -> str:
        """Upload the tool to a Hub Space (code, requirements and a Gradio demo)."""
        import tempfile

        hub = require("huggingface_hub", "hub", "Tool.push_to_hub")
        api = hub.HfApi(token=token)
        repo = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="space", space_sdk="gradio")
        with tempfile.TemporaryDirectory() as folder:
            self.save(folder)
            commit = api.upload_folder(
                repo_id=repo.repo_id,
                folder_path=folder,
                repo_type="space",
                commit_message=commit_message,
                create_pr=create_pr,
            )
        return str(commit)

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
        hub = require("huggingface_hub", "hub", "Tool.from_hub")
        error: Exception | None = None
        for repo_type in ("space", "model"):
            try:
                path = hub.hf_hub_download(repo_id, "tool.py", repo_type=repo_type, token=token)
                break
            except Exception as exc:
                error = exc
        else:
            raise UserError(f"Could not download tool.py from the Hub repo '{repo_id}': {error}") from error
        return cls.from_code(Path(path).read_text(encoding="utf-8"), **kwargs)

    @staticmethod
    def from_space(
        space_id: str, name: str, description: str, api_name: str | None = None, token: str | None = None
    ) -> Tool:
        """Use a Gradio Space as a tool (its endpoint's parameters become the inputs)."""
        return _space_tool(space_id, name, description, api_name, token)

    @staticmethod
    def from_langchain(langchain_tool: Any) -> Tool:
        """Wrap a LangChain tool (anything with ``name``, ``description``, ``args``, ``run``)."""
        return _LangChainTool(langchain_tool)


def _type_label(spec: dict[str, Any]) -> str:
    kind = spec.get("type", "any")
    label = " | ".join(kind) if isinstance(kind, list) else str(kind)
    items = spec.get("items")
    if label == "array" and isinstance(items, dict) and "type" in items:
        label = f"array[{_type_label(items)}]"
    return label


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
        self.__doc__ = function.__doc__
        super().__init__()


def tool(tool_function: Callable[..., Any]) -> Tool:
    """Turn a typed function with a Google-style docstring into a :class:`Tool`.

    The name is the function's name, the description and argument descriptions come from the
    docstring, the input and output types from the type hints. ``async def`` functions give
    async tools. Any problem raises :class:`UserError` here, at definition time.
    """
    if isinstance(tool_function, Tool):
        return tool_function
    if not inspect.isfunction(tool_function):
        raise UserError(f"@tool decorates a function, got {type(tool_function).__name__}: {tool_function!r}")
    caller = sys._getframe(1)
    localns = dict(caller.f_locals) if caller.f_code.co_name != "<module>" else None
    return _FunctionTool(tool_function, **function_schema(tool_function, localns))


def validate_tool_arguments(tool: Tool, arguments: Any) -> None:
    """Check a model's arguments for ``tool``; raise :class:`AgentToolCallError` saying what to fix.

    ``arguments`` is a dict of keyword arguments, or a single value for a one-input tool.
    """
    inputs = tool.inputs
    expected = ", ".join(
        f"{key} ({_type_label(spec)}{', optional' if spec.get('nullable') else ''})"
        for key, spec in inputs.items()
    )
    schema = schema_text({key: to_json_schema(spec) for key, spec in inputs.items()})
    only = next(iter(inputs.values())) if len(inputs) == 1 else None
    if isinstance(arguments, dict) and set(arguments) <= set(inputs):
        given = arguments
    elif only is not None and (not isinstance(arguments, dict) or _accepts_mapping(only)):
        given = {next(iter(inputs)): arguments}
    elif arguments is None and not inputs:
        return
    elif isinstance(arguments, dict):
        unexpected = [key for key in arguments if key not in inputs]
        raise AgentToolCallError(
            f"Tool '{tool.name}' got unexpected argument(s) {unexpected} in {_short_repr(arguments)}. "
            f"It accepts: {expected or 'no arguments'}. Expected arguments schema: {schema}"
        )
    else:
        raise AgentToolCallError(
            f"Tool '{tool.name}' needs its arguments as a dict of {{name: value}}, got "
            f"{_short_repr(arguments)}. It accepts: {expected or 'no arguments'}. Expected arguments schema: {schema}"
        )

    params = tool._forward_parameters()
    defaults = {p.name for p in params or [] if p.default is not p.empty}
    problems = []
    for key, spec in inputs.items():
        if key not in given:
            if not spec.get("nullable") and key not in defaults and params is not None:
                problems.append(
                    f"missing required argument '{key}' (expected {schema_text(to_json_schema(spec))})"
                )
            continue
        if problem := check_value(given[key], spec):
            problems.append(
                f"argument '{key}' {problem}; received {_short_repr(given[key])} "
                f"(expected {schema_text(to_json_schema(spec))})"
            )
    if problems:
        raise AgentToolCallError(
            f"Invalid call to tool '{tool.name}': " + "; ".join(problems) + f". It accepts: {expected}."
        )


def _accepts_mapping(spec: dict[str, Any]) -> bool:
    kind = spec.get("type", "any")
    return bool({"object", "any"} & set(kind if isinstance(kind, list) else [kind]))


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
        hub = require("huggingface_hub", "hub", "ToolCollection.from_hub")
        collection = hub.get_collection(collection_slug, token=token)
        spaces = [item.item_id for item in collection.items if item.item_type == "space"]
        return cls([Tool.from_hub(space, token=token, trust_remote_code=True) for space in spaces])

    @classmethod
    @contextmanager
    def from_mcp(
        cls, server_parameters: Any, trust_remote_code: bool = False, structured_output: bool | None = None
    ) -> Iterator[ToolCollection]:
        """Connect to MCP server(s) and yield their tools; the connection closes on exit.

        ``server_parameters``: an ``mcp.StdioServerParameters``, a dict ``{"url": ...,
        "transport": "streamable-http" | "sse"}``, or a list of those.
        """
        if not trust_remote_code:
            raise UserError(
                "ToolCollection.from_mcp starts or connects to an MCP server whose tools run code. "
                "Make sure you trust it, then pass trust_remote_code=True."
            )
        with _mcp_connection(server_parameters, structured_output) as tools:
            yield cls(tools)


# --------------------------------------------------------------------------- tool source code

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


# --------------------------------------------------------------------------- adapters


def _identifier(name: str) -> str:
    """A tool or argument name made into a valid Python identifier ('get-weather' -> 'get_weather')."""
    text = re.sub(r"\W", "_", str(name)) or "tool"
    if text[0].isdigit():
        text = f"_{text}"
    return f"{text}_" if keyword.iskeyword(text) else text


def _input_from_json_schema(name: str, spec: dict[str, Any], required: bool) -> dict[str, Any]:
    """One JSON-schema property (LangChain args, MCP inputSchema) as a tool input."""
    kinds: list[str] = []
    nullable = not required or "default" in spec
    for option in spec.get("anyOf") or spec.get("oneOf") or [spec]:
        kind = option.get("type", "any") if isinstance(option, dict) else "any"
        for item in kind if isinstance(kind, list) else [kind]:
            if item == "null":
                nullable = True
            elif item not in kinds:
                kinds.append(item if item in AUTHORIZED_TYPES else "any")
    kinds = ["any"] if not kinds or "any" in kinds else kinds
    entry: dict[str, Any] = {
        "type": kinds[0] if len(kinds) == 1 else kinds,
        "description": spec.get("description") or spec.get("title") or name,
    }
    entry.update({key: spec[key] for key in ("enum", "items", "properties") if key in spec})
    if nullable:
        entry["nullable"] = True
    return entry


class _LangChainTool(Tool):
    """A LangChain tool, adapted by duck typing (``name``, ``description``, ``args``, ``run``)."""

    def __init__(self, langchain_tool: Any) -> None:
        self.langchain_tool = langchain_tool
        self.name = _identifier(langchain_tool.name)
        self.description = langchain_tool.description or f"The LangChain tool {langchain_tool.name}."
        args = dict(getattr(langchain_tool, "args", None) or {})
        self.inputs = {
            key: _input_from_json_schema(key, dict(spec), "default" not in spec) for key, spec in args.items()
        }
        self.output_type = "string"
        super().__init__()

    def forward(self, **kwargs: Any) -> Any:
        return self.langchain_tool.run({key: value for key, value in kwargs.items() if value is not None})


_GRADIO_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
_GRADIO_MEDIA = {"Image": "image", "Audio": "audio"}


def _gradio_type(entry: dict[str, Any]) -> str:
    if entry.get("component") in _GRADIO_MEDIA:
        return _GRADIO_MEDIA[entry["component"]]
    kind = str((entry.get("python_type") or {}).get("type", ""))
    if kind.lower().startswith(("dict", "typeddict")):
        return "object"
    if kind.lower().startswith(("list", "tuple")):
        return "array"
    if kind.startswith("Literal") or kind == "filepath":
        return "string"
    return _GRADIO_TYPES.get(kind, "any")


class _SpaceTool(Tool):
    """A Gradio Space endpoint called through ``gradio_client``."""

    def __init__(
        self, client: Any, api_name: str, name: str, description: str, endpoint: dict[str, Any]
    ) -> None:
        self.client, self.api_name = client, api_name
        self.name, self.description = name, description
        self.inputs = {}
        for param in endpoint.get("parameters", []):
            key = _identifier(param.get("parameter_name") or param.get("label") or f"arg{len(self.inputs)}")
            spec = {"type": _gradio_type(param), "description": param.get("label") or key}
            if param.get("parameter_has_default"):
                spec["nullable"] = True
            self.inputs[key] = spec
        returns = endpoint.get("returns", [])
        self.output_type = _gradio_type(returns[0]) if len(returns) == 1 else "any"
        super().__init__()

    def forward(self, **kwargs: Any) -> Any:
        from .agent_types import AgentAudio, AgentImage

        gradio_client = require("gradio_client", "gradio", "Tool.from_space")
        arguments = {}
        for key, value in kwargs.items():
            if value is None:
                continue
            kind = self.inputs[key]["type"]
            if kind in ("image", "audio"):
                path = (AgentImage if kind == "image" else AgentAudio)(value).to_string()
                value = gradio_client.handle_file(path)
            arguments[key] = value
        result = self.client.predict(**arguments, api_name=self.api_name)
        if isinstance(result, dict) and "path" in result:
            result = result["path"]
        if self.output_type == "image":
            return AgentImage(result)
        if self.output_type == "audio":
            return AgentAudio(result)
        return result


def _space_tool(space_id: str, name: str, description: str, api_name: str | None, token: str | None) -> Tool:
    gradio_client = require("gradio_client", "gradio", "Tool.from_space")
    client = gradio_client.Client(space_id, hf_token=token) if token else gradio_client.Client(space_id)
    api = client.view_api(return_format="dict", print_info=False) or {}
    endpoints = api.get("named_endpoints") or {}
    if not endpoints:
        raise UserError(f"The Space '{space_id}' exposes no named API endpoint to call.")
    api_name = api_name or next(iter(endpoints))
    if api_name not in endpoints:
        raise UserError(f"The Space '{space_id}' has no endpoint {api_name!r}; it has {list(endpoints)}.")
    return _SpaceTool(client, api_name, name, description, endpoints[api_name])


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


@contextmanager
def _mcp_connection(server_parameters: Any, structured_output: bool | None) -> Iterator[list[Tool]]:
    require("mcp", "mcp", "ToolCollection.from_mcp")
    sessions: list[_MCPSession] = []
    try:
        for parameters in server_parameters if isinstance(server_parameters, list) else [server_parameters]:
            sessions.append(_MCPSession(parameters))
        yield [
            _MCPTool(session, remote, structured_output) for session in sessions for remote in session.tools
        ]
    finally:
        for session in sessions:
            session.close()
