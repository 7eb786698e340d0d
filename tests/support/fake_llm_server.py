"""A fake LLM provider: the OpenAI Chat Completions and Anthropic Messages wire formats, on localhost.

Contract tests and the benchmark point the real, official SDKs (`openai`, `anthropic`) at it, so nothing
leaves the machine and every answer is deterministic.

Routes:
    `POST /v1/chat/completions`  OpenAI Chat Completions (plain JSON or `stream: true` SSE).
    `POST /v1/messages`          Anthropic Messages (plain JSON or `stream: true` SSE).
    `GET /health`                `{"status": "ok"}`.
    `POST /control/reset`        Forget every counter (including the `status=<code>:<n>` ones).
    `GET /control/stats`         Counters: requests per path, per model string and per response status.

Behaviour is chosen by the request's `model` string, so a test needs no side channel: a plain name
(`gpt-test`, `claude-test`) answers normally; directives follow as `+`-separated suffixes, e.g.
`gpt-test+latency=2000+status=429:2+retry_after=1`:

    `latency=<ms>`      Sleep before answering (when streaming: before the response headers and first chunk).
    `status=<code>[:n]` The first n requests with this exact model string answer `<code>` with the provider's
                        error body; later ones succeed. Without `:n`, always. Counted per full model string
                        since the server started or was last reset.
    `retry_after=<s>`   The `retry-after` header (seconds) of error answers; a 429 always has one (default 1).
    `hang`              Never answer (sleeps an hour): for client timeout tests.
    `malformed`         Answer 200 with a body that is not JSON; when streaming, one valid event and then an
                        event whose data is not JSON (and no proper end of stream).
    `tools`             Call the request's first tool with arguments `{"query": "weather in Paris", "n": 1}`
                        instead of answering in text; streamed arguments come in several fragments.
    `tokens=<n>`        The reply has exactly n words (the echo repeated or cut); streamed one word per chunk.
    `tps=<n>`           When streaming, pace the words at n per second (after the first).
    `stream_error=<type>[:n]`  When streaming, the first n requests (every one without `:n`) send the
                        provider's in-stream error of that type (`overloaded_error`, `api_error`,
                        `server_error`, …) after `error_after` token events, then end: Anthropic's
                        `event: error`, OpenAI-compatible servers' `data: {"error": …}`.
    `error_after=<n>`   Token events sent before a `stream_error` (default 0: before any content).
    `cut=<n>`           When streaming, drop the connection after n token events (no proper end of stream).
    `html`              Answer `200` with an HTML page (a captive portal's), streaming or not.
    `usage_late`        Anthropic streams report 0 input tokens at `message_start` and the real count only in
                        `message_delta` (as LiteLLM's /v1/messages does).
    `echo_params`       The reply is the JSON (one "word") of the request's other fields: sampling parameters
                        such as `temperature`, `top_p`, `max_tokens`, `stop`/`stop_sequences`, `top_k`.
    `traceback`         Error answers (`status=`) carry a 1,600-character Python traceback in their message.

Requests are checked as the strictest servers check them: an OpenAI assistant message whose `content` is
`null` is answered with a 500 (llama-cpp-python's server does), an Anthropic text block that is empty with a
400 (the Messages API does).

The text reply is `"echo:"` followed by the words of the last user message, joined by single spaces. Token
counts are words: input = every word of the system prompt and of every message's text; output = the reply's
words (for a tool call, the words of the arguments JSON). A request's `max_tokens` (or
`max_completion_tokens`) cuts the reply, with finish reason `length` / stop reason `max_tokens`.

Run it with `python -m tests.support.fake_llm_server --host 127.0.0.1 --port N`, or in tests with
`run_fake_llm_server()` / the session-scoped `fake_llm_server` fixture (import `fake_llm_server_fixture`
into a test module or conftest to register it).
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import pytest
from aiohttp import web

from tests.support.processes import REPO, wait_answering
from tests.support.services import free_port

OPENAI_PATH: Final = "/v1/chat/completions"
ANTHROPIC_PATH: Final = "/v1/messages"

TOOL_ARGUMENTS: Final[dict[str, object]] = {"query": "weather in Paris", "n": 1}
"""What the `tools` directive passes to the requested tool."""

HANG_SECONDS: Final = 3600.0

HTML_PAGE: Final = (
    "<!DOCTYPE html><html><head><title>Guest Wi-Fi - Sign in</title></head>"
    "<body><h1>Welcome</h1><p>Accept the terms to continue.</p></body></html>"
)
"""What the `html` directive answers: a captive portal's page."""

