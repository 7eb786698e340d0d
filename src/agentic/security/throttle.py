"""Throttling of abuse-prone endpoints (login, password reset, signup).

Backed by Redis when configured, so every API replica shares the counters; in-process memory otherwise (the
embedded default has one process). Uses the `limits` library's moving-window strategy.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from agentic.errors import AgenticError


class RateLimited(AgenticError):
    """Too many attempts; `Retry-After` says when to try again."""

    code = "rate_limited"
    status_code = 429


class Throttle:
    """Named moving-window limits over string keys."""

    def __init__(self, redis_url: str | None, redis: Redis | None = None) -> None:
        storage: Storage
        if redis_url:
            # Share the process's Redis pool (closed with it) rather than opening a second one.
            # `connection_pool` is a documented option; limits' annotation of **options is narrower.
            storage = RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                key_prefix="agentic:throttle",
                connection_pool=redis.connection_pool if redis is not None else None,  # type: ignore[arg-type]
            )
        else:
            storage = MemoryStorage()
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)

    @staticmethod
    def limit(count: int, window_s: int) -> RateLimitItem:
        """`count` events per `window_s` seconds."""
        return RateLimitItemPerSecond(count, window_s)

    async def check(self, limit: RateLimitItem, *key: str) -> None:
        """Raise `RateLimited` if `key` has used up `limit` (without counting this call)."""
        if not await self._limiter.test(limit, *key):
            stats = await self._limiter.get_window_stats(limit, *key)
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
            raise RateLimited(
                "Too many attempts. Try again later.",
                details={"retry_after_s": retry_after},
                headers={"Retry-After": str(retry_after)},
            )

    async def hit(self, limit: RateLimitItem, *key: str) -> None:
        """Count one event against `key`."""
        await self._limiter.hit(limit, *key)

    async def clear(self, limit: RateLimitItem, *key: str) -> None:
        """Forget the events of `key` (e.g. after a successful login)."""
        await self._limiter.clear(limit, *key)
