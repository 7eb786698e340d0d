"""The `web_search` agent tool and its pluggable providers: SearXNG, Brave Search API and Tavily.

The operator picks one provider with `AGENTIC_SEARCH_*` settings; agents call
`web_search(provider, query, max_results=…)` and get back plain-text `SearchResult`s. Whatever a provider
returns is treated as untrusted: titles and snippets lose their HTML and control characters and are
length-capped, only http(s) result URLs survive, and the result count never exceeds what was asked for.

**Why the SSRF guard of `agentic.tools.http` does not apply here.** The endpoint is chosen by the operator
in server settings, never by the model: the model only supplies the query text, which is sent as a query
parameter or JSON field. A self-hosted SearXNG on a private address is the expected setup, so checking the
address would only break it. What the model could still influence is where a *redirect* leads, so redirects
are never followed: any 3xx is reported as a failure.

**Secrets.** API keys are `SecretStr`, unwrapped only when building the request headers. They are never put
in a URL, an error message, a log line or an exception's arguments; error messages are fixed texts built
from the provider name and the HTTP status, never from the response body.

Provider request/response formats, as checked against their documentation (see each provider class):

* SearXNG: https://docs.searxng.org/dev/search_api
* Brave Search API: https://api-dashboard.search.brave.com/docs
* Tavily: https://docs.tavily.com/api-reference/introduction
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Final, Literal, Protocol
from urllib.parse import urlsplit

import aiohttp
from pydantic import SecretStr

from agentic import __version__
from agentic.config import SEARCH_MAX_RESULTS as MAX_RESULTS_LIMIT
from agentic.config import SearchSettings, check_base_url
from agentic.errors import AgenticError, InvalidInput
from agentic.logging import get_logger

log = get_logger("agentic.tools.search")

# Brave's own parameter docs (its n8n node): "Maximum of 400 characters and 50 words in the query".
MAX_QUERY_CHARS: Final = 400
TITLE_MAX_CHARS: Final = 300
SNIPPET_MAX_CHARS: Final = 1000
URL_MAX_CHARS: Final = 2048
MAX_RESPONSE_BYTES: Final = 2 * 1024 * 1024
"""A results page is a few tens of KiB; anything far bigger is a misbehaving endpoint, not more results."""

BRAVE_DEFAULT_BASE_URL: Final = "https://api.search.brave.com"
TAVILY_DEFAULT_BASE_URL: Final = "https://api.tavily.com"
USER_AGENT: Final = f"agentic/{__version__} (web_search)"

NOT_CONFIGURED_MESSAGE: Final = (
    "No web search provider is configured: set AGENTIC_SEARCH_PROVIDER (searxng, brave or tavily) and, "
    "for searxng, AGENTIC_SEARCH_BASE_URL, or for brave and tavily, AGENTIC_SEARCH_API_KEY. "
    "Answer without web search."
)


# --- results ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One web search hit, as plain text safe to show the model.

    Attributes:
        title: The page title, without markup, at most 300 characters.
        url: An absolute http(s) URL.
        snippet: The provider's excerpt, without markup, at most 1000 characters.
    """

    title: str
    url: str
    snippet: str


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML fragment; `convert_charrefs` decodes entities exactly once."""

    _BREAKS: Final = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})
    _HIDDEN: Final = frozenset({"script", "style"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden_depth += 1
        elif tag in self._BREAKS:
            self.parts.append(" ")  # `a<br>b` reads as two words, while `<strong>a</strong>b` stays one

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN and self._hidden_depth:
            self._hidden_depth -= 1
        elif tag in self._BREAKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.parts.append(data)


def plain_text(value: object, limit: int) -> str:
    """Reduce a provider's title or snippet to one line of plain text of at most `limit` characters.

    Providers mark query terms up (Brave: `<strong>`) and escape entities; the model should see neither.
    A parser, unlike a regex, is not fooled by `>` inside attributes or by unterminated tags.

    Args:
        value: The provider's field; anything but a string yields "".
        limit: Maximum length of the result, including the trailing ellipsis when truncated.

    Returns:
        The text with tags removed, entities decoded, whitespace collapsed and non-printable
        characters (controls, zero-width and bidi formatting) dropped.
    """
    if not isinstance(value, str) or not value:
        return ""
    parser = _TextExtractor()
    parser.feed(value)
    parser.close()
    text = " ".join("".join(parser.parts).split())
    # Drop invisible characters: a zero-width or bidi-override character could hide text from a reviewer.
    text = "".join(ch for ch in text if ch.isprintable())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _http_url(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > URL_MAX_CHARS or any(not ch.isprintable() or ch.isspace() for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    # `javascript:`, `data:`, `file:` and scheme-relative links are dropped, not repaired.
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _normalise(items: object, *, title_key: str, snippet_key: str, max_results: int) -> list[SearchResult]:
    """Turn a provider's list of result objects into at most `max_results` clean, distinct results."""
    if not isinstance(items, list):
        return []
    results: list[SearchResult] = []
    seen: set[str] = set()
    for item in items:
        if len(results) >= max_results:
            break
        if not isinstance(item, dict):
            continue
        url = _http_url(item.get("url"))
        if url is None or url in seen:
            continue
        seen.add(url)
        title = plain_text(item.get(title_key), TITLE_MAX_CHARS) or plain_text(url, TITLE_MAX_CHARS)
        snippet = plain_text(item.get(snippet_key), SNIPPET_MAX_CHARS)
        results.append(SearchResult(title=title, url=url, snippet=snippet))
    return results


