"""A Gradio chat UI for agents: watch each step as it happens, talk across turns.

``stream_to_gradio`` turns one run's event stream into ``gradio.ChatMessage`` objects (the
``messages`` format of ``gr.Chatbot``): per step the model's thoughts, the code or tool
call, its logs or error in a collapsible section under the call, and a footer with token
counts and duration; planning steps; the final answer rendered by type (text, image,
audio). ``GradioUI`` wraps it in an app with file upload, a Stop button and a
new-conversation button, and gives every browser session its own agent memory.

Gradio is imported only when one of these is used (extra ``gradio``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Generator
from pathlib import Path
from typing import Any

from .agent_types import AgentAudio, AgentImage, AgentText
from .memory import ActionStep, FinalAnswerStep, PlanningStep
from .models import ChatMessageStreamDelta

__all__ = ["GradioUI", "stream_to_gradio"]

DEFAULT_ALLOWED_FILE_TYPES = [".pdf", ".docx", ".txt"]
_CODE_BLOCK = re.compile(r"(<code>|```(?:py|python)?\n).*?(</code>|```)", re.DOTALL)


def _gradio() -> Any:
    try:
        import gradio
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "The Gradio UI needs the 'gradio' package, which is not installed. Install it with: "
            "pip install 'smolagents[gradio]'"
        ) from error
    return gradio


def _footer(step_name: str, step: ActionStep | PlanningStep) -> str:
    parts = [step_name]
    usage = step.token_usage
    if usage is not None:
        parts.append(f"Input tokens: {usage.input_tokens:,} | Output tokens: {usage.output_tokens:,}")
    duration = step.timing.duration if step.timing else None
    if duration is not None:
        parts.append(f"Duration: {duration:.2f} s")
    return f'<span style="color: #8a8a99; font-size: 12px;">{" | ".join(parts)}</span>'


def _thought(step: ActionStep) -> str:
    """The model's words without the code (shown on its own) and without dangling tags."""
    text = step.model_output if isinstance(step.model_output, str) else ""
    text = _CODE_BLOCK.sub("", text).strip()
    return re.sub(r"</?code>|```", "", text).strip()


def _action_messages(gr: Any, step: ActionStep) -> list[Any]:
    messages = [gr.ChatMessage(role="assistant", content=f"**Step {step.step_number}**")]
    thought = _thought(step)
    if thought:
        messages.append(gr.ChatMessage(role="assistant", content=thought))
    for index, call in enumerate(step.tool_calls or []):
        call_id = f"step-{step.step_number}-call-{index}"
        if call.name == "python_interpreter":
            arguments = call.arguments if isinstance(call.arguments, str) else str(call.arguments)
            content = f"```python\n{arguments.strip()}\n```"
            title = "🛠️ Ran code"
        else:
            content = f"```json\n{call.arguments}\n```"
            title = f"🛠️ Called tool {call.name}"
        messages.append(
            gr.ChatMessage(
                role="assistant", content=content, metadata={"title": title, "id": call_id, "status": "done"}
            )
        )
        if index == 0 and step.observations and step.observations.strip():
            messages.append(
                gr.ChatMessage(
                    role="assistant",
                    content=f"```\n{step.observations.strip()}\n```",
                    metadata={"title": "📝 Logs", "parent_id": call_id, "status": "done"},
                )
            )
    if not step.tool_calls and step.observations and step.observations.strip():
        messages.append(
            gr.ChatMessage(
                role="assistant",
                content=f"```\n{step.observations.strip()}\n```",
                metadata={"title": "📝 Logs", "status": "done"},
            )
        )
    if step.error is not None:  # shown open, not folded: the user must see what went wrong
        messages.append(gr.ChatMessage(role="assistant", content=f"💥 **Error:** {step.error}"))
    messages.append(gr.ChatMessage(role="assistant", content=_footer(f"Step {step.step_number}", step)))
    return messages


