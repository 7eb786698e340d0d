"""The `agent` runner: an agent version's model on the task input, tokens streamed into the task's events.

This is the engine-facing half of the agent loop. It makes one checkpointed LLM step (so a retried task does
not pay for the call again); tool calls, limits and approvals arrive with the agents feature (issue 6).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentic.db.models import AgentVersion, Organization
from agentic.engine.runners import RunContext, Runner, StepFailed, StepInfo
from agentic.errors import AgenticError
from agentic.llm import (
    AllTargetsFailed,
    LLMError,
    LLMGateway,
    LLMRequest,
    LLMResponse,
    Message,
    StreamDone,
    Target,
    TextDelta,
)
from agentic.llm.redaction import redact
from agentic.prompts import render_prompt
from agentic.services.llm import call_context, stores_llm_content

# Tokens are appended to the event log in small batches: one row per token would be wasteful.
_TOKEN_BATCH = 16
_TOKEN_FLUSH_S = 0.25


def _targets(model: dict[str, Any]) -> list[Target]:
    chain = [model, *(model.get("fallbacks") or [])]
    return [
        Target(str(m.get("provider", "mock")), str(m.get("name", "echo")), dict(m.get("options") or {}))
        for m in chain
    ]


def make_agent_runner(gateway: LLMGateway, sessions: async_sessionmaker[AsyncSession]) -> Runner:
    """The `agent` runner bound to the process's gateway."""

    async def run(ctx: RunContext) -> Any:
        async with sessions() as session:
            version = await session.get(AgentVersion, ctx.task.agent_version_id)
            org = await session.get(Organization, ctx.task.org_id)
        if version is None or org is None:
            raise StepFailed("the agent version or organisation no longer exists", retryable=False)
        config = version.config or {}
        targets = _targets(dict(config.get("model") or {}))
        try:
            # The version's templates, in the sandbox, off the event loop (rendering is CPU-bound).
            rendered = await asyncio.to_thread(render_prompt, config, ctx.task.input)
        except AgenticError as exc:
            raise StepFailed(exc.message, retryable=False, code=exc.code) from exc
        messages = [Message("system", rendered.system_prompt)] if rendered.system_prompt else []
        messages.append(Message("user", rendered.messages[-1]["content"]))
        request = LLMRequest(messages=tuple(messages))

        async def llm_step(info: StepInfo) -> dict[str, Any]:
            buffer: list[str] = []
            flushed = time.monotonic()
            response: LLMResponse | None = None
            context = call_context(org, agent_id=ctx.task.agent_id, task_id=ctx.task.id, step_key=info.key)
            store_content = stores_llm_content(org)

            def stored(text: str) -> dict[str, Any]:
                # Content is redacted before it is stored; an organisation may forbid storing it at all.
                return {"text": redact(text)} if store_content else {"chars": len(text)}

            try:
                async for chunk in gateway.stream(request, targets=targets, context=context):
                    if isinstance(chunk, TextDelta):
                        buffer.append(chunk.text)
                        if len(buffer) >= _TOKEN_BATCH or time.monotonic() - flushed > _TOKEN_FLUSH_S:
                            await ctx.event("llm.tokens", {"step": info.key, **stored("".join(buffer))})
                            buffer, flushed = [], time.monotonic()
                    elif isinstance(chunk, StreamDone):
                        response = chunk.response
            except LLMError as exc:
                # The LLM error's class (rate_limited, timeout, …) is what an agent's retry policy names; when
                # the whole fallback chain failed, the class is that of the final error.
                cause = exc.last if isinstance(exc, AllTargetsFailed) else exc
                raise StepFailed(
                    exc.message, retryable=exc.retryable or exc.fallback, code=cause.code
                ) from exc
            if buffer:
                await ctx.event("llm.tokens", {"step": info.key, **stored("".join(buffer))})
            assert response is not None  # noqa: S101  # a finished stream always ends with StreamDone
            return {
                "content": redact(response.content) if store_content else None,
                "provider": response.provider,
                "model": response.model,
                "finish_reason": response.finish_reason,
                "usage": {
                    "input_tokens": response.usage.input_tokens,
                    "output_tokens": response.usage.output_tokens,
                },
            }

        result = await ctx.step(
            "llm-1", llm_step, kind="llm", name=targets[0].key, input={"messages": len(messages)}
        )
        return {"text": result["content"], "model": result["model"], "usage": result["usage"]}

    return run
