"""Client-side limits per provider key, so a burst of tasks queues here instead of drawing 429s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiolimiter import AsyncLimiter


class KeyLimiter:
    """Concurrency, requests per minute and tokens per minute for one provider key."""

    def __init__(
        self, *, concurrency: int, requests_per_minute: int | None, tokens_per_minute: int | None
    ) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._requests = AsyncLimiter(requests_per_minute, 60) if requests_per_minute else None
        self._tokens = AsyncLimiter(tokens_per_minute, 60) if tokens_per_minute else None
        self._token_cap = tokens_per_minute

    @asynccontextmanager
    async def acquire(self, estimated_tokens: int) -> AsyncIterator[None]:
        """Wait for a slot, a request and the estimated tokens; hold the slot for the call."""
        async with self._slots:
            if self._requests is not None:
                await self._requests.acquire()
            if self._tokens is not None and self._token_cap:
                # A single request larger than the whole budget would wait forever: cap it.
                await self._tokens.acquire(min(estimated_tokens, self._token_cap))
            yield


class LimiterRegistry:
    """One limiter per provider key, for the whole process."""

    def __init__(
        self, *, concurrency: int, requests_per_minute: int | None, tokens_per_minute: int | None
    ) -> None:
        self._settings = (concurrency, requests_per_minute, tokens_per_minute)
        self._limiters: dict[str, KeyLimiter] = {}

    def get(self, key: str) -> KeyLimiter:
        """The limiter for `key`."""
        limiter = self._limiters.get(key)
        if limiter is None:
            concurrency, rpm, tpm = self._settings
            limiter = self._limiters[key] = KeyLimiter(
                concurrency=concurrency, requests_per_minute=rpm, tokens_per_minute=tpm
            )
        return limiter