# --- HTTP ---------------------------------------------------------------------------------------------------


class _TooLarge(Exception):
    """The response body exceeded `MAX_RESPONSE_BYTES`."""


def _failed(message: str, *, code: str = "search_failed") -> AgenticError:
    return AgenticError(f"Web search failed: {message}", code=code)


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    body = bytearray()
    async for chunk in response.content.iter_chunked(65536):
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise _TooLarge
    return bytes(body)


def _status_error(provider: str, label: str, response: aiohttp.ClientResponse) -> AgenticError:
    status = response.status
    if 300 <= status < 400:
        # Not followed: a redirect could lead anywhere, including to hosts the operator never configured.
        return _failed(f"the {label} API answered with a redirect (HTTP {status}), not followed")
    if status in (401, 403):
        if provider == "searxng":
            # SearXNG answers 403 when the `json` format is not enabled (docs.searxng.org/dev/search_api).
            return _failed(
                f"the {label} instance refused the request (HTTP {status}): its settings.yml must list "
                "`json` under search.formats, and the access token, if one is needed, must be accepted",
            )
        return _failed(f"the {label} API rejected the configured API key (HTTP {status})")
    if status == 429:
        retry = response.headers.get("Retry-After", "")
        hint = f"; retry after {int(retry)} s" if retry.isdigit() and int(retry) <= 86_400 else ""
        return _failed(
            f"the {label} API rate limit or quota is exhausted (HTTP 429){hint}",
            code="search_rate_limited",
        )
    return _failed(f"the {label} API returned HTTP {status}")


async def _fetch_json(
    provider: str,
    label: str,
    method: Literal["GET", "POST"],
    url: str,
    *,
    timeout_s: float,
    headers: dict[str, str],
    params: dict[str, str] | None = None,
    json_body: dict[str, Any] | None = None,
) -> Any:
    """Make one request to a provider and decode its JSON answer, mapping every failure to an AgenticError.

    Raises:
        AgenticError: `search_timeout` past `timeout_s`, `search_rate_limited` on 429, `search_failed`
            otherwise. Messages name the provider and the HTTP status only, never the URL or the key.
    """
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **headers}
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(
                method, url, params=params, json=json_body, headers=all_headers, allow_redirects=False
            ) as response,
        ):
            if response.status != 200:
                error = _status_error(provider, label, response)
                log.warning("web_search.http_error", provider=provider, status=response.status)
                raise error
            body = await _read_capped(response)
    except TimeoutError:  # also aiohttp's ServerTimeoutError, a subclass
        log.warning("web_search.timeout", provider=provider, timeout_s=timeout_s)
        raise _failed(
            f"the {label} API did not answer within {timeout_s:g} s", code="search_timeout"
        ) from None
    except _TooLarge:
        log.warning("web_search.too_large", provider=provider)
        raise _failed(f"the {label} API returned an oversized response") from None
    except aiohttp.ClientError as exc:
        # A connection error's text names host and port: operators get it in the log, the model does not.
        # Other aiohttp errors may carry the request (headers, key included) in their repr: name only.
        detail = str(exc)[:300] if isinstance(exc, aiohttp.ClientConnectionError) else ""
        log.warning("web_search.unreachable", provider=provider, error=type(exc).__name__, detail=detail)
        raise _failed(f"could not reach the {label} API") from None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        log.warning("web_search.bad_json", provider=provider)
        raise _failed(f"the {label} API returned a response that is not valid JSON") from None


