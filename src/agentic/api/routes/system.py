"""What this installation is."""

from __future__ import annotations

from fastapi import APIRouter

from agentic import __version__
from agentic.api.deps import SessionDep, SettingsDep
from agentic.api.routes import API_PREFIX
from agentic.api.security import PUBLIC
from agentic.mail import mail_delivery
from agentic.schemas.system import SystemInfo
from agentic.services.setup import needs_setup

router = APIRouter(prefix=f"{API_PREFIX}/system", tags=["system"], dependencies=[PUBLIC])


@router.get("/info", summary="Version, backends and first-run state")
async def system_info(settings: SettingsDep, session: SessionDep) -> SystemInfo:
    """Public and harmless: no secrets, no tenant data."""
    return SystemInfo(
        version=__version__,
        environment=settings.env.value,
        database_backend=settings.database_backend,
        redis_configured=settings.redis.url is not None,
        needs_setup=await needs_setup(session),
        # Whether, not what: the console tells people where their mail went, never the server's settings.
        mail_delivery=mail_delivery(settings),
        llm_providers=[
            "mock",
            *(["openai"] if settings.llm.openai_api_key is not None else []),
            *(["anthropic"] if settings.llm.anthropic_api_key is not None else []),
        ],
    )
