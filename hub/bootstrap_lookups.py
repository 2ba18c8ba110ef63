"""Composition root, part three: the adapter look-ups entrypoints ask for — account
connectors and per-target secrets (``hub accounts``), contact readers, OAuth flows, the
SSRF-safe remote fetcher, the audit anchor sinks — and the policy files checked against the
address book. Only the composition root (``hub/bootstrap*.py``) imports ``adapters``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, cast

import adapters
from hub.audit.anchors import AnchorSink, DirectorySink
from hub.bootstrap_publishers import AccountPublishers
from hub.config import Settings
from hub.errors import AccountNotConnected, HubError
from hub.policy import Policy, load_policy
from hub.ports import Connection, Connector, ContactReader, RemoteFiles
from hub.runtime import Hub
from hub.store.credentials import DbCredentials
from hub.store.db import Database, make_engine
from hub.store.migrate import current as current_revision
from hub.store.tables import AccountRow


def remote_files(settings: Settings) -> RemoteFiles:
    """The SSRF-safe fetcher of Micropub photo URLs (the link-card fetcher's rules)."""
    import ipaddress

    from adapters.bluesky.linkcard import RemoteFiles as Fetcher
    from adapters.bluesky.linkcard import is_public

    extra = [ipaddress.ip_network(n, strict=False) for n in settings.remote_fetch_allow]

    def allowed(address: str) -> bool:
        if is_public(address):
            return True
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        return any(ip in net for net in extra)

    return Fetcher(allowed=allowed)


def anchor_sinks(hub: Hub) -> list[AnchorSink]:
    """Where signed audit checkpoints are published, from the settings (see README)."""
    from adapters.email_anchor import EmailAnchorSink

    s = hub.settings
    sinks: list[AnchorSink] = []
    if s.audit_anchor_dir is not None:
        sinks.append(DirectorySink(s.audit_anchor_dir))
    if s.audit_anchor_email:
        account = s.audit_anchor_email_account
        sinks.append(EmailAnchorSink(account, s.audit_anchor_email,
                                     lambda: hub.publishers.get(account)))
    if s.audit_anchor_bluesky:   # explicit opt-in: the checkpoint becomes a public post
        from adapters.bluesky_anchor import BlueskyAnchorSink

        bsky, publishers = s.audit_anchor_bluesky, hub.publishers
        fresh = (publishers.fresh if isinstance(publishers, AccountPublishers)
                 else publishers.get)
        sinks.append(BlueskyAnchorSink(bsky, lambda: fresh(bsky)))
    return sinks


def load_policy_files(settings: Settings) -> Policy:
    """Validate the policy files (``hub policy check``/``test``/``reload``): without a hub of
    its own, but against the address book's list names when the database is there to read."""
    return load_policy(settings.policy_dir, adapters.TARGET_SPECS,
                       static_lists=_stored_list_names(settings))


def list_names(db: Database) -> list[str] | None:
    """The address book's list names (what rule lists may name); None without a schema."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlmodel import select

    from hub.store.tables import ListRow

    try:
        with db.read() as s:
            return list(s.exec(select(ListRow.name)))
    except SQLAlchemyError:
        return None


def _stored_list_names(settings: Settings) -> list[str] | None:
    url = settings.sqlalchemy_url
    if settings.load_secret_key() is None or url.startswith("sqlite") and not Path(
            url.split("///", 1)[-1]).exists():
        return None     # not initialised: nothing to read, and nothing to create here
    engine = make_engine(url, pool_size=1)
    try:
        return list_names(Database(engine)) if current_revision(engine) else None
    except Exception:   # an unreachable database: the files are still checked on their own
        return None
    finally:
        engine.dispose()


def connector(platform: str) -> Connector:
    """The adapter's ``connect(settings, secret)`` for ``hub accounts add``."""
    if platform not in adapters.TARGET_SPECS:
        raise HubError(f"no adapter for platform {platform!r}")
    return adapters.load_connector(platform)


def target_secret_rotation(platform: str) -> Callable[[str | None, str | None, str], str]:
    """The adapter's ``with_target_secret(stored, target, secret)`` for platforms whose
    accounts keep a secret per target (``hub accounts webhook-secret``)."""
    if platform not in adapters.TARGET_SPECS:
        raise HubError(f"no adapter for platform {platform!r}")
    module_name = adapters.load_connector(platform).__module__
    rotate = getattr(importlib.import_module(module_name), "with_target_secret", None)
    if rotate is None:
        raise HubError(f"{platform} accounts have one secret, not one per target")
    return cast(Callable[[str | None, str | None, str], str], rotate)


def contact_reader(hub: Hub, account: str) -> ContactReader:
    """The follower/follows reader of a connected account (``hub contacts sync``)."""
    platform = account.partition(":")[0]
    if platform not in adapters.CONTACT_READERS:
        raise AccountNotConnected(f"{account}: syncing contacts from {platform} is not "
                                  f"supported (only {', '.join(adapters.CONTACT_READERS)})")
    with hub.db.read() as s:
        row = s.get(AccountRow, account)
    if row is None:
        raise AccountNotConnected(f"account {account} is not connected")
    secret = hub.box.decrypt(row.secret_enc) if row.secret_enc else None
    credentials = DbCredentials(hub.db, hub.box, hub.settings.data_dir / "locks")
    return adapters.load_contact_reader(platform)(Connection(account, row.settings, secret),
                                                  credentials)


class OAuthFlow(Protocol):
    """A platform's browser authorisation: register the hub, send the owner to a URL, trade
    the code it shows for an access token."""

    async def begin(self, instance: str) -> str:
        """Register with ``instance``; the address where the owner approves the hub."""
        ...

    async def finish(self, code: str) -> str:
        """The access token for the code the owner pasted."""
        ...


def oauth_flow(platform: str) -> OAuthFlow:
    """The OAuth flow of ``platform`` (Mastodon only)."""
    if platform != "mastodon":
        raise HubError(f"{platform} has no browser authorisation; use its app password")
    return _MastodonOAuth()


class _MastodonOAuth:
    def __init__(self) -> None:
        from adapters.mastodon import oauth

        self._oauth = oauth
        self._app: oauth.OAuthApp | None = None

    async def begin(self, instance: str) -> str:
        self._app = await self._oauth.register_app(instance)
        return self._oauth.authorization_url(self._app)

    async def finish(self, code: str) -> str:
        if self._app is None:
            raise HubError("the authorisation was not started")
        return await self._oauth.exchange_code(self._app, code)


