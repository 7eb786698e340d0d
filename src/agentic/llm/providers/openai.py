"""OpenAI Chat Completions through the official SDK.

Also serves every OpenAI-compatible server (vLLM, Ollama, LM Studio, OpenRouter, Azure OpenAI) through a
base URL.

Uses the SDK's aiohttp transport: httpx's per-request CPU cost grows with concurrency, aiohttp's does not. Its
session is `agentic.security.egress`'s: connections go only to addresses the outbound policy allows, checked
when each connection opens (DNS rebinding included), and redirects are not followed.
"""

from __future__ import annotations

import json
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
    import openai
    from openai import AsyncOpenAI, DefaultAioHttpClient
    from openai._vendor.httpx_aiohttp import AiohttpTransport
    from openai.types.chat.completion_create_params import CompletionCreateParamsBase
except ImportError as exc:  # pragma: no cover - the dependency is pinned; the hint is for trimmed installs
    raise ImportError("The OpenAI provider needs `pip install 'openai[aiohttp]'`.") from exc

_FINISH: dict[str | None, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    None: "stop",
}


# The request fields the SDK names: a model option with one of these names is passed as that argument.
_SDK_PARAMS = frozenset(
    CompletionCreateParamsBase.__required_keys__ | CompletionCreateParamsBase.__optional_keys__
)
# Set from the request itself (conversation, tools, format, streaming): options may not override them.
_REQUEST_OWNED = frozenset(
    {"messages", "model", "stream", "stream_options", "tools", "tool_choice", "response_format"}
    | {"functions", "function_call", "timeout", "extra_headers", "extra_query"}
)
# Option names of the other wire format, translated.
_RENAMED = {"stop_sequences": "stop"}


def translate_error(exc: Exception, *, streaming: bool = False) -> LLMError:
    """Map an OpenAI SDK exception to the gateway's errors (`streaming`: the answer had begun)."""
    return translate_sdk_error(exc, sdk=openai, vendor="OpenAI", streaming=streaming)


def option_params(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An agent's model options as request fields: `(named SDK arguments, extra body fields)`.

    Options the SDK names (`temperature`, `top_p`, `max_tokens`, `stop`, `seed`, …) become its arguments. Any
    other option (`top_k`, `min_p`, `repeat_penalty` of vLLM, llama.cpp or LiteLLM) goes into the body as
    given, merged with an explicit `extra_body` option, so a compatible server's own parameters reach it.
    Options the request decides (`messages`, `tools`, `stream`, …) and unset (`null`) ones are left out.
    """
    return split_options(options, sdk_params=_SDK_PARAMS, request_owned=_REQUEST_OWNED, renamed=_RENAMED)


class OpenAIProvider:
    """One OpenAI (or compatible) account: API key, base URL and a pooled aiohttp-backed client."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        max_connections: int = 1000,
        name: str = "openai",
        policy: OutboundPolicy | None = None,
        lookup: Lookup = system_lookup,
    ) -> None:
        """`policy`: the addresses the client may connect to, checked at connect time (default: any)."""
        self.name = name
        self.client = AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,  # the gateway retries, with backoff, breaker and fallback it can see and record
            http_client=guarded_sdk_client(
                DefaultAioHttpClient, AiohttpTransport, policy, max_connections=max_connections, lookup=lookup
            ),
        )

    def model(self, model_name: str, options: dict[str, Any]) -> OpenAIChatModel:
        """An adapter for `model_name`."""
        return OpenAIChatModel(self, model_name, options)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.close()


def _message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": message.content}
    # `content` is always a string, an empty one beside tool calls: OpenAI accepts `null` there, but stricter
    # compatible servers (llama-cpp-python's) answer `null` with a 500, and every server accepts "".
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
            }
            for c in message.tool_calls
        ]
    if message.name:
        wire["name"] = message.name
    return wire


