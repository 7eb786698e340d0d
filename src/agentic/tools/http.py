"""Outbound HTTP for agent tools (`http_request`, `web_fetch`) behind an SSRF guard.

What the guard enforces, on the first URL and again on every redirect hop:

* scheme http/https only, no credentials in the URL, the port in `OutboundPolicy.allowed_ports`, the host in
  the per-agent domain allowlist when one is set;
* host spellings are normalised the way a C resolver reads them (`inet_aton`: decimal `2130706433`, octal
  `0177.0.0.1`, hex `0x7f.1`, short `127.1`; trailing dots; IPv6 literals, where zone ids are refused) and the
  result is checked like any other address;
* every address a name resolves to must be global: private, loopback, link-local (incl. the cloud metadata
  address 169.254.169.254), CGNAT, multicast, reserved, unspecified, documentation/benchmark ranges, IPv6 ULA
  and link-local, and IPv6 forms embedding an internal IPv4 (mapped, compatible, NAT64, 6to4, Teredo) are
  refused, unless the address lies in `OutboundPolicy.allow_private_networks` (tests only; production never
  sets it).

**Connect-time pinning.** Names are resolved exactly once, by `GuardResolver`, an `aiohttp` resolver handed
to the connector (with aiohttp's DNS cache off). It checks *every* address and returns only checked, numeric
addresses; aiohttp connects to those addresses and nothing else, while the URL keeps the name, so the `Host`
header and TLS SNI/certificate checks use the name. There is no second lookup between check and connect, so
DNS rebinding cannot swap the address. IP-literal hosts never reach a resolver (aiohttp connects to them
directly); they are checked by `check_url` before the request, and are rewritten to their canonical spelling.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from bs4 import BeautifulSoup
from markdownify import markdownify
from yarl import URL

from agentic.errors import InvalidInput
from agentic.security.ssrf import is_internal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

Lookup = Callable[[str, int, int], Awaitable[Sequence[tuple[int, str]]]]
"""Resolves `(host, port, family)` to `(family, numeric address)` pairs; swapped out in tests."""

HTTP_REQUEST_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})

# Request headers a tool call may set. Everything else (Host, hop-by-hop headers, Cookie, proxy and
# forwarding headers, Content-Length/Transfer-Encoding) is refused; `X-…` headers are allowed except the
# forwarding family that upstreams trust for client identity.
ALLOWED_REQUEST_HEADERS: Final = frozenset(
    {
        "accept",
        "accept-language",
        "authorization",
        "cache-control",
        "content-type",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-unmodified-since",
        "range",
        "user-agent",
        # Standard Webhooks (agentic.webhooks): the platform's own deliveries go through this guard too.
        "webhook-id",
        "webhook-signature",
        "webhook-timestamp",
    }
)
_REFUSED_X_HEADERS: Final = ("x-forwarded-", "x-real-ip", "x-original-", "x-rewrite-", "x-http-method")

# Response headers reported back to the model.
REPORTED_RESPONSE_HEADERS: Final = (
    "content-type",
    "content-length",
    "content-language",
    "content-disposition",
    "etag",
    "last-modified",
    "cache-control",
    "retry-after",
    "date",
)

# Belt and braces beside `ipaddress`'s flags (whose tables vary between Python releases): ranges refused
# whatever `is_global` says. IANA special-purpose registries, IPv4 and IPv6.
_BLOCKED_NETWORKS: Final[tuple[IPNetwork, ...]] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",  # TEST-NET-1
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments (Teredo, benchmarking, ORCHID...)
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "5f00::/16",  # SRv6 SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_NAT64: Final = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")

# A host made only of numeric components (decimal, 0-octal, 0x-hex) is an IPv4 spelling, never a name.
_NUMERIC_HOST: Final = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+))*$")
_NAME_HOST: Final = re.compile(
    r"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$"
)
_DOMAIN_PATTERN: Final = re.compile(r"^(?:\*\.)?[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?$")


class OutboundRefused(InvalidInput):
    """An outbound request was refused by the guard or could not complete within the policy's limits.

    `code` is machine-readable: `ssrf_refused`, `scheme_refused`, `port_refused`, `credentials_refused`,
    `invalid_url`, `method_refused`, `header_refused`, `request_too_large`, `domain_not_allowed`,
    `too_many_redirects`, `response_too_large`, `timeout`, `dns_failed`, `connection_failed`. The message
    names the host or address at most; it never carries response bodies, headers or URL credentials.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code, details={"reason": code})


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Limits and allowances for one agent's outbound HTTP.

    Attributes:
        allowed_ports: Destination ports allowed (explicit or implied by the scheme).
        max_response_bytes: Body bytes read at most (after decompression); the rest is not read and the result
            is marked truncated.
        max_request_bytes: Largest request body accepted.
        total_timeout: Seconds for the whole call, redirects included.
        connect_timeout: Seconds to open one connection.
        dns_timeout: Seconds for one name resolution.
        max_redirects: Redirects followed at most; one more is `too_many_redirects`.
        allowed_domains: When not None, every hop's host must match one pattern: `example.com` (exactly that
            host) or `*.example.com` (any subdomain of it, not the apex).
        allow_private_networks: CIDRs exempt from the internal-address refusal. Empty by default; **production
            never sets it** - it exists so tests can reach a server on `127.0.0.1/32`.
        user_agent: Sent unless the call sets its own.
    """

    allowed_ports: frozenset[int] = frozenset({80, 443, 8080, 8443})
    max_response_bytes: int = 2 * 1024 * 1024
    max_request_bytes: int = 1024 * 1024
    total_timeout: float = 30.0
    connect_timeout: float = 10.0
    dns_timeout: float = 5.0
    max_redirects: int = 5
    allowed_domains: tuple[str, ...] | None = None
    allow_private_networks: frozenset[str] = frozenset()
    user_agent: str = "agentic-tools/1 (+https://github.com/agentic)"
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        networks = tuple(ipaddress.ip_network(cidr, strict=True) for cidr in self.allow_private_networks)
        object.__setattr__(self, "_networks", networks)
        if self.allowed_domains is not None:
            normalised = tuple(p.strip().lower().rstrip(".") for p in self.allowed_domains)
            for pattern in normalised:
                if not _DOMAIN_PATTERN.match(pattern):
                    raise ValueError(f"not a domain pattern: {pattern!r}")
            object.__setattr__(self, "allowed_domains", normalised)
        if self.max_redirects < 0 or self.max_response_bytes < 0:
            raise ValueError("limits must not be negative")

    def exempts(self, address: IPAddress) -> bool:
        """Whether `address` lies in one of `allow_private_networks`."""
        return any(address in network for network in self._networks)


@dataclass(frozen=True, slots=True)
class HttpResult:
    """What `http_request` returns.

    Attributes:
        status: Final response status.
        url: Final URL (after redirects).
        headers: The reported subset of response headers (lower-case names).
        body: Body bytes, at most `max_response_bytes`.
        text: The body decoded (charset of the response, else UTF-8; undecodable bytes replaced).
        truncated: True when the body was longer than the cap and the rest was not read.
        redirects: URLs that answered with a redirect, in order.
    """

    status: int
    url: str
    headers: dict[str, str]
    body: bytes
    text: str
    truncated: bool
    redirects: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What `web_fetch` returns: the page as readable text.

    Attributes:
        status: Final response status.
        url: Final URL (after redirects).
        headers: The reported subset of response headers.
        content_type: Media type of the response (without parameters), lower-case.
        text: HTML converted to text (headings, paragraphs, links kept; scripts and styles dropped); other
            text types as they are; a short note for binary content.
        truncated: True when the body was longer than the cap.
        redirects: URLs that answered with a redirect, in order.
    """

    status: int
    url: str
    headers: dict[str, str]
    content_type: str
    text: str
    truncated: bool
    redirects: tuple[str, ...]


