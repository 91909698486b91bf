"""OpenTelemetry spans on the run loop's seams (imported by ``instrument()`` only).

The tree of one run, in the GenAI semantic conventions' terms::

    invoke_agent {agent}                 the run (run, run(stream=True), arun alike)
    ├── plan {agent}                     a planning step
    │   └── chat {model}
    └── step {n}                         an action step
        ├── chat {model}                 the model call: tokens, finish reason, streamed or not
        └── execute_tool {tool}          a tool call (or a CodeAgent's code execution)
            ├── execute_tool {tool}      a tool called from the code
            └── invoke_agent {managed}   a managed agent's run ...

How the context travels: a run's flow and a step's stream are generators. While one of them
runs (between two of its items) its span is the current span, so callbacks, final-answer
checks and anything they trace nest under it. Effects (model calls, tool calls) are
performed by the driver after the generator yielded them, so each scope wraps the effects
passing through it with its span as their parent, and an effect makes its own span current
while it runs: on the caller's thread, in a worker thread or in an async task. Nothing stays
attached across a yield, so interleaved runs (threads, async tasks, streams consumed in
turns) never see each other's spans.

Telemetry never breaks a run: a failure while recording is logged and the run goes on.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from .._telemetry_hooks import TelemetryHooks
from ..agents._loop import Calls, Effect, ModelCall, _Done
from ..memory import ActionOutput, ActionStep, FinalAnswerStep, PlanningStep
from ._attributes import (
    error_type,
    finish_reasons,
    input_messages_json,
    output_messages_json,
    provider_name,
    request_attributes,
    response_attributes,
    to_json,
    tool_arguments_json,
)

__all__ = ["OTelHooks"]

_log = logging.getLogger("smolagents.telemetry")

#: the tool whose call the agent's own execute_tool span already covers (so ``Tool.__call__``
#: does not open a second one); reset to None inside it, where nested calls get their own
_covered_tool: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "smolagents_covered_tool", default=None
)


def _agent_name(agent: Any) -> str:
    return getattr(agent, "name", None) or type(agent).__name__


def _model_id(model: Any) -> str:
    return str(getattr(model, "model_id", None) or type(model).__name__)


class OTelHooks(TelemetryHooks):
    """The hooks ``instrument()`` installs: spans from ``tracer``; content only when
    ``record_content``."""

    def __init__(self, tracer: trace.Tracer, record_content: bool) -> None:
        self.tracer = tracer
        self.record_content = record_content

    # ------------------------------------------------------------------ seams
    def run(self, agent: Any, flow: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
        return self._scoped(agent, flow, _RunScope(self, agent))

    def step(
        self, agent: Any, memory_step: Any, stream: Generator[Any, Any, Any], kind: str = "action"
    ) -> Generator[Any, Any, Any]:
        return self._scoped(agent, stream, _StepScope(self, agent, memory_step, kind))

    def tool_call(
        self, tool: Any, call: Callable[[], Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        name = str(getattr(tool, "name", None) or type(tool).__name__)
        if _covered_tool.get() == name:  # the agent's span for this very call is open
            mark = _covered_tool.set(None)
            try:
                return call()
            finally:
                _covered_tool.reset(mark)
        attributes = self._tool_attributes(name, tool, None)
        if self.record_content:
            attributes["gen_ai.tool.call.arguments"] = tool_arguments_json(tool, args, kwargs)
        span = self.tracer.start_span(f"execute_tool {name}", kind=SpanKind.INTERNAL, attributes=attributes)
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            value = call()
        except BaseException as exc:
            self.record_error(span, exc)
            raise
        else:
            self._guard(self._tool_result, span, value, False)
            return value
        finally:
            otel_context.detach(token)
            span.end()

    # ------------------------------------------------------------------ scopes
    def _scoped(self, agent: Any, inner: Generator[Any, Any, Any], scope: _Scope) -> Generator[Any, Any, Any]:
        """Run ``inner`` (a flow) inside ``scope``'s span; see the module docstring."""
        span = scope.open()
        context = trace.set_span_in_context(span)
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                token = otel_context.attach(context)
                try:
                    item = inner.throw(to_throw) if to_throw is not None else inner.send(to_send)
                except StopIteration as stop:
                    self._guard(scope.close, stop.value)
                    return stop.value
                finally:
                    otel_context.detach(token)
                to_send, to_throw = None, None
                if isinstance(item, Effect):
                    item = self._traced_effect(item, context, agent)
                else:
                    self._guard(scope.item, item)
                try:
                    to_send = yield item
                except GeneratorExit:
                    raise
                except BaseException as exc:  # a failed effect: thrown into the flow where it was yielded
                    to_throw = exc
        except GeneratorExit:  # the stream was closed before the end
            span.set_attribute("smolagents.closed_early", True)
            inner.close()
            self._guard(scope.close, None)
            raise
        except BaseException as exc:
            self._guard(scope.close, None)
            self.record_error(span, exc)
            raise
        finally:
            span.end()

    def _traced_effect(self, effect: Effect, parent: Any, agent: Any) -> Effect:
        """``effect`` performed in a span whose parent is ``parent`` (other effects as they are)."""
        if type(effect) is ModelCall:
            fields = {f.name: getattr(effect, f.name) for f in dataclasses.fields(effect)}
            return _TracedModelCall(**fields, hooks=self, parent=parent)
        if type(effect) is Calls and effect.tool_calls is not None:
            fields = {f.name: getattr(effect, f.name) for f in dataclasses.fields(effect)}
            labels = list(effect.tool_calls)
            fields["sync_calls"] = [
                self._sync_tool(call, label, parent, agent, effect.runs_code)
                for call, label in zip(effect.sync_calls, labels)
            ]
            fields["async_calls"] = [
                self._async_tool(call, label, parent, agent, effect.runs_code)
                for call, label in zip(effect.async_calls, labels)
            ]
            return _TracedCalls(**fields)
        plain = getattr(effect, "plain", None)
        if type(plain) is Calls:  # an effect that performs a Calls its own way (approvals in code)
            effect.plain = self._traced_effect(plain, parent, agent)  # type: ignore[attr-defined]
        return effect

    # ------------------------------------------------------------------ tool calls of the agent
    def _sync_tool(
        self, call: Callable[[], Any], label: Any, parent: Any, agent: Any, runs_code: bool
    ) -> Callable[[], Any]:
        def traced() -> Any:
            span = self._open_agent_tool(label, parent, agent, runs_code)
            token = otel_context.attach(trace.set_span_in_context(span, parent))
            mark = _covered_tool.set(None if runs_code else str(label.name))
            try:
                value = call()
            except BaseException as exc:
                self.record_error(span, exc)
                raise
            else:
                self._guard(self._tool_result, span, value, runs_code)
                return value
            finally:
                _covered_tool.reset(mark)
                otel_context.detach(token)
                span.end()

        return traced

    def _async_tool(
        self, call: Callable[[], Awaitable[Any]], label: Any, parent: Any, agent: Any, runs_code: bool
    ) -> Callable[[], Awaitable[Any]]:
        async def traced() -> Any:
            span = self._open_agent_tool(label, parent, agent, runs_code)
            token = otel_context.attach(trace.set_span_in_context(span, parent))
            mark = _covered_tool.set(None if runs_code else str(label.name))
            try:
                value = await call()
            except BaseException as exc:
                self.record_error(span, exc)
                raise
            else:
                self._guard(self._tool_result, span, value, runs_code)
                return value
            finally:
                _covered_tool.reset(mark)
                otel_context.detach(token)
                span.end()

        return traced

    def _open_agent_tool(self, label: Any, parent: Any, agent: Any, runs_code: bool) -> Span:
        name = str(label.name)
        tool = (getattr(agent, "tools", None) or {}).get(name) or (
            getattr(agent, "_managed_tools", None) or {}
        ).get(name)
        attributes = self._tool_attributes(name, tool, label.id)
        if runs_code:
            attributes["smolagents.code_execution"] = True
            executor = getattr(agent, "python_executor", None)
            if executor is not None:
                attributes["smolagents.code_executor"] = type(executor).__name__
        if self.record_content:
            arguments = {"code": label.arguments} if runs_code else label.arguments
            attributes["gen_ai.tool.call.arguments"] = to_json(arguments)
        return self.tracer.start_span(
            f"execute_tool {name}", context=parent, kind=SpanKind.INTERNAL, attributes=attributes
        )

    @staticmethod
    def _tool_attributes(name: str, tool: Any, call_id: str | None) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.type": "function",
        }
        if call_id:
            attributes["gen_ai.tool.call.id"] = str(call_id)
        description = getattr(tool, "description", None)
        if isinstance(description, str) and description:
            attributes["gen_ai.tool.description"] = description
        if hasattr(tool, "agent"):  # a managed agent, called like a tool
            attributes["smolagents.managed_agent"] = True
        return attributes

    def _tool_result(self, span: Span, value: Any, runs_code: bool) -> None:
        if runs_code:
            span.set_attribute("smolagents.final_answer", bool(getattr(value, "is_final_answer", False)))
        if not self.record_content:
            return
        if runs_code:
            value = {
                "output": getattr(value, "output", None),
                "logs": getattr(value, "logs", ""),
                "is_final_answer": bool(getattr(value, "is_final_answer", False)),
            }
        span.set_attribute("gen_ai.tool.call.result", to_json(value))

    # ------------------------------------------------------------------ model calls
    def open_chat(self, call: ModelCall, parent: Any) -> Span:
        model_id = _model_id(call.model)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model_id,
            "gen_ai.request.stream": bool(call.stream),
            **request_attributes(call.model, call.kwargs),
        }
        provider = provider_name(call.model)
        if provider:
            attributes["gen_ai.provider.name"] = provider
        if self.record_content:
            attributes["gen_ai.input.messages"] = input_messages_json(call.messages)
        return self.tracer.start_span(
            f"chat {model_id}", context=parent, kind=SpanKind.CLIENT, attributes=attributes
        )

    def close_chat(self, span: Span, message: Any, meter: _StreamMeter | None) -> None:
        usage = getattr(message, "token_usage", None)
        if usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
        reasons = finish_reasons(message)
        span.set_attribute("gen_ai.response.finish_reasons", reasons)
        span.set_attributes(response_attributes(message))
        if meter is not None:
            span.set_attribute("smolagents.stream.chunks", meter.chunks)
            if meter.first is not None:
                span.set_attribute("gen_ai.response.time_to_first_chunk", meter.first - meter.started)
        if self.record_content:
            span.set_attribute("gen_ai.output.messages", output_messages_json(message, reasons))

    # ------------------------------------------------------------------ helpers
    def record_error(self, span: Span, exc: BaseException) -> None:
        """``error.type`` and an error status; the message and traceback only with content
        (error messages may quote arguments and data)."""
        try:
            span.set_attribute("error.type", error_type(exc))
            if self.record_content:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            else:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        except Exception:
            _log.exception("smolagents telemetry: could not record an error on a span")

    @staticmethod
    def _guard(function: Callable[..., Any], *args: Any) -> None:
        try:
            function(*args)
        except Exception:
            _log.exception("smolagents telemetry: could not record a span's attributes")


