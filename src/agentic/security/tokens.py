"""Opaque tokens and how they are stored.

Tokens are random (256 bits) with a short prefix naming their kind, so a leaked string is recognisable
(secret scanners, logs) and we can route it without a database lookup. Only a keyed hash is stored:
HMAC-SHA256 under a pepper derived from the secret key, so a stolen database copy cannot be used to
authenticate. Rotating the secret key therefore invalidates every session, API key and mailed link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ACCESS_TOKEN_PREFIX = "ags_"  # noqa: S105
REFRESH_TOKEN_PREFIX = "agr_"  # noqa: S105
API_KEY_PREFIX = "agk_"
# The part of an API key shown in listings: "agk_" + 8 characters; unique, used to find the row.
API_KEY_LOOKUP_LENGTH = len(API_KEY_PREFIX) + 8

_PEPPER_CONTEXT = b"agentic/token-pepper/v1"
_CSRF_CONTEXT = b"agentic/csrf/v1"


def random_token(prefix: str = "", nbytes: int = 32) -> str:
    """A new URL-safe random token."""
    return prefix + secrets.token_urlsafe(nbytes)


def new_api_key() -> tuple[str, str]:
    """A new API key and its visible lookup prefix (`agk_XXXXXXXX`)."""
    lookup = API_KEY_PREFIX + secrets.token_hex(4)
    return f"{lookup}_{secrets.token_urlsafe(32)}", lookup


def api_key_lookup(key: str) -> str | None:
    """The lookup prefix of a well-formed API key, or None."""
    if not key.startswith(API_KEY_PREFIX) or len(key) < API_KEY_LOOKUP_LENGTH + 2:
        return None
    if key[API_KEY_LOOKUP_LENGTH] != "_":
        return None
    return key[:API_KEY_LOOKUP_LENGTH]


class TokenHasher:
    """Keyed hashing of tokens, and CSRF tokens bound to a session."""

    def __init__(self, secret_key: str) -> None:
        self._pepper = hmac.new(secret_key.encode(), _PEPPER_CONTEXT, hashlib.sha256).digest()
        self._csrf_key = hmac.new(secret_key.encode(), _CSRF_CONTEXT, hashlib.sha256).digest()

    def hash(self, token: str) -> str:
        """The hex HMAC-SHA256 of `token`: what the database stores."""
        return hmac.new(self._pepper, token.encode(), hashlib.sha256).hexdigest()

    def matches(self, token: str, stored_hash: str) -> bool:
        """Constant-time check of `token` against a stored hash."""
        return hmac.compare_digest(self.hash(token), stored_hash)

    def csrf_token(self, session_id: str) -> str:
        """The CSRF token of a session (signed double-submit: not stored, recomputed)."""
        digest = hmac.new(self._csrf_key, session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def csrf_valid(self, session_id: str, token: str | None) -> bool:
        """True if `token` is the CSRF token of `session_id`."""
        return token is not None and hmac.compare_digest(self.csrf_token(session_id), token)
