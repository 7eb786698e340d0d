"""Anthropic Messages through the official SDK, with its aiohttp transport.

The transport's session is `agentic.security.egress`'s: connections go only to addresses the outbound policy
allows, checked when each connection opens (DNS rebinding included), and redirects are not followed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, cast

from agentic.llm.errors import LLMError
from agentic.llm.providers._options import split_options
from agentic.llm.providers._sdk_errors import (
    check_event_stream,
    empty_stream,
    not_an_answer,
    translate_sdk_error,
)
from agentic.llm.types import (
    FinishReason,
    LLMRequest,
    LLMResponse,
    Message,
    StreamAssembler,
    StreamChunk,
    StreamDone,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageUpdate,
)
from agentic.security.egress import guarded_sdk_client
from agentic.tools.http import Lookup, OutboundPolicy, system_lookup

try:
    import anthropic
    from anthropic import AsyncAnthropic, DefaultAioHttpClient
    from anthropic._vendor.httpx_aiohttp import AiohttpTransport
    from anthropic.types.message_create_params import MessageCreateParamsBase
except ImportError as exc:  # pragma: no cover
    raise ImportError("The Anthropic provider needs `pip install 'anthropic[aiohttp]'`.") from exc

# Anthropic requires max_tokens; used when the request leaves it open.
DEFAULT_MAX_TOKENS = 4096

_FINISH: dict[str | None, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    None: "stop",
}


# The request fields the SDK names. Sampling parameters (`temperature`, `top_p`, `top_k`) are not among them
# in this SDK, yet the API and compatible servers (LiteLLM's /v1/messages) take them: they go in the body.
_SDK_PARAMS = frozenset(MessageCreateParamsBase.__required_keys__ | MessageCreateParamsBase.__optional_keys__)
# Set from the request itself; an option may not override them.
_REQUEST_OWNED = frozenset(
    {"messages", "model", "stream", "system", "tools", "tool_choice", "output_config"}
    | {"timeout", "extra_headers", "extra_query", "parallel_tool_calls"}
)
# The OpenAI names of the same parameters (agents switch providers; fallback chains mix them).
_RENAMED = {"stop": "stop_sequences", "max_completion_tokens": "max_tokens"}


def translate_error(exc: Exception, *, streaming: bool = False) -> LLMError:
    """Map an Anthropic SDK exception to the gateway's errors (`streaming`: the answer had begun)."""
    return translate_sdk_error(exc, sdk=anthropic, vendor="Anthropic", streaming=streaming)