TRACEBACK: Final = (
    "\nTraceback (most recent call last):\n"
    + '  File "/srv/llm/server.py", line 812, in handle_request\n    result = await self.generate(req)\n' * 16
    + "RuntimeError: CUDA out of memory while generating"
)
"""What the `traceback` directive appends to an error's message (about 1,600 characters)."""
_ARGUMENT_FRAGMENT_CHARS: Final = 8  # the 39-character arguments JSON streams as 5 fragments


# --- the model-string grammar -----------------------------------------------------------------------


class ScenarioError(ValueError):
    """A model string whose directives cannot be understood."""


@dataclass(frozen=True)
class Scenario:
    """What a model string asks the server to do (see the module docstring for the grammar)."""

    model: str
    name: str
    latency_ms: int = 0
    status: int | None = None
    status_times: int | None = None  # None: every request
    retry_after: str | None = None
    hang: bool = False
    malformed: bool = False
    tools: bool = False
    tokens: int | None = None
    tps: float | None = None
    stream_error: str | None = None
    stream_error_times: int | None = None  # None: every request
    error_after: int = 0
    cut: int | None = None
    html: bool = False
    usage_late: bool = False
    echo_params: bool = False
    traceback: bool = False

    def fails(self, request_number: int) -> bool:
        """True if the `request_number`-th request (1-based) with this model string answers `status`."""
        if self.status is None:
            return False
        return self.status_times is None or request_number <= self.status_times

    def stream_fails(self, request_number: int) -> bool:
        """True if the `request_number`-th request (1-based) streams the `stream_error`."""
        if self.stream_error is None:
            return False
        return self.stream_error_times is None or request_number <= self.stream_error_times


_FLAGS: Final = ("hang", "malformed", "tools", "html", "usage_late", "echo_params", "traceback")
_DIRECTIVES: Final = (
    "latency",
    "status",
    "retry_after",
    "tokens",
    "tps",
    "stream_error",
    "error_after",
    "cut",
    *_FLAGS,
)


