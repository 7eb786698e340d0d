"""Usage and queue health."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class UsageDayOut(BaseModel):
    """One UTC day of metered LLM usage."""

    day: dt.date
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float = Field(description="USD, by the gateway's price table.")


class QueueStatsOut(BaseModel):
    """The organisation's tasks by state, now."""

    by_state: dict[str, int] = Field(description="Every task state with its count (zeros included).")
    oldest_queued_age_s: float = Field(description="How long the oldest runnable queued task has waited.")
    expired_leases: int = Field(
        description="Running tasks whose worker stopped answering (the reaper's work)."
    )
