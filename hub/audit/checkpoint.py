"""Signed checkpoints: "this log had N events and its Merkle root was R", in the C2SP
``tlog-checkpoint`` signed-note text format, signed with the hub's Ed25519 log key.

The key lives beside the credentials key, in ``<data_dir>/audit-signing.key`` (mode 0600),
created on first use together with the log's *origin* (its name in every checkpoint), so both
stay the same for the life of the log. Publish the verifier key (``hub audit key``) so people
can check checkpoints and proofs with ``hub/audit/verifier.py``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hub.audit.verifier import Checkpoint, VerifierKey, key_id, verify_checkpoint
from hub.config import Settings
from hub.errors import HubError

KEY_FILE = "audit-signing.key"


@dataclass(frozen=True)
class LogKey:
    """The log's name (origin) and its Ed25519 signing key."""

    origin: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def verifier(self) -> VerifierKey:
        return VerifierKey(self.origin, key_id(self.origin, self.public), self.public)

    @property
    def verifier_text(self) -> str:
        """``<origin>+<key id>+<base64 key>``: what the owner publishes."""
        blob = base64.b64encode(b"\x01" + self.public).decode()
        return f"{self.origin}+{self.verifier.key_id.hex()}+{blob}"

    def sign(self, size: int, root: bytes) -> str:
        """The signed note for a tree of ``size`` events with Merkle ``root``."""
        body = f"{self.origin}\n{size}\n{base64.b64encode(root).decode()}\n"
        sig = self.private.sign(body.encode())
        blob = base64.b64encode(self.verifier.key_id + sig).decode()
        return f"{body}\n\u2014 {self.origin} {blob}\n"

    def check(self, note: str) -> Checkpoint:
        """Parse a checkpoint and check it carries this key's valid signature."""
        return verify_checkpoint(note, self.verifier)


def default_origin(settings: Settings) -> str:
    host = urlparse(settings.base_url).netloc or "localhost"
    return f"{host}/hub-audit"


def key_path(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE


def load_key(settings: Settings, *, create: bool = True) -> LogKey:
    """The log key; created (with the origin) on first use unless ``create`` is False."""
    path = key_path(settings)
    if not path.exists():
        if not create:
            raise HubError(f"no audit signing key at {path}: run `hub audit checkpoint` once")
        path.parent.mkdir(parents=True, exist_ok=True)
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        path.touch(mode=0o600)
        path.write_text(f"{default_origin(settings)}\n{base64.b64encode(seed).decode()}\n")
    try:
        origin, seed_b64 = path.read_text().split()
        private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed_b64))
    except ValueError as exc:
        raise HubError(f"{path} is not an audit signing key (origin and base64 seed)") from exc
    return LogKey(origin, private)