# --- address and URL checks -----------------------------------------------------------------------------


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries: mapped, compatible, NAT64, 6to4 and Teredo forms."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if any(address in net for net in _NAT64) or (address in _IPV4_COMPATIBLE and int(address) > 1):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _is_refused(address: IPAddress) -> bool:
    return is_internal(address) or any(address in network for network in _BLOCKED_NETWORKS)


def check_address(policy: OutboundPolicy, address: IPAddress, *, host: str | None = None) -> None:
    """Refuse `address` unless it is global (and so is every IPv4 it embeds) or the policy exempts it.

    Raises:
        OutboundRefused: `ssrf_refused`.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # one address, two spellings: judge it as IPv4
    if policy.exempts(address):
        return
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64[0]:
            # Well-known NAT64 prefix (DNS64): `ipaddress` calls it all reserved; judge the IPv4 inside.
            refused = _is_refused(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        else:
            refused = _is_refused(address) or any(_is_refused(v4) for v4 in embedded_ipv4(address))
        refused = refused or bool(address.scope_id)
    else:
        refused = _is_refused(address)
    if refused:
        if host and host != str(address):
            raise OutboundRefused(
                "ssrf_refused", f"Refused: {host} resolves to {address}, not a public address."
            )
        raise OutboundRefused("ssrf_refused", f"Refused: {address} is not a public address.")


def parse_host(raw_host: str) -> IPAddress | str:
    """Read a URL host as a resolver would: an IP address (any legacy IPv4 spelling) or a domain name.

    Returns the address, or the name lower-cased without trailing dots.

    Raises:
        OutboundRefused: `invalid_url` for a host no client should send; `ssrf_refused` for zone ids.
    """
    host = raw_host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        if "%" in host:
            raise OutboundRefused("ssrf_refused", "Refused: IPv6 zone ids name a local interface.")
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise OutboundRefused("invalid_url", "The URL's host is not a valid IPv6 address.") from None
    host = host.rstrip(".")
    if not host:
        raise OutboundRefused("invalid_url", "The URL has no host.")
    if _NUMERIC_HOST.match(host):
        try:
            packed = socket.inet_aton(host)
        except OSError:
            raise OutboundRefused("invalid_url", "The URL's host is not a valid IPv4 address.") from None
        return ipaddress.IPv4Address(packed)
    if not _NAME_HOST.match(host) or len(host) > 253:
        raise OutboundRefused("invalid_url", "The URL's host is not a valid domain name.")
    return host


def domain_allowed(policy: OutboundPolicy, host: str) -> bool:
    """Whether `host` (normalised) matches the policy's domain allowlist (always true without one)."""
    if policy.allowed_domains is None:
        return True
    for pattern in policy.allowed_domains:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def check_url(policy: OutboundPolicy, url: str | URL) -> URL:
    """Check everything about `url` that needs no DNS; return it with an IP-literal host made canonical.

    Names are checked at connect time by the resolver (see the module docstring); IP literals are checked
    here, because aiohttp connects to them without resolving.

    Raises:
        OutboundRefused: `invalid_url`, `scheme_refused`, `credentials_refused`, `port_refused`,
            `domain_not_allowed` or `ssrf_refused`.
    """
    try:
        parsed = url if isinstance(url, URL) else URL(url.strip())
    except (ValueError, TypeError):
        raise OutboundRefused("invalid_url", "The URL cannot be parsed.") from None
    if parsed.scheme not in ("http", "https"):
        raise OutboundRefused("scheme_refused", "Only http and https URLs are allowed.")
    raw_netloc = urlsplit(url.strip()).netloc if isinstance(url, str) else ""
    if (
        "@" in raw_netloc + (parsed.raw_authority or "")
        or parsed.user is not None
        or parsed.password is not None
    ):
        raise OutboundRefused("credentials_refused", "URLs with credentials (user:pass@) are refused.")
    if not parsed.raw_host:
        raise OutboundRefused("invalid_url", "The URL has no host.")
    try:
        port = parsed.port
    except ValueError:
        raise OutboundRefused("invalid_url", "The URL's port is not valid.") from None
    if port is None or port not in policy.allowed_ports:
        raise OutboundRefused("port_refused", f"Port {port} is not allowed.")
    host = parse_host(parsed.raw_host)
    if isinstance(host, str):
        if (host == "localhost" or host.endswith(".localhost")) and not _loopback_allowed(policy):
            raise OutboundRefused("ssrf_refused", f"Refused: {host} is a loopback name.")
        if not domain_allowed(policy, host):
            raise OutboundRefused("domain_not_allowed", f"{host} is not in this agent's domain allowlist.")
        return parsed
    if not domain_allowed(policy, str(host)):
        raise OutboundRefused("domain_not_allowed", f"{host} is not in this agent's domain allowlist.")
    check_address(policy, host)
    canonical = (
        str(host.ipv4_mapped) if isinstance(host, ipaddress.IPv6Address) and host.ipv4_mapped else str(host)
    )
    return parsed.with_host(canonical)


