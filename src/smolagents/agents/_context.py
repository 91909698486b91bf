"""Context policy: a bounded *view* of memory for each model call.

By default an agent replays its whole memory at every step, so prompt tokens grow with the
square of the run's length. A :class:`ContextPolicy` changes only how messages are built
from memory (``write_memory_to_messages``): ``agent.memory`` itself is never rewritten, so
``agent.replay()``, serialisation, telemetry and ``RunResult.steps`` still see everything.

The view, in order:

1. steps older than the last ``keep_last_steps`` are folded into one summary (by the
   ``summarizer`` model, or a deterministic digest). The summary is cached on the agent and
   *extended* with newly-old steps, never recomputed from scratch while memory grows; once a
   step is folded it stays folded;
2. long observations are cut with a visible note pointing at the full text in memory;
3. images of older steps are dropped (the last ``keep_images_steps`` steps keep theirs);
4. if the prompt is still over ``max_input_tokens``, more steps are folded, then the summary
   is shortened from its oldest lines; a prompt that cannot fit (system prompt and task alone
   are too big) stops the run with :class:`ContextBudgetError`;
5. provider prompt-caching hints mark the stable prefix (see ``_context_cache.py``).

The summarizer model is called through the run loop's effects (``ModelCall``), so async
runs await it like any model call.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._monitoring_types import LogLevel
from ..errors import AgentGenerationError, UserError
from ..memory import ActionStep, MemoryStep, PlanningStep, TaskStep, safe_text
from ..models import ChatMessage, MessageRole
from ._context_cache import add_cache_hints, cache_style
from ._loop import ModelCall

__all__ = ["ContextBudgetError", "ContextPolicy", "ContextView"]

_FOLDABLE = (ActionStep, PlanningStep)
IMAGE_TOKEN_ESTIMATE = 1000
"""Tokens counted per image when estimating (providers charge roughly 800-1600)."""


class ContextBudgetError(AgentGenerationError):
    """The prompt cannot be made to fit ``max_input_tokens`` (it ends the run: retrying the
    step would build the same prompt)."""


@dataclass(frozen=True)
class ContextPolicy:
    """How much of memory each model call sees. Every field None means full replay.

    Args:
        max_input_tokens: hard cap on the prompt's tokens (messages, plus tool schemas for a
            ToolCallingAgent). Counted with ``count_tokens`` if given, else the model's
            tokenizer when it has one, else an estimate (~3 characters per token, which
            over-counts English); the agent logs which.
        keep_last_steps: steps (actions and plans) shown verbatim; older ones are replaced
            by one summary.
        max_observation_chars: observations longer than this are cut in the prompt, with a
            note; the full text stays in ``agent.memory.steps[i].observations``.
        summarizer: a Model writing the summary of old steps; None uses a deterministic
            digest (tool calls made, errors, key results) that costs no model call.
        max_summary_chars: the digest keeps one line per step up to this size; beyond it the
            oldest lines are collapsed into counts (steps, tools called, errors), so the
            summary, and the prompt, stop growing.
        summarize_every: fold old steps in batches of this many. 1 keeps exactly the last
            ``keep_last_steps`` verbatim (a flat prompt); larger values keep the summary,
            and so the provider's cached prefix, unchanged for that many steps, and call the
            summarizer that much less often.
        keep_images_steps: how many of the latest steps keep their observation images.
        cache_hints: provider prompt-caching marks; None adds them for models known to
            support them (LiteLLM Anthropic/Claude/Bedrock ids, AmazonBedrockModel).
        count_tokens: ``text -> int`` used to count tokens, e.g. a tiktoken encoder's
            ``lambda t: len(enc.encode(t))``.
    """

    max_input_tokens: int | None = None
    keep_last_steps: int | None = None
    max_observation_chars: int | None = None
    summarizer: Any = None
    summarize_every: int = field(default=1, kw_only=True)
    max_summary_chars: int = field(default=3000, kw_only=True)
    keep_images_steps: int = field(default=1, kw_only=True)
    cache_hints: bool | None = field(default=None, kw_only=True)
    count_tokens: Callable[[str], int] | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        for name, minimum in (
            ("max_input_tokens", 1),
            ("keep_last_steps", 0),
            ("max_observation_chars", 20),
        ):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < minimum
            ):
                raise UserError(
                    f"ContextPolicy({name}={value!r}): must be an integer >= {minimum}, or None to disable it."
                )
        for name in ("summarize_every", "keep_images_steps", "max_summary_chars"):
            value = getattr(self, name)
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or value < (1 if name == "summarize_every" else 0)
            ):
                raise UserError(f"ContextPolicy({name}={value!r}): must be a positive integer.")
        if self.summarizer is not None and not callable(getattr(self.summarizer, "generate", None)):
            raise UserError(
                f"ContextPolicy(summarizer={self.summarizer!r}): the summarizer must be a Model (with "
                "generate()), or None for the deterministic digest."
            )
        if self.count_tokens is not None and not callable(self.count_tokens):
            raise UserError(
                "ContextPolicy(count_tokens=...) must be a callable taking text and returning an int."
            )


# --------------------------------------------------------------------------- token counting
def token_counter(policy: ContextPolicy, model: Any) -> tuple[Callable[[str], int], str]:
    """The text counter to use and how to name it in the logs."""
    if policy.count_tokens is not None:
        return policy.count_tokens, "the count_tokens function of the ContextPolicy"
    tokenizer = getattr(model, "tokenizer", None)
    encode = getattr(tokenizer, "encode", None)
    if callable(encode):
        return (lambda text: len(encode(text))), f"the model's tokenizer ({type(tokenizer).__name__})"
    return (
        lambda text: math.ceil(len(text) / 3)
    ), "an estimate (1 token per 3 characters; no tokenizer known)"


def count_message_tokens(messages: list[ChatMessage], count: Callable[[str], int]) -> int:
    total = 0
    for message in messages:
        total += 4  # role and separators
        content = message.content
        if isinstance(content, str):
            total += count(content)
            continue
        for part in content or []:
            if part.get("type") == "text":
                total += count(str(part.get("text", "")))
            elif part.get("type") in ("image", "image_url"):
                total += IMAGE_TOKEN_ESTIMATE
    return total


# --------------------------------------------------------------------------- digest
def _one_line(text: Any, limit: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _ends(text: Any, limit: int) -> str:
    """Start and end of a long text on one line: results are usually printed last."""
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    return f"{flat[: limit // 2 - 3]} ... {flat[len(flat) - limit // 2 :]}"


def step_digest(step: MemoryStep) -> str:
    """A short deterministic record of one step: calls made, error, key result."""
    if isinstance(step, PlanningStep):
        return f"- Plan: {_one_line(step.plan, 300)}"
    if not isinstance(step, ActionStep):
        return ""
    parts = []
    for call in step.tool_calls or []:
        if call.name == "python_interpreter" and isinstance(call.arguments, str):
            parts.append(f"ran code `{_one_line(call.arguments, 160)}`")
        else:
            arguments = json.dumps(call.arguments, default=str, ensure_ascii=False)
            parts.append(f"called {call.name}({_one_line(arguments, 120)})")
    if step.error is not None:
        parts.append(f"error: {type(step.error).__name__}: {_one_line(step.error, 200)}")
    if step.action_output is not None:
        parts.append(f"result: {_one_line(safe_text(step.action_output), 200)}")
    elif step.observations:
        parts.append(f"observed: {_ends(step.observations, 200)}")
    return f"- Step {step.step_number}: " + ("; ".join(parts) if parts else "no action")


class _Digest:
    """The deterministic summary: one line per step, the oldest collapsed into counts once
    the lines pass ``max_summary_chars``; extended step by step, never rebuilt."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, MemoryStep]] = []
        self.collapsed = 0
        self.calls: dict[str, int] = {}
        self.errors = 0
        self.last_error = ""

    def add(self, steps: Sequence[MemoryStep]) -> None:
        self.lines.extend((line, s) for s in steps if (line := step_digest(s)))

    def render(self, max_chars: int) -> str:
        while len(self.lines) > 1 and sum(len(line) + 1 for line, _ in self.lines) > max_chars:
            _, step = self.lines.pop(0)
            self.collapsed += 1
            if isinstance(step, ActionStep):
                for call in step.tool_calls or []:
                    name = "code runs" if call.name == "python_interpreter" else call.name
                    self.calls[name] = self.calls.get(name, 0) + 1
                if step.error is not None:
                    self.errors += 1
                    self.last_error = _one_line(step.error, 120)
        lines = [line for line, _ in self.lines]
        if self.collapsed:
            calls = ", ".join(f"{name} x{count}" for name, count in self.calls.items()) or "none"
            errors = f"{self.errors} (last: {self.last_error})" if self.errors else "0"
            lines.insert(0, f"- {self.collapsed} earlier steps, in brief: calls: {calls}; errors: {errors}")
        return "\n".join(lines)


