"""The default toolbox, run offline against stand-in modules for its optional packages."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from smolagents.default_tools import (
    TOOL_MAPPING,
    DuckDuckGoSearchTool,
    FinalAnswerTool,
    PythonInterpreterTool,
    SpeechToTextTool,
    UserInputTool,
    VisitWebpageTool,
    WebSearchTool,
)
from smolagents.errors import MissingDependencyError


def _fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    monkeypatch.setitem(sys.modules, name, module)
    return module


class _Response:
    def __init__(self, text: str, status: int = 200) -> None:
        self.text, self.status = text, status

    def raise_for_status(self) -> None:
        if self.status >= 400:
            raise _RequestException(f"{self.status} error")


class _RequestException(Exception):
    pass


class _Timeout(_RequestException):
    pass


def _fake_requests(monkeypatch: pytest.MonkeyPatch, handler: Any) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def get(url: str, **kwargs: Any) -> _Response:
        calls.append({"url": url, **kwargs})
        return handler(url, **kwargs)

    exceptions = types.SimpleNamespace(RequestException=_RequestException, Timeout=_Timeout)
    _fake_module(monkeypatch, "requests", get=get, exceptions=exceptions)
    return calls


def test_final_answer_tool() -> None:
    final = FinalAnswerTool()
    assert final.name == "final_answer"
    assert final.inputs == {"answer": {"type": "any", "description": "The final answer to the problem"}}
    assert final.output_type == "any"
    payload = {"a": [1, 2]}
    assert final(payload) is payload
    assert final(answer=3) == 3


def test_user_input_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    prompts: list[str] = []
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or "blue")
    assert UserInputTool()(question="Favourite colour?") == "blue"
    assert prompts == ["Favourite colour? => Type your answer here:"]


def test_tool_mapping() -> None:
    assert {
        "web_search": DuckDuckGoSearchTool,
        "visit_webpage": VisitWebpageTool,
        "python_interpreter": PythonInterpreterTool,
        "transcriber": SpeechToTextTool,
    } == TOOL_MAPPING


@pytest.mark.parametrize(
    ("module", "build", "extra"),
    [
        ("ddgs", DuckDuckGoSearchTool, "toolkit"),
        ("requests", WebSearchTool, "toolkit"),
        ("markdownify", VisitWebpageTool, "toolkit"),
    ],
)
def test_missing_extra_is_reported_at_construction(
    monkeypatch: pytest.MonkeyPatch, module: str, build: Any, extra: str
) -> None:
    _fake_module(monkeypatch, "requests")
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingDependencyError) as info:
        build()
    assert f"pip install 'smolagents[{extra}]'" in str(info.value)
    assert module in str(info.value)


def test_duckduckgo_search_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[dict[str, Any]] = []

    class DDGS:
        def __init__(self, **kwargs: Any) -> None:
            created.append(kwargs)

        def text(self, query: str, max_results: int) -> list[dict[str, str]]:
            assert (query, max_results) == ("smolagents", 2)
            return [{"title": "Smol", "href": "https://a.example", "body": "Agents."}]

    _fake_module(monkeypatch, "ddgs", DDGS=DDGS)
    search = DuckDuckGoSearchTool(max_results=2, rate_limit=None, timeout=5)
    assert created == []  # nothing built before the first call
    assert search("smolagents") == "## Search Results\n\n[Smol](https://a.example)\nAgents."
    assert created == [{"timeout": 5}]


def test_duckduckgo_no_results(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_module(monkeypatch, "ddgs", DDGS=lambda **_: types.SimpleNamespace(text=lambda *a, **k: []))
    with pytest.raises(RuntimeError, match="No results found"):
        DuckDuckGoSearchTool(rate_limit=None)("nothing")


DDG_LITE_HTML = """
<table>
<tr><td><a rel="nofollow" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fhf.co%2Fsmol&rut=x" class='result-link'>Smol <b>agents</b></a></td></tr>
<tr><td class='result-snippet'>A small <b>library</b>.</td></tr>
<tr><td><a rel="nofollow" href="https://two.example" class='result-link'>Two</a></td></tr>
<tr><td class='result-snippet'>Second.</td></tr>
</table>
"""

BING_RSS = """<?xml version="1.0"?><rss><channel>
<item><title>Bing one</title><link>https://b.example</link><description>First hit</description></item>
</channel></rss>"""


def test_web_search_tool_duckduckgo(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_requests(monkeypatch, lambda url, **kw: _Response(DDG_LITE_HTML))
    result = WebSearchTool(max_results=5)("smol agents")
    assert result == (
        "## Search Results\n\n[Smol agents](https://hf.co/smol)\nA small library.\n\n[Two](https://two.example)\nSecond."
    )
    assert calls[0]["params"] == {"q": "smol agents"}
    assert WebSearchTool(max_results=1).search("x") == [
        {"title": "Smol agents", "link": "https://hf.co/smol", "description": "A small library."}
    ]


def test_web_search_tool_bing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_requests(monkeypatch, lambda url, **kw: _Response(BING_RSS))
    assert (
        WebSearchTool(engine="bing")("q") == "## Search Results\n\n[Bing one](https://b.example)\nFirst hit"
    )
    assert calls[0]["params"] == {"q": "q", "format": "rss"}


def test_visit_webpage_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(url: str, **kwargs: Any) -> _Response:
        if "timeout" in url:
            raise _Timeout("slow")
        if "missing" in url:
            return _Response("", 404)
        return _Response("<h1>Title</h1>")

    _fake_requests(monkeypatch, handler)
    _fake_module(monkeypatch, "markdownify", markdownify=lambda html: "# Title\n\n\n\n\nBody " + "x" * 50)
    visit = VisitWebpageTool(max_output_length=20)
    page = visit("https://ok.example")
    assert page.startswith("# Title\n\nBody xxxxx")
    assert "truncated to stay below 20 characters" in page
    assert visit("https://timeout.example").startswith("The request timed out")
    assert visit("https://missing.example") == "Error fetching the webpage: 404 error"


def test_speech_to_text_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    built: list[dict[str, Any]] = []

    def pipeline(task: str, **kwargs: Any) -> Any:
        built.append({"task": task, **kwargs})
        return lambda audio: {"text": f"heard {type(audio).__name__}"}

    _fake_module(monkeypatch, "transformers", pipeline=pipeline)
    transcriber = SpeechToTextTool(device="cpu")
    assert built == []
    assert transcriber("clip.wav") == "heard str"
    assert transcriber(audio=np.zeros(16)) == "heard dict"
    assert built == [
        {"task": "automatic-speech-recognition", "model": "openai/whisper-large-v3-turbo", "device": "cpu"}
    ]


def test_speech_to_text_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    transcriber = SpeechToTextTool()  # constructing is free; the model loads on first use
    with pytest.raises(MissingDependencyError, match=r"pip install 'smolagents\[audio\]'"):
        transcriber("clip.wav")
