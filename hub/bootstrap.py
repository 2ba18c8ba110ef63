"""Composition root: builds a complete, immutable runtime from Settings, once per mode.

With ``hub/bootstrap_publishers.py`` (the account publishers) and ``hub/bootstrap_lookups.py``
(connectors, contact readers, OAuth, anchor sinks, remote files), the only hub modules that
import ``adapters``: entrypoints (the CLI, the web app, the arq worker) ask it for a
:class:`Runtime`, and for adapter look-ups, which this module re-exports.
"""

from __future__ import annotations

import asyncio
import enum
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import adapters
from hub.audit.sequencer import Sequencer
from hub.bootstrap_lookups import (
    OAuthFlow,
    anchor_sinks,
    connector,
    contact_reader,
    list_names,
    load_policy_files,
    oauth_flow,
    remote_files,
    target_secret_rotation,
)
from hub.bootstrap_publishers import KEPT_DRAFTS, AccountPublishers, media_reader
from hub.config import Settings
from hub.crypto import SecretBox
from hub.dispatch.limits import AccountLimits
from hub.errors import HubError
from hub.ports import (
    Publisher,
    RemoteFiles,
)
from hub.runtime import Hub, NoWaker, PolicyState, Waker, utcnow
from hub.services.audit_growth import GrowthSchedule
from hub.services.audit_proofs import AnchorSchedule
from hub.services.contacts_schedule import ContactSync
from hub.services.job_runner import JobRunner
from hub.store.db import Database, make_engine
from hub.store.migrate import current as current_revision

__all__ = ["KEPT_DRAFTS", "AccountPublishers", "Mode", "OAuthFlow", "Runtime", "anchor_sinks",
           "bootstrap", "build_hub", "connector", "contact_reader", "job_services",
           "load_policy_files", "oauth_flow", "target_secret_rotation", "web_mode"]

if TYPE_CHECKING:    # imported by the modes that use them: a CLI command needs no arq
    from hub.dispatch.queue import ArqEnqueuer
    from hub.dispatch.worker import EmbeddedWorkers, LocalQueue


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
                               static_lists=functools.partial(list_names, db))
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
                                 media_loader=media_reader(settings),
                                 lock_dir=settings.data_dir / "locks",
                                 keep_drafts=keep_drafts)
    return Hub(settings=settings, db=db, policies=policies, publishers=accounts, box=box,
               now=now, waker=waker, limits=AccountLimits(settings.account_concurrency),
               remote=remote or remote_files(settings))
