"""Outbound URL checks: refuse destinations inside the network unless explicitly allowed.

Resolves the host first and checks every address it maps to, so a public-looking name that resolves to
127.0.0.1 or 169.254.169.254 is refused too. (The full guard for agent tools, re-checked on every redirect and
at connect time, builds on this.)
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from agentic.errors import InvalidInput


def is_internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, private, link-local (incl. cloud metadata), multicast, reserved or unspecified."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_internal(address.ipv4_mapped)
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


async def check_outbound_url(url: str, *, allow_internal: bool, field: str = "url") -> str:
    """Validate `url` (http/https, resolvable, and public unless `allow_internal`); return it normalised.

    Raises:
        InvalidInput: With the field named, for any refusal.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("Use an http(s) URL with a host.", details=[{"loc": ["body", field]}])
    if parts.username or parts.password:
        raise InvalidInput(
            "Put credentials in the key field, not in the URL.", details=[{"loc": ["body", field]}]
        )
    if allow_internal:
        return url.strip().rstrip("/")
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(
                parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
            ),
            5,
        )
    except (OSError, TimeoutError) as exc:
        raise InvalidInput(f"Cannot resolve {parts.hostname}.", details=[{"loc": ["body", field]}]) from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if is_internal(address):
            raise InvalidInput(
                f"{parts.hostname} resolves to an internal address ({address}); refused.",
                details=[{"loc": ["body", field]}],
            )
    return url.strip().rstrip("/")
