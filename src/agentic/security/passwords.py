"""Password hashing with Argon2id (argon2-cffi's defaults follow RFC 9106's recommended profile)."""

from __future__ import annotations

import asyncio
import re
from functools import cache
from importlib.resources import files

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from agentic.errors import InvalidInput

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()
_TRAILING_DIGITS_AND_SYMBOLS = re.compile(r"[\d\W_]+$")


@cache
def _common_passwords() -> frozenset[str]:
    text = (files("agentic.security") / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def is_common_password(password: str) -> bool:
    """True if `password` is a well-known one, or one with digits/symbols tacked on (`Password2024!`)."""
    lowered = password.strip().lower()
    common = _common_passwords()
    return lowered in common or _TRAILING_DIGITS_AND_SYMBOLS.sub("", lowered) in common


def check_password_policy(password: str, *, email: str | None = None) -> None:
    """Raise `InvalidInput` if the password is unacceptable: too short or long, too common, or the email."""
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
    if is_common_password(password):
        raise InvalidInput(
            "That password is one of the most common ones; choose another.",
            details=[{"loc": ["body", "password"], "message": "too common"}],
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