def _loopback_allowed(policy: OutboundPolicy) -> bool:
    # Where the whole of loopback is allowed (outside production, for a registered URL on this machine), the
    # name `localhost` is as good as its addresses; the connect-time check still vets each one it resolves
    # to. An operator's narrower allowance (one loopback address) keeps the name refused.
    try:
        for address in ("127.0.0.1", "127.255.255.254", "::1"):
            check_address(policy, ipaddress.ip_address(address))
    except OutboundRefused:
        return False
    return True


# --- connect-time pinning -------------------------------------------------------------------------------


async def system_lookup(host: str, port: int, family: int) -> list[tuple[int, str]]:
    """The default `Lookup`: the event loop's `getaddrinfo`."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    return [(info[0], str(info[4][0])) for info in infos]


class GuardResolver(AbstractResolver):
    """Resolve once, check every address, hand aiohttp only checked numeric addresses (see module docs).

    Also the connect-time guard of the platform's other clients (`agentic.security.egress`).
    """

    def __init__(self, policy: OutboundPolicy, lookup: Lookup) -> None:
        self._policy = policy
        self._lookup = lookup
        self.refusal: OutboundRefused | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Checked numeric addresses of `host`; `OutboundRefused` (also kept in `refusal`) otherwise."""
        try:
            return await self._resolve(host, port, family)
        except OutboundRefused as exc:
            self.refusal = exc
            raise

    async def _resolve(self, host: str, port: int, family: int) -> list[ResolveResult]:
        parsed = parse_host(host)
        if not isinstance(parsed, str):  # aiohttp resolves IP literals itself; never expected, still checked
            check_address(self._policy, parsed)
            return [_result(host, parsed, port)]
        try:
            infos = await asyncio.wait_for(self._lookup(parsed, port, family), self._policy.dns_timeout)
        except TimeoutError:
            raise OutboundRefused("timeout", f"Resolving {parsed} timed out.") from None
        except OSError:
            raise OutboundRefused("dns_failed", f"Cannot resolve {parsed}.") from None
        if not infos:
            raise OutboundRefused("dns_failed", f"Cannot resolve {parsed}.")
        results: list[ResolveResult] = []
        checked: list[IPAddress] = []
        for _family, raw in infos:
            try:
                address = ipaddress.ip_address(raw)
            except ValueError:
                raise OutboundRefused(
                    "ssrf_refused", f"Refused: {parsed} resolves to an unusable address."
                ) from None
            checked.append(address)
        for address in checked:  # every address, before any is used
            check_address(self._policy, address, host=parsed)
        for address in checked:
            results.append(_result(host, address, port))
        return results

    async def close(self) -> None:
        """Nothing to release."""


