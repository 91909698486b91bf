"""Finding the code in a model's answer, tolerant of the ways real models format it.

Handles: the configured tags (``<code>...</code>`` by default), markdown fences (```py,
```python, bare ```), several blocks (joined in order), a missing closing tag (the model was
stopped by it), backticks inside the thought, ``<think>`` sections, and JSON answers
``{"thought": ..., "code": ...}`` for structured outputs.
"""

from __future__ import annotations

import ast
import json
import re

from ..errors import AgentParsingError

__all__ = [
    "CodeBlockTags",
    "extract_code",
    "extract_structured_code",
    "resolve_code_block_tags",
    "strip_thinking",
]

DEFAULT_TAGS = ("<code>", "</code>")
MARKDOWN_TAGS = ("```(?:python|py)", "\n```")


class CodeBlockTags:
    """Regex tags used to find code, and the literal tags shown to the model in the prompt."""

    def __init__(self, opening: str, closing: str, shown_opening: str, shown_closing: str) -> None:
        self.opening, self.closing = opening, closing
        self.shown_opening, self.shown_closing = shown_opening, shown_closing

    @property
    def stop_sequence(self) -> str | None:
        """The closing tag as a stop sequence that can never cut the opening tag.

        A real API stops at the first match anywhere in the reply, so a closing tag that also
        occurs in the opening one (markdown: ``` in ```python) would cut the reply before any
        code. Then the closing tag followed by a newline is used, as the model writes it at
        the end of a block but never inside ``{opening}\n``; None when nothing is safe (the
        model then runs to its end or another stop sequence)."""
        for candidate in (self.shown_closing, self.shown_closing + "\n", "\n" + self.shown_closing + "\n"):
            if candidate.strip() and not self.cuts_opening(candidate):
                return candidate
        return None

    def cuts_opening(self, stop: str) -> bool:
        """Whether ``stop`` would match inside the opening tag as the model writes it."""
        return stop in "\n" + self.shown_opening + "\n"


def resolve_code_block_tags(code_block_tags: str | tuple[str, str] | None) -> CodeBlockTags:
    if code_block_tags is None:
        return CodeBlockTags(re.escape(DEFAULT_TAGS[0]), re.escape(DEFAULT_TAGS[1]), *DEFAULT_TAGS)
    if code_block_tags == "markdown":
        return CodeBlockTags(*MARKDOWN_TAGS, "```python", "```")
    if (
        isinstance(code_block_tags, (tuple, list))
        and len(code_block_tags) == 2
        and all(isinstance(t, str) and t for t in code_block_tags)
    ):
        opening, closing = code_block_tags
        for tag in (opening, closing):
            try:
                re.compile(tag)
            except re.error as exc:
                raise AgentParsingError(
                    f"code_block_tags entry {tag!r} is not a valid regex: {exc}."
                ) from exc
        return CodeBlockTags(opening, closing, opening, closing)
    from ..errors import UserError

    raise UserError(
        f"code_block_tags must be None, 'markdown', or a (opening, closing) tuple of strings; got {code_block_tags!r}."
    )


_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)


def strip_thinking(text: str) -> str:
    """Remove ``<think>`` sections, even an unterminated one, so their code is never run."""
    if "</think>" in text and "<think>" not in text:
        text = text.split("</think>", 1)[1]
    return _THINK.sub("", text)


def _blocks(text: str, opening: str, closing: str) -> list[str]:
    pattern = re.compile(f"{opening}(.*?)(?:{closing}|$)", re.DOTALL)
    return [m.group(1) for m in pattern.finditer(text)]


def _looks_like_code(text: str) -> bool:
    stripped = text.strip()
    if not stripped or ("\n" not in stripped and not re.search(r"[=(]", stripped)):
        return False
    try:
        tree = ast.parse(stripped)
    except SyntaxError:
        return False
    return any(not isinstance(node, ast.Expr) or isinstance(node.value, ast.Call) for node in tree.body)


def _clean(block: str) -> str:
    block = block.strip("\n")
    # a fence language marker right after an XML-style opening tag: <code>```python ... ```</code>
    block = re.sub(r"^\s*```(?:python|py)?\s*\n", "", block)
    block = re.sub(r"\n\s*```\s*$", "", block)
    return block.strip("\n")


def extract_code(text: str, tags: CodeBlockTags) -> str:
    """The code of a model answer; raises AgentParsingError explaining the expected format."""
    visible = strip_thinking(text)
    candidates = [
        (tags.opening, tags.closing),
        (MARKDOWN_TAGS[0], MARKDOWN_TAGS[1]),
        (re.escape(DEFAULT_TAGS[0]), re.escape(DEFAULT_TAGS[1])),
        (r"```\s*\n", r"\n```"),
    ]
    for opening, closing in candidates:
        blocks = [_clean(b) for b in _blocks(visible, opening, closing)]
        blocks = [b for b in blocks if b.strip()]
        if blocks:
            return "\n\n".join(blocks)
    if _looks_like_code(visible):
        return visible.strip()
    raise AgentParsingError(
        "Could not find a code block in your answer. Write your reasoning, then your code between "
        f"{tags.shown_opening} and {tags.shown_closing}, like this:\n"
        f"Thought: I will compute the result.\n{tags.shown_opening}\nresult = 2 + 2\nfinal_answer(result)\n"
        f"{tags.shown_closing}\nYour answer was:\n{text[:2000]}"
    )


def extract_structured_code(text: str, tags: CodeBlockTags) -> tuple[str, str]:
    """(thought, code) from a structured answer ``{"thought": ..., "code": ...}``."""
    visible = strip_thinking(text).strip()
    match = re.search(r"\{.*\}", visible, re.DOTALL)
    try:
        data = json.loads(match.group(0) if match else visible)
    except (json.JSONDecodeError, AttributeError) as exc:
        raise AgentParsingError(
            'Your answer must be a JSON object {"thought": "...", "code": "..."}; it could not be parsed '
            f"({exc}). Your answer was:\n{text[:2000]}"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("code"), str):
        raise AgentParsingError(
            f'Your JSON answer needs a string field "code" (and "thought"); got: {str(data)[:500]}'
        )
    code = data["code"]
    blocks = [b for b in _blocks(code, tags.opening, tags.closing) if b.strip()]
    if blocks:
        code = "\n\n".join(_clean(b) for b in blocks)
    return str(data.get("thought", "")), _clean(code)
