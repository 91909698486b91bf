"""Saving and loading agents: a JSON-safe dict, a folder, and the Hugging Face Hub.

A saved agent is a folder with ``agent.json`` (settings, model, tools' code, managed agents),
``prompts.yaml``, one ``tools/<name>.py`` per tool, ``managed_agents/<name>/`` per sub-agent,
``requirements.txt`` and an ``app.py`` that serves it with Gradio. Loading runs the tools'
code, so only load agents you trust (``from_hub`` requires ``trust_remote_code=True``).

Agents already shared on the Hub use an older layout, which loads too: settings at the top
level of ``agent.json`` (``max_steps``, ``authorized_imports``...), ``model`` as
``{"class", "data"}``, ``tools`` as names of ``tools/<name>.py`` files, ``managed_agents`` as
``{name: class}`` for ``managed_agents/<name>/`` folders, and planning prompts with the
retired ``*_facts*`` keys (see ``_legacy_init``).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .._optional import require
from ..errors import UserError

if TYPE_CHECKING:
    from ._multistep import MultiStepAgent

__all__ = [
    "SavedAgent",
    "agent_from_dict",
    "agent_to_dict",
    "load_agent_folder",
    "pull_agent",
    "push_agent",
    "save_agent",
]

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
        sub: type
        for sub in pending.pop().__subclasses__():
            found[sub.__name__] = sub
            pending.append(sub)
    return found


def agent_to_dict(agent: MultiStepAgent) -> dict[str, Any]:
    """Everything needed to rebuild ``agent`` (no secrets: API keys are not stored).

    The stock ``final_answer`` tool is left out (every agent gets one); a custom one is kept."""
    from ..default_tools import FinalAnswerTool

    tools = [
        t.to_dict()
        for name, t in agent.tools.items()
        if not (name == "final_answer" and type(t) is FinalAnswerTool)
    ]
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


def agent_from_dict(
    cls: type, agent_dict: dict[str, Any], folder: Path | None = None, **kwargs: Any
) -> MultiStepAgent:
    """Rebuild an agent; ``kwargs`` override stored settings (e.g. ``model=...``).

    Reads our layout (``settings``) and the older one of agents shared on the Hub; ``folder``
    is where tools and managed agents listed by name are found (``from_folder`` sets it)."""
    from ..models.base import Model

    class_name = agent_dict.get("class", cls.__name__)
    classes = _agent_classes()
    target = classes.get(class_name)
    if target is None or not issubclass(target, cls):
        raise UserError(
            f"Unknown or incompatible agent class {class_name!r}; known classes: {sorted(classes)}."
        )
    if "settings" in agent_dict:
        init: dict[str, Any] = dict(agent_dict["settings"])
    else:
        init = _legacy_init(target, agent_dict)
    init["prompt_templates"] = agent_dict.get("prompt_templates")
    if "model" not in kwargs:
        init["model"] = Model.from_dict(agent_dict["model"])
    if "tools" not in kwargs:
        init["tools"] = [_load_tool(entry, folder) for entry in agent_dict.get("tools", [])]
    if "managed_agents" not in kwargs and agent_dict.get("managed_agents"):
        init["managed_agents"] = _load_managed_agents(agent_dict["managed_agents"], classes, folder)
    init.update(kwargs)
    return cast("MultiStepAgent", target(**init))


# keys of the older agent.json layout that are not constructor arguments
_LEGACY_NOT_SETTINGS = frozenset(
    {"class", "version", "tools", "model", "managed_agents", "prompt_templates", "requirements", "grammar"}
)


def _legacy_init(target: type, agent_dict: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments from the older layout's top-level settings.

    ``authorized_imports`` held the full list (the safe defaults included): only the
    additions become ``additional_authorized_imports``. Settings this version does not have
    are ignored, and logged."""
    accepted = _init_parameters(target)
    init = {k: v for k, v in agent_dict.items() if k in accepted and k not in _LEGACY_NOT_SETTINGS}
    imports = agent_dict.get("authorized_imports")
    if imports is not None and "additional_authorized_imports" in accepted:
        from .._sandbox_defaults import BASE_BUILTIN_MODULES

        init.setdefault("additional_authorized_imports", sorted(set(imports) - set(BASE_BUILTIN_MODULES)))
    ignored = sorted(set(agent_dict) - accepted - _LEGACY_NOT_SETTINGS - {"authorized_imports"})
    if ignored:
        import logging

        logging.getLogger(__name__).info("Loading %s: ignored settings %s", target.__name__, ignored)
    return init


def _init_parameters(target: type) -> set[str]:
    """Names of the constructor arguments of ``target`` and the agent classes it extends."""
    import inspect

    names: set[str] = set()
    for klass in target.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for name, param in inspect.signature(init).parameters.items():
            if name != "self" and param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                names.add(name)
    return names


