"""First-run setup over HTTP: the link printed on first start leads here."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, status

from agentic.api.deps import RequestIdDep, ResourcesDep, SessionDep
from agentic.api.routes import API_PREFIX
from agentic.api.security import PUBLIC
from agentic.schemas.common import error_responses
from agentic.schemas.setup import SetupRequest, SetupResult, SetupStatus
from agentic.services.setup import check_setup_token, create_first_admin, needs_setup

# Public: guarded by the one-time setup token, and only while no user exists.
router = APIRouter(prefix=f"{API_PREFIX}/setup", tags=["setup"], dependencies=[PUBLIC])

# One setup at a time per process; across processes the service takes a database lock.
_setup_lock = asyncio.Lock()


@router.get("", summary="Does this installation still need its first administrator?")
async def setup_status(session: SessionDep) -> SetupStatus:
    """True until the first administrator exists."""
    return SetupStatus(needs_setup=await needs_setup(session))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create the first administrator and organisation",
    responses=error_responses(400, 403, 409, 422),
)
async def run_setup(
    body: SetupRequest,
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    request_id: RequestIdDep,
) -> SetupResult:
    """Permission: anyone holding the one-time setup token, and only while no user exists."""
    check_setup_token(secret_key=resources.secret_key, token=body.token)
    async with _setup_lock:
        admin = await create_first_admin(
            session,
            email=str(body.email),
            password=body.password.get_secret_value(),
            organization_name=body.organization_name,
            request_id=request_id,
            ip=request.client.host if request.client else None,
        )
    return SetupResult(user_id=admin.user_id, organization_id=admin.organization_id, email=admin.email)
