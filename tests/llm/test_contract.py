"""Contract tests: our OpenAI and Anthropic adapters, through the real SDKs, against a local server process
that speaks each provider's wire format (JSON, SSE streaming, tool calls, usage, error bodies)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from agentic.config import LLMSettings
from agentic.llm import (
    AllTargetsFailed,
    InvalidRequest,
    LLMGateway,
    LLMRequest,
    Message,
    StreamDone,
    Target,
    TextDelta,
    ToolCallDelta,
    ToolDefinition,
)
from tests.support.fake_llm_server import FakeLLMServer, fake_llm_server_fixture  # noqa: F401

PROVIDERS = [("openai", "gpt-test"), ("anthropic", "claude-test")]
REQUEST = LLMRequest(
    messages=(Message("system", "You are terse."), Message("user", "what is the weather in Paris")),
    max_tokens=64,
)
TOOLS = (
    ToolDefinition(
        name="search",
        description="Search the web",
        parameters={"type": "object", "properties": {"query": {"type": "string"}, "n": {"type": "integer"}}},
    ),
)


@pytest.fixture
async def gateway(fake_llm_server: FakeLLMServer) -> AsyncIterator[LLMGateway]:
    fake_llm_server.reset()
    settings = LLMSettings(
        openai_api_key=SecretStr("sk-test-key"),
        openai_base_url=fake_llm_server.openai_base_url,
        anthropic_api_key=SecretStr("sk-ant-test-key"),
        anthropic_base_url=fake_llm_server.anthropic_base_url,
        max_retries=2,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        breaker_failure_threshold=50,
    )
    gw = LLMGateway(settings)
    yield gw
    await gw.aclose()


def target(provider: str, model: str, *directives: str) -> Target:
    return Target(provider, "+".join([model, *directives]))


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_plain(gateway: LLMGateway, provider: str, model: str) -> None:
    result = await gateway.complete(REQUEST, targets=[target(provider, model)])
    response = result.response
    assert response.content == "echo: what is the weather in Paris"
    assert response.finish_reason == "stop"
    assert response.provider == provider
    assert response.usage.output_tokens == 7
    assert response.usage.input_tokens > 0
    assert [a.outcome for a in result.attempts] == ["ok"]


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_streaming(gateway: LLMGateway, provider: str, model: str) -> None:
    chunks = [c async for c in gateway.stream(REQUEST, targets=[target(provider, model, "tokens=6")])]
    text = "".join(c.text for c in chunks if isinstance(c, TextDelta))
    assert len([c for c in chunks if isinstance(c, TextDelta)]) >= 6  # really streamed, piece by piece
    done = chunks[-1]
    assert isinstance(done, StreamDone)
    assert done.response.content == text
    assert len(text.split()) == 6
    assert done.response.usage.output_tokens == 6


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
async def test_tool_calls(gateway: LLMGateway, provider: str, model: str, stream: bool) -> None:
    request = LLMRequest(messages=REQUEST.messages, tools=TOOLS, max_tokens=64)
    t = target(provider, model, "tools")
    if stream:
        chunks = [c async for c in gateway.stream(request, targets=[t])]
        assert len([c for c in chunks if isinstance(c, ToolCallDelta)]) >= 3
        final = chunks[-1]
        assert isinstance(final, StreamDone)
        response = final.response
    else:
        response = (await gateway.complete(request, targets=[t])).response
    assert response.finish_reason == "tool_calls"
    assert len(response.tool_calls) == 1
    call = response.tool_calls[0]
    assert call.name == "search"
    assert call.arguments == {"query": "weather in Paris", "n": 1}
    assert call.id


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_rate_limit_retried_after_retry_after(gateway: LLMGateway, provider: str, model: str) -> None:
    start = time.perf_counter()
    result = await gateway.complete(
        REQUEST, targets=[target(provider, model, "status=429:1", "retry_after=1")]
    )
    assert time.perf_counter() - start >= 1.0  # the server's Retry-After was honoured
    assert [(a.outcome, a.error_code) for a in result.attempts] == [("error", "rate_limited"), ("ok", None)]
    assert result.attempts[0].retry_in_s is not None
    assert result.attempts[0].retry_in_s >= 1.0


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_server_error_retried_then_fallback(gateway: LLMGateway, provider: str, model: str) -> None:
    result = await gateway.complete(
        REQUEST, targets=[target(provider, model, "status=500"), Target("mock", "echo")]
    )
    codes = [a.error_code for a in result.attempts]
    assert codes == ["provider_unavailable"] * 3 + [None]
    assert result.target.provider == "mock"


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_timeout(gateway: LLMGateway, provider: str, model: str) -> None:
    gateway.settings = gateway.settings.model_copy(update={"max_retries": 0})
    request = LLMRequest(messages=REQUEST.messages, max_tokens=64, timeout_s=0.5)
    start = time.perf_counter()
    with pytest.raises(AllTargetsFailed) as raised:
        await gateway.complete(request, targets=[target(provider, model, "hang")])
    assert raised.value.last.code == "timeout"
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
async def test_malformed(gateway: LLMGateway, provider: str, model: str, stream: bool) -> None:
    gateway.settings = gateway.settings.model_copy(update={"max_retries": 0})
    targets = [target(provider, model, "malformed")]

    async def call() -> None:
        if stream:
            async for _ in gateway.stream(REQUEST, targets=targets):
                pass
        else:
            await gateway.complete(REQUEST, targets=targets)

    with pytest.raises(AllTargetsFailed) as raised:
        await call()
    assert raised.value.last.code == "malformed_response"


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_bad_request_is_not_retried(gateway: LLMGateway, provider: str, model: str) -> None:
    with pytest.raises(InvalidRequest):
        await gateway.complete(
            REQUEST, targets=[target(provider, model, "status=400"), Target("mock", "echo")]
        )


async def test_refused_key_falls_back(fake_llm_server: FakeLLMServer) -> None:
    gw = LLMGateway(
        LLMSettings(
            openai_api_key=SecretStr(" "), openai_base_url=fake_llm_server.openai_base_url, max_retries=0
        )
    )
    try:
        result = await gw.complete(REQUEST, targets=[Target("openai", "gpt-test"), Target("mock", "echo")])
    finally:
        await gw.aclose()
    assert result.attempts[0].error_code == "authentication_failed"
    assert result.target.provider == "mock"
