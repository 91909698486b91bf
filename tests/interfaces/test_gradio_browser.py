"""GradioUI end to end in headless Chromium (Playwright's Python client driving Debian's
``chromium``; no browser is downloaded). Screenshots go to the artifacts folder
(``$SMOLAGENTS_TEST_ARTIFACTS``, default /tmp/smolagents-test-artifacts/gradio)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from smolagents import AgentImage, CodeAgent, LogLevel, tool
from smolagents.gradio_ui import GradioUI
from smolagents.models import content_to_text
from smolagents.testing import ScriptedModel

CHROMIUM = os.environ.get("SMOLAGENTS_CHROME_BINARY") or shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="BROWSER TESTS NOT RUN: no Chromium on PATH (apt-get install chromium chromium-driver)",
)
ARTIFACTS = Path(os.environ.get("SMOLAGENTS_TEST_ARTIFACTS", "/tmp/smolagents-test-artifacts")) / "gradio"


def _task(messages) -> str:
    texts = [content_to_text(m.content if hasattr(m, "content") else m["content"]) for m in messages]
    return [t for t in texts if t.startswith("New task:")][-1]


def answer_by_task(messages, **kwargs) -> str:
    """Answers with the name found in the task, so each session's answer is its own."""
    name = re.search(r"task for (\w+)", _task(messages)).group(1)
    return f"Thought: answer {name}.\n<code>\nfinal_answer('hello {name}')\n</code>"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def serve() -> Iterator:
    apps = []

    def start(ui: GradioUI) -> str:
        port = _free_port()
        app = ui.create_app()
        app.launch(
            server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, share=False, quiet=True
        )
        apps.append(app)
        return f"http://127.0.0.1:{port}/"

    yield start
    for app in apps:
        app.close()


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _send(page: Page, task: str) -> None:
    page.locator("#task textarea").fill(task)
    page.locator("#send").click()


def _chat(page: Page) -> str:
    return page.locator("#agent-chat").inner_text()


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_task_shows_its_steps_then_the_answer(chromium_browser, serve) -> None:
    agent = CodeAgent(
        tools=[],
        model=ScriptedModel(
            ["Thought: compute.\n<code>\nx = 6 * 7\nprint(x)\n</code>", "<code>\nfinal_answer(x)\n</code>"]
        ),
        verbosity_level=LogLevel.OFF,
    )
    page = chromium_browser.new_page(viewport={"width": 1200, "height": 1400})
    page.goto(serve(GradioUI(agent)))
    _send(page, "What is 6 times 7?")
    page.get_by_text("Final answer:").wait_for(timeout=60_000)
    chat = _chat(page)
    order = [
        chat.index(part)
        for part in ("What is 6 times 7?", "Step 1", "Thought: compute.", "Step 2", "Final answer:")
    ]
    assert order == sorted(order)
    assert re.search(r"Final answer:\s*42", chat)
    assert "Input tokens" in chat and "Duration" in chat
    page.get_by_text("Ran code").first.click()  # the collapsed section opens on the code and its logs
    page.get_by_text("x = 6 * 7").wait_for(timeout=10_000)
    _shot(page, "steps_and_answer")
    page.close()


def test_two_browser_sessions_keep_separate_conversations(chromium_browser, serve) -> None:
    agent = CodeAgent(tools=[], model=ScriptedModel([answer_by_task] * 2), verbosity_level=LogLevel.OFF)
    url = serve(GradioUI(agent))
    alice, bob = chromium_browser.new_context(), chromium_browser.new_context()
    page_a, page_b = alice.new_page(), bob.new_page()
    page_a.goto(url)
    page_b.goto(url)
    _send(page_a, "task for alice")
    page_a.get_by_text("hello alice").wait_for(timeout=60_000)
    _send(page_b, "task for bob")
    page_b.get_by_text("hello bob").wait_for(timeout=60_000)
    assert "bob" not in _chat(page_a) and "alice" not in _chat(page_b)
    _shot(page_b, "second_session")
    alice.close()
    bob.close()


def test_upload_an_allowed_and_a_refused_file(chromium_browser, serve, tmp_path: Path) -> None:
    agent = CodeAgent(tools=[], model=ScriptedModel([]), verbosity_level=LogLevel.OFF)
    folder = tmp_path / "uploads"
    page = chromium_browser.new_page()
    page.goto(serve(GradioUI(agent, file_upload_folder=str(folder))))
    good = tmp_path / "notes.txt"
    good.write_text("hello")
    page.locator("#upload input[type=file]").set_input_files(str(good))
    page.wait_for_function(
        "document.querySelector('#status textarea')?.value.includes('File uploaded')", timeout=30_000
    )
    assert (folder / "notes.txt").read_text() == "hello"
    bad = tmp_path / "tool.exe"
    bad.write_bytes(b"MZ")
    page.locator("#upload button[aria-label='Clear']").first.click() if page.locator(
        "#upload button[aria-label='Clear']"
    ).count() else None
    page.locator("#upload input[type=file]").set_input_files(str(bad))
    page.wait_for_function(
        "document.querySelector('#status textarea')?.value.includes('not allowed')", timeout=30_000
    )
    assert not (folder / "tool.exe").exists()
    _shot(page, "refused_upload")
    page.close()


def test_stop_during_a_slow_run(chromium_browser, serve) -> None:
    started, release = threading.Event(), threading.Event()

    @tool
    def slow() -> str:
        """A slow tool."""
        started.set()
        release.wait(20)
        return "slow done"

    model = ScriptedModel(
        ["<code>\nslow()\n</code>"] * 5 + ["<code>\nfinal_answer('too late')\n</code>"],
        allow_unused_replies=True,
    )
    agent = CodeAgent(tools=[slow], model=model, verbosity_level=LogLevel.OFF)
    page = chromium_browser.new_page()
    page.goto(serve(GradioUI(agent)))
    _send(page, "run slowly")
    assert started.wait(60)
    page.locator("#stop").click()
    page.wait_for_function(
        "document.querySelector('#status textarea')?.value.includes('Stopping')", timeout=30_000
    )
    release.set()
    page.get_by_text(re.compile("interrupt", re.IGNORECASE)).first.wait_for(timeout=60_000)
    assert "too late" not in _chat(page)
    _shot(page, "stopped")
    page.close()


def test_an_image_answer_renders_as_an_image(chromium_browser, serve) -> None:
    @tool
    def draw() -> AgentImage:
        """Draw a red square."""
        return AgentImage(Image.new("RGB", (64, 64), "red"))

    agent = CodeAgent(
        tools=[draw],
        model=ScriptedModel(["<code>\nfinal_answer(draw())\n</code>"]),
        verbosity_level=LogLevel.OFF,
    )
    page = chromium_browser.new_page()
    page.goto(serve(GradioUI(agent)))
    _send(page, "draw")
    image = page.locator("#agent-chat img").last
    image.wait_for(timeout=60_000)
    page.wait_for_function(
        "[...document.querySelectorAll('#agent-chat img')].some(i => i.complete && i.naturalWidth === 64)",
        timeout=30_000,
    )
    _shot(page, "image_answer")
    page.close()
