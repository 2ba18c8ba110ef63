"""Standard Webhooks signatures (standardwebhooks.com): ``v1,`` + base64 HMAC-SHA256 over
``{webhook-id}.{webhook-timestamp}.{body}`` with the secret ``whsec_<base64 bytes>``. Pure."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
MIN_BYTES, MAX_BYTES = 24, 64


def new_secret() -> str:
    """A fresh signing secret, ``whsec_`` + 32 random bytes in base64."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_bytes(secret: str) -> bytes:
    """The key bytes of a ``whsec_…`` secret; ValueError (without the secret) if malformed."""
    raw = secret.strip()
    if raw.startswith(PREFIX):
        raw = raw[len(PREFIX):]
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the signing secret must be whsec_ followed by base64") from None
    if not MIN_BYTES <= len(key) <= MAX_BYTES:
        raise ValueError(f"the signing secret must hold {MIN_BYTES} to {MAX_BYTES} bytes "
                         f"(this one holds {len(key)})")
    return key


def sign(key: bytes, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one attempt."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(key: bytes, *, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers (plus the JSON content type)."""
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(key, msg_id=msg_id, timestamp=timestamp, body=body),
            "content-type": "application/json"}
