"""SSRF acceptance suite for the agent tools' outbound HTTP (`agentic.tools.http`).

Refusals that need no network run against URLs alone (a lookup that fails the test if called proves IP
literals never reach DNS). Redirect, size, time and pinning cases run against a real aiohttp server on
127.0.0.1, reached only because each policy exempts `127.0.0.1/32`; names resolve through injected lookups
(there is no internet here, and the suite's network guard refuses non-loopback connects anyway).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from agentic.errors import InvalidInput
from agentic.tools.http import (
    Lookup,
    OutboundPolicy,
    OutboundRefused,
    _GuardResolver,
    check_address,
    check_url,
    domain_allowed,
    http_request,
    web_fetch,
)
from tests.support.local_server import serve

# --- helpers ----------------------------------------------------------------------------------------------


async def no_lookup(host: str, port: int, family: int) -> list[tuple[int, str]]:
    """IP literals and URL-level refusals must never reach DNS."""
    raise AssertionError(f"unexpected DNS lookup of {host!r}")


def fixed_lookup(table: Mapping[str, Sequence[str]]) -> tuple[list[str], Lookup]:
    """A lookup answering from `table`; returns (the list of names looked up, the lookup)."""
    calls: list[str] = []

    async def lookup(host: str, port: int, family: int) -> list[tuple[int, str]]:
        calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "not found")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, a) for a in table[host]]

    return calls, lookup


async def refused(url: str, *, policy: OutboundPolicy | None = None, lookup: Lookup = no_lookup) -> str:
    with pytest.raises(OutboundRefused) as caught:
        await http_request(policy or OutboundPolicy(), "GET", url, lookup=lookup)
    return caught.value.code


# --- URL-level refusals (no network) ------------------------------------------------------------------------

INTERNAL_IPV4 = [
    "http://127.0.0.1/",
    "http://127.255.255.254/",
    "http://10.0.0.1/",
    "http://10.255.255.255/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.0.1/",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://169.254.0.1/",  # link-local
    "http://100.64.0.1/",  # CGNAT
    "http://100.127.255.254/",
    "http://0.0.0.0/",
    "http://0.1.2.3/",
    "http://224.0.0.1/",  # multicast
    "http://239.255.255.250/",
    "http://240.0.0.1/",  # reserved
    "http://255.255.255.255/",  # broadcast
    "http://192.0.0.8/",  # IETF protocol assignments
    "http://192.0.2.1/",  # TEST-NET-1
    "http://198.51.100.1/",  # TEST-NET-2
    "http://203.0.113.1/",  # TEST-NET-3
    "http://198.18.0.1/",  # benchmarking
    "http://192.88.99.1/",  # 6to4 relay
    "http://127.0.0.1:8080/",  # an allowed port does not make it public
    "https://10.0.0.1:8443/",
]

INTERNAL_IPV6 = [
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::]/",
    "http://[fc00::1]/",  # ULA
    "http://[fd12:3456:789a::1]/",
    "http://[fe80::1]/",  # link-local
    "http://[febf::1]/",
    "http://[fec0::1]/",  # site-local
    "http://[ff02::1]/",  # multicast
    "http://[2001:db8::1]/",  # documentation
    "http://[100::1]/",  # discard
]

EMBEDDED_IPV4 = [
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[0:0:0:0:0:ffff:c0a8:0101]/",
    "http://[::127.0.0.1]/",  # IPv4-compatible
    "http://[::a9fe:a9fe]/",
    "http://[64:ff9b::127.0.0.1]/",  # NAT64
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b::10.0.0.1]/",
    "http://[64:ff9b:1::a00:1]/",  # local-use NAT64
    "http://[2002:7f00:1::]/",  # 6to4
    "http://[2002:a9fe:a9fe::1]/",
    "http://[2002:c0a8:101::1]/",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",  # Teredo, client 127.0.0.1
]

SPELLINGS = [
    "http://2130706433/",  # decimal 127.0.0.1
    "http://2852039166/",  # decimal 169.254.169.254
    "http://017700000001/",  # octal
    "http://0177.0.0.1/",
    "http://0177.0000.0000.0001/",
    "http://0x7f000001/",  # hex
    "http://0x7f.0.0.1/",
    "http://0x7f.1/",
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://0251.0376.0251.0376/",
    "http://0xA9FEA9FE/",
    "http://127.1/",  # short forms
    "http://127.0.1/",
    "http://10.1/",
    "http://0/",
    "http://127.0.0.1./",  # trailing dot
    "http://127.0.0.1../",
    "http://169.254.169.254./",
    "http://[fe80::1%25eth0]/",  # zone id
    "http://[::1%251]/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://localhost:8080/",
    "http://api.localhost/",
]


@pytest.mark.parametrize("url", INTERNAL_IPV4)
async def test_internal_ipv4_is_refused(url: str) -> None:
    assert await refused(url) == "ssrf_refused"


@pytest.mark.parametrize("url", INTERNAL_IPV6)
async def test_internal_ipv6_is_refused(url: str) -> None:
    assert await refused(url) == "ssrf_refused"


@pytest.mark.parametrize("url", EMBEDDED_IPV4)
async def test_ipv6_forms_embedding_internal_ipv4_are_refused(url: str) -> None:
    assert await refused(url) == "ssrf_refused"


@pytest.mark.parametrize("url", SPELLINGS)
async def test_alternative_spellings_of_internal_hosts_are_refused(url: str) -> None:
    assert await refused(url) == "ssrf_refused"


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("134744072", "8.8.8.8"),
        ("0x08080808", "8.8.8.8"),
        ("010.010.010.010", "8.8.8.8"),
        ("8.8.2056", "8.8.8.8"),
        ("8.8.8.8.", "8.8.8.8"),
        ("[::ffff:8.8.8.8]", "8.8.8.8"),
    ],
)
def test_public_spellings_are_normalised_to_the_canonical_address(spelling: str, canonical: str) -> None:
    assert check_url(OutboundPolicy(), f"http://{spelling}/x").raw_host == canonical


@pytest.mark.parametrize(
    "url", ["http://256.0.0.1/", "http://1.2.3.4.5/", "http://0x1ffffffff/", "http://ex%41mple.com/"]
)
async def test_malformed_hosts_are_refused(url: str) -> None:
    assert await refused(url) == "invalid_url"


@pytest.mark.parametrize(
    "url",
    [
        "http://user:pass@example.com/",
        "http://user@example.com/",
        "http://:pass@example.com/",
        "http://@example.com/",
        "http://example.com@127.0.0.1/",
        "https://token:x-oauth@example.com/",
    ],
)
async def test_credentials_in_the_url_are_refused(url: str) -> None:
    assert await refused(url) == "credentials_refused"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/_SET%20x",
        "ftp://example.com/file",
        "dict://127.0.0.1:11211/stats",
        "ws://example.com/",
        "data:text/plain,hello",
        "javascript:alert(1)",
        "//example.com/",
        "example.com",
    ],
)
async def test_other_schemes_are_refused(url: str) -> None:
    assert await refused(url) == "scheme_refused"


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com:22/",
        "http://example.com:25/",
        "http://example.com:6379/",
        "https://example.com:11211/",
        "http://example.com:0/",
        "http://8.8.8.8:3306/",
    ],
)
async def test_ports_outside_the_allowed_set_are_refused(url: str) -> None:
    assert await refused(url) == "port_refused"


async def test_the_port_set_is_configurable() -> None:
    assert await refused(
        "http://example.com:8080/", policy=OutboundPolicy(allowed_ports=frozenset({443}))
    ) == ("port_refused")
    assert check_url(OutboundPolicy(allowed_ports=frozenset({9000})), "http://example.com:9000/").port == 9000


def test_the_refusal_is_an_invalid_input_with_a_machine_readable_code() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_url(OutboundPolicy(), "http://user:hunter2@example.com/")
    assert isinstance(caught.value, OutboundRefused)
    assert caught.value.code == "credentials_refused"
    assert caught.value.details == {"reason": "credentials_refused"}
    assert "hunter2" not in caught.value.message


def test_no_private_network_is_exempt_by_default() -> None:
    assert OutboundPolicy().allow_private_networks == frozenset()
    assert not OutboundPolicy().exempts(ipaddress.ip_address("127.0.0.1"))


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"],
)
def test_public_addresses_pass(address: str) -> None:
    check_address(OutboundPolicy(), ipaddress.ip_address(address))


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "OPTIONS", "PROPFIND"])
async def test_methods_outside_the_tool_set_are_refused(method: str) -> None:
    with pytest.raises(OutboundRefused) as caught:
        await http_request(OutboundPolicy(), method, "http://example.com/", lookup=no_lookup)
    assert caught.value.code == "method_refused"


@pytest.mark.parametrize(
    "header",
    [
        "Host",
        "Connection",
        "Transfer-Encoding",
        "Content-Length",
        "Cookie",
        "Proxy-Authorization",
        "X-Forwarded-For",
    ],
)
async def test_unsafe_request_headers_are_refused(header: str) -> None:
    with pytest.raises(OutboundRefused) as caught:
        await http_request(
            OutboundPolicy(), "GET", "http://example.com/", headers={header: "x"}, lookup=no_lookup
        )
    assert caught.value.code == "header_refused"


@pytest.mark.parametrize(
    ("patterns", "host", "allowed"),
    [
        (("example.com",), "example.com", True),
        (("example.com",), "api.example.com", False),
        (("*.example.com",), "api.example.com", True),
        (("*.example.com",), "a.b.example.com", True),
        (("*.example.com",), "example.com", False),
        (("*.example.com",), "badexample.com", False),
        (("example.com",), "example.com.evil.test", False),
        (("Example.COM.",), "example.com", True),
    ],
)
def test_domain_patterns(patterns: tuple[str, ...], host: str, allowed: bool) -> None:
    assert domain_allowed(OutboundPolicy(allowed_domains=patterns), host) is allowed


async def test_domain_allowlist_refuses_other_hosts_before_dns() -> None:
    policy = OutboundPolicy(allowed_domains=("example.com",))
    assert await refused("https://other.example.org/", policy=policy) == "domain_not_allowed"
    assert await refused("https://8.8.8.8/", policy=policy) == "domain_not_allowed"


# --- DNS names resolving to internal addresses ------------------------------------------------------------

INTERNAL_ANSWERS = [
    ["127.0.0.1"],
    ["10.1.2.3"],
    ["172.20.0.5"],
    ["192.168.1.10"],
    ["169.254.169.254"],
    ["100.64.1.1"],
    ["0.0.0.0"],  # noqa: S104  # an answer, not a bind address
    ["::1"],
    ["fd00::1"],
    ["fe80::1"],
    ["::ffff:127.0.0.1"],
    ["::ffff:169.254.169.254"],
    ["64:ff9b::a9fe:a9fe"],
    ["2002:7f00:1::1"],
    ["8.8.8.8", "127.0.0.1"],  # every address is checked, not just the first
    ["127.0.0.1", "8.8.8.8"],
    ["2606:4700::1111", "fd00::1"],
]


@pytest.mark.parametrize("answer", INTERNAL_ANSWERS, ids="+".join)
async def test_names_resolving_to_internal_addresses_are_refused(answer: list[str]) -> None:
    calls, lookup = fixed_lookup({"innocent.example": answer})
    assert await refused("https://innocent.example/", lookup=lookup) == "ssrf_refused"
    assert calls == ["innocent.example"]


async def test_a_trailing_dot_name_is_resolved_and_checked() -> None:
    calls, lookup = fixed_lookup({"innocent.example": ["10.0.0.1"]})
    assert await refused("http://INNOCENT.example./", lookup=lookup) == "ssrf_refused"
    assert calls == ["innocent.example"]


async def test_a_slow_resolver_times_out() -> None:
    async def slow(host: str, port: int, family: int) -> list[tuple[int, str]]:
        await asyncio.sleep(10)
        return []

    assert (
        await refused("http://slow.example/", policy=OutboundPolicy(dns_timeout=0.1), lookup=slow)
        == "timeout"
    )


async def test_an_unresolvable_name_is_reported() -> None:
    _, lookup = fixed_lookup({})
    assert await refused("http://nowhere.example/", lookup=lookup) == "dns_failed"


async def test_the_resolver_hands_aiohttp_only_the_checked_numeric_addresses() -> None:
    _, lookup = fixed_lookup({"pinned.example": ["8.8.8.8", "2606:4700::1111", "::ffff:1.1.1.1"]})
    resolver = _GuardResolver(OutboundPolicy(), lookup)
    results = await resolver.resolve("pinned.example", 443, socket.AF_UNSPEC)
    assert [r["host"] for r in results] == ["8.8.8.8", "2606:4700::1111", "1.1.1.1"]
    assert all(r["hostname"] == "pinned.example" and r["port"] == 443 for r in results)
    assert all(r["flags"] & socket.AI_NUMERICHOST for r in results)


# --- against a real local server ------------------------------------------------------------------------


@dataclass
class LocalServer:
    """An aiohttp app on 127.0.0.1 with routes for redirects, big and slow bodies; records what it saw."""

    port: int
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)  # (method, path_qs, Host)
    headers: list[dict[str, str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def policy(self, **changes: object) -> OutboundPolicy:
        options: dict[str, object] = {
            "allowed_ports": frozenset({self.port, 80, 443}),
            "allow_private_networks": frozenset({"127.0.0.1/32"}),  # tests only; production never sets it
            "total_timeout": 5.0,
        }
        options.update(changes)
        return OutboundPolicy(**options)  # type: ignore[arg-type]


PAGE = """<!doctype html><html><head><title>Docs</title>
<style>.hidden { display: none }</style><script>var token = "leak-me"; steal();</script></head>
<body><h1>Getting started</h1><p>Install the <b>tool</b>, then read <a href="/next">the next page</a>.</p>
<script>document.write("injected")</script><noscript>enable js</noscript></body></html>"""


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    app = web.Application()
    state: dict[str, LocalServer] = {}

    async def record(request: web.Request) -> None:
        srv = state["server"]
        srv.seen.append((request.method, request.path_qs, request.headers.get("Host")))
        srv.headers.append(dict(request.headers))

    async def ok(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(text=f"ok {request.method} {await request.text()}")

    async def page(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(text=PAGE, content_type="text/html")

    async def redirect(request: web.Request) -> web.Response:
        await record(request)
        status = int(request.query.get("status", "302"))
        return web.Response(status=status, headers={"Location": request.query["to"]})

    async def loop(request: web.Request) -> web.Response:
        await record(request)
        n = int(request.match_info["n"])
        return web.Response(status=302, headers={"Location": f"/loop/{n + 1}"})

    async def huge(request: web.Request) -> web.StreamResponse:
        await record(request)
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b"A" * 65536
        try:
            for _ in range(160):  # 10 MiB, unless the client stops reading
                await response.write(chunk)
        except (ConnectionResetError, ConnectionError):
            pass
        return response

    async def slow(request: web.Request) -> web.Response:
        await record(request)
        await state["server"].release.wait()
        return web.Response(text="late")

    app.router.add_route("*", "/ok", ok)
    app.router.add_get("/page", page)
    app.router.add_route("*", "/redirect", redirect)
    app.router.add_get("/loop/{n}", loop)
    app.router.add_get("/huge", huge)
    app.router.add_get("/slow", slow)
    async with serve(app) as port:
        srv = LocalServer(port=port)
        state["server"] = srv
        try:
            yield srv
        finally:
            srv.release.set()


async def test_an_exempted_local_server_is_reached(server: LocalServer) -> None:
    result = await http_request(server.policy(), "POST", server.url("/ok"), body="hi", lookup=no_lookup)
    assert (result.status, result.text, result.truncated, result.redirects) == (200, "ok POST hi", False, ())
    assert result.headers["content-type"].startswith("text/plain")


async def test_without_the_exemption_the_local_server_is_refused(server: LocalServer) -> None:
    assert await refused(server.url("/ok"), policy=server.policy(allow_private_networks=frozenset())) == (
        "ssrf_refused"
    )
    assert server.seen == []


def _redirect_targets(port: int) -> list[tuple[str, str]]:
    return [
        (f"http://127.0.0.2:{port}/", "ssrf_refused"),
        ("http://169.254.169.254/latest/meta-data/", "ssrf_refused"),
        (f"http://[::1]:{port}/", "ssrf_refused"),
        (f"http://[::ffff:169.254.169.254]:{port}/", "ssrf_refused"),
        (f"http://2130706434:{port}/", "ssrf_refused"),  # decimal 127.0.0.2
        ("http://2852039166/", "ssrf_refused"),  # decimal 169.254.169.254
        (f"http://0x7f.2:{port}/", "ssrf_refused"),  # hex short form of 127.0.0.2
        (f"http://internal.example:{port}/", "ssrf_refused"),  # resolves to 10.0.0.7
        (f"http://localhost:{port}/", "ssrf_refused"),
        ("file:///etc/passwd", "scheme_refused"),
        ("gopher://127.0.0.1:70/_x", "scheme_refused"),
        (f"http://user:pw@127.0.0.1:{port}/ok", "credentials_refused"),
        ("http://127.0.0.1:22/", "port_refused"),
    ]


@pytest.mark.parametrize("index", range(len(_redirect_targets(0))))
async def test_redirects_to_internal_or_forbidden_targets_are_refused_at_the_hop(
    server: LocalServer, index: int
) -> None:
    target, code = _redirect_targets(server.port)[index]
    calls, lookup = fixed_lookup({"internal.example": ["10.0.0.7"]})
    url = server.url(f"/redirect?to={target}")
    with pytest.raises(OutboundRefused) as caught:
        await http_request(server.policy(), "GET", url, lookup=lookup)
    assert caught.value.code == code
    assert len(server.seen) == 1  # the redirect itself; the target was never fetched
    assert server.seen[0][1].startswith("/redirect?to=")
    assert calls == (["internal.example"] if "internal.example" in target else [])


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_allowed_redirects_are_followed_and_recorded(server: LocalServer, status: int) -> None:
    url = server.url(f"/redirect?status={status}&to=/ok")
    result = await http_request(server.policy(), "GET", url, lookup=no_lookup)
    assert (result.status, result.url, result.redirects) == (200, server.url("/ok"), (url,))


async def test_a_post_redirected_with_303_becomes_a_get(server: LocalServer) -> None:
    result = await http_request(
        server.policy(), "POST", server.url("/redirect?status=303&to=/ok"), body="payload", lookup=no_lookup
    )
    assert result.text == "ok GET "


async def test_a_307_keeps_method_and_body(server: LocalServer) -> None:
    result = await http_request(
        server.policy(), "POST", server.url("/redirect?status=307&to=/ok"), body="payload", lookup=no_lookup
    )
    assert result.text == "ok POST payload"


async def test_a_redirect_loop_stops_at_the_limit(server: LocalServer) -> None:
    with pytest.raises(OutboundRefused) as caught:
        await http_request(server.policy(max_redirects=3), "GET", server.url("/loop/0"), lookup=no_lookup)
    assert caught.value.code == "too_many_redirects"
    assert [path for _, path, _ in server.seen] == ["/loop/0", "/loop/1", "/loop/2", "/loop/3"]


async def test_exactly_the_limit_of_redirects_is_allowed(server: LocalServer) -> None:
    hops = "/redirect?to=/redirect%3Fto%3D/ok"  # two redirects
    result = await http_request(server.policy(max_redirects=2), "GET", server.url(hops), lookup=no_lookup)
    assert result.status == 200
    assert len(result.redirects) == 2


async def test_a_huge_body_is_truncated_at_the_cap(server: LocalServer) -> None:
    result = await http_request(
        server.policy(max_response_bytes=100_000), "GET", server.url("/huge"), lookup=no_lookup
    )
    assert result.truncated is True
    assert len(result.body) == 100_000
    assert set(result.body) == {ord("A")}


async def test_a_slow_server_times_out(server: LocalServer) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(OutboundRefused) as caught:
        await http_request(server.policy(total_timeout=0.3), "GET", server.url("/slow"), lookup=no_lookup)
    assert caught.value.code == "timeout"
    assert loop.time() - started < 2


async def test_the_domain_allowlist_is_enforced_on_every_hop(server: LocalServer) -> None:
    _, lookup = fixed_lookup({"docs.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    policy = server.policy(allowed_domains=("docs.example",))
    result = await http_request(
        policy, "GET", server.url("/redirect?to=/ok", host="docs.example"), lookup=lookup
    )
    assert result.status == 200
    with pytest.raises(OutboundRefused) as caught:
        await http_request(
            policy,
            "GET",
            server.url(f"/redirect?to=http://other.example:{server.port}/ok", host="docs.example"),
            lookup=lookup,
        )
    assert caught.value.code == "domain_not_allowed"
    assert [path for _, path, _ in server.seen][-1].startswith("/redirect")


async def test_authorization_is_not_forwarded_to_another_origin(server: LocalServer) -> None:
    _, lookup = fixed_lookup({"a.example": ["127.0.0.1"], "b.example": ["127.0.0.1"]})
    url = server.url(f"/redirect?status=307&to=http://b.example:{server.port}/ok", host="a.example")
    await http_request(server.policy(), "GET", url, headers={"Authorization": "Bearer s3cret"}, lookup=lookup)
    first, second = server.headers
    assert first.get("Authorization") == "Bearer s3cret"
    assert "Authorization" not in second


async def test_web_fetch_turns_html_into_text_without_scripts(server: LocalServer) -> None:
    result = await web_fetch(server.policy(), server.url("/page"), lookup=no_lookup)
    assert result.status == 200
    assert result.content_type == "text/html"
    assert "# Getting started" in result.text
    assert "Install the **tool**" in result.text
    assert f"[the next page]({server.url('/next')})" in result.text
    for leaked in ("leak-me", "steal()", "injected", "display: none", "<script", "<p>"):
        assert leaked not in result.text
    assert server.seen[0][0] == "GET"


async def test_web_fetch_refuses_internal_redirects_too(server: LocalServer) -> None:
    with pytest.raises(OutboundRefused) as caught:
        await web_fetch(server.policy(), server.url("/redirect?to=http://169.254.169.254/"), lookup=no_lookup)
    assert caught.value.code == "ssrf_refused"


# --- DNS rebinding: one lookup, checked, and the connection goes to what was checked ------------------------


async def test_rebinding_answers_cannot_swap_the_checked_address(server: LocalServer) -> None:
    answers = iter([["127.0.0.1"], ["169.254.169.254"], ["10.0.0.1"]])
    calls: list[str] = []

    async def rebinding(host: str, port: int, family: int) -> list[tuple[int, str]]:
        calls.append(host)
        return [(socket.AF_INET, a) for a in next(answers)]

    result = await http_request(
        server.policy(), "GET", server.url("/ok", host="rebind.example"), lookup=rebinding
    )
    assert result.status == 200
    assert calls == ["rebind.example"]  # resolved once: no second lookup between check and connect
    # The request reached the checked address (the server listens on 127.0.0.1 only) with the name as Host.
    assert server.seen == [("GET", "/ok", f"rebind.example:{server.port}")]


async def test_a_public_first_answer_does_not_hide_an_internal_second(server: LocalServer) -> None:
    calls, lookup = fixed_lookup({"rebind.example": ["93.184.216.34", "127.0.0.2"]})
    with pytest.raises(OutboundRefused) as caught:
        await http_request(server.policy(), "GET", server.url("/ok", host="rebind.example"), lookup=lookup)
    assert caught.value.code == "ssrf_refused"
    assert "127.0.0.2" in caught.value.message
    assert calls == ["rebind.example"]
    assert server.seen == []


async def test_each_redirect_hop_is_resolved_and_checked_afresh(server: LocalServer) -> None:
    answers = {"first.example": ["127.0.0.1"], "second.example": ["127.0.0.1", "169.254.169.254"]}
    calls, lookup = fixed_lookup(answers)
    url = server.url(f"/redirect?to=http://second.example:{server.port}/ok", host="first.example")
    with pytest.raises(OutboundRefused) as caught:
        await http_request(server.policy(), "GET", url, lookup=lookup)
    assert caught.value.code == "ssrf_refused"
    assert calls == ["first.example", "second.example"]