def _managed_marks(agent: Any) -> dict[str, tuple[int, int]]:
    """For each managed agent: (id of its memory's step list, steps in it) as seen now."""
    managed = getattr(agent, "managed_agents", None) or {}
    return {name: (id(member.memory.steps), len(member.memory.steps)) for name, member in managed.items()}


def _managed_messages(gr: Any, agent: Any, step: ActionStep, seen: dict[str, tuple[int, int]]) -> Any:
    """The steps managed agents took during ``step``, each folded under the call that ran
    them (the manager's tool call of that name, or its code)."""
    now = _managed_marks(agent)
    for name, (list_id, count) in now.items():
        before = seen.get(name)
        if before == (list_id, count):
            continue
        start = before[1] if before is not None and before[0] == list_id else 0  # a reset run: all new
        seen[name] = (list_id, count)
        parent = next(
            (
                f"step-{step.step_number}-call-{i}"
                for i, call in enumerate(step.tool_calls or [])
                if call.name == name
            ),
            f"step-{step.step_number}-call-0",
        )
        for inner in agent.managed_agents[name].memory.steps[start:]:
            if isinstance(inner, (ActionStep, PlanningStep)):
                yield gr.ChatMessage(
                    role="assistant",
                    content=_managed_step_text(inner),
                    metadata={
                        "title": f"🤝 {name} · {_managed_step_title(inner)}",
                        "parent_id": parent,
                        "status": "done",
                    },
                )


def _managed_step_title(step: ActionStep | PlanningStep) -> str:
    return "Plan" if isinstance(step, PlanningStep) else f"Step {step.step_number}"


def _managed_step_text(step: ActionStep | PlanningStep) -> str:
    if isinstance(step, PlanningStep):
        return step.plan.strip()
    parts = [_thought(step)]
    for call in step.tool_calls or []:
        if call.name == "python_interpreter":
            parts.append(f"```python\n{str(call.arguments).strip()}\n```")
        else:
            parts.append(f"`{call.name}` ← `{call.arguments}`")
    if step.observations and step.observations.strip():
        parts.append(f"```\n{step.observations.strip()}\n```")
    if step.error is not None:
        parts.append(f"💥 **Error:** {step.error}")
    return "\n\n".join(part for part in parts if part)


def _is_pending(message: Any) -> bool:
    metadata = getattr(message, "metadata", None)
    return isinstance(metadata, dict) and metadata.get("status") == "pending"


def _final_answer_message(gr: Any, output: Any) -> Any:
    if isinstance(output, AgentImage):
        return gr.ChatMessage(
            role="assistant", content={"path": output.to_string(), "mime_type": "image/png"}
        )
    if isinstance(output, AgentAudio):
        return gr.ChatMessage(
            role="assistant", content={"path": output.to_string(), "mime_type": "audio/wav"}
        )
    text = output.to_string() if isinstance(output, AgentText) else str(output)
    return gr.ChatMessage(role="assistant", content=f"**Final answer:**\n{text}")


