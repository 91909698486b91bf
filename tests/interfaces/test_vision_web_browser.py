"""The vision web-browser agent against a real headless Chromium and a site served on 127.0.0.1.

A ``ScriptedModel`` writes the helium code a vision model would write; the code runs in the
local sandbox and drives the browser. We check what the server saw, what the agent's memory
holds (URLs, tool outputs, screenshots only on the last two steps) and what the pages look like.
Without Chromium/chromedriver or helium/selenium the browser tests skip with the reason.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smolagents.errors import MissingDependencyError
from smolagents.memory import ActionStep
from smolagents.testing import ScriptedModel

SITE = Path(__file__).parent / "_site"
# Where screenshots of the end-to-end test are kept for a human to look at.
ARTIFACTS = Path(os.environ.get("SMOLAGENTS_TEST_ARTIFACTS", "/tmp/smolagents-test-artifacts")) / "webagent"


def code(body: str, thought: str = "Thought: next browser action.") -> str:
    return f"{thought}\n<code>\n{body}\n</code>"


# ----------------------------------------------------------------------------- site server
class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[str, list[str]]]:
    """(base URL, list of requested paths) of the test site on a free loopback port."""
    requests: list[str] = []
    handler = type("Handler", (_SiteHandler,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(SITE))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


# ----------------------------------------------------------------------------- browser
def _browser_skip_reason() -> str | None:
    for module in ("helium", "selenium"):
        try:
            __import__(module)
        except ImportError:
            return (
                f"BROWSER TESTS NOT RUN: the '{module}' package is missing "
                "(pip install 'smolagents[vision]')."
            )
    return None


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """One headless Chromium for the module (starting one costs seconds)."""
    reason = _browser_skip_reason()
    if reason:
        pytest.skip(reason)
    from smolagents.vision_web_browser import BrowserNotFoundError, start_chrome

    try:
        browser = start_chrome(headless=True)
    except BrowserNotFoundError as exc:
        pytest.skip(f"BROWSER TESTS NOT RUN: headless Chromium could not start: {exc}")
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def fresh_browser(driver: Any, site: tuple[str, list[str]]) -> Any:
    """Each test starts from a blank tab, with the site's session storage cleared (the pop-up
    shows once per session, and session storage belongs to the site's origin)."""
    base, requests = site
    driver.get(f"{base}/search.html")
    driver.execute_script("sessionStorage.clear();")
    driver.delete_all_cookies()
    driver.get("about:blank")
    requests.clear()
    return driver


@pytest.fixture(autouse=True)
def scripted_models_used_up() -> Iterator[None]:
    with ScriptedModel.tracking():
        yield


def _viewport(driver: Any) -> tuple[int, int]:
    return tuple(driver.execute_script("return [window.innerWidth, window.innerHeight]"))  # type: ignore[return-value]


