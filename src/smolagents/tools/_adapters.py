"""Tools made out of other things: Gradio Spaces and LangChain tools.

The public entry points are ``Tool.from_space`` and ``Tool.from_langchain``, which import this
module when called: the adapters are ``Tool`` subclasses, so they sit above the ``Tool`` class
and import it, never the other way round at import time. ``gradio_client`` is imported only
when a Space is used.
"""

from __future__ import annotations

from typing import Any

from .._optional import require
from ..errors import UserError
from ._json_schema import identifier, input_from_json_schema
from ._tool import Tool

__all__ = ["LangChainTool", "SpaceTool", "space_tool"]


class LangChainTool(Tool):
    """A LangChain tool, adapted by duck typing (``name``, ``description``, ``args``, ``run``)."""

    def __init__(self, langchain_tool: Any) -> None:
        self.langchain_tool = langchain_tool
        self.name = identifier(langchain_tool.name)
        self.description = langchain_tool.description or f"The LangChain tool {langchain_tool.name}."
        args = dict(getattr(langchain_tool, "args", None) or {})
        self.inputs = {
            key: input_from_json_schema(key, dict(spec), "default" not in spec) for key, spec in args.items()
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


class SpaceTool(Tool):
    """A Gradio Space endpoint called through ``gradio_client``."""

    def __init__(
        self, client: Any, api_name: str, name: str, description: str, endpoint: dict[str, Any]
    ) -> None:
        self.client, self.api_name = client, api_name
        self.name, self.description = name, description
        self.inputs = {}
        for param in endpoint.get("parameters", []):
            key = identifier(param.get("parameter_name") or param.get("label") or f"arg{len(self.inputs)}")
            spec = {"type": _gradio_type(param), "description": param.get("label") or key}
            if param.get("parameter_has_default"):
                spec["nullable"] = True
            self.inputs[key] = spec
        returns = endpoint.get("returns", [])
        self.output_type = _gradio_type(returns[0]) if len(returns) == 1 else "any"
        super().__init__()

    def forward(self, **kwargs: Any) -> Any:
        from ..agent_types import AgentAudio, AgentImage

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


def space_tool(space_id: str, name: str, description: str, api_name: str | None, token: str | None) -> Tool:
    gradio_client = require("gradio_client", "gradio", "Tool.from_space")
    client = gradio_client.Client(space_id, hf_token=token) if token else gradio_client.Client(space_id)
    api = client.view_api(return_format="dict", print_info=False) or {}
    endpoints = api.get("named_endpoints") or {}
    if not endpoints:
        raise UserError(f"The Space '{space_id}' exposes no named API endpoint to call.")
    api_name = api_name or next(iter(endpoints))
    if api_name not in endpoints:
        raise UserError(f"The Space '{space_id}' has no endpoint {api_name!r}; it has {list(endpoints)}.")
    return SpaceTool(client, api_name, name, description, endpoints[api_name])
