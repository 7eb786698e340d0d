"""Connect-time SSRF guard for the platform's other HTTP clients: LLM provider SDKs and MCP over HTTP.

The agent tools' guard (`agentic.tools.http`) resolves a name once, checks every address it maps to and
connects only to those addresses (`GuardResolver`, an aiohttp resolver). This module hands the same guard to
clients that speak through `httpx2` (the OpenAI and Anthropic SDKs, the MCP SDK): an `httpx2` transport on
aiohttp (the SDKs' own vendored `AiohttpTransport`, given an aiohttp session built here) whose connector
resolves through `GuardResolver` with aiohttp's DNS cache off, and whose session refuses IP-literal hosts the
policy does not allow (aiohttp connects to those without asking a resolver). A name that answered a public
address when the URL was registered and an internal one now (DNS rebinding) is refused when the connection is
opened, and nothing is sent.

The transport never follows redirects (`AiohttpTransport` sends with `allow_redirects=False`); clients built
on it must not either (`follow_redirects=False` on the `httpx2` client), so a `307` to the metadata service
reaches the caller as a `307`, not as the metadata service's answer. Proxy variables of the environment are
not used (`trust_env=False`): a proxy would connect wherever it is asked, past the guard.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any, Final, Protocol, TypeVar

import aiohttp
import httpx2
from aiohttp.client_middlewares import ClientHandlerType, ClientMiddlewareType

from agentic.tools.http import (
    GuardResolver,
    Lookup,
    OutboundPolicy,
    OutboundRefused,
    check_address,
    parse_host,
    system_lookup,
)

__all__ = [
    "ANY_ADDRESS",
    "OutboundRefused",
    "endpoint_policy",
    "exception_chain",
    "guarded_sdk_client",
    "guarded_session",
    "guarded_transport",
    "refusal_in",
]

ClientT = TypeVar("ClientT")

ANY_ADDRESS: Final = frozenset({"0.0.0.0/0", "::/0"})
"""Every address: the allowance where internal endpoints are allowed (outside production, or opted in)."""


def endpoint_policy(*, allow_internal: bool, connect_timeout: float = 10.0) -> OutboundPolicy:
    """The policy for an endpoint an organisation or the operator configured (an LLM base URL).

    The same rule as when the URL is registered (`agentic.services.llm.allow_internal_endpoints`): every
    address when `allow_internal`, else public addresses only. Ports are not restricted (a compatible server
    listens where it likes), and no redirect is followed.
    """
    return OutboundPolicy(
        allow_private_networks=ANY_ADDRESS if allow_internal else frozenset(),
        connect_timeout=connect_timeout,
        max_redirects=0,
    )


def _literal_host_guard(policy: OutboundPolicy) -> ClientMiddlewareType:
    """An aiohttp client middleware refusing IP-literal hosts the policy does not allow.

    Names are checked by the resolver when a connection opens; aiohttp connects to IP literals directly.
    """

    async def guard(request: aiohttp.ClientRequest, handler: ClientHandlerType) -> aiohttp.ClientResponse:
        host = request.url.raw_host
        if host is not None:
            parsed = parse_host(host)
            if not isinstance(parsed, str):
                check_address(policy, parsed)
        return await handler(request)

    return guard


def guarded_session(
    policy: OutboundPolicy,
    *,
    limit: int | None = None,
    keepalive_timeout: float | None = None,
    ssl_context: ssl.SSLContext | None = None,
    lookup: Lookup = system_lookup,
) -> aiohttp.ClientSession:
    """An aiohttp session that connects only to addresses `policy` allows, checked at connect time.

    Args:
        policy: Which addresses may be reached.
        limit: Connections at most (None: aiohttp's default).
        keepalive_timeout: Seconds an idle connection is kept (None: aiohttp's default).
        ssl_context: TLS settings (None: `httpx2`'s default context, as the SDKs' own transport uses).
        lookup: Name resolution; the system resolver unless a test injects one.

    Must be called with an event loop running (the transports below call it on first use).
    """
    options: dict[str, Any] = {}
    if limit is not None:
        options["limit"] = limit
    if keepalive_timeout is not None:
        options["keepalive_timeout"] = keepalive_timeout
    connector = aiohttp.TCPConnector(
        resolver=GuardResolver(policy, lookup),
        use_dns_cache=False,  # every connection resolves through the guard
        ssl=ssl_context if ssl_context is not None else httpx2.create_ssl_context(),
        **options,
    )
    return aiohttp.ClientSession(
        connector=connector, middlewares=(_literal_host_guard(policy),), trust_env=False
    )


class AiohttpTransportType(Protocol):
    """The constructor of the SDKs' vendored `httpx_aiohttp.AiohttpTransport` (as far as it is used here)."""

    def __call__(
        self, *, limits: httpx2.Limits, client: Callable[[], aiohttp.ClientSession]
    ) -> httpx2.AsyncBaseTransport:
        """A transport that sends through the session `client()` makes on first use."""
        ...


def guarded_transport(
    transport_cls: AiohttpTransportType,
    policy: OutboundPolicy,
    *,
    limits: httpx2.Limits | None = None,
    lookup: Lookup = system_lookup,
) -> httpx2.AsyncBaseTransport:
    """An `httpx2` transport on aiohttp, through `guarded_session` (see the module docstring).

    Args:
        transport_cls: `AiohttpTransport` of the SDK in use (`openai._vendor.httpx_aiohttp` or
            `anthropic._vendor.httpx_aiohttp`: the same vendored code, which takes a session factory).
        policy: Which addresses may be reached.
        limits: Connection limits (`max_connections` and `keepalive_expiry` are used).
        lookup: Name resolution; the system resolver unless a test injects one.
    """
    limits = limits or httpx2.Limits()
    return transport_cls(
        limits=limits,
        client=lambda: guarded_session(
            policy, limit=limits.max_connections, keepalive_timeout=limits.keepalive_expiry, lookup=lookup
        ),
    )


def guarded_sdk_client(
    client_cls: Callable[..., ClientT],
    transport_cls: AiohttpTransportType,
    policy: OutboundPolicy | None,
    *,
    max_connections: int,
    lookup: Lookup = system_lookup,
) -> ClientT:
    """A provider SDK's HTTP client (`DefaultAioHttpClient`) on `guarded_transport`: pooled, no redirects.

    Args:
        client_cls: The SDK's `DefaultAioHttpClient` (an `httpx2.AsyncClient`).
        transport_cls: The same SDK's vendored `AiohttpTransport`.
        policy: The addresses the client may connect to (None: any, the operator's own endpoints).
        max_connections: Pool size (also the keep-alive pool's).
        lookup: Name resolution; the system resolver unless a test injects one.
    """
    limits = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return client_cls(
        limits=limits,
        transport=guarded_transport(
            transport_cls, policy or endpoint_policy(allow_internal=True), limits=limits, lookup=lookup
        ),
        follow_redirects=False,  # a redirect is an answer (`unexpected_response`), never followed
        trust_env=False,  # no proxy from the environment: it would connect past the guard
    )


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, its causes and contexts, and the members of exception groups among them, each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            for inner in current.exceptions:
                yield from exception_chain(inner)
        current = current.__cause__ or current.__context__


def refusal_in(exc: BaseException) -> OutboundRefused | None:
    """The guard's refusal behind `exc` (an SDK's wrapper of it), if there is one."""
    for cause in exception_chain(exc):
        if isinstance(cause, OutboundRefused):
            return cause
    return None
