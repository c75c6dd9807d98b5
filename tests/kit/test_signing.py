from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from hub.kit import signing
from hub.kit.errors import Forbidden
from hub.kit.signing import sign, verify

SECRET = "test-secret"
NOW = 1_700_000_000.0
PAYLOAD: dict[str, str | int] = {"upload": "u-123", "size": 42}


def token(*, secret: str = SECRET, ttl_seconds: int = 60) -> str:
    return sign("upload", PAYLOAD, secret=secret, ttl_seconds=ttl_seconds, now=NOW)


def assert_refused(tok: str, code: str, *, purpose: str = "upload", now: float = NOW) -> None:
    with pytest.raises(Forbidden) as info:
        verify(tok, purpose, secret=SECRET, now=now)
    assert info.value.code == code
    assert info.value.status == 403


def test_round_trip() -> None:
    tok = token()
    assert verify(tok, "upload", secret=SECRET, now=NOW + 59) == PAYLOAD


def test_token_is_url_safe() -> None:
    tok = token()
    assert set(tok) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert tok.count(".") == 1


def test_tampered_payload_is_invalid() -> None:
    body, mac = token().split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data["data"]["size"] = 10**9
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    assert_refused(f"{forged}.{mac}", "signed-url-invalid")


def test_extended_expiry_is_invalid() -> None:
    # Rewriting exp must not buy time: it is covered by the MAC like everything else.
    body, mac = token().split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data["exp"] += 3600
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    assert_refused(f"{forged}.{mac}", "signed-url-invalid", now=NOW + 120)


def test_tampered_signature_is_invalid() -> None:
    body, mac = token().split(".")
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    assert_refused(f"{body}.{flipped}", "signed-url-invalid")
    assert_refused(f"{body}.", "signed-url-invalid")
    assert_refused(f"{body}.{mac}{mac}", "signed-url-invalid")


def test_other_secret_is_invalid() -> None:
    assert_refused(token(secret="another-secret"), "signed-url-invalid")


def test_wrong_purpose_is_invalid() -> None:
    assert_refused(token(), "signed-url-invalid", purpose="download")


def test_expired() -> None:
    tok = token(ttl_seconds=60)
    assert_refused(tok, "signed-url-expired", now=NOW + 60)
    assert_refused(tok, "signed-url-expired", now=NOW + 10_000)


@pytest.mark.parametrize(
    "garbage",
    ["", ".", "..", "abc", "abc.def", "a.b.c", "!!!.???", "ünïcødé.sig", "e30.e30", "%%%"],
)
def test_garbage_is_invalid(garbage: str) -> None:
    assert_refused(garbage, "signed-url-invalid")


def test_validly_signed_but_malformed_body_is_invalid() -> None:
    # Even a correctly MACed body must have the expected shape (defence in depth).
    body = base64.urlsafe_b64encode(b"[1, 2]").rstrip(b"=").decode()
    mac = hmac.new(signing._key(SECRET), body.encode(), hashlib.sha256).digest()
    tok = f"{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert_refused(tok, "signed-url-invalid")


def test_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        token(ttl_seconds=0)
