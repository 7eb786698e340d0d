"""Retries with backoff, and circuit breakers shared by every task in the process."""

from __future__ import annotations

import enum
import random
import time
from dataclasses import dataclass, field


class BreakerState(enum.StrEnum):
    """Closed: calls flow. Open: calls are refused until the recovery time. Half-open: one probe decides."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; after `recovery_s` lets one probe through.

    A successful probe closes it; a failed one opens it again for another `recovery_s`.
    """

    failure_threshold: int
    recovery_s: float
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probe_in_flight: bool = False
    clock: object = field(default=time.monotonic, repr=False)

    def _now(self) -> float:
        now = self.clock()  # type: ignore[operator]
        assert isinstance(now, float)  # noqa: S101
        return now

    def allow(self) -> tuple[bool, BreakerState]:
        """Whether a call may go out now, and the state that decided it."""
        if self.state is BreakerState.CLOSED:
            return True, self.state
        if self.state is BreakerState.OPEN and self._now() - self.opened_at >= self.recovery_s:
            self.state = BreakerState.HALF_OPEN
            self.probe_in_flight = False
        if self.state is BreakerState.HALF_OPEN and not self.probe_in_flight:
            self.probe_in_flight = True
            return True, self.state
        return False, self.state

    def record_success(self) -> BreakerState:
        """A call succeeded: close."""
        self.state, self.failures, self.probe_in_flight = BreakerState.CLOSED, 0, False
        return self.state

    def record_neutral(self) -> BreakerState:
        """A call ended in a way that says nothing about the target (429, bad request, cancelled).

        A half-open breaker lets the next call probe instead of waiting forever for this one's verdict.
        """
        self.probe_in_flight = False
        return self.state

    def record_failure(self) -> BreakerState:
        """A call failed in a way that counts against the target (not a bad request)."""
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.failure_threshold:
            self.state, self.opened_at, self.probe_in_flight = BreakerState.OPEN, self._now(), False
        return self.state


class BreakerRegistry:
    """One breaker per key, for the whole process.

    The gateway keys breakers by provider, model and credential (`gateway.breaker_key`): one organisation's
    revoked key, or one of two servers serving the same model name, must not take the target out for all.
    """

    def __init__(self, failure_threshold: int, recovery_s: float) -> None:
        self.failure_threshold = failure_threshold
        self.recovery_s = recovery_s
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, key: str) -> CircuitBreaker:
        """The breaker for `key` (created closed)."""
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = CircuitBreaker(self.failure_threshold, self.recovery_s)
        return breaker


def backoff_delay(
    attempt: int,
    *,
    base_s: float,
    max_s: float,
    retry_after_s: float | None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number `attempt` (1-based).

    Exponential with "full jitter" (uniform between 0 and base * 2^(attempt-1), capped), so a crowd of
    clients that failed together does not retry together; a server's Retry-After is honoured as a floor.
    """
    ceiling = min(max_s, base_s * (2 ** (attempt - 1)))
    jittered = (rng or random).uniform(0, ceiling)  # jitter, not security
    if retry_after_s is not None:
        return min(max(jittered, retry_after_s), max(max_s, retry_after_s))
    return jittered