def _load_tool(entry: Any, folder: Path | None) -> Any:
    """A tool from its dict (with ``code``), or by name from ``tools/<name>.py`` in ``folder``."""
    from ..tools import Tool

    if isinstance(entry, dict):
        return Tool.from_dict(entry)
    if not isinstance(entry, str):
        raise UserError(f"A tool entry in agent.json must be a dict or a tool name, got {entry!r}.")
    if folder is None:
        raise UserError(
            f"agent.json lists the tool {entry!r} by name only; its code is in the agent's folder "
            f"(tools/{entry}.py). Load the folder with from_folder(...) instead of from_dict."
        )
    path = folder / "tools" / f"{entry}.py"
    if not path.is_file():
        raise UserError(f"agent.json lists the tool {entry!r}, but {path} does not exist.")
    return Tool.from_code(path.read_text(encoding="utf-8"))


def _load_managed_agents(entries: Any, classes: dict[str, type], folder: Path | None) -> list[Any]:
    """Managed agents from full dicts (our layout) or ``{name: class}`` naming sub-folders."""
    if isinstance(entries, list):
        return [agent_from_dict(classes["MultiStepAgent"], d, folder=None) for d in entries]
    if not isinstance(entries, dict):
        raise UserError(f"managed_agents in agent.json must be a list or a dict, got {entries!r}.")
    if folder is None:
        raise UserError(
            f"agent.json names its managed agents {sorted(entries)}; they are saved in the agent's folder "
            "(managed_agents/<name>/). Load the folder with from_folder(...) instead of from_dict."
        )
    agents = []
    for name, class_name in entries.items():
        sub_cls = classes.get(class_name, classes["MultiStepAgent"])
        agents.append(load_agent_folder(sub_cls, folder / "managed_agents" / name))
    return agents


def save_agent(agent: MultiStepAgent, output_dir: str | Path, relative_path: str | None = None) -> None:
    """Write the agent's folder (see the module docstring)."""
    import yaml

    folder = Path(output_dir) / (relative_path or "")
    folder.mkdir(parents=True, exist_ok=True)
    data = agent_to_dict(agent)
    (folder / "tools").mkdir(exist_ok=True)
    tool_files = {tool_data["name"]: tool_data["code"] for tool_data in data["tools"]}
    tool_files.setdefault(
        "final_answer", agent.tools["final_answer"].to_dict()["code"]
    )  # as the Hub layout has
    for name, code in tool_files.items():
        (folder / "tools" / f"{name}.py").write_text(code, encoding="utf-8")
    for name, sub in agent.managed_agents.items():
        save_agent(sub, folder / "managed_agents", name)
    (folder / "agent.json").write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    (folder / "prompts.yaml").write_text(
        yaml.safe_dump(dict(agent.prompt_templates), sort_keys=False), encoding="utf-8"
    )
    (folder / "requirements.txt").write_text("\n".join(data["requirements"]) + "\n", encoding="utf-8")
    (folder / "app.py").write_text(_APP, encoding="utf-8")


def load_agent_folder(cls: type, folder: str | Path, **kwargs: Any) -> MultiStepAgent:
    """Load an agent written by :func:`save_agent` (or shared on the Hub in the older layout);
    ``prompts.yaml`` edits are honoured."""
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
    return agent_from_dict(cls, data, folder=folder, **kwargs)


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
) -> Any:
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


_Agent = TypeVar("_Agent", bound="SavedAgent")


class SavedAgent:
    """The saving and loading methods of agents (``to_dict``, ``save``, ``from_folder``,
    the Hub), delegating to the functions of this module."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description of the agent (tools' code included, no secrets)."""
        return agent_to_dict(cast("MultiStepAgent", self))

    @classmethod
    def from_dict(cls: type[_Agent], agent_dict: dict[str, Any], **kwargs: Any) -> _Agent:
        """Rebuild an agent from :meth:`to_dict` output (or the older Hub layout); ``kwargs``
        override stored values."""
        return cast(_Agent, agent_from_dict(cls, agent_dict, **kwargs))

    def save(self, output_dir: str | Path, relative_path: str | None = None) -> None:
        """Write the agent to a folder: agent.json, prompts.yaml, tools/, managed_agents/, app.py."""
        save_agent(cast("MultiStepAgent", self), output_dir, relative_path)

    @classmethod
    def from_folder(cls: type[_Agent], folder: str | Path, **kwargs: Any) -> _Agent:
        """Load an agent saved with :meth:`save` (runs its tools' code: trust the folder)."""
        return cast(_Agent, load_agent_folder(cls, folder, **kwargs))

    def push_to_hub(
        self,
        repo_id: str,
        commit_message: str = "Upload agent",
        private: bool | None = None,
        token: bool | str | None = None,
        create_pr: bool = False,
    ) -> str:
        """Upload the agent to a Space on the Hugging Face Hub."""
        return push_agent(cast("MultiStepAgent", self), repo_id, commit_message, private, token, create_pr)

    @classmethod
    def from_hub(
        cls: type[_Agent],
        repo_id: str,
        token: str | None = None,
        trust_remote_code: bool = False,
        **kwargs: Any,
    ) -> _Agent:
        """Load an agent from the Hub; needs ``trust_remote_code=True`` since it runs code."""
        return cast(
            _Agent, pull_agent(cls, repo_id, token=token, trust_remote_code=trust_remote_code, **kwargs)
        )
