"""Composition root: builds a complete, immutable runtime from Settings, once per mode.

The only hub module that imports ``adapters``: entrypoints (the CLI, the web app, the arq
worker) ask it for a :class:`Runtime`, and for adapter look-ups (account connectors, OAuth).
"""

from __future__ import annotations

import asyncio
import enum
import functools
import importlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

import adapters
from hub.audit.anchors import AnchorSink, DirectorySink
from hub.audit.sequencer import Sequencer
from hub.config import Settings
from hub.crypto import SecretBox
from hub.dispatch.limits import AccountLimits
from hub.domain.model import PeopleSnapshot, Post, Target
from hub.errors import AccountNotConnected, ContentRejected, HubError
from hub.policy import Policy, load_policy
from hub.ports import (
    Connection,
    Connector,
    ContactReader,
    Draft,
    MediaLoader,
    Publisher,
    PublisherFactory,
    RemoteFiles,
    TargetSpec,
)
from hub.runtime import Hub, NoWaker, PolicyState, Waker, utcnow
from hub.services.audit_growth import GrowthSchedule
from hub.services.audit_proofs import AnchorSchedule
from hub.services.contacts_schedule import ContactSync
from hub.services.jobs import JobRunner
from hub.store.credentials import DbCredentials
from hub.store.db import Database, make_engine
from hub.store.migrate import current as current_revision
from hub.store.tables import AccountRow

if TYPE_CHECKING:    # imported by the modes that use them: a CLI command needs no arq
    from hub.dispatch.queue import ArqEnqueuer
    from hub.dispatch.worker import EmbeddedWorkers, LocalQueue


KEPT_DRAFTS = 256
"""Drafts rendered by ``check`` at submit, kept for the in-process delivery (embedded mode)."""


class AccountPublishers:
    """One publisher per connected account, built on first use and kept (one client each).

    Render once: with ``keep_drafts`` (embedded mode, where the delivery runs in this process)
    the draft ``check`` renders at submit is kept, and ``prepare`` hands it to the delivery if
    the post, the target and the people snapshot (the same object: the book did not change)
    are the ones it was rendered for; anything else renders again. Kept drafts are bounded
    (``KEPT_DRAFTS``, oldest dropped) and dropped with their account's publisher."""

    def __init__(self, db: Database, box: SecretBox,
                 specs: Mapping[str, type[TargetSpec]],
                 factory: Callable[[str], PublisherFactory] = adapters.load_factory,
                 overrides: Mapping[str, Publisher] | None = None,
                 media_loader: MediaLoader | None = None,
                 lock_dir: Path = Path("var/locks"), keep_drafts: bool = False) -> None:
        self._keep_drafts = keep_drafts
        self._drafts: OrderedDict[tuple[str, str],
                                  tuple[Post, Target, PeopleSnapshot, Draft]] = OrderedDict()
        self._media_loader = media_loader
        self._lock_dir = lock_dir
        self._db = db
        self._box = box
        self._specs = specs
        self._factory = factory
        self._overrides = dict(overrides or {})
        self._cache: dict[str, Publisher] = {}
        self._lock = threading.Lock()

    def get(self, account: str) -> Publisher:
        if account in self._overrides:
            return self._overrides[account]
        with self._lock:
            if account not in self._cache:
                self._cache[account] = self._build(account)
            return self._cache[account]

    def fresh(self, account: str) -> Publisher:
        """A new publisher of its own for ``account`` (not cached: for a caller on another
        event loop, such as an anchor sink on a worker thread; it closes it itself)."""
        if account in self._overrides:
            return self._overrides[account]
        return self._build(account)

    def _build(self, account: str) -> Publisher:
        platform, _, name = account.partition(":")
        spec = self._specs.get(platform)
        if spec is None:
            raise AccountNotConnected(f"no adapter for platform {platform!r}")
        credentials = DbCredentials(self._db, self._box, self._lock_dir)
        if not spec.needs_connection:
            return self._factory(platform)(Connection(account, {}), credentials,
                                           media_loader=self._media_loader)
        with self._db.read() as s:
            row = s.get(AccountRow, account)
        if row is None:
            raise AccountNotConnected(
                f"account {account} is not connected: run `hub accounts add {platform} {name}`")
        if row.status == "rejected":
            raise AccountNotConnected(
                f"account {account}: the platform rejected its credentials "
                f"({row.status_reason}); it needs reconnecting: on the Accounts page "
                f"(/accounts) or with `hub accounts add {platform} {name}`")
        secret = self._box.decrypt(row.secret_enc) if row.secret_enc else None
        return self._factory(platform)(Connection(account, row.settings, secret), credentials,
                                       media_loader=self._media_loader)

    def check(self, post: Post, target: Target, people: PeopleSnapshot) -> str | None:
        try:
            publisher = self.get(target.account)
        except HubError:
            return None   # not connected: the delivery fails later with that reason
        try:
            sent = post.as_sent_to(target)   # the text this target gets (its variant)
            draft = publisher.prepare(sent, target, people)
        except ContentRejected as exc:
            return exc.message
        if self._keep_drafts:
            with self._lock:
                self._drafts[(post.id, target.name)] = (sent, target, people, draft)
                while len(self._drafts) > KEPT_DRAFTS:
                    self._drafts.popitem(last=False)
        return None

    def prepare(self, post: Post, target: Target, people: PeopleSnapshot) -> Draft:
        with self._lock:
            kept = self._drafts.pop((post.id, target.name), None)
        if kept is not None and kept[0] == post and kept[1] == target and kept[2] is people:
            return kept[3]
        return self.get(target.account).prepare(post, target, people)

    async def forget(self, account: str) -> None:
        with self._lock:
            publisher = self._cache.pop(account, None)
            for key in [k for k, v in self._drafts.items() if v[1].account == account]:
                del self._drafts[key]
        if publisher is not None:
            await _close(publisher)

    async def aclose(self) -> None:
        """Close every publisher's client (whoever built a client closes it)."""
        with self._lock:
            publishers, self._cache = list(self._cache.values()), {}
        for publisher in publishers:
            await _close(publisher)


