"""Prompt templates: YAML files rendered with Jinja (undefined variables are errors)."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping
from typing import Any, TypedDict

from ..errors import UserError

__all__ = [
    "EMPTY_PROMPT_TEMPLATES",
    "LEGACY_PLANNING_KEYS",
    "FinalAnswerPromptTemplate",
    "ManagedAgentPromptTemplate",
    "PlanningPromptTemplate",
    "PromptTemplates",
    "load_prompt_templates",
    "merge_prompt_templates",
    "populate_template",
]


class PlanningPromptTemplate(TypedDict):
    """Planning prompts: the first plan, and the messages around the history for updates."""

    initial_plan: str
    update_plan_pre_messages: str
    update_plan_post_messages: str


class ManagedAgentPromptTemplate(TypedDict):
    """How a managed agent receives its task and how its answer is reported back."""

    task: str
    report: str


class FinalAnswerPromptTemplate(TypedDict):
    """Messages around the history when max_steps forces a final answer."""

    pre_messages: str
    post_messages: str


class PromptTemplates(TypedDict):
    """Every prompt an agent uses; ``agent.prompt_templates[...]`` is editable."""

    system_prompt: str
    planning: PlanningPromptTemplate
    managed_agent: ManagedAgentPromptTemplate
    final_answer: FinalAnswerPromptTemplate


EMPTY_PROMPT_TEMPLATES = PromptTemplates(
    system_prompt="",
    planning=PlanningPromptTemplate(
        initial_plan="", update_plan_pre_messages="", update_plan_post_messages=""
    ),
    managed_agent=ManagedAgentPromptTemplate(task="", report=""),
    final_answer=FinalAnswerPromptTemplate(pre_messages="", post_messages=""),
)


LEGACY_PLANNING_KEYS = ("initial_facts", "update_facts_pre_messages", "update_facts_post_messages")
"""Planning prompts of older agents (a separate facts survey) that this version ignores."""


def load_prompt_templates(name: str) -> PromptTemplates:
    """Load one of the packaged YAML prompt files (e.g. ``"toolcalling_agent"``).

    Parsed once per process (YAML parsing was most of an agent's construction time); each
    caller gets its own copy to edit."""
    return copy.deepcopy(_parsed_prompt_file(name))


@functools.lru_cache(maxsize=16)
def _parsed_prompt_file(name: str) -> PromptTemplates:
    from pathlib import Path

    # the package's own files, read directly (importlib.resources pulls in zipfile & co)
    text = (Path(__file__).parent.parent / "prompts" / f"{name}.yaml").read_text(encoding="utf-8")
    parsed = parse_block_yaml(text)
    if parsed is not None:  # our files' shape: no YAML library to import (~20 ms of construction)
        return parsed  # type: ignore[return-value]
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster
    return yaml.load(text, Loader=loader)  # type: ignore[no-any-return]


_KEY_LINE = re.compile(r"( *)([A-Za-z_][A-Za-z0-9_]*):( \|-)? *")


def parse_block_yaml(text: str) -> dict[str, Any] | None:
    """Parse the YAML subset our packaged prompt files use: nested mappings (two-space
    indents) whose leaves are ``|-`` block scalars. None for anything else (the caller then
    uses a real YAML parser); a test checks it agrees with PyYAML on every packaged file."""
    root: dict[str, Any] = {}
    parents: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _KEY_LINE.fullmatch(line)
        if match is None:
            return None
        indent, key = len(match.group(1)), match.group(2)
        while parents[-1][0] >= indent:
            parents.pop()
        container = parents[-1][1]
        if key in container:
            return None
        if match.group(3) is None:  # a nested mapping follows
            child: dict[str, Any] = {}
            container[key] = child
            parents.append((indent, child))
            continue
        block: list[str] = []
        while index < len(lines) and (not lines[index].strip() or _indent(lines[index]) > indent):
            block.append(lines[index])
            index += 1
        content = [entry for entry in block if entry.strip()]
        if not content:
            return None
        margin = _indent(content[0])  # YAML takes the block's indentation from its first line
        if any(_indent(entry) < margin or "\t" in entry[:margin] for entry in content):
            return None
        if any(not entry.strip() and len(entry) > margin for entry in block):
            return None  # spaces past the indentation on a blank line are content in YAML
        container[key] = "\n".join(entry[margin:] if entry.strip() else "" for entry in block).rstrip("\n")
    return root if _no_empty_mapping(root) else None


def _no_empty_mapping(mapping: dict[str, Any]) -> bool:
    """YAML reads a key with nothing under it as null, not as an empty mapping."""
    return all(
        not isinstance(value, dict) or (value and _no_empty_mapping(value)) for value in mapping.values()
    )


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


@functools.lru_cache(maxsize=256)
def _compiled_template(source: str) -> Any:
    """Jinja compiles a template to Python code: do it once per distinct template text."""
    from jinja2 import StrictUndefined, Template

    return Template(source, undefined=StrictUndefined)


def merge_prompt_templates(user: Mapping[str, Any] | None, defaults: PromptTemplates) -> PromptTemplates:
    """User templates override the defaults key by key; unknown keys are an error.

    ``planning.plan`` (the documented name) is accepted as ``planning.initial_plan``; the
    facts prompts of older saved agents (``LEGACY_PLANNING_KEYS``) are dropped: planning no
    longer has a separate facts phase.
    """
    merged: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in defaults.items()}
    if not user:
        return merged  # type: ignore[return-value]
    for key, value in user.items():
        if key not in EMPTY_PROMPT_TEMPLATES:
            raise UserError(
                f"Unknown prompt template key {key!r}. Valid keys are: {sorted(EMPTY_PROMPT_TEMPLATES)}."
            )
        if isinstance(EMPTY_PROMPT_TEMPLATES[key], dict):  # type: ignore[literal-required]
            if not isinstance(value, dict):
                raise UserError(f"Prompt template {key!r} must be a dict, got {type(value).__name__}.")
            value = dict(value)
            if key == "planning" and "plan" in value and "initial_plan" not in value:
                value["initial_plan"] = value.pop("plan")
            if key == "planning":  # agents shared on the Hub still carry the retired facts prompts
                for retired in LEGACY_PLANNING_KEYS:
                    value.pop(retired, None)
            unknown = set(value) - set(EMPTY_PROMPT_TEMPLATES[key])  # type: ignore[literal-required]
            if unknown:
                raise UserError(
                    f"Unknown keys {sorted(unknown)} in prompt template {key!r}; valid keys are "
                    f"{sorted(EMPTY_PROMPT_TEMPLATES[key])}."  # type: ignore[literal-required]
                )
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged  # type: ignore[return-value]


def populate_template(template: str, variables: dict[str, Any]) -> str:
    """Render a Jinja template; a placeholder with no value raises an error naming it."""
    from jinja2 import TemplateError

    try:
        return str(_compiled_template(template).render(**variables))
    except TemplateError as exc:
        raise UserError(
            f"Could not render a prompt template: {exc}. Available variables: {sorted(variables)}. "
            "Fix the template or pass the missing value."
        ) from exc
