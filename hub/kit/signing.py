"""Hub-signed capability tokens for upload and download URLs.

The local storage backend has no presigned URLs, and the prime CLI PUTs bytes with no
Authorization header, so the URL itself must carry the authority: a token that names
its purpose, its expiry and a payload (e.g. the upload id), sealed with HMAC-SHA256.

Format: base64url(json body) + "." + base64url(mac), unpadded, safe in a path or query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time

from hub.kit.errors import Forbidden

# Derive a key for this use only, so a MAC minted here can never be replayed as some
# other hub signature (sessions, CSRF) that happens to share `secret_key`.
_KEY_CONTEXT = b"envhub/signed-url/v1"


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _KEY_CONTEXT, hashlib.sha256).digest()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _invalid() -> Forbidden:
    return Forbidden("The signed URL is invalid.", code="signed-url-invalid")


def sign(
    purpose: str,
    payload: dict[str, str | int],
    *,
    secret: str,
    ttl_seconds: int,
    now: float | None = None,
) -> str:
    """Return a token valid for `purpose` until `now + ttl_seconds`."""
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    issued = time.time() if now is None else now
    body = {"purpose": purpose, "exp": int(issued + ttl_seconds), "data": payload}
    encoded = _b64encode(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(_key(secret), encoded.encode("ascii"), hashlib.sha256).digest()
    return f"{encoded}.{_b64encode(mac)}"


def verify(
    token: str, purpose: str, *, secret: str, now: float | None = None
) -> dict[str, str | int]:
    """Return the payload, or raise Forbidden (`signed-url-invalid` / `signed-url-expired`)."""
    encoded, _, mac_text = token.partition(".")
    try:
        # The MAC covers the encoded text, so nothing is parsed before it is authenticated.
        mac = _b64decode(mac_text)
        expected = hmac.new(_key(secret), encoded.encode("ascii"), hashlib.sha256).digest()
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise _invalid() from None
    if not hmac.compare_digest(mac, expected):
        raise _invalid()
    try:
        body = json.loads(_b64decode(encoded))
        exp, data = body["exp"], body["data"]
        if body["purpose"] != purpose or not isinstance(exp, int) or not isinstance(data, dict):
            raise _invalid()
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise _invalid() from None
    if (time.time() if now is None else now) >= exp:
        raise Forbidden("The signed URL has expired.", code="signed-url-expired")
    return {str(k): v for k, v in data.items() if isinstance(v, str | int)}
