"""Wake-ups: new work starts at once instead of at the next poll.

In one process an `asyncio.Event` wakes the worker loop; across processes, when Redis is configured, a
wake-up is published on a channel every worker listens to. Wake-ups are only signals: a lost one costs
latency (the poll interval), never a task, because the database stays the source of truth.
"""

from __future__ import annotations

import asyncio
import contextlib

from redis.asyncio import Redis

from agentic.logging import get_logger

CHANNEL = "agentic:tasks:wake"
log = get_logger("agentic.engine.wakeups")


class Wakeups:
    """Notify and wait for "there may be work"."""

    def __init__(self, redis: Redis | None = None) -> None:
        self._redis = redis
        self._event = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None

    def poke(self) -> None:
        """Wake this process's workers (e.g. a job finished and a slot is free)."""
        self._event.set()

    async def notify(self) -> None:
        """Wake this process's workers, and every other process's through Redis when configured."""
        self._event.set()
        if self._redis is not None:
            try:
                async with asyncio.timeout(1):
                    await self._redis.publish(CHANNEL, b"1")
            except Exception as exc:  # a lost wake-up costs latency, never a task
                log.warning("wakeups.publish_failed", error=f"{type(exc).__name__}: {exc}"[:200])

    async def wait(self, timeout_s: float) -> None:
        """Return on a wake-up or after `timeout_s`, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout=timeout_s)
        self._event.clear()

    def start(self) -> None:
        """Listen for other processes' wake-ups (no-op without Redis)."""
        if self._redis is not None and self._listener is None:
            self._listener = asyncio.create_task(self._listen(self._redis))

    async def stop(self) -> None:
        """Stop listening."""
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None

    async def _listen(self, redis: Redis) -> None:
        while True:
            try:
                async with redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._event.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: poll until it is back
                log.warning("wakeups.listen_failed", error=f"{type(exc).__name__}: {exc}"[:200])
                await asyncio.sleep(1)