class _StreamMeter:
    """Chunks of a streamed model call, and when the first one came."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.first: float | None = None
        self.chunks = 0

    def saw(self) -> None:
        self.chunks += 1
        if self.first is None:
            self.first = time.monotonic()


@dataclass
class _TracedModelCall(ModelCall):
    """A model call in a ``chat`` span (the span is current while the model works)."""

    hooks: Any = None
    parent: Any = None

    def run_sync(self) -> Generator[Any, None, Any]:
        hooks: OTelHooks = self.hooks
        span = hooks.open_chat(self, self.parent)
        context = trace.set_span_in_context(span, self.parent)
        meter = _StreamMeter() if self.stream else None
        inner = ModelCall.run_sync(self)
        try:
            while True:
                token = otel_context.attach(context)
                try:
                    delta = next(inner)
                except StopIteration as stop:
                    message = stop.value
                    break
                finally:
                    otel_context.detach(token)
                if meter is not None:
                    meter.saw()
                yield delta
        except GeneratorExit:
            span.set_attribute("smolagents.closed_early", True)
            inner.close()
            span.end()
            raise
        except BaseException as exc:
            hooks.record_error(span, exc)
            span.end()
            raise
        hooks._guard(hooks.close_chat, span, message, meter)
        span.end()
        return message

    async def run_async(self) -> AsyncIterator[Any]:
        hooks: OTelHooks = self.hooks
        span = hooks.open_chat(self, self.parent)
        context = trace.set_span_in_context(span, self.parent)
        meter = _StreamMeter() if self.stream else None
        inner = ModelCall.run_async(self)
        try:
            while True:
                token = otel_context.attach(context)
                try:
                    event = await inner.__anext__()
                except StopAsyncIteration:
                    break
                finally:
                    otel_context.detach(token)
                if isinstance(event, _Done):
                    hooks._guard(hooks.close_chat, span, event.value, meter)
                elif meter is not None:
                    meter.saw()
                yield event
        except GeneratorExit:
            span.set_attribute("smolagents.closed_early", True)
            close = getattr(inner, "aclose", None)
            if close is not None:
                await close()
            raise
        except BaseException as exc:
            hooks.record_error(span, exc)
            raise
        finally:
            span.end()


@dataclass
class _TracedCalls(Calls):
    """A batch of calls whose callables open their own spans (marks them as traced)."""


class _Scope:
    """What a traced generator records: its span, the items it sees, its result."""

    def open(self) -> Span:
        raise NotImplementedError

    def item(self, item: Any) -> None:
        """An event the generator yielded."""

    def close(self, result: Any) -> None:
        """The generator returned ``result``."""


class _RunScope(_Scope):
    def __init__(self, hooks: OTelHooks, agent: Any) -> None:
        self.hooks = hooks
        self.agent = agent
        self.input_tokens = self.output_tokens = 0
        self.counted = False
        self.steps = 0
        self.final: FinalAnswerStep | None = None

    def open(self) -> Span:
        agent, name = self.agent, _agent_name(self.agent)
        model = getattr(agent, "model", None)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": name,
            "smolagents.agent.class": type(agent).__name__,
        }
        if model is not None:
            attributes["gen_ai.request.model"] = _model_id(model)
            provider = provider_name(model)
            if provider:
                attributes["gen_ai.provider.name"] = provider
        description = getattr(agent, "description", None)
        if isinstance(description, str) and description:
            attributes["gen_ai.agent.description"] = description
        task = getattr(agent, "task", None)
        if self.hooks.record_content and isinstance(task, str):
            attributes["gen_ai.input.messages"] = to_json(
                [{"role": "user", "parts": [{"type": "text", "content": task}]}]
            )
        self.span = self.hooks.tracer.start_span(
            f"invoke_agent {name}", kind=SpanKind.INTERNAL, attributes=attributes
        )
        return self.span

    def item(self, item: Any) -> None:
        if isinstance(item, (ActionStep, PlanningStep)):
            self.steps += isinstance(item, ActionStep)
            usage = item.token_usage
            if usage is not None:
                self.counted = True
                self.input_tokens += usage.input_tokens
                self.output_tokens += usage.output_tokens
        elif isinstance(item, FinalAnswerStep):
            self.final = item

    def close(self, result: Any) -> None:
        span = self.span
        span.set_attribute("smolagents.run.steps", self.steps)
        state = getattr(self.agent, "_run_state", None)
        if isinstance(state, str):
            span.set_attribute("smolagents.run.state", state)
        if self.counted:
            span.set_attribute("gen_ai.usage.input_tokens", self.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", self.output_tokens)
        if self.hooks.record_content and self.final is not None:
            answer = self.final.output
            text = answer if isinstance(answer, str) else to_json(answer)
            span.set_attribute(
                "gen_ai.output.messages",
                to_json(
                    [
                        {
                            "role": "assistant",
                            "parts": [{"type": "text", "content": text}],
                            "finish_reason": "stop",
                        }
                    ]
                ),
            )


class _StepScope(_Scope):
    def __init__(self, hooks: OTelHooks, agent: Any, memory_step: Any, kind: str) -> None:
        self.hooks = hooks
        self.agent = agent
        self.memory_step = memory_step
        self.kind = kind

    def open(self) -> Span:
        name = _agent_name(self.agent)
        attributes: dict[str, Any] = {"gen_ai.agent.name": name}
        if self.kind == "planning":
            attributes["gen_ai.operation.name"] = "plan"
            attributes["smolagents.step.number"] = int(getattr(self.agent, "step_number", 0) or 0)
            span_name = f"plan {name}"
        else:
            number = int(getattr(self.memory_step, "step_number", 0) or 0)
            attributes["smolagents.step.number"] = number
            span_name = f"step {number}"
        self.span = self.hooks.tracer.start_span(span_name, kind=SpanKind.INTERNAL, attributes=attributes)
        return self.span

    def close(self, result: Any) -> None:
        span = self.span
        record = result if isinstance(result, PlanningStep) else self.memory_step
        usage = getattr(record, "token_usage", None)
        if usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
        if isinstance(result, ActionOutput):
            span.set_attribute("smolagents.step.final_answer", bool(result.is_final_answer))
        if self.hooks.record_content and isinstance(result, PlanningStep):
            span.set_attribute("smolagents.plan", result.plan)