_GuardResolver = GuardResolver  # the name the SSRF suite imports


def _result(host: str, address: IPAddress, port: int) -> ResolveResult:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    family = socket.AF_INET6 if isinstance(address, ipaddress.IPv6Address) else socket.AF_INET
    return ResolveResult(
        hostname=host,
        host=str(address),
        port=port,
        family=family,
        proto=socket.IPPROTO_TCP,
        flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
    )


# --- requests ---------------------------------------------------------------------------------------------


def _check_headers(policy: OutboundPolicy, headers: Mapping[str, str] | None) -> dict[str, str]:
    result = {"User-Agent": policy.user_agent}
    for name, value in (headers or {}).items():
        lower = name.strip().lower()
        allowed = lower in ALLOWED_REQUEST_HEADERS or (
            lower.startswith("x-") and not lower.startswith(_REFUSED_X_HEADERS)
        )
        if not allowed or not re.fullmatch(r"[a-z0-9-]+", lower):
            raise OutboundRefused("header_refused", f"The request header {name!r} may not be set.")
        if any(ch in value for ch in "\r\n\0"):
            raise OutboundRefused("header_refused", f"The request header {name!r} has an invalid value.")
        if lower == "user-agent":
            result.pop("User-Agent", None)
        result[name.strip()] = value
    return result


