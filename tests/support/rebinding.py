"""A name that rebinds: a public address on its first lookup, 127.0.0.1 on every later one (DNS rebinding).

Patches the running loop's `getaddrinfo`, which URL registration checks, the outbound guard, aiohttp's
default resolver and httpx2's own connector (through anyio, with the name as IDNA bytes) all use.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

PUBLIC_ADDRESS = "93.184.216.34"


@contextlib.contextmanager
def rebinding_name(name: str) -> Iterator[list[str]]:
    """While active, `name` rebinds; yields the addresses its lookups answered, in order."""
    loop = asyncio.get_running_loop()  # enter it from the test's loop (an async fixture or the test itself)
    original = loop.getaddrinfo
    answers: list[str] = []

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if (host.decode() if isinstance(host, bytes) else host) != name:
            return await original(host, port, *args, **kwargs)
        address = PUBLIC_ADDRESS if not answers else "127.0.0.1"
        answers.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port or 0)))]

    loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]
    try:
        yield answers
    finally:
        del loop.getaddrinfo  # the instance attribute goes; the method is back
