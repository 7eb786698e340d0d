"""The `web_search` tool and its providers (`agentic.tools.search`), against a real local aiohttp server.

One server on 127.0.0.1 imitates all three APIs (SearXNG `GET /search`, Brave `GET /res/v1/web/search`,
Tavily `POST /search`), records every request so the tests can check its shape (query parameters, headers,
JSON body, where the key goes), and can be told to fail: a status, a raw body, a redirect, or no answer.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr, ValidationError

from agentic.config import SearchSettings
from agentic.errors import AgenticError, InvalidInput
from agentic.tools.search import (
    BRAVE_DEFAULT_BASE_URL,
    TAVILY_DEFAULT_BASE_URL,
    BraveProvider,
    SearchProvider,
    SearchResult,
    SearxngProvider,
    TavilyProvider,
    plain_text,
    provider_from_settings,
    web_search,
)
from tests.support.local_server import serve

KEY = "sk-test-0123456789abcdef-SECRET"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeApi:
    """What the local server saw, and how it should answer next."""

    port: int
    seen: list[Seen] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # replaces the provider-shaped JSON answer
    payload: Any = None  # replaces the provider-shaped JSON answer, as JSON
    hang: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def items(n: int, *, snippet_key: str) -> list[dict[str, Any]]:
    return [
        {"title": f"Result {i}", "url": f"https://example.com/{i}", snippet_key: f"snippet {i}"}
        for i in range(n)
    ]


def messy(snippet_key: str) -> list[Any]:
    """Markup, entities, unsafe and duplicate URLs, oversized fields: what normalisation must handle."""
    return [
        {
            "title": "<strong>Python</strong> &amp; <em>you</em>",
            "url": "https://www.python.org/",
            snippet_key: "The <strong>official</strong>\n home &lt;of&gt; Python<script>steal()</script>",
        },
        {"title": "Script", "url": "javascript:alert(1)", snippet_key: "x"},
        {"title": "Data", "url": "data:text/html,<h1>x</h1>", snippet_key: "x"},
        {"title": "FTP", "url": "ftp://example.com/file", snippet_key: "x"},
        {"title": "Relative", "url": "//example.com/x", snippet_key: "x"},
        {"title": "No URL", snippet_key: "x"},
        "not an object",
        {"title": "Duplicate", "url": "https://www.python.org/", snippet_key: "x"},
        {"title": "", "url": "http://docs.python.org/3/", snippet_key: None},
        {"title": "T" * 1000, "url": "https://long.example/", snippet_key: "word " * 500},
    ]


def answer(path: str, method: str, results: list[Any]) -> Any:
    if path == "/res/v1/web/search":
        return {"type": "search", "query": {"original": "q"}, "web": {"type": "search", "results": results}}
    if method == "POST":
        return {"query": "q", "answer": None, "images": [], "results": results, "response_time": 0.5}
    return {"query": "q", "number_of_results": len(results), "results": results, "answers": []}


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    state: dict[str, FakeApi] = {}
    results: dict[str, list[Any]] = {}

    async def handle(request: web.Request) -> web.StreamResponse:
        fake = state["api"]
        fake.seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                await request.read(),
            )
        )
        if fake.hang:
            await fake.release.wait()
        if fake.raw is not None:
            return web.Response(status=fake.status, body=fake.raw, headers=fake.headers)
        snippet_key = {"/res/v1/web/search": "description"}.get(request.path, "content")
        payload = fake.payload
        if payload is None:
            payload = answer(request.path, request.method, results.get(snippet_key) or messy(snippet_key))
        return web.json_response(payload, status=fake.status, headers=fake.headers)

    app = web.Application()
    app.router.add_get("/search", handle)  # SearXNG
    app.router.add_post("/search", handle)  # Tavily
    app.router.add_get("/res/v1/web/search", handle)  # Brave
    app.router.add_get("/prefix/search", handle)  # SearXNG under a path
    async with serve(app) as port:
        fake = FakeApi(port=port)
        state["api"] = fake
        try:
            yield fake
        finally:
            fake.release.set()


PROVIDERS: dict[str, Callable[[FakeApi], SearchProvider]] = {
    "searxng": lambda api: SearxngProvider(api.base_url),
    "brave": lambda api: BraveProvider(api.base_url, api_key=SecretStr(KEY)),
    "tavily": lambda api: TavilyProvider(api.base_url, api_key=SecretStr(KEY)),
}


async def failure(provider: SearchProvider, **kwargs: Any) -> AgenticError:
    with pytest.raises(AgenticError) as caught:
        await web_search(provider, "python", **kwargs)
    return caught.value


def assert_no_key(error: BaseException) -> None:
    for text in (str(error), repr(error), repr(error.args), repr(getattr(error, "details", None))):
        assert KEY not in text
    assert error.__cause__ is None or KEY not in repr(error.__cause__)


EXPECTED_MESSY = [
    SearchResult("Python & you", "https://www.python.org/", "The official home <of> Python"),
    SearchResult("http://docs.python.org/3/", "http://docs.python.org/3/", ""),
    SearchResult("T" * 299 + "…", "https://long.example/", " ".join(["word"] * 200) + "…"),
]


# --- request shapes and parsing, per provider ---------------------------------------------------------------


async def test_searxng_request_and_parsing(api: FakeApi) -> None:
    results = await web_search(SearxngProvider(api.base_url + "/"), "  python\n  asyncio ", max_results=10)

    assert results == EXPECTED_MESSY
    [seen] = api.seen
    assert (seen.method, seen.path) == ("GET", "/search")
    assert seen.query == {"q": "python asyncio", "format": "json"}
    assert seen.headers["Accept"] == "application/json"
    assert "Authorization" not in seen.headers


async def test_searxng_under_a_path_and_with_a_proxy_token(api: FakeApi) -> None:
    provider = SearxngProvider(f"{api.base_url}/prefix", api_key=SecretStr(KEY))
    await web_search(provider, "python")
    [seen] = api.seen
    assert seen.path == "/prefix/search"
    assert seen.headers["Authorization"] == f"Bearer {KEY}"


async def test_brave_request_and_parsing(api: FakeApi) -> None:
    results = await web_search(PROVIDERS["brave"](api), "python asyncio", max_results=10)

    assert results == EXPECTED_MESSY
    [seen] = api.seen
    assert (seen.method, seen.path) == ("GET", "/res/v1/web/search")
    assert seen.query == {"q": "python asyncio", "count": "10"}
    assert seen.headers["X-Subscription-Token"] == KEY
    assert seen.headers["Accept"] == "application/json"
    assert "Authorization" not in seen.headers


async def test_brave_without_web_results_is_empty(api: FakeApi) -> None:
    api.payload = {"type": "search", "query": {"original": "zxqv"}}
    assert await web_search(PROVIDERS["brave"](api), "zxqv") == []


async def test_tavily_request_and_parsing(api: FakeApi) -> None:
    results = await web_search(PROVIDERS["tavily"](api), "python asyncio", max_results=10)

    assert results == EXPECTED_MESSY
    [seen] = api.seen
    assert (seen.method, seen.path) == ("POST", "/search")
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    assert seen.headers["Content-Type"].startswith("application/json")
    body = json.loads(seen.body)
    assert body == {"query": "python asyncio", "max_results": 10}  # the key is in the header only
    assert seen.query == {}


# --- result limits ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize(("asked", "expected"), [(3, 3), (1, 1), (0, 1), (-5, 1), (50, 20)])
async def test_max_results_is_honoured_and_clamped(
    api: FakeApi, name: str, asked: int, expected: int
) -> None:
    api.payload = answer(
        {"brave": "/res/v1/web/search"}.get(name, "/search"),
        "POST" if name == "tavily" else "GET",
        items(25, snippet_key="description" if name == "brave" else "content"),
    )
    results = await web_search(PROVIDERS[name](api), "python", max_results=asked)
    assert [r.url for r in results] == [f"https://example.com/{i}" for i in range(expected)]
    [seen] = api.seen
    if name == "brave":
        assert seen.query["count"] == str(expected)
    if name == "tavily":
        assert json.loads(seen.body)["max_results"] == expected


async def test_a_provider_returning_too_many_is_cut() -> None:
    class Chatty:
        name = "chatty"

        async def search(self, query: str, *, max_results: int, timeout_s: float) -> list[SearchResult]:
            return [SearchResult("t", f"https://e.com/{i}", "s") for i in range(30)]

    assert len(await web_search(Chatty(), "python", max_results=4)) == 4


def test_plain_text() -> None:
    assert plain_text("<b>a</b>b<br/>c &amp;&#39;d&#x27;", 100) == "ab c &'d'"
    assert plain_text("x < y and y > z", 100) == "x < y and y > z"
    assert plain_text('<a href="x>y">link</a> <style>p{}</style>', 100) == "link"
    assert plain_text("zero\u200bwidth\u202e bidi\x00 nul", 100) == "zerowidth bidi nul"
    assert plain_text("&lt;script&gt;", 100) == "<script>"  # decoded once: shown as text, never parsed again
    assert plain_text(None, 100) == ""
    assert plain_text(42, 100) == ""
    assert plain_text("abcdef", 4) == "abc…"


# --- failures -----------------------------------------------------------------------------------------------


async def test_no_provider_is_a_clear_error() -> None:
    error = await failure(None)  # type: ignore[arg-type]
    assert error.code == "search_not_configured"
    assert error.message.startswith(
        "No web search provider is configured: set AGENTIC_SEARCH_PROVIDER (searxng, brave or tavily)"
    )


@pytest.mark.parametrize("name", ["brave", "tavily"])
@pytest.mark.parametrize("status", [401, 403])
async def test_a_rejected_key_is_reported_without_the_key(
    api: FakeApi, name: str, status: int, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    api.status = status
    api.payload = {"detail": {"error": f"Invalid API key: {KEY}"}}  # a provider echoing the key back
    error = await failure(PROVIDERS[name](api))
    assert error.code == "search_failed"
    assert "rejected the configured API key" in error.message
    assert f"HTTP {status}" in error.message
    assert_no_key(error)
    assert log_lines(), "the failure is logged for operators"
    assert KEY not in json.dumps(log_lines())


async def test_searxng_403_explains_the_json_format(api: FakeApi) -> None:
    api.status = 403
    error = await failure(PROVIDERS["searxng"](api))
    assert error.code == "search_failed"
    assert "search.formats" in error.message


@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize("status", [500, 502, 400, 404])
async def test_server_errors_are_search_failed(api: FakeApi, name: str, status: int) -> None:
    api.status = status
    error = await failure(PROVIDERS[name](api))
    assert error.code == "search_failed"
    assert f"HTTP {status}" in error.message
    assert_no_key(error)


@pytest.mark.parametrize("name", PROVIDERS)
async def test_rate_limit(api: FakeApi, name: str) -> None:
    api.status = 429
    api.headers = {"Retry-After": "30"}
    error = await failure(PROVIDERS[name](api))
    assert error.code == "search_rate_limited"
    assert "retry after 30 s" in error.message


@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize(
    "raw", [b"<html>not json</html>", b'{"results": ', b"\xff\xfe\xfa", b'["a", "list"]']
)
async def test_bodies_that_are_not_a_json_object_are_search_failed(
    api: FakeApi, name: str, raw: bytes
) -> None:
    api.raw = raw
    error = await failure(PROVIDERS[name](api))
    assert error.code == "search_failed"
    assert_no_key(error)


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("searxng", b'{"results": {"not": "a list"}}'),
        ("tavily", b'{"results": "nope"}'),
        ("brave", b'{"web": {"results": 3}}'),
        ("brave", b'{"web": "nope"}'),
    ],
)
async def test_unexpected_shapes_are_search_failed(api: FakeApi, name: str, raw: bytes) -> None:
    api.raw = raw
    error = await failure(PROVIDERS[name](api))
    assert error.code == "search_failed"
    assert "unexpected shape" in error.message


async def test_an_oversized_response_is_refused(api: FakeApi) -> None:
    api.raw = b'{"results": ["' + b"A" * (3 * 1024 * 1024) + b'"]}'
    error = await failure(PROVIDERS["searxng"](api))
    assert error.code == "search_failed"
    assert "oversized" in error.message


@pytest.mark.parametrize("name", PROVIDERS)
async def test_redirects_are_not_followed(api: FakeApi, name: str) -> None:
    api.status = 302
    api.raw = b""
    api.headers = {"Location": "http://169.254.169.254/latest/meta-data/"}
    error = await failure(PROVIDERS[name](api))
    assert error.code == "search_failed"
    assert "redirect" in error.message
    assert len(api.seen) == 1


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_slow_provider_times_out(api: FakeApi, name: str) -> None:
    api.hang = True
    started = time.monotonic()
    error = await failure(PROVIDERS[name](api), timeout_s=0.3)
    elapsed = time.monotonic() - started
    assert error.code == "search_timeout"
    assert "0.3 s" in error.message
    assert 0.25 <= elapsed < 1.5
    assert_no_key(error)


async def test_web_search_bounds_any_provider_in_time() -> None:
    class Stuck:
        name = "stuck"

        async def search(self, query: str, *, max_results: int, timeout_s: float) -> list[SearchResult]:
            await asyncio.sleep(30)
            return []

    started = time.monotonic()
    error = await failure(Stuck(), timeout_s=0.2)
    assert error.code == "search_timeout"
    assert time.monotonic() - started < 1.0


async def test_an_unreachable_provider_is_search_failed() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = BraveProvider(f"http://127.0.0.1:{port}", api_key=SecretStr(KEY))
    error = await failure(provider)
    assert error.code == "search_failed"
    assert "could not reach" in error.message
    assert str(port) not in error.message  # operators get the address in the log; the model does not
    assert_no_key(error)


@pytest.mark.parametrize("query", ["", "   \n\t "])
async def test_an_empty_query_is_refused(api: FakeApi, query: str) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        await web_search(PROVIDERS["searxng"](api), query)
    assert api.seen == []


async def test_an_overlong_query_is_refused(api: FakeApi) -> None:
    with pytest.raises(InvalidInput, match="at most 400"):
        await web_search(PROVIDERS["searxng"](api), "word " * 100)
    assert api.seen == []


# --- settings -----------------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("PROVIDER", "BASE_URL", "API_KEY", "TIMEOUT_S", "MAX_RESULTS"):
        monkeypatch.delenv(f"AGENTIC_SEARCH_{name}", raising=False)
    return monkeypatch


def test_settings_default_to_no_provider(clean_env: pytest.MonkeyPatch) -> None:
    settings = SearchSettings(_env_file=None)
    assert settings.provider is None
    assert provider_from_settings(settings) is None
    assert (settings.timeout_s, settings.max_results) == (15.0, 10)


@pytest.mark.parametrize(
    ("values", "needs"),
    [
        ({"provider": "brave"}, "AGENTIC_SEARCH_API_KEY"),
        ({"provider": "tavily", "api_key": "  "}, "AGENTIC_SEARCH_API_KEY"),
        ({"provider": "searxng", "api_key": KEY}, "AGENTIC_SEARCH_BASE_URL"),
        ({"provider": "searxng", "base_url": ""}, "AGENTIC_SEARCH_BASE_URL"),
    ],
)
def test_settings_refuse_an_incomplete_provider(
    clean_env: pytest.MonkeyPatch, values: dict[str, str], needs: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        SearchSettings(_env_file=None, **values)  # type: ignore[arg-type]
    assert needs in str(caught.value)
    # Pydantic would otherwise print the inputs, key included (or a truncated part of it: check both).
    assert "input_value" not in str(caught.value)
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("base_url", "complaint"),
    [
        ("searxng:8080", "http:// or https://"),
        ("ftp://searxng", "http:// or https://"),
        ("http://user:pass@searxng", "not in the URL"),
        ("http://searxng/?q=x", "without a query"),
    ],
)
def test_settings_refuse_a_bad_base_url(clean_env: pytest.MonkeyPatch, base_url: str, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint) as caught:
        SearchSettings(_env_file=None, provider="searxng", base_url=base_url)
    assert "pass" not in str(caught.value)


@pytest.mark.parametrize(
    ("field_name", "value"), [("timeout_s", "0"), ("max_results", "21"), ("provider", "bing")]
)
def test_settings_refuse_out_of_range_values(
    clean_env: pytest.MonkeyPatch, field_name: str, value: str
) -> None:
    with pytest.raises(ValidationError):
        SearchSettings(_env_file=None, **{field_name: value})  # type: ignore[arg-type]


def test_settings_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AGENTIC_SEARCH_PROVIDER", "Brave")
    clean_env.setenv("AGENTIC_SEARCH_API_KEY", KEY)
    clean_env.setenv("AGENTIC_SEARCH_MAX_RESULTS", "7")
    settings = SearchSettings(_env_file=None)
    assert (settings.provider, settings.max_results) == ("brave", 7)
    assert KEY not in repr(settings)
    provider = provider_from_settings(settings)
    assert isinstance(provider, BraveProvider)
    assert provider.base_url == BRAVE_DEFAULT_BASE_URL
    assert KEY not in repr(provider)


def test_an_empty_provider_variable_means_unset(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AGENTIC_SEARCH_PROVIDER", "")
    assert SearchSettings(_env_file=None).provider is None


def test_provider_from_settings(clean_env: pytest.MonkeyPatch) -> None:
    searxng = provider_from_settings(
        SearchSettings(_env_file=None, provider="searxng", base_url="http://searxng:8080/")
    )
    assert isinstance(searxng, SearxngProvider)
    assert searxng.base_url == "http://searxng:8080"

    tavily = provider_from_settings(SearchSettings(_env_file=None, provider="tavily", api_key=KEY))
    assert isinstance(tavily, TavilyProvider)
    assert tavily.base_url == TAVILY_DEFAULT_BASE_URL

    local = provider_from_settings(
        SearchSettings(_env_file=None, provider="tavily", api_key=KEY, base_url="http://127.0.0.1:9")
    )
    assert isinstance(local, TavilyProvider)
    assert local.base_url == "http://127.0.0.1:9"


def test_keyed_providers_require_a_key() -> None:
    with pytest.raises(ValueError, match="API key"):
        BraveProvider()
    with pytest.raises(ValueError, match="API key"):
        TavilyProvider()
