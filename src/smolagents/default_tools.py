"""The default toolbox: final answer, user input, web search, web pages and speech to text.

The HTTP search tools (``WebSearchTool``, ``GoogleSearchTool``, ``ApiWebSearchTool``,
``WikipediaSearchTool``) live in :mod:`smolagents._web_search` and are re-exported here.

Each tool imports its third-party package only when it runs (``ddgs``, ``requests`` and
``markdownify`` come with the ``toolkit`` extra, ``transformers`` with ``audio``). The light
toolkit tools check at construction that their package is installed, so a missing extra is
reported when the agent is built rather than in the middle of a run.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from ._optional import require
from ._web_search import (
    _USER_AGENT,
    ApiWebSearchTool,
    GoogleSearchTool,
    WebSearchTool,
    WikipediaSearchTool,
    _check_installed,
    _format_results,
)
from .agent_types import AgentAudio
from .errors import UserError
from .tools import Tool

__all__ = [
    "TOOL_MAPPING",
    "ApiWebSearchTool",
    "DuckDuckGoSearchTool",
    "FinalAnswerTool",
    "GoogleSearchTool",
    "PythonInterpreterTool",
    "SpeechToTextTool",
    "UserInputTool",
    "VisitWebpageTool",
    "WebSearchTool",
    "WikipediaSearchTool",
]


class FinalAnswerTool(Tool):
    """Ends the run: its argument is the agent's answer."""

    name = "final_answer"
    description = "Provides a final answer to the given problem."
    inputs = {"answer": {"type": "any", "description": "The final answer to the problem"}}
    output_type = "any"

    def forward(self, answer: Any) -> Any:
        return answer


class PythonInterpreterTool(Tool):
    """Runs Python in a fresh sandbox (LocalPythonExecutor) for each call, so a
    ToolCallingAgent can compute without any state leaking between calls.

    ``timeout_seconds`` bounds each call (the sandbox preempts the code and the call raises);
    ``None`` lifts the bound, for trusted long computations only.
    """

    name = "python_interpreter"
    description = (
        "Evaluates Python code in a fresh, sandboxed interpreter and returns what it printed and the value of "
        "its last expression. Nothing persists between calls. Use it for calculations and data processing."
    )
    inputs = {
        "code": {
            "type": "string",
            "description": "The Python code to run. Print what you need to see, or end with the expression to return.",
        }
    }
    output_type = "string"

    def __init__(
        self,
        *args: Any,
        authorized_imports: list[str] | None = None,
        timeout_seconds: float | None = 30.0,
        **kwargs: Any,
    ) -> None:
        from ._sandbox_defaults import BASE_BUILTIN_MODULES

        if timeout_seconds is not None and (
            isinstance(timeout_seconds, bool)
            or not isinstance(timeout_seconds, (int, float))
            or timeout_seconds <= 0
        ):
            raise UserError(
                f"PythonInterpreterTool timeout_seconds must be a positive number of seconds or None "
                f"(no limit), got {timeout_seconds!r}."
            )
        self.timeout_seconds = timeout_seconds
        self.authorized_imports = sorted(set(BASE_BUILTIN_MODULES) | set(authorized_imports or []))
        self.description = f"{type(self).description} Modules it can import: {self.authorized_imports}."
        super().__init__(*args, **kwargs)

    def forward(self, code: str) -> str:
        from .local_python_executor import LocalPythonExecutor

        with LocalPythonExecutor(self.authorized_imports, timeout_seconds=self.timeout_seconds) as executor:
            result = executor(code)
        return f"Stdout:\n{result.logs}\nOutput: {result.output}"


class UserInputTool(Tool):
    """Asks the person running the agent a question on the terminal."""

    name = "user_input"
    description = "Asks for user's input on a specific question"
    inputs = {"question": {"type": "string", "description": "The question to ask the user"}}
    output_type = "string"

    def forward(self, question: str) -> str:
        return input(f"{question} => Type your answer here:")