def stream_to_gradio(
    agent: Any,
    task: str,
    task_images: list[Any] | None = None,
    reset_agent_memory: bool = False,
    additional_args: dict[str, Any] | None = None,
) -> Generator[Any, None, None]:
    """Run ``agent`` on ``task`` and yield the run as ``gradio.ChatMessage`` objects.

    Streamed model text comes as messages whose ``metadata["status"]`` is ``"pending"``,
    each holding the whole text so far (replace the previous pending one); every other
    message is final. A run that fails yields its error as a message."""
    gr = _gradio()
    streamed = ""
    seen_managed = _managed_marks(agent)
    try:
        events = agent.run(
            task, images=task_images, stream=True, reset=reset_agent_memory, additional_args=additional_args
        )
        for event in events:
            if isinstance(event, ChatMessageStreamDelta):
                streamed += event.content or ""
                yield gr.ChatMessage(role="assistant", content=streamed, metadata={"status": "pending"})
            elif isinstance(event, ActionStep):
                streamed = ""
                yield from _action_messages(gr, event)
                yield from _managed_messages(gr, agent, event, seen_managed)
            elif isinstance(event, PlanningStep):
                streamed = ""
                yield gr.ChatMessage(
                    role="assistant",
                    content=event.plan.strip(),
                    metadata={"title": "🧭 Plan", "status": "done"},
                )
                yield gr.ChatMessage(role="assistant", content=_footer("Planning", event))
            elif isinstance(event, FinalAnswerStep):
                yield _final_answer_message(gr, event.output)
    except Exception as error:  # the chat shows the failure; the app keeps serving
        if "interrupted" in str(error).lower():  # the Stop button (agent.interrupt())
            yield gr.ChatMessage(role="assistant", content="⏹️ **Stopped:** the run was interrupted.")
        else:
            yield gr.ChatMessage(
                role="assistant", content=f"💥 **The run failed:** {type(error).__name__}: {error}"
            )


