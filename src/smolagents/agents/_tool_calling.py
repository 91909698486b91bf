"""ToolCallingAgent: actions are JSON tool calls, run in parallel where there are several."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from .._monitoring_types import LogLevel
from ..errors import AgentError, AgentParsingError, AgentToolCallError, AgentToolExecutionError
from ..memory import ActionOutput, ActionStep, ToolCall, ToolOutput
from ..models._messages import ChatMessage
from ..tools import Tool, validate_tool_arguments
from ._loop import Calls, drive_sync
from ._multistep import MultiStepAgent

__all__ = ["ToolCallingAgent"]


@dataclass
class _PreparedCall:
    call: ToolCall
    tool: Tool
    arguments: dict[str, Any]


def _is_image(value: Any) -> bool:
    return type(value).__name__ in {"AgentImage", "Image", "PngImageFile", "JpegImageFile"} and hasattr(
        value, "save"
    )


def _json_error(arguments: Any) -> str | None:
    """Why a string that looks like JSON does not parse (None for a bare string or a value)."""
    if not isinstance(arguments, str) or not arguments.lstrip().startswith(("{", "[")):
        return None
    try:
        json.loads(arguments)
    except json.JSONDecodeError as exc:
        return f"{exc.msg} at position {exc.pos}"
    return None


class ToolCallingAgent(MultiStepAgent):
    """Acts with structured tool calls (the OpenAI function-calling format).

    Args:
        max_tool_threads: how many tool calls of one step may run at once (default: as
            many as the model asked for).
    """

    _default_prompts = "toolcalling_agent"

    def __init__(
        self,
        tools: list[Tool],
        model: Any,
        prompt_templates: Any = None,
        planning_interval: int | None = None,
        stream_outputs: bool = False,
        max_tool_threads: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.max_tool_threads = max_tool_threads
        super().__init__(
            tools=tools,
            model=model,
            prompt_templates=prompt_templates,
            planning_interval=planning_interval,
            stream_outputs=stream_outputs,
            **kwargs,
        )

    def _init_settings(self) -> dict[str, Any]:
        return {**super()._init_settings(), "max_tool_threads": self.max_tool_threads}

    @property
    def _base_tool_names(self) -> tuple[str, ...]:  # type: ignore[override]
        from ..default_tools import TOOL_MAPPING

        return tuple(TOOL_MAPPING)

    @property
    def tools_and_managed_agents(self) -> list[Tool]:
        """What the model may call: the tools, then the managed agents presented as tools."""
        return [*self.tools.values(), *self._managed_tools.values()]

    # ------------------------------------------------------------------ one step
    def _prompt_overhead_text(self) -> str:
        """The tool schemas sent with every call count towards a context policy's budget."""
        tools = self._tools_with_typed_final_answer(self.tools_and_managed_agents)
        return json.dumps([t.to_json_schema() for t in tools], default=str)

    def _step_flow(self, memory_step: ActionStep) -> Generator[Any, Any, ActionOutput | None]:
        if self._continue_paused_step(memory_step):  # paused for approval: its calls run now
            return (yield from self._tool_calls_flow(memory_step.tool_calls or [], memory_step))
        messages = yield from self._messages_flow()
        memory_step.model_input_messages = messages
        message: ChatMessage = yield self._model_call(
            messages,
            stop_sequences=["Observation:", "Calling tools:"],
            # a typed run shows the output schema as final_answer's argument schema
            tools_to_call_from=self._tools_with_typed_final_answer(self.tools_and_managed_agents),
        )
        memory_step.model_output_message = message
        memory_step.model_output = message.text
        memory_step.token_usage = message.token_usage
        if message.text.strip():
            self.logger.log_markdown(
                content=message.text, title="Output message of the LLM:", level=LogLevel.DEBUG
            )
        tool_calls = self._extract_tool_calls(message)
        memory_step.tool_calls = tool_calls
        return (yield from self._tool_calls_flow(tool_calls, memory_step))

    def _extract_tool_calls(self, message: ChatMessage) -> list[ToolCall]:
        if not message.tool_calls:
            parse = getattr(self.model, "parse_tool_calls", None)
            try:
                if parse is None:
                    raise ValueError("the model returned text only")
                message = parse(message)
            except Exception as exc:
                raise AgentParsingError(
                    f"Your answer contained no tool call ({exc}). Every step must call a tool: call one of "
                    f"the tools, or call final_answer with your answer. Your output was:\n{message.text}"
                ) from exc
            if not message.tool_calls:
                raise AgentParsingError(
                    "Your answer contained no tool call. Call a tool, or call final_answer with your answer."
                )
        calls = []
        for tc in message.tool_calls:
            calls.append(ToolCall(name=tc.function.name, arguments=self._parse_arguments(tc), id=tc.id))
        return calls

    @staticmethod
    def _parse_arguments(tc: Any) -> Any:
        args = tc.function.arguments
        if not isinstance(args, str):
            return {} if args is None else args
        if not args.strip():
            return {}
        try:
            return json.loads(args)
        except json.JSONDecodeError:
            # a bare string (how managed agents are often called with a task): ``_prepare_call``
            # passes it as the tool's single (required) argument, or explains what to send
            return args

    def _tool_calls_flow(
        self, tool_calls: list[ToolCall], memory_step: ActionStep
    ) -> Generator[Any, Any, ActionOutput]:
        for call in tool_calls:
            self.logger.log(
                f"Calling tool: '{call.name}' with arguments: {call.arguments}", level=LogLevel.INFO
            )
            yield call
        names = [c.name for c in tool_calls]
        if "final_answer" in names and len(tool_calls) > 1:
            raise AgentToolCallError(
                f"You called final_answer together with other tools ({names}). Call final_answer alone, "
                "once you have every result you need."
            )
        prepared: list[_PreparedCall] = []
        errors: list[AgentError] = []
        for call in tool_calls:
            try:
                tool, arguments = self._prepare_call(call.name, call.arguments)
                prepared.append(_PreparedCall(call, tool, arguments))
            except (AgentToolCallError, AgentToolExecutionError) as exc:  # unknown tool, bad arguments
                errors.append(exc)
        prepared, denied = yield from self._ask_approvals(prepared, errors)  # see _approval_runs.py
        outcomes = []
        if prepared:
            outcomes = yield Calls(
                sync_calls=[self._sync_runner(p) for p in prepared],
                async_calls=[self._async_runner(p) for p in prepared],
                max_workers=self.max_tool_threads,
                tool_calls=[p.call for p in prepared],
            )
        observations: list[str] = []
        for p, decision in denied:  # a denial is an observation the model can react to
            denial = self._denied_output(p.call, decision, labelled=len(tool_calls) > 1)
            observations.append(denial.observation)
            yield denial
        final: ToolOutput | None = None
        for p, outcome in zip(prepared, outcomes):
            if outcome.error is not None:
                errors.append(self._execution_error(p, outcome.error))
                continue
            observation = self._observe(outcome.value)
            label = f"Result of {p.call.name} (call {p.call.id}):\n" if len(tool_calls) > 1 else ""
            observations.append(label + observation)
            output = ToolOutput(
                id=p.call.id,
                output=outcome.value,
                is_final_answer=p.call.name == "final_answer",
                observation=observation,
                tool_call=p.call,
            )
            if output.is_final_answer:
                final = output
            else:
                self.logger.log(f"Observations: {observation}", level=LogLevel.INFO)
            yield output
        memory_step.observations = "\n\n".join(observations) if observations else None
        if errors:
            raise self._combine_errors(errors)
        if final is not None:
            memory_step.action_output = final.output
            return ActionOutput(output=final.output, is_final_answer=True)
        if len(prepared) == 1 and outcomes:
            memory_step.action_output = outcomes[0].value
        return ActionOutput(output=memory_step.action_output, is_final_answer=False)

    # ------------------------------------------------------------------ tool execution
    def _prepare_call(self, name: str, arguments: Any) -> tuple[Tool, dict[str, Any]]:
        tool = self.tools.get(name) or self._managed_tools.get(name)
        if tool is None:
            # an AgentToolExecutionError, as code written for smolagents catches it for this case
            available = sorted([*self.tools, *self._managed_tools])
            raise AgentToolExecutionError(
                f"Unknown tool {name!r}. The tools you can call are: {available}. Call one of them by its "
                "exact name."
            )
        if not isinstance(arguments, dict):
            required = [key for key, spec in tool.inputs.items() if not spec.get("nullable")]
            malformed = _json_error(arguments)
            if malformed is None and len(tool.inputs) == 1:
                arguments = {next(iter(tool.inputs)): arguments}
            elif malformed is None and len(required) == 1:
                arguments = {required[0]: arguments}  # a managed agent called with a bare task
            else:
                what = f"are not valid JSON ({malformed})" if malformed else "are not named"
                example = required[0] if required else next(iter(tool.inputs), "query")
                raise AgentToolCallError(
                    f"The arguments of your call to {name!r} {what}. You sent: {arguments!r}. Tool {name!r} "
                    f'takes named arguments {list(tool.inputs)}: send one JSON object, for example {{"{example}": ...}}.'
                )
        arguments = {k: self._from_state(v) for k, v in arguments.items()}
        validate_tool_arguments(tool, arguments)
        return tool, arguments

    def _from_state(self, value: Any) -> Any:
        """A string naming a state variable stands for that variable's value."""
        if isinstance(value, str) and value in self.state:
            return self.state[value]
        return value

    @staticmethod
    def _sync_runner(p: _PreparedCall) -> Callable[[], Any]:
        return lambda: p.tool(**p.arguments)

    @staticmethod
    def _async_runner(p: _PreparedCall) -> Callable[[], Any]:
        return lambda: p.tool.acall(**p.arguments)

    @staticmethod
    def _execution_error(p: _PreparedCall, exc: Exception) -> AgentError:
        if isinstance(exc, AgentToolCallError):
            return exc
        who = "team member" if hasattr(p.tool, "agent") else "tool"
        return AgentToolExecutionError(
            f"Error executing {who} {p.call.name!r} with arguments {json.dumps(p.arguments, default=repr)}: "
            f"{type(exc).__name__}: {exc}\nCheck the {who}'s description and call it with correct arguments, "
            "or try another approach."
        )

    @staticmethod
    def _combine_errors(errors: list[AgentError]) -> AgentError:
        if len(errors) == 1:
            return errors[0]
        message = "\n".join(f"- {e}" for e in errors)
        if all(isinstance(e, AgentToolCallError) for e in errors):
            return AgentToolCallError("Several tool calls were invalid:\n" + message)
        return AgentToolExecutionError("Several tool calls failed:\n" + message)

    def _observe(self, value: Any) -> str:
        if _is_image(value):
            name = f"image_{sum(1 for k in self.state if k.startswith('image_')) + 1}.png"
            self.state[name] = value
            return f"Stored '{name}' in memory (pass the name {name!r} to tools to use it)."
        if hasattr(value, "to_string") and type(value).__name__.startswith("Agent"):
            return str(value.to_string())
        return str(value).strip()

    # ------------------------------------------------------------------ documented helpers
    def execute_tool_call(self, tool_name: str, arguments: dict[str, Any] | str) -> Any:
        """Run one tool or managed agent; arguments naming state variables get their values."""
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                pass
        tool, kwargs = self._prepare_call(tool_name, arguments)
        try:
            return tool(**kwargs)
        except Exception as exc:
            raise self._execution_error(
                _PreparedCall(ToolCall(tool_name, kwargs, "manual"), tool, kwargs), exc
            ) from exc

    def process_tool_calls(
        self, chat_message: ChatMessage, memory_step: ActionStep
    ) -> Iterator[ToolCall | ToolOutput]:
        """Run the tool calls of ``chat_message`` into ``memory_step``; yields ToolCall and
        ToolOutput events (none for a message without tool calls: there is nothing to run)."""
        if not chat_message.tool_calls:
            memory_step.tool_calls = []
            return iter(())
        calls = self._extract_tool_calls(chat_message)
        memory_step.tool_calls = calls
        return drive_sync(self._tool_calls_flow(calls, memory_step))
