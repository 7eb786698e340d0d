"""Errors of the LLM gateway, independent of the vendor SDKs.

Each error says whether retrying the same target may help (`retryable`) and whether the gateway should move on
to the next target of the fallback chain (`fallback`). Its `code` is what a task's error and an agent's retry
policy name. Messages are sanitised when the error is made: upstream servers put tracebacks, whole HTML pages
and multi-kilobyte bodies in their errors, and a message ends up in the task's error, the trace and the logs.
"""

from __future__ import annotations

import re
from typing import ClassVar

MAX_MESSAGE_CHARS = 500
"""The longest message an error keeps (the rest is cut, marked with an ellipsis)."""

_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|\n\s+File \"", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def sanitize_message(text: str, *, limit: int = MAX_MESSAGE_CHARS) -> str:
    """One readable line of at most `limit` characters: no traceback, no control characters, no line breaks.

    Args:
        text: A message, possibly from an upstream server.
        limit: The longest result.

    Returns:
        The text before any Python traceback it contains, whitespace collapsed, cut with "…" when longer.
    """
    match = _TRACEBACK.search(text)
    if match is not None:
        text = text[: match.start()].rstrip(" :\n") + " (traceback omitted)"
    text = "".join(c if c.isprintable() or c.isspace() else " " for c in text)
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class LLMError(Exception):
    """Base class."""

    code: ClassVar[str] = "llm_error"
    retryable: ClassVar[bool] = False
    fallback: ClassVar[bool] = True

    def __init__(
        self, message: str, *, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        message = sanitize_message(message)
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s


class RateLimited(LLMError):
    """429 from the provider; `retry_after_s` from its Retry-After header when given."""

    code = "rate_limited"
    retryable = True


class ProviderUnavailable(LLMError):
    """5xx, 408, 409, or an error the server reported inside a stream (Anthropic's `overloaded_error`)."""

    code = "provider_unavailable"
    retryable = True


class ProviderUnreachable(ProviderUnavailable):
    """No connection could be made: refused, reset before an answer, unknown host, TLS failure."""

    code = "connection_error"


class EndpointRefused(ProviderUnreachable):
    """The outbound guard refused the connection; nothing was sent, and asking again gets the same refusal.

    The endpoint is (or now resolves to) an address the policy forbids: an internal one, in production.
    """

    retryable = False


class StreamInterrupted(ProviderUnavailable):
    """The connection broke after the answer had begun: the stream was cut, not the server unreachable."""

    code = "stream_interrupted"


class ProviderTimeout(LLMError):
    """No (complete) answer within the timeout."""

    code = "timeout"
    retryable = True


class MalformedResponse(LLMError):
    """The provider answered something we cannot parse."""

    code = "malformed_response"
    retryable = True


class UnexpectedResponse(LLMError):
    """A success status with something that is not a model's answer: an HTML page, an empty stream.

    What a captive portal, a login page or a misconfigured proxy in front of the endpoint sends. Asking the
    same endpoint again gets the same page; another target of the chain may be reachable.
    """

    code = "unexpected_response"


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
