"""CodeAgent: actions are Python code, run in a sandboxed executor."""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import Any, NoReturn

from .._monitoring_types import LogLevel
from ..errors import AgentExecutionError, UserError
from ..memory import ActionOutput, ActionStep, ToolCall, ToolOutput, safe_text
from ..models._messages import ChatMessage
from ..tools import Tool
from ._code_parsing import extract_code, extract_structured_code, resolve_code_block_tags
from ._loop import Calls
from ._multistep import MultiStepAgent

__all__ = ["CODEAGENT_RESPONSE_FORMAT", "CodeAgent"]

EXECUTOR_TYPES = ("local", "process", "docker", "wasm", "e2b", "modal", "blaxel")
#: executor_type -> (module, class) of the remote executors, imported only when chosen
_REMOTE_EXECUTORS = {
    "docker": "DockerExecutor",
    "wasm": "WasmExecutor",
    "e2b": "E2BExecutor",
    "modal": "ModalExecutor",
    "blaxel": "BlaxelExecutor",
}

CODEAGENT_RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "ThoughtAndCodeAnswer",
        "schema": {
            "type": "object",
            "properties": {
                "thought": {"type": "string", "description": "Reasoning about the next action."},
                "code": {"type": "string", "description": "Python code to run."},
            },
            "required": ["thought", "code"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


class CodeAgent(MultiStepAgent):
    """Acts by writing Python: tools and managed agents are functions in the code, and the
    code runs in ``LocalPythonExecutor`` (a sandbox) unless another executor is chosen.

    Args:
        additional_authorized_imports: modules the code may import besides the safe default
            list (``"numpy.*"`` allows submodules; ``"*"`` allows everything).
        executor / executor_type / executor_kwargs: the code executor, or how to build one.
        max_print_outputs_length: cap on the printed output kept per step.
        use_structured_outputs_internally: ask the model for ``{"thought", "code"}`` JSON.
        code_block_tags: ``(opening, closing)`` regexes, ``"markdown"``, or None for
            ``<code>``/``</code>``.
    """

    def __init__(
        self,
        tools: list[Tool],
        model: Any,
        prompt_templates: Any = None,
        additional_authorized_imports: list[str] | None = None,
        planning_interval: int | None = None,
        executor: Any = None,
        executor_type: str = "local",
        executor_kwargs: dict[str, Any] | None = None,
        max_print_outputs_length: int | None = None,
        stream_outputs: bool = False,
        use_structured_outputs_internally: bool = False,
        code_block_tags: str | tuple[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        from .._sandbox_defaults import BASE_BUILTIN_MODULES

        self.additional_authorized_imports = list(additional_authorized_imports or [])
        self.authorized_imports = sorted(set(BASE_BUILTIN_MODULES) | set(self.additional_authorized_imports))
        self.max_print_outputs_length = max_print_outputs_length
        self.use_structured_outputs_internally = use_structured_outputs_internally
        self.code_block_tags = code_block_tags
        self._tags = resolve_code_block_tags(code_block_tags)
        if executor_type not in EXECUTOR_TYPES:
            raise UserError(f"executor_type must be one of {list(EXECUTOR_TYPES)}, got {executor_type!r}.")
        self.executor_type = executor_type
        self.executor_kwargs = dict(executor_kwargs or {})
        self._default_prompts = "structured_code_agent" if use_structured_outputs_internally else "code_agent"
        super().__init__(
            tools=tools,
            model=model,
            prompt_templates=prompt_templates,
            planning_interval=planning_interval,
            stream_outputs=stream_outputs,
            **kwargs,
        )
        #: built here from executor_type (so concurrent runs can get their own), or the user's;
        #: the local sandbox is built when first needed (constructing an agent stays cheap),
        #: other kinds at once (a missing extra or an unreachable service is a config error)
        self._owns_executor = executor is None
        self._python_executor: Any = executor
        if executor is None and executor_type != "local":
            self._python_executor = self.create_python_executor()

    @property
    def python_executor(self) -> Any:
        """The executor that runs the model's code (built on first use for ``"local"``)."""
        if self._python_executor is None:
            self._python_executor = self.create_python_executor()
        return self._python_executor

    @python_executor.setter
    def python_executor(self, value: Any) -> None:
        self._python_executor = value

    def _init_settings(self) -> dict[str, Any]:
        return {
            **super()._init_settings(),
            "additional_authorized_imports": self.additional_authorized_imports,
            "executor_type": self.executor_type,
            "executor_kwargs": self.executor_kwargs,
            "max_print_outputs_length": self.max_print_outputs_length,
            "use_structured_outputs_internally": self.use_structured_outputs_internally,
            "code_block_tags": self.code_block_tags,
        }

    @property
    def _base_tool_names(self) -> tuple[str, ...]:  # type: ignore[override]
        from ..default_tools import TOOL_MAPPING

        return tuple(name for name in TOOL_MAPPING if name != "python_interpreter")

    def create_python_executor(self) -> Any:
        """Build the executor named by ``executor_type`` with ``executor_kwargs``.

        ``max_print_outputs_length`` is passed along; ``executor_kwargs`` wins over it."""
        options = {"max_print_outputs_length": self.max_print_outputs_length, **self.executor_kwargs}
        if self.executor_type == "local":
            from ..local_python_executor import LocalPythonExecutor

            return LocalPythonExecutor(self.additional_authorized_imports, **options)
        if self.executor_type == "process":
            from ..process_executor import ProcessExecutor

            return ProcessExecutor(self.additional_authorized_imports, **options)
        from .. import remote_executors

        executor_class = getattr(remote_executors, _REMOTE_EXECUTORS[self.executor_type])
        return executor_class(self.additional_authorized_imports, self.logger, **options)

    def _prompt_variables(self) -> dict[str, Any]:
        return {
            **super()._prompt_variables(),
            "authorized_imports": (
                "You can import from any package you want."
                if "*" in self.authorized_imports
                else str(self.authorized_imports)
            ),
            "code_block_opening_tag": self._tags.shown_opening,
            "code_block_closing_tag": self._tags.shown_closing,
        }

    def _on_run_start(self, reset: bool) -> None:
        self.python_executor.send_variables(variables=self.state)
        tools = {**self.tools, **self._managed_tools}  # gated if approvals are on:
        self.python_executor.send_tools(self._code_tools(tools, self.python_executor))

    def _clone_for_concurrent_call(self) -> MultiStepAgent:
        if not self._owns_executor:
            raise UserError(
                "This agent is already running, and it runs code on the executor you passed as "
                "executor=...: a concurrent run would share its variables. Run the tasks one after "
                "another, or let the agent build its executors (executor_type=..., executor_kwargs=...) "
                "so that each concurrent run gets its own."
            )
        clone = super()._clone_for_concurrent_call()
        assert isinstance(clone, CodeAgent)
        clone.python_executor = clone.create_python_executor()  # its own sandbox, kernel or process
        return clone

    def _adopt_resources(self, clone: MultiStepAgent) -> None:
        """The adopted run's variables live in its executor: keep that executor, and let
        the copy clean up the one it replaces."""
        if isinstance(clone, CodeAgent) and self._owns_executor:
            self.python_executor, clone.python_executor = clone.python_executor, self.python_executor

    def _release_copy_resources(self, original: MultiStepAgent) -> None:
        """A finished concurrent copy cleans up the executor it holds (its own, or the one
        the original handed over when it adopted the copy's run)."""
        if self.python_executor is getattr(original, "python_executor", None):
            return
        cleanup = getattr(self._python_executor, "cleanup", None)
        if cleanup is not None:
            cleanup()

    # ------------------------------------------------------------------ one step
    def _step_flow(self, memory_step: ActionStep) -> Generator[Any, Any, ActionOutput | None]:
        if self._continue_paused_step(memory_step):  # paused for approval: its code runs again
            code = memory_step.code_action or ""
        else:
            code = yield from self._write_code_flow(memory_step)
        memory_step.code_action = code
        code_call = ToolCall(name="python_interpreter", arguments=code, id=f"call_{memory_step.step_number}")
        memory_step.tool_calls = [code_call]
        self.logger.log_code(title="Executing this code:", content=code, level=LogLevel.INFO)
        yield code_call
        executor = self.python_executor

        def run_in_thread() -> Any:
            import asyncio  # only the async driver calls this: sync runs never import asyncio

            return asyncio.to_thread(executor, code)

        plain = Calls(
            sync_calls=[lambda: executor(code)],
            async_calls=[run_in_thread],
            tool_calls=[code_call],
            runs_code=True,
        )
        (outcome,) = yield self._code_effect(plain, executor, code)  # see _approval_code.py
        if outcome.error is not None:
            return self._code_error(outcome.error, memory_step)
        result = outcome.value
        logs = result.logs or ""
        observation = "Execution logs:\n" + logs
        if not result.is_final_answer:
            observation += f"\nLast output from code snippet:\n{safe_text(result.output, as_str=True)}"
        memory_step.observations = observation
        memory_step.action_output = result.output
        if logs:
            self.logger.log(f"[bold]Execution logs:[/]\n{logs}", level=LogLevel.INFO)
        if not result.is_final_answer:
            self.logger.log(f"Out: {safe_text(result.output, as_str=True)}", level=LogLevel.INFO)
        yield ToolOutput(
            id=code_call.id,
            output=result.output,
            is_final_answer=result.is_final_answer,
            observation=observation,
            tool_call=code_call,
        )
        return ActionOutput(output=result.output, is_final_answer=result.is_final_answer)

    def _write_code_flow(self, memory_step: ActionStep) -> Generator[Any, Any, str]:
        """The model's turn of a step: its message, and the code in it."""
        messages = yield from self._messages_flow()
        memory_step.model_input_messages = messages
        kwargs: dict[str, Any] = {"stop_sequences": ["Observation:", "Calling tools:"]}
        if self.use_structured_outputs_internally:
            kwargs["response_format"] = CODEAGENT_RESPONSE_FORMAT
        else:
            # a stop sequence matching the opening tag would cut the reply before any code
            stops = [s for s in kwargs["stop_sequences"] if not self._tags.cuts_opening(s)]
            kwargs["stop_sequences"] = stops + [s for s in [self._tags.stop_sequence] if s is not None]
        message: ChatMessage = yield self._model_call(messages, **kwargs)
        memory_step.token_usage = message.token_usage
        text = message.text
        if not self.use_structured_outputs_internally:
            closed = self._close_open_block(text)
            if closed != text:  # the record of the model's message shows the whole block too
                message = dataclasses.replace(message, content=closed)
            text = closed
        memory_step.model_output_message = message
        memory_step.model_output = text
        self.logger.log_markdown(content=text, title="Output message of the LLM:", level=LogLevel.DEBUG)
        if self.use_structured_outputs_internally:
            _thought, code = extract_structured_code(text, self._tags)
        else:
            code = extract_code(text, self._tags)
        return code

    def _close_open_block(self, text: str) -> str:
        """The model was stopped by the closing tag: put it back so memory shows a whole block."""
        opening, closing = self._tags.shown_opening, self._tags.shown_closing
        if opening in text and closing not in text.rsplit(opening, 1)[1]:
            return text.rstrip() + "\n" + closing
        return text

    def _code_error(self, error: Exception, memory_step: ActionStep) -> NoReturn:
        logs = getattr(error, "logs", "") or ""
        if logs:
            memory_step.observations = "Execution logs:\n" + logs
        message = str(error)
        if "Import of" in message and "not allowed" in message:
            message += (
                "\nOnly these modules can be imported: "
                f"{self.authorized_imports}. Solve the task with them, or without imports."
            )
        if isinstance(error, AgentExecutionError):
            raise type(error)(message) from error
        raise AgentExecutionError(f"{type(error).__name__}: {message}") from error

    # ------------------------------------------------------------------ resources
    def cleanup(self) -> None:
        """Release the executor's resources (remote sandboxes, kernels)."""
        cleanup = getattr(self._python_executor, "cleanup", None)  # never built: nothing to release
        if cleanup is not None:
            cleanup()

    def __enter__(self) -> CodeAgent:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.cleanup()
