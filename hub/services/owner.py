"""The owner's web login: an argon2id password, throttled guessing, server-side sessions.

The session cookie carries a random token; the database keeps only its SHA-256, so logging out
(or changing the password) really ends a session, and so does a session left idle for
``HUB_SESSION_IDLE_HOURS``. Guessing is throttled the OWASP "device cookie" way: a browser that
has logged in before carries a signed device cookie and keeps its own failure budget, so a
flood of failures from elsewhere (any number of addresses) cannot lock the owner out of it;
browsers without one share a per-address budget and one budget for all of them together. Each
attempt is counted *before* its password is checked, in one locked transaction, so parallel
guesses cannot all slip through; and at most ``MAX_CONCURRENT_CHECKS`` argon2 checks (64 MiB
each) run at once in a process.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, delete

from hub.crypto import hash_token, new_token_secret, same
from hub.domain.events import OwnerLoggedIn, OwnerPasswordChanged
from hub.errors import AuthError, Forbidden, InvalidInput
from hub.runtime import Hub
from hub.store.tables import LoginThrottleRow, OwnerRow, OwnerSessionRow

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
SESSION_DAYS = 14
DEVICE_DAYS = 365
FREE_FAILURES = 5            # per device cookie, or per address without one, before locks start
FREE_FAILURES_ALL = 50       # across every browser without a device cookie
FIRST_LOCK_SECONDS = 30
MAX_LOCK_SECONDS = 15 * 60
FORGET_AFTER = timedelta(hours=1)   # a quiet hour wipes a budget's failure count
ALL_CLIENTS = "*"
MAX_CONCURRENT_CHECKS = 2
CHECK_WAIT_SECONDS = 10


class PasswordChecks:
    """Bounds how many argon2 checks run at once (each takes 64 MiB); ``peak`` is the most
    that ever ran together, for the metrics and the tests."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.peak = 0
        self._running = 0
        self._slots = threading.BoundedSemaphore(limit)
        self._count = threading.Lock()

    def verify(self, stored: str, password: str) -> bool | None:
        """True/False, or None when no slot freed up within ``CHECK_WAIT_SECONDS``."""
        if not self._slots.acquire(timeout=CHECK_WAIT_SECONDS):
            return None
        try:
            with self._count:
                self._running += 1
                self.peak = max(self.peak, self._running)
            return _verify(stored, password)
        finally:
            with self._count:
                self._running -= 1
            self._slots.release()


CHECKS = PasswordChecks(MAX_CONCURRENT_CHECKS)   # per process: it bounds this process's memory
_hasher = PasswordHasher()   # argon2id, RFC 9106 "low memory" profile (64 MiB, t=3, p=4)


class LoginThrottled(AuthError):
    """Too many failed logins from this browser: wait ``retry_after`` seconds."""

    status = 429

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        minutes = f"{math.ceil(retry_after / 60)} minutes" if retry_after > 90 else \
            f"{retry_after} seconds"
        super().__init__(message or f"too many failed attempts: try again in {minutes}")
        self.retry_after = retry_after


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"the password needs at least {MIN_PASSWORD} characters",
                           field="password")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"the password may have at most {MAX_PASSWORD} characters",
                           field="password")


def has_password(hub: Hub) -> bool:
    with hub.db.read() as s:
        return s.get(OwnerRow, 1) is not None


def setup_code(hub: Hub) -> str:
    """The code that ``hub init`` prints and the first-visit ``/setup`` form requires.

    Derived from the secret key, so every process of one hub agrees on it without storing it;
    it is useful only until a password is set (then ``/setup`` is closed for good)."""
    return hub.box.sign("setup-code", "owner", length=22)


def check_setup_code(hub: Hub, code: object) -> None:
    if not isinstance(code, str) or not same(code.strip(), setup_code(hub)):
        raise Forbidden("the set-up code is missing or wrong: use the link or code that "
                        "`hub init` printed (run `hub init` again to see it), or set the "
                        "password with `hub password`")


def set_password(hub: Hub, password: str, *, only_if_unset: bool = False) -> None:
    """Hash and store the owner's password; ends every session (they used the old one).

    With ``only_if_unset`` (first-visit set-up) an existing password is never replaced."""
    check_password_strength(password)
    hashed = _hasher.hash(password)
    now = hub.now()
    with hub.db.transaction() as s:
        row = s.get(OwnerRow, 1)
        if row is not None and only_if_unset:
            raise AuthError("the owner password is already set; log in instead")
        row = row or OwnerRow(id=1, password_hash=hashed, updated=now)
        row.password_hash, row.updated = hashed, now
        s.add(row)
        s.exec(delete(OwnerSessionRow))
        s.exec(delete(LoginThrottleRow))   # a new password starts every budget afresh
        hub.audit.append(s, OwnerPasswordChanged(actor="owner"), now=now)


@dataclass(frozen=True)
class OwnerSession:
    """A valid session: ``token`` is what the cookie holds, ``device`` the device cookie to
    (re)set (both kept out of reprs and logs)."""

    token: str
    expires: datetime
    device: str = ""

    def __repr__(self) -> str:
        return f"OwnerSession(expires={self.expires.isoformat()})"


def new_device_cookie(hub: Hub) -> str:
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{hub.box.sign('device', nonce)}"


