"""The LLM gateway: one call interface over every provider, resilient, limited, metered and observable.

For each call the gateway walks the target chain (primary, then fallbacks). Per target: the circuit
breaker may skip it; the per-key limiter queues the call; retryable failures are retried with backoff
(honouring Retry-After); when a target is down (or its breaker open) the next one is tried. Every attempt,
retry, breaker decision and fallback becomes an `Attempt` for the task trace, and every call that reached a
provider is metered.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

from agentic.config import LLMSettings
from agentic.db.types import utcnow
from agentic.llm.errors import (
    AllTargetsFailed,
    CircuitOpen,
    InvalidRequest,
    LLMError,
    ProviderNotConfigured,
    ProviderTimeout,
    RateLimited,
)
from agentic.llm.limiter import LimiterRegistry
from agentic.llm.pricing import PriceTable
from agentic.llm.providers import ChatModel, Provider
from agentic.llm.providers.mock import MockProvider
from agentic.llm.redaction import redact_value
from agentic.llm.resilience import BreakerRegistry, BreakerState, CircuitBreaker, backoff_delay
from agentic.llm.types import LLMRequest, LLMResponse, StreamChunk, StreamDone
from agentic.logging import get_logger
from agentic.security.egress import endpoint_policy

log = get_logger("agentic.llm")

# Safety net above the provider timeout: an adapter that ignores its timeout still cannot hang a task.
_TIMEOUT_GRACE_S = 5.0


@dataclass(frozen=True, slots=True)
class Target:
    """One entry of a fallback chain: which provider and model, with model options and optional credential."""

    provider: str
    model: str
    options: dict[str, Any] = field(default_factory=dict)
    credential: str | None = None  # name of an organisation's stored credential; default one when None

    @property
    def key(self) -> str:
        """`provider/model`, as the trace shows it."""
        return f"{self.provider}/{self.model}"


def breaker_key(target: Target, key_id: str) -> str:
    """The breaker key: per provider, model *and* credential (its API key and endpoint, as `key_id`).

    A breaker keyed by `provider/model` alone would let one organisation's revoked key (401s count against
    the target) open the breaker of that model for every organisation in the process, and would make two
    OpenAI-compatible servers that serve the same model name (a local `llama3` here, another there) one
    breaker: the down one would take the healthy one out of every chain. The cost: during a real provider
    outage each credential pays its own `breaker_failure_threshold` failed calls (fast ones) before skipping.
    """
    return f"{target.key}#{key_id}"


@dataclass(frozen=True, slots=True)
class Credential:
    """What a provider needs to authenticate."""

    api_key: str
    base_url: str | None = None
    source: str = "settings"  # "settings" or "organization"


class CredentialResolver(Protocol):
    """Finds an organisation's credential for a provider (None: fall back to the platform's)."""

    async def __call__(self, org_id: uuid.UUID | None, provider: str, name: str | None) -> Credential | None:
        """The credential, or None."""
        ...


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who the call is for: for accounting, limits and the trace."""

    org_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    task_id: uuid.UUID | None = None
    step_key: str | None = None
    log_content: bool = False  # an organisation may forbid storing or logging prompts and responses


@dataclass(frozen=True, slots=True)
class Attempt:
    """One decision or call of the gateway, for the task trace."""

    target: str
    position: int  # index in the chain (0 = primary)
    number: int  # attempt number on this target (1-based)
    outcome: Literal["ok", "error", "skipped"]
    error_code: str | None = None
    error_message: str | None = None
    latency_ms: float = 0.0
    breaker_state: str = BreakerState.CLOSED.value
    retry_in_s: float | None = None
    at: str = field(default_factory=lambda: utcnow().isoformat())


@dataclass(frozen=True, slots=True)
class UsageEntry:
    """A metered provider call."""

    context: CallContext
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: Decimal
    latency_ms: int
    outcome: str


