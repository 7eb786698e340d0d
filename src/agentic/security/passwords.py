"""Password hashing with Argon2id (argon2-cffi's defaults follow RFC 9106's recommended profile)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from agentic.errors import InvalidInput

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()


def check_password_policy(password: str, *, email: str | None = None) -> None:
    """Raise `InvalidInput` if the password is unacceptable (length, not the email)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Password must be at least {MIN_PASSWORD_LENGTH} characters.",
            details=[{"loc": ["body", "password"], "message": "too short"}],
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Password must be at most {MAX_PASSWORD_LENGTH} characters.",
            details=[{"loc": ["body", "password"], "message": "too long"}],
        )
    if email and password.strip().lower() == email.strip().lower():
        raise InvalidInput(
            "Password must not be the email address.",
            details=[{"loc": ["body", "password"], "message": "equals the email"}],
        )


async def hash_password(password: str) -> str:
    """Argon2id hash, computed off the event loop (it deliberately costs tens of milliseconds of CPU)."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    """True if `password` matches `password_hash`."""
    try:
        return await asyncio.to_thread(_hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