class _PageRecorder:
    """A second step callback: what the browser looked like after each step, from the host side."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.pages: dict[int, dict[str, Any]] = {}

    def __call__(self, memory_step: ActionStep, agent: Any = None) -> None:
        if memory_step.observations_images:  # a visual record of every step, for a human to check
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            memory_step.observations_images[0].save(ARTIFACTS / f"step_{memory_step.step_number}.png")
        self.pages[memory_step.step_number] = {
            "url": self.driver.current_url,
            "scroll_y": self.driver.execute_script("return window.scrollY"),
            "modal_shown": self.driver.execute_script(
                "var m = document.getElementById('modal'); return !!m && m.style.display === 'block';"
            ),
        }


# ----------------------------------------------------------------------------- end to end
def test_agent_browses_the_site_with_helium_and_keeps_the_last_two_screenshots(
    site: tuple[str, list[str]], fresh_browser: Any
) -> None:
    from smolagents.vision_web_browser import make_browser_agent

    base, requests = site
    model = ScriptedModel(
        [
            code(f'go_to("{base}/index.html")\nclick("Next page")'),
            code('print("popup before:", Text("Subscribe to our newsletter").exists())\nclose_popups()'),
            code('click(Link("Long article"))\nprint(search_item_ctrl_f("needle", nth_result=2))'),
            code("go_back()\nprint(get_driver().title)"),
            code('final_answer("Second page visited, popup closed, needle found")'),
        ]
    )
    recorder = _PageRecorder(fresh_browser)
    agent = make_browser_agent(
        model, driver=fresh_browser, settle_seconds=0, verbosity_level=-1, step_callbacks=[recorder]
    )
    answer = agent.run("Visit the second page, close the pop-up, find the second needle, come back.")

    assert answer == "Second page visited, popup closed, needle found"
    # The browser really fetched the pages, in order, from our server.
    visited = [path for path in requests if path.endswith(".html")]
    assert visited[:3] == ["/index.html", "/page2.html", "/long.html"]

    steps = [step for step in agent.memory.steps if isinstance(step, ActionStep)]
    assert [step.step_number for step in steps] == [1, 2, 3, 4, 5]
    assert all(step.error is None for step in steps), [step.error for step in steps]

    # Every step's observations end with the URL the browser was on after it.
    expected_pages = ["page2.html", "page2.html", "long.html", "page2.html", "page2.html"]
    for step, page in zip(steps, expected_pages):
        assert step.observations is not None
        assert step.observations.splitlines()[-1] == f"Current url: {base}/{page}"
        assert recorder.pages[step.step_number]["url"] == f"{base}/{page}"

    # The pop-up was open after step 1, helium saw it, close_popups() closed it.
    assert recorder.pages[1]["modal_shown"] is True
    assert "popup before: True" in steps[1].observations
    assert recorder.pages[2]["modal_shown"] is False
    # search_item_ctrl_f found the three needles and scrolled far down to the second one.
    assert "Found 3 matches for 'needle'. Focused on match 2 of 3." in steps[2].observations
    assert recorder.pages[3]["scroll_y"] > 2000
    assert "Second page" in steps[3].observations  # the title printed after go_back()

    # Screenshots: only the last two steps keep theirs, as PIL images of the viewport.
    from PIL import Image

    assert [step.observations_images is not None for step in steps] == [False, False, False, True, True]
    width, height = _viewport(fresh_browser)
    for step in steps[3:]:
        (image,) = step.observations_images
        assert isinstance(image, Image.Image)
        assert image.size == (width, height)
    # The screenshot shows the page: the second page's green header at the top, no pop-up.
    image = steps[4].observations_images[0].convert("RGB")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    image.save(ARTIFACTS / "last_step.png")
    assert image.getpixel((width - 10, 40)) == (0x2D, 0xA4, 0x4E)  # right of the title
    assert image.getpixel((width // 2, height // 2)) == (255, 255, 255)

    # The images reach the model: each call sees the screenshots of at most the two previous steps.
    def images_sent(call: Any) -> list[Any]:
        return [
            part["image"]
            for message in call.messages
            for part in (message.content if isinstance(message.content, list) else [])
            if isinstance(part, dict) and part.get("type") == "image"
        ]

    assert [len(images_sent(call)) for call in model.calls] == [0, 1, 2, 2, 2]
    assert all(sent.size == (width, height) for sent in images_sent(model.calls[-1]))


def test_agent_fills_the_search_box_and_recovers_from_a_failed_search(
    site: tuple[str, list[str]], fresh_browser: Any
) -> None:
    from smolagents.vision_web_browser import make_browser_agent

    base, requests = site
    model = ScriptedModel(
        [
            code(f'go_to("{base}/index.html")\nwrite("needle", into="Search")\npress(ENTER)'),
            code('search_item_ctrl_f("haystack")'),
            code('final_answer(Text("Results for: needle").exists())'),
        ]
    )
    agent = make_browser_agent(model, driver=fresh_browser, settle_seconds=0, verbosity_level=-1)
    assert agent.run("Search the site for needle.") is True

    assert "/search.html?q=needle" in requests
    steps = [step for step in agent.memory.steps if isinstance(step, ActionStep)]
    assert steps[0].observations.splitlines()[-1] == f"Current url: {base}/search.html?q=needle"
    # A search with no match is an error the model sees, with the URL still reported.
    assert steps[1].error is not None
    assert "Match number 1 of 'haystack' not found: the page has 0 matches" in str(steps[1].error)
    assert steps[1].observations.splitlines()[-1] == f"Current url: {base}/search.html?q=needle"
    assert steps[1].observations_images is not None


def test_search_item_ctrl_f_handles_quotes_in_the_text(
    site: tuple[str, list[str]], fresh_browser: Any
) -> None:
    from smolagents.vision_web_browser import search_item_ctrl_f

    base, _ = site
    fresh_browser.get(f"{base}/index.html")
    fresh_browser.execute_script(
        "var p = document.createElement('p'); p.textContent = 'It\\'s a \"quoted\" text'; document.body.appendChild(p);"
    )
    assert search_item_ctrl_f('It\'s a "quoted"') == (
        "Found 1 matches for 'It\\'s a \"quoted\"'. Focused on match 1 of 1."
    )
    with pytest.raises(ValueError, match="counts from 1"):
        search_item_ctrl_f("home", nth_result=0)


def test_webagent_command_runs_a_model_over_http_and_sends_screenshots(
    site: tuple[str, list[str]],
    driver: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``webagent`` end to end: flags -> OpenAIModel -> loopback server; its own headless Chromium."""
    pytest.importorskip("openai", reason="the webagent CLI test talks to the model through the openai SDK")
    from smolagents.testing.openai_server import OpenAICompatibleServer
    from smolagents.vision_web_browser import main

    base, requests = site
    requests.clear()
    replies = [
        code(f'go_to("{base}/long.html")'),
        code('final_answer("done: " + get_driver().title)'),
    ]
    with OpenAICompatibleServer(replies=replies) as server:
        rc = main(
            [
                "Open the long article.",
                "--headless",
                "--model-type", "OpenAIModel",
                "--model-id", "vision-test-model",
                "--api-base", server.base_url,
                "--api-key", "test",
                "--verbosity-level", "-1",
            ]
        )  # fmt: skip
        sent = [request.json for request in server.requests]
    assert rc == 0
    assert capsys.readouterr().out.strip().endswith("done: Long article")
    assert "/long.html" in requests
    assert sent[0]["model"] == "vision-test-model"
    # The second request carries the screenshot of step 1 as an image part, and the URL.
    second = sent[1]["messages"]
    image_parts = [
        part
        for message in second
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if part.get("type") == "image_url"
    ]
    assert len(image_parts) == 1
    assert image_parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert f"Current url: {base}/long.html" in str(second)
    # Our browser guide is in the system prompt.
    assert "search_item_ctrl_f" in str(sent[0]["messages"][0])