_SUMMARIZER_SYSTEM = (
    "You keep the running summary of an AI agent's work on a task, so that the agent can continue "
    "without seeing its old steps. Update the summary with the new steps. Keep what the agent needs: "
    "tool calls made and their key results (numbers, names, paths, URLs), errors and what fixed them, "
    "decisions taken, open leads. Be concise and factual. Answer with the updated summary only."
)


# --------------------------------------------------------------------------- the view
class ContextView:
    """The policy's state for one memory: the cached summary and the token counter."""

    def __init__(self, policy: ContextPolicy, memory: Any, model: Any, logger: Any) -> None:
        self.policy = policy
        self.memory = memory
        self.model = model
        self.logger = logger
        self.folded: list[MemoryStep] = []  # steps in the summary, oldest first
        self.summary = ""
        self._digest = _Digest()
        self.summary_updates = 0  # how many times the summary was extended (tests read it)
        self._count, self.counter_name = token_counter(policy, model)
        self._announced = False

    # ------------------------------------------------------------------ public flow
    def messages_flow(
        self, summary_mode: bool = False, overhead_text: Callable[[], str] | None = None
    ) -> Generator[Any, Any, list[ChatMessage]]:
        """Build the prompt; yields a ``ModelCall`` effect when the summarizer must run.

        ``overhead_text`` gives what is sent besides the messages (tool schemas), counted
        against ``max_input_tokens``; it is only called when there is a budget."""
        policy = self.policy
        if policy.max_input_tokens is not None and not self._announced:
            self._announced = True
            self.logger.log(
                f"Context policy: prompt tokens are counted with {self.counter_name} "
                f"(max_input_tokens={policy.max_input_tokens}).",
                level=LogLevel.INFO,
            )
        steps = list(self.memory.steps)
        foldable = [s for s in steps if isinstance(s, _FOLDABLE)]
        if len(self.folded) > len(foldable) or any(a is not b for a, b in zip(self.folded, foldable)):
            self.folded, self.summary, self._digest = [], "", _Digest()  # memory reset or replaced
        target = len(self.folded)
        if policy.keep_last_steps is not None:
            due = len(foldable) - policy.keep_last_steps
            if due - len(self.folded) >= policy.summarize_every:
                target = due
        yield from self._fold_to(foldable, target)
        messages = self._build(steps, foldable, summary_mode)
        if policy.max_input_tokens is None:
            return messages
        extra = overhead_text() if overhead_text is not None else ""
        overhead = self._count(extra) if extra else 0
        while self._tokens(messages) + overhead > policy.max_input_tokens and len(self.folded) < len(
            foldable
        ):
            yield from self._fold_to(foldable, len(self.folded) + 1)
            self.logger.log(
                f"Context policy: prompt over max_input_tokens={policy.max_input_tokens}; folded step "
                f"{len(self.folded)} of {len(foldable)} into the summary.",
                level=LogLevel.DEBUG,
            )
            messages = self._build(steps, foldable, summary_mode)
        summary_lines = self.summary.splitlines()
        cut = 0
        while self._tokens(messages) + overhead > policy.max_input_tokens and cut < len(summary_lines):
            cut = min(len(summary_lines), max(cut + 1, cut * 2))
            kept = [f"[{cut} older summary lines dropped to fit max_input_tokens]", *summary_lines[cut:]]
            messages = self._build(steps, foldable, summary_mode, summary_override="\n".join(kept))
        total = self._tokens(messages) + overhead
        if total > policy.max_input_tokens:
            raise ContextBudgetError(
                f"The prompt needs {total} tokens (counted with {self.counter_name}) even with every step "
                f"summarised, more than ContextPolicy(max_input_tokens={policy.max_input_tokens}): the system "
                "prompt, tool descriptions and task alone are too long. Raise max_input_tokens, or shorten "
                "the task, instructions or tool descriptions."
            )
        return messages

    def _tokens(self, messages: list[ChatMessage]) -> int:
        return count_message_tokens(messages, self._count)

    # ------------------------------------------------------------------ summary
    def _fold_to(self, foldable: Sequence[MemoryStep], target: int) -> Generator[Any, Any, None]:
        new = foldable[len(self.folded) : target]
        if not new:
            return
        digest = "\n".join(line for line in (step_digest(s) for s in new) if line)
        if self.policy.summarizer is None:
            self._digest.add(new)
            self.summary = self._digest.render(self.policy.max_summary_chars)
        else:
            self.summary = yield from self._summarize(new, digest)
        self.folded.extend(new)
        self.summary_updates += 1

    def _summarize(self, new: Sequence[MemoryStep], digest: str) -> Generator[Any, Any, str]:
        details = []
        for step in new:
            details.append(step_digest(step))
            if isinstance(step, ActionStep) and step.observations:
                details.append(f"  full observation: {_one_line(step.observations, 2000)}")
        task = next((s.task for s in reversed(self.memory.steps) if isinstance(s, TaskStep)), "")
        prompt = (
            f"Task of the agent:\n{_one_line(task, 2000)}\n\nCurrent summary:\n{self.summary or '(none yet)'}"
            "\n\nNew steps to fold into the summary:\n" + "\n".join(details)
        )
        messages = [
            ChatMessage(role=MessageRole.SYSTEM, content=[{"type": "text", "text": _SUMMARIZER_SYSTEM}]),
            ChatMessage(role=MessageRole.USER, content=[{"type": "text", "text": prompt}]),
        ]
        try:
            reply = yield ModelCall(self.policy.summarizer, messages, {})
        except AgentGenerationError as exc:  # a failing summarizer must not end the run
            self.logger.log(
                f"Context policy: the summarizer failed ({exc}); using the deterministic digest for these steps.",
                level=LogLevel.INFO,
            )
            return f"{self.summary}\n{digest}".strip()
        text = reply.text.strip()
        return text or f"{self.summary}\n{digest}".strip()

    # ------------------------------------------------------------------ messages
    def _build(
        self,
        steps: list[Any],
        foldable: Sequence[MemoryStep],
        summary_mode: bool,
        summary_override: str | None = None,
    ) -> list[ChatMessage]:
        policy = self.policy
        folded = {id(s) for s in self.folded}
        image_steps = [
            s for s in steps if isinstance(s, ActionStep) and s.observations_images and id(s) not in folded
        ]
        keep_images = (
            {id(s) for s in image_steps[len(image_steps) - policy.keep_images_steps :]}
            if policy.keep_images_steps
            else set()
        )
        messages: list[ChatMessage] = self.memory.system_prompt.to_messages(summary_mode=summary_mode)
        prefix: list[ChatMessage] = []  # tasks before the kept steps, and the summary
        body: list[ChatMessage] = []
        first_kept = next(
            (i for i, s in enumerate(steps) if isinstance(s, _FOLDABLE) and id(s) not in folded), len(steps)
        )
        for index, step in enumerate(steps):
            if id(step) in folded:
                continue
            if isinstance(step, ActionStep):
                step = self._step_view(step, index, id(step) in keep_images)
            (prefix if index < first_kept and self.folded else body).extend(
                step.to_messages(summary_mode=summary_mode)
            )
        summary = self.summary if summary_override is None else summary_override
        if self.folded:
            numbers = [s.step_number for s in self.folded if isinstance(s, ActionStep)]
            span = f"steps {min(numbers)}-{max(numbers)}" if numbers else "the earlier plans"
            text = (
                f"Summary of {span} (older steps are summarised to keep the prompt short; the full record is "
                f"in the agent's memory):\n{summary}"
            )
            prefix.append(ChatMessage(role=MessageRole.USER, content=[{"type": "text", "text": text}]))
        messages.extend(prefix)
        stable_end = len(messages) - 1 if prefix else (1 if len(messages) > 1 else 0)
        messages.extend(body)
        style = cache_style(policy.cache_hints, self.model)
        if style is not None:
            messages = add_cache_hints(messages, style, stable_end, self.model)
        return messages

    def _step_view(self, step: ActionStep, index: int, keep_images: bool) -> ActionStep:
        """A shallow copy with the observation cut and old images dropped (memory untouched)."""
        changes: dict[str, Any] = {}
        observations = step.observations
        limit = self.policy.max_observation_chars
        if observations is not None and limit is not None and len(observations) > limit:
            head, tail = observations[: limit * 2 // 3], observations[len(observations) - limit // 3 :]
            cut = len(observations) - len(head) - len(tail)
            observations = (
                f"{head}\n[... {cut} characters cut from this observation by the context policy "
                f"(max_observation_chars={limit}); the full text is in agent.memory.steps[{index}].observations "
                f"...]\n{tail}"
            )
            changes["observations"] = observations
        if step.observations_images and not keep_images:
            note = (
                f"[{len(step.observations_images)} image(s) of this older step dropped by the context policy]"
            )
            changes["observations"] = f"{observations}\n{note}" if observations else note
            changes["observations_images"] = None
        return dataclasses.replace(step, **changes) if changes else step


class ContextMessages:
    """What an agent needs to build its prompts through a :class:`ContextPolicy`."""

    context_policy: ContextPolicy | None
    memory: Any
    model: Any
    logger: Any

    def _setup_context_policy(self, context_policy: ContextPolicy | None) -> None:
        if context_policy is not None and not isinstance(context_policy, ContextPolicy):
            raise UserError(
                f"context_policy must be a smolagents.ContextPolicy or None, got {context_policy!r}. "
                "Example: ContextPolicy(keep_last_steps=5, max_observation_chars=4000)."
            )
        self.context_policy = context_policy

    def _context_view(self) -> ContextView:
        """The policy's state for the current memory (a new memory, or a copy's, gets its own)."""
        assert self.context_policy is not None
        view: ContextView | None = self.__dict__.get("_context_view_state")
        if view is None or view.memory is not self.memory or view.policy is not self.context_policy:
            view = ContextView(self.context_policy, self.memory, self.model, self.logger)
            self.__dict__["_context_view_state"] = view
        return view

    def _prompt_overhead_text(self) -> str:
        """Text sent with every call besides the messages (ToolCallingAgent: tool schemas)."""
        return ""

    def _messages_flow(self, summary_mode: bool = False) -> Generator[Any, Any, list[ChatMessage]]:
        """The messages for the next model call: full replay (``write_memory_to_messages``,
        which subclasses may override) without a policy, else the policy's view."""
        if self.context_policy is None:
            return self.write_memory_to_messages(summary_mode=summary_mode)  # type: ignore[attr-defined,no-any-return]
        return (yield from self._context_view().messages_flow(summary_mode, self._prompt_overhead_text))
