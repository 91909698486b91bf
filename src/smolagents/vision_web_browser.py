"""A vision web-browser agent: a ``CodeAgent`` that drives Chromium with helium and sees screenshots.

The agent writes helium code (``go_to``, ``click``, ``scroll_down``...) that runs in the local
sandbox against one shared browser; after every step a callback stores a screenshot of the
page in the step's ``observations_images`` (so a vision model sees what the code did) and the
current URL in its observations. Only the last two steps keep their screenshots: older
images are dropped because each one costs the model more context than the text around it.

``webagent "task" --model-type ... --model-id ...`` runs it from the shell.

helium and selenium are optional (``pip install 'smolagents[vision]'``) and are imported only
when a browser is started or a browser tool runs, so importing this module is cheap.
The browser is Chromium with its chromedriver found on ``PATH`` (Debian:
``apt-get install chromium chromium-driver``); both are passed to selenium explicitly, so no
driver download is attempted.

Security: authorising ``helium`` hands the model a real browser. Through ``get_driver()`` (and
``.web_element`` of helium elements) sandboxed code reaches the selenium driver itself, so it
can open ``file://`` URLs (read local files), save screenshots to any path, run JavaScript and
quit the browser. Treat the agent as having those powers; run it in a container or VM when the
task or the pages it visits are untrusted.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from collections.abc import Sequence
from io import BytesIO
from typing import TYPE_CHECKING, Any

from ._optional import require
from .tools import tool

if TYPE_CHECKING:
    from .agents import CodeAgent
    from .memory import ActionStep

__all__ = [
    "BROWSER_INSTRUCTIONS",
    "BrowserNotFoundError",
    "ScreenshotCallback",
    "close_popups",
    "go_back",
    "main",
    "make_browser_agent",
    "parse_arguments",
    "search_item_ctrl_f",
    "start_chrome",
]

_FEATURE = "The vision web browser"
DEFAULT_WINDOW_SIZE: tuple[int, int] = (1000, 1350)
# Executable names tried in order; the environment variables win when set.
_BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_DRIVER_NAMES = ("chromedriver",)
BROWSER_ENV = "SMOLAGENTS_CHROME_BINARY"
DRIVER_ENV = "SMOLAGENTS_CHROMEDRIVER"

# Our own guide for the model. It is added to the agent's system prompt (``instructions=``)
# so every task gets it without the caller pasting it after the task.
BROWSER_INSTRUCTIONS = """\
You are controlling a real web browser (Chromium) with the helium library.
The browser is already open and every helium function is already imported into your code
namespace: do not import helium, do not start or close a browser, and never log in anywhere.
After each of your steps you receive a screenshot of the page and its current URL.

Useful helium calls:
- go_to("https://example.org/page")   # open a URL in the current tab
- click("Sign up")                    # click the element showing this text (button, link...)
- click(Link("Next"))                 # prefer Link(...) / Button(...) when a text is ambiguous
- write("cats", into="Search")        # type into the field labelled "Search"; press(ENTER) submits
- scroll_down(num_pixels=1200)        # about one screen; scroll_up(num_pixels=...) goes back up
- Text("Out of stock").exists()       # True/False, to check before acting
- get_driver().current_url            # where you are
A missing element raises LookupError: look at the screenshot and try another text.

Extra tools written for this browser:
- search_item_ctrl_f(text="...", nth_result=1) scrolls to the n-th element containing the
  text, like Ctrl+F, and says how many matches there are.
- go_back() returns to the previous page.
- close_popups() dismisses a modal or pop-up (it presses Escape). Use it instead of hunting
  for an "X" button; it does not remove cookie banners, click their button instead.

