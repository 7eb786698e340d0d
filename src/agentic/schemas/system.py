"""Health, readiness and system information."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Liveness(BaseModel):
    """The process is up."""

    status: Literal["ok"] = "ok"


class Check(BaseModel):
    """One dependency check."""

    status: Literal["ok", "degraded", "error"] = Field(
        description="`ok`; `degraded`: unreachable, but the instance serves without it (Redis); `error`: "
        "unreachable or unusable, and the instance cannot serve (the database)."
    )
    latency_ms: float
    error: str | None = None


class Readiness(BaseModel):
    """The instance can take traffic: the database is reachable and migrated.

    `degraded` when an optional dependency is down (Redis: signals fall back to polling, rate limits to
    per-process counters); the instance stays ready, so a load balancer keeps routing to it.
    """

    status: Literal["ok", "degraded"] = "ok"
    checks: dict[str, Check]


class SystemInfo(BaseModel):
    """What this installation is."""

    name: Literal["agentic"] = "agentic"
    version: str
    environment: str
    database_backend: Literal["sqlite", "postgresql"]
    redis_configured: bool
    needs_setup: bool
    mail_delivery: Literal["smtp", "outbox", "disabled"] = Field(
        description="`outbox`: no mail server is configured; messages are written to the data directory's "
        "outbox (`agentic mail list` shows them) instead of being sent. `disabled`: production without a "
        "mail server; no message is sent or kept."
    )
    llm_providers: list[Literal["mock", "openai", "anthropic"]] = Field(
        description="The providers this server has a key for, plus the offline mock. An organisation's own "
        "credentials (`/v1/provider-credentials`) make others usable for its agents."
    )
