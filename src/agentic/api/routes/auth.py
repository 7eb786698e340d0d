"""Signup, email verification, login, token refresh, logout and password reset."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from agentic.api.deps import ResourcesDep, SessionDep
from agentic.api.routes import API_PREFIX
from agentic.api.security import (
    CSRF_COOKIE,
    CSRF_HEADER,
    PUBLIC,
    REFRESH_COOKIE,
    SESSION_COOKIE,
    AuthenticatedCaller,
    MetaDep,
)
from agentic.config import Environment, Settings
from agentic.db.types import utcnow
from agentic.errors import PermissionDenied, Unauthenticated
from agentic.schemas.auth import (
    Accepted,
    EmailRequest,
    LoggedOut,
    LoginRequest,
    LogoutRequest,
    PasswordResetConfirm,
    RefreshRequest,
    SignupRequest,
    TokenRequest,
    TokenResponse,
)
from agentic.schemas.common import error_responses
from agentic.services import auth as service

router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"])

_REFRESH_PATH = f"{API_PREFIX}/auth"


def _set_cookies(response: Response, tokens: service.IssuedTokens, settings: Settings) -> TokenResponse:
    now = utcnow()
    access_ttl = int((tokens.access_expires_at - now).total_seconds())
    refresh_ttl = int((tokens.refresh_expires_at - now).total_seconds())
    # Secure in production; dev and test run on plain http://127.0.0.1.
    secure = settings.env is Environment.PRODUCTION
    # The session cookie outlives the access token so that an expired one yields `token_expired` (→ refresh)
    # rather than looking like a signed-out browser.
    response.set_cookie(
        SESSION_COOKIE, tokens.access_token, max_age=refresh_ttl, httponly=True, secure=secure, samesite="lax"
    )
    response.set_cookie(
        REFRESH_COOKIE,
        tokens.refresh_token,
        max_age=refresh_ttl,
        httponly=True,
        secure=secure,
        samesite="strict",
        path=_REFRESH_PATH,
    )
    # Readable by the page's script (not HttpOnly): the UI echoes it in X-CSRF-Token.
    response.set_cookie(CSRF_COOKIE, tokens.csrf_token, max_age=refresh_ttl, secure=secure, samesite="lax")
    return TokenResponse(
        access_token=tokens.access_token,
        expires_in=access_ttl,
        refresh_token=tokens.refresh_token,
        refresh_expires_in=refresh_ttl,
        csrf_token=tokens.csrf_token,
    )


def _clear_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(REFRESH_COOKIE, path=_REFRESH_PATH)
    response.delete_cookie(CSRF_COOKIE)


@router.post(
    "/signup",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[PUBLIC],
    responses=error_responses(403, 422, 429),
    summary="Create an account; a verification link is mailed",
)
async def signup(
    body: SignupRequest, session: SessionDep, resources: ResourcesDep, meta: MetaDep
) -> Accepted:
    """The same answer whether or not the address already has an account."""
    await service.signup(
        session,
        resources=resources,
        email=str(body.email),
        password=body.password.get_secret_value(),
        display_name=body.display_name,
        organization_name=body.organization_name,
        meta=meta,
    )
    return Accepted(message="Check your inbox for a link to verify your address.")


@router.post(
    "/verify-email", dependencies=[PUBLIC], responses=error_responses(400), summary="Verify an email address"
)
async def verify_email(
    body: TokenRequest, session: SessionDep, resources: ResourcesDep, meta: MetaDep
) -> Accepted:
    """Consume the single-use token from the verification mail."""
    await service.verify_email(session, resources=resources, token=body.token, meta=meta)
    return Accepted(message="Your address is verified. You can sign in now.")


@router.post(
    "/verify-email/resend",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[PUBLIC],
    responses=error_responses(429),
    summary="Mail a new verification link",
)
async def resend_verification(
    body: EmailRequest, session: SessionDep, resources: ResourcesDep, meta: MetaDep
) -> Accepted:
    """The same answer whether or not the address has an unverified account."""
    await service.resend_verification(session, resources=resources, email=str(body.email), meta=meta)
    return Accepted(message="If the address has an unverified account, a new link is on its way.")


@router.post(
    "/login",
    dependencies=[PUBLIC],
    responses=error_responses(401, 403, 429),
    summary="Sign in: sets the session cookies and returns bearer tokens",
)
async def login(
    body: LoginRequest, response: Response, session: SessionDep, resources: ResourcesDep, meta: MetaDep
) -> TokenResponse:
    """Throttled per account and per address; failures say only that the email or password is wrong."""
    tokens = await service.login(
        session,
        resources=resources,
        email=str(body.email),
        password=body.password.get_secret_value(),
        meta=meta,
    )
    return _set_cookies(response, tokens, resources.settings)


@router.post(
    "/refresh",
    dependencies=[PUBLIC],
    responses=error_responses(401, 403),
    summary="Rotate the session tokens",
)
async def refresh(
    request: Request,
    response: Response,
    session: SessionDep,
    resources: ResourcesDep,
    meta: MetaDep,
    body: RefreshRequest | None = None,
) -> TokenResponse:
    """A refresh token works once; presenting a used one ends the session (it may have been stolen)."""
    token = body.refresh_token if body and body.refresh_token else None
    from_cookie = token is None
    if token is None:
        token = request.cookies.get(REFRESH_COOKIE)
        if token is None:
            raise Unauthenticated("Send `refresh_token`, or the refresh cookie.")
    # Cookie-borne refreshes need the session's CSRF token like any other cookie-authenticated change.
    tokens = await service.refresh_session(
        session,
        resources=resources,
        refresh_token=token,
        meta=meta,
        csrf_token=request.headers.get(CSRF_HEADER),
        require_csrf=from_cookie,
    )
    return _set_cookies(response, tokens, resources.settings)


@router.post("/logout", responses=error_responses(401, 403), summary="Sign out here, or everywhere")
async def logout(
    caller: AuthenticatedCaller,
    response: Response,
    session: SessionDep,
    meta: MetaDep,
    body: LogoutRequest | None = None,
) -> LoggedOut:
    """Ends the current session, or with `everywhere` all of the account's. API keys are unaffected."""
    everywhere = bool(body and body.everywhere)
    if not everywhere and caller.session_id is None:
        raise PermissionDenied(
            "An API key has no session to end; revoke the key instead.", code="not_a_session"
        )
    count = await service.revoke_sessions(
        session,
        user_id=caller.user.id,
        reason="logout_everywhere" if everywhere else "logout",
        only_session_id=None if everywhere else caller.session_id,
        meta=meta,
    )
    _clear_cookies(response)
    return LoggedOut(sessions_ended=count)


@router.post(
    "/password-reset/request",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[PUBLIC],
    responses=error_responses(429),
    summary="Mail a password-reset link",
)
async def password_reset_request(
    body: EmailRequest, session: SessionDep, resources: ResourcesDep, meta: MetaDep
) -> Accepted:
    """The same answer whether or not the address has an account. Throttled per account and address."""
    await service.request_password_reset(session, resources=resources, email=str(body.email), meta=meta)
    return Accepted(message="If the address has an account, a reset link is on its way.")


@router.post(
    "/password-reset/confirm",
    dependencies=[PUBLIC],
    responses=error_responses(400, 422),
    summary="Choose a new password (ends every session)",
)
async def password_reset_confirm(
    body: PasswordResetConfirm, session: SessionDep, resources: ResourcesDep, meta: MetaDep
) -> Accepted:
    """Consumes the single-use token from the reset mail."""
    await service.confirm_password_reset(
        session,
        resources=resources,
        token=body.token,
        new_password=body.new_password.get_secret_value(),
        meta=meta,
    )
    return Accepted(message="Your password is changed and every session has ended. Sign in again.")
