"""The gateway on the mock provider: retries, Retry-After, breaker, fallback, limits, streams, metering."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from agentic.config import LLMSettings
from agentic.llm import (
    AllTargetsFailed,
    Attempt,
    CallContext,
    InvalidRequest,
    LLMGateway,
    LLMRequest,
    MalformedResponse,
    Message,
    StreamDone,
    Target,
    TextDelta,
)
from agentic.llm.resilience import CircuitBreaker, backoff_delay

REQUEST = LLMRequest(messages=(Message("system", "be brief"), Message("user", "hello gateway")))


def settings(**overrides: object) -> LLMSettings:
    values: dict[str, object] = {
        "max_retries": 2,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "breaker_failure_threshold": 2,
        "breaker_recovery_s": 0.2,
    }
    values.update(overrides)
    return LLMSettings.model_validate(values)


@pytest.fixture
async def gateway() -> AsyncIterator[LLMGateway]:
    gw = LLMGateway(settings())
    yield gw
    await gw.aclose()


def mock(model: str = "echo", **options: object) -> Target:
    return Target("mock", model, dict(options))


async def test_echo_fixed_match_and_scripted(gateway: LLMGateway) -> None:
    assert (await gateway.complete(REQUEST, targets=[mock()])).response.content == "hello gateway"
    assert (await gateway.complete(REQUEST, targets=[mock("fixed", reply="hi")])).response.content == "hi"
    rules = [{"pattern": "gate", "reply": "matched"}]
    matched = await gateway.complete(REQUEST, targets=[mock("match", rules=rules, default="nope")])
    assert matched.response.content == "matched"

    script = [{"tool_calls": [{"name": "search", "arguments": {"q": "x"}}]}, {"text": "final"}]
    first = (await gateway.complete(REQUEST, targets=[mock("scripted", script=script)])).response
    assert first.finish_reason == "tool_calls"
    assert first.tool_calls[0].name == "search"
    assert first.tool_calls[0].arguments == {"q": "x"}
    # The turn follows the conversation: after one assistant turn comes the second.
    follow_up = LLMRequest(
        messages=(
            *REQUEST.messages,
            Message("assistant", tool_calls=first.tool_calls),
            Message("tool", "result", tool_call_id=first.tool_calls[0].id),
        )
    )
    second = (await gateway.complete(follow_up, targets=[mock("scripted", script=script)])).response
    assert second.content == "final"
    assert second.usage.input_tokens > 0


async def test_stream_yields_text_then_done(gateway: LLMGateway) -> None:
    start = time.perf_counter()
    chunks = [
        c
        async for c in gateway.stream(
            REQUEST, targets=[mock("fixed", reply="one two three four", tokens_per_second=100)]
        )
    ]
    elapsed = time.perf_counter() - start
    assert [c.text for c in chunks if isinstance(c, TextDelta)] == ["one", " two", " three", " four"]
    assert isinstance(chunks[-1], StreamDone)
    assert chunks[-1].response.content == "one two three four"
    assert elapsed >= 0.03  # paced at 100 tokens/s


async def test_rate_limit_is_retried_honouring_retry_after(gateway: LLMGateway) -> None:
    target = mock("fixed", reply="ok", fail={"status": 429, "times": 2, "retry_after": 0.1})
    start = time.perf_counter()
    result = await gateway.complete(REQUEST, targets=[target])
    assert result.response.content == "ok"
    assert time.perf_counter() - start >= 0.2  # two waits of at least Retry-After
    assert [(a.outcome, a.error_code) for a in result.attempts] == [
        ("error", "rate_limited"),
        ("error", "rate_limited"),
        ("ok", None),
    ]
    assert all(a.retry_in_s is not None and a.retry_in_s >= 0.1 for a in result.attempts[:2])


async def test_breaker_opens_falls_back_and_recovers(gateway: LLMGateway) -> None:
    gateway.settings = settings(max_retries=0)
    primary = mock("fixed", reply="primary", fail={"status": 500, "times": 2})
    # Breakers are per provider+model: the fallback must be another model to keep its own.
    chain = [primary, mock("match", default="fallback")]
    trace: list[list[Attempt]] = []

    for _ in range(3):
        result = await gateway.complete(REQUEST, targets=chain)
        assert result.response.content == "fallback"
        trace.append(list(result.attempts))
    # Call 1 and 2: the primary fails (the second failure opens the breaker), the fallback answers.
    assert (trace[0][0].outcome, trace[0][0].breaker_state) == ("error", "closed")
    assert (trace[1][0].outcome, trace[1][0].breaker_state) == ("error", "open")
    # Call 3: the open breaker skips the primary without calling it.
    assert (trace[2][0].outcome, trace[2][0].error_code, trace[2][0].breaker_state) == (
        "skipped",
        "circuit_open",
        "open",
    )
    assert all(attempts[-1].target == "mock/match" and attempts[-1].outcome == "ok" for attempts in trace)

    await asyncio.sleep(0.25)  # the recovery time passes: one half-open probe is let through
    recovered = await gateway.complete(REQUEST, targets=chain)
    assert recovered.response.content == "primary"
    assert [(a.position, a.outcome, a.breaker_state) for a in recovered.attempts] == [(0, "ok", "closed")]
    assert gateway.breakers.get("mock/fixed#mock").state == "closed"


def test_half_open_failure_reopens() -> None:
    now = [100.0]
    breaker = CircuitBreaker(failure_threshold=1, recovery_s=10, clock=lambda: now[0])
    assert breaker.allow() == (True, "closed")
    breaker.record_failure()
    assert breaker.allow() == (False, "open")
    now[0] += 10
    assert breaker.allow() == (True, "half_open")
    assert breaker.allow() == (False, "half_open")  # only one probe at a time
    assert breaker.record_failure() == "open"
    assert breaker.allow() == (False, "open")


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    import random

    rng = random.Random(7)
    delays = [backoff_delay(n, base_s=1, max_s=8, retry_after_s=None, rng=rng) for n in range(1, 7)]
    assert all(0 <= d <= min(8, 2 ** (n - 1)) for n, d in enumerate(delays, start=1))
    assert backoff_delay(1, base_s=1, max_s=8, retry_after_s=5, rng=rng) >= 5


async def test_invalid_request_is_neither_retried_nor_failed_over(gateway: LLMGateway) -> None:
    chain = [mock("fixed", fail={"status": 400}), mock("fixed", reply="fallback")]
    with pytest.raises(InvalidRequest):
        await gateway.complete(REQUEST, targets=chain)
    assert gateway.breakers.get("mock/fixed#mock").state == "closed"  # the caller's fault, not the target's


async def test_timeout_and_malformed_are_retried_then_fall_back(gateway: LLMGateway) -> None:
    request = LLMRequest(messages=REQUEST.messages, timeout_s=0.05)
    chain = [mock("fixed", fail={"error": "timeout"}), mock("echo")]
    result = await gateway.complete(request, targets=chain)
    assert result.response.content == "hello gateway"
    assert [a.error_code for a in result.attempts if a.outcome == "error"] == ["timeout", "timeout"]

    gateway.breakers = type(gateway.breakers)(5, 1)
    malformed = await gateway.complete(
        REQUEST, targets=[mock("fixed", reply="x", fail={"error": "malformed", "times": 1})]
    )
    assert [a.error_code for a in malformed.attempts] == ["malformed_response", None]


async def test_everything_failing_raises_with_the_trace(gateway: LLMGateway) -> None:
    attempts: list[Attempt] = []
    with pytest.raises(AllTargetsFailed) as raised:
        await gateway.complete(
            REQUEST,
            targets=[mock("fixed", fail={"status": 503}), Target("openai", "gpt-4o")],
            on_attempt=attempts.append,
        )
    assert raised.value.last.code == "provider_not_configured"
    assert [a.outcome for a in attempts] == ["error", "error", "skipped"]
    assert attempts[-1].error_code == "provider_not_configured"


async def test_stream_falls_back_before_the_first_chunk_but_not_after(gateway: LLMGateway) -> None:
    attempts: list[Attempt] = []
    chunks = [
        c
        async for c in gateway.stream(
            REQUEST, targets=[mock("fixed", fail={"status": 500}), mock("echo")], attempts=attempts
        )
    ]
    assert isinstance(chunks[-1], StreamDone)
    assert chunks[-1].response.content == "hello gateway"
    assert attempts[-1].outcome == "ok"

    seen: list[str] = []

    async def consume() -> None:
        async for chunk in gateway.stream(
            REQUEST,
            targets=[mock("match", default="a b c d e f", fail={"error": "malformed"}), mock("echo")],
        ):
            if isinstance(chunk, TextDelta):
                seen.append(chunk.text)

    with pytest.raises(MalformedResponse):
        await consume()
    assert seen  # some text had reached the caller: no replay from another target


async def test_concurrency_limit_per_key() -> None:
    gw = LLMGateway(settings(concurrency_per_key=3))
    running = peak = 0

    async def one() -> None:
        nonlocal running, peak
        async for chunk in gw.stream(REQUEST, targets=[mock("fixed", reply="a b", latency_ms=30)]):
            if isinstance(chunk, TextDelta):
                running += 1
                peak = max(peak, running)
                await asyncio.sleep(0.01)
                running -= 1
                break

    try:
        await asyncio.gather(*(one() for _ in range(12)))
    finally:
        await gw.aclose()
    assert 1 <= peak <= 3


async def test_usage_is_metered(gateway: LLMGateway) -> None:
    from agentic.llm.gateway import UsageEntry

    entries: list[UsageEntry] = []

    async def record(entry: UsageEntry) -> None:
        entries.append(entry)

    gw = LLMGateway(settings(), record_usage=record)
    context = CallContext(step_key="step-1")
    try:
        await gw.complete(
            REQUEST, targets=[mock("fixed", reply="x", fail={"status": 500, "times": 1})], context=context
        )
    finally:
        await gw.aclose()
    assert [e.outcome for e in entries] == ["provider_unavailable", "ok"]
    assert entries[-1].output_tokens == 1
    assert entries[-1].context.step_key == "step-1"


async def test_content_is_logged_only_when_allowed_and_always_redacted(
    gateway: LLMGateway, log_lines: object
) -> None:
    import logging
    from collections.abc import Callable
    from typing import Any

    lines: Callable[[], list[dict[str, Any]]] = log_lines  # type: ignore[assignment]
    secret_request = LLMRequest(
        messages=(
            Message(
                "user",
                "mail ada@example.com, card 4111 1111 1111 1111, "
                "key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn",
            ),
        )
    )
    llm_logger = logging.getLogger("agentic.llm")
    previous = llm_logger.level
    llm_logger.setLevel(logging.DEBUG)
    try:
        await gateway.complete(secret_request, targets=[mock()], context=CallContext(log_content=False))
        assert not [line for line in lines() if line.get("event") == "llm.content"]
        await gateway.complete(secret_request, targets=[mock()], context=CallContext(log_content=True))
    finally:
        llm_logger.setLevel(previous)
    dumped = str(lines())
    assert "llm.content" in dumped
    for raw in (
        "ada@example.com",
        "4111 1111 1111 1111",
        "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn",
    ):
        assert raw not in dumped
    assert "[REDACTED:email]" in dumped


async def test_a_neutral_probe_outcome_does_not_wedge_the_breaker(gateway: LLMGateway) -> None:
    """A half-open probe that ends in a 429 releases the probe slot, so a later call can probe again."""
    breaker = gateway.breakers.get("mock/fixed#mock")
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "open"
    breaker.opened_at -= 1  # the recovery time has passed
    gateway.settings = settings(max_retries=0)
    with pytest.raises(AllTargetsFailed):
        await gateway.complete(
            REQUEST, targets=[mock("fixed", reply="x", fail={"status": 429, "retry_after": 0})]
        )
    assert breaker.state == "half_open"
    assert not breaker.probe_in_flight
    ok = await gateway.complete(REQUEST, targets=[mock("fixed", reply="recovered")])
    assert ok.response.content == "recovered"
    assert breaker.state == "closed"


async def test_breakers_are_per_credential() -> None:
    from agentic.llm.gateway import breaker_key

    target = Target("openai", "gpt-4o")
    assert breaker_key(target, "key-a") != breaker_key(target, "key-b")
