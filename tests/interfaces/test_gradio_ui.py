"""GradioUI and stream_to_gradio: the chat messages of a run, uploads, sessions, Stop.

These drive the real gradio package's message and component classes; the browser end to
end test (headless Chromium) is not written yet (see the issue note).
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
import urllib.request
from pathlib import Path

import gradio as gr  # noqa: F401 - in the test extra: a broken install must fail, not skip
from PIL import Image

from smolagents import AgentImage, CodeAgent, LogLevel, ToolCallingAgent, tool
from smolagents.gradio_ui import GradioUI, stream_to_gradio
from smolagents.testing import ScriptedModel


@tool
def lookup(city: str) -> str:
    """Look up a city's weather.

    Args:
        city: the city.
    """
    return f"sunny in {city}"


def titles(messages) -> list[str]:
    return [(m.metadata or {}).get("title", "") for m in messages]


def texts(messages) -> list[str]:
    return [m.content if isinstance(m.content, str) else repr(m.content) for m in messages]


def code_agent(replies, **kwargs) -> CodeAgent:
    return CodeAgent(tools=[lookup], model=ScriptedModel(replies), verbosity_level=LogLevel.OFF, **kwargs)


def test_code_agent_run_as_chat_messages_in_order() -> None:
    agent = code_agent(
        [
            "Thought: ask the tool.\n<code>\nw = lookup('Paris')\nprint(w)\n</code>",
            "Thought: done.\n<code>\nfinal_answer(w)\n</code>",
        ]
    )
    messages = list(stream_to_gradio(agent, "Weather in Paris?"))
    contents = texts(messages)
    assert contents[0] == "**Step 1**"
    assert contents[1] == "Thought: ask the tool."
    assert titles(messages)[2] == "🛠️ Ran code" and "w = lookup('Paris')" in contents[2]
    assert titles(messages)[3] == "📝 Logs" and "sunny in Paris" in contents[3]
    assert messages[3].metadata["parent_id"] == messages[2].metadata["id"]  # logs nested under the call
    assert "Step 1" in contents[4] and "Duration" in contents[4]
    assert contents[5] == "**Step 2**"
    assert contents[-1] == "**Final answer:**\nsunny in Paris"
    assert all(m.role == "assistant" for m in messages)


def test_tool_calling_agent_run_as_chat_messages() -> None:
    call = ScriptedModel.tool_call
    agent = ToolCallingAgent(
        tools=[lookup],
        model=ScriptedModel([call("lookup", {"city": "Oslo"}), call("final_answer", {"answer": "cold"})]),
        verbosity_level=LogLevel.OFF,
    )
    messages = list(stream_to_gradio(agent, "Weather in Oslo?"))
    assert "🛠️ Called tool lookup" in titles(messages)
    call_message = messages[titles(messages).index("🛠️ Called tool lookup")]
    assert "Oslo" in call_message.content
    logs = [m for m in messages if (m.metadata or {}).get("title") == "📝 Logs"]
    assert logs and "sunny in Oslo" in logs[0].content
    assert texts(messages)[-1] == "**Final answer:**\ncold"


def _researcher(runs: int = 1) -> ToolCallingAgent:
    call = ScriptedModel.tool_call
    return ToolCallingAgent(
        tools=[lookup],
        model=ScriptedModel(
            [call("lookup", {"city": "Rome"}), call("final_answer", {"answer": "warm"})] * runs
        ),
        name="researcher",
        description="Finds the weather.",
        verbosity_level=LogLevel.OFF,
    )


def test_a_managed_agents_steps_are_nested_under_the_managers_call() -> None:
    call = ScriptedModel.tool_call
    manager = ToolCallingAgent(
        tools=[],
        model=ScriptedModel(
            [call("researcher", {"task": "weather in Rome"}), call("final_answer", {"answer": "ok"})]
        ),
        managed_agents=[_researcher()],
        verbosity_level=LogLevel.OFF,
    )
    messages = list(stream_to_gradio(manager, "Ask the researcher"))
    by_title = {(m.metadata or {}).get("title"): m for m in messages}
    call_message = by_title["🛠️ Called tool researcher"]
    nested = [m for m in messages if str((m.metadata or {}).get("title", "")).startswith("🤝 researcher")]
    assert [m.metadata["title"] for m in nested] == ["🤝 researcher · Step 1", "🤝 researcher · Step 2"]
    assert all(m.metadata["parent_id"] == call_message.metadata["id"] for m in nested)
    assert "sunny in Rome" in nested[0].content
    assert messages.index(nested[0]) > messages.index(call_message)  # after the call, before the next step
    assert texts(messages)[-1] == "**Final answer:**\nok"


def test_a_managed_agent_called_from_code_is_nested_under_the_code() -> None:
    manager = CodeAgent(
        tools=[],
        model=ScriptedModel(["<code>\nr = researcher(task='weather in Rome')\nfinal_answer(r)\n</code>"] * 2),
        managed_agents=[_researcher(runs=2)],
        verbosity_level=LogLevel.OFF,
    )
    messages = list(stream_to_gradio(manager, "Ask the researcher"))
    nested = [m for m in messages if str((m.metadata or {}).get("title", "")).startswith("🤝 researcher")]
    assert len(nested) == 2 and all(m.metadata["parent_id"] == "step-1-call-0" for m in nested)
    assert "warm" in texts(messages)[-1]
    # the next task in the same conversation shows only the researcher's new run
    more = list(stream_to_gradio(manager, "Again"))
    again = [m for m in more if str((m.metadata or {}).get("title", "")).startswith("🤝 researcher")]
    assert [m.metadata["title"] for m in again] == ["🤝 researcher · Step 1", "🤝 researcher · Step 2"]


def test_an_error_step_is_shown_and_the_run_goes_on() -> None:
    agent = code_agent(["<code>\n1 / 0\n</code>", "<code>\nfinal_answer('recovered')\n</code>"])
    messages = list(stream_to_gradio(agent, "divide"))
    errors = [m for m in messages if str(m.content).startswith("💥 **Error:**")]
    assert len(errors) == 1 and "ZeroDivisionError" in errors[0].content
    assert texts(messages)[-1] == "**Final answer:**\nrecovered"


def test_planning_steps_are_shown() -> None:
    agent = code_agent(["1. Answer at once.", "<code>\nfinal_answer(42)\n</code>"], planning_interval=1)
    messages = list(stream_to_gradio(agent, "plan it"))
    plan = [m for m in messages if (m.metadata or {}).get("title") == "🧭 Plan"]
    assert plan and "Answer at once" in plan[0].content
    assert texts(messages)[-1] == "**Final answer:**\n42"


def test_an_image_answer_is_rendered_as_an_image(tmp_path: Path) -> None:
    picture = Image.new("RGB", (4, 4), "red")

    @tool
    def draw() -> AgentImage:
        """Draw a picture."""
        return AgentImage(picture)

    agent = CodeAgent(
        tools=[draw],
        model=ScriptedModel(["<code>\nfinal_answer(draw())\n</code>"]),
        verbosity_level=LogLevel.OFF,
    )
    final = list(stream_to_gradio(agent, "draw"))[-1]
    assert isinstance(final.content, dict) or hasattr(final.content, "path")
    path = final.content["path"] if isinstance(final.content, dict) else final.content.path
    assert Image.open(path).size == (4, 4)


def test_streamed_text_comes_as_pending_drafts_that_the_ui_replaces() -> None:
    agent = code_agent(["<code>\nfinal_answer('hi')\n</code>"], stream_outputs=True)
    messages = list(stream_to_gradio(agent, "say hi"))
    drafts = [m for m in messages if (m.metadata or {}).get("status") == "pending"]
    assert len(drafts) > 1 and drafts[-1].content.startswith("<code>\nfinal_answer('hi')")
    assert all(b.content.startswith(a.content) for a, b in itertools.pairwise(drafts))  # the text so far
    ui = GradioUI(code_agent(["<code>\nfinal_answer('hi')\n</code>"], stream_outputs=True))
    history = list(ui.interact_with_agent("say hi", [], {}))[-1]
    assert history[0].role == "user" and history[0].content == "say hi"
    assert not any((m.metadata or {}).get("status") == "pending" for m in history)
    assert history[-1].content == "**Final answer:**\nhi"


def test_a_failing_run_shows_its_error_and_ends() -> None:
    agent = code_agent([RuntimeError("model server down")])
    messages = list(stream_to_gradio(agent, "anything"))
    assert len(messages) == 1 and messages[0].content.startswith("💥 **The run failed:**")
    assert "model server down" in messages[0].content


def test_upload_allowed_refused_too_large_and_disabled(tmp_path: Path) -> None:
    ui = GradioUI(code_agent([]), file_upload_folder=str(tmp_path / "uploads"), max_upload_bytes=100)
    good = tmp_path / "notes.txt"
    good.write_text("hello")
    status, log = ui.upload_file(good, [])
    assert "File uploaded" in status.value and log == [str(tmp_path / "uploads" / "notes.txt")]
    assert (tmp_path / "uploads" / "notes.txt").read_text() == "hello"
    bad = tmp_path / "run.exe"
    bad.write_bytes(b"MZ")
    status, log2 = ui.upload_file(bad, log)
    assert "not allowed" in status.value and log2 == log
    big = tmp_path / "big.txt"
    big.write_text("x" * 500)
    status, log3 = ui.upload_file(big, log)
    assert "too large" in status.value and log3 == log
    status, _ = GradioUI(code_agent([])).upload_file(good, [])
    assert "disabled" in status.value


def test_uploaded_files_are_passed_to_the_agent(tmp_path: Path) -> None:
    agent = code_agent(["<code>\nfinal_answer('read')\n</code>"])
    ui = GradioUI(agent, file_upload_folder=str(tmp_path / "uploads"))
    good = tmp_path / "in.txt"
    good.write_text("data")
    session: dict = {}
    _, log = ui.upload_file(good, [])
    ui._remember_uploads(log, session)
    list(ui.interact_with_agent("use the file", [], session))
    task = session["agent"].memory.steps[0].task
    assert "use the file" in task and str(tmp_path / "uploads" / "in.txt") in task


def test_each_session_has_its_own_memory() -> None:
    agent = code_agent(["<code>\nfinal_answer('A')\n</code>", "<code>\nfinal_answer('B')\n</code>"])
    ui = GradioUI(agent)
    first, second = {}, {}
    list(ui.interact_with_agent("task for alice", [], first))
    list(ui.interact_with_agent("task for bob", [], second))
    assert first["agent"] is not second["agent"]
    first_tasks = [s.task for s in first["agent"].memory.steps if hasattr(s, "task")]
    second_tasks = [s.task for s in second["agent"].memory.steps if hasattr(s, "task")]
    assert first_tasks == ["task for alice"] and second_tasks == ["task for bob"]


def test_stop_ends_the_run_after_the_current_step() -> None:
    started, release = threading.Event(), threading.Event()

    @tool
    def slow() -> str:
        """A slow tool."""
        started.set()
        release.wait(10)
        return "slow done"

    replies = ["<code>\nslow()\n</code>"] * 5 + ["<code>\nfinal_answer('too late')\n</code>"]
    model = ScriptedModel(replies, allow_unused_replies=True)  # the run is stopped early on purpose
    agent = CodeAgent(tools=[slow], model=model, verbosity_level=LogLevel.OFF)
    ui = GradioUI(agent)
    session: dict = {}
    results: list = []
    worker = threading.Thread(target=lambda: results.extend(ui.interact_with_agent("go", [], session)))
    worker.start()
    assert started.wait(10)
    assert "Stopping" in ui.stop(session)
    release.set()
    worker.join(20)
    history = results[-1]
    assert not any("too late" in str(m.content) for m in history)
    assert "interrupt" in " ".join(texts(history)).lower()


def test_the_app_serves_on_loopback() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ui = GradioUI(code_agent([]), file_upload_folder=None)
    app = ui.create_app()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, share=False, quiet=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    body = response.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert response.status == 200 and "gradio" in body.lower()
    finally:
        app.close()