def _unexpected(provider: str, label: str) -> AgenticError:
    log.warning("web_search.unexpected_shape", provider=provider)
    return _failed(f"the {label} API returned a response of an unexpected shape")


# --- providers ----------------------------------------------------------------------------------------------


class SearchProvider(Protocol):
    """A web search backend."""

    name: str

    async def search(self, query: str, *, max_results: int, timeout_s: float) -> list[SearchResult]:
        """Search the web.

        Args:
            query: The query text, already validated and collapsed to one line.
            max_results: At most this many results are returned (1 to 20).
            timeout_s: Total time allowed for the request, connection included.

        Returns:
            Clean results, best first.

        Raises:
            AgenticError: `search_failed`, `search_timeout` or `search_rate_limited`.
        """
        ...


class SearxngProvider:
    """A self-hosted SearXNG instance, through its JSON API.

    Checked against https://docs.searxng.org/dev/search_api: `GET {base}/search?q=…&format=json`; the `json`
    format must be enabled under `search.formats` in the instance's settings.yml, otherwise it answers
    403 Forbidden. There is no result-count parameter (a page holds about 20), so results are cut here.
    The answer's `results` entries carry `title`, `url` and `content` (the snippet). SearXNG has no API
    keys of its own; `api_key`, when set, is sent as a Bearer token for an authenticating reverse proxy.
    """

    name: str = "searxng"

    def __init__(self, base_url: str, *, api_key: SecretStr | None = None) -> None:
        """Point at an instance.

        Args:
            base_url: The instance's root URL (`/search` is appended), e.g. `http://searxng:8080`.
            api_key: Optional token for a proxy in front of the instance.
        """
        self.base_url = check_base_url(base_url)
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"SearxngProvider(base_url={self.base_url!r})"

    async def search(self, query: str, *, max_results: int, timeout_s: float) -> list[SearchResult]:
        """Search through the instance; see `SearchProvider.search`."""
        headers: dict[str, str] = {}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        data = await _fetch_json(
            self.name,
            "SearXNG",
            "GET",
            f"{self.base_url}/search",
            timeout_s=timeout_s,
            headers=headers,
            params={"q": query, "format": "json"},
        )
        if not isinstance(data, dict) or not isinstance(data.get("results", []), list):
            raise _unexpected(self.name, "SearXNG")
        return _normalise(
            data.get("results", []), title_key="title", snippet_key="content", max_results=max_results
        )


class BraveProvider:
    """The Brave Search API's web search endpoint.

    Checked against https://api-dashboard.search.brave.com/docs: `GET
    https://api.search.brave.com/res/v1/web/search?q=…` with the key in the `X-Subscription-Token` header
    and `Accept: application/json`; `count` asks for up to 20 results. The answer (`WebSearchApiResponse`)
    holds them in `web.results`, each with `title`, `url` and `description`, which marks query terms up with
    `<strong>`; `web` is absent when nothing was found.
    """

    name: str = "brave"

    def __init__(self, base_url: str = BRAVE_DEFAULT_BASE_URL, *, api_key: SecretStr | None = None) -> None:
        """Configure the client.

        Args:
            base_url: The API origin; tests point it at a local server.
            api_key: The subscription token (required).

        Raises:
            ValueError: Without an API key.
        """
        if api_key is None:
            raise ValueError("the Brave Search API needs an API key (AGENTIC_SEARCH_API_KEY)")
        self.base_url = check_base_url(base_url)
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"BraveProvider(base_url={self.base_url!r})"

    async def search(self, query: str, *, max_results: int, timeout_s: float) -> list[SearchResult]:
        """Search through Brave; see `SearchProvider.search`."""
        count = max(1, min(max_results, MAX_RESULTS_LIMIT))
        data = await _fetch_json(
            self.name,
            "Brave Search",
            "GET",
            f"{self.base_url}/res/v1/web/search",
            timeout_s=timeout_s,
            headers={"X-Subscription-Token": self._api_key.get_secret_value()},
            params={"q": query, "count": str(count)},
        )
        if not isinstance(data, dict):
            raise _unexpected(self.name, "Brave Search")
        web = data.get("web") or {}
        if not isinstance(web, dict) or not isinstance(web.get("results", []), list):
            raise _unexpected(self.name, "Brave Search")
        return _normalise(
            web.get("results", []), title_key="title", snippet_key="description", max_results=max_results
        )


