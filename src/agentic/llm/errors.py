"""Errors of the LLM gateway, independent of the vendor SDKs.

Each error says whether retrying the same target may help (`retryable`) and whether the gateway should move on
to the next target of the fallback chain (`fallback`).
"""

from __future__ import annotations

from typing import ClassVar


class LLMError(Exception):
    """Base class."""

    code: ClassVar[str] = "llm_error"
    retryable: ClassVar[bool] = False
    fallback: ClassVar[bool] = True

    def __init__(
        self, message: str, *, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s


class RateLimited(LLMError):
    """429 from the provider; `retry_after_s` from its Retry-After header when given."""

    code = "rate_limited"
    retryable = True


class ProviderUnavailable(LLMError):
    """5xx, connection refused or reset."""

    code = "provider_unavailable"
    retryable = True


class ProviderTimeout(LLMError):
    """No (complete) answer within the timeout."""

    code = "timeout"
    retryable = True


class MalformedResponse(LLMError):
    """The provider answered something we cannot parse."""

    code = "malformed_response"
    retryable = True


class AuthenticationFailed(LLMError):
    """The key was refused: no use retrying, but another provider may work."""

    code = "authentication_failed"


class InvalidRequest(LLMError):
    """The request itself is wrong (400/404/422): neither retrying nor another provider will help."""

    code = "invalid_request"
    fallback = False


class ProviderNotConfigured(LLMError):
    """No credentials or unknown provider name."""

    code = "provider_not_configured"


class CircuitOpen(LLMError):
    """The target's circuit breaker is open: skipped without a call."""

    code = "circuit_open"


class AllTargetsFailed(LLMError):
    """Every target of the chain failed; `last` is the final error."""

    code = "all_targets_failed"

    def __init__(self, message: str, *, last: LLMError) -> None:
        super().__init__(message, status=last.status)
        self.last = last
