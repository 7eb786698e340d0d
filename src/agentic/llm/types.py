"""The provider-independent request, response and stream types of the LLM gateway.

Plain slotted dataclasses: a worker holds thousands of calls in flight, and these are created per token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from agentic.llm.errors import MalformedResponse

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]
ToolChoice = Literal["auto", "none", "required"] | str  # a tool's name forces that tool


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call requested by the model."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a conversation."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # for role "tool": which call this answers
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A tool the model may call; `parameters` is a JSON Schema object."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """Ask for JSON matching a schema."""

    json_schema: dict[str, Any]
    name: str = "response"
    strict: bool = True


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """A chat request, independent of any provider's wire format."""

    messages: tuple[Message, ...]
    tools: tuple[ToolDefinition, ...] = ()
    tool_choice: ToolChoice = "auto"
    temperature: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    response_format: ResponseFormat | None = None
    timeout_s: float | None = None  # per call; the gateway's default when None

    @property
    def system_prompt(self) -> str:
        """The system messages joined (providers that take the system prompt separately need it)."""
        return "\n\n".join(m.content for m in self.messages if m.role == "system")


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens consumed by one call."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_tokens + other.cached_tokens,
        )


@dataclass(frozen=True, slots=True)
class LLMResponse:
    """A complete answer."""

    content: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: FinishReason
    usage: Usage
    model: str
    provider: str
    latency_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of streamed text."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a streamed tool call; `arguments` is a fragment of its JSON."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    """Token counts reported during a stream."""

    usage: Usage


@dataclass(frozen=True, slots=True)
class StreamDone:
    """The last chunk of a stream: the assembled response."""

    response: LLMResponse


StreamChunk = TextDelta | ToolCallDelta | UsageUpdate | StreamDone


@dataclass(slots=True)
class StreamAssembler:
    """Builds the final `LLMResponse` from stream chunks (shared by every adapter)."""

    provider: str
    model: str
    text: list[str] = field(default_factory=list)
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    finish_reason: FinishReason = "stop"

    def add(self, chunk: TextDelta | ToolCallDelta | UsageUpdate) -> None:
        """Fold a chunk in."""
        if isinstance(chunk, TextDelta):
            self.text.append(chunk.text)
        elif isinstance(chunk, ToolCallDelta):
            call = self.calls.setdefault(chunk.index, {"id": "", "name": "", "arguments": []})
            call["id"] = chunk.id or call["id"]
            call["name"] = chunk.name or call["name"]
            call["arguments"].append(chunk.arguments)
        else:
            self.usage = chunk.usage

    def finish(self, latency_ms: float) -> LLMResponse:
        """The assembled response. Tool-call arguments must form valid JSON objects."""
        tool_calls = []
        for index in sorted(self.calls):
            call = self.calls[index]
            raw = "".join(call["arguments"]) or "{}"
            try:
                arguments = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise MalformedResponse(f"tool call arguments are not valid JSON: {raw[:200]!r}") from exc
            if not isinstance(arguments, dict):
                raise MalformedResponse("tool call arguments must be a JSON object")
            tool_calls.append(
                ToolCall(id=call["id"] or f"call_{index}", name=call["name"], arguments=arguments)
            )
        return LLMResponse(
            content="".join(self.text),
            tool_calls=tuple(tool_calls),
            finish_reason="tool_calls" if tool_calls and self.finish_reason == "stop" else self.finish_reason,
            usage=self.usage,
            model=self.model,
            provider=self.provider,
            latency_ms=latency_ms,
        )
