"""Accounts and sessions."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, EmailStr, Field, SecretStr, StringConstraints

from agentic.schemas.common import Schema
from agentic.security.passwords import MAX_PASSWORD_LENGTH

Token = Annotated[str, StringConstraints(min_length=1, max_length=512)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class SignupRequest(Schema):
    """Body of `POST /v1/auth/signup`."""

    email: EmailStr
    password: SecretStr = Field(max_length=MAX_PASSWORD_LENGTH)
    display_name: Name | None = None
    organization_name: Name | None = Field(default=None, description="Default: '<name>'s organisation'.")


class Accepted(BaseModel):
    """Request taken; what follows arrives by mail (the answer never reveals whether an account exists)."""

    status: Literal["accepted"] = "accepted"
    message: str


class TokenRequest(Schema):
    """A token from a mailed link."""

    token: Token


class EmailRequest(Schema):
    """An email address."""

    email: EmailStr


class LoginRequest(Schema):
    """Body of `POST /v1/auth/login`."""

    email: EmailStr
    password: SecretStr = Field(max_length=MAX_PASSWORD_LENGTH)


class TokenResponse(BaseModel):
    """Issued at login and refresh. The web UI uses the cookies set alongside; programs use these values."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105  # the OAuth token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str
    refresh_expires_in: int
    csrf_token: str = Field(description="Send as `X-CSRF-Token` on unsafe requests authenticated by cookie.")


class RefreshRequest(Schema):
    """Body of `POST /v1/auth/refresh`; the web UI may omit it and rely on the refresh cookie."""

    refresh_token: Token | None = None


class LogoutRequest(Schema):
    """Body of `POST /v1/auth/logout`."""

    everywhere: bool = Field(default=False, description="End every session of the account, on every device.")


class PasswordResetConfirm(Schema):
    """Body of `POST /v1/auth/password-reset/confirm`."""

    token: Token
    new_password: SecretStr = Field(max_length=MAX_PASSWORD_LENGTH)


class LoggedOut(BaseModel):
    """How many sessions ended."""

    sessions_ended: int


class MembershipOut(BaseModel):
    """An organisation the user belongs to, with their role there."""

    id: uuid.UUID
    name: str
    slug: str
    role: str


class Me(BaseModel):
    """The signed-in user, the organisation the request acts in, and what they may do there."""

    id: uuid.UUID
    email: str
    display_name: str | None
    email_verified: bool
    authenticated_via: Literal["bearer", "cookie", "api_key"]
    organization: MembershipOut | None
    permissions: list[str]
    organizations: list[MembershipOut]
