"""HTTP search tools against a real HTTP server on 127.0.0.1 (their endpoints are configurable)."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from smolagents.default_tools import ApiWebSearchTool, GoogleSearchTool, WebSearchTool, WikipediaSearchTool
from smolagents.errors import UserError

Reply = tuple[int, str, str]  # status, content type, body


class LoopbackServer:
    """Records every request and answers with ``reply(method, path, query, headers, body)``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply: Callable[[dict[str, Any]], Reply] = lambda request: (404, "text/plain", "no reply set")
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                parsed = urllib.parse.urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = {
                    "method": self.command,
                    "path": parsed.path,
                    "query": dict(urllib.parse.parse_qsl(parsed.query)),
                    "headers": {key.lower(): value for key, value in self.headers.items()},
                    "body": self.rfile.read(length).decode() if length else "",
                }
                server.requests.append(request)
                status, content_type, body = server.reply(request)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def json(self, payload: Any, status: int = 200) -> None:
        self.reply = lambda request: (status, "application/json", json.dumps(payload))


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    loopback = LoopbackServer()
    loopback.thread.start()
    try:
        yield loopback
    finally:
        loopback.httpd.shutdown()
        loopback.httpd.server_close()


# ----------------------------------------------------------------- WebSearchTool engines

DDG_LITE_HTML = """
<table>
<tr><td><a rel="nofollow" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fhf.co%2Fsmol&rut=x" class='result-link'>Smol <b>agents</b></a></td></tr>
<tr><td class='result-snippet'>A small <b>library</b>.</td></tr>
</table>
"""

BING_RSS = """<?xml version="1.0"?><rss><channel>
<item><title>Bing one</title><link>https://b.example</link><description>First hit</description></item>
</channel></rss>"""


def test_web_search_tool_engines_use_the_given_base_url(server: LoopbackServer) -> None:
    server.reply = lambda request: (
        (200, "text/html", DDG_LITE_HTML)
        if request["path"] == "/lite/"
        else (200, "application/rss+xml", BING_RSS)
    )
    duck = WebSearchTool(base_url=f"{server.url}/lite/")
    assert duck("smol agents") == "## Search Results\n\n[Smol agents](https://hf.co/smol)\nA small library."
    bing = WebSearchTool(engine="bing", base_url=f"{server.url}/search")
    assert bing("q") == "## Search Results\n\n[Bing one](https://b.example)\nFirst hit"
    assert [(r["path"], r["query"]) for r in server.requests] == [
        ("/lite/", {"q": "smol agents"}),
        ("/search", {"q": "q", "format": "rss"}),
    ]
    assert "smolagents" in server.requests[0]["headers"]["user-agent"]


def test_web_search_tool_default_urls_and_bad_base_url() -> None:
    assert WebSearchTool().base_url == "https://lite.duckduckgo.com/lite/"
    assert WebSearchTool(engine="bing").base_url == "https://www.bing.com/search"
    with pytest.raises(UserError, match=r"endpoint must be an http\(s\) URL, got 'ftp://x'"):
        WebSearchTool(base_url="ftp://x")


# ----------------------------------------------------------------- GoogleSearchTool

SERP_RESULTS = [
    {"title": "Smolagents", "link": "https://hf.co/smol", "snippet": "Agents that code.", "date": "2025"},
    {"title": "Docs", "link": "https://hf.co/docs", "snippet": "Read them.", "source": "HF"},
]


