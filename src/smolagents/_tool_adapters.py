"""Adapters that make tools out of other things: Hub repos, Gradio Spaces, LangChain tools.

Split out of :mod:`smolagents.tools` to keep that module small; the public entry points stay
there (``Tool.from_hub``, ``Tool.push_to_hub``, ``Tool.from_space``, ``Tool.from_langchain``,
``ToolCollection.from_hub``, ``load_tool``) and call into this module when used. Each adapter
imports its optional package (``huggingface_hub``, ``gradio_client``) only when called. The
JSON-schema helpers here are shared with :mod:`smolagents.mcp_client`.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from typing import Any

from ._optional import require
from ._tool_schema import AUTHORIZED_TYPES
from .errors import UserError
from .tools import Tool

__all__ = [
    "_LangChainTool",
    "_SpaceTool",
    "_gradio_type",
    "_hub_collection_spaces",
    "_hub_tool_code",
    "_identifier",
    "_input_from_json_schema",
    "_push_to_hub",
    "_space_tool",
]


# --------------------------------------------------------------------------- Hub


def _push_to_hub(
    tool: Tool,
    repo_id: str,
    commit_message: str,
    private: bool | None,
    token: bool | str | None,
    create_pr: bool,
) -> str:
    """Upload ``tool`` to a Hub Space (code, requirements and a Gradio demo); see ``Tool.push_to_hub``."""
    import tempfile

    hub = require("huggingface_hub", "hub", "Tool.push_to_hub")
    api = hub.HfApi(token=token)
    repo = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="space", space_sdk="gradio")
    with tempfile.TemporaryDirectory() as folder:
        tool.save(folder)
        commit = api.upload_folder(
            repo_id=repo.repo_id,
            folder_path=folder,
            repo_type="space",
            commit_message=commit_message,
            create_pr=create_pr,
        )
    return str(commit)


def _hub_tool_code(repo_id: str, token: str | None) -> str:
    """The ``tool.py`` of a Hub Space (or, failing that, model repo); see ``Tool.from_hub``."""
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
    return Path(path).read_text(encoding="utf-8")


def _hub_collection_spaces(collection_slug: str, token: str | None) -> list[str]:
    """The ids of the Spaces in a Hub collection; see ``ToolCollection.from_hub``."""
    hub = require("huggingface_hub", "hub", "ToolCollection.from_hub")
    collection = hub.get_collection(collection_slug, token=token)
    return [item.item_id for item in collection.items if item.item_type == "space"]


# --------------------------------------------------------------------------- LangChain and Spaces


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