def _int(key: str, value: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ScenarioError(f"{key}={value!r}: not an integer") from None
    if number < minimum:
        raise ScenarioError(f"{key}={value!r}: must be at least {minimum}")
    return number


def _number(key: str, value: str, *, allow_zero: bool) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ScenarioError(f"{key}={value!r}: not a number") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise ScenarioError(
            f"{key}={value!r}: must be a finite {'non-negative' if allow_zero else 'positive'} number"
        )
    return number


def _directive(key: str, value: str) -> dict[str, Any]:  # noqa: PLR0911  # one return per directive
    """The `Scenario` fields one directive sets."""
    match key:
        case "latency":
            return {"latency_ms": _int(key, value, 0)}
        case "status":
            code, has_times, times = value.partition(":")
            status = _int(key, code, 400)
            if status > 599:
                raise ScenarioError(f"status={value!r}: must be an HTTP error status (400-599)")
            return {"status": status, "status_times": _int(key, times, 0) if has_times else None}
        case "retry_after":
            seconds = _number(key, value, allow_zero=True)
            return {"retry_after": str(int(seconds)) if seconds.is_integer() else value}
        case "tokens":
            return {"tokens": _int(key, value, 1)}
        case "tps":
            return {"tps": _number(key, value, allow_zero=False)}
        case "stream_error":
            kind, has_times, times = value.partition(":")
            if not kind.replace("_", "").isalnum():
                raise ScenarioError(f"stream_error={value!r}: the error type is a word such as api_error")
            return {"stream_error": kind, "stream_error_times": _int(key, times, 0) if has_times else None}
        case "error_after":
            return {"error_after": _int(key, value, 0)}
        case "cut":
            return {"cut": _int(key, value, 0)}
        case _:
            return {key: True}


def parse_model(model: str) -> Scenario:
    """Read the directives of a model string such as `gpt-test+latency=2000+status=429:2`.

    Args:
        model: The request's `model` value.

    Returns:
        The scenario it describes.

    Raises:
        ScenarioError: An empty name, an unknown or repeated directive, or a bad value.
    """
    name, *directives = model.split("+")
    if not name:
        raise ScenarioError(f"model {model!r} has no name before its directives")
    values: dict[str, Any] = {}
    seen: set[str] = set()
    for directive in directives:
        key, has_value, value = directive.partition("=")
        if key not in _DIRECTIVES:
            raise ScenarioError(f"unknown directive {directive!r} (known: {', '.join(_DIRECTIVES)})")
        if key in seen:
            raise ScenarioError(f"directive {key!r} given twice")
        seen.add(key)
        if key in _FLAGS and has_value:
            raise ScenarioError(f"directive {directive!r}: {key} takes no value")
        if key not in _FLAGS and not value:
            raise ScenarioError(f"directive {directive!r} needs a value ({key}=...)")
        values.update(_directive(key, value))
    return Scenario(model=model, name=name, **values)


# --- what was asked, and what to answer --------------------------------------------------------------


class _BadRequest(Exception):
    """The request is not something the provider would accept (answered with `status`, 400 by default)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class _Call:
    """The parts of a request the fake looks at."""

    model: str
    stream: bool
    include_usage: bool
    last_user_text: str
    input_tokens: int
    first_tool: str | None
    max_tokens: int | None
    params: dict[str, Any] = field(default_factory=dict)  # the request's other fields, for `echo_params`


@dataclass(frozen=True)
class _Reply:
    """The answer: text words, or a tool call; `finish` is "stop", "length" or "tool"."""

    finish: str
    words: list[str] = field(default_factory=list)
    tool_name: str = ""
    tool_arguments: str = ""
    tool_call_id: str = ""

    @property
    def text(self) -> str:
        return " ".join(self.words)

    @property
    def pieces(self) -> list[str]:
        """The text as streamed: one word per chunk, spaces leading, so the pieces concatenate to `text`."""
        return [word if i == 0 else f" {word}" for i, word in enumerate(self.words)]

    @property
    def argument_fragments(self) -> list[str]:
        args = self.tool_arguments
        return [args[i : i + _ARGUMENT_FRAGMENT_CHARS] for i in range(0, len(args), _ARGUMENT_FRAGMENT_CHARS)]

    @property
    def output_tokens(self) -> int:
        return len(self.tool_arguments.split()) if self.finish == "tool" else len(self.words)


def _text_of(content: object) -> str:
    """The text in a message's content: a string, or text parts/blocks (tool results included)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(text for item in content if (text := _text_of(item)))
    if isinstance(content, dict):
        if isinstance(content.get("text"), str):
            return str(content["text"])
        return _text_of(content.get("content"))
    return ""


def _words(text: str) -> int:
    return len(text.split())


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _optional_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _BadRequest(f"{key} must be a positive integer")
    return value


# Request fields that are not parameters of the answer (what `echo_params` leaves out).
_NOT_PARAMS: Final = frozenset(
    {"model", "messages", "system", "stream", "stream_options", "tools", "tool_choice", "metadata"}
)


def _params(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key not in _NOT_PARAMS}


def _reply(call: _Call, scenario: Scenario, tool_call_id: str) -> _Reply:
    if scenario.echo_params:
        return _Reply("stop", words=[json.dumps(call.params, sort_keys=True, separators=(",", ":"))])
    if scenario.tools:
        assert call.first_tool is not None  # checked when the request was read
        arguments = json.dumps(TOOL_ARGUMENTS)
        return _Reply("tool", tool_name=call.first_tool, tool_arguments=arguments, tool_call_id=tool_call_id)
    words = ["echo:", *call.last_user_text.split()]
    if scenario.tokens is not None:
        words = list(itertools.islice(itertools.cycle(words), scenario.tokens))
    if call.max_tokens is not None and len(words) > call.max_tokens:
        return _Reply("length", words=words[: call.max_tokens])
    return _Reply("stop", words=words)


def _dumps(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _new_id() -> str:
    return uuid.uuid4().hex[:24]


# --- the two providers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Event:
    """One SSE event, ready to send; `token` events are the ones `tps=` paces."""

    data: bytes
    token: bool = False


class _Provider(abc.ABC):
    """What differs between the wire formats."""

    path: str
    request_id_header: str
    tool_id_prefix: str
    malformed_body: bytes = b'{"id": "x", "choices": ['

    @abc.abstractmethod
    def authenticated(self, request: web.Request) -> bool:
        """True if the request carries a (non-empty) API key."""

    @abc.abstractmethod
    def error_body(self, status: int, message: str) -> dict[str, Any]:
        """The provider's error body for an HTTP status."""

    @abc.abstractmethod
    def read(self, body: dict[str, Any], scenario: Scenario) -> _Call:
        """The parts of the body the fake looks at; raises `_BadRequest` where the API would refuse it."""

    @abc.abstractmethod
    def message(self, call: _Call, reply: _Reply) -> dict[str, Any]:
        """The non-streaming answer."""

    @abc.abstractmethod
    def events(self, call: _Call, reply: _Reply, *, usage_late: bool = False) -> list[_Event]:
        """The streaming answer (`usage_late`: input tokens only at the end, where the format has a start)."""

    @abc.abstractmethod
    def malformed_events(self, call: _Call) -> list[_Event]:
        """A stream that breaks: one valid event, then one whose data is not JSON."""

    @abc.abstractmethod
    def stream_error(self, kind: str, message: str) -> _Event:
        """The provider's error event inside a stream."""

    @staticmethod
    def bearer_key(request: web.Request) -> str:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        return key.strip() if scheme.lower() == "bearer" else ""


def _messages(body: dict[str, Any]) -> list[Any]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _BadRequest("messages must be a non-empty array")
    return messages


class _OpenAI(_Provider):
    path = OPENAI_PATH
    request_id_header = "x-request-id"
    tool_id_prefix = "call"

    _ERRORS: Final[dict[int, tuple[str, str]]] = {
        400: ("invalid_request_error", "invalid_request"),
        401: ("invalid_request_error", "invalid_api_key"),
        403: ("invalid_request_error", "permission_denied"),
        404: ("invalid_request_error", "model_not_found"),
        429: ("requests", "rate_limit_exceeded"),
    }
    _FINISH: Final[dict[str, str]] = {"stop": "stop", "length": "length", "tool": "tool_calls"}

    def authenticated(self, request: web.Request) -> bool:
        return bool(self.bearer_key(request))

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind, code = self._ERRORS.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", "")
        )
        return {"error": {"message": message, "type": kind, "param": None, "code": code or f"http_{status}"}}

    def read(self, body: dict[str, Any], scenario: Scenario) -> _Call:
        messages = _messages(body)
        first_tool: str | None = None
        tools = body.get("tools")
        if isinstance(tools, list) and tools:
            function = tools[0].get("function") if isinstance(tools[0], dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise _BadRequest("tools[0].function.name is required")
            first_tool = function["name"]
        if scenario.tools and first_tool is None:
            raise _BadRequest("the `tools` directive needs a `tools` list in the request")
        for message in messages:
            if isinstance(message, dict) and "content" in message and message["content"] is None:
                # llama-cpp-python's server renders the conversation with a template that needs a string.
                raise _BadRequest('can only concatenate str (not "NoneType") to str', status=500)
        options = body.get("stream_options")
        return _Call(
            model=scenario.model,
            stream=body.get("stream") is True,
            include_usage=isinstance(options, dict) and options.get("include_usage") is True,
            last_user_text=_last_user_text(messages),
            input_tokens=sum(_words(_text_of(m.get("content"))) for m in messages if isinstance(m, dict)),
            first_tool=first_tool,
            max_tokens=_optional_int(body, "max_completion_tokens") or _optional_int(body, "max_tokens"),
            params=_params(body),
        )

    @staticmethod
    def _usage(call: _Call, reply: _Reply) -> dict[str, Any]:
        return {
            "prompt_tokens": call.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": call.input_tokens + reply.output_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def message(self, call: _Call, reply: _Reply) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text,
            "refusal": None,
            "annotations": [],
        }
        if reply.finish == "tool":
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": reply.tool_call_id,
                    "type": "function",
                    "function": {"name": reply.tool_name, "arguments": reply.tool_arguments},
                }
            ]
        return {
            "id": f"chatcmpl-{_new_id()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": self._FINISH[reply.finish],
                }
            ],
            "usage": self._usage(call, reply),
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }

    def _chunker(self, call: _Call) -> Callable[..., bytes]:
        completion_id, created = f"chatcmpl-{_new_id()}", int(time.time())

        def chunk(delta: dict[str, Any] | None, finish: str | None = None, *, usage: object = None) -> bytes:
            data: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": call.model,
                "service_tier": "default",
                "system_fingerprint": "fp_fake",
                "choices": []
                if delta is None
                else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if call.include_usage:
                data["usage"] = usage
            return b"data: " + _dumps(data) + b"\n\n"

        return chunk

    def events(self, call: _Call, reply: _Reply, *, usage_late: bool = False) -> list[_Event]:
        chunk = self._chunker(call)
        events: list[_Event] = []
        if reply.finish == "tool":
            start = {"index": 0, "id": reply.tool_call_id, "type": "function"}
            events.append(
                _Event(
                    chunk(
                        {
                            "role": "assistant",
                            "content": None,
                            "refusal": None,
                            "tool_calls": [{**start, "function": {"name": reply.tool_name, "arguments": ""}}],
                        }
                    )
                )
            )
            events.extend(
                _Event(chunk({"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}), token=True)
                for fragment in reply.argument_fragments
            )
        else:
            events.append(_Event(chunk({"role": "assistant", "content": "", "refusal": None})))
            events.extend(_Event(chunk({"content": piece}), token=True) for piece in reply.pieces)
        events.append(_Event(chunk({}, self._FINISH[reply.finish])))
        if call.include_usage:
            events.append(_Event(chunk(None, usage=self._usage(call, reply))))
        events.append(_Event(b"data: [DONE]\n\n"))
        return events

    def malformed_events(self, call: _Call) -> list[_Event]:
        chunk = self._chunker(call)
        return [
            _Event(chunk({"role": "assistant", "content": "", "refusal": None})),
            _Event(b"data: " + self.malformed_body + b"\n\n"),
        ]

    def stream_error(self, kind: str, message: str) -> _Event:
        # What vLLM and LiteLLM send when the model fails mid-answer (the SDK raises `openai.APIError`).
        return _Event(
            b"data: " + _dumps({"error": {"message": message, "type": kind, "param": None}}) + b"\n\n"
        )


class _Anthropic(_Provider):
    path = ANTHROPIC_PATH
    request_id_header = "request-id"
    tool_id_prefix = "toolu"

    _ERRORS: Final[dict[int, str]] = {
        400: "invalid_request_error",
        401: "authentication_error",
        402: "billing_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        504: "timeout_error",
        529: "overloaded_error",
    }
    _STOP: Final[dict[str, str]] = {"stop": "end_turn", "length": "max_tokens", "tool": "tool_use"}

    def authenticated(self, request: web.Request) -> bool:
        # The API takes `x-api-key`; the anthropic SDK 2.x sends its `api_key` as `Authorization: Bearer`.
        return bool(request.headers.get("x-api-key", "").strip() or self.bearer_key(request))

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = self._ERRORS.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def read(self, body: dict[str, Any], scenario: Scenario) -> _Call:
        messages = _messages(body)
        max_tokens = _optional_int(body, "max_tokens")
        if max_tokens is None:
            raise _BadRequest("max_tokens: Field required")
        first_tool: str | None = None
        tools = body.get("tools")
        if isinstance(tools, list) and tools:
            if not isinstance(tools[0], dict) or not isinstance(tools[0].get("name"), str):
                raise _BadRequest("tools.0.name: Field required")
            first_tool = tools[0]["name"]
        if scenario.tools and first_tool is None:
            raise _BadRequest("the `tools` directive needs a `tools` list in the request")
        for index, message in enumerate(messages):
            blocks = message.get("content") if isinstance(message, dict) else None
            for block in blocks if isinstance(blocks, list) else []:
                if isinstance(block, dict) and block.get("type") == "text" and not block.get("text"):
                    raise _BadRequest(f"messages.{index}: text content blocks must be non-empty")
        input_tokens = _words(_text_of(body.get("system"))) + sum(
            _words(_text_of(m.get("content"))) for m in messages if isinstance(m, dict)
        )
        return _Call(
            model=scenario.model,
            stream=body.get("stream") is True,
            include_usage=True,
            last_user_text=_last_user_text(messages),
            input_tokens=input_tokens,
            first_tool=first_tool,
            max_tokens=max_tokens,
            params=_params(body),
        )

    @staticmethod
    def _usage(call: _Call, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": call.input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard",
        }

    @staticmethod
    def _content(reply: _Reply) -> dict[str, Any]:
        if reply.finish == "tool":
            return {
                "type": "tool_use",
                "id": reply.tool_call_id,
                "name": reply.tool_name,
                "input": TOOL_ARGUMENTS,
            }
        return {"type": "text", "text": reply.text}

    def _start(self, call: _Call, *, usage_late: bool = False) -> bytes:
        message: dict[str, Any] = {
            "id": f"msg_{_new_id()}",
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self._usage(call, 0) | ({"input_tokens": 0} if usage_late else {}),
        }
        return self._sse("message_start", {"type": "message_start", "message": message})

    @staticmethod
    def _sse(event: str, data: dict[str, Any]) -> bytes:
        return b"event: " + event.encode() + b"\ndata: " + _dumps(data) + b"\n\n"

    def message(self, call: _Call, reply: _Reply) -> dict[str, Any]:
        return {
            "id": f"msg_{_new_id()}",
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": [self._content(reply)],
            "stop_reason": self._STOP[reply.finish],
            "stop_sequence": None,
            "usage": self._usage(call, reply.output_tokens),
        }

    def events(self, call: _Call, reply: _Reply, *, usage_late: bool = False) -> list[_Event]:
        sse = self._sse
        if reply.finish == "tool":
            block = {**self._content(reply), "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": part} for part in ["", *reply.argument_fragments]
            ]
        else:
            block = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in reply.pieces]
        usage = {**self._usage(call, reply.output_tokens)}
        del usage["service_tier"]
        return [
            _Event(self._start(call, usage_late=usage_late)),
            _Event(
                sse(
                    "content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}
                )
            ),
            _Event(sse("ping", {"type": "ping"})),
            *(
                _Event(
                    sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": d}),
                    token=True,
                )
                for d in deltas
            ),
            _Event(sse("content_block_stop", {"type": "content_block_stop", "index": 0})),
            _Event(
                sse(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": self._STOP[reply.finish], "stop_sequence": None},
                        "usage": usage,
                    },
                )
            ),
            _Event(sse("message_stop", {"type": "message_stop"})),
        ]

    def malformed_events(self, call: _Call) -> list[_Event]:
        return [
            _Event(self._start(call)),
            _Event(b"event: content_block_start\ndata: " + self.malformed_body + b"\n\n"),
        ]

    def stream_error(self, kind: str, message: str) -> _Event:
        # The Messages API's in-stream error, e.g. `overloaded_error` when capacity runs out mid-answer.
        return _Event(self._sse("error", {"type": "error", "error": {"type": kind, "message": message}}))


