"""Secrets at rest: platform credentials are Fernet-encrypted with a key derived from the hub's
secret key; API and feed tokens are random and stored (or derived) as hashes only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken

from hub.errors import HubError


class SecretBox:
    """Encrypts credentials for the ``account`` table. Never logs what it handles."""

    def __init__(self, secret_key: str) -> None:
        self._key = secret_key.encode()
        derived = hashlib.sha256(b"hub-credentials:" + self._key).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def __repr__(self) -> str:
        return "SecretBox(<hidden>)"

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise HubError("stored credentials cannot be decrypted: was HUB_SECRET_KEY "
                           "or var/secret.key changed? Reconnect the account.") from exc

    def sign(self, purpose: str, message: str, *, length: int = 32) -> str:
        """Deterministic MAC, e.g. a feed member's personal token (printable again later)."""
        mac = hmac.new(self._key, f"{purpose}:{message}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")[:length]


def new_token_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """API tokens carry 256 bits of randomness, so a plain SHA-256 is the right hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