async def _close(publisher: Publisher) -> None:
    await publisher.aclose()


class Mode(enum.StrEnum):
    """What a process is for; each mode gets the runtime it needs and nothing else."""

    EMBEDDED = "embedded"
    """The web app with in-process workers and sweeper (no Redis)."""
    ENQUEUE = "enqueue"
    """The web app in distributed mode: after a commit it enqueues arq jobs."""
    WORKER = "worker"
    """An arq worker process: it publishes, and wakes nobody."""
    CLI = "cli"
    """One command: it enqueues arq jobs itself when Redis is configured, else the running
    hub's sweeper finds its deliveries."""


def web_mode(settings: Settings) -> Mode:
    """The web app's mode: embedded workers, unless Redis is configured."""
    return Mode.ENQUEUE if settings.distributed else Mode.EMBEDDED


@dataclass(frozen=True)
class Runtime:
    """A complete hub for one mode. Nothing mutates it after :func:`bootstrap` returns;
    ``start``/``stop`` run its background parts on the caller's event loop."""

    hub: Hub
    mode: Mode
    workers: EmbeddedWorkers | None = None
    enqueuer: ArqEnqueuer | None = None
    anchors: AnchorSchedule | None = None
    jobs: JobRunner | None = None
    """Background jobs (imports, exports, verification) of ``hub serve``."""
    sequencer: Sequencer | None = None
    growth: GrowthSchedule | None = None
    contacts: ContactSync | None = None
    """Contact syncs started from the web UI, and the ``contacts_sync_hours`` schedule."""

    async def start(self) -> None:
        if self.sequencer is not None:
            await self.sequencer.start()
        if self.jobs is not None:
            await asyncio.to_thread(self.jobs.start)   # marks jobs left running interrupted
        if self.workers is not None:
            await self.workers.start()
        if self.enqueuer is not None:
            await self.enqueuer.start()
        if self.anchors is not None:
            await self.anchors.start()
        if self.growth is not None:
            await self.growth.start()
        if self.contacts is not None and self.hub.settings.contacts_sync_hours > 0:
            await self.contacts.start_schedule()

    async def stop(self) -> None:
        """Stop the workers, close every publisher's client, then the Redis pool."""
        if self.growth is not None:
            await self.growth.stop()
        if self.anchors is not None:
            await self.anchors.stop()
        if self.jobs is not None:
            await asyncio.to_thread(self.jobs.stop)
        if self.contacts is not None:
            await self.contacts.stop()
        if self.workers is not None:
            await self.workers.stop()
        await self.hub.publishers.aclose()
        if self.enqueuer is not None:
            await self.enqueuer.close()
        if self.sequencer is not None:
            await self.sequencer.stop()     # after the workers: their last events too

    def dispose(self) -> None:
        """Close the database pool (after ``stop``)."""
        self.hub.db.dispose()


