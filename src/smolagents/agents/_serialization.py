"""Saving and loading agents: a JSON-safe dict, a folder, and the Hugging Face Hub.

A saved agent is a folder with ``agent.json`` (settings, model, tools' code, managed agents),
``prompts.yaml``, one ``tools/<name>.py`` per tool, ``managed_agents/<name>/`` per sub-agent,
``requirements.txt`` and an ``app.py`` that serves it with Gradio. Loading runs the tools'
code, so only load agents you trust (``from_hub`` requires ``trust_remote_code=True``).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._optional import require
from ..errors import UserError

if TYPE_CHECKING:
    from ._multistep import MultiStepAgent

__all__ = ["agent_from_dict", "agent_to_dict", "load_agent_folder", "pull_agent", "push_agent", "save_agent"]

_APP = '''"""Serve this agent with a Gradio chat UI: python app.py"""
from pathlib import Path

from smolagents import GradioUI, MultiStepAgent

agent = MultiStepAgent.from_folder(Path(__file__).parent)
GradioUI(agent).launch()
'''


def _agent_classes() -> dict[str, type]:
    """Every agent class by name: the packaged ones and any user subclass already defined."""
    from . import _code, _tool_calling  # noqa: F401  (defines the packaged subclasses)
    from ._multistep import MultiStepAgent

    found: dict[str, type] = {"MultiStepAgent": MultiStepAgent}
    pending: list[type] = [MultiStepAgent]
    while pending:
        for sub in pending.pop().__subclasses__():
            found[sub.__name__] = sub
            pending.append(sub)
    return found


def agent_to_dict(agent: MultiStepAgent) -> dict[str, Any]:
    """Everything needed to rebuild ``agent`` (no secrets: API keys are not stored)."""
    tools = [t.to_dict() for name, t in agent.tools.items() if name != "final_answer"]
    requirements = {"smolagents"}
    for t in tools:
        requirements.update(t.get("requirements", []))
    model_to_dict = getattr(agent.model, "to_dict", None)
    return {
        "class": type(agent).__name__,
        "model": model_to_dict() if model_to_dict else {"class": type(agent.model).__name__},
        "tools": tools,
        "managed_agents": [agent_to_dict(sub) for sub in agent.managed_agents.values()],
        "prompt_templates": agent.prompt_templates,
        "settings": agent._init_settings(),
        "requirements": sorted(requirements),
    }


def agent_from_dict(cls: type, agent_dict: dict[str, Any], **kwargs: Any) -> MultiStepAgent:
    """Rebuild an agent; ``kwargs`` override stored settings (e.g. ``model=...``)."""
    from ..models.base import Model
    from ..tools import Tool

    class_name = agent_dict.get("class", cls.__name__)
    classes = _agent_classes()
    target = classes.get(class_name)
    if target is None or not issubclass(target, cls):
        raise UserError(
            f"Unknown or incompatible agent class {class_name!r}; known classes: {sorted(classes)}."
        )
    init: dict[str, Any] = dict(agent_dict.get("settings", {}))
    init["prompt_templates"] = agent_dict.get("prompt_templates")
    if "model" not in kwargs:
        init["model"] = Model.from_dict(agent_dict["model"])
    if "tools" not in kwargs:
        init["tools"] = [Tool.from_dict(t) for t in agent_dict.get("tools", [])]
    if "managed_agents" not in kwargs and agent_dict.get("managed_agents"):
        init["managed_agents"] = [
            agent_from_dict(classes["MultiStepAgent"], d) for d in agent_dict["managed_agents"]
        ]
    init.update(kwargs)
    return target(**init)


def save_agent(agent: MultiStepAgent, output_dir: str | Path, relative_path: str | None = None) -> None:
    """Write the agent's folder (see the module docstring)."""
    import yaml

    folder = Path(output_dir) / (relative_path or "")
    folder.mkdir(parents=True, exist_ok=True)
    data = agent_to_dict(agent)
    for tool_data in data["tools"]:
        (folder / "tools").mkdir(exist_ok=True)
        (folder / "tools" / f"{tool_data['name']}.py").write_text(tool_data["code"], encoding="utf-8")
    for name, sub in agent.managed_agents.items():
        save_agent(sub, folder / "managed_agents", name)
    (folder / "agent.json").write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    (folder / "prompts.yaml").write_text(
        yaml.safe_dump(dict(agent.prompt_templates), sort_keys=False), encoding="utf-8"
    )
    (folder / "requirements.txt").write_text("\n".join(data["requirements"]) + "\n", encoding="utf-8")
    (folder / "app.py").write_text(_APP, encoding="utf-8")


def load_agent_folder(cls: type, folder: str | Path, **kwargs: Any) -> MultiStepAgent:
    """Load an agent written by :func:`save_agent`; ``prompts.yaml`` edits are honoured."""
    import yaml

    folder = Path(folder)
    agent_file = folder / "agent.json"
    if not agent_file.is_file():
        raise UserError(
            f"{folder} is not a saved agent folder: it has no agent.json. Save one with agent.save(folder)."
        )
    data = json.loads(agent_file.read_text(encoding="utf-8"))
    prompts = folder / "prompts.yaml"
    if prompts.is_file():
        data["prompt_templates"] = yaml.safe_load(prompts.read_text(encoding="utf-8"))
    return agent_from_dict(cls, data, **kwargs)


def push_agent(
    agent: MultiStepAgent,
    repo_id: str,
    commit_message: str = "Upload agent",
    private: bool | None = None,
    token: bool | str | None = None,
    create_pr: bool = False,
) -> str:
    """Upload the agent's folder to a Hub Space; returns the commit URL."""
    hub = require("huggingface_hub", "hub", "Pushing an agent to the Hub")
    repo_url = hub.create_repo(
        repo_id=repo_id, token=token, private=private, exist_ok=True, repo_type="space", space_sdk="gradio"
    )
    with tempfile.TemporaryDirectory() as work_dir:
        save_agent(agent, work_dir)
        return str(
            hub.upload_folder(
                repo_id=repo_url.repo_id,
                folder_path=work_dir,
                token=token,
                commit_message=commit_message,
                repo_type="space",
                create_pr=create_pr,
            )
        )


def pull_agent(
    cls: type, repo_id: str, token: str | None = None, trust_remote_code: bool = False, **kwargs: Any
):
    """Download an agent folder from the Hub and load it (runs its tools' code)."""
    if not trust_remote_code:
        raise UserError(
            f"Loading the agent {repo_id!r} from the Hub runs its tools' code on your machine. Read that code "
            "first, then pass trust_remote_code=True to load it."
        )
    hub = require("huggingface_hub", "hub", "Loading an agent from the Hub")
    hub_keys = {"cache_dir", "revision", "repo_type", "force_download", "local_files_only"}
    download = {k: kwargs.pop(k) for k in list(kwargs) if k in hub_keys}
    download.setdefault("repo_type", "space")
    folder = hub.snapshot_download(repo_id=repo_id, token=token, **download)
    return load_agent_folder(cls, folder, **kwargs)