def option_params(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An agent's model options as Messages API fields: `(named SDK arguments, extra body fields)`.

    OpenAI names are translated (`stop` → `stop_sequences`, a single string made a list;
    `max_completion_tokens` → `max_tokens`). Options the SDK names become its arguments; the rest
    (`temperature`, `top_p`, `top_k`, a server's own parameters) go into the body as given, merged with an
    explicit `extra_body` option. Options the request decides, and unset (`null`) ones, are left out.
    """
    return split_options(
        options,
        sdk_params=_SDK_PARAMS,
        request_owned=_REQUEST_OWNED,
        renamed=_RENAMED,
        adapt=lambda name, value: [value] if name == "stop_sequences" and isinstance(value, str) else value,
    )


class AnthropicProvider:
    """One Anthropic account: API key, base URL and a pooled aiohttp-backed client."""

    name = "anthropic"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        max_connections: int = 1000,
        policy: OutboundPolicy | None = None,
        lookup: Lookup = system_lookup,
    ) -> None:
        """`policy`: the addresses the client may connect to, checked at connect time (default: any)."""
        self.client = AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            http_client=guarded_sdk_client(
                DefaultAioHttpClient, AiohttpTransport, policy, max_connections=max_connections, lookup=lookup
            ),
        )

    def model(self, model_name: str, options: dict[str, Any]) -> AnthropicModel:
        """An adapter for `model_name`."""
        return AnthropicModel(self, model_name, options)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.close()


def _messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    wire: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue  # passed separately as `system`
        if message.role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or "",
                "content": message.content,
            }
            # Consecutive tool results belong in one user turn.
            if wire and wire[-1]["role"] == "user" and isinstance(wire[-1]["content"], list):
                wire[-1]["content"].append(block)
            else:
                wire.append({"role": "user", "content": [block]})
            continue
        if message.role == "assistant" and message.tool_calls:
            content: list[dict[str, Any]] = (
                [{"type": "text", "text": message.content}] if message.content else []
            )
            content += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                for c in message.tool_calls
            ]
            wire.append({"role": "assistant", "content": content})
            continue
        wire.append({"role": message.role, "content": message.content})
    return wire


class AnthropicModel:
    """Messages API wire format."""

    provider_name = "anthropic"

    def __init__(self, provider: AnthropicProvider, model_name: str, options: dict[str, Any]) -> None:
        self.provider = provider
        self.model_name = model_name
        self.options = options

    def _params(self, request: LLMRequest, timeout_s: float) -> dict[str, Any]:
        # The agent's model options first; what the request itself sets wins over them.
        named, extra = option_params(self.options)
        params: dict[str, Any] = named | {
            "model": self.model_name,
            "messages": _messages(request.messages),
            # Required by the API: the request's, else the agent's option, else a default.
            "max_tokens": request.max_tokens or int(named.get("max_tokens") or DEFAULT_MAX_TOKENS),
            "timeout": timeout_s,
        }
        if request.system_prompt:
            params["system"] = request.system_prompt
        if request.tools:
            params["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
            if request.tool_choice == "required":
                choice: dict[str, Any] = {"type": "any"}
            elif request.tool_choice in ("auto", "none"):
                choice = {"type": request.tool_choice}
            else:
                choice = {"type": "tool", "name": request.tool_choice}
            if self.options.get("parallel_tool_calls") is False and choice["type"] != "none":
                choice["disable_parallel_tool_use"] = True  # OpenAI's `parallel_tool_calls: false`
            params["tool_choice"] = choice
        if request.temperature is not None:
            extra["temperature"] = request.temperature
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        if request.response_format is not None:
            params["output_config"] = {
                "format": {"type": "json_schema", "schema": request.response_format.json_schema}
            }
        if extra:
            params["extra_body"] = extra
        return params

    async def complete(self, request: LLMRequest, *, timeout_s: float) -> LLMResponse:
        """One answer."""
        start = time.perf_counter()
        try:
            raw = await cast(Any, self.provider.client.messages).with_raw_response.create(
                **self._params(request, timeout_s)
            )
            message = await raw.parse()
            if isinstance(message, str):  # the SDK hands back a body that is not JSON as text
                raise not_an_answer(
                    "Anthropic", raw.status_code, raw.headers.get("content-type", ""), message
                )
            text = "".join(block.text for block in message.content if block.type == "text")
            calls = tuple(
                ToolCall(id=block.id, name=block.name, arguments=dict(block.input))
                for block in message.content
                if block.type == "tool_use"
            )
        except LLMError:
            raise
        except Exception as exc:
            raise translate_error(exc) from exc
        return LLMResponse(
            content=text,
            tool_calls=calls,
            finish_reason=_FINISH.get(message.stop_reason, "stop"),
            usage=_usage(message.usage),
            model=message.model or self.model_name,
            provider="anthropic",
            latency_ms=(time.perf_counter() - start) * 1000,
        )

    async def stream(self, request: LLMRequest, *, timeout_s: float) -> AsyncIterator[StreamChunk]:
        """Server-sent events translated one by one."""
        start = time.perf_counter()
        assembler = StreamAssembler(provider="anthropic", model=self.model_name)
        input_usage = Usage()
        tool_index: dict[int, int] = {}  # content block index → tool-call ordinal
        opened = False
        try:
            stream = await cast(Any, self.provider.client.messages).create(
                **self._params(request, timeout_s), stream=True
            )
            opened = True
            async with stream:
                await check_event_stream(stream.response, "Anthropic")
                events = 0
                async for event in stream:
                    events += 1
                    kind = event.type
                    if kind == "message_start":
                        input_usage = _usage(event.message.usage)
                    elif kind == "content_block_start" and event.content_block.type == "tool_use":
                        tool_index[event.index] = len(tool_index)
                        piece = ToolCallDelta(
                            index=tool_index[event.index],
                            id=event.content_block.id,
                            name=event.content_block.name,
                        )
                        assembler.add(piece)
                        yield piece
                    elif kind == "content_block_delta":
                        if event.delta.type == "text_delta":
                            text = TextDelta(event.delta.text)
                            assembler.add(text)
                            yield text
                        elif event.delta.type == "input_json_delta":
                            piece = ToolCallDelta(
                                index=tool_index[event.index], arguments=event.delta.partial_json
                            )
                            assembler.add(piece)
                            yield piece
                    elif kind == "message_delta":
                        assembler.finish_reason = _FINISH.get(event.delta.stop_reason, "stop")
                        update = UsageUpdate(_final_usage(input_usage, event.usage))
                        assembler.add(update)
                        yield update
                if not events:  # a 200 whose body held no event at all: not an answer, whatever its type
                    raise empty_stream("Anthropic", stream.response)
        except LLMError:
            raise
        except Exception as exc:
            raise translate_error(exc, streaming=opened) from exc
        yield StreamDone(assembler.finish((time.perf_counter() - start) * 1000))


def _final_usage(started: Usage, delta: Any) -> Usage:
    """The usage of a stream from `message_start`'s and the final `message_delta`'s.

    Both are cumulative, so the larger count is the true one: servers that do not know the prompt's size when
    the stream starts (LiteLLM's /v1/messages sends 0 at `message_start`) report it only in `message_delta`,
    and one that repeats it there, or leaves it out (null), must not make it count twice or vanish.
    """
    if delta is None:
        return started
    reported = _usage(delta)
    return Usage(
        input_tokens=max(started.input_tokens, reported.input_tokens),
        output_tokens=reported.output_tokens,
        cached_tokens=max(started.cached_tokens, reported.cached_tokens),
    )


def _usage(usage: Any) -> Usage:
    # Anthropic reports cache reads and writes apart from `input_tokens`; our `input_tokens` counts every
    # prompt token (as OpenAI's `prompt_tokens` does), with the cache reads also in `cached_tokens`.
    if usage is None:
        return Usage()
    cache_read = getattr(usage, "cache_read_input_tokens", 0) or 0
    cache_write = getattr(usage, "cache_creation_input_tokens", 0) or 0
    return Usage(
        input_tokens=(getattr(usage, "input_tokens", 0) or 0) + cache_read + cache_write,
        output_tokens=getattr(usage, "output_tokens", 0) or 0,
        cached_tokens=cache_read,
    )
