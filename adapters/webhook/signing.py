"""Standard Webhooks signatures (standardwebhooks.com): ``v1,`` + base64 HMAC-SHA256 over
``{webhook-id}.{webhook-timestamp}.{body}`` with the secret ``whsec_<base64 bytes>``. Each target
may have its own secret (``parse_secrets``); a target without one signs with the account's.
Pure."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
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


def parse_secrets(stored: str) -> tuple[str | None, dict[str, str]]:
    """(the account's secret, each target's own) from what the account stores: a plain
    ``whsec_…`` (one secret for every target, as every install before per-target secrets
    stored it) or ``{"default": "whsec_…" | null, "targets": {"<target>": "whsec_…"}}``."""
    value = stored.strip()
    if not value.startswith("{"):
        return (value or None), {}
    try:
        doc = json.loads(value)
    except ValueError:
        raise ValueError("the stored signing secrets are not valid JSON") from None
    targets = (doc.get("targets") or {}) if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or not isinstance(targets, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in targets.items()):
        raise ValueError('signing secrets must be {"default": "whsec_…", "targets": '
                         '{"<target>": "whsec_…"}}')
    default = doc.get("default")
    return (str(default) if default else None), dict(targets)


def dump_secrets(default: str | None, targets: dict[str, str]) -> str:
    """What the account stores (encrypted): a plain secret while no target has its own."""
    if not targets and default:
        return default
    return json.dumps({"default": default, "targets": dict(sorted(targets.items()))})


def with_target_secret(stored: str | None, target: str | None, secret: str) -> str:
    """``stored`` with ``target``'s secret set to ``secret`` (None: the account's secret, used
    by targets without their own): how a secret is rotated."""
    default, targets = parse_secrets(stored or "")
    if target is None:
        default = secret
    else:
        targets[target] = secret
    return dump_secrets(default, targets)
