"""Provider secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from
HUB_SECRET_KEY with HKDF, so rotating the hub secret is the one knob an operator has."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.kit.errors import Unavailable

_INFO = b"envhub provider secrets v1"


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret_key: str, plaintext: str) -> str:
    return _fernet(secret_key).encrypt(plaintext.encode()).decode()


def decrypt(secret_key: str, token: str) -> str:
    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise Unavailable(
            "A provider secret cannot be decrypted: HUB_SECRET_KEY changed since it was"
            " stored. Set the provider's key again (envhub admin add-provider --replace).",
            code="provider-secret-unreadable") from None
