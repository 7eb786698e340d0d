"""Accounts and sessions: signup, email verification, login, token refresh, logout, password reset.

Answers never reveal whether an email address has an account: signup, resend and reset requests answer
the same way either way, and a failed login says only that the email or password is wrong.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from limits import RateLimitItem
from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import (
    ApiKey,
    AuthSession,
    EmailToken,
    EmailTokenPurpose,
    Membership,
    Role,
    User,
)
from agentic.db.types import utcnow
from agentic.errors import AgenticError, InvalidInput, PermissionDenied, Unauthenticated
from agentic.logging import get_logger
from agentic.mail import EmailMessage
from agentic.resources import Resources
from agentic.security.passwords import check_password_policy, hash_password, verify_password
from agentic.security.throttle import Throttle
from agentic.security.tokens import ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX, api_key_lookup, random_token
from agentic.services.audit import record_audit_event
from agentic.services.organizations import create_organization

log = get_logger("agentic.auth")

# Refresh `last_used_at` at most this often: a write per request would be waste.
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)


class InvalidCredentials(Unauthenticated):
    """Email or password wrong (deliberately not saying which)."""

    code = "invalid_credentials"


class TokenExpired(Unauthenticated):
    """The access token is no longer valid; refresh it."""

    code = "token_expired"


class EmailNotVerified(PermissionDenied):
    """The password was right but the address is not verified yet."""

    code = "email_not_verified"


class InvalidToken(AgenticError):
    """A mailed token that is unknown, used or expired."""

    code = "invalid_token"
    status_code = 400


class SignupDisabled(PermissionDenied):
    """Self-service signup is turned off on this installation."""

    code = "signup_disabled"


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """Tokens handed to a client at login or refresh (the only time they exist in clear)."""

    session_id: uuid.UUID
    access_token: str
    refresh_token: str
    access_expires_at: dt.datetime
    refresh_expires_at: dt.datetime
    csrf_token: str


@dataclass(frozen=True, slots=True)
class RequestMeta:
    """Who is calling, for throttling and the audit log."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verifying against a real hash when the account does not exist keeps timing from revealing that.
    return PasswordHasher().hash("agentic-timing-equaliser")


def _audit(
    session: AsyncSession,
    meta: RequestMeta,
    action: str,
    *,
    actor_type: str,
    actor_id: uuid.UUID | None,
    target_type: str,
    target_id: str,
    org_id: uuid.UUID | None = None,
    details: dict[str, object] | None = None,
) -> None:
    # Account events stamped with the caller's address, user agent and request, like every audit record.
    record_audit_event(
        session,
        action=action,
        org_id=org_id,
        actor_type=actor_type,
        actor_id=actor_id,
        target_type=target_type,
        target_id=target_id,
        ip=meta.ip,
        user_agent=meta.user_agent,
        request_id=meta.request_id,
        details=dict(details) if details else None,
    )


# The API's address check (pydantic's `EmailStr`: email-validator without a DNS deliverability lookup, so
# special-use and reserved domains such as `.test`, `.local` or `localhost` are refused). Every way an
# account's address comes in goes through it, so an address one path accepts, every other path accepts too.
_EMAIL_ADDRESS: TypeAdapter[str] = TypeAdapter(EmailStr)


def normalise_email(email: str, *, loc: tuple[str | int, ...] = ("body", "email")) -> str:
    """The one address rule: first-run setup (link or `AGENTIC_ADMIN_EMAIL`), sign-up, login, resends, resets.

    The same check as the request bodies' `EmailStr`, whatever the address came through (an environment
    variable has no schema); addresses are compared case-insensitively and stored lower-case.

    Args:
        email: The address as given.
        loc: Where it was given, for the error's details.

    Returns:
        The address, stripped and lower-cased.

    Raises:
        InvalidInput: Not an address the API accepts (the reason is in the message and the details).
    """
    try:
        checked = _EMAIL_ADDRESS.validate_python(email.strip())
    except ValidationError as exc:
        reason = str((exc.errors()[0].get("ctx") or {}).get("reason") or "not a valid email address")
        raise InvalidInput(
            f"{email.strip()!r} is not a usable email address: {reason}",
            details=[{"loc": list(loc), "message": reason, "type": "value_error"}],
        ) from None
    return checked.lower()