class OpenAIChatModel:
    """Chat Completions wire format."""

    provider_name = "openai"

    def __init__(self, provider: OpenAIProvider, model_name: str, options: dict[str, Any]) -> None:
        self.provider = provider
        self.provider_name = provider.name
        self.model_name = model_name
        self.options = options

    def _params(self, request: LLMRequest, timeout_s: float) -> dict[str, Any]:
        # The agent's model options first; what the request itself sets wins over them.
        named, extra = option_params(self.options)
        params: dict[str, Any] = named | {
            "model": self.model_name,
            "messages": [_message(m) for m in request.messages],
            "timeout": timeout_s,
        }
        if request.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in request.tools
            ]
            if request.tool_choice in ("auto", "none", "required"):
                params["tool_choice"] = request.tool_choice
            else:
                params["tool_choice"] = {"type": "function", "function": {"name": request.tool_choice}}
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        if request.stop:
            params["stop"] = list(request.stop)
        if request.response_format is not None:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": request.response_format.name,
                    "schema": request.response_format.json_schema,
                    "strict": request.response_format.strict,
                },
            }
        if extra:
            params["extra_body"] = extra
        return params

    async def complete(self, request: LLMRequest, *, timeout_s: float) -> LLMResponse:
        """One answer."""
        start = time.perf_counter()
        try:
            raw = await cast(Any, self.provider.client.chat.completions).with_raw_response.create(
                **self._params(request, timeout_s)
            )
            completion = raw.parse()  # this SDK's raw response parses synchronously (the body is read)
            if isinstance(completion, str):  # the SDK hands back a body that is not JSON as text
                raise not_an_answer(
                    "OpenAI", raw.status_code, raw.headers.get("content-type", ""), completion
                )
            choice = completion.choices[0]
            calls = tuple(
                ToolCall(id=c.id, name=c.function.name, arguments=json.loads(c.function.arguments or "{}"))
                for c in (choice.message.tool_calls or [])
            )
            usage = completion.usage
        except LLMError:
            raise
        except Exception as exc:  # every SDK failure is translated
            raise translate_error(exc) from exc
        return LLMResponse(
            content=choice.message.content or "",
            tool_calls=calls,
            finish_reason=_FINISH.get(choice.finish_reason, "stop"),
            usage=_usage(usage),
            model=completion.model or self.model_name,
            provider=self.provider_name,
            latency_ms=(time.perf_counter() - start) * 1000,
        )

    async def stream(self, request: LLMRequest, *, timeout_s: float) -> AsyncIterator[StreamChunk]:
        """Server-sent chunks translated one by one."""
        start = time.perf_counter()
        assembler = StreamAssembler(provider=self.provider_name, model=self.model_name)
        params = self._params(request, timeout_s) | {
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        opened = False
        try:
            stream = await cast(Any, self.provider.client.chat.completions).create(**params)
            opened = True
            async with stream:
                await check_event_stream(stream.response, "OpenAI")
                chunks = 0
                async for chunk in stream:
                    chunks += 1
                    if chunk.usage is not None:
                        update = UsageUpdate(_usage(chunk.usage))
                        assembler.add(update)
                        yield update
                    for choice in chunk.choices or []:
                        delta = choice.delta
                        if delta.content:
                            text = TextDelta(delta.content)
                            assembler.add(text)
                            yield text
                        for call in delta.tool_calls or []:
                            piece = ToolCallDelta(
                                index=call.index,
                                id=call.id,
                                name=call.function.name if call.function else None,
                                arguments=(call.function.arguments or "") if call.function else "",
                            )
                            assembler.add(piece)
                            yield piece
                        if choice.finish_reason:
                            assembler.finish_reason = _FINISH.get(choice.finish_reason, "stop")
                if not chunks:  # a 200 whose body held no event at all: not an answer, whatever its type
                    raise empty_stream("OpenAI", stream.response)
        except LLMError:
            raise
        except Exception as exc:
            raise translate_error(exc, streaming=opened) from exc
        yield StreamDone(assembler.finish((time.perf_counter() - start) * 1000))


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", 0) or 0
    return Usage(
        input_tokens=usage.prompt_tokens or 0,
        output_tokens=usage.completion_tokens or 0,
        cached_tokens=cached,
    )
