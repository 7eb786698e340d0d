"""Client-side limits and the price table."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from agentic.llm.limiter import KeyLimiter, LimiterRegistry
from agentic.llm.pricing import PriceTable
from agentic.llm.types import Usage


async def test_requests_per_minute_queue_the_excess() -> None:
    limiter = KeyLimiter(concurrency=10, requests_per_minute=2, tokens_per_minute=None)
    done: list[int] = []

    async def call(i: int) -> None:
        async with limiter.acquire(estimated_tokens=10):
            done.append(i)

    tasks = [asyncio.create_task(call(i)) for i in range(3)]
    await asyncio.sleep(0.2)
    assert len(done) == 2  # the third request waits for the window instead of hammering the provider
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_tokens_per_minute_budget() -> None:
    limiter = KeyLimiter(concurrency=10, requests_per_minute=None, tokens_per_minute=1000)
    async with limiter.acquire(estimated_tokens=900):
        pass
    waiting = asyncio.create_task(_acquire(limiter, 900))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    # A request larger than the whole budget is capped rather than waiting forever.
    fresh = KeyLimiter(concurrency=1, requests_per_minute=None, tokens_per_minute=100)
    await asyncio.wait_for(_acquire(fresh, 10_000), timeout=1)


async def _acquire(limiter: KeyLimiter, tokens: int) -> None:
    async with limiter.acquire(estimated_tokens=tokens):
        pass


def test_registry_keeps_one_limiter_per_key() -> None:
    registry = LimiterRegistry(concurrency=1, requests_per_minute=None, tokens_per_minute=None)
    assert registry.get("a") is registry.get("a")
    assert registry.get("a") is not registry.get("b")


def test_cost_uses_cached_rate_and_overrides() -> None:
    table = PriceTable({"openai/my-finetune": {"input": 1.0, "output": 2.0, "cached_input": 0.5}})
    usage = Usage(input_tokens=1_000_000, output_tokens=500_000, cached_tokens=200_000)
    # 800k uncached at $1 + 200k cached at $0.5 + 500k output at $2 per million.
    assert table.cost("openai", "my-finetune", usage) == Decimal("1.90000000")
    assert table.cost("mock", "anything", usage) == Decimal(0)
    assert table.cost("openai", "unknown-model", usage) == Decimal(0)
    assert table.price("anthropic", "claude-sonnet-4-5") is not None
