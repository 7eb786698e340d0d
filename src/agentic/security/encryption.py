"""Encryption of secrets at rest (organisations' provider keys, later database DSNs and webhook secrets).

AES-256-GCM with a key derived from the installation's secret key by HKDF. The associated data binds each
ciphertext to its owner (e.g. the organisation id), so a ciphertext copied into another row does not decrypt.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12
_VERSION = b"\x01"


class DecryptionError(Exception):
    """Wrong key, tampered ciphertext, or ciphertext of another owner."""


class SecretBox:
    """Encrypts and decrypts short secrets."""

    def __init__(self, secret_key: str, *, purpose: str = "secrets") -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"agentic/{purpose}/v1".encode()
        ).derive(secret_key.encode())
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, *, owner: str) -> str:
        """Base64 of version ∥ nonce ∥ ciphertext+tag."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), owner.encode())
        return base64.b64encode(_VERSION + nonce + sealed).decode()

    def decrypt(self, token: str, *, owner: str) -> str:
        """The plaintext; `DecryptionError` if it does not authenticate."""
        try:
            raw = base64.b64decode(token)
            if raw[:1] != _VERSION:
                raise DecryptionError("unknown ciphertext version")
            nonce, sealed = raw[1 : 1 + _NONCE_BYTES], raw[1 + _NONCE_BYTES :]
            return self._aead.decrypt(nonce, sealed, owner.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError("cannot decrypt: wrong key, tampered data or another owner") from exc
