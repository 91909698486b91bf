"""MultiStepAgent: configuration, the public run API, and the one ReAct run flow.

The flow (``_run_flow``) is a generator written once; ``run``, ``run(stream=True)``,
``arun`` and ``astream`` are drivers of it (see ``_loop.py``). Subclasses only provide the
action of one step (``_step_flow``) and their system prompt.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any, cast

from .._monitoring_types import LogLevel, Timing, TokenUsage
from ..agent_types import handle_agent_output_types
from ..errors import AgentError, AgentGenerationError, MissingDependencyError, UserError
from ..memory import (
    ActionOutput,
    ActionStep,
    AgentMemory,
    FinalAnswerStep,
    MemoryStep,
    PlanningStep,
    RunResult,
    SystemPromptStep,
    TaskStep,
    safe_text,
)
from ..models._messages import ChatMessage
from ..monitoring import AgentLogger
from ..tools import Tool
from ._approval import ApprovalPause
from ._approval_runs import ApprovalCallback, ApprovalPolicy, ApprovalRuns
from ._callbacks import CallbackRegistry
from ._concurrent import ConcurrentRuns, RunArgs
from ._context import ContextMessages, ContextPolicy
from ._durable import new_durable_run
from ._loop import ModelCall, run_flow_to_end
from ._managed import ManagedAgentCalls, ManagedAgentTool, managed_agent_inputs
from ._planning import PlanningAndAnswers
from ._prompts import EMPTY_PROMPT_TEMPLATES, PromptTemplates, merge_prompt_templates, populate_template
from ._resume import DurableRuns
from ._run_routing import take_routed_run
from ._serialization import SavedAgent
from ._telemetry_seams import TelemetrySeams
from ._typed_output import DEFAULT_OUTPUT_RETRIES, TypedOutputRuns

__all__ = ["MultiStepAgent"]


class MultiStepAgent(
    ContextMessages,
    TypedOutputRuns,
    ManagedAgentCalls,
    ConcurrentRuns,
    SavedAgent,
    ApprovalRuns,
    DurableRuns,
    TelemetrySeams,
    PlanningAndAnswers,
):
    """Solves a task step by step (ReAct): the model acts, the agent observes, until a
    final answer or ``max_steps``.

    Subclasses: :class:`CodeAgent` (actions are Python code) and :class:`ToolCallingAgent`
    (actions are JSON tool calls).

    ``context_policy`` (a :class:`ContextPolicy`) bounds the prompt built from memory;
    ``output_type`` / ``output_retries`` make every run typed (see ``run``).
    ``approval_callback`` / ``approval_policy`` / ``approval_timeout``: tool approval (see
    ``_approval_runs.py``).
    """

    _default_prompts: str = ""
    _base_tool_names: tuple[str, ...] = ()
    inputs: dict[str, dict[str, Any]]  # set when the agent is managed: how its manager calls it
    output_type: str

    def __init__(
        self,
        tools: list[Tool],
        model: Any,
        prompt_templates: PromptTemplates | None = None,
        instructions: str | None = None,
        max_steps: int = 20,
        add_base_tools: bool = False,
        verbosity_level: LogLevel | int = LogLevel.INFO,
        managed_agents: list[MultiStepAgent] | None = None,
        step_callbacks: list[Callable[..., Any]] | dict[type, Any] | None = None,
        planning_interval: int | None = None,
        name: str | None = None,
        description: str | None = None,
        provide_run_summary: bool = False,
        final_answer_checks: list[Callable[..., Any]] | None = None,
        return_full_result: bool = False,
        logger: AgentLogger | None = None,
        stream_outputs: bool = False,
        context_policy: ContextPolicy | None = None,
        output_type: Any = None,
        output_retries: int = DEFAULT_OUTPUT_RETRIES,
        approval_callback: ApprovalCallback | None = None,
        approval_policy: ApprovalPolicy | None = None,
        approval_timeout: float | None = None,
    ) -> None:
        if model is None or not callable(getattr(model, "generate", None)):
            raise UserError(
                f"{type(self).__name__} needs a model with a generate(messages, stop_sequences=None, **kwargs) "
                f"method returning a ChatMessage, got {model!r}. Use a smolagents Model (OpenAIModel, "
                "InferenceClientModel, LiteLLMModel...), or subclass smolagents.Model and implement generate(); "
                "a plain function is not a model."
            )
        if not isinstance(max_steps, int) or max_steps < 1:
            raise UserError(f"max_steps must be a positive integer, got {max_steps!r}.")
        if planning_interval is not None and (
            not isinstance(planning_interval, int) or planning_interval < 1
        ):
            raise UserError(
                f"planning_interval must be a positive integer or None, got {planning_interval!r}."
            )
        self.model = model
        self._setup_context_policy(context_policy)
        self._setup_output_type(output_type, output_retries)
        self._setup_approvals(approval_callback, approval_policy, approval_timeout)
        self.max_steps = max_steps
        self.planning_interval = planning_interval
        self.instructions = instructions
        self.name = self._validate_name(name)
        self.description = description
        self.provide_run_summary = provide_run_summary
        self.final_answer_checks = list(final_answer_checks or [])
        self.return_full_result = return_full_result
        self.stream_outputs = stream_outputs
        if stream_outputs and not getattr(model, "supports_streaming", hasattr(model, "generate_stream")):
            raise UserError(
                f"stream_outputs=True needs a model that can stream, but {type(model).__name__} has no "
                "generate_stream(). Use a streaming-capable model or set stream_outputs=False."
            )
        self.prompt_templates: PromptTemplates = merge_prompt_templates(
            prompt_templates, self._load_default_prompts()
        )
        self._setup_managed_agents(managed_agents)
        self._setup_tools(tools, add_base_tools)
        self.logger = logger if logger is not None else AgentLogger(level=verbosity_level)
        self.step_callbacks = CallbackRegistry.from_user(step_callbacks)
        self.state: dict[str, Any] = {}
        self.task: str | None = None
        self.step_number = 0
        self.interrupt_switch = False
        self._run_state = "success"
        self._final_output: Any = None
        self._run_lock = threading.Lock()
        self._active_copies: set[MultiStepAgent] = set()
        # rendered when first read (Jinja loads then, not at construction): memory holds a
        # factory until a run or a reader needs the text
        self._system_prompt: str | None = None
        self.memory = AgentMemory(self._rendered_system_prompt)  # a bound method: copies and pickles

    # ------------------------------------------------------------------ configuration
    @property
    def system_prompt(self) -> str:
        """The system prompt rendered from ``prompt_templates["system_prompt"]``."""
        if self._system_prompt is None:
            self._system_prompt = self.initialize_system_prompt()
        return self._system_prompt

    @system_prompt.setter
    def system_prompt(self, value: str) -> None:
        raise UserError(
            "agent.system_prompt is rendered from a template and cannot be assigned. Edit "
            'agent.prompt_templates["system_prompt"] (a Jinja template) instead, or pass instructions=... '
            "to add your own text to it."
        )

    def _rendered_system_prompt(self) -> str:
        return self.system_prompt

    def _load_default_prompts(self) -> PromptTemplates:
        if not self._default_prompts:
            return EMPTY_PROMPT_TEMPLATES
        from ._prompts import load_prompt_templates

        return load_prompt_templates(self._default_prompts)

    @staticmethod
    def _validate_name(name: str | None) -> str | None:
        if name is not None and (not isinstance(name, str) or not name.isidentifier()):
            raise UserError(
                f"Agent name {name!r} must be a valid Python identifier (letters, digits, underscores), "
                "because the manager calls the agent by this name."
            )
        return name

    def _setup_managed_agents(self, managed_agents: list[MultiStepAgent] | None) -> None:
        self.managed_agents: dict[str, MultiStepAgent] = {}
        for agent in managed_agents or []:
            if not agent.name or not agent.description:
                raise UserError(
                    f"Managed agent {agent!r} needs both a `name` and a `description`: the manager uses them "
                    "to know when and how to call it. Pass name=... and description=... when creating it."
                )
            if agent.name in self.managed_agents:
                raise UserError(f"Two managed agents are named {agent.name!r}; names must be unique.")
            agent.inputs = managed_agent_inputs()
            agent.output_type = "string" if agent._output_spec is None else "object"
            self.managed_agents[agent.name] = agent

    def _setup_tools(self, tools: list[Tool], add_base_tools: bool) -> None:
        from ..default_tools import TOOL_MAPPING, FinalAnswerTool

        if not isinstance(tools, (list, tuple)):
            raise UserError(f"tools must be a list of Tool objects, got {type(tools).__name__}.")
        self.tools: dict[str, Tool] = {}
        for t in tools:
            if not isinstance(t, Tool):
                raise UserError(
                    f"Every tool must be a Tool instance, got {t!r}. Decorate functions with @tool or "
                    "subclass Tool."
                )
            if t.name in self.tools:
                raise UserError(f"Two tools are named {t.name!r}; tool names must be unique.")
            self.tools[t.name] = t
        if add_base_tools:
            for tool_name in self._base_tool_names:
                if tool_name in TOOL_MAPPING and tool_name not in self.tools:
                    try:
                        self.tools[tool_name] = TOOL_MAPPING[tool_name]()
                    except MissingDependencyError as exc:  # e.g. web search without the toolkit extra
                        warnings.warn(f"add_base_tools: skipped {tool_name!r}: {exc}", stacklevel=3)
        self.tools.setdefault("final_answer", FinalAnswerTool())
        if self.name is not None and self.name in self.tools:
            raise UserError(
                f"The agent is named {self.name!r} like one of its tools: a manager calling it, or the agent "
                "calling the tool, would be ambiguous. Rename the agent or the tool."
            )
        clash = set(self.tools) & set(self.managed_agents)
        if clash:
            raise UserError(
                f"Names used by both a tool and a managed agent: {sorted(clash)}. Rename one of them."
            )
        self._managed_tools = {name: ManagedAgentTool(agent) for name, agent in self.managed_agents.items()}

    @property
    def logs(self) -> list[dict[str, Any]]:
        """Every step of the current memory as a dict, system prompt first."""
        return [self.memory.system_prompt.dict(), *self.memory.get_full_steps()]

    def initialize_system_prompt(self) -> str:
        """Render the system prompt template; subclasses add their own variables."""
        template = self.prompt_templates["system_prompt"]
        return self._with_output_schema(template, populate_template(template, self._prompt_variables()))

    def _prompt_variables(self) -> dict[str, Any]:
        return {
            "tools": self.tools,
            "managed_agents": self.managed_agents,
            "custom_instructions": self.instructions,
            **self._output_prompt_variables(),
        }

    # ------------------------------------------------------------------ public run API
    def run(
        self,
        task: str,
        stream: bool = False,
        reset: bool = True,
        images: list[Any] | None = None,
        additional_args: dict[str, Any] | None = None,
        max_steps: int | None = None,
        return_full_result: bool | None = None,
        output_type: Any = None,
        output_retries: int | None = None,
        checkpoint: Any = None,
        run_id: str | None = None,
    ) -> Any:
        """Run the agent on ``task``.

        Returns the final answer (or a :class:`RunResult` when ``return_full_result``); with
        ``stream=True`` returns a generator of the run's events instead. Several runs may
        share one agent (threads, async tasks): each is isolated, and ``agent.memory`` holds
        the last finished run's (see ``_concurrent.py``).

        ``output_type`` (a pydantic model, dataclass, TypedDict or JSON-schema dict) makes the
        answer typed: it is validated and returned as that type. An invalid answer is the
        step's error, shown to the model; after ``output_retries`` invalid answers (default:
        the agent's, 3) the run raises ``OutputValidationError``.

        ``checkpoint`` (a store from ``smolagents.checkpoints``, or a path to an SQLite file)
        saves the run after every step, so ``agent.resume(run_id, checkpoint=store)`` can
        continue it after a crash, in another process. ``run_id`` names the run (generated
        when not given); it is in ``RunResult.run_id`` and in the logs.
        """
        routed = take_routed_run(self)  # arun, astream or a manager asked for this run: _run_routing.py
        if routed is not None:
            return routed.serve()
        args = self._run_args(
            task, reset, images, additional_args, max_steps, output_type, output_retries, checkpoint, run_id
        )
        if stream:
            return self._stream_sync(args)
        return self._run_to_end(args, return_full_result)

    def arun(
        self,
        task: str,
        stream: bool = False,
        reset: bool = True,
        images: list[Any] | None = None,
        additional_args: dict[str, Any] | None = None,
        max_steps: int | None = None,
        return_full_result: bool | None = None,
        output_type: Any = None,
        output_retries: int | None = None,
        checkpoint: Any = None,
        run_id: str | None = None,
    ) -> Any:
        """Async :meth:`run`: ``await agent.arun(task)``, or ``async for event in
        agent.arun(task, stream=True)``. Model calls and async tools are awaited; sync tools
        run in worker threads."""
        args = self._run_args(
            task, reset, images, additional_args, max_steps, output_type, output_retries, checkpoint, run_id
        )
        if stream:
            return self._stream_async(args)
        return self._arun_to_end(args, return_full_result)

    def astream(self, task: str, **kwargs: Any) -> AsyncIterator[Any]:
        """Async stream of the run's events (same as ``arun(task, stream=True)``)."""
        return cast(AsyncIterator[Any], self.arun(task, stream=True, **kwargs))

    def _result(self, started: float, return_full_result: bool | None) -> Any:
        full = self.return_full_result if return_full_result is None else return_full_result
        full = full or self._run_state == "awaiting_approval"  # a paused run always says so
        # text answers come back as AgentText, images as AgentImage (code written for
        # smolagents relies on it); other values unchanged
        output = self._final_output
        if self._output_spec is None:
            output = handle_agent_output_types(output)
        if not full:
            return output
        started, run_id = self._run_identity(started)
        return RunResult(
            output=output,
            state=self._run_state,
            steps=self.memory.get_full_steps(),
            token_usage=self._total_token_usage(),
            timing=Timing(start_time=started, end_time=time.time()),
            run_id=run_id,
            pending_approvals=self._paused_approvals(),
        )

    def _total_token_usage(self) -> TokenUsage | None:
        """Tokens of the run, or None when the model reported none (unknown is not zero)."""
        total: TokenUsage | None = None
        for step in self.memory.steps:
            usage = getattr(step, "token_usage", None)
            if usage is not None:
                total = usage if total is None else total + usage
        return total

    def step(self, memory_step: ActionStep) -> Any:
        """Run one step into ``memory_step`` (as in the step-by-step memory tutorial); returns
        the final answer if this step produced one, else None. The caller appends the step."""
        if not self.memory.system_prompt.system_prompt:
            self.memory.system_prompt = SystemPromptStep(self.initialize_system_prompt())
        output = run_flow_to_end(self._step_flow(memory_step))
        if output is not None and output.is_final_answer:
            self._check_final_answer(output.output)
            memory_step.is_final_answer = True
            return output.output
        return None

    def interrupt(self) -> None:
        """Stop the run at the end of the current step (the run raises an AgentError); every
        run in progress on this agent, concurrent ones included."""
        self._interrupt_runs()

    def write_memory_to_messages(self, summary_mode: bool = False) -> list[ChatMessage]:
        """The memory as chat messages, ready for the model (through the context policy, if any:
        a view; memory itself is never changed)."""
        if self.context_policy is not None:
            return run_flow_to_end(self._messages_flow(summary_mode))
        messages: list[ChatMessage] = self.memory.system_prompt.to_messages(summary_mode=summary_mode)
        for step in self.memory.steps:
            messages.extend(step.to_messages(summary_mode=summary_mode))
        return messages

    def provide_final_answer(self, task: str, images: list[Any] | None = None) -> ChatMessage:
        """Ask the model for a final answer from the memory (used when max_steps is reached)."""
        return run_flow_to_end(self._final_answer_flow(task, images))

    def extract_action(self, model_output: str, split_token: str) -> tuple[str, str]:
        """Split ``model_output`` at the last ``split_token`` into (rationale, action)."""
        if split_token not in model_output:
            raise AgentError(
                f"No {split_token!r} token in the model output: the output must contain {split_token!r} "
                f"followed by the action. Output was:\n{model_output}"
            )
        rationale, action = model_output.rsplit(split_token, 1)
        return rationale.strip(), action.strip()

    def replay(self, detailed: bool = False) -> None:
        """Print a replay of the last run's steps."""
        self.memory.replay(self.logger, detailed=detailed)

    def visualize(self) -> None:
        """Print the agent's structure: tools and managed agents as a tree."""
        self.logger.visualize_agent_tree(self)

    # ------------------------------------------------------------------ saving and loading
    def _init_settings(self) -> dict[str, Any]:
        """Constructor arguments (besides model, tools, prompts) that rebuild this agent."""
        return {
            "max_steps": self.max_steps,
            "verbosity_level": int(self.logger.level),
            "planning_interval": self.planning_interval,
            "name": self.name,
            "description": self.description,
            "instructions": self.instructions,
            "provide_run_summary": self.provide_run_summary,
            "return_full_result": self.return_full_result,
            "stream_outputs": self.stream_outputs,
        }

    # ------------------------------------------------------------------ the run flow
    def _run_args(
        self,
        task: str,
        reset: bool = True,
        images: list[Any] | None = None,
        additional_args: dict[str, Any] | None = None,
        max_steps: int | None = None,
        output_type: Any = None,
        output_retries: int | None = None,
        checkpoint: Any = None,
        run_id: str | None = None,
    ) -> RunArgs:
        """Check a run's arguments when it is requested (a stream's errors do not wait for
        its first event); the run itself starts in :meth:`_start_run`."""
        if not isinstance(task, str):
            raise UserError(f"The task must be a string, got {type(task).__name__}.")
        max_steps = self.max_steps if max_steps is None else max_steps
        if not isinstance(max_steps, int) or max_steps < 1:
            raise UserError(f"max_steps must be a positive integer, got {max_steps!r}.")
        if additional_args and not isinstance(additional_args, dict):
            raise UserError(f"additional_args must be a dict, got {type(additional_args).__name__}.")
        output = self._run_output(output_type, output_retries)
        return task, reset, images, additional_args, max_steps, output, new_durable_run(checkpoint, run_id)

    def _start_run(
        self,
        task: str,
        reset: bool,
        images: list[Any] | None,
        additional_args: dict[str, Any] | None,
        max_steps: int,
        output: Any = None,
        durable: Any = None,
    ) -> Generator[Any, Any, Any]:
        """Prepare this agent for a run it has claimed, and return the run's flow."""
        self._begin_typed_run(output)
        self.task = task
        self.interrupt_switch = False
        if additional_args:
            self.state.update(additional_args)
            self.task += self._describe_additional_args(additional_args)
        self._system_prompt = self.initialize_system_prompt()
        self.memory.system_prompt = SystemPromptStep(system_prompt=self._system_prompt)
        if reset:
            self.memory.reset()
        self._on_run_start(reset)
        self._final_output = None
        self._run_state = "success"
        if durable is None:  # a run started without _run_args (none in the library)
            return self._run_seam(self._run_flow(self.task, images, max_steps))
        resume_at = durable.prepare(self, images, max_steps)  # see _durable.py
        flow = self._run_flow(self.task, images, max_steps, resume_at)
        return self._run_seam(flow if durable.store is None else durable.watch(self, flow))

    def _on_run_start(self, reset: bool) -> None:
        """Hook for subclasses (CodeAgent sends its tools and state to the executor)."""

    @staticmethod
    def _describe_additional_args(additional_args: dict[str, Any]) -> str:
        lines = [
            "\nYou have been given these additional values; they are available as variables (or as "
            "state names to pass to tools) under these names:"
        ]
        for key, value in additional_args.items():
            preview = repr(value)
            if len(preview) > 200:
                preview = preview[:200] + "..."
            lines.append(f"- {key} ({type(value).__name__}): {preview}")
        return "\n".join(lines)

    def _run_flow(
        self, task: str, images: list[Any] | None, max_steps: int, resume_at: int | None = None
    ) -> Generator[Any, Any, None]:
        """The run; ``resume_at`` continues a run whose memory was restored (``_durable.py``)."""
        if resume_at is None:
            model_id = getattr(self.model, "model_id", None)
            self.logger.log_task(
                content=task.strip(), subtitle=f"{type(self.model).__name__} - {model_id}", title=self.name
            )
            self.memory.steps.append(TaskStep(task=task, task_images=images))
        done = False
        final_output: Any = None
        for step_index in range(resume_at or 1, max_steps + 1):
            self.step_number = step_index
            if self.interrupt_switch:
                raise AgentError("Agent interrupted.")
            planned = bool(self.memory.steps) and isinstance(self.memory.steps[-1], PlanningStep)  # resumed
            if self.planning_interval and (step_index - 1) % self.planning_interval == 0 and not planned:
                planning_step = yield from self._plan_seam(self._planning_flow(task, step_index, max_steps))
                self._append_step(planning_step)
                yield planning_step
            action_step = ActionStep(step_number=step_index, timing=Timing(), observations_images=None)
            self.logger.log_rule(f"Step {step_index}", level=LogLevel.INFO)
            try:
                output = yield from self._action_flow(action_step)  # seam: _telemetry_seams.py
                if output is not None:
                    if output.is_final_answer:  # checked before it is announced as final
                        output.output = self._typed_answer(output.output)
                        self._check_final_answer(output.output)
                        action_step.is_final_answer = True
                        final_output, done = output.output, True
                    yield output
            except AgentGenerationError as exc:
                action_step.error = exc
                self._finish_action_step(action_step)
                raise
            except ApprovalPause:  # a checkpointed run stops here until approved: _approval_resume.py
                self._run_state = "awaiting_approval"
                return
            except AgentError as exc:
                action_step.error = exc
                self.logger.log_error(str(exc), level=LogLevel.ERROR)
            self._finish_action_step(action_step)
            yield action_step
            if done:
                break
            self._stop_if_output_retries_spent(action_step.error)
        if not done:
            final_output = yield from self._max_steps_flow(task, images, max_steps)
            self._run_state = "max_steps_error"
        self._final_output = final_output
        final_step = FinalAnswerStep(output=final_output)
        self.logger.log(
            f"[bold #d4b702]Out - Final answer:[/] {safe_text(final_output, as_str=True)}",
            level=LogLevel.INFO,
        )
        self.step_callbacks.callback(final_step, agent=self)
        yield final_step

    def _finish_action_step(self, action_step: ActionStep) -> None:
        action_step.timing.stop()
        self.logger.log_step_footer(
            action_step.step_number, action_step.timing.duration, action_step.token_usage
        )
        self._append_step(action_step)

    def _append_step(self, step: MemoryStep) -> None:
        self.memory.steps.append(step)
        self.step_callbacks.callback(step, agent=self)

    def _step_flow(self, memory_step: ActionStep) -> Generator[Any, Any, ActionOutput | None]:
        """One action: yields events and effects, fills ``memory_step``, returns its output."""
        raise NotImplementedError(f"{type(self).__name__} must implement _step_flow")

    def _model_call(self, messages: list[ChatMessage], **kwargs: Any) -> ModelCall:
        return ModelCall(self.model, messages, kwargs, stream=self.stream_outputs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, model={getattr(self.model, 'model_id', None)!r}, tools={list(self.tools)})"