Work in small steps: after a click or a navigation, end your code so that you can check the
new screenshot before doing more. Print the text you need (for example the result of
search_item_ctrl_f) so that it appears in your observations.
"""


class BrowserNotFoundError(RuntimeError):
    """Chromium or its chromedriver is not installed where we can find it."""


def _selenium() -> tuple[Any, Any]:
    """The two optional packages, or the ``pip install`` line that provides them."""
    helium = require("helium", "vision", _FEATURE)
    webdriver = require("selenium.webdriver", "vision", _FEATURE)
    return helium, webdriver


def _find_executable(env: str, names: Sequence[str]) -> str | None:
    override = os.environ.get(env)
    if override:
        return shutil.which(override) or (override if os.path.isfile(override) else None)
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def start_chrome(
    headless: bool = True,
    window_size: tuple[int, int] = DEFAULT_WINDOW_SIZE,
    extra_arguments: Sequence[str] = (),
) -> Any:
    """Start Chromium under selenium, make it helium's current driver, and return the driver.

    The binary and chromedriver are located with ``shutil.which`` (or ``$SMOLAGENTS_CHROME_BINARY``
    / ``$SMOLAGENTS_CHROMEDRIVER``) and handed to selenium explicitly: selenium-manager would
    otherwise try to download a matching browser, which fails offline. The device scale factor
    is pinned to 1 so that a screenshot pixel is a CSS pixel, whatever the screen (a screenshot
    is the viewport: the window minus the browser's own bars).
    """
    helium, webdriver = _selenium()
    service_module = require("selenium.webdriver.chrome.service", "vision", _FEATURE)
    binary = _find_executable(BROWSER_ENV, _BROWSER_NAMES)
    driver_path = _find_executable(DRIVER_ENV, _DRIVER_NAMES)
    if binary is None or driver_path is None:
        missing = [
            what
            for what, path in (("the Chromium browser", binary), ("chromedriver", driver_path))
            if path is None
        ]
        raise BrowserNotFoundError(
            f"{_FEATURE} needs {' and '.join(missing)} on PATH. On Debian/Ubuntu install them with "
            "`apt-get install chromium chromium-driver`; or point "
            f"${BROWSER_ENV} and ${DRIVER_ENV} at a Chrome/Chromium binary and its matching chromedriver."
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    width, height = window_size
    for argument in (
        f"--window-size={width},{height}",
        "--window-position=0,0",
        "--force-device-scale-factor=1",
        "--disable-pdf-viewer",  # show PDFs as downloads, not an extension page the agent can't read
        "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm, which crashes tabs
        *extra_arguments,
    ):
        options.add_argument(argument)
    if headless:
        options.add_argument("--headless=new")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium refuses to start as root with its sandbox
    try:
        driver = webdriver.Chrome(service=service_module.Service(driver_path), options=options)
    except Exception as exc:
        raise BrowserNotFoundError(
            f"{_FEATURE} could not start Chromium ({binary}) with chromedriver ({driver_path}): "
            f"{exc}. Check that both have the same major version"
            + ("" if headless else ", and that a display is available (or use headless mode)")
            + "."
        ) from exc
    helium.set_driver(driver)
    return driver


def _current_driver() -> Any:
    """The driver helium is using: the tools act on whatever browser the agent drives."""
    helium, _ = _selenium()
    driver = helium.get_driver()
    if driver is None:
        raise RuntimeError("No browser is running: start one with start_chrome() first.")
    return driver


def _xpath_literal(text: str) -> str:
    """``text`` as an XPath 1.0 string literal; XPath has no escapes, so mixed quotes need concat()."""
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    parts = text.split("'")
    return "concat(" + ', "\'", '.join(f"'{part}'" for part in parts) + ")"


@tool
def search_item_ctrl_f(text: str, nth_result: int = 1) -> str:
    """Find text on the current page, like Ctrl+F, and scroll the n-th match into view.

    Args:
        text: The text to look for (case-sensitive).
        nth_result: Which match to scroll to, counting from 1.
    """
    by = require("selenium.webdriver.common.by", "vision", _FEATURE).By
    driver = _current_driver()
    if nth_result < 1:
        raise ValueError(f"nth_result counts from 1, got {nth_result}.")
    # Elements with a text node of their own containing the text: the innermost holders,
    # not every ancestor whose descendants contain it.
    elements = driver.find_elements(by.XPATH, f"//body//*[text()[contains(., {_xpath_literal(text)})]]")
    if nth_result > len(elements):
        raise ValueError(
            f"Match number {nth_result} of {text!r} not found: the page has {len(elements)} matches."
        )
    element = elements[nth_result - 1]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    return f"Found {len(elements)} matches for {text!r}. Focused on match {nth_result} of {len(elements)}."


@tool
def go_back() -> str:
    """Go back to the previous page in the browser history."""
    driver = _current_driver()
    driver.back()
    return f"Went back to {driver.current_url}"


@tool
def close_popups() -> str:
    """Close the visible modal or pop-up by pressing Escape. It does not close cookie banners."""
    _, webdriver = _selenium()
    keys = require("selenium.webdriver.common.keys", "vision", _FEATURE).Keys
    webdriver.ActionChains(_current_driver()).send_keys(keys.ESCAPE).perform()
    return "Pressed Escape to close pop-ups."


class ScreenshotCallback:
    """Step callback: screenshot of the browser into the step, URL into its observations.

    Screenshots of steps older than the last ``keep_last`` are dropped from memory: a model
    needs the page as it is now, and every image costs far more context than text.
    Before the screenshot it waits for the document to finish loading and then
    ``settle_seconds`` more, so that JavaScript animations (an opening modal) have ended.
    """

    def __init__(self, driver: Any = None, keep_last: int = 2, settle_seconds: float = 1.0) -> None:
        if keep_last < 1:
            raise ValueError("keep_last must be at least 1: the current step always keeps its screenshot.")
        self.driver = driver
        self.keep_last = keep_last
        self.settle_seconds = settle_seconds

    def __call__(self, memory_step: ActionStep, agent: Any = None) -> None:
        from .memory import ActionStep

        image_module = require("PIL.Image", "vision", _FEATURE)
        driver = self.driver if self.driver is not None else _current_driver()
        dialog_note = self._wait_for_page(driver)
        if agent is not None:
            for step in agent.memory.steps:
                if (
                    isinstance(step, ActionStep)
                    and step.step_number <= memory_step.step_number - self.keep_last
                ):
                    step.observations_images = None
        try:
            image = image_module.open(BytesIO(driver.get_screenshot_as_png()))
            image.load()  # read the pixels now: the BytesIO is gone once we return
            memory_step.observations_images = [image]
            url_info = f"Current url: {driver.current_url}"
        except Exception as exc:  # an open alert, a crashed tab: tell the model, keep the run going
            url_info = f"The browser could not be captured after this step: {type(exc).__name__}: {exc}"
        if dialog_note:
            url_info = dialog_note + "\n" + url_info
        memory_step.observations = (
            url_info if not memory_step.observations else memory_step.observations + "\n" + url_info
        )

    def _wait_for_page(self, driver: Any, timeout: float = 10.0) -> str | None:
        """Wait for the page to load; returns a note for the model when a dialog was in the way.

        A JavaScript alert blocks every driver command; chromedriver dismisses it on the first
        one, so we say what it said rather than let it vanish unseen.
        """
        note = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if driver.execute_script("return document.readyState") == "complete":
                    break
            except Exception as exc:
                alert_text = getattr(exc, "alert_text", None)
                if alert_text is None and "alert" not in type(exc).__name__.lower():
                    break  # a navigating or crashed page: the screenshot attempt will tell
                note = f"A JavaScript dialog was open and has been dismissed; it said: {alert_text!r}"
                continue
            time.sleep(0.05)
        if self.settle_seconds > 0:
            time.sleep(self.settle_seconds)
        return note


def make_browser_agent(
    model: Any,
    driver: Any = None,
    headless: bool = True,
    *,
    max_steps: int = 20,
    verbosity_level: int = 2,
    settle_seconds: float = 1.0,
    **agent_kwargs: Any,
) -> CodeAgent:
    """A ``CodeAgent`` wired to a browser: helium imported in its sandbox, browser tools, screenshots.

    ``driver`` is a selenium driver to use (it becomes helium's current driver); without one,
    Chromium is started with :func:`start_chrome`. The agent runs code in the in-process
    sandbox because the browser lives in this process: a separate process or a remote sandbox
    could not reach it. Our browser guide (:data:`BROWSER_INSTRUCTIONS`) goes into the system
    prompt, after any ``instructions`` you pass.
    """
    from .agents import CodeAgent

    helium, _ = _selenium()
    if driver is None:
        driver = start_chrome(headless=headless)
    else:
        helium.set_driver(driver)
    from .local_python_executor import LocalPythonExecutor

    executor = agent_kwargs.get("executor")
    if agent_kwargs.get("executor_type", "local") != "local" or not (
        executor is None or isinstance(executor, LocalPythonExecutor)
    ):
        raise ValueError(
            "make_browser_agent runs code in the local sandbox (LocalPythonExecutor): the browser "
            "lives in this process, where a separate process or a remote sandbox cannot reach it."
        )
    imports = list(agent_kwargs.pop("additional_authorized_imports", None) or [])
    extra_tools = list(agent_kwargs.pop("tools", None) or [])
    step_callbacks = list(agent_kwargs.pop("step_callbacks", None) or [])
    user_instructions = agent_kwargs.pop("instructions", None)
    instructions = (
        BROWSER_INSTRUCTIONS if not user_instructions else user_instructions + "\n\n" + BROWSER_INSTRUCTIONS
    )
    agent = CodeAgent(
        tools=[go_back, close_popups, search_item_ctrl_f, *extra_tools],
        model=model,
        additional_authorized_imports=sorted({"helium", *imports}),
        step_callbacks=[ScreenshotCallback(driver, settle_seconds=settle_seconds), *step_callbacks],
        max_steps=max_steps,
        verbosity_level=verbosity_level,
        instructions=instructions,
        **agent_kwargs,
    )
    # The executor keeps its variables across runs, so one import serves every run.
    agent.python_executor("from helium import *")
    return agent


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The ``webagent`` flags: the model flags of ``smolagent`` plus the browser's."""
    parser = argparse.ArgumentParser(
        prog="webagent",
        description="Run a vision web-browser agent (Chromium driven by helium) on a task.",
    )
    parser.add_argument("prompt", help="The task, e.g. 'Find the opening hours on https://example.org'.")
    parser.add_argument("--model-type", default=None, help="Model class, e.g. OpenAIModel, LiteLLMModel.")
    parser.add_argument("--model-id", default=None, help="The model's id; it must accept images.")
    parser.add_argument("--provider", default=None, help="Inference provider (InferenceClientModel).")
    parser.add_argument("--api-base", default=None, help="Base URL of the model's API.")
    parser.add_argument("--api-key", default=None, help="API key (defaults to the provider's env variable).")
    parser.add_argument("--headless", action="store_true", help="Run Chromium without a window.")
    parser.add_argument("--max-steps", type=int, default=20, help="Maximum number of steps (default 20).")
    parser.add_argument(
        "--verbosity-level",
        type=int,
        default=2,
        choices=[-1, 0, 1, 2],
        help="-1 off ... 2 debug (default 2).",
    )
    return parser.parse_args(list(argv) if argv is not None else None)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``webagent`` command: build the model from flags/environment, open Chromium, run, close."""
    from .cli import NoModelConfigured, build_model
    from .errors import MissingDependencyError

    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        model = build_model(args.model_type, args.model_id, args.api_base, args.api_key, args.provider)
    except NoModelConfigured as exc:
        print(re.sub(r"\bsmolagent\b", "webagent", str(exc)), file=sys.stderr)
        return 2
    try:
        driver = start_chrome(headless=args.headless)
    except (MissingDependencyError, BrowserNotFoundError) as exc:
        print(f"webagent: {exc}", file=sys.stderr)
        return 1
    try:
        agent = make_browser_agent(
            model, driver=driver, max_steps=args.max_steps, verbosity_level=args.verbosity_level
        )
        print(agent.run(args.prompt))
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
