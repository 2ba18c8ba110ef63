"""Settings from the environment (prefix ``HUB_``), secret files and an optional ``hub.toml``.

Built once by each entrypoint (CLI, web, worker) and passed down; never created at import.
Priority: explicit arguments > environment > secret files > hub.toml > defaults.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_WILDCARD_BINDS = {"0.0.0.0", "::", ""}
NameList = Annotated[tuple[str, ...], NoDecode]

_PLACEHOLDERS = {"changeme", "change-me", "secret", "changethis", ""}


class Settings(BaseSettings):
    """Everything the hub needs to run. See README "Configuration"."""

    model_config = SettingsConfigDict(
        env_prefix="HUB_",
        env_nested_delimiter="__",
        secrets_dir=None,
        toml_file="hub.toml",
        extra="forbid",
        hide_input_in_errors=True,   # a refused secret key never appears in the message
        use_attribute_docstrings=True,   # the docstrings below are what `hub config` prints
    )

    data_dir: Path = Path("var")
    """Where the SQLite database, the secret key file and media live."""
    database_url: str = ""
    """SQLAlchemy URL; empty means ``sqlite:///<data_dir>/hub.db`` (embedded mode)."""
    redis_url: str = ""
    """``redis://...``: distributed mode (arq workers). Empty: in-process workers."""
    policy_dir: Path = Path("policies")
    """The owner's policy files (``*.yaml``); examples in ``policy_dir/tests``."""
    secret_key: SecretStr | None = None
    """The key behind credential encryption, feed links and sessions (separate HKDF subkeys):
    at least 32 random bytes as base64 or hex, or a passphrase of 24+ characters (stretched
    with argon2id). Empty: read ``<data_dir>/secret.key`` (``hub init`` creates it, 0600)."""
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    """Base URL people use to reach the hub (feed links). Empty: http://host:port."""
    workers: int = 2
    """Kept for older set-ups: embedded mode starts every due delivery at once, up to
    ``max_in_flight`` (or this, if larger)."""
    max_in_flight: int = Field(default=16, ge=1, le=10_000)
    """Deliveries one embedded hub publishes at once (each due delivery starts at once)."""
    account_concurrency: int = Field(default=4, ge=1, le=1000)
    """Deliveries to one account published at once by one process (protects the platform)."""
    db_pool_size: int = Field(default=20, ge=1, le=500)
    """PostgreSQL connections one process keeps open (``hub worker`` uses at least its
    ``--concurrency`` + 4): no connection is opened and closed per request or delivery."""
    lease_seconds: int = 120
    """How long a claimed delivery stays claimed before another worker may take it over."""
    sweep_seconds: float = 5.0
    """How often the sweeper looks for deliveries that are due and not in flight."""
    max_attempts: int = 8
    """Transient failures are retried with backoff up to this many attempts."""
    max_body_bytes: int = 1_000_000
    """Largest accepted JSON or form request body."""
    max_upload_bytes: int = 4 * 20 * 1024 * 1024 + 1_000_000
    """Largest accepted multipart body (up to four 20 MiB images plus the form)."""
    remote_fetch_allow: list[str] = Field(default_factory=list)
    """Addresses or networks (``192.168.1.10``, ``10.0.0.0/8``) from which Micropub photo URLs
    may be fetched although they are not public. Empty (the default): public addresses only."""
    log_level: str = "info"
    allowed_hosts: NameList = ()
    """Host names this hub answers to (comma-separated; ``*`` for any). The loopback names,
    the host of ``public_url`` and a specific bind address are always allowed; any other
    ``Host`` header gets 400, which stops DNS-rebinding attacks on the owner's pages."""
    trusted_proxies: NameList = ()
    """Addresses of reverse proxies whose ``X-Forwarded-For``/``-Proto`` headers are believed
    (comma-separated IPs or networks; ``*`` for any). Empty: forwarded headers are ignored."""
    session_idle_hours: float = 12.0
    """A web session unused for this long ends (the absolute limit is 14 days)."""
    previous_secret_key: SecretStr | None = None
    """When changing ``secret_key``: the old key, so stored credentials can be re-encrypted.
    Feed links made with it stop working; ``hub db upgrade`` lists which to hand out again."""
    audit_anchor_dir: Path | None = None
    """Publish signed audit checkpoints as files here (a backup disk, a synced folder)."""
    audit_anchor_email: str = ""
    """Email signed audit checkpoints to this address (yourself) through the email account
    ``audit_anchor_email_account``."""
    audit_anchor_email_account: str = "email:personal"
    audit_anchor_bluesky: str = ""
    """Opt in to posting each anchored checkpoint publicly on this Bluesky account (e.g.
    ``bluesky:me``): the relays copy and timestamp it. Empty: never."""
    audit_anchor_seconds: float = 3600.0
    """Publish a checkpoint to the anchors this often, when the log grew (default hourly)."""
    audit_growth_seconds: float = Field(default=86400.0, ge=0)
    """How often ``hub serve`` re-reads the followers of each account with followers-only
    posts and records who could see them since (default daily; 0: never)."""
    audit_sequence_seconds: float = Field(default=0.2, gt=0, le=60)
    """Events commit queued with what they record; every this often a sequencer gives all
    queued events their place in the hash chain and the Merkle tree in one transaction."""
    contacts_sync_hours: float = Field(default=0.0, ge=0, le=24 * 30)
    """Sync followers and follows of every connected account this often, in hours, while
    ``hub serve`` runs (0: only on demand, ``hub contacts sync`` or the Contacts page). A run
    paused by a rate limit is resumed once the limit resets."""
    contacts_sync_max_wait: float = Field(default=300.0, ge=0, le=3600)
    """A contact sync refused with 429 waits this many seconds at most for the limit to
    reset (``Retry-After`` / ``X-RateLimit-Reset``) and goes on; a longer wait pauses it."""

    @field_validator("allowed_hosts", "trusted_proxies", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, file_secret_settings,
                TomlConfigSettingsSource(settings_cls))

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.secret_key is not None and (
                self.secret_key.get_secret_value().strip().lower() in _PLACEHOLDERS):
            raise ValueError("HUB_SECRET_KEY is a placeholder; unset it (hub init creates a key) "
                             "or set a real one")
        if self.secret_key is not None:
            from hub.crypto import WeakSecretKey, check_secret_key

            try:
                check_secret_key(self.secret_key.get_secret_value())
            except WeakSecretKey as exc:
                raise ValueError(f"HUB_SECRET_KEY: {exc.message}") from None
        return self

    @property
    def host_names(self) -> frozenset[str]:
        """Every ``Host`` this hub answers to (lower case, no port); ``*`` means any."""
        names = {*LOOPBACK_NAMES, *(h.lower().strip("[]") for h in self.allowed_hosts)}
        if self.public_url:
            public = urlsplit(self.public_url).hostname
            if public:
                names.add(public.lower())
        if self.host not in _WILDCARD_BINDS:
            names.add(self.host.lower().strip("[]"))
        return frozenset(names)

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'hub.db').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def distributed(self) -> bool:
        return bool(self.redis_url)

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def public_url_warning(self) -> str:
        """Said by the web UI and the CLI while links would point at this machine only."""
        if self.public_url:
            return ""
        return (f"HUB_PUBLIC_URL is not set, so feed links and phone requests point at "
                f"{self.base_url}, which other devices cannot reach; set HUB_PUBLIC_URL to the "
                "address they use (e.g. https://hub.example.org)")

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def secret_key_file(self) -> Path:
        return self.data_dir / "secret.key"

    def load_secret_key(self) -> str | None:
        """The credentials key: from settings, else the key file, else None (not initialised)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        if self.secret_key_file.exists():
            return self.secret_key_file.read_text().strip()
        return None

    def ensure_secret_key(self) -> str:
        """Return the key, creating ``<data_dir>/secret.key`` (0600) on first use."""
        key = self.load_secret_key()
        if key:
            return key
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)   # 32 random bytes (hub.crypto.key_material)
        path = self.secret_key_file
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key + "\n")
        path.chmod(0o600)
        return key
