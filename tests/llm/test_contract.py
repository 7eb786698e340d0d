"""Contract tests: our OpenAI and Anthropic adapters, through the real SDKs, against a local server process
that speaks each provider's wire format (JSON, SSE streaming, tool calls, usage, error bodies)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from agentic.config import LLMSettings
from agentic.llm import (
    AllTargetsFailed,
    Attempt,
    InvalidRequest,
    LLMGateway,
    LLMRequest,
    Message,
    ProviderUnavailable,
    StreamDone,
    Target,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolDefinition,
)
from agentic.llm.errors import StreamInterrupted
from agentic.llm.gateway import Credential
from tests.support.fake_llm_server import FakeLLMServer, fake_llm_server_fixture  # noqa: F401
from tests.support.services import free_port

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


# --- what real servers send (issue 13): LiteLLM, llama.cpp, proxies in the way -----------------------------


async def answer(gw: LLMGateway, request: LLMRequest, targets: list[Target], *, stream: bool) -> str:
    """The text of one call, streamed or not."""
    if not stream:
        return (await gw.complete(request, targets=targets)).response.content
    final = [c async for c in gw.stream(request, targets=targets)][-1]
    assert isinstance(final, StreamDone)
    return final.response.content


async def stream_into(gw: LLMGateway, targets: list[Target], seen: list[str]) -> None:
    """Stream `REQUEST`, keeping the text that arrives in `seen` (the caller checks what a failure left)."""
    async for chunk in gw.stream(REQUEST, targets=targets):
        if isinstance(chunk, TextDelta):
            seen.append(chunk.text)


@pytest.mark.parametrize("kind", ["overloaded_error", "api_error"])
async def test_anthropic_error_event_before_content_is_retried(gateway: LLMGateway, kind: str) -> None:
    # Anthropic sends `event: error` inside a 200 stream when capacity runs out: a transient failure.
    t = target("anthropic", "claude-test", f"stream_error={kind}:1")
    attempts: list[Attempt] = []
    chunks = [c async for c in gateway.stream(REQUEST, targets=[t], attempts=attempts)]
    done = chunks[-1]
    assert isinstance(done, StreamDone)
    assert done.response.content == "echo: what is the weather in Paris"
    assert [(a.outcome, a.error_code) for a in attempts] == [("error", "provider_unavailable"), ("ok", None)]


@pytest.mark.parametrize(
    ("provider", "model", "kind"),
    [("openai", "gpt-test", "server_error"), ("anthropic", "claude-test", "api_error")],
)
async def test_an_error_event_on_every_attempt_falls_back(
    gateway: LLMGateway, provider: str, model: str, kind: str
) -> None:
    targets = [target(provider, model, f"stream_error={kind}"), Target("mock", "echo")]
    attempts: list[Attempt] = []
    chunks = [c async for c in gateway.stream(REQUEST, targets=targets, attempts=attempts)]
    done = chunks[-1]
    assert isinstance(done, StreamDone)
    assert done.response.provider == "mock"
    assert [a.error_code for a in attempts] == ["provider_unavailable"] * 3 + [None]
    assert kind in (attempts[0].error_message or "")


async def test_anthropic_error_event_after_content_is_raised_with_its_class(gateway: LLMGateway) -> None:
    # After text reached the caller there is no retry (it would repeat the text), but the class stays right.
    t = target("anthropic", "claude-test", "stream_error=overloaded_error", "error_after=2")
    seen: list[str] = []
    with pytest.raises(ProviderUnavailable) as raised:
        await stream_into(gateway, [t, Target("mock", "echo")], seen)
    assert raised.value.code == "provider_unavailable"
    assert "".join(seen) == "echo: what"


async def test_anthropic_input_tokens_reported_in_message_delta_are_counted(gateway: LLMGateway) -> None:
    # LiteLLM's /v1/messages reports 0 input tokens at message_start and the real count in message_delta.
    chunks = [
        c async for c in gateway.stream(REQUEST, targets=[target("anthropic", "claude-test", "usage_late")])
    ]
    done = chunks[-1]
    assert isinstance(done, StreamDone)
    assert done.response.usage.input_tokens == 9  # the words of "You are terse." and of the question
    assert done.response.usage.output_tokens == 7


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        (
            "openai",
            "gpt-test",
            {"max_tokens": 50, "seed": 7, "stop": ["END"], "temperature": 0.2, "top_k": 5, "top_p": 0.9},
        ),
        (
            "anthropic",
            "claude-test",
            {"max_tokens": 50, "stop_sequences": ["END"], "temperature": 0.2, "top_k": 5, "top_p": 0.9},
        ),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_model_options_reach_the_request(
    gateway: LLMGateway, provider: str, model: str, expected: dict[str, object], stream: bool
) -> None:
    options: dict[str, object] = {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 50,
        "stop": ["END"],
        "top_k": 5,
    }
    if provider == "openai":
        options["seed"] = 7
    t = Target(provider, f"{model}+echo_params", options)
    text = await answer(gateway, LLMRequest(messages=REQUEST.messages), [t], stream=stream)
    assert json.loads(text) == expected


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
async def test_an_html_page_answering_200_is_an_unexpected_response(
    gateway: LLMGateway, provider: str, model: str, stream: bool
) -> None:
    targets = [target(provider, model, "html")]
    with pytest.raises(AllTargetsFailed) as raised:
        await answer(gateway, REQUEST, targets, stream=stream)
    last = raised.value.last
    assert last.code == "unexpected_response"
    assert "text/html" in last.message
    assert "Guest Wi-Fi - Sign in" in last.message
    assert len(last.message) <= 500


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_the_tool_loop_request_is_accepted_by_strict_servers(
    gateway: LLMGateway, provider: str, model: str
) -> None:
    """The second call of a tool loop: an assistant turn with only tool calls, then the tool's result.

    The fake answers an OpenAI `"content": null` with a 500 (llama-cpp-python does) and an empty Anthropic
    text block with a 400 (the Messages API does).
    """
    call = ToolCall("call_1", "search", {"query": "weather in Paris"})
    request = LLMRequest(
        messages=(
            *REQUEST.messages,
            Message("assistant", "", tool_calls=(call,)),
            Message("tool", "sunny", tool_call_id="call_1", name="search"),
        ),
        tools=TOOLS,
        max_tokens=64,
    )
    gateway.settings = gateway.settings.model_copy(update={"max_retries": 0})
    chunks = [c async for c in gateway.stream(request, targets=[target(provider, model)])]
    done = chunks[-1]
    assert isinstance(done, StreamDone)
    assert done.response.content.startswith("echo: ")


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
async def test_a_refused_connection_is_a_connection_error(provider: str, model: str, stream: bool) -> None:
    port = free_port()  # nothing listens there
    gw = LLMGateway(
        LLMSettings(
            openai_api_key=SecretStr("sk-test-key"),
            openai_base_url=f"http://127.0.0.1:{port}/v1",
            anthropic_api_key=SecretStr("sk-ant-test-key"),
            anthropic_base_url=f"http://127.0.0.1:{port}",
            max_retries=0,
        )
    )
    try:
        with pytest.raises(AllTargetsFailed) as raised:
            await answer(gw, REQUEST, [Target(provider, model)], stream=stream)
    finally:
        await gw.aclose()
    last = raised.value.last
    assert last.code == "connection_error"
    assert last.retryable
    assert last.message == f"cannot connect to 127.0.0.1:{port}: connection refused"


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_a_cut_stream_is_not_an_unreachable_server(
    gateway: LLMGateway, provider: str, model: str
) -> None:
    seen: list[str] = []
    with pytest.raises(StreamInterrupted) as raised:
        await stream_into(gateway, [target(provider, model, "cut=2")], seen)
    assert raised.value.code == "stream_interrupted"
    assert "cannot connect" not in raised.value.message
    assert "stream was cut off" in raised.value.message
    assert "".join(seen) == "echo: what"


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_an_upstream_traceback_stays_out_of_the_error(
    gateway: LLMGateway, provider: str, model: str
) -> None:
    gateway.settings = gateway.settings.model_copy(update={"max_retries": 0})
    with pytest.raises(AllTargetsFailed) as raised:
        await gateway.complete(REQUEST, targets=[target(provider, model, "status=500", "traceback")])
    for message in (raised.value.message, raised.value.last.message):
        assert "Fake error 500" in message
        assert "Traceback" not in message
        assert "File " not in message
        assert "\n" not in message
        assert len(message) <= 500


async def test_the_breaker_is_per_endpoint_not_per_model(fake_llm_server: FakeLLMServer) -> None:
    """Two OpenAI-compatible servers serving the same model name, reached with the same placeholder key: one
    being down must not open the breaker of the other."""
    down = f"http://127.0.0.1:{free_port()}/v1"
    credentials = {
        "down": Credential("sk-no-key", down, "organization"),
        "up": Credential("sk-no-key", fake_llm_server.openai_base_url, "organization"),
    }

    async def resolve(org_id: object, provider: str, name: str | None) -> Credential | None:
        return credentials.get(name or "")

    gw = LLMGateway(
        LLMSettings(max_retries=0, breaker_failure_threshold=1, breaker_recovery_s=60),
        resolve_credential=resolve,
    )
    try:
        with pytest.raises(AllTargetsFailed):
            await gw.complete(REQUEST, targets=[Target("openai", "gpt-test", credential="down")])
        result = await gw.complete(REQUEST, targets=[Target("openai", "gpt-test", credential="up")])
    finally:
        await gw.aclose()
    assert [a.outcome for a in result.attempts] == ["ok"]