def _reported_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: headers[name] for name in REPORTED_RESPONSE_HEADERS if name in headers}


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


@dataclass(slots=True)
class _Raw:
    status: int
    url: URL
    headers: dict[str, str]
    content_type: str
    charset: str | None
    body: bytes
    truncated: bool
    redirects: list[str]


async def _read_capped(response: aiohttp.ClientResponse, cap: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        if size + len(chunk) > cap:
            chunks.append(chunk[: cap - size])
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


def _same_origin(a: URL, b: URL) -> bool:
    return (a.scheme, a.raw_host, a.port) == (b.scheme, b.raw_host, b.port)


@dataclass(slots=True)
class _Hop:
    method: str
    url: URL
    headers: dict[str, str]
    body: bytes | None


def _next_hop(policy: OutboundPolicy, hop: _Hop, status: int, location: str) -> _Hop:
    """The request a redirect asks for, checked by the same guard as the first one."""
    try:
        next_url = hop.url.join(URL(location))
    except ValueError:
        raise OutboundRefused("invalid_url", "A redirect's Location cannot be parsed.") from None
    checked = check_url(policy, next_url)
    method, headers, body = hop.method, dict(hop.headers), hop.body
    if status == 303 or (status in (301, 302) and method == "POST"):
        method = method if method == "HEAD" else "GET"
        body = None
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    if not _same_origin(hop.url, checked):  # credentials stay with the origin they were meant for
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    return _Hop(method=method, url=checked, headers=headers, body=body)


async def _send(
    policy: OutboundPolicy,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    body: bytes | None,
    lookup: Lookup,
) -> _Raw:
    hop = _Hop(method=method, url=check_url(policy, url), headers=_check_headers(policy, headers), body=body)
    resolver = GuardResolver(policy, lookup)
    # No DNS cache: every connection resolves through the guard, and connects to what it checked.
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, force_close=True, limit=1)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=policy.connect_timeout)
    redirects: list[str] = []
    try:
        async with (
            asyncio.timeout(policy.total_timeout),
            aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,  # no proxies from the environment
            ) as session,
        ):
            while True:
                async with session.request(
                    hop.method,
                    hop.url,
                    headers=hop.headers,
                    data=hop.body,
                    allow_redirects=False,
                    max_line_size=16 * 1024,
                    max_field_size=16 * 1024,
                ) as response:
                    location = response.headers.get("Location")
                    if response.status in REDIRECT_STATUSES and location:
                        if len(redirects) >= policy.max_redirects:
                            raise OutboundRefused(
                                "too_many_redirects", f"More than {policy.max_redirects} redirects."
                            )
                        redirects.append(str(hop.url))
                        hop = _next_hop(policy, hop, response.status, location)
                        continue
                    if hop.method == "HEAD":
                        content, truncated = b"", False
                    else:
                        content, truncated = await _read_capped(response, policy.max_response_bytes)
                    return _Raw(
                        status=response.status,
                        url=hop.url,
                        headers=_reported_headers(response.headers),
                        content_type=response.content_type.lower(),
                        charset=response.charset,
                        body=content,
                        truncated=truncated,
                        redirects=redirects,
                    )
    except OutboundRefused:
        raise
    except TimeoutError:
        raise OutboundRefused(
            "timeout", f"The request did not finish within {policy.total_timeout} s."
        ) from None
    except aiohttp.ClientError as exc:
        if resolver.refusal is not None:  # raised in the resolver, wrapped on the way out
            raise resolver.refusal from None
        raise OutboundRefused(
            "connection_failed", f"Request to {hop.url.raw_host} failed ({type(exc).__name__})."
        ) from None