def _device_id(hub: Hub, cookie: str | None) -> str | None:
    """The budget key of a genuine device cookie (one this hub signed), else None."""
    if not cookie or len(cookie) > 200 or "." not in cookie:
        return None
    nonce, _, mac = cookie.partition(".")
    if not same(mac, hub.box.sign("device", nonce)):
        return None
    return "device:" + hashlib.sha256(nonce.encode()).hexdigest()[:32]


def login(hub: Hub, password: str, *, client: str, device: str | None = None) -> OwnerSession:
    """Check the password and open a session. Raises ``LoginThrottled`` (429) while this
    browser's budget is locked, even for the right password, and ``AuthError`` (401) when
    wrong. ``device`` is the browser's device cookie, if it sent one."""
    now = hub.now()
    with hub.db.read() as s:
        row = s.get(OwnerRow, 1)
    if row is None:
        raise AuthError("no owner password is set yet: set one first")
    known = _device_id(hub, device)
    budgets = [(known, FREE_FAILURES)] if known else [
        (f"ip:{client}"[:64], FREE_FAILURES), (ALL_CLIENTS, FREE_FAILURES_ALL)]
    with hub.db.transaction() as s:
        _reserve(s, budgets, now)   # counts this attempt as a failure until proven right
    ok = CHECKS.verify(row.password_hash, password[:MAX_PASSWORD])
    with hub.db.transaction() as s:
        if ok is None:
            _refund(s, budgets)
        elif not ok:
            hub.audit.append(s, OwnerLoggedIn(actor="owner", outcome="failure"), now=now)
        else:
            _refund(s, budgets, forget=True)
            if _hasher.check_needs_rehash(row.password_hash):
                stored = s.get(OwnerRow, 1)
                if stored is not None:
                    stored.password_hash = _hasher.hash(password)
                    s.add(stored)
            hub.audit.append(s, OwnerLoggedIn(actor="owner", outcome="success"), now=now)
            token = new_token_secret()
            expires = now + timedelta(days=SESSION_DAYS)
            s.add(OwnerSessionRow(token_hash=hash_token(token), created=now, last_seen=now,
                                  expires=expires))
            idle = timedelta(hours=hub.settings.session_idle_hours)
            s.exec(delete(OwnerSessionRow).where(
                (col(OwnerSessionRow.expires) < now) | (col(OwnerSessionRow.last_seen) <
                                                        now - idle)))
    if ok is None:
        raise LoginThrottled(2, "the hub is busy checking other logins: try again in a moment")
    if not ok:
        raise AuthError("wrong password")
    return OwnerSession(token, expires, device if known and device else new_device_cookie(hub))


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _locked_row(s: Session, key: str) -> LoginThrottleRow:
    """The budget's row, created if missing, locked for this transaction (PostgreSQL: FOR
    UPDATE; SQLite: the whole write transaction is already exclusive)."""
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    s.exec(insert(LoginThrottleRow).values(client=key, failures=0)
           .on_conflict_do_nothing())
    row = s.get(LoginThrottleRow, key, with_for_update=True, populate_existing=True)
    assert row is not None
    return row


def _reserve(s: Session, budgets: Sequence[tuple[str, int]], now: datetime) -> None:
    rows = [(_locked_row(s, key), free) for key, free in budgets]
    wait = max((math.ceil((r.locked_until - now).total_seconds()) for r, _ in rows
                if r.locked_until is not None and r.locked_until > now), default=0)
    if wait:
        raise LoginThrottled(max(1, wait))
    for row, free in rows:
        if row.last_failure is not None and now - row.last_failure > FORGET_AFTER:
            row.failures = 0
        row.failures += 1
        row.last_failure = now
        if row.failures >= free:
            seconds = min(FIRST_LOCK_SECONDS * 2 ** (row.failures - free), MAX_LOCK_SECONDS)
            row.locked_until = now + timedelta(seconds=seconds)
        s.add(row)


def _refund(s: Session, budgets: Sequence[tuple[str, int]], *, forget: bool = False) -> None:
    """Take back the attempt counted by ``_reserve``; ``forget`` (a success) also clears the
    browser's own budget, but never the shared one."""
    for key, free in budgets:
        row = _locked_row(s, key)
        if forget and key != ALL_CLIENTS:
            s.delete(row)
            continue
        row.failures = max(0, row.failures - 1)
        if row.failures < free:
            row.locked_until = None
        s.add(row)


def session_valid(hub: Hub, token: str | None) -> bool:
    """Whether the cookie's token names a live session (touches ``last_seen`` now and then)."""
    if not token or len(token) > 200:
        return False
    now = hub.now()
    with hub.db.read() as s:
        row = s.get(OwnerSessionRow, hash_token(token))
        if row is None or row.expires <= now:
            return False
        if now - row.last_seen > timedelta(hours=hub.settings.session_idle_hours):
            return False   # idle too long; the next login sweeps the row away
        stale = now - row.last_seen > timedelta(minutes=5)
    if stale:
        with hub.db.transaction() as s:
            fresh = s.get(OwnerSessionRow, hash_token(token))
            if fresh is not None:
                fresh.last_seen = now
                s.add(fresh)
    return True


def logout(hub: Hub, token: str | None) -> None:
    if not token:
        return
    with hub.db.transaction() as s:
        row = s.get(OwnerSessionRow, hash_token(token))
        if row is not None:
            s.delete(row)
