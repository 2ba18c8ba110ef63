"""The running hub's parts, as the composition root (``hub.bootstrap``) assembles them.

Services take a :class:`Hub`; tests build one with fakes through the same ports. A ``Hub`` is
immutable once built: its policy is loaded by the composition root, and the way it wakes workers
after a commit (``waker``) is fixed by the mode it was built for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from hub.audit import AuditLog
from hub.config import Settings
from hub.crypto import SecretBox
from hub.dispatch.limits import AccountLimits
from hub.domain.model import PeopleSnapshot, Post, Target
from hub.errors import PolicyFileInvalid
from hub.policy import Policy, load_policy
from hub.ports import Draft, Publisher, RemoteFiles, TargetSpec
from hub.store.db import Database
from hub.store.people import PeopleCache
from hub.store.versions import LocalDomains


class Publishers(Protocol):
    """Connected accounts' publishers (``hub.bootstrap.AccountPublishers``)."""

    def get(self, account: str) -> Publisher:
        """The publisher for ``account``; ``AccountNotConnected`` if it has no connection."""
        ...

    def check(self, post: Post, target: Target, people: PeopleSnapshot) -> str | None:
        """Why ``target`` cannot carry ``post`` (its ``prepare`` refused), or None."""
        ...

    def prepare(self, post: Post, target: Target, people: PeopleSnapshot) -> Draft:
        """``post`` rendered for ``target`` by its account's publisher (the draft ``check``
        rendered already, when it was for the same post, target and people)."""
        ...

    async def forget(self, account: str) -> None:
        """Close and drop a cached publisher (after reconnecting or a credentials rejection)."""
        ...

    async def aclose(self) -> None:
        """Close every publisher's client (at shutdown)."""
        ...


EDIT_JOB = "edit:"
"""Prefix of a copy edit's id in a wake-up (``Hub.wake_edits``): the workers run it as an edit
job, the rest of a wake-up are delivery ids."""


def split_wake(ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """(delivery ids, copy-edit ids) of one wake-up."""
    deliveries = [i for i in ids if not i.startswith(EDIT_JOB)]
    return deliveries, [i[len(EDIT_JOB):] for i in ids if i.startswith(EDIT_JOB)]


class Waker(Protocol):
    """Tells workers that deliveries may be due now (called after commit, from any thread).
    ``due_now``: the caller just committed them as pending and due, so a waker need not
    look their state up again (a submit). Copy edits come in the same call, as
    ``EDIT_JOB + id`` (``split_wake``)."""

    def wake(self, delivery_ids: Sequence[str], *, due_now: bool = False) -> None: ...


class NoWaker:
    """For processes that wake nobody: the running hub's sweeper finds the deliveries."""

    def wake(self, delivery_ids: Sequence[str], *, due_now: bool = False) -> None:
        return None


class PolicyState:
    """The policy in force, loaded when the state is built (by the composition root).

    A failed reload raises and leaves the previous policy in place. A state built with
    ``tolerate_errors`` (CLI commands that need no policy) keeps the load error and raises it
    only when something asks for the policy."""

    def __init__(self, directory: Path, specs: Mapping[str, type[TargetSpec]], *,
                 tolerate_errors: bool = False,
                 static_lists: Callable[[], Collection[str] | None] | None = None) -> None:
        self.directory = directory
        self.specs = specs
        # the address book's list names, which rule lists may name (None: unknown)
        self.static_lists = static_lists or (lambda: None)
        self._current: Policy | None = None
        self._error: PolicyFileInvalid | None = None
        self._reloading = threading.Lock()   # workers on several threads may ask at once
        try:
            self._current = load_policy(directory, specs, static_lists=self.static_lists())
        except PolicyFileInvalid as exc:
            if not tolerate_errors:
                raise
            self._error = exc

    @property
    def current(self) -> Policy:
        if self._current is None:
            assert self._error is not None
            raise self._error
        return self._current

    def reload(self) -> tuple[Policy, bool]:
        """Load from disk; return (policy, changed). Raises PolicyFileInvalid, keeping the old."""
        with self._reloading:
            fresh = load_policy(self.directory, self.specs,   # raises before anything changes
                                static_lists=self.static_lists())
            changed = self._current is None or fresh.digest != self._current.digest
            self._current, self._error = fresh, None
            return fresh, changed


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Hub:
    """Everything a service needs, assembled once by ``hub.bootstrap``."""

    settings: Settings
    db: Database
    policies: PolicyState
    publishers: Publishers
    box: SecretBox
    audit: AuditLog = field(default_factory=AuditLog)
    now: Callable[[], datetime] = utcnow
    waker: Waker = field(default_factory=NoWaker)
    people: PeopleCache = field(default_factory=PeopleCache)
    """The address book, read again only when it changed (``hub.store.people``)."""
    domains: LocalDomains = field(default_factory=LocalDomains)
    """The Mastodon accounts' domains, read again only when an account changed."""
    limits: AccountLimits = field(default_factory=lambda: AccountLimits(4))
    """Deliveries to one account published at once (``HUB_ACCOUNT_CONCURRENCY``)."""
    remote: RemoteFiles | None = None
    """Fetches files at URLs clients send (Micropub photos); None: such URLs are refused."""

    def wake(self, delivery_ids: Sequence[str], *, due_now: bool = False) -> None:
        """Tell workers (in-process queue or arq) that these deliveries may be due now
        (``due_now``: they are, as just committed)."""
        if delivery_ids:
            self.waker.wake(delivery_ids, due_now=due_now)

    def wake_edits(self, edit_ids: Sequence[str]) -> None:
        """Tell workers that these copy edits (``copy_edit`` rows) may run now."""
        if edit_ids:
            self.waker.wake([EDIT_JOB + i for i in edit_ids])

    @property
    def media_dir(self) -> Path:
        return self.settings.media_dir
