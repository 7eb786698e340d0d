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
from agentic.logging import get_logger

log = get_logger("agentic.throttle")


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
        # If Redis is unreachable, throttle per process rather than fail every login with a 500.
        self._fallback = MovingWindowRateLimiter(MemoryStorage()) if redis_url else None
        self._warned_at = 0.0

    def _degraded(self, exc: Exception) -> MovingWindowRateLimiter:
        if self._fallback is None:
            raise exc
        if time.monotonic() - self._warned_at > 60:
            self._warned_at = time.monotonic()
            log.warning("throttle.redis_unavailable", error=f"{type(exc).__name__}: {exc}"[:200])
        return self._fallback

    @staticmethod
    def limit(count: int, window_s: int) -> RateLimitItem:
        """`count` events per `window_s` seconds."""
        return RateLimitItemPerSecond(count, window_s)

    async def check(self, limit: RateLimitItem, *key: str) -> None:
        """Raise `RateLimited` if `key` has used up `limit` (without counting this call)."""
        limiter = self._limiter
        try:
            allowed = await limiter.test(limit, *key)
        except Exception as exc:  # Redis down or slow
            limiter = self._degraded(exc)
            allowed = await limiter.test(limit, *key)
        if not allowed:
            stats = await limiter.get_window_stats(limit, *key)
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
            raise RateLimited(
                "Too many attempts. Try again later.",
                details={"retry_after_s": retry_after},
                headers={"Retry-After": str(retry_after)},
            )

    async def hit(self, limit: RateLimitItem, *key: str) -> None:
        """Count one event against `key`."""
        try:
            await self._limiter.hit(limit, *key)
        except Exception as exc:
            await self._degraded(exc).hit(limit, *key)

    async def acquire(self, limit: RateLimitItem, *key: str, message: str) -> None:
        """Count one event against `key`, or raise `RateLimited` (with `message`) if `limit` is used up.

        One atomic step of the limiter (unlike `check` then `hit`), so concurrent callers cannot both take
        the last slot.
        """
        limiter = self._limiter
        try:
            allowed = await limiter.hit(limit, *key)
        except Exception as exc:
            limiter = self._degraded(exc)
            allowed = await limiter.hit(limit, *key)
        if not allowed:
            stats = await limiter.get_window_stats(limit, *key)
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
            raise RateLimited(
                message, details={"retry_after_s": retry_after}, headers={"Retry-After": str(retry_after)}
            )

    async def clear(self, limit: RateLimitItem, *key: str) -> None:
        """Forget the events of `key` (e.g. after a successful login)."""
        try:
            await self._limiter.clear(limit, *key)
        except Exception as exc:
            await self._degraded(exc).clear(limit, *key)
