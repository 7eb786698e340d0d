"""Process-wide handles (database engine, Redis client), opened once and closed on shutdown."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Literal

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agentic.config import Settings
from agentic.db import migrate
from agentic.db.engine import create_engine, create_session_factory
from agentic.engine.signals import SIGNALS_KEY, PostgresTransport, RedisTransport, Signals, Transport
from agentic.llm.gateway import LLMGateway
from agentic.mail import Mailer, create_mailer
from agentic.metrics import DEPENDENCY_UP
from agentic.security.encryption import SecretBox
from agentic.security.throttle import Throttle
from agentic.security.tokens import TokenHasher
from agentic.services.llm import DatabaseCredentials, DatabaseUsage, allow_internal_endpoints

# A readiness probe must answer quickly even when a dependency hangs.
CHECK_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Outcome of one dependency check."""

    status: Literal["ok", "error"]
    latency_ms: float
    error: str | None = None


@dataclass(slots=True)
class Resources:
    """What a process needs to serve requests or run tasks."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    secret_key: str
    hasher: TokenHasher
    throttle: Throttle
    mailer: Mailer
    signals: Signals
    secret_box: SecretBox
    credentials: DatabaseCredentials
    llm: LLMGateway
    redis: Redis | None = None
    expected_revision: str | None = field(default_factory=migrate.head_revision)

    @classmethod
    def open(cls, settings: Settings) -> Resources:
        """Create the handles (connections are made lazily, on first use)."""
        engine = create_engine(settings)
        redis = None
        if settings.redis.url:
            redis = Redis.from_url(
                settings.redis.url,
                socket_connect_timeout=settings.redis.connect_timeout_s,
                socket_timeout=settings.redis.connect_timeout_s,
                health_check_interval=30,
            )
        # Read once: in dev it lives in a file in the data directory.
        secret_key = settings.secret_key()
        transport: Transport | None = None
        if redis is not None:
            transport = RedisTransport(redis)
        elif settings.database_backend == "postgresql":
            transport = PostgresTransport(settings.database_url)
        signals = Signals(transport)
        sessions = create_session_factory(engine, info={SIGNALS_KEY: signals})
        box = SecretBox(secret_key, purpose="credentials")
        credentials = DatabaseCredentials(sessions, box)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            secret_box=box,
            credentials=credentials,
            llm=LLMGateway(
                settings.llm,
                resolve_credential=credentials,
                record_usage=DatabaseUsage(sessions),
                allow_internal_endpoints=allow_internal_endpoints(settings),
            ),
            secret_key=secret_key,
            hasher=TokenHasher(secret_key),
            throttle=Throttle(settings.redis.url, redis),
            mailer=create_mailer(settings),
            signals=signals,
            redis=redis,
        )

    def start(self) -> None:
        """Start the background parts (listening for other processes' signals)."""
        self.signals.start()

    async def close(self) -> None:
        """Release every handle."""
        await self.signals.stop()
        await self.llm.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()

    async def check_database(self) -> CheckResult:
        """Reachable, and migrated to the revision this code expects (also sets its `dependency_up` gauge)."""
        result = await self._check_database()
        DEPENDENCY_UP.labels(dependency="database").set(1 if result.status == "ok" else 0)
        return result

    async def _check_database(self) -> CheckResult:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            revision = await asyncio.wait_for(migrate.current_revision(self.engine), CHECK_TIMEOUT_S)
        except Exception as exc:  # any failure at all means "not ready"
            return CheckResult("error", _ms(start), f"{type(exc).__name__}: {exc}"[:300])
        if revision != self.expected_revision:
            return CheckResult(
                "error",
                _ms(start),
                f"schema at revision {revision}, code expects {self.expected_revision}: "
                "run `agentic db upgrade`",
            )
        return CheckResult("ok", _ms(start))

    async def check_redis(self) -> CheckResult | None:
        """Ping Redis (and set its `dependency_up` gauge), or None when Redis is not configured."""
        if self.redis is None:
            return None
        start = time.perf_counter()
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                await self.redis.ping()
        except Exception as exc:
            DEPENDENCY_UP.labels(dependency="redis").set(0)
            return CheckResult("error", _ms(start), f"{type(exc).__name__}: {exc}"[:300])
        DEPENDENCY_UP.labels(dependency="redis").set(1)
        return CheckResult("ok", _ms(start))


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)
