"""The owner's web login: an argon2id password, throttled guessing, server-side sessions.

The session cookie carries a random token; the database keeps only its SHA-256, so logging out
(or changing the password) really ends a session. Failed logins are counted per client address
and for all clients together; past a few failures each new one locks that client out for a
while, doubling each time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, delete

from hub.crypto import hash_token, new_token_secret, same
from hub.domain.events import OwnerLoggedIn, OwnerPasswordChanged
from hub.errors import AuthError, Forbidden, InvalidInput
from hub.runtime import Hub
from hub.store.tables import LoginThrottleRow, OwnerRow, OwnerSessionRow

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
SESSION_DAYS = 14
FREE_FAILURES = 5            # per client before locks start
FREE_FAILURES_ALL = 50       # across every client (slows a distributed guesser)
FIRST_LOCK_SECONDS = 30
MAX_LOCK_SECONDS = 15 * 60
FORGET_AFTER = timedelta(hours=1)   # a quiet hour wipes a client's failure count
ALL_CLIENTS = "*"

_hasher = PasswordHasher()   # argon2id, RFC 9106 "low memory" profile (64 MiB, t=3, p=4)


class LoginThrottled(AuthError):
    """Too many failed logins from this client: wait ``retry_after`` seconds."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        minutes = f"{math.ceil(retry_after / 60)} minutes" if retry_after > 90 else \
            f"{retry_after} seconds"
        super().__init__(f"too many failed attempts: try again in {minutes}")
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
        hub.audit.append(s, OwnerPasswordChanged(actor="owner"), now=now)


@dataclass(frozen=True)
class OwnerSession:
    """A valid session: ``token`` is what the cookie holds (kept out of reprs and logs)."""

    token: str
    expires: datetime

    def __repr__(self) -> str:
        return f"OwnerSession(expires={self.expires.isoformat()})"


def login(hub: Hub, password: str, *, client: str) -> OwnerSession:
    """Check the password and open a session. Raises ``LoginThrottled`` (429) while this
    client is locked out, even for the right password, and ``AuthError`` (401) when wrong."""
    now = hub.now()
    with hub.db.read() as s:
        wait = max(_locked_for(s, client, now), _locked_for(s, ALL_CLIENTS, now))
        row = s.get(OwnerRow, 1)
    if wait:
        raise LoginThrottled(wait)
    if row is None:
        raise AuthError("no owner password is set yet: set one first")
    ok = _verify(row.password_hash, password[:MAX_PASSWORD])
    with hub.db.transaction() as s:
        if not ok:
            _count_failure(s, client, now, FREE_FAILURES)
            _count_failure(s, ALL_CLIENTS, now, FREE_FAILURES_ALL)
            hub.audit.append(s, OwnerLoggedIn(actor="owner", outcome="failure"), now=now)
        else:
            mine = s.get(LoginThrottleRow, client)
            if mine is not None:
                s.delete(mine)
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
            s.exec(delete(OwnerSessionRow)
                   .where(col(OwnerSessionRow.expires) < now))
    if not ok:
        raise AuthError("wrong password")
    return OwnerSession(token, expires)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _locked_for(s: Session, client: str, now: datetime) -> int:
    row = s.get(LoginThrottleRow, client)
    if row is None or row.locked_until is None or row.locked_until <= now:
        return 0
    return max(1, math.ceil((row.locked_until - now).total_seconds()))


def _count_failure(s: Session, client: str, now: datetime, free: int) -> None:
    row = s.get(LoginThrottleRow, client) or LoginThrottleRow(client=client)
    if row.last_failure is not None and now - row.last_failure > FORGET_AFTER:
        row.failures = 0
    row.failures += 1
    row.last_failure = now
    if row.failures >= free:
        seconds = min(FIRST_LOCK_SECONDS * 2 ** (row.failures - free), MAX_LOCK_SECONDS)
        row.locked_until = now + timedelta(seconds=seconds)
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
