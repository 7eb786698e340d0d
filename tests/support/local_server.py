"""A real HTTP server on loopback for tests (aiohttp), on a free port (not named `http`: scripts in this
folder run with it on sys.path, where it would shadow the standard library)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def serve(app: web.Application, host: str = "127.0.0.1") -> AsyncIterator[int]:
    """Serve `app` on `host` (a loopback address) for the duration of the block; yields the port."""
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    assert site._server is not None
    port = int(site._server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
    try:
        yield port
    finally:
        await runner.cleanup()
