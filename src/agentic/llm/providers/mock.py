"""The mock provider: deterministic, offline, scriptable, streams tokens and fails on demand.

Addressed like any provider (`provider: mock`), so users and tests can script whole agent runs through
the API:

- `echo`: answers with the last user message.
- `fixed`: answers `options.reply`.
- `scripted`: `options.script` is a list of turns, each `{"text": …}` or
  `{"tool_calls": [{"name", "arguments"}]}`. The turn is chosen by how many assistant messages the
  conversation already has, so a retried or resumed task gets the same turn again: deterministic, and
  stateless across restarts.
- `match`: `options.rules` is a list of `{"pattern": regex, "reply": … | "tool_calls": …}` tried against
  the last user message; `options.default` otherwise.

All take `options.latency_ms` (before the first token), `options.tokens_per_second` (stream pacing) and
`options.fail`, e.g. `{"status": 429, "times": 2, "retry_after": 1}` or `{"error": "timeout" | "malformed"}`:
the first `times` identical calls fail that way (every call when `times` is absent). A status fails as a
provider's would: 429 rate-limited, 5xx unavailable, 401/403 a refused key (not retried, the next target is
tried), any other an invalid request. Token counts are words.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from agentic.llm.errors import (
    AuthenticationFailed,
    InvalidRequest,
    MalformedResponse,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from agentic.llm.types import (
    LLMRequest,
    LLMResponse,
    StreamChunk,
    StreamDone,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageUpdate,
)

MODELS = ("echo", "fixed", "scripted", "match")
_MAX_FAILURE_KEYS = 10_000


def _words(text: str) -> int:
    return len(text.split())


class MockProvider:
    """The offline provider. One instance per process keeps the fault-injection counters."""

    name = "mock"

    def __init__(self) -> None:
        self._failures: OrderedDict[str, int] = OrderedDict()

    def model(self, model_name: str, options: dict[str, Any]) -> MockModel:
        """A mock model; unknown names are refused."""
        if model_name not in MODELS:
            raise InvalidRequest(f"unknown mock model {model_name!r}; use one of {', '.join(MODELS)}")
        return MockModel(self, model_name, options)

    async def aclose(self) -> None:
        """Nothing to release."""

    def should_fail(self, key: str, times: int | None) -> bool:
        """Count a call under `key`; True while it is among the first `times` (always, without `times`)."""
        if times is None:
            return True
        seen = self._failures.get(key, 0)
        self._failures[key] = seen + 1
        self._failures.move_to_end(key)
        while len(self._failures) > _MAX_FAILURE_KEYS:
            self._failures.popitem(last=False)
        return seen < times


class MockModel:
    """One mock model with its options."""

    provider_name = "mock"

    def __init__(self, provider: MockProvider, model_name: str, options: dict[str, Any]) -> None:
        self.provider = provider
        self.model_name = model_name
        self.options = options

    # --- what to answer -------------------------------------------------------------------------------------

    def _turn(self, request: LLMRequest) -> dict[str, Any]:
        last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        if self.model_name == "echo":
            return {"text": last_user}
        if self.model_name == "fixed":
            return {"text": str(self.options.get("reply", ""))}
        if self.model_name == "scripted":
            script = self.options.get("script") or []
            if not isinstance(script, list):
                raise InvalidRequest("options.script must be a list of turns")
            index = sum(1 for m in request.messages if m.role == "assistant")
            if index >= len(script):
                return {"text": ""}  # the script is over: an empty final answer
            turn = script[index]
            if not isinstance(turn, dict):
                raise InvalidRequest(f"script turn {index} must be an object")
            return turn
        for rule in self.options.get("rules") or []:
            if re.search(str(rule.get("pattern", "")), last_user):
                return {k: v for k, v in rule.items() if k != "pattern"} | (
                    {"text": rule["reply"]} if "reply" in rule else {}
                )
        return {"text": str(self.options.get("default", ""))}

    def _tool_calls(self, turn: dict[str, Any]) -> tuple[ToolCall, ...]:
        calls = turn.get("tool_calls") or []
        return tuple(
            ToolCall(id=f"call_{i}", name=str(c["name"]), arguments=dict(c.get("arguments") or {}))
            for i, c in enumerate(calls)
        )

    def _usage(self, request: LLMRequest, text: str, calls: tuple[ToolCall, ...]) -> Usage:
        prompt = sum(_words(m.content) for m in request.messages)
        output = _words(text) + sum(_words(json.dumps(c.arguments)) + 1 for c in calls)
        return Usage(input_tokens=prompt, output_tokens=output)

    # --- faults ---------------------------------------------------------------------------------------------

    def _fault_key(self, request: LLMRequest) -> str:
        fingerprint = json.dumps(
            [self.model_name, self.options, [(m.role, m.content) for m in request.messages]],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(fingerprint.encode()).hexdigest()

    async def _maybe_fail(self, request: LLMRequest, timeout_s: float) -> bool:
        """Raise the configured fault, or return True if the caller must produce malformed output."""
        fail = self.options.get("fail")
        if not fail:
            return False
        if not self.provider.should_fail(self._fault_key(request), fail.get("times")):
            return False
        error = fail.get("error")
        status = fail.get("status")
        if error == "timeout":
            await asyncio.sleep(timeout_s)
            raise ProviderTimeout(f"mock timeout after {timeout_s}s")
        if error == "malformed":
            return True
        if status == 429:
            raise RateLimited("mock rate limit", status=429, retry_after_s=float(fail.get("retry_after", 1)))
        if status is not None and int(status) >= 500:
            raise ProviderUnavailable(f"mock server error {status}", status=int(status))
        if status is not None and int(status) in (401, 403):
            raise AuthenticationFailed(f"mock refused key {status}", status=int(status))
        if status is not None:
            raise InvalidRequest(f"mock error {status}", status=int(status))
        return False

    async def _delay(self) -> None:
        latency = float(self.options.get("latency_ms", 0))
        if latency > 0:
            await asyncio.sleep(latency / 1000)

    # --- the model interface --------------------------------------------------------------------------------

    async def complete(self, request: LLMRequest, *, timeout_s: float) -> LLMResponse:
        """Answer at once (after the configured latency)."""
        start = time.perf_counter()
        malformed = await self._maybe_fail(request, timeout_s)
        await self._delay()
        if malformed:
            raise MalformedResponse("mock malformed output")
        turn = self._turn(request)
        calls = self._tool_calls(turn)
        text = "" if calls else str(turn.get("text", ""))
        return LLMResponse(
            content=text,
            tool_calls=calls,
            finish_reason="tool_calls" if calls else "stop",
            usage=self._usage(request, text, calls),
            model=self.model_name,
            provider="mock",
            latency_ms=(time.perf_counter() - start) * 1000,
        )

    async def stream(self, request: LLMRequest, *, timeout_s: float) -> AsyncIterator[StreamChunk]:
        """Stream word by word, paced by `tokens_per_second`."""
        start = time.perf_counter()
        malformed = await self._maybe_fail(request, timeout_s)
        await self._delay()
        turn = self._turn(request)
        calls = self._tool_calls(turn)
        rate = float(self.options.get("tokens_per_second", 0))
        pause = 1 / rate if rate > 0 else 0.0
        if calls:
            for index, call in enumerate(calls):
                yield ToolCallDelta(index=index, id=call.id, name=call.name)
                arguments = json.dumps(call.arguments)
                half = len(arguments) // 2
                for piece in (arguments[:half], arguments[half:]):
                    if pause:
                        await asyncio.sleep(pause)
                    yield ToolCallDelta(index=index, arguments=piece)
            text = ""
        else:
            text = str(turn.get("text", ""))
            words = text.split(" ")
            for i, word in enumerate(words):
                if malformed and i == len(words) // 2:
                    raise MalformedResponse("mock malformed stream")
                if pause:
                    await asyncio.sleep(pause)
                yield TextDelta(word if i == 0 else " " + word)
        usage = self._usage(request, text, calls)
        yield UsageUpdate(usage)
        yield StreamDone(
            LLMResponse(
                content=text,
                tool_calls=calls,
                finish_reason="tool_calls" if calls else "stop",
                usage=usage,
                model=self.model_name,
                provider="mock",
                latency_ms=(time.perf_counter() - start) * 1000,
            )
        )