async def _send(resources: Resources, message: EmailMessage) -> None:
    # Mail goes out after the change it announces is committed; a delivery failure never undoes it (the user
    # can ask again), and is logged without the message body, which holds a token.
    try:
        await resources.mailer.send(message)
    except Exception as exc:
        log.error("mail.delivery_failed", to=message.to, subject=message.subject, error=str(exc)[:300])


async def _issue_email_token(
    session: AsyncSession, *, resources: Resources, user: User, purpose: EmailTokenPurpose, ttl_s: int
) -> str:
    # A new token replaces any unused one of the same purpose.
    now = utcnow()
    await session.execute(
        update(EmailToken)
        .where(EmailToken.user_id == user.id, EmailToken.purpose == purpose, EmailToken.used_at.is_(None))
        .values(used_at=now)
    )
    token = random_token()
    session.add(
        EmailToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=resources.hasher.hash(token),
            email=user.email,
            expires_at=now + dt.timedelta(seconds=ttl_s),
        )
    )
    return token


def _verification_mail(resources: Resources, email: str, token: str) -> EmailMessage:
    link = f"{resources.settings.public_url}/verify-email?token={token}"
    return EmailMessage(
        to=email,
        subject="Verify your email address for Agentic",
        text=(
            f"Welcome to Agentic.\n\nConfirm your email address by opening this link:\n\n{link}\n\n"
            f"The link expires in {resources.settings.auth.email_verification_ttl_s // 3600} hours. "
            "If you did not sign up, ignore this message."
        ),
    )


async def signup(
    session: AsyncSession,
    *,
    resources: Resources,
    email: str,
    password: str,
    display_name: str | None,
    organization_name: str | None,
    meta: RequestMeta,
) -> None:
    """Create an unverified account with its own organisation and mail a verification link.

    For an address that already has an account nothing is created; its owner gets a notice instead, and the
    caller sees the same answer, so signup cannot be used to find out who has an account.
    """
    settings = resources.settings
    if not settings.auth.allow_signup:
        raise SignupDisabled(
            "Signup is disabled on this installation; ask an administrator for an invitation."
        )
    email = normalise_email(email)
    ip_key = meta.ip or "unknown"
    signup_limit = resources.throttle.limit(
        settings.auth.login_attempts_per_ip, settings.auth.throttle_window_s
    )
    await resources.throttle.check(signup_limit, "signup", "ip", ip_key)
    await resources.throttle.hit(signup_limit, "signup", "ip", ip_key)
    check_password_policy(password, email=email)

    existing = await session.scalar(select(User).where(User.email == email))
    if existing is not None:
        await _send(
            resources,
            EmailMessage(
                to=email,
                subject="Someone tried to sign up with your address",
                text=(
                    "Someone (maybe you) tried to create an Agentic account with this address, which "
                    f"already has one. To sign in, go to {settings.public_url}/login. If you forgot your "
                    f"password, reset it at {settings.public_url}/reset-password."
                ),
            ),
        )
        return

    password_hash = await hash_password(password)
    user = User(email=email, display_name=display_name, password_hash=password_hash, is_active=True)
    session.add(user)
    await session.flush()
    org = await create_organization(
        session, name=organization_name or f"{display_name or email.split('@')[0]}'s organisation"
    )
    session.add(Membership(org_id=org.id, user_id=user.id, role=Role.ADMIN))
    token = await _issue_email_token(
        session,
        resources=resources,
        user=user,
        purpose=EmailTokenPurpose.VERIFY_EMAIL,
        ttl_s=settings.auth.email_verification_ttl_s,
    )
    _audit(
        session,
        meta,
        "auth.signup",
        actor_type="user",
        actor_id=user.id,
        target_type="user",
        target_id=str(user.id),
        org_id=org.id,
    )
    await session.commit()
    await _send(resources, _verification_mail(resources, email, token))


