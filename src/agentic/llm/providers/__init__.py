"""LLM providers: each owns auth, base URL and client lifetime, and hands out model adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from agentic.llm.types import LLMRequest, LLMResponse, StreamChunk


class ChatModel(Protocol):
    """A model adapter: translates our request/response types to one provider's wire format."""

    provider_name: str
    model_name: str

    async def complete(self, request: LLMRequest, *, timeout_s: float) -> LLMResponse:
        """One complete answer."""
        ...

    def stream(self, request: LLMRequest, *, timeout_s: float) -> AsyncIterator[StreamChunk]:
        """The answer as chunks; the last one is `StreamDone`."""
        ...


class Provider(Protocol):
    """Owns the client (connection pool, auth) for one provider account."""

    name: str

    def model(self, model_name: str, options: dict[str, object]) -> ChatModel:
        """An adapter for `model_name` with provider-specific options."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
