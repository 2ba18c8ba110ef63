"""Secrets at rest and the keys behind every MAC the hub hands out.

The secret key is either at least 32 random bytes (base64, base64url or hex, as ``hub init``
or ``openssl rand -base64 32`` write it) or a long passphrase stretched with argon2id (64 MiB).
Anything shorter is refused: a feed member holds a MAC made with the key and could otherwise
guess the key offline and forge other members' links. Separate subkeys are derived with HKDF
for credential encryption, feed links and sessions (CSRF, flash, device cookies, set-up code).

Installs from before this scheme keep working: credentials encrypted the old way still decrypt
(``hub db upgrade`` re-encrypts them), and feed links minted the old way keep resolving through
``legacy_feed_mac`` while their member row says so (``hub.services.keys``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets

from argon2.low_level import Type, hash_secret_raw
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.errors import HubError

MIN_KEY_BYTES = 32
MIN_PASSPHRASE = 24
_PASSPHRASE_SALT = b"crosspost-hub secret key passphrase v1"
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_HEX = re.compile(r"[0-9a-fA-F]+")


class WeakSecretKey(HubError):
    """The secret key is too short or too regular to protect feed links and credentials."""

    def __init__(self) -> None:
        super().__init__(
            "the secret key is too weak: use at least 32 random bytes (e.g. `openssl rand "
            f"-base64 32`; `hub init` writes one to var/secret.key) or a passphrase of at least "
            f"{MIN_PASSPHRASE} characters. When replacing a key in use, set the old one as "
            "HUB_PREVIOUS_SECRET_KEY once and run `hub db upgrade`: it re-encrypts the stored "
            "credentials and lists the feed links to hand out again")


def _decoded(text: str) -> bytes | None:
    """The bytes a random key written as hex or base64(url) stands for, else None."""
    try:
        if _HEX.fullmatch(text) and len(text) % 2 == 0:
            return bytes.fromhex(text) if len(set(text.lower())) >= 10 else None
        if _BASE64.fullmatch(text) and len(set(text)) >= 20:
            std = text.replace("-", "+").replace("_", "/").rstrip("=")
            return base64.b64decode(std + "=" * (-len(std) % 4), validate=True)
    except (ValueError, binascii.Error):
        return None
    return None


@functools.lru_cache(maxsize=8)
def _stretch(passphrase: str) -> bytes:
    """argon2id, RFC 9106's low-memory profile: ~64 MiB per guess for anyone guessing."""
    return hash_secret_raw(passphrase.encode(), _PASSPHRASE_SALT, time_cost=3,
                           memory_cost=65536, parallelism=4, hash_len=32, type=Type.ID)


def key_material(secret_key: str) -> bytes:
    """The input keying material behind ``secret_key``; raises ``WeakSecretKey``."""
    text = secret_key.strip()
    raw = _decoded(text)
    if raw is not None and len(raw) >= MIN_KEY_BYTES:
        return raw
    if len(text) >= MIN_PASSPHRASE and len(set(text)) >= 8:
        return _stretch(text)
    raise WeakSecretKey()


def check_secret_key(secret_key: str) -> None:
    """Raise ``WeakSecretKey`` unless the key is strong enough (used by settings)."""
    key_material(secret_key)


def _subkey(ikm: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"crosspost-hub/{purpose}/v1".encode()).derive(ikm)


def _legacy_fernet(secret_key: str) -> Fernet:
    """How credentials were encrypted before subkeys (sha256 of a prefix and the key)."""
    derived = hashlib.sha256(b"hub-credentials:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def _mac(key: bytes, purpose: str, message: str, length: int) -> str:
    mac = hmac.new(key, f"{purpose}:{message}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")[:length]


class SecretBox:
    """Encrypts credentials for the ``account`` table and signs what the hub hands out.
    Never logs what it handles. ``previous_key`` (optional) only decrypts."""

    def __init__(self, secret_key: str, *, previous_key: str | None = None) -> None:
        ikm = key_material(secret_key)
        self._fernet = Fernet(base64.urlsafe_b64encode(_subkey(ikm, "credentials")))
        self._feed_key = _subkey(ikm, "feed-links")
        self._session_key = _subkey(ikm, "sessions")
        self._legacy_key = secret_key.encode()
        readers = [self._fernet, _legacy_fernet(secret_key)]
        if previous_key:
            try:
                old = key_material(previous_key)
                readers.append(Fernet(base64.urlsafe_b64encode(_subkey(old, "credentials"))))
            except WeakSecretKey:
                pass   # a weak old key was only ever used the old way
            readers.append(_legacy_fernet(previous_key))
        self._readers = MultiFernet(readers)
        self.fingerprint = _mac(self._session_key, "fingerprint", "v1", 16)

    def __repr__(self) -> str:
        return "SecretBox(<hidden>)"

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._readers.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise HubError("stored credentials cannot be decrypted: was HUB_SECRET_KEY "
                           "or var/secret.key changed? Set the old key as "
                           "HUB_PREVIOUS_SECRET_KEY, or reconnect the account.") from exc

    def current(self, token: str) -> bool:
        """Whether ``token`` is encrypted under the current credentials subkey."""
        try:
            self._fernet.decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def reencrypt(self, token: str) -> str:
        """The same plaintext under the current subkey (``decrypt``'s error if unreadable)."""
        return self.encrypt(self.decrypt(token))

    def sign(self, purpose: str, message: str, *, length: int = 32) -> str:
        """Deterministic MAC, e.g. a feed member's personal token (printable again later).
        Feed links use their own subkey; everything else the sessions subkey."""
        key = self._feed_key if purpose == "feed" else self._session_key
        return _mac(key, purpose, message, length)

    def legacy_feed_mac(self, message: str, *, length: int = 32) -> str:
        """A feed token as minted before subkeys (raw key), for links handed out then."""
        return _mac(self._legacy_key, "feed", message, length)


def new_token_secret() -> str:
    return secrets.token_urlsafe(32)


def new_secret_key() -> str:
    """A fresh secret key: 32 random bytes, base64url."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """API tokens carry 256 bits of randomness, so a plain SHA-256 is the right hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