async def http_request(
    policy: OutboundPolicy,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: str | bytes | None = None,
    lookup: Lookup = system_lookup,
) -> HttpResult:
    """Send one HTTP request through the SSRF guard, following redirects within the policy.

    Args:
        policy: The calling agent's outbound policy.
        method: GET, POST, PUT, PATCH, DELETE or HEAD.
        url: An http(s) URL.
        headers: Request headers, from `ALLOWED_REQUEST_HEADERS` (plus `X-…`); Host, hop-by-hop, cookie and
            forwarding headers are refused.
        body: Request body (str is sent as UTF-8), at most `policy.max_request_bytes`.
        lookup: Name resolution; the system resolver unless a test injects one.

    Returns:
        The final response, its body capped at `policy.max_response_bytes`.

    Raises:
        OutboundRefused: For any refusal or failure; `code` says which.
    """
    method = method.strip().upper()
    if method not in HTTP_REQUEST_METHODS:
        raise OutboundRefused("method_refused", f"Method {method!r} is not allowed.")
    data = body.encode() if isinstance(body, str) else body
    if data is not None and len(data) > policy.max_request_bytes:
        raise OutboundRefused(
            "request_too_large", f"The request body exceeds {policy.max_request_bytes} bytes."
        )
    raw = await _send(policy, method=method, url=url, headers=headers, body=data, lookup=lookup)
    return HttpResult(
        status=raw.status,
        url=str(raw.url),
        headers=raw.headers,
        body=raw.body,
        text=_decode(raw.body, raw.charset),
        truncated=raw.truncated,
        redirects=tuple(raw.redirects),
    )


_TEXT_TYPES: Final = frozenset({"application/json", "application/xml", "application/javascript"})


def html_to_text(html: str, *, base_url: str | None = None) -> str:
    """Readable text for a model: headings, paragraphs and links kept (Markdown), scripts/styles dropped."""
    soup = BeautifulSoup(html, "html.parser")
    # Code and hidden content is not text for the model (and a place to hide prompt injections).
    for node in soup(["script", "style", "noscript", "template", "iframe", "svg", "head"]):
        node.decompose()
    for link in soup.find_all("a", href=True):
        link["href"] = urljoin(base_url or "", str(link["href"]))
    text = markdownify(str(soup), heading_style="ATX", strip=["img"], bullets="-")
    # Keep one blank line between blocks (markdownify leaves runs of them), no trailing spaces.
    lines = "\n".join(line.rstrip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", lines).strip()


async def web_fetch(policy: OutboundPolicy, url: str, *, lookup: Lookup = system_lookup) -> FetchResult:
    """GET a page through the SSRF guard and return it as readable text.

    Args:
        policy: The calling agent's outbound policy.
        url: An http(s) URL.
        lookup: Name resolution; the system resolver unless a test injects one.

    Returns:
        The page converted to text (HTML) or as it is (other text types); binary content is described,
        not returned.

    Raises:
        OutboundRefused: For any refusal or failure; `code` says which.
    """
    raw = await _send(
        policy,
        method="GET",
        url=url,
        headers={"Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5"},
        body=None,
        lookup=lookup,
    )
    content_type = raw.content_type
    decoded = _decode(raw.body, raw.charset)
    if content_type in ("text/html", "application/xhtml+xml"):
        text = html_to_text(decoded, base_url=str(raw.url))
    elif content_type.startswith("text/") or content_type in _TEXT_TYPES or content_type.endswith("+json"):
        text = decoded
    else:
        text = f"[{content_type or 'unknown'} content, {len(raw.body)} bytes, not shown]"
    return FetchResult(
        status=raw.status,
        url=str(raw.url),
        headers=raw.headers,
        content_type=content_type,
        text=text,
        truncated=raw.truncated,
        redirects=tuple(raw.redirects),
    )