def test_google_search_serpapi(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERPAPI_API_KEY", "serp-key")
    server.json({"organic_results": SERP_RESULTS})
    search = GoogleSearchTool(base_url=f"{server.url}/search.json")
    result = search(query="smolagents", filter_year=2025)
    assert result == (
        "## Search Results\n0. [Smolagents](https://hf.co/smol)\nDate published: 2025\nAgents that code.\n\n"
        "1. [Docs](https://hf.co/docs)\nSource: HF\nRead them."
    )
    request = server.requests[0]
    assert request["method"] == "GET" and request["path"] == "/search.json"
    assert request["query"] == {
        "q": "smolagents",
        "api_key": "serp-key",
        "engine": "google",
        "google_domain": "google.com",
        "tbs": "cdr:1,cd_min:01/01/2025,cd_max:12/31/2025",
    }


def test_google_search_serper(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERPER_API_KEY", "serper-key")
    server.json({"organic": SERP_RESULTS[:1]})
    search = GoogleSearchTool(provider="serper", base_url=server.url + "/search")
    assert search("smolagents").startswith("## Search Results\n0. [Smolagents](https://hf.co/smol)")
    request = server.requests[0]
    assert request["method"] == "POST"
    assert request["headers"]["x-api-key"] == "serper-key"
    assert json.loads(request["body"]) == {"q": "smolagents"}


def test_google_search_no_results_and_http_errors(server: LoopbackServer) -> None:
    search = GoogleSearchTool(api_key="k", base_url=server.url)
    server.json({"organic_results": []})
    with pytest.raises(RuntimeError, match="No results found for query: 'x' with filtering on year=1999"):
        search(query="x", filter_year=1999)
    server.json({"error": "Invalid API key"}, status=401)
    with pytest.raises(
        RuntimeError, match=r"SerpAPI answered HTTP 401: .*Invalid API key.*Check the API key"
    ):
        search(query="x")


def test_google_search_needs_a_key_and_a_known_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERPAPI_API_KEY", raising=False)
    monkeypatch.delenv("SERPER_API_KEY", raising=False)
    with pytest.raises(UserError, match=r"set the SERPAPI_API_KEY environment variable.*api_key="):
        GoogleSearchTool()
    with pytest.raises(UserError, match="SERPER_API_KEY"):
        GoogleSearchTool(provider="serper")
    with pytest.raises(UserError, match="provider must be 'serpapi' or 'serper', got 'bing'"):
        GoogleSearchTool(provider="bing", api_key="k")
    assert GoogleSearchTool(api_key="k").base_url == "https://serpapi.com/search.json"


# ----------------------------------------------------------------- ApiWebSearchTool


def test_api_web_search_brave_by_default(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAVE_API_KEY", "brave-key")
    assert ApiWebSearchTool().endpoint == "https://api.search.brave.com/res/v1/web/search"
    server.json({"web": {"results": [{"title": "Smol", "url": "https://s.example", "description": "Tiny."}]}})
    search = ApiWebSearchTool(endpoint=f"{server.url}/res/v1/web/search", rate_limit=None)
    assert search("smol") == "## Search Results\n\n1. [Smol](https://s.example)\nTiny."
    request = server.requests[0]
    assert request["query"] == {"count": "10", "q": "smol"}
    assert request["headers"]["x-subscription-token"] == "brave-key"
    server.json({"web": {"results": []}})
    assert search("nothing") == "No results found."


def test_api_web_search_custom_api(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    class MySearch(ApiWebSearchTool):
        def extract_results(self, data: dict[str, Any]) -> list[dict[str, str]]:
            return [{"title": h["name"], "url": h["href"], "description": ""} for h in data["hits"]]

    monkeypatch.setenv("MY_SEARCH_KEY", "mine")
    server.json({"hits": [{"name": "Hit", "href": "https://h.example"}]})
    search = MySearch(
        endpoint=server.url,
        api_key_name="MY_SEARCH_KEY",
        headers={"Authorization": "Bearer mine"},
        params={"limit": 3},
        rate_limit=None,
    )
    assert search("q") == "## Search Results\n\n1. [Hit](https://h.example)"
    assert server.requests[0]["query"] == {"limit": "3", "q": "q"}
    assert server.requests[0]["headers"]["authorization"] == "Bearer mine"
    server.json({"message": "quota exceeded"}, status=429)
    with pytest.raises(RuntimeError, match=r"answered HTTP 429: .*quota exceeded"):
        search("q")


def test_api_web_search_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BRAVE_API_KEY", raising=False)
    with pytest.raises(UserError, match=r"ApiWebSearchTool needs an API key: set the BRAVE_API_KEY"):
        ApiWebSearchTool()


# ----------------------------------------------------------------- WikipediaSearchTool


def test_wikipedia_search(server: LoopbackServer) -> None:
    page = {
        "title": "Python (programming language)",
        "extract": "Python is a programming language.\n",
        "fullurl": "https://en.wikipedia.org/wiki/Python_(programming_language)",
    }
    server.json({"query": {"pages": [page]}})
    wiki = WikipediaSearchTool(
        user_agent="tests (t@example.com)", content_type="summary", base_url=server.url
    )
    assert wiki("Python (programming language)") == (
        "✅ **Wikipedia Page:** Python (programming language)\n\n"
        "**Content:** Python is a programming language.\n\n"
        "🔗 **Read more:** https://en.wikipedia.org/wiki/Python_(programming_language)"
    )
    request = server.requests[0]
    assert request["query"]["titles"] == "Python (programming language)"
    assert request["query"]["exintro"] == "1" and request["query"]["explaintext"] == "1"
    assert request["headers"]["user-agent"] == "tests (t@example.com)"

    server.json({"query": {"pages": [{"title": "Nope", "missing": True}]}})
    assert wiki("Nope") == "No Wikipedia page found for 'Nope'. Try a different query."


def test_wikipedia_full_html_text_and_default_endpoint(server: LoopbackServer) -> None:
    assert WikipediaSearchTool(language="fr").base_url == "https://fr.wikipedia.org/w/api.php"
    server.json({"query": {"pages": [{"title": "T", "extract": "<p>Body</p>"}]}})
    wiki = WikipediaSearchTool(extract_format="HTML", base_url=server.url)
    assert "**Content:** <p>Body</p>" in wiki("T")
    assert "exintro" not in server.requests[0]["query"] and "explaintext" not in server.requests[0]["query"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"content_type": "all"}, "content_type must be 'summary' or 'text', got 'all'"),
        ({"extract_format": "md"}, "extract_format must be 'WIKI' or 'HTML', got 'md'"),
        ({"user_agent": ""}, "needs a user_agent"),
        ({"language": "en/../x"}, "language must be a wiki code"),
    ],
)
def test_wikipedia_bad_options(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        WikipediaSearchTool(**kwargs)