async def resend_verification(
    session: AsyncSession, *, resources: Resources, email: str, meta: RequestMeta
) -> None:
    """Mail a fresh verification link if the address has an unverified account (same answer either way)."""
    email = normalise_email(email)
    settings = resources.settings
    limit = resources.throttle.limit(
        settings.auth.reset_requests_per_account, settings.auth.throttle_window_s
    )
    await resources.throttle.check(limit, "verify-resend", email)
    await resources.throttle.hit(limit, "verify-resend", email)
    user = await session.scalar(select(User).where(User.email == email))
    if user is None or user.email_verified_at is not None or not user.is_active:
        return
    token = await _issue_email_token(
        session,
        resources=resources,
        user=user,
        purpose=EmailTokenPurpose.VERIFY_EMAIL,
        ttl_s=settings.auth.email_verification_ttl_s,
    )
    await session.commit()
    await _send(resources, _verification_mail(resources, email, token))


async def _consume_email_token(
    session: AsyncSession, *, resources: Resources, token: str, purpose: EmailTokenPurpose
) -> User:
    now = utcnow()
    row = await session.scalar(
        select(EmailToken).where(
            EmailToken.token_hash == resources.hasher.hash(token), EmailToken.purpose == purpose
        )
    )
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise InvalidToken("This link is invalid or has expired. Ask for a new one.")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active or user.email != row.email:
        raise InvalidToken("This link is invalid or has expired. Ask for a new one.")
    # Single use, even under concurrent clicks: only the update that flips used_at wins.
    result = await session.execute(
        update(EmailToken).where(EmailToken.id == row.id, EmailToken.used_at.is_(None)).values(used_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidToken("This link has already been used.")
    return user


async def verify_email(session: AsyncSession, *, resources: Resources, token: str, meta: RequestMeta) -> User:
    """Mark the address verified (single-use, expiring token)."""
    user = await _consume_email_token(
        session, resources=resources, token=token, purpose=EmailTokenPurpose.VERIFY_EMAIL
    )
    user.email_verified_at = user.email_verified_at or utcnow()
    _audit(
        session,
        meta,
        "auth.email_verified",
        actor_type="user",
        actor_id=user.id,
        target_type="user",
        target_id=str(user.id),
    )
    await session.commit()
    return user


async def open_session(
    session: AsyncSession, *, resources: Resources, user: User, meta: RequestMeta
) -> IssuedTokens:
    """Open a session for `user` (flushed, not committed) and return its tokens."""
    auth = resources.settings.auth
    now = utcnow()
    access, refresh = random_token(ACCESS_TOKEN_PREFIX), random_token(REFRESH_TOKEN_PREFIX)
    expires_at = now + dt.timedelta(seconds=auth.session_max_age_s)
    row = AuthSession(
        user_id=user.id,
        access_token_hash=resources.hasher.hash(access),
        access_expires_at=min(now + dt.timedelta(seconds=auth.access_token_ttl_s), expires_at),
        refresh_token_hash=resources.hasher.hash(refresh),
        refresh_expires_at=min(now + dt.timedelta(seconds=auth.refresh_token_ttl_s), expires_at),
        expires_at=expires_at,
        last_used_at=now,
        ip=meta.ip,
        user_agent=meta.user_agent[:512] if meta.user_agent else None,
    )
    session.add(row)
    await session.flush()
    return IssuedTokens(
        session_id=row.id,
        access_token=access,
        refresh_token=refresh,
        access_expires_at=row.access_expires_at,
        refresh_expires_at=row.refresh_expires_at,
        csrf_token=resources.hasher.csrf_token(str(row.id)),
    )


def _login_tiers(throttle: Throttle, attempts: int, window_s: int) -> tuple[RateLimitItem, ...]:
    """The growing delay of failed sign-ins: `attempts` per window, twice as many per four, four per day.

    A client that keeps failing waits longer each time a tier fills (the window, then four, then a day);
    one that gets the password right starts again from nothing.
    """
    return (
        throttle.limit(attempts, window_s),
        throttle.limit(2 * attempts, 4 * window_s),
        throttle.limit(4 * attempts, max(86_400, 4 * window_s)),
    )


async def login(
    session: AsyncSession, *, resources: Resources, email: str, password: str, meta: RequestMeta
) -> IssuedTokens:
    """Check the password and open a session.

    Failed attempts are throttled per account and per IP address; throttling and failures are audited.

    Raises:
        RateLimited: Too many recent failures for this account or address.
        InvalidCredentials: Wrong email or password (the same error either way).
        EmailNotVerified: Right password, unverified address.
    """
    email = normalise_email(email)
    auth = resources.settings.auth
    throttle = resources.throttle
    per_pair = _login_tiers(throttle, auth.login_attempts_per_account, auth.throttle_window_s)
    per_ip = throttle.limit(auth.login_attempts_per_ip, auth.throttle_window_s)
    ip_key = meta.ip or "unknown"
    # Failures count per account *and client*: a stranger's failures hold back only the stranger, never the
    # account's owner signing in from elsewhere (a lock per account let anyone lock an administrator out).
    pair = ("login", "account-client", email, ip_key)
    try:
        for tier in reversed(per_pair):  # the longest tier that is full says how long to wait
            await throttle.check(tier, *pair)
        await throttle.check(per_ip, "login", "ip", ip_key)
    except AgenticError:
        _audit(
            session,
            meta,
            "auth.login_throttled",
            actor_type="anonymous",
            actor_id=None,
            target_type="email",
            target_id=email[:64],
        )
        await session.commit()
        raise

    user = await session.scalar(select(User).where(User.email == email))
    password_ok = await verify_password(
        user.password_hash if user is not None and user.password_hash else _dummy_hash(), password
    )
    if user is None or not password_ok or not user.is_active:
        for tier in per_pair:
            await throttle.hit(tier, *pair)
        await throttle.hit(per_ip, "login", "ip", ip_key)
        _audit(
            session,
            meta,
            "auth.login_failed",
            actor_type="anonymous",
            actor_id=None,
            target_type="user" if user else "email",
            target_id=str(user.id) if user else email[:64],
        )
        await session.commit()
        raise InvalidCredentials("The email or password is incorrect.")
    if auth.require_verified_email and user.email_verified_at is None:
        raise EmailNotVerified("Verify your email address first; we can send the link again.")

    for tier in per_pair:
        await throttle.clear(tier, *pair)
    tokens = await open_session(session, resources=resources, user=user, meta=meta)
    user.last_login_at = utcnow()
    _audit(
        session,
        meta,
        "auth.login",
        actor_type="user",
        actor_id=user.id,
        target_type="session",
        target_id=str(tokens.session_id),
    )
    await session.commit()
    return tokens


async def refresh_session(
    session: AsyncSession,
    *,
    resources: Resources,
    refresh_token: str,
    meta: RequestMeta,
    csrf_token: str | None = None,
    require_csrf: bool = False,
) -> IssuedTokens:
    """Rotate a session's tokens. A refresh token works once; reusing an old one revokes the session.

    Raises:
        Unauthenticated: The refresh token is unknown, expired, revoked or was reused.
    """
    now = utcnow()
    token_hash = resources.hasher.hash(refresh_token)
    row = await session.scalar(
        select(AuthSession).where(
            or_(AuthSession.refresh_token_hash == token_hash, AuthSession.previous_refresh_hash == token_hash)
        )
    )
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("The session has ended; sign in again.")
    if row.refresh_token_hash != token_hash:
        # An already-rotated token came back: the client or a thief holds a stale copy. End the session.
        row.revoked_at, row.revoked_reason = now, "refresh_reuse"
        _audit(
            session,
            meta,
            "auth.refresh_reuse_detected",
            actor_type="anonymous",
            actor_id=None,
            target_type="session",
            target_id=str(row.id),
        )
        await session.commit()
        raise Unauthenticated("The session has ended; sign in again.")
    if require_csrf and not resources.hasher.csrf_valid(str(row.id), csrf_token):
        # A cookie-borne refresh must prove it comes from our page, like any cookie-authenticated change.
        raise PermissionDenied("Missing or wrong CSRF token.", code="csrf_failed")
    if row.refresh_expires_at <= now or row.expires_at <= now:
        raise Unauthenticated("The session has expired; sign in again.")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("The session has ended; sign in again.")

    auth = resources.settings.auth
    access, refresh = random_token(ACCESS_TOKEN_PREFIX), random_token(REFRESH_TOKEN_PREFIX)
    # Compare-and-swap on the current hash: two concurrent refreshes with the same token cannot both win.
    result = await session.execute(
        update(AuthSession)
        .where(AuthSession.id == row.id, AuthSession.refresh_token_hash == token_hash)
        .values(
            access_token_hash=resources.hasher.hash(access),
            access_expires_at=min(now + dt.timedelta(seconds=auth.access_token_ttl_s), row.expires_at),
            refresh_token_hash=resources.hasher.hash(refresh),
            refresh_expires_at=min(now + dt.timedelta(seconds=auth.refresh_token_ttl_s), row.expires_at),
            previous_refresh_hash=token_hash,
            last_used_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Unauthenticated("The session has ended; sign in again.")
    await session.commit()
    await session.refresh(row)
    return IssuedTokens(
        session_id=row.id,
        access_token=access,
        refresh_token=refresh,
        access_expires_at=row.access_expires_at,
        refresh_expires_at=row.refresh_expires_at,
        csrf_token=resources.hasher.csrf_token(str(row.id)),
    )


async def revoke_sessions(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    reason: str,
    only_session_id: uuid.UUID | None = None,
    meta: RequestMeta | None = None,
) -> int:
    """Revoke one session of a user, or all of them ("log out everywhere"); returns how many."""
    statement = update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if only_session_id is not None:
        statement = statement.where(AuthSession.id == only_session_id)
    result = await session.execute(
        statement.values(revoked_at=utcnow(), revoked_reason=reason).execution_options(
            synchronize_session=False
        )
    )
    count = int(result.rowcount)  # type: ignore[attr-defined]
    meta = meta or RequestMeta()
    _audit(
        session,
        meta,
        "auth.logout" if only_session_id else "auth.logout_everywhere",
        actor_type="user",
        actor_id=user_id,
        target_type="session" if only_session_id else "user",
        target_id=str(only_session_id or user_id),
        details={"reason": reason, "sessions": count},
    )
    await session.commit()
    return count


async def request_password_reset(
    session: AsyncSession, *, resources: Resources, email: str, meta: RequestMeta
) -> None:
    """Mail a reset link if the address has an account; the same answer either way. Throttled."""
    email = normalise_email(email)
    auth = resources.settings.auth
    throttle = resources.throttle
    per_account = throttle.limit(auth.reset_requests_per_account, auth.throttle_window_s)
    per_ip = throttle.limit(auth.login_attempts_per_ip, auth.throttle_window_s)
    await throttle.check(per_account, "reset", "account", email)
    await throttle.check(per_ip, "reset", "ip", meta.ip or "unknown")
    await throttle.hit(per_account, "reset", "account", email)
    await throttle.hit(per_ip, "reset", "ip", meta.ip or "unknown")

    user = await session.scalar(select(User).where(User.email == email))
    if user is None or not user.is_active:
        return
    token = await _issue_email_token(
        session,
        resources=resources,
        user=user,
        purpose=EmailTokenPurpose.RESET_PASSWORD,
        ttl_s=auth.password_reset_ttl_s,
    )
    _audit(
        session,
        meta,
        "auth.password_reset_requested",
        actor_type="anonymous",
        actor_id=None,
        target_type="user",
        target_id=str(user.id),
    )
    await session.commit()
    link = f"{resources.settings.public_url}/reset-password?token={token}"
    await _send(
        resources,
        EmailMessage(
            to=email,
            subject="Reset your Agentic password",
            text=(
                f"To choose a new password, open this link:\n\n{link}\n\n"
                f"It expires in {auth.password_reset_ttl_s // 60} minutes and works once. "
                "If you did not ask for this, ignore this message: your password stays as it is."
            ),
        ),
    )


async def confirm_password_reset(
    session: AsyncSession, *, resources: Resources, token: str, new_password: str, meta: RequestMeta
) -> None:
    """Set a new password from a reset link and end every session of the account."""
    user = await _consume_email_token(
        session, resources=resources, token=token, purpose=EmailTokenPurpose.RESET_PASSWORD
    )
    try:
        check_password_policy(new_password, email=user.email)
    except InvalidInput:
        await session.rollback()  # the link stays usable for a better password
        raise
    user.password_hash = await hash_password(new_password)
    # Whoever could reset the password controls the mailbox, so the address counts as verified.
    user.email_verified_at = user.email_verified_at or utcnow()
    _audit(
        session,
        meta,
        "auth.password_reset",
        actor_type="user",
        actor_id=user.id,
        target_type="user",
        target_id=str(user.id),
    )
    await revoke_sessions(session, user_id=user.id, reason="password_reset", meta=meta)


@dataclass(frozen=True, slots=True)
class SessionIdentity:
    """A caller authenticated by a session access token."""

    user: User
    session_id: uuid.UUID


async def authenticate_access_token(
    session: AsyncSession, *, resources: Resources, token: str
) -> SessionIdentity:
    """Resolve an access token (bearer or cookie) to its user.

    Raises:
        TokenExpired: The token was valid but has expired (refresh it).
        Unauthenticated: Unknown, revoked, or the user is disabled.
    """
    now = utcnow()
    row = await session.scalar(
        select(AuthSession).where(AuthSession.access_token_hash == resources.hasher.hash(token))
    )
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("Sign in to continue.")
    if row.access_expires_at <= now or row.expires_at <= now:
        raise TokenExpired("The access token has expired; refresh it or sign in again.")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("Sign in to continue.")
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now
        await session.commit()
    return SessionIdentity(user=user, session_id=row.id)


@dataclass(frozen=True, slots=True)
class KeyIdentity:
    """A caller authenticated by an API key: the key, its creator and the creator's current membership."""

    key: ApiKey
    user: User
    membership: Membership


async def authenticate_api_key(session: AsyncSession, *, resources: Resources, key: str) -> KeyIdentity:
    """Resolve an API key. It must be unrevoked, unexpired, and its creator still a member of its org.

    Raises:
        Unauthenticated: Any of the above fails (one message for all, to give nothing away).
    """
    lookup = api_key_lookup(key)
    failure = Unauthenticated("The API key is not valid.")
    if lookup is None:
        raise failure
    # The key, its creator and the creator's membership in the key's organisation, in one round trip: every
    # request made with a key pays for this, and revocation (of the key, the user or the membership) must be
    # honoured at once, so none of it is cached.
    found = (
        await session.execute(
            select(ApiKey, User, Membership)
            .join(User, User.id == ApiKey.created_by_id)
            .outerjoin(
                Membership,
                (Membership.org_id == ApiKey.org_id) & (Membership.user_id == ApiKey.created_by_id),
            )
            .where(ApiKey.prefix == lookup)
        )
    ).first()
    now = utcnow()
    if found is None:
        raise failure
    row, user, membership = found
    if not resources.hasher.matches(key, row.secret_hash):
        raise failure
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise failure
    if not user.is_active or membership is None:
        raise failure
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now
        await session.commit()
    return KeyIdentity(key=row, user=user, membership=membership)
