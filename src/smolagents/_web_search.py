"""Web search tools over plain HTTP: engines scraped without a key, and keyed search APIs.

Split out of :mod:`smolagents.default_tools`, which re-exports every public name here.
:class:`WebSearchTool` reads DuckDuckGo's lite pages or Bing's RSS feed; :class:`GoogleSearchTool`
calls SerpAPI or Serper; :class:`ApiWebSearchTool` calls Brave Search (or any JSON search API
you point it at); :class:`WikipediaSearchTool` calls the MediaWiki API. Every tool takes its
endpoint as a constructor argument, for proxies, self-hosted mirrors and offline tests, and a
keyed tool reads its key from the environment when not given one, refusing to be built without
it. ``requests`` (the ``toolkit`` extra) is imported only when a search runs.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from typing import Any

from ._optional import require
from .errors import UserError
from .tools import Tool

__all__ = ["ApiWebSearchTool", "GoogleSearchTool", "WebSearchTool", "WikipediaSearchTool"]

_USER_AGENT = "Mozilla/5.0 (compatible; smolagents; +https://github.com/huggingface/smolagents)"
_TIMEOUT_SECONDS = 20


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


class _RateLimiter:
    """At most ``rate`` requests a second across threads (``None`` or 0: no limit)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._last = 0.0

    def wait(self) -> None:
        if not self.rate:
            return
        with self._lock:
            delay = self._last + 1.0 / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._last = time.monotonic()


def _api_key(given: str | None, env_name: str, owner: str, where: str) -> str:
    key = given or os.getenv(env_name)
    if not key:
        raise UserError(
            f"{owner} needs an API key: set the {env_name} environment variable (get a key at {where}) "
            "or pass api_key=... to the constructor."
        )
    return key


def _check_response(response: Any, service: str) -> Any:
    """The decoded JSON body, or an error that says what the service answered."""
    if response.status_code >= 400:
        hint = " Check the API key." if response.status_code in (401, 403) else ""
        raise RuntimeError(f"{service} answered HTTP {response.status_code}: {response.text[:300]}.{hint}")
    try:
        return response.json()
    except ValueError as exc:
        raise RuntimeError(f"{service} did not answer with JSON: {response.text[:300]!r}") from exc


def _checked_url(url: str, owner: str) -> str:
    if not isinstance(url, str) or urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise UserError(f"{owner}: the endpoint must be an http(s) URL, got {url!r}.")
    return url


# --------------------------------------------------------------------------- no key needed


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
    """Web search with plain HTTP requests (DuckDuckGo lite pages or Bing's RSS feed).

    ``base_url`` replaces the engine's address (``https://lite.duckduckgo.com/lite/`` or
    ``https://www.bing.com/search``), e.g. for a proxy.
    """

    name = "web_search"
    description = (
        "Performs a web search for a query and returns a string of the top search results "
        "formatted as markdown with titles, links, and descriptions."
    )
    inputs = {"query": {"type": "string", "description": "The search query to perform."}}
    output_type = "string"

    _ENGINES = {"duckduckgo": "https://lite.duckduckgo.com/lite/", "bing": "https://www.bing.com/search"}

    def __init__(
        self, max_results: int = 10, engine: str = "duckduckgo", base_url: str | None = None
    ) -> None:
        super().__init__()
        if engine not in self._ENGINES:
            raise UserError(f"WebSearchTool engine must be 'duckduckgo' or 'bing', got {engine!r}")
        _check_installed("requests", "toolkit", "WebSearchTool")
        self.max_results = max_results
        self.engine = engine
        self.base_url = _checked_url(base_url or self._ENGINES[engine], "WebSearchTool")

    def forward(self, query: str) -> str:
        return _format_results(self.search(query))

    def search(self, query: str) -> list[dict[str, str]]:
        """The results as dicts with ``title``, ``link`` and ``description``."""
        requests = require("requests", "toolkit", "WebSearchTool")
        params = {"q": query} if self.engine == "duckduckgo" else {"q": query, "format": "rss"}
        response = requests.get(
            self.base_url, params=params, headers={"User-Agent": _USER_AGENT}, timeout=_TIMEOUT_SECONDS
        )
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


