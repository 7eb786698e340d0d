"""Throttling of abuse-prone endpoints (login, password reset, signup) and per-agent run rates.

Backed by Redis when configured, so every API replica shares the counters; in-process memory otherwise (the
embedded default has one process). Uses the `limits` library's moving-window strategy.

When Redis is unreachable the limits fall back to this process's memory: they stay enforced, per replica
(so up to N times looser across N replicas), and nobody is locked out. Answering 503 instead would turn an
outage of a dependency that only carries signals into refusing every login; failing fully open would lift
the brute-force protection exactly when it cannot be watched. After a failure Redis is left alone for
`REDIS_RETRY_S`, so a frozen Redis costs one socket timeout per period, not one per request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from agentic.errors import AgenticError
from agentic.logging import get_logger

log = get_logger("agentic.throttle")

# After Redis failed, how long the per-process limits stand in before Redis is tried again.
REDIS_RETRY_S = 5.0

T = TypeVar("T")


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
        self._redis_failed_at: float | None = None

    @property
    def degraded(self) -> bool:
        """True while the per-process fallback stands in for Redis."""
        return self._redis_failed_at is not None

    async def _run(
        self, operation: Callable[[MovingWindowRateLimiter], Awaitable[T]]
    ) -> tuple[T, MovingWindowRateLimiter]:
        """Run `operation` on the shared limiter, or on the per-process one while Redis is away."""
        if self._fallback is None:
            return await operation(self._limiter), self._limiter
        failed_at = self._redis_failed_at
        if failed_at is not None and time.monotonic() - failed_at < REDIS_RETRY_S:
            return await operation(self._fallback), self._fallback
        try:
            result = await operation(self._limiter)
        except Exception as exc:  # Redis down, frozen or refusing: degrade, never fail the request
            if self._redis_failed_at is None:
                log.warning(
                    "throttle.redis_unavailable",
                    error=f"{type(exc).__name__}: {exc}"[:200],
                    fallback="per-process limits",
                )
            self._redis_failed_at = time.monotonic()
            return await operation(self._fallback), self._fallback
        if self._redis_failed_at is not None:
            self._redis_failed_at = None
            log.info("throttle.redis_restored")
        return result, self._limiter

    @staticmethod
    def limit(count: int, window_s: int) -> RateLimitItem:
        """`count` events per `window_s` seconds."""
        return RateLimitItemPerSecond(count, window_s)

    async def check(self, limit: RateLimitItem, *key: str) -> None:
        """Raise `RateLimited` if `key` has used up `limit` (without counting this call)."""
        allowed, limiter = await self._run(lambda limiter: limiter.test(limit, *key))
        if not allowed:
            raise await _limited(limiter, limit, key, "Too many attempts. Try again later.")

    async def hit(self, limit: RateLimitItem, *key: str) -> None:
        """Count one event against `key`."""
        await self._run(lambda limiter: limiter.hit(limit, *key))

    async def acquire(self, limit: RateLimitItem, *key: str, message: str) -> None:
        """Count one event against `key`, or raise `RateLimited` (with `message`) if `limit` is used up.

        One atomic step of the limiter (unlike `check` then `hit`), so concurrent callers cannot both take
        the last slot.
        """
        allowed, limiter = await self._run(lambda limiter: limiter.hit(limit, *key))
        if not allowed:
            raise await _limited(limiter, limit, key, message)

    async def clear(self, limit: RateLimitItem, *key: str) -> None:
        """Forget the events of `key` (e.g. after a successful login)."""
        await self._run(lambda limiter: limiter.clear(limit, *key))


async def _limited(
    limiter: MovingWindowRateLimiter, limit: RateLimitItem, key: tuple[str, ...], message: str
) -> RateLimited:
    try:
        stats = await limiter.get_window_stats(limit, *key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
    except Exception:  # Redis went away between the two calls: an estimate will do
        retry_after = limit.get_expiry()
    return RateLimited(
        message, details={"retry_after_s": retry_after}, headers={"Retry-After": str(retry_after)}
    )
