"""The model calls of a run besides its actions: planning, the final-answer checks, and
the answer written from memory when ``max_steps`` runs out (a mixin of ``MultiStepAgent``)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from .._monitoring_types import LogLevel, Timing
from ..errors import AgentError, AgentGenerationError, AgentMaxStepsError
from ..memory import ActionStep, PlanningStep
from ..models._messages import ChatMessage, MessageRole
from ._callbacks import call_with_optional_agent
from ._loop import ModelCall
from ._prompts import populate_template

__all__ = ["PlanningAndAnswers"]


def _text(content: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}]


class PlanningAndAnswers:
    """Planning steps, final-answer checks and the forced answer at ``max_steps``."""

    prompt_templates: Any
    memory: Any
    logger: Any
    final_answer_checks: list[Callable[..., Any]]
    _output_spec: Any

    # provided by MultiStepAgent and its other mixins (annotations only: nothing is shadowed)
    _prompt_variables: Callable[[], dict[str, Any]]
    _messages_flow: Callable[..., Generator[Any, Any, list[ChatMessage]]]
    _model_call: Callable[..., ModelCall]
    _finish_action_step: Callable[[ActionStep], None]

    def _check_final_answer(self, answer: Any) -> None:
        for check in self.final_answer_checks:
            check_name = getattr(check, "__name__", repr(check))
            try:
                ok = call_with_optional_agent(check, answer, self.memory, agent=self)
            except Exception as exc:
                raise AgentError(
                    f"Final answer check {check_name!r} raised {type(exc).__name__}: {exc}. "
                    f"The answer {answer!r} was not accepted; fix it and give a new final answer."
                ) from exc
            if not ok:
                raise AgentError(
                    f"Final answer check {check_name!r} rejected the answer {answer!r}. "
                    "Look at what the task asks for, fix the answer and give it again."
                )

    def _planning_flow(self, task: str, step_index: int, max_steps: int) -> Generator[Any, Any, PlanningStep]:
        timing = Timing()
        templates = self.prompt_templates["planning"]
        variables = {**self._prompt_variables(), "task": task, "remaining_steps": max_steps - step_index + 1}
        # a run continued with reset=False already has history: the plan is an update of it
        initial = step_index == 1 and not any(
            isinstance(s, (ActionStep, PlanningStep)) for s in self.memory.steps
        )
        if initial:
            prompt = populate_template(templates["initial_plan"], variables)
            messages = [ChatMessage(role=MessageRole.USER, content=_text(prompt))]
        else:
            pre = populate_template(templates["update_plan_pre_messages"], variables)
            post = populate_template(templates["update_plan_post_messages"], variables)
            history = yield from self._messages_flow(summary_mode=True)
            messages = [
                ChatMessage(role=MessageRole.SYSTEM, content=_text(pre)),
                *history,
                ChatMessage(role=MessageRole.USER, content=_text(post)),
            ]
        message = yield self._model_call(messages, stop_sequences=["<end_plan>"])
        plan = message.text.split("<end_plan>")[0].strip()
        title = "Initial plan" if initial else "Updated plan"
        self.logger.log_markdown(content=plan, title=title, level=LogLevel.INFO)
        return PlanningStep(
            model_input_messages=messages,
            model_output_message=message,
            plan=plan,
            timing=timing.stop(),
            token_usage=message.token_usage,
        )

    def _final_answer_flow(self, task: str, images: list[Any] | None) -> Generator[Any, Any, ChatMessage]:
        templates = self.prompt_templates["final_answer"]
        messages = [ChatMessage(role=MessageRole.SYSTEM, content=_text(templates["pre_messages"]))]
        if images:
            messages[0].content.extend({"type": "image", "image": image} for image in images)  # type: ignore[union-attr]
        messages.extend((yield from self._messages_flow())[1:])
        post = populate_template(templates["post_messages"], {"task": task})
        messages.append(ChatMessage(role=MessageRole.USER, content=_text(post)))
        message: ChatMessage = yield self._model_call(messages)
        return message

    def _max_steps_flow(
        self, task: str, images: list[Any] | None, max_steps: int
    ) -> Generator[Any, Any, Any]:
        step = ActionStep(step_number=max_steps + 1, timing=Timing())
        step.error = AgentMaxStepsError(
            f"Reached the maximum number of steps ({max_steps}) without a final answer; "
            "the answer below was written from memory."
        )
        try:
            message = yield from self._final_answer_flow(task, images)
            step.model_output_message = message
            step.token_usage = message.token_usage
            answer: Any = message.text
            if self._output_spec is not None:  # typed if the forced answer happens to fit
                try:
                    answer = self._output_spec.validate(answer)
                except AgentError:
                    pass
        except AgentGenerationError as exc:
            answer = f"Error in generating final LLM output: {exc}"
        step.action_output = answer
        step.is_final_answer = True
        self.logger.log_error(str(step.error), level=LogLevel.ERROR)
        self._finish_action_step(step)
        yield step
        return answer