class WikipediaSearchTool(Tool):
    """A Wikipedia page (its summary or full text) through the MediaWiki API.

    ``language`` picks the wiki; ``content_type`` is ``"summary"`` (the introduction) or
    ``"text"`` (the whole page); ``extract_format`` is ``"WIKI"`` (plain text) or ``"HTML"``.
    Wikimedia asks API clients to identify themselves: pass a ``user_agent`` with a contact.
    ``base_url`` replaces ``https://{language}.wikipedia.org/w/api.php``.
    """

    name = "wikipedia_search"
    description = (
        "Searches Wikipedia and returns a summary or full text of the given topic, along with the page URL."
    )
    inputs = {
        "query": {
            "type": "string",
            "description": "The topic to search on Wikipedia (the page title, e.g. 'Python (programming language)').",
        }
    }
    output_type = "string"

    def __init__(
        self,
        user_agent: str = "Smolagents (myemail@example.com)",
        language: str = "en",
        content_type: str = "text",
        extract_format: str = "WIKI",
        base_url: str | None = None,
    ) -> None:
        super().__init__()
        if content_type not in ("summary", "text"):
            raise UserError(
                f"WikipediaSearchTool content_type must be 'summary' or 'text', got {content_type!r}"
            )
        if extract_format not in ("WIKI", "HTML"):
            raise UserError(
                f"WikipediaSearchTool extract_format must be 'WIKI' or 'HTML', got {extract_format!r}"
            )
        if not isinstance(user_agent, str) or not user_agent.strip():
            raise UserError(
                "WikipediaSearchTool needs a user_agent naming your project and a contact, "
                f"e.g. 'MyAgent (me@example.com)'; got {user_agent!r}."
            )
        if not isinstance(language, str) or not language.replace("-", "").isalnum():
            raise UserError(
                f"WikipediaSearchTool language must be a wiki code such as 'en' or 'fr', got {language!r}"
            )
        _check_installed("requests", "toolkit", "WikipediaSearchTool")
        self.user_agent, self.language = user_agent, language
        self.content_type, self.extract_format = content_type, extract_format
        default = f"https://{language}.wikipedia.org/w/api.php"
        self.base_url = _checked_url(base_url or default, "WikipediaSearchTool")

    def forward(self, query: str) -> str:
        requests = require("requests", "toolkit", "WikipediaSearchTool")
        params = {
            "action": "query",
            "format": "json",
            "formatversion": "2",
            "prop": "extracts|info",
            "inprop": "url",
            "redirects": "1",
            "titles": query,
        }
        if self.extract_format == "WIKI":
            params["explaintext"] = "1"
        if self.content_type == "summary":
            params["exintro"] = "1"
        response = requests.get(
            self.base_url, params=params, headers={"User-Agent": self.user_agent}, timeout=_TIMEOUT_SECONDS
        )
        data = _check_response(response, "Wikipedia")
        pages = (data.get("query") or {}).get("pages") or []
        page = pages[0] if pages else {}
        if not page or page.get("missing") or page.get("invalid") or not page.get("extract"):
            return f"No Wikipedia page found for '{query}'. Try a different query."
        title = page.get("title", query)
        url = page.get("fullurl") or f"https://{self.language}.wikipedia.org/wiki/{urllib.parse.quote(title)}"
        return f"✅ **Wikipedia Page:** {title}\n\n**Content:** {page['extract'].strip()}\n\n🔗 **Read more:** {url}"


# --------------------------------------------------------------------------- keyed APIs