class GradioUI:
    """A chat app for an agent: each browser session gets its own agent memory.

    Args:
        agent: the agent to talk with. Each session runs a copy of it with its own memory
            (and, for a CodeAgent that built its executor, its own executor).
        file_upload_folder: where uploaded files are saved; ``None`` disables uploads.
        reset_agent_memory: start every message from an empty memory instead of continuing
            the conversation.
        max_upload_bytes: uploads larger than this are refused (default 20 MB).
    """

    def __init__(
        self,
        agent: Any,
        file_upload_folder: str | None = None,
        reset_agent_memory: bool = False,
        *,
        max_upload_bytes: int = 20 * 2**20,
    ) -> None:
        _gradio()
        self.agent = agent
        self.reset_agent_memory = reset_agent_memory
        self.max_upload_bytes = max_upload_bytes
        self.file_upload_folder = Path(file_upload_folder) if file_upload_folder is not None else None
        if self.file_upload_folder is not None:
            self.file_upload_folder.mkdir(parents=True, exist_ok=True)
        self.name = getattr(agent, "name", None) or "Agent interface"
        self.description = getattr(agent, "description", None)

    # ------------------------------------------------------------------ sessions
    def session_agent(self, session_state: dict[str, Any]) -> Any:
        """The agent of one browser session, made on its first message."""
        agent = session_state.get("agent")
        if agent is None:
            clone = getattr(self.agent, "_clone_for_concurrent_call", None)
            try:
                agent = clone() if clone is not None else self.agent
            except Exception:  # an executor the user passed cannot be copied: share the agent
                agent = self.agent
            if agent is not self.agent:
                agent.memory.reset()
            session_state["agent"] = agent
        return agent

    def interact_with_agent(
        self, prompt: str, messages: list[Any], session_state: dict[str, Any]
    ) -> Generator[list[Any], None, None]:
        """Append the user's message and the run's messages to the chat, as they come."""
        gr = _gradio()
        agent = self.session_agent(session_state)
        files = session_state.pop("pending_files", [])
        task = prompt
        if files:
            task += f"\nYou have been provided with these files, which might be helpful or not: {files}"
        messages = [*messages, gr.ChatMessage(role="user", content=prompt)]
        yield messages
        for message in stream_to_gradio(agent, task, reset_agent_memory=self.reset_agent_memory):
            if messages and _is_pending(messages[-1]):
                messages = messages[:-1]  # a streamed draft is replaced by its update or the step
            messages = [*messages, message]
            yield messages
        if messages and _is_pending(messages[-1]):
            yield messages[:-1]

    def stop(self, session_state: dict[str, Any]) -> str:
        """Ask the session's run to stop after its current step."""
        agent = session_state.get("agent")
        if agent is not None:
            agent.interrupt()
        return "Stopping after the current step..."

    def new_conversation(self, session_state: dict[str, Any]) -> list[Any]:
        agent = session_state.get("agent")
        if agent is not None:
            agent.memory.reset()
        session_state.pop("pending_files", None)
        return []

    # ------------------------------------------------------------------ uploads
    def upload_file(
        self, file: Any, file_uploads_log: list[str], allowed_file_types: list[str] | None = None
    ) -> tuple[Any, list[str]]:
        """Save an uploaded file into ``file_upload_folder`` if its type and size are allowed.

        Returns a status textbox and the updated list of uploaded paths."""
        gr = _gradio()
        allowed = [t.lower() for t in (allowed_file_types or DEFAULT_ALLOWED_FILE_TYPES)]
        if file is None:
            return gr.Textbox(value="No file uploaded", visible=True), file_uploads_log
        if self.file_upload_folder is None:
            return gr.Textbox(
                value="File uploads are disabled for this agent", visible=True
            ), file_uploads_log
        # gradio hands a path string (or an object whose ``name`` is the temp file's path)
        source = Path(file if isinstance(file, (str, os.PathLike)) else file.name)
        extension = source.suffix.lower()
        if extension not in allowed:
            return (
                gr.Textbox(
                    value=f"File type {extension or '(none)'} is not allowed: use one of {allowed}",
                    visible=True,
                ),
                file_uploads_log,
            )
        size = source.stat().st_size
        if size > self.max_upload_bytes:
            return (
                gr.Textbox(
                    value=f"File is too large ({size:,} bytes; the limit is {self.max_upload_bytes:,})",
                    visible=True,
                ),
                file_uploads_log,
            )
        safe_name = re.sub(r"[^\w\-.]", "_", os.path.basename(source.name)) or "upload"
        target = self.file_upload_folder / safe_name
        if source.resolve() != target.resolve():
            shutil.copy(source, target)
        return gr.Textbox(value=f"File uploaded: {target}", visible=True), [*file_uploads_log, str(target)]

    def _remember_uploads(self, file_uploads_log: list[str], session_state: dict[str, Any]) -> None:
        session_state["pending_files"] = list(file_uploads_log)

    # ------------------------------------------------------------------ the app
    def create_app(self) -> Any:
        gr = _gradio()
        with gr.Blocks(title=self.name) as app:
            session_state = gr.State({})
            uploads = gr.State([])
            gr.Markdown(f"## {self.name}" + (f"\n{self.description}" if self.description else ""))
            chatbot = gr.Chatbot(label="Agent", height=600, elem_id="agent-chat")
            prompt = gr.Textbox(label="Your task", placeholder="Type a task and press Enter", elem_id="task")
            with gr.Row():
                submit = gr.Button("Send", variant="primary", elem_id="send")
                stop = gr.Button("Stop", elem_id="stop")
                new = gr.Button("New conversation", elem_id="new")
            status = gr.Textbox(label="Status", interactive=False, visible=False, elem_id="status")
            if self.file_upload_folder is not None:
                upload = gr.File(label="Upload a file", elem_id="upload")
                upload.change(self.upload_file, [upload, uploads], [status, uploads]).then(
                    self._remember_uploads, [uploads, session_state], None
                )

            def clear_prompt(text: str) -> tuple[str, str]:
                return "", text

            pending_prompt = gr.State("")
            for trigger in (prompt.submit, submit.click):
                trigger(clear_prompt, [prompt], [prompt, pending_prompt]).then(
                    self.interact_with_agent, [pending_prompt, chatbot, session_state], [chatbot]
                )
            stop.click(
                lambda state: gr.Textbox(value=self.stop(state), visible=True), [session_state], [status]
            )
            new.click(self.new_conversation, [session_state], [chatbot])
        return app

    def launch(self, share: bool = True, **kwargs: Any) -> None:
        """Start the app (``share=True`` asks Gradio for a public link)."""
        self.create_app().launch(share=share, **kwargs)