def test_a_javascript_alert_is_reported_to_the_model_and_the_run_goes_on(
    site: tuple[str, list[str]], fresh_browser: Any
) -> None:
    from smolagents.vision_web_browser import make_browser_agent

    base, _ = site
    model = ScriptedModel(
        [
            code(f'go_to("{base}/index.html")\nget_driver().execute_script("alert(\'hello there\')")'),
            code("final_answer(get_driver().title)"),
        ]
    )
    agent = make_browser_agent(model, driver=fresh_browser, settle_seconds=0, verbosity_level=-1)
    assert agent.run("Open the home page.") == "Home"
    first, second = [step for step in agent.memory.steps if isinstance(step, ActionStep)]
    assert first.observations.splitlines()[-2:] == [
        "A JavaScript dialog was open and has been dismissed; it said: 'hello there'",
        f"Current url: {base}/index.html",
    ]
    assert first.observations_images is not None  # captured once the dialog was gone
    assert second.observations.splitlines()[-1] == f"Current url: {base}/index.html"


def test_make_browser_agent_refuses_an_executor_that_cannot_reach_the_browser(fresh_browser: Any) -> None:
    from smolagents.vision_web_browser import make_browser_agent

    with pytest.raises(ValueError, match="local sandbox"):
        make_browser_agent(ScriptedModel([]), driver=fresh_browser, executor_type="process")


# ----------------------------------------------------------------------------- without a browser
def test_webagent_without_a_model_says_how_to_configure_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from smolagents.cli import ENV_MODEL_TYPES
    from smolagents.vision_web_browser import main

    for variable, _ in ENV_MODEL_TYPES:
        monkeypatch.delenv(variable, raising=False)
    assert main(["find something"]) == 2
    err = capsys.readouterr().err
    assert "webagent: no model is configured" in err
    assert 'webagent "your task" --model-id' in err


def test_missing_chromium_names_the_packages_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    if _browser_skip_reason():
        pytest.skip(_browser_skip_reason())
    from smolagents.vision_web_browser import BrowserNotFoundError, start_chrome

    monkeypatch.setenv("SMOLAGENTS_CHROME_BINARY", "/nonexistent/chromium")
    with pytest.raises(BrowserNotFoundError, match=r"apt-get install chromium chromium-driver"):
        start_chrome()


def test_missing_helium_names_the_vision_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from smolagents.vision_web_browser import make_browser_agent, search_item_ctrl_f, start_chrome

    monkeypatch.setitem(sys.modules, "helium", None)  # makes `import helium` fail
    for call in (
        start_chrome,
        lambda: make_browser_agent(ScriptedModel([])),
        lambda: search_item_ctrl_f("x"),
    ):
        with pytest.raises(MissingDependencyError, match=r"pip install 'smolagents\[vision\]'"):
            call()


def test_importing_the_module_does_not_import_selenium() -> None:
    import subprocess

    probe = (
        "import sys, smolagents.vision_web_browser as m; "
        "print(any(name.split('.')[0] in ('helium', 'selenium') for name in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_chromium_is_installed_where_the_browser_tests_expect_it() -> None:
    """Make a missing browser visible in the summary instead of only in skipped tests."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip(
            "BROWSER TESTS NOT RUN: chromium/chromedriver not on PATH "
            "(apt-get install chromium chromium-driver)."
        )