class UsageRecorder(Protocol):
    """Stores usage entries (the database in the platform, nothing in benchmarks)."""

    async def __call__(self, entry: UsageEntry) -> None:
        """Store one entry."""
        ...


@dataclass(frozen=True, slots=True)
class GatewayResult:
    """The answer and how it was obtained."""

    response: LLMResponse
    target: Target
    attempts: tuple[Attempt, ...]


AttemptListener = Callable[[Attempt], Awaitable[None] | None]


def estimate_tokens(request: LLMRequest) -> int:
    """A cheap prompt-size estimate for rate limiting (≈4 characters per token) plus the answer budget."""
    chars = sum(len(m.content) for m in request.messages) + sum(len(str(t.parameters)) for t in request.tools)
    return chars // 4 + (request.max_tokens or 512)


def _counts_against_target(error: LLMError) -> bool:
    # A malformed request is the caller's fault, and a 429 means "slow down" (the limiter and Retry-After
    # handle it), not "down": neither may open the target's breaker.
    return not isinstance(error, (InvalidRequest, RateLimited))


class LLMGateway:
    """The process-wide gateway. Create once, `aclose()` on shutdown."""

    def __init__(
        self,
        settings: LLMSettings,
        *,
        resolve_credential: CredentialResolver | None = None,
        record_usage: UsageRecorder | None = None,
        allow_internal_endpoints: bool = True,
    ) -> None:
        """Create the gateway.

        `allow_internal_endpoints`: whether provider clients may connect to internal addresses for an
        organisation's credential; the platform passes `services.llm.allow_internal_endpoints(settings)` (no,
        in production unless the operator opted in). Checked when each connection opens, whatever was checked
        at registration.
        """
        self.settings = settings
        self.allow_internal_endpoints = allow_internal_endpoints
        self.breakers = BreakerRegistry(settings.breaker_failure_threshold, settings.breaker_recovery_s)
        self.limiters = LimiterRegistry(
            concurrency=settings.concurrency_per_key,
            requests_per_minute=settings.requests_per_minute_per_key,
            tokens_per_minute=settings.tokens_per_minute_per_key,
        )
        self.prices = PriceTable(settings.prices)
        self._resolve = resolve_credential
        self._record_usage = record_usage
        self._mock = MockProvider()
        self._providers: dict[tuple[str, str, str | None, str], Provider] = {}

    async def aclose(self) -> None:
        """Close every provider client."""
        providers, self._providers = list(self._providers.values()), {}
        await asyncio.gather(*(p.aclose() for p in providers), return_exceptions=True)

    # --- providers ------------------------------------------------------------------------------------------

    async def _credential(self, target: Target, context: CallContext) -> Credential:
        if self._resolve is not None:
            found = await self._resolve(context.org_id, target.provider, target.credential)
            if found is not None:
                return found
        if target.credential is not None:
            raise ProviderNotConfigured(f"no credential named {target.credential!r} for {target.provider}")
        settings = self.settings
        if target.provider == "openai" and settings.openai_api_key is not None:
            return Credential(settings.openai_api_key.get_secret_value(), settings.openai_base_url)
        if target.provider == "anthropic" and settings.anthropic_api_key is not None:
            return Credential(settings.anthropic_api_key.get_secret_value(), settings.anthropic_base_url)
        raise ProviderNotConfigured(
            f"no API key for {target.provider}: set AGENTIC_LLM_{target.provider.upper()}_API_KEY "
            "or add an organisation credential"
        )

    async def _model(self, target: Target, context: CallContext) -> tuple[ChatModel, str]:
        """The model adapter and the credential's id for limiter and breaker keys.

        The id hashes the API key *with* the base URL (never the key itself): two servers reached with the
        same placeholder key (`sk-no-key` for local servers) are different endpoints with their own limits.
        """
        if target.provider == "mock":
            return self._mock.model(target.model, target.options), "mock"
        if target.provider not in ("openai", "anthropic"):
            raise ProviderNotConfigured(f"unknown provider {target.provider!r}: use openai, anthropic, mock")
        credential = await self._credential(target, context)
        fingerprint = f"{target.provider}\n{credential.base_url or ''}\n{credential.api_key}"
        key_id = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
        # The source too: an operator's endpoint and an organisation's are guarded differently.
        cache_key = (target.provider, key_id, credential.base_url, credential.source)
        provider = self._providers.get(cache_key)
        if provider is None:
            provider = self._providers[cache_key] = self._new_provider(target.provider, credential)
        return provider.model(target.model, target.options), key_id

    def _new_provider(self, name: str, credential: Credential) -> Provider:
        connections = self.settings.max_connections
        # Every client connects through the guard and follows no redirect. An organisation's endpoint may
        # reach internal addresses only where registration allows it; the operator's own endpoint (from the
        # settings, e.g. a vLLM on the private network) is trusted to.
        internal = self.allow_internal_endpoints or credential.source == "settings"
        policy = endpoint_policy(allow_internal=internal)
        # Vendor SDKs load on first use: a platform on the mock provider never imports them.
        if name == "openai":
            from agentic.llm.providers.openai import OpenAIProvider  # noqa: PLC0415

            return OpenAIProvider(
                api_key=credential.api_key,
                base_url=credential.base_url,
                max_connections=connections,
                policy=policy,
            )
        from agentic.llm.providers.anthropic import AnthropicProvider  # noqa: PLC0415

        return AnthropicProvider(
            api_key=credential.api_key,
            base_url=credential.base_url,
            max_connections=connections,
            policy=policy,
        )

    # --- bookkeeping ----------------------------------------------------------------------------------------

    async def _note(
        self, attempts: list[Attempt], attempt: Attempt, listener: AttemptListener | None
    ) -> None:
        attempts.append(attempt)
        log.info(
            "llm.attempt",
            target=attempt.target,
            position=attempt.position,
            number=attempt.number,
            outcome=attempt.outcome,
            error=attempt.error_code,
            latency_ms=round(attempt.latency_ms, 1),
            breaker=attempt.breaker_state,
            retry_in_s=attempt.retry_in_s,
        )
        if listener is not None:
            result = listener(attempt)
            if result is not None:
                await result

    async def _meter(
        self,
        target: Target,
        context: CallContext,
        response: LLMResponse | None,
        latency_ms: float,
        outcome: str,
    ) -> None:
        if self._record_usage is None:
            return
        usage = response.usage if response is not None else None
        entry = UsageEntry(
            context=context,
            provider=target.provider,
            model=target.model,
            input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
            cached_tokens=usage.cached_tokens if usage else 0,
            cost_usd=self.prices.cost(target.provider, target.model, usage) if usage else Decimal(0),
            latency_ms=int(latency_ms),
            outcome=outcome,
        )
        try:
            await self._record_usage(entry)
        except Exception:  # metering must never fail the call it meters
            log.exception("llm.usage_record_failed", target=target.key)

    def _log_content(self, context: CallContext, request: LLMRequest, response: LLMResponse) -> None:
        if context.log_content:
            log.debug(
                "llm.content",
                task_id=str(context.task_id) if context.task_id else None,
                request=redact_value([(m.role, m.content) for m in request.messages]),
                response=redact_value(response.content),
                tool_calls=redact_value([(c.name, c.arguments) for c in response.tool_calls]),
            )

    async def _failed(
        self,
        *,
        error: LLMError,
        breaker: CircuitBreaker,
        target: Target,
        position: int,
        number: int,
        latency_ms: float,
        context: CallContext,
        attempts: list[Attempt],
        listener: AttemptListener | None,
        may_retry: bool = True,
    ) -> float | None:
        """Record a failed attempt; the delay before retrying the same target, or None to move on."""
        state = breaker.record_failure() if _counts_against_target(error) else breaker.record_neutral()
        retry = (
            may_retry
            and error.retryable
            and number <= self.settings.max_retries
            and state is not BreakerState.OPEN
        )
        delay = (
            backoff_delay(
                number,
                base_s=self.settings.backoff_base_s,
                max_s=self.settings.backoff_max_s,
                retry_after_s=error.retry_after_s,
            )
            if retry
            else None
        )
        await self._note(
            attempts,
            Attempt(
                target.key,
                position,
                number,
                "error",
                error.code,
                error.message[:500],
                latency_ms=latency_ms,
                breaker_state=state,
                retry_in_s=round(delay, 3) if delay is not None else None,
            ),
            listener,
        )
        await self._meter(target, context, None, latency_ms, error.code)
        return delay

    async def _skipped(
        self,
        *,
        error: LLMError,
        target: Target,
        position: int,
        number: int,
        attempts: list[Attempt],
        listener: AttemptListener | None,
        state: str = BreakerState.CLOSED.value,
    ) -> None:
        await self._note(
            attempts,
            Attempt(target.key, position, number, "skipped", error.code, error.message, breaker_state=state),
            listener,
        )

    async def _succeeded(
        self,
        *,
        breaker: CircuitBreaker,
        target: Target,
        position: int,
        number: int,
        latency_ms: float,
        context: CallContext,
        request: LLMRequest,
        response: LLMResponse | None,
        attempts: list[Attempt],
        listener: AttemptListener | None,
    ) -> None:
        state = breaker.record_success()
        await self._note(
            attempts,
            Attempt(target.key, position, number, "ok", latency_ms=latency_ms, breaker_state=state),
            listener,
        )
        await self._meter(target, context, response, latency_ms, "ok")
        if response is not None:
            self._log_content(context, request, response)

    # --- calls ----------------------------------------------------------------------------------------------

    async def complete(
        self,
        request: LLMRequest,
        *,
        targets: list[Target],
        context: CallContext | None = None,
        on_attempt: AttemptListener | None = None,
    ) -> GatewayResult:
        """One answer, from the first target of the chain that gives one.

        Raises:
            InvalidRequest: The request is wrong; no target would answer it.
            AllTargetsFailed: Every target failed or was skipped.
        """
        context = context or CallContext()
        attempts: list[Attempt] = []
        last: LLMError | None = None
        timeout_s = request.timeout_s or self.settings.timeout_s
        for position, target in enumerate(targets):
            try:
                model, key_id = await self._model(target, context)
            except LLMError as unusable:
                last = unusable
                await self._skipped(
                    error=unusable,
                    target=target,
                    position=position,
                    number=0,
                    attempts=attempts,
                    listener=on_attempt,
                )
                if not unusable.fallback:
                    raise
                continue
            breaker = self.breakers.get(breaker_key(target, key_id))
            for number in range(1, self.settings.max_retries + 2):
                allowed, state = breaker.allow()
                if not allowed:
                    last = CircuitOpen(f"circuit open for {target.key}")
                    await self._skipped(
                        error=last,
                        target=target,
                        position=position,
                        number=number,
                        attempts=attempts,
                        listener=on_attempt,
                        state=state,
                    )
                    break
                start = time.perf_counter()
                try:
                    async with self.limiters.get(key_id).acquire(estimate_tokens(request)):
                        start = time.perf_counter()
                        async with asyncio.timeout(timeout_s + _TIMEOUT_GRACE_S):
                            response = await model.complete(request, timeout_s=timeout_s)
                except asyncio.CancelledError:
                    breaker.record_neutral()  # a cancelled probe must not wedge the breaker half-open
                    raise
                except TimeoutError:
                    failure: LLMError = ProviderTimeout(f"{target.key} gave no answer within {timeout_s}s")
                except LLMError as caught:
                    failure = caught
                else:
                    await self._succeeded(
                        breaker=breaker,
                        target=target,
                        position=position,
                        number=number,
                        latency_ms=(time.perf_counter() - start) * 1000,
                        context=context,
                        request=request,
                        response=response,
                        attempts=attempts,
                        listener=on_attempt,
                    )
                    return GatewayResult(response=response, target=target, attempts=tuple(attempts))
                last = failure
                delay = await self._failed(
                    error=failure,
                    breaker=breaker,
                    target=target,
                    position=position,
                    number=number,
                    latency_ms=(time.perf_counter() - start) * 1000,
                    context=context,
                    attempts=attempts,
                    listener=on_attempt,
                )
                if not failure.fallback:
                    raise failure
                if delay is None:
                    break
                await asyncio.sleep(delay)
        assert last is not None  # noqa: S101  # an empty chain is refused by the callers' validation
        raise AllTargetsFailed(f"every target failed; last: {last.code}: {last.message}", last=last)

    async def stream(  # noqa: PLR0912, PLR0915  # one retry/fallback state machine, kept in one place
        self,
        request: LLMRequest,
        *,
        targets: list[Target],
        context: CallContext | None = None,
        on_attempt: AttemptListener | None = None,
        attempts: list[Attempt] | None = None,
    ) -> AsyncIterator[StreamChunk]:
        """Stream the answer. Retries and fallback happen only before the first chunk reaches the caller.

        After that, a failure is raised: replaying tokens the caller has already seen would duplicate them.
        """
        context = context or CallContext()
        record: list[Attempt] = attempts if attempts is not None else []
        last: LLMError | None = None
        timeout_s = request.timeout_s or self.settings.timeout_s
        for position, target in enumerate(targets):
            try:
                model, key_id = await self._model(target, context)
            except LLMError as unusable:
                last = unusable
                await self._skipped(
                    error=unusable,
                    target=target,
                    position=position,
                    number=0,
                    attempts=record,
                    listener=on_attempt,
                )
                if not unusable.fallback:
                    raise
                continue
            breaker = self.breakers.get(breaker_key(target, key_id))
            for number in range(1, self.settings.max_retries + 2):
                allowed, state = breaker.allow()
                if not allowed:
                    last = CircuitOpen(f"circuit open for {target.key}")
                    await self._skipped(
                        error=last,
                        target=target,
                        position=position,
                        number=number,
                        attempts=record,
                        listener=on_attempt,
                        state=state,
                    )
                    break
                start = time.perf_counter()
                started = False
                final: LLMResponse | None = None
                try:
                    async with self.limiters.get(key_id).acquire(estimate_tokens(request)):
                        start = time.perf_counter()
                        chunks = model.stream(request, timeout_s=timeout_s)
                        try:
                            async with asyncio.timeout(timeout_s + _TIMEOUT_GRACE_S):
                                first = await anext(chunks)
                            started = True
                            yield first
                            async for chunk in chunks:
                                if isinstance(chunk, StreamDone):
                                    final = chunk.response
                                yield chunk
                        finally:
                            await chunks.aclose()  # type: ignore[attr-defined]
                except (asyncio.CancelledError, GeneratorExit):
                    breaker.record_neutral()  # the caller went away mid-probe: let the next call probe
                    raise
                except TimeoutError:
                    failure: LLMError = ProviderTimeout(f"{target.key} sent nothing within {timeout_s}s")
                except LLMError as caught:
                    failure = caught
                else:
                    await self._succeeded(
                        breaker=breaker,
                        target=target,
                        position=position,
                        number=number,
                        latency_ms=(time.perf_counter() - start) * 1000,
                        context=context,
                        request=request,
                        response=final,
                        attempts=record,
                        listener=on_attempt,
                    )
                    return
                last = failure
                delay = await self._failed(
                    error=failure,
                    breaker=breaker,
                    target=target,
                    position=position,
                    number=number,
                    latency_ms=(time.perf_counter() - start) * 1000,
                    context=context,
                    attempts=record,
                    listener=on_attempt,
                    may_retry=not started,
                )
                if started or not failure.fallback:
                    raise failure
                if delay is None:
                    break
                await asyncio.sleep(delay)
        assert last is not None  # noqa: S101
        raise AllTargetsFailed(f"every target failed; last: {last.code}: {last.message}", last=last)
