"""The Hugging Face Hub side of tools: upload a saved tool to a Space, download ``tool.py``,
list a collection's Spaces.

Used by ``Tool.push_to_hub``, ``Tool.from_hub``, ``load_tool`` and ``ToolCollection.from_hub``.
It works on files and ids only (the tool is written by ``tool.save``), so it never imports the
``Tool`` class. ``huggingface_hub`` is imported when a function is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._optional import require
from ..errors import UserError

__all__ = ["hub_collection_spaces", "hub_tool_code", "push_to_hub"]


def push_to_hub(
    tool: Any,
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


def hub_tool_code(repo_id: str, token: str | None) -> str:
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


def hub_collection_spaces(collection_slug: str, token: str | None) -> list[str]:
    """The ids of the Spaces in a Hub collection; see ``ToolCollection.from_hub``."""
    hub = require("huggingface_hub", "hub", "ToolCollection.from_hub")
    collection = hub.get_collection(collection_slug, token=token)
    return [item.item_id for item in collection.items if item.item_type == "space"]