class TavilyProvider:
    """Tavily's search API.

    Checked against https://docs.tavily.com/api-reference/introduction: `POST https://api.tavily.com/search`
    with a JSON body (`{"query": …}`, here with `max_results`) and the key as `Authorization: Bearer
    tvly-…` (older clients put `api_key` in the body; the header keeps it out of anything that logs
    bodies). The answer's `results` entries carry `title`, `url`, `content` (the snippet) and `score`.
    """

    name: str = "tavily"

    def __init__(self, base_url: str = TAVILY_DEFAULT_BASE_URL, *, api_key: SecretStr | None = None) -> None:
        """Configure the client.

        Args:
            base_url: The API origin; tests point it at a local server.
            api_key: The Tavily API key (required).

        Raises:
            ValueError: Without an API key.
        """
        if api_key is None:
            raise ValueError("the Tavily API needs an API key (AGENTIC_SEARCH_API_KEY)")
        self.base_url = check_base_url(base_url)
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"TavilyProvider(base_url={self.base_url!r})"

    async def search(self, query: str, *, max_results: int, timeout_s: float) -> list[SearchResult]:
        """Search through Tavily; see `SearchProvider.search`."""
        data = await _fetch_json(
            self.name,
            "Tavily",
            "POST",
            f"{self.base_url}/search",
            timeout_s=timeout_s,
            headers={"Authorization": f"Bearer {self._api_key.get_secret_value()}"},
            json_body={"query": query, "max_results": max(1, min(max_results, MAX_RESULTS_LIMIT))},
        )
        if not isinstance(data, dict) or not isinstance(data.get("results", []), list):
            raise _unexpected(self.name, "Tavily")
        return _normalise(
            data.get("results", []), title_key="title", snippet_key="content", max_results=max_results
        )


def provider_from_settings(settings: SearchSettings) -> SearchProvider | None:
    """Build the configured provider.

    Args:
        settings: Validated search settings (the validator guarantees the key or URL each provider needs).

    Returns:
        The provider, or None when `AGENTIC_SEARCH_PROVIDER` is unset.
    """
    if settings.provider == "searxng":
        if settings.base_url is None:  # only reachable through `model_construct`, which skips validation
            raise ValueError("AGENTIC_SEARCH_PROVIDER=searxng needs AGENTIC_SEARCH_BASE_URL")
        return SearxngProvider(settings.base_url, api_key=settings.api_key)
    if settings.provider == "brave":
        return BraveProvider(settings.base_url or BRAVE_DEFAULT_BASE_URL, api_key=settings.api_key)
    if settings.provider == "tavily":
        return TavilyProvider(settings.base_url or TAVILY_DEFAULT_BASE_URL, api_key=settings.api_key)
    return None


# --- the tool -----------------------------------------------------------------------------------------------


async def web_search(
    provider: SearchProvider | None, query: str, *, max_results: int = 5, timeout_s: float = 15.0
) -> list[SearchResult]:
    """Search the web: the body of the agents' `web_search` tool.

    Args:
        provider: The configured backend (`provider_from_settings`); None when search is not configured.
        query: The model's query; whitespace is collapsed, at most 400 characters.
        max_results: How many results the model wants; clamped to 1..20 rather than refused, since
            models ask for "50" freely. Callers also apply the operator's `SearchSettings.max_results`.
        timeout_s: Total time allowed, enforced here too so a slow provider cannot stall the agent.

    Returns:
        At most `max_results` results (possibly none).

    Raises:
        AgenticError: `search_not_configured` without a provider; `search_failed`, `search_timeout` or
            `search_rate_limited` when the provider fails.
        InvalidInput: On an empty or overlong query.
        ValueError: On a non-positive `timeout_s` (a programming error, not the model's).
    """
    if provider is None:
        raise AgenticError(NOT_CONFIGURED_MESSAGE, code="search_not_configured")
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")
    text = " ".join(query.split())
    if not text:
        raise InvalidInput("The search query is empty: pass the words to search for.")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(
            f"The search query is {len(text)} characters long; "
            f"use at most {MAX_QUERY_CHARS} (a few keywords)."
        )
    limit = max(1, min(max_results, MAX_RESULTS_LIMIT))
    try:
        # The providers time out on their own; this bounds any other `SearchProvider` implementation too.
        async with asyncio.timeout(timeout_s):
            results = await provider.search(text, max_results=limit, timeout_s=timeout_s)
    except TimeoutError:
        raise AgenticError(
            f"Web search failed: the {provider.name} search did not answer within {timeout_s:g} s",
            code="search_timeout",
        ) from None
    return results[:limit]