class GoogleSearchTool(Tool):
    """Google results through SerpAPI (``provider="serpapi"``, key ``SERPAPI_API_KEY``) or
    Serper (``provider="serper"``, key ``SERPER_API_KEY``).

    ``base_url`` replaces ``https://serpapi.com/search.json`` / ``https://google.serper.dev/search``.
    """

    name = "web_search"
    description = (
        "Performs a google web search for your query then returns a string of the top search results."
    )
    inputs = {
        "query": {"type": "string", "description": "The search query to perform."},
        "filter_year": {
            "type": "integer",
            "description": "Optionally restrict results to a certain year",
            "nullable": True,
        },
    }
    output_type = "string"

    _PROVIDERS = {
        "serpapi": ("https://serpapi.com/search.json", "SERPAPI_API_KEY", "https://serpapi.com"),
        "serper": ("https://google.serper.dev/search", "SERPER_API_KEY", "https://serper.dev"),
    }

    def __init__(
        self, provider: str = "serpapi", api_key: str | None = None, base_url: str | None = None
    ) -> None:
        super().__init__()
        if provider not in self._PROVIDERS:
            raise UserError(f"GoogleSearchTool provider must be 'serpapi' or 'serper', got {provider!r}")
        _check_installed("requests", "toolkit", "GoogleSearchTool")
        url, env_name, where = self._PROVIDERS[provider]
        self.provider = provider
        self.api_key = _api_key(api_key, env_name, f"GoogleSearchTool(provider={provider!r})", where)
        self.base_url = _checked_url(base_url or url, "GoogleSearchTool")

    def forward(self, query: str, filter_year: int | None = None) -> str:
        requests = require("requests", "toolkit", "GoogleSearchTool")
        extra = {"tbs": f"cdr:1,cd_min:01/01/{filter_year},cd_max:12/31/{filter_year}"} if filter_year else {}
        if self.provider == "serpapi":
            params = {"q": query, "api_key": self.api_key, "engine": "google", "google_domain": "google.com"}
            response = requests.get(self.base_url, params={**params, **extra}, timeout=_TIMEOUT_SECONDS)
            results_key, service = "organic_results", "SerpAPI"
        else:
            headers = {"X-API-KEY": self.api_key, "Content-Type": "application/json"}
            response = requests.post(
                self.base_url, json={"q": query, **extra}, headers=headers, timeout=_TIMEOUT_SECONDS
            )
            results_key, service = "organic", "Serper"
        data = _check_response(response, service)
        results = data.get(results_key) or []
        if not results:
            year = f" with filtering on year={filter_year}" if filter_year else ""
            raise RuntimeError(
                f"No results found for query: '{query}'{year}. Use a less restrictive query"
                f"{' or do not filter on year' if filter_year else ''}."
            )
        entries = []
        for index, item in enumerate(results):
            lines = [f"{index}. [{item.get('title', '')}]({item.get('link', '')})"]
            lines += [f"Date published: {item['date']}"] if item.get("date") else []
            lines += [f"Source: {item['source']}"] if item.get("source") else []
            lines += [item["snippet"]] if item.get("snippet") else []
            entries.append("\n".join(lines))
        return "## Search Results\n" + "\n\n".join(entries)


class ApiWebSearchTool(Tool):
    """Web search through a JSON search API: Brave Search unless told otherwise.

    By default it calls ``https://api.search.brave.com/res/v1/web/search`` with the key from
    ``BRAVE_API_KEY`` in the ``X-Subscription-Token`` header. For another API pass
    ``endpoint``, ``api_key_name`` (the environment variable holding its key) and ``headers`` /
    ``params``, and override :meth:`extract_results` if its JSON is shaped differently.
    """

    name = "web_search"
    description = "Performs a web search for a query and returns a string of the top search results formatted as markdown with titles, URLs, and descriptions."
    inputs = {"query": {"type": "string", "description": "The search query to perform."}}
    output_type = "string"

    def __init__(
        self,
        endpoint: str = "",
        api_key: str = "",
        api_key_name: str = "",
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        rate_limit: float | None = 1.0,
    ) -> None:
        super().__init__()
        _check_installed("requests", "toolkit", "ApiWebSearchTool")
        self.endpoint = _checked_url(
            endpoint or "https://api.search.brave.com/res/v1/web/search", "ApiWebSearchTool"
        )
        self.api_key_name = api_key_name or "BRAVE_API_KEY"
        if headers is None:
            where = "https://brave.com/search/api" if not endpoint else "your search provider"
            self.api_key = _api_key(api_key, self.api_key_name, "ApiWebSearchTool", where)
            headers = {"X-Subscription-Token": self.api_key}
        else:
            self.api_key = api_key or os.getenv(self.api_key_name, "")
        self.headers = {"Accept": "application/json", **headers}
        self.params = dict(params) if params is not None else {"count": 10}
        self._rate_limiter = _RateLimiter(rate_limit)

    def forward(self, query: str) -> str:
        requests = require("requests", "toolkit", "ApiWebSearchTool")
        self._rate_limiter.wait()
        response = requests.get(
            self.endpoint, params={**self.params, "q": query}, headers=self.headers, timeout=_TIMEOUT_SECONDS
        )
        results = self.extract_results(_check_response(response, f"The search API at {self.endpoint}"))
        return self.format_markdown(results)

    def extract_results(self, data: dict[str, Any]) -> list[dict[str, str]]:
        """Results as ``{"title", "url", "description"}`` dicts from the API's JSON (Brave's shape)."""
        items = ((data.get("web") or {}).get("results")) or []
        return [
            {
                "title": item.get("title", ""),
                "url": item.get("url", ""),
                "description": item.get("description", ""),
            }
            for item in items
        ]

    def format_markdown(self, results: list[dict[str, str]]) -> str:
        """The results as a numbered markdown list (what the model reads)."""
        if not results:
            return "No results found."
        return "## Search Results\n\n" + "\n\n".join(
            f"{index}. [{r['title']}]({r['url']})\n{r['description']}".rstrip()
            for index, r in enumerate(results, start=1)
        )
