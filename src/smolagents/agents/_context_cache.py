"""Provider prompt-caching hints for the context policy's view.

Anthropic (directly or through LiteLLM, Vertex or Bedrock) caches a prompt prefix only up
to explicit breakpoints; Bedrock's Converse API takes ``cachePoint`` blocks. The view marks:

- the system prompt (with its tools it is the same for the whole run);
- the end of the stable prefix: the task message, or the task and summary message once old
  steps are summarised (unchanged until the summary is next extended);
- the last message, so that the next step, whose history starts with this one, reads it
  from the cache.

Two formats, both carried in message content parts so no adapter needs to know about the
policy: ``"cache_control": {"type": "ephemeral"}`` on the last text part (LiteLLM passes it
to Anthropic), and a ``{"cachePoint": {"type": "default"}}`` part (the Bedrock adapter
passes Converse blocks through). Adapters merge neighbouring turns of the same role and may
rebuild their text parts; a marked message is therefore pre-merged here with same-role
neighbours, so the mark sits on the last part of its turn and survives.
"""

from __future__ import annotations

from typing import Any

from ..models import ChatMessage

__all__ = ["ANTHROPIC", "BEDROCK", "add_cache_hints", "cache_style"]

ANTHROPIC = "cache_control"
BEDROCK = "cachePoint"
_ANTHROPIC_ID_HINTS = ("anthropic", "claude", "bedrock")
_DEFAULT_ROLE_CONVERSIONS = {"tool-call": "assistant", "tool-response": "user"}


def _class_names(model: Any) -> set[str]:
    return {cls.__name__ for cls in type(model).__mro__}


def cache_style(setting: bool | None, model: Any) -> str | None:
    """Which hint format to add for ``model`` (None: none). ``setting`` True forces hints
    (Bedrock format for Bedrock models, ``cache_control`` otherwise); None decides from the
    model (LiteLLM ids naming Anthropic, Claude or Bedrock; Bedrock Claude and Nova ids);
    False disables them."""
    if setting is False:
        return None
    names = _class_names(model)
    model_id = str(getattr(model, "model_id", "") or "").lower()
    if "AmazonBedrockModel" in names:
        # Converse takes cache points for Claude and Nova models; others may reject them
        return BEDROCK if setting or any(h in model_id for h in ("anthropic", "claude", "nova")) else None
    if setting:
        return ANTHROPIC
    if names & {"LiteLLMModel", "LiteLLMRouterModel"} and any(h in model_id for h in _ANTHROPIC_ID_HINTS):
        return ANTHROPIC
    return None


def _api_role(message: ChatMessage, model: Any) -> str:
    role = str(getattr(message.role, "value", message.role))
    conversions: dict[str, str] = {
        **_DEFAULT_ROLE_CONVERSIONS,
        **(getattr(model, "custom_role_conversions", None) or {}),
    }
    return conversions.get(role, role)


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [dict(part) for part in content]


def _merged_parts(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join neighbouring plain text parts (as adapters do), so a mark is not lost to a merge."""
    out: list[dict[str, Any]] = []
    for part in parts:
        if (
            part.get("type") == "text"
            and out
            and set(out[-1]) == {"type", "text"}
            and out[-1]["type"] == "text"
        ):
            out[-1] = {"type": "text", "text": f"{out[-1]['text']}\n{part.get('text', '')}"}
        else:
            out.append(part)
    return out


def _mark(parts: list[dict[str, Any]], style: str) -> list[dict[str, Any]]:
    if style == BEDROCK:
        return [*parts, {"cachePoint": {"type": "default"}}]
    for index in range(len(parts) - 1, -1, -1):
        if parts[index].get("type") == "text":
            parts[index] = {**parts[index], "cache_control": {"type": "ephemeral"}}
            return parts
    return parts


def add_cache_hints(
    messages: list[ChatMessage], style: str, stable_end: int, model: Any
) -> list[ChatMessage]:
    """A copy of ``messages`` with cache marks on the system prompt (``cache_control`` only:
    Converse takes system text as plain blocks), at ``stable_end`` and on the last message.

    Messages are grouped into the turns the adapter will send (same API role, no native tool
    calls); a turn holding a mark becomes one message whose last part carries it."""
    targets = {stable_end, len(messages) - 1} | ({0} if style == ANTHROPIC else set())
    groups: list[list[int]] = []
    for index, message in enumerate(messages):
        previous = messages[index - 1] if index else None
        if (
            previous is not None
            and not message.tool_calls
            and not previous.tool_calls
            and _api_role(message, model) == _api_role(previous, model)
        ):
            groups[-1].append(index)
        else:
            groups.append([index])
    out: list[ChatMessage] = []
    for group in groups:
        if not targets.intersection(group) or messages[group[0]].tool_calls:
            out.extend(messages[i] for i in group)
            continue
        parts: list[dict[str, Any]] = []
        for i in group:
            parts.extend(_parts(messages[i].content))
        out.append(ChatMessage(role=messages[group[0]].role, content=_mark(_merged_parts(parts), style)))
    return out
