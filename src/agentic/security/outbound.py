"""Outbound policy for URLs an organisation registers (webhooks, MCP servers, database hosts).

The tools' SSRF guard (`agentic.tools.http`) applies, with one relaxation outside production: a service on
this machine (loopback, any port) may be used, so a developer can point a webhook or an MCP server at a local
process. In production loopback is refused like every other internal address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from yarl import URL

from agentic.config import Environment, Settings
from agentic.errors import AgenticError
from agentic.tools.http import OutboundPolicy, OutboundRefused, check_address, parse_host

_RESOLVE_TIMEOUT_S = 5.0

LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback IP literal."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def registered_url_policy(
    settings: Settings,
    url: str,
    *,
    allowed_ports: list[int],
    timeout_s: float,
    max_redirects: int = 0,
    max_response_bytes: int = 64 * 1024,
    user_agent: str = "agentic/1",
    extra_networks: frozenset[str] = frozenset(),
) -> OutboundPolicy:
    """The policy for one registered URL (see the module docstring)."""
    ports = set(allowed_ports)
    private = set(extra_networks)
    if settings.env is not Environment.PRODUCTION:
        try:
            parsed: URL | None = URL(url)
        except (ValueError, TypeError):
            parsed = None
        if parsed is not None and parsed.host and is_loopback_host(parsed.host):
            private |= set(LOOPBACK_NETWORKS)
            if parsed.port is not None:
                ports.add(parsed.port)
    return OutboundPolicy(
        allowed_ports=frozenset(ports),
        total_timeout=timeout_s,
        connect_timeout=min(10.0, timeout_s),
        max_redirects=max_redirects,
        max_response_bytes=max_response_bytes,
        allow_private_networks=frozenset(private),
        user_agent=user_agent,
    )


async def check_host(host: str, *, allow_networks: frozenset[str], port: int, code: str) -> None:
    """Refuse a host that is, or resolves to, a non-public address outside `allow_networks`.

    For services reached by their own client (a database driver) rather than through the HTTP guard: every
    address the name resolves to now is checked. (The client resolves again to connect; a name that
    changes its answer in between is the DNS-rebinding limit of this check.)

    Raises:
        AgenticError: `code` when refused; `<code's prefix>_unavailable` when the name does not resolve.
    """
    policy = OutboundPolicy(allow_private_networks=allow_networks)
    try:
        parsed = parse_host(host)
        if isinstance(parsed, str):
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(_RESOLVE_TIMEOUT_S):
                infos = await loop.getaddrinfo(parsed, port, type=socket.SOCK_STREAM)
            for info in infos:
                check_address(policy, ipaddress.ip_address(str(info[4][0]).split("%")[0]), host=parsed)
        else:
            check_address(policy, parsed)
    except OutboundRefused as exc:
        raise AgenticError(exc.message, code=code) from None
    except (OSError, TimeoutError):
        prefix = code.split("_", 1)[0]
        raise AgenticError(f"The host {host} cannot be resolved.", code=f"{prefix}_unavailable") from None
