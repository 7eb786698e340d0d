"""The gateway's links to the database: organisations' credentials and usage metering."""

from __future__ import annotations

import asyncio
import time
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentic.config import Environment, Settings
from agentic.db.engine import database_fault
from agentic.db.models import Organization, ProviderCredential, UsageRecord
from agentic.errors import Conflict, InvalidInput, NotFound
from agentic.llm.gateway import CallContext, Credential, UsageEntry
from agentic.logging import get_logger
from agentic.security.encryption import DecryptionError, SecretBox
from agentic.security.ssrf import check_outbound_url
from agentic.services.audit import Actor

log = get_logger("agentic.llm.credentials")

PROVIDERS = ("openai", "anthropic")
# Decrypted credentials are cached briefly: a DB round trip and a decryption per LLM call would be waste.
_CACHE_TTL_S = 30.0


def stores_llm_content(org: Organization) -> bool:
    """Whether prompts and responses of this organisation may be stored or logged (redacted); default yes."""
    return bool(org.settings.get("store_llm_content", True))


def call_context(
    org: Organization,
    *,
    agent_id: uuid.UUID | None = None,
    task_id: uuid.UUID | None = None,
    step_key: str | None = None,
) -> CallContext:
    """The gateway context for a call on behalf of `org`, honouring its content-storage setting."""
    return CallContext(
        org_id=org.id,
        agent_id=agent_id,
        task_id=task_id,
        step_key=step_key,
        log_content=stores_llm_content(org),
    )


def allow_internal_endpoints(settings: Settings) -> bool:
    """Whether a base URL may point inside the network (local Ollama in dev; explicit opt-in elsewhere)."""
    return settings.env is not Environment.PRODUCTION or settings.llm.allow_internal_base_urls


async def create_credential(
    session: AsyncSession,
    *,
    box: SecretBox,
    settings: Settings,
    actor: Actor,
    provider: str,
    name: str,
    api_key: str,
    base_url: str | None,
) -> ProviderCredential:
    """Store an organisation's provider key, encrypted; the key is never shown again (only a hint)."""
    if provider not in PROVIDERS:
        raise InvalidInput(
            f"provider must be one of {', '.join(PROVIDERS)}", details=[{"loc": ["body", "provider"]}]
        )
    if base_url is not None:
        base_url = await check_outbound_url(
            base_url, allow_internal=allow_internal_endpoints(settings), field="base_url"
        )
    assert actor.org_id is not None  # noqa: S101
    credential = ProviderCredential(
        org_id=actor.org_id,
        provider=provider,
        name=name,
        encrypted_api_key=box.encrypt(api_key, owner=str(actor.org_id)),
        key_hint=f"…{api_key[-4:]}" if len(api_key) >= 12 else "…",
        base_url=base_url,
        created_by_id=actor.user_id,
    )
    session.add(credential)
    try:
        await session.flush()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict(f"A {provider} credential named {name!r} exists; delete it first.") from exc
    actor.audit(
        session,
        "llm.credential_created",
        target_type="provider_credential",
        target_id=str(credential.id),
        details={"provider": provider, "name": name, "base_url": base_url},
    )
    await session.commit()
    return credential


async def list_credentials(session: AsyncSession) -> list[ProviderCredential]:
    """The session organisation's credentials (tenant scoping applies)."""
    return list((await session.scalars(select(ProviderCredential).order_by(ProviderCredential.id))).all())


async def delete_credential(session: AsyncSession, *, credential_id: uuid.UUID, actor: Actor) -> None:
    """Delete a credential."""
    credential = await session.get(ProviderCredential, credential_id)
    if credential is None:
        raise NotFound("Credential not found.")
    await session.delete(credential)
    actor.audit(
        session, "llm.credential_deleted", target_type="provider_credential", target_id=str(credential_id)
    )
    await session.commit()


class DatabaseCredentials:
    """The gateway's credential resolver: an organisation's stored provider key, decrypted, cached briefly."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> None:
        self._sessions = sessions
        self._box = box
        self._cache: dict[tuple[uuid.UUID, str, str], tuple[float, Credential | None]] = {}

    async def __call__(self, org_id: uuid.UUID | None, provider: str, name: str | None) -> Credential | None:
        """The credential, or None (the gateway then uses the platform's key)."""
        if org_id is None:
            return None
        key = (org_id, provider, name or "default")
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < _CACHE_TTL_S:
            return cached[1]
        async with self._sessions() as session:
            row = await session.scalar(
                select(ProviderCredential).where(
                    ProviderCredential.org_id == org_id,
                    ProviderCredential.provider == provider,
                    ProviderCredential.name == key[2],
                )
            )
        found: Credential | None = None
        if row is not None:
            try:
                found = Credential(
                    self._box.decrypt(row.encrypted_api_key, owner=str(org_id)), row.base_url, "organization"
                )
            except DecryptionError:
                log.error("llm.credential_undecryptable", credential_id=str(row.id))
        self._cache[key] = (now, found)
        return found

    def forget(self, org_id: uuid.UUID) -> None:
        """Drop cached credentials of an organisation (after a change)."""
        for key in [k for k in self._cache if k[0] == org_id]:
            del self._cache[key]


# Pauses before a usage row that failed on a passing database fault is written again.
_USAGE_RETRY_S = (0.1, 0.5, 1.0, 2.0)


class DatabaseUsage:
    """The gateway's usage recorder: one `usage_records` row per provider call of an organisation."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __call__(self, entry: UsageEntry) -> None:
        """Insert the row (calls outside any organisation, e.g. benchmarks, are not stored)."""
        context = entry.context
        if context.org_id is None:
            return
        # The call was paid for: a dropped connection must not make it vanish from usage and cost budgets.
        for pause_s in (*_USAGE_RETRY_S, None):
            try:
                async with self._sessions() as session:
                    session.add(
                        UsageRecord(
                            org_id=context.org_id,
                            agent_id=context.agent_id,
                            task_id=context.task_id,
                            step_key=context.step_key,
                            provider=entry.provider,
                            model=entry.model,
                            input_tokens=entry.input_tokens,
                            output_tokens=entry.output_tokens,
                            cached_tokens=entry.cached_tokens,
                            cost_usd=entry.cost_usd,
                            latency_ms=entry.latency_ms,
                            outcome=entry.outcome,
                        )
                    )
                    await session.commit()
                return
            except Exception as exc:
                if pause_s is None or database_fault(exc) is None:
                    raise
                await asyncio.sleep(pause_s)