class DuckDuckGoSearchTool(Tool):
    """Web search through the ``ddgs`` package, with a minimum delay between requests."""

    name = "web_search"
    description = (
        "Performs a duckduckgo web search based on your query (think a Google search) "
        "then returns the top search results."
    )
    inputs = {"query": {"type": "string", "description": "The search query to perform."}}
    output_type = "string"

    def __init__(self, max_results: int = 10, rate_limit: float | None = 1.0, **ddgs_kwargs: Any) -> None:
        super().__init__()
        _check_installed("ddgs", "toolkit", "DuckDuckGoSearchTool")
        self.max_results = max_results
        self.rate_limit = rate_limit
        self.ddgs_kwargs = ddgs_kwargs
        self._lock = threading.Lock()
        self._last_request = 0.0

    def setup(self) -> None:
        ddgs = require("ddgs", "toolkit", "DuckDuckGoSearchTool")
        self.ddgs = ddgs.DDGS(**self.ddgs_kwargs)
        self.is_initialized = True

    def _wait_for_rate_limit(self) -> None:
        if not self.rate_limit:
            return
        with self._lock:
            delay = self._last_request + 1.0 / self.rate_limit - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._last_request = time.monotonic()

    def forward(self, query: str) -> str:
        self._wait_for_rate_limit()
        results = self.ddgs.text(query, max_results=self.max_results) or []
        return _format_results(
            [
                {"title": r.get("title", ""), "link": r.get("href", ""), "description": r.get("body", "")}
                for r in results
            ]
        )


class VisitWebpageTool(Tool):
    """Fetches a page and returns it as Markdown, truncated to ``max_output_length``."""

    name = "visit_webpage"
    description = (
        "Visits a webpage at the given url and reads its content as a markdown string. "
        "Use this to browse webpages."
    )
    inputs = {"url": {"type": "string", "description": "The url of the webpage to visit."}}
    output_type = "string"

    def __init__(self, max_output_length: int = 40_000) -> None:
        super().__init__()
        _check_installed("requests", "toolkit", "VisitWebpageTool")
        _check_installed("markdownify", "toolkit", "VisitWebpageTool")
        self.max_output_length = max_output_length

    def forward(self, url: str) -> str:
        requests = require("requests", "toolkit", "VisitWebpageTool")
        markdownify = require("markdownify", "toolkit", "VisitWebpageTool")
        try:
            response = requests.get(url, headers={"User-Agent": _USER_AGENT}, timeout=20)
            response.raise_for_status()
        except requests.exceptions.Timeout:
            return "The request timed out. Please try again later or check the URL."
        except requests.exceptions.RequestException as exc:
            return f"Error fetching the webpage: {exc}"
        content = re.sub(r"\n{3,}", "\n\n", markdownify.markdownify(response.text).strip())
        if len(content) > self.max_output_length:
            content = (
                content[: self.max_output_length]
                + f"\n..._This content has been truncated to stay below {self.max_output_length} characters_...\n"
            )
        return content


class SpeechToTextTool(Tool):
    """Speech to text with a Whisper pipeline from ``transformers`` (loaded on first use)."""

    default_checkpoint = "openai/whisper-large-v3-turbo"
    name = "transcriber"
    description = "This is a tool that transcribes an audio into text. It returns the transcribed text."
    inputs = {
        "audio": {
            "type": "audio",
            "description": "The audio to transcribe. Can be a local path, an url, or a tensor.",
        }
    }
    output_type = "string"

    def __init__(
        self, model: str | None = None, device: str | int | None = None, **pipeline_kwargs: Any
    ) -> None:
        super().__init__()
        self.model = model or self.default_checkpoint
        self.device = device
        self.pipeline_kwargs = pipeline_kwargs

    def setup(self) -> None:
        transformers = require("transformers", "audio", "SpeechToTextTool")
        self.pipeline = transformers.pipeline(
            "automatic-speech-recognition", model=self.model, device=self.device, **self.pipeline_kwargs
        )
        self.is_initialized = True

    def forward(self, audio: Any) -> str:
        if not isinstance(audio, str):
            wrapped = AgentAudio(audio)
            audio = {"raw": wrapped.to_raw(), "sampling_rate": wrapped.samplerate}
        return str(self.pipeline(audio)["text"])


# Tools that ``add_base_tools=True`` adds, by name. The agents module adds the Python
# interpreter tool (for ToolCallingAgent only) next to these.
TOOL_MAPPING: dict[str, type[Tool]] = {
    tool_class.name: tool_class
    for tool_class in (DuckDuckGoSearchTool, VisitWebpageTool, PythonInterpreterTool, SpeechToTextTool)
}