def bootstrap(settings: Settings, mode: Mode, *,
              publishers: Mapping[str, Publisher] | None = None,
              now: Callable[[], datetime] = utcnow, require_policy: bool = True,
              require_schema: bool = True, remote: RemoteFiles | None = None) -> Runtime:
    """Assemble the runtime for ``mode``; the policy is loaded here (a bad file raises
    ``PolicyFileInvalid`` with file:line, unless ``require_policy`` is False: then only what
    asks for the policy fails). ``publishers`` overrides accounts (tests, development)."""
    db, box = _open(settings, require_schema=require_schema)
    try:
        policies = PolicyState(settings.policy_dir, adapters.TARGET_SPECS,
                               tolerate_errors=not require_policy,
                               static_lists=functools.partial(_list_names, db))
    except BaseException:
        db.dispose()
        raise
    waker: Waker = NoWaker()
    queue: LocalQueue | None = None
    enqueuer: ArqEnqueuer | None = None
    if mode is Mode.EMBEDDED:
        from hub.dispatch.worker import LocalQueue

        waker = queue = LocalQueue()
    elif mode is Mode.ENQUEUE:
        from hub.dispatch.queue import ArqEnqueuer

        waker = enqueuer = ArqEnqueuer(settings.redis_url, db, now)
    elif mode is Mode.CLI and settings.distributed:
        from hub.dispatch.queue import BlockingEnqueuer

        waker = BlockingEnqueuer(settings.redis_url, db, now)
    hub = _hub(settings, db, box, policies, publishers=publishers, now=now, waker=waker,
               keep_drafts=queue is not None, remote=remote)
    workers = None
    if queue is not None:
        from hub.dispatch.worker import EmbeddedWorkers

        workers = EmbeddedWorkers(hub, queue)
    serving = mode in (Mode.EMBEDDED, Mode.ENQUEUE)
    anchors = AnchorSchedule(hub, anchor_sinks(hub)) if serving else None
    jobs = JobRunner(hub, services=job_services(hub)) if serving else None
    sequencer = Sequencer(db, delay=settings.audit_sequence_seconds) if serving else None
    growth = (GrowthSchedule(hub, lambda account: contact_reader(hub, account))
              if serving else None)
    contacts = (ContactSync(hub, contact_reader, adapters.CONTACT_READERS, runner=jobs.name)
                if jobs is not None else None)
    return Runtime(hub=hub, mode=mode, workers=workers, enqueuer=enqueuer, anchors=anchors,
                   jobs=jobs, sequencer=sequencer, growth=growth, contacts=contacts)


def job_services(hub: Hub) -> dict[str, object]:
    """What background jobs get from the composition root (``hub.services.jobs``)."""
    return {"anchor_sinks": lambda: anchor_sinks(hub),
            "contact_reader": lambda account: contact_reader(hub, account)}


def build_hub(settings: Settings, *, publishers: Mapping[str, Publisher] | None = None,
              now: Callable[[], datetime] = utcnow, require_policy: bool = True) -> Hub:
    """A hub that wakes nobody (scripts, test set-up): ``bootstrap(settings, Mode.WORKER)``."""
    return bootstrap(settings, Mode.WORKER, publishers=publishers, now=now,
                     require_policy=require_policy).hub


def _open(settings: Settings, *, require_schema: bool) -> tuple[Database, SecretBox]:
    key = settings.load_secret_key()
    if key is None:
        raise HubError("the hub is not initialised: run `hub init` first")
    previous = settings.previous_secret_key
    box = SecretBox(key, previous_key=previous.get_secret_value() if previous else None)
    engine = make_engine(settings.sqlalchemy_url, pool_size=settings.db_pool_size)
    if require_schema and current_revision(engine) is None:
        engine.dispose()
        raise HubError("the database has no schema: run `hub init` (or `hub db upgrade`)")
    return Database(engine), box


def _hub(settings: Settings, db: Database, box: SecretBox, policies: PolicyState, *,
         publishers: Mapping[str, Publisher] | None, now: Callable[[], datetime],
         waker: Waker, keep_drafts: bool = False,
         remote: RemoteFiles | None = None) -> Hub:
    accounts = AccountPublishers(db, box, adapters.TARGET_SPECS, overrides=publishers,
                                 media_loader=_media_reader(settings),
                                 lock_dir=settings.data_dir / "locks",
                                 keep_drafts=keep_drafts)
    return Hub(settings=settings, db=db, policies=policies, publishers=accounts, box=box,
               now=now, waker=waker, limits=AccountLimits(settings.account_concurrency),
               remote=remote or _remote_files(settings))


def _remote_files(settings: Settings) -> RemoteFiles:
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


def _list_names(db: Database) -> list[str] | None:
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
        return _list_names(Database(engine)) if current_revision(engine) else None
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


def _media_reader(settings: Settings) -> MediaLoader:
    def read(sha256: str) -> bytes:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a media hash: {sha256[:16]!r}")
        return (settings.media_dir / sha256).read_bytes()

    return read
