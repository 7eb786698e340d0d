"""The fake LLM server speaks the wire formats the real SDKs parse, proven with `openai` and `anthropic`.

Every client uses the SDK's aiohttp transport and `max_retries=0` (unless a test is about retries), so each
fault reaches the test as the exception the SDK really raises. What they raise, as observed here:

| fault                      | openai 3.54                      | anthropic 2.12                      |
|----------------------------|----------------------------------|-------------------------------------|
| 429                        | `openai.RateLimitError`          | `anthropic.RateLimitError`          |
| 500                        | `openai.InternalServerError`     | `anthropic.InternalServerError`     |
| 529                        | `openai.InternalServerError`     | `anthropic.OverloadedError`         |
| no API key (401)           | `openai.AuthenticationError`     | `anthropic.AuthenticationError`     |
| bad directive (400)        | `openai.BadRequestError`         | `anthropic.BadRequestError`         |
| `hang` past the timeout    | `openai.APITimeoutError`         | `anthropic.APITimeoutError`         |
| `malformed` (plain/stream) | `json.JSONDecodeError`, unwrapped | `json.JSONDecodeError`, unwrapped  |
| `stream_error` (in a 200)  | `openai.APIError` (no status)    | `anthropic.APIStatusError`, 200     |
| `cut` (stream dropped)     | `openai.APIConnectionError`      | `httpx2.ReadError`, unwrapped       |
| `html` (plain / stream)    | the page as `str` / no chunks    | the page as `str` / no events       |
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, TypeVar

import anthropic
import httpx
import openai
import pytest
from anthropic.types import MessageParam, RawMessageStreamEvent, ToolParam, ToolUseBlock
from openai.types.chat import (
    ChatCompletionChunk,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
)

from tests.support.fake_llm_server import (
    TOOL_ARGUMENTS,
    FakeLLMServer,
    ScenarioError,
    fake_llm_server_fixture,  # noqa: F401  # registers the `fake_llm_server` fixture
    parse_model,
)

T = TypeVar("T")

OPENAI_MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "hello fake world"},
]
ANTHROPIC_MESSAGES: list[MessageParam] = [{"role": "user", "content": "hello fake world"}]
SYSTEM = "You are terse."
REPLY = "echo: hello fake world"
INPUT_TOKENS = 6  # "You are terse." + "hello fake world"

OPENAI_TOOLS: list[ChatCompletionFunctionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Look the weather up.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "n": {"type": "integer"}},
            },
        },
    },
    {"type": "function", "function": {"name": "never_called", "parameters": {"type": "object"}}},
]
ANTHROPIC_TOOLS: list[ToolParam] = [
    {
        "name": "get_weather",
        "description": "Look the weather up.",
        "input_schema": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "n": {"type": "integer"}},
        },
    },
    {"name": "never_called", "input_schema": {"type": "object"}},
]


def unique(model: str) -> str:
    """`model` with a name of its own, so counters from other tests cannot interfere."""
    name, _, directives = model.partition("+")
    return f"{name}-{uuid.uuid4().hex[:8]}" + (f"+{directives}" if directives else "")


@pytest.fixture
def openai_factory(fake_llm_server: FakeLLMServer) -> Callable[..., openai.AsyncOpenAI]:
    """Build an `AsyncOpenAI` on the fake server; the test closes it."""

    def build(**options: Any) -> openai.AsyncOpenAI:
        options.setdefault("max_retries", 0)
        return openai.AsyncOpenAI(
            base_url=fake_llm_server.openai_base_url,
            api_key="test",
            http_client=openai.DefaultAioHttpClient(),
            **options,
        )

    return build


@pytest.fixture
def anthropic_factory(fake_llm_server: FakeLLMServer) -> Callable[..., anthropic.AsyncAnthropic]:
    """Build an `AsyncAnthropic` on the fake server; the test closes it."""

    def build(**options: Any) -> anthropic.AsyncAnthropic:
        options.setdefault("max_retries", 0)
        return anthropic.AsyncAnthropic(
            base_url=fake_llm_server.anthropic_base_url,
            api_key="test",
            http_client=anthropic.DefaultAioHttpClient(),
            **options,
        )

    return build


@pytest.fixture
async def oai(openai_factory: Callable[..., openai.AsyncOpenAI]) -> AsyncIterator[openai.AsyncOpenAI]:
    """An `AsyncOpenAI` on the fake server, without retries."""
    client = openai_factory()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def claude(
    anthropic_factory: Callable[..., anthropic.AsyncAnthropic],
) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """An `AsyncAnthropic` on the fake server, without retries."""
    client = anthropic_factory()
    try:
        yield client
    finally:
        await client.close()


async def wait_idle(server: FakeLLMServer) -> dict[str, Any]:
    """The stats once no request is in flight (handlers of abandoned requests are cancelled), or after 5 s."""
    for _ in range(100):
        if not (stats := server.stats())["in_flight"]:
            break
        await asyncio.sleep(0.05)
    return stats


async def collect(stream: AsyncIterable[T], into: list[T]) -> None:
    """Append what `stream` yields to `into`, so a test can see what came before an exception."""
    async for item in stream:
        into.append(item)


# --- the model-string grammar -------------------------------------------------------------------------


def test_model_directives_are_parsed() -> None:
    scenario = parse_model("gpt-test+latency=2000+status=429:2+retry_after=1.5+tokens=3+tps=20+tools")
    assert (scenario.name, scenario.latency_ms, scenario.status, scenario.status_times) == (
        "gpt-test",
        2000,
        429,
        2,
    )
    assert (scenario.retry_after, scenario.tokens, scenario.tps, scenario.tools) == ("1.5", 3, 20.0, True)
    assert [parse_model("m+status=500").fails(n) for n in (1, 2, 99)] == [True, True, True]
    assert [parse_model("m+status=503:2").fails(n) for n in (1, 2, 3)] == [True, True, False]
    assert parse_model("plain") == parse_model("plain")
    assert not parse_model("plain").fails(1)


@pytest.mark.parametrize(
    "model",
    [
        "+tools",
        "m+nope",
        "m+latency",
        "m+latency=-1",
        "m+tools=1",
        "m+status=200",
        "m+tps=0",
        "m+tokens=2+tokens=3",
    ],
)
def test_bad_model_strings_are_refused(model: str) -> None:
    with pytest.raises(ScenarioError):
        parse_model(model)


# --- OpenAI ------------------------------------------------------------------------------------------


async def test_openai_completion(oai: openai.AsyncOpenAI) -> None:
    completion = await oai.chat.completions.create(model="gpt-test", messages=OPENAI_MESSAGES)

    assert completion.object == "chat.completion"
    assert completion.model == "gpt-test"
    [choice] = completion.choices
    assert choice.message.role == "assistant"
    assert choice.message.content == REPLY
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (INPUT_TOKENS, 4)
    assert completion.usage.total_tokens == INPUT_TOKENS + 4
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 0


async def test_openai_tokens_and_max_tokens(oai: openai.AsyncOpenAI) -> None:
    completion = await oai.chat.completions.create(model="gpt-test+tokens=10", messages=OPENAI_MESSAGES)
    assert (
        completion.choices[0].message.content == "echo: hello fake world echo: hello fake world echo: hello"
    )

    cut = await oai.chat.completions.create(
        model="gpt-test+tokens=10", messages=OPENAI_MESSAGES, max_tokens=3
    )
    assert cut.choices[0].message.content == "echo: hello fake"
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage is not None
    assert cut.usage.completion_tokens == 3


async def test_openai_stream(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(
        model="gpt-test+tokens=12",
        messages=OPENAI_MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    finish_reasons: list[str] = []
    usage_chunks = []
    async for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            assert chunk.choices == []
            usage_chunks.append(chunk.usage)
            continue
        [choice] = chunk.choices
        if choice.delta.content:
            pieces.append(choice.delta.content)
        if choice.finish_reason:
            finish_reasons.append(choice.finish_reason)

    assert len(pieces) == 12  # one word per chunk
    assert "".join(pieces) == "echo: hello fake world echo: hello fake world echo: hello fake world"
    assert finish_reasons == ["stop"]
    [usage] = usage_chunks
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        INPUT_TOKENS,
        12,
        INPUT_TOKENS + 12,
    )


async def test_openai_stream_without_usage_option_has_no_usage(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(model="gpt-test", messages=OPENAI_MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(chunk.usage is None and len(chunk.choices) == 1 for chunk in chunks)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks) == REPLY


async def test_openai_latency_and_pacing(oai: openai.AsyncOpenAI) -> None:
    started = time.monotonic()
    stream = await oai.chat.completions.create(
        model="gpt-test+latency=300+tokens=6+tps=20", messages=OPENAI_MESSAGES, stream=True
    )
    first_token_at: float | None = None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content and first_token_at is None:
            first_token_at = time.monotonic() - started
    total = time.monotonic() - started

    assert first_token_at is not None
    assert first_token_at >= 0.3
    assert total >= 0.3 + 5 / 20  # five paced gaps after the first word
    assert total < 5


async def test_openai_tool_call(oai: openai.AsyncOpenAI) -> None:
    completion = await oai.chat.completions.create(
        model="gpt-test+tools", messages=OPENAI_MESSAGES, tools=OPENAI_TOOLS
    )

    [choice] = completion.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    [call] = choice.message.tool_calls
    assert isinstance(call, ChatCompletionMessageFunctionToolCall)
    assert call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == TOOL_ARGUMENTS == {"query": "weather in Paris", "n": 1}


async def test_openai_tool_call_stream(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(
        model="gpt-test+tools", messages=OPENAI_MESSAGES, tools=OPENAI_TOOLS, stream=True
    )
    ids: list[str] = []
    names: list[str] = []
    fragments: list[str] = []
    finish_reasons: list[str] = []
    async for chunk in stream:
        [choice] = chunk.choices
        for delta in choice.delta.tool_calls or []:
            assert delta.index == 0
            if delta.id:
                ids.append(delta.id)
            if delta.function and delta.function.name:
                names.append(delta.function.name)
            if delta.function and delta.function.arguments:
                fragments.append(delta.function.arguments)
        if choice.finish_reason:
            finish_reasons.append(choice.finish_reason)

    assert len(ids) == 1
    assert names == ["get_weather"]
    assert len(fragments) >= 3
    assert json.loads("".join(fragments)) == TOOL_ARGUMENTS
    assert finish_reasons == ["tool_calls"]


async def test_openai_stream_helper_reassembles_the_tool_call(oai: openai.AsyncOpenAI) -> None:
    async with oai.chat.completions.stream(
        model="gpt-test+tools", messages=OPENAI_MESSAGES, tools=OPENAI_TOOLS
    ) as stream:
        async for _event in stream:
            pass
        completion = await stream.get_final_completion()

    tool_calls = completion.choices[0].message.tool_calls
    assert tool_calls is not None
    assert tool_calls[0].function.name == "get_weather"
    assert json.loads(tool_calls[0].function.arguments) == TOOL_ARGUMENTS


async def test_openai_rate_limit_then_success(
    fake_llm_server: FakeLLMServer, oai: openai.AsyncOpenAI
) -> None:
    fake_llm_server.reset()
    model = unique("gpt-test+status=429:2+retry_after=7")

    for attempt in (1, 2):
        with pytest.raises(openai.RateLimitError) as caught:
            await oai.chat.completions.create(model=model, messages=OPENAI_MESSAGES)
        assert caught.value.status_code == 429
        assert caught.value.response.headers["retry-after"] == "7"
        assert caught.value.body == {
            "message": f"Fake error 429 (request {attempt}).",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    completion = await oai.chat.completions.create(model=model, messages=OPENAI_MESSAGES)
    assert completion.choices[0].message.content == REPLY

    stats = fake_llm_server.stats()
    assert stats["scenarios"] == {model: 3}
    assert stats["paths"] == {"/v1/chat/completions": 3}
    assert stats["statuses"] == {"429": 2, "200": 1}


async def test_openai_sdk_retries_honour_retry_after(
    fake_llm_server: FakeLLMServer, openai_factory: Callable[..., openai.AsyncOpenAI]
) -> None:
    client = openai_factory(max_retries=2)
    model = unique("gpt-test+status=429:2+retry_after=0.2")
    try:
        started = time.monotonic()
        completion = await client.chat.completions.create(model=model, messages=OPENAI_MESSAGES)
        elapsed = time.monotonic() - started
    finally:
        await client.close()

    assert completion.choices[0].message.content == REPLY
    assert fake_llm_server.stats()["scenarios"][model] == 3
    assert elapsed >= 0.4


async def test_openai_server_error(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        await oai.chat.completions.create(model="gpt-test+status=500", messages=OPENAI_MESSAGES)
    assert caught.value.status_code == 500
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "server_error"


async def test_openai_hang_times_out(fake_llm_server: FakeLLMServer, oai: openai.AsyncOpenAI) -> None:
    model = unique("gpt-test+hang")
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        await oai.chat.completions.create(model=model, messages=OPENAI_MESSAGES, timeout=0.5)
    assert time.monotonic() - started < 5
    # The server drops the abandoned request's handler instead of sleeping on for an hour.
    assert (await wait_idle(fake_llm_server))["in_flight"] == 0


async def test_openai_malformed_body(oai: openai.AsyncOpenAI) -> None:
    # The SDK does not wrap a body that is not JSON: `json.JSONDecodeError` escapes as is.
    with pytest.raises(json.JSONDecodeError):
        await oai.chat.completions.create(model="gpt-test+malformed", messages=OPENAI_MESSAGES)


async def test_openai_malformed_stream(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(
        model="gpt-test+malformed", messages=OPENAI_MESSAGES, stream=True
    )
    received: list[ChatCompletionChunk] = []
    with pytest.raises(json.JSONDecodeError):
        await collect(stream, received)
    assert len(received) == 1  # the valid first chunk arrives; the bad event raises


async def test_openai_without_api_key(oai: openai.AsyncOpenAI) -> None:
    # The SDK refuses to be built without a key; omitting the header is how a keyless request is sent.
    with pytest.raises(openai.AuthenticationError) as caught:
        await oai.chat.completions.create(
            model="gpt-test", messages=OPENAI_MESSAGES, extra_headers={"Authorization": openai.omit}
        )
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"


async def test_openai_bad_directive_is_a_bad_request(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="unknown directive"):
        await oai.chat.completions.create(model="gpt-test+nonsense", messages=OPENAI_MESSAGES)
    with pytest.raises(openai.BadRequestError, match="needs a `tools` list"):
        await oai.chat.completions.create(model="gpt-test+tools", messages=OPENAI_MESSAGES)


# --- Anthropic ---------------------------------------------------------------------------------------


async def test_anthropic_message(claude: anthropic.AsyncAnthropic) -> None:
    message = await claude.messages.create(
        model="claude-test", max_tokens=100, system=SYSTEM, messages=ANTHROPIC_MESSAGES
    )

    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == "claude-test"
    assert message.id.startswith("msg_")
    [block] = message.content
    assert block.type == "text"
    assert block.text == REPLY
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (INPUT_TOKENS, 4)
    assert message.usage.cache_read_input_tokens == 0


async def test_anthropic_max_tokens_cuts_the_reply(claude: anthropic.AsyncAnthropic) -> None:
    message = await claude.messages.create(
        model="claude-test+tokens=50", max_tokens=5, messages=ANTHROPIC_MESSAGES
    )
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 5
    assert message.content[0].type == "text"
    assert message.content[0].text == "echo: hello fake world echo:"


async def test_anthropic_stream_events(claude: anthropic.AsyncAnthropic) -> None:
    stream = await claude.messages.create(
        model="claude-test+tokens=9", max_tokens=100, system=SYSTEM, messages=ANTHROPIC_MESSAGES, stream=True
    )
    events = [event async for event in stream]

    types = [event.type for event in events]
    assert types == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 9,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]  # the `ping` event is consumed by the SDK
    start, delta = events[0], events[-2]
    assert start.type == "message_start"
    assert start.message.usage.input_tokens == INPUT_TOKENS
    assert delta.type == "message_delta"
    assert delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens == 9
    text = "".join(
        e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == "echo: hello fake world echo: hello fake world echo:"


async def test_anthropic_stream_helper(claude: anthropic.AsyncAnthropic) -> None:
    async with claude.messages.stream(
        model="claude-test+tokens=7", max_tokens=100, system=SYSTEM, messages=ANTHROPIC_MESSAGES
    ) as stream:
        pieces = [text async for text in stream.text_stream]
        message = await stream.get_final_message()

    assert len(pieces) == 7
    assert "".join(pieces) == "echo: hello fake world echo: hello fake"
    assert message.content[0].type == "text"
    assert message.content[0].text == "".join(pieces)
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (INPUT_TOKENS, 7)
    assert message.usage.cache_read_input_tokens == 0


async def test_anthropic_tool_use(claude: anthropic.AsyncAnthropic) -> None:
    message = await claude.messages.create(
        model="claude-test+tools", max_tokens=100, messages=ANTHROPIC_MESSAGES, tools=ANTHROPIC_TOOLS
    )

    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert isinstance(block, ToolUseBlock)
    assert block.id.startswith("toolu_")
    assert block.name == "get_weather"
    assert block.input == TOOL_ARGUMENTS


async def test_anthropic_tool_use_stream(claude: anthropic.AsyncAnthropic) -> None:
    stream = await claude.messages.create(
        model="claude-test+tools",
        max_tokens=100,
        messages=ANTHROPIC_MESSAGES,
        tools=ANTHROPIC_TOOLS,
        stream=True,
    )
    events = [event async for event in stream]

    [start] = [e for e in events if e.type == "content_block_start"]
    assert isinstance(start.content_block, ToolUseBlock)
    assert start.content_block.name == "get_weather"
    fragments = [
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta" and e.delta.partial_json
    ]
    assert len(fragments) >= 3
    assert json.loads("".join(fragments)) == TOOL_ARGUMENTS
    [delta] = [e for e in events if e.type == "message_delta"]
    assert delta.delta.stop_reason == "tool_use"


async def test_anthropic_stream_helper_reassembles_the_tool_input(claude: anthropic.AsyncAnthropic) -> None:
    async with claude.messages.stream(
        model="claude-test+tools+tps=100", max_tokens=100, messages=ANTHROPIC_MESSAGES, tools=ANTHROPIC_TOOLS
    ) as stream:
        message = await stream.get_final_message()

    [block] = message.content
    assert isinstance(block, ToolUseBlock)
    assert block.input == TOOL_ARGUMENTS
    assert message.stop_reason == "tool_use"


async def test_anthropic_rate_limit_then_success(
    fake_llm_server: FakeLLMServer, claude: anthropic.AsyncAnthropic
) -> None:
    fake_llm_server.reset()
    model = unique("claude-test+status=429:1")

    with pytest.raises(anthropic.RateLimitError) as caught:
        await claude.messages.create(model=model, max_tokens=100, messages=ANTHROPIC_MESSAGES)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "1"  # the default
    assert caught.value.type == "rate_limit_error"
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Fake error 429 (request 1)."},
    }
    message = await claude.messages.create(model=model, max_tokens=100, messages=ANTHROPIC_MESSAGES)
    assert message.content[0].type == "text"

    stats = fake_llm_server.stats()
    assert stats["scenarios"] == {model: 2}
    assert stats["paths"] == {"/v1/messages": 2}


async def test_anthropic_server_errors(claude: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.InternalServerError) as caught:
        await claude.messages.create(
            model="claude-test+status=500", max_tokens=100, messages=ANTHROPIC_MESSAGES
        )
    assert caught.value.status_code == 500
    assert caught.value.type == "api_error"

    with pytest.raises(anthropic.OverloadedError):  # a subclass of InternalServerError
        await claude.messages.create(
            model="claude-test+status=529", max_tokens=100, messages=ANTHROPIC_MESSAGES
        )


async def test_anthropic_hang_times_out(
    fake_llm_server: FakeLLMServer, anthropic_factory: Callable[..., anthropic.AsyncAnthropic]
) -> None:
    client = anthropic_factory(timeout=0.5)  # a float: the SDK refuses `httpx.Timeout` objects
    started = time.monotonic()
    try:
        with pytest.raises(anthropic.APITimeoutError):
            await client.messages.create(
                model=unique("claude-test+hang"), max_tokens=100, messages=ANTHROPIC_MESSAGES
            )
    finally:
        await client.close()
    assert time.monotonic() - started < 5
    assert (await wait_idle(fake_llm_server))["in_flight"] == 0


async def test_anthropic_malformed_body(claude: anthropic.AsyncAnthropic) -> None:
    # As with openai, the body's `json.JSONDecodeError` escapes unwrapped.
    with pytest.raises(json.JSONDecodeError):
        await claude.messages.create(
            model="claude-test+malformed", max_tokens=100, messages=ANTHROPIC_MESSAGES
        )


async def test_anthropic_malformed_stream(claude: anthropic.AsyncAnthropic) -> None:
    stream = await claude.messages.create(
        model="claude-test+malformed", max_tokens=100, messages=ANTHROPIC_MESSAGES, stream=True
    )
    received: list[RawMessageStreamEvent] = []
    with pytest.raises(json.JSONDecodeError):
        await collect(stream, received)
    assert [event.type for event in received] == ["message_start"]


async def test_anthropic_without_api_key(claude: anthropic.AsyncAnthropic) -> None:
    # anthropic 2.x sends `api_key` as `Authorization: Bearer …`; with it omitted, no key reaches the server.
    with pytest.raises(anthropic.AuthenticationError) as caught:
        await claude.messages.create(
            model="claude-test",
            max_tokens=100,
            messages=ANTHROPIC_MESSAGES,
            extra_headers={"Authorization": anthropic.omit},
        )
    assert caught.value.status_code == 401
    assert caught.value.type == "authentication_error"


async def test_anthropic_x_api_key_header_is_accepted(fake_llm_server: FakeLLMServer) -> None:
    body = {"model": "claude-test", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    url = f"{fake_llm_server.anthropic_base_url}/v1/messages"
    async with httpx.AsyncClient(trust_env=False) as http:
        accepted = await http.post(url, json=body, headers={"x-api-key": "test"})
        refused = await http.post(url, json=body, headers={"x-api-key": ""})
        no_max_tokens = await http.post(url, json={**body, "max_tokens": None}, headers={"x-api-key": "test"})
    assert accepted.status_code == 200
    assert accepted.json()["content"] == [{"type": "text", "text": "echo: hi"}]
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"
    assert no_max_tokens.status_code == 400
    assert no_max_tokens.json()["error"]["type"] == "invalid_request_error"


# --- the server as a whole ------------------------------------------------------------------------------


async def test_many_slow_requests_run_concurrently(
    fake_llm_server: FakeLLMServer, oai: openai.AsyncOpenAI, claude: anthropic.AsyncAnthropic
) -> None:
    fake_llm_server.reset()
    started = time.monotonic()
    results = await asyncio.gather(
        *(
            oai.chat.completions.create(model="gpt-test+latency=500", messages=OPENAI_MESSAGES)
            for _ in range(150)
        ),
        *(
            claude.messages.create(
                model="claude-test+latency=500", max_tokens=10, messages=ANTHROPIC_MESSAGES
            )
            for _ in range(150)
        ),
    )
    elapsed = time.monotonic() - started

    assert len(results) == 300
    assert elapsed < 5  # 300 x 0.5 s one after another would take 150 s
    stats = fake_llm_server.stats()
    assert stats["requests"] == 300
    assert stats["max_in_flight"] >= 100


def test_health_and_reset(fake_llm_server: FakeLLMServer) -> None:
    assert httpx.get(f"{fake_llm_server.base_url}/health", trust_env=False).json() == {"status": "ok"}
    fake_llm_server.reset()
    stats = fake_llm_server.stats()
    assert (stats["requests"], stats["paths"], stats["scenarios"], stats["statuses"]) == (0, {}, {}, {})


# --- what real servers do (issue 13): errors inside streams, cut streams, portals, strict validation --------


def test_fault_directives_are_parsed() -> None:
    scenario = parse_model(
        "m+stream_error=overloaded_error:1+error_after=2+html+usage_late+echo_params+traceback"
    )
    assert (scenario.stream_error, scenario.stream_error_times, scenario.error_after) == (
        "overloaded_error",
        1,
        2,
    )
    assert (scenario.html, scenario.usage_late, scenario.echo_params, scenario.traceback) == (True,) * 4
    assert [scenario.stream_fails(n) for n in (1, 2)] == [True, False]
    assert parse_model("m+cut=3").cut == 3
    with pytest.raises(ScenarioError):
        parse_model("m+stream_error=not a type")


async def test_openai_stream_error_event(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(
        model="gpt-test+stream_error=server_error+error_after=2", messages=OPENAI_MESSAGES, stream=True
    )
    received: list[ChatCompletionChunk] = []
    with pytest.raises(openai.APIError) as caught:
        await collect(stream, received)
    assert not isinstance(caught.value, openai.APIStatusError)  # a bare APIError: the status was 200
    assert caught.value.type == "server_error"
    assert "".join(c.choices[0].delta.content or "" for c in received if c.choices) == "echo: hello"


async def test_anthropic_stream_error_event(claude: anthropic.AsyncAnthropic) -> None:
    stream = await claude.messages.create(
        model="claude-test+stream_error=overloaded_error",
        max_tokens=100,
        messages=ANTHROPIC_MESSAGES,
        stream=True,
    )
    received: list[RawMessageStreamEvent] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        await collect(stream, received)
    assert caught.value.status_code == 200  # raised from an `event: error` of a 200 stream
    assert caught.value.type == "overloaded_error"
    assert [e.type for e in received] == ["message_start", "content_block_start"]


async def test_a_cut_stream_breaks_the_connection(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(model="gpt-test+cut=1", messages=OPENAI_MESSAGES, stream=True)
    received: list[ChatCompletionChunk] = []
    with pytest.raises(openai.APIConnectionError):
        await collect(stream, received)
    assert [c.choices[0].delta.content for c in received] == ["", "echo:"]


async def test_html_answers_are_a_portal_page(
    oai: openai.AsyncOpenAI, claude: anthropic.AsyncAnthropic
) -> None:
    # The SDKs hand a 200 body that is not JSON back as text, and a streamed one as no events at all.
    page = await oai.chat.completions.create(model="gpt-test+html", messages=OPENAI_MESSAGES)
    assert isinstance(page, str)
    assert "<title>Guest Wi-Fi - Sign in</title>" in page
    stream = await claude.messages.create(
        model="claude-test+html", max_tokens=100, messages=ANTHROPIC_MESSAGES, stream=True
    )
    assert stream.response.headers["content-type"].startswith("text/html")
    assert [event async for event in stream] == []


async def test_anthropic_usage_late(claude: anthropic.AsyncAnthropic) -> None:
    stream = await claude.messages.create(
        model="claude-test+usage_late",
        max_tokens=100,
        messages=ANTHROPIC_MESSAGES,
        system=SYSTEM,
        stream=True,
    )
    events = [event async for event in stream]
    assert events[0].type == "message_start"
    assert events[0].message.usage.input_tokens == 0
    assert events[-2].type == "message_delta"
    assert events[-2].usage.input_tokens == INPUT_TOKENS


async def test_echo_params(oai: openai.AsyncOpenAI) -> None:
    completion = await oai.chat.completions.create(
        model="gpt-test+echo_params", messages=OPENAI_MESSAGES, temperature=0.5, stop=["x"], max_tokens=9
    )
    assert json.loads(completion.choices[0].message.content or "") == {
        "max_tokens": 9,
        "stop": ["x"],
        "temperature": 0.5,
    }


async def test_errors_with_a_traceback(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        await oai.chat.completions.create(model="gpt-test+status=500+traceback", messages=OPENAI_MESSAGES)
    body = caught.value.body
    assert isinstance(body, dict)
    assert "Traceback (most recent call last)" in body["message"]
    assert len(body["message"]) > 1500


async def test_an_assistant_content_of_null_is_refused_like_llama_cpp(oai: openai.AsyncOpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [
        *OPENAI_MESSAGES,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ]
    with pytest.raises(openai.InternalServerError):
        await oai.chat.completions.create(model="gpt-test", messages=messages)
    messages[2]["content"] = ""
    completion = await oai.chat.completions.create(model="gpt-test", messages=messages)
    assert completion.choices[0].message.content == REPLY


async def test_an_empty_anthropic_text_block_is_refused(claude: anthropic.AsyncAnthropic) -> None:
    messages: list[MessageParam] = [
        *ANTHROPIC_MESSAGES,
        {"role": "assistant", "content": [{"type": "text", "text": ""}]},
        {"role": "user", "content": "again"},
    ]
    with pytest.raises(anthropic.BadRequestError, match="must be non-empty"):
        await claude.messages.create(model="claude-test", max_tokens=100, messages=messages)