# --- the server ---------------------------------------------------------------------------------------


@dataclass
class _Stats:
    """Counters, reset by `POST /control/reset`; the `status=<code>:<n>` directive reads `scenarios`."""

    paths: Counter[str] = field(default_factory=Counter)
    scenarios: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0

    def reset(self) -> None:
        self.paths.clear()
        self.scenarios.clear()
        self.statuses.clear()
        self.max_in_flight = self.in_flight

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": sum(self.paths.values()),
            "paths": dict(self.paths),
            "scenarios": dict(self.scenarios),
            "statuses": dict(self.statuses),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
        }


_STATS: Final = web.AppKey("fake_llm_stats", _Stats)


def _error(
    provider: _Provider, status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(provider.error_body(status, message), status=status, headers=headers)


def _broken(events: list[_Event], after: int, tail: _Event | None) -> list[_Event]:
    """The events up to the `after`-th token event, then `tail` (an in-stream error) if any."""
    kept: list[_Event] = []
    tokens = 0
    for event in events:
        if event.token:
            if tokens == after:
                break
            tokens += 1
        kept.append(event)
    return kept + ([tail] if tail is not None else [])


async def _stream(
    request: web.Request, events: list[_Event], tps: float | None, *, cut: bool = False
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Cache-Control": "no-cache"})
    response.content_type = "text/event-stream"
    response.charset = "utf-8"
    await response.prepare(request)
    delay, paced = (1 / tps if tps else 0.0), False
    try:
        for event in events:
            if event.token and delay:
                if paced:
                    await asyncio.sleep(delay)
                paced = True
            await response.write(event.data)
        if cut:  # the connection drops: no last chunk of the chunked body, no end of stream
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write_eof()
    except ConnectionError:  # the client went away mid-stream
        pass
    return response


async def _read(request: web.Request, provider: _Provider) -> tuple[Scenario, _Call] | web.Response:
    """What the request asks for, or the error answer to a request the provider would refuse."""
    if not provider.authenticated(request):
        return _error(provider, 401, "Incorrect API key provided: no API key was sent.")
    try:
        body = await request.json()
    except ValueError:
        return _error(provider, 400, "The request body is not valid JSON.")
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return _error(provider, 400, "model: a string is required")
    try:
        scenario = parse_model(body["model"])
        return scenario, provider.read(body, scenario)
    except ScenarioError as exc:
        return _error(provider, 400, str(exc))
    except _BadRequest as exc:
        return _error(provider, exc.status, str(exc))


async def _fault(
    request: web.Request, provider: _Provider, scenario: Scenario, call: _Call, number: int
) -> web.StreamResponse | None:
    """The answer the scenario's `hang`, `status` or `malformed` directive asks for, if any."""
    if scenario.hang:
        await asyncio.sleep(HANG_SECONDS)
        return _error(provider, 504, "The fake server hung for an hour, as asked.")
    if scenario.status is not None and scenario.fails(number):
        headers: dict[str, str] = {}
        if scenario.retry_after is not None or scenario.status == 429:
            headers["retry-after"] = scenario.retry_after or "1"
        message = f"Fake error {scenario.status} (request {number})." + (
            TRACEBACK if scenario.traceback else ""
        )
        return _error(provider, scenario.status, message, headers)
    if scenario.html:
        return web.Response(text=HTML_PAGE, content_type="text/html")
    if scenario.malformed and call.stream:
        return await _stream(request, provider.malformed_events(call), None)
    if scenario.malformed:
        return web.Response(body=provider.malformed_body, content_type="application/json")
    return None


async def _answer(request: web.Request, provider: _Provider, stats: _Stats) -> web.StreamResponse:
    read = await _read(request, provider)
    if isinstance(read, web.Response):
        return read
    scenario, call = read
    stats.scenarios[scenario.model] += 1
    number = stats.scenarios[scenario.model]
    if scenario.latency_ms:
        await asyncio.sleep(scenario.latency_ms / 1000)
    if (fault := await _fault(request, provider, scenario, call, number)) is not None:
        return fault
    reply = _reply(call, scenario, tool_call_id=f"{provider.tool_id_prefix}_{_new_id()}")
    if call.stream:
        events = provider.events(call, reply, usage_late=scenario.usage_late)
        if scenario.stream_error is not None and scenario.stream_fails(number):
            message = f"Fake {scenario.stream_error} mid-stream (request {number})."
            tail = provider.stream_error(scenario.stream_error, message)
            return await _stream(request, _broken(events, scenario.error_after, tail), scenario.tps)
        if scenario.cut is not None:
            return await _stream(request, _broken(events, scenario.cut, None), scenario.tps, cut=True)
        return await _stream(request, events, scenario.tps)
    return web.Response(body=_dumps(provider.message(call, reply)), content_type="application/json")


_OPENAI: Final = _OpenAI()
_ANTHROPIC: Final = _Anthropic()


def _handler(provider: _Provider) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        stats = request.app[_STATS]
        stats.paths[provider.path] += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            response = await _answer(request, provider, stats)
        finally:
            stats.in_flight -= 1
        stats.statuses[str(response.status)] += 1
        return response

    return handle


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """Give every provider answer (errors and streams included) a request id header, as the real APIs do."""
    for provider in (_OPENAI, _ANTHROPIC):
        if request.path == provider.path:
            response.headers[provider.request_id_header] = f"req_{_new_id()}"


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _reset(request: web.Request) -> web.Response:
    request.app[_STATS].reset()
    return web.json_response({"status": "reset"})


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[_STATS].as_json())


def build_app() -> web.Application:
    """The fake provider as an aiohttp application (routes are listed in the module docstring).

    Returns:
        A new application with counters of its own.
    """
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[_STATS] = _Stats()
    app.on_response_prepare.append(_add_request_id)
    app.router.add_post(OPENAI_PATH, _handler(_OPENAI))
    app.router.add_post(ANTHROPIC_PATH, _handler(_ANTHROPIC))
    app.router.add_get("/health", _health)
    app.router.add_post("/control/reset", _reset)
    app.router.add_get("/control/stats", _stats)
    return app


def _raise_open_files_limit() -> None:
    """Thousands of concurrent connections need as many descriptors: lift the soft limit to the hard one."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 65536 if hard == resource.RLIM_INFINITY else hard
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the fake provider until interrupted (SIGINT or SIGTERM).

    Args:
        argv: Command-line arguments (`--host`, `--port`, `--backlog`); `sys.argv[1:]` when None.
    """
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.fake_llm_server", description="A fake OpenAI/Anthropic API server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--backlog", type=int, default=8192)
    args = parser.parse_args(argv)
    _raise_open_files_limit()
    web.run_app(
        build_app(),
        host=args.host,
        port=args.port,
        access_log=None,
        backlog=args.backlog,
        handler_cancellation=True,  # a client that gives up (timeouts, `hang`) frees its handler at once
        shutdown_timeout=1.0,
        loop=_event_loop(),
    )


# --- running it from tests ------------------------------------------------------------------------------


class FakeLLMServerError(RuntimeError):
    """The fake server did not start."""


@dataclass(frozen=True)
class FakeLLMServer:
    """A running fake server (a subprocess), as `run_fake_llm_server()` yields it."""

    base_url: str
    process: subprocess.Popen[bytes]

    @property
    def openai_base_url(self) -> str:
        """The `base_url` for `openai.OpenAI` / `openai.AsyncOpenAI` (ends in `/v1`)."""
        return f"{self.base_url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The `base_url` for `anthropic.Anthropic` / `anthropic.AsyncAnthropic`."""
        return self.base_url

    def reset(self) -> None:
        """Forget every counter (request counts and `status=<code>:<n>` progress)."""
        httpx.post(f"{self.base_url}/control/reset", timeout=10, trust_env=False).raise_for_status()

    def stats(self) -> dict[str, Any]:
        """The counters since start or the last reset.

        Returns:
            `requests` (total), `paths` and `scenarios` (requests per path and per model string), `statuses`
            (responses per HTTP status, as strings), `in_flight` and `max_in_flight`.
        """
        response = httpx.get(f"{self.base_url}/control/stats", timeout=10, trust_env=False)
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats


@contextlib.contextmanager
def run_fake_llm_server(host: str = "127.0.0.1", startup_timeout: float = 20.0) -> Iterator[FakeLLMServer]:
    """Run the fake server as a subprocess on a free port for the duration of the block.

    Args:
        host: Interface to listen on.
        startup_timeout: Seconds to wait for `/health` to answer.

    Yields:
        The running server.

    Raises:
        FakeLLMServerError: It exited or did not become healthy in time (its output is in the message).
    """
    port = free_port()
    base_url = f"http://{host}:{port}"
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tests.support.fake_llm_server", "--host", host, "--port", str(port)],
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            if problem := wait_answering(process, f"{base_url}/health", startup_timeout, interval_s=0.05):
                output.seek(0)
                text = output.read().decode(errors="replace")
                raise FakeLLMServerError(f"fake LLM server on port {port} {problem}; its output:\n{text}")
            yield FakeLLMServer(base_url=base_url, process=process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session", name="fake_llm_server")
def fake_llm_server_fixture() -> Iterator[FakeLLMServer]:
    """The session's fake LLM server; counters are shared, so call `reset()` or use unique model strings."""
    with run_fake_llm_server() as server:
        yield server


if __name__ == "__main__":
    main()
