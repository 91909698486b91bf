"""The default toolbox: final answer, user input, web search, web pages and speech to text.

Each tool imports its third-party package only when it runs (``ddgs``, ``requests`` and
``markdownify`` come with the ``toolkit`` extra, ``transformers`` with ``audio``). The light
toolkit tools check at construction that their package is installed, so a missing extra is
reported when the agent is built rather than in the middle of a run.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from typing import Any

from ._optional import require
from .agent_types import AgentAudio
from .errors import UserError
from .tools import Tool

__all__ = [
    "TOOL_MAPPING",
    "DuckDuckGoSearchTool",
    "FinalAnswerTool",
    "PythonInterpreterTool",
    "SpeechToTextTool",
    "UserInputTool",
    "VisitWebpageTool",
    "WebSearchTool",
]

_USER_AGENT = "Mozilla/5.0 (compatible; smolagents; +https://github.com/huggingface/smolagents)"


def _check_installed(module: str, extra: str, feature: str) -> None:
    """Fail early, without importing, when ``module`` is missing (require() words the error)."""
    if sys.modules.get(module) is not None:
        return
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        require(module, extra, feature)


def _format_results(results: list[dict[str, str]]) -> str:
    if not results:
        raise RuntimeError("No results found! Try a less restrictive or shorter query.")
    entries = [f"[{r['title']}]({r['link']})\n{r['description']}".rstrip() for r in results]
    return "## Search Results\n\n" + "\n\n".join(entries)


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
    ToolCallingAgent can compute without any state leaking between calls."""

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

    def __init__(self, *args: Any, authorized_imports: list[str] | None = None, **kwargs: Any) -> None:
        from .local_python_executor import BASE_BUILTIN_MODULES

        self.authorized_imports = sorted(set(BASE_BUILTIN_MODULES) | set(authorized_imports or []))
        self.description = f"{type(self).description} Modules it can import: {self.authorized_imports}."
        super().__init__(*args, **kwargs)

    def forward(self, code: str) -> str:
        from .local_python_executor import LocalPythonExecutor

        with LocalPythonExecutor(self.authorized_imports) as executor:
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


class _DuckDuckGoLiteParser(HTMLParser):
    """Pulls (title, link, snippet) out of lite.duckduckgo.com result pages."""

    def __init__(self) -> None:
        super().__init__()
        self.results: list[dict[str, str]] = []
        self._field: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        classes = (values.get("class") or "").split()
        if tag == "a" and "result-link" in classes:
            link = values.get("href") or ""
            target = urllib.parse.parse_qs(urllib.parse.urlparse(link).query).get("uddg")
            self.results.append({"title": "", "link": target[0] if target else link, "description": ""})
            self._field = "title"
        elif tag == "td" and "result-snippet" in classes and self.results:
            self._field = "description"

    def handle_endtag(self, tag: str) -> None:
        if (tag, self._field) in (("a", "title"), ("td", "description")):
            self._field = None

    def handle_data(self, data: str) -> None:
        if self._field:
            self.results[-1][self._field] += data


class WebSearchTool(Tool):
    """Web search with plain HTTP requests (DuckDuckGo lite pages or Bing's RSS feed)."""

    name = "web_search"
    description = (
        "Performs a web search for a query and returns a string of the top search results "
        "formatted as markdown with titles, links, and descriptions."
    )
    inputs = {"query": {"type": "string", "description": "The search query to perform."}}
    output_type = "string"

    def __init__(self, max_results: int = 10, engine: str = "duckduckgo") -> None:
        super().__init__()
        if engine not in ("duckduckgo", "bing"):
            raise UserError(f"WebSearchTool engine must be 'duckduckgo' or 'bing', got {engine!r}")
        _check_installed("requests", "toolkit", "WebSearchTool")
        self.max_results = max_results
        self.engine = engine

    def forward(self, query: str) -> str:
        return _format_results(self.search(query))

    def search(self, query: str) -> list[dict[str, str]]:
        """The results as dicts with ``title``, ``link`` and ``description``."""
        requests = require("requests", "toolkit", "WebSearchTool")
        if self.engine == "duckduckgo":
            url, params = "https://lite.duckduckgo.com/lite/", {"q": query}
        else:
            url, params = "https://www.bing.com/search", {"q": query, "format": "rss"}
        response = requests.get(url, params=params, headers={"User-Agent": _USER_AGENT}, timeout=20)
        response.raise_for_status()
        if self.engine == "duckduckgo":
            parser = _DuckDuckGoLiteParser()
            parser.feed(response.text)
            results = [{key: value.strip() for key, value in r.items()} for r in parser.results]
        else:
            results = [
                {
                    "title": (item.findtext("title") or "").strip(),
                    "link": (item.findtext("link") or "").strip(),
                    "description": (item.findtext("description") or "").strip(),
                }
                for item in ElementTree.fromstring(response.text).iter("item")
            ]
        return results[: self.max_results]


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
        return self.pipeline(audio)["text"]


# Tools that ``add_base_tools=True`` adds, by name. The agents module adds the Python
# interpreter tool (for ToolCallingAgent only) next to these.
TOOL_MAPPING: dict[str, type[Tool]] = {
    tool_class.name: tool_class
    for tool_class in (DuckDuckGoSearchTool, VisitWebpageTool, PythonInterpreterTool, SpeechToTextTool)
}
