"""Anthropic Messages through the official SDK, with its aiohttp transport."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx2

from agentic.llm.errors import LLMError
from agentic.llm.providers._sdk_errors import translate_sdk_error
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

try:
    import anthropic
    from anthropic import AsyncAnthropic, DefaultAioHttpClient
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


def translate_error(exc: Exception) -> LLMError:
    """Map an Anthropic SDK exception to the gateway's errors."""
    return translate_sdk_error(exc, sdk=anthropic, vendor="Anthropic")


class AnthropicProvider:
    """One Anthropic account: API key, base URL and a pooled aiohttp-backed client."""

    name = "anthropic"

    def __init__(self, *, api_key: str, base_url: str | None = None, max_connections: int = 1000) -> None:
        self.client = AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            http_client=DefaultAioHttpClient(
                limits=httpx2.Limits(
                    max_connections=max_connections, max_keepalive_connections=max_connections
                )
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
        params: dict[str, Any] = {
            "model": self.model_name,
            "messages": _messages(request.messages),
            "max_tokens": request.max_tokens or int(self.options.get("max_tokens", DEFAULT_MAX_TOKENS)),
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
                params["tool_choice"] = {"type": "any"}
            elif request.tool_choice in ("auto", "none"):
                params["tool_choice"] = {"type": request.tool_choice}
            else:
                params["tool_choice"] = {"type": "tool", "name": request.tool_choice}
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        if request.response_format is not None:
            params["output_config"] = {
                "format": {"type": "json_schema", "schema": request.response_format.json_schema}
            }
        return params

    async def complete(self, request: LLMRequest, *, timeout_s: float) -> LLMResponse:
        """One answer."""
        start = time.perf_counter()
        try:
            message = await cast(Any, self.provider.client.messages).create(
                **self._params(request, timeout_s)
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
        try:
            stream = await cast(Any, self.provider.client.messages).create(
                **self._params(request, timeout_s), stream=True
            )
            async with stream:
                async for event in stream:
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
                        update = UsageUpdate(
                            Usage(
                                input_tokens=input_usage.input_tokens,
                                output_tokens=event.usage.output_tokens or 0,
                                cached_tokens=input_usage.cached_tokens,
                            )
                        )
                        assembler.add(update)
                        yield update
        except LLMError:
            raise
        except Exception as exc:
            raise translate_error(exc) from exc
        yield StreamDone(assembler.finish((time.perf_counter() - start) * 1000))


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
