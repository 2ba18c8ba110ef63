"""API tokens: created by the owner, shown once, stored as SHA-256, scoped, audience-limited."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from hub.crypto import hash_token, new_token_secret
from hub.domain.events import TokenCreated, TokenRevoked
from hub.errors import AuthError, Conflict, Forbidden, InvalidInput, NotFound
from hub.ids import new_id
from hub.runtime import Hub
from hub.services.posts import Author
from hub.store.tables import TokenRow

SCOPES = ("post", "read", "audit", "approve")


@dataclass(frozen=True)
class TokenIdentity:
    id: str
    name: str
    scopes: frozenset[str]
    audiences: frozenset[str] | None

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this token lacks the {scope!r} scope "
                            f"(it has: {', '.join(sorted(self.scopes))})")

    @property
    def author(self) -> Author:
        return Author(name=f"token:{self.name}", audiences=self.audiences,
                      reads_others="read" in self.scopes, token_id=self.id)


_INVISIBLE = {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}   # controls, format (zero-width, bidi)


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("a token needs a name", field="name")
    odd = next((c for c in name if unicodedata.category(c) in _INVISIBLE
                or (c.isspace() and c != " ")), None)
    if odd is not None:
        raise InvalidInput(f"a token name may not hold invisible or control characters (it "
                           f"has U+{ord(odd):04X}): two tokens would look alike", field="name")
    return name


def _same_name(a: str, b: str) -> bool:
    """Names the policy's author rules (case-insensitive) and a reader would take for one."""
    def key(name: str) -> str:
        return unicodedata.normalize("NFKC", name).casefold()
    return key(a) == key(b)


def create_token(hub: Hub, name: str, scopes: Sequence[str],
                 audiences: Sequence[str] | None = None, *, actor: str = "owner"
                 ) -> tuple[TokenRow, str]:
    """Returns the row and the token itself, which is never shown or stored again."""
    name = _clean_name(name)
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise InvalidInput(f"unknown scope {', '.join(bad) or '(none)'}: use "
                           f"{', '.join(SCOPES)}", field="scopes")
    if audiences is not None:
        known = hub.policies.current.audiences
        unknown = [a for a in audiences if a not in known]
        if unknown:
            raise InvalidInput(f"unknown audience {', '.join(unknown)}; the policy defines "
                               f"{', '.join(sorted(known))}", field="audiences")
    token_id = new_id("t")[:12]
    secret = f"hub_{token_id}_{new_token_secret()}"
    now = hub.now()
    row = TokenRow(id=token_id, name=name, token_hash=hash_token(secret),
                   scopes=sorted(set(scopes)),
                   audiences=sorted(set(audiences)) if audiences is not None else None,
                   created=now)
    with hub.db.transaction() as s:
        # two live tokens the policy (or the owner reading the list) cannot tell apart
        same = next((r for r in s.exec(select(TokenRow).where(col(TokenRow.revoked).is_(None)))
                     if _same_name(r.name, name)), None)
        if same is not None:
            raise Conflict(f"a token named {same.name!r} already exists (created "
                           f"{same.created:%Y-%m-%d}); choose another name, or revoke that "
                           "one first")
        s.add(row)
        hub.audit.append(s, TokenCreated(actor=actor, subject=token_id, token_name=name,
                                         scopes=row.scopes, audiences=row.audiences), now=now)
    return row, secret


LAST_USED_EVERY = timedelta(minutes=1)
"""``last_used`` is kept to the minute: writing it on every request would make each API call a
write transaction (on SQLite, a turn at the one write lock that posts and deliveries queue for)."""


_BY_HASH = sa_select(col(TokenRow.id), col(TokenRow.name), col(TokenRow.scopes),
                     col(TokenRow.audiences), col(TokenRow.last_used), col(TokenRow.revoked)
                     ).where(col(TokenRow.token_hash) == bindparam("token_hash"))
"""What a request's token is, read on every API request: a Core statement built once."""


def authenticate(hub: Hub, header: str | None) -> TokenIdentity:
    """``Authorization: Bearer hub_...`` -> the token's identity; AuthError (401) otherwise.

    A read; ``last_used`` is written only when it is a minute old or more."""
    if not header or not header.lower().startswith("bearer "):
        raise AuthError("send the API token as 'Authorization: Bearer hub_…'")
    presented = header[7:].strip()
    now = hub.now()
    with hub.db.read() as s:
        row = s.connection().execute(_BY_HASH, {"token_hash": hash_token(presented)}).first()
        if row is None or row.revoked is not None:
            raise AuthError("this API token is not valid (wrong, or revoked)")
        identity = TokenIdentity(row.id, row.name, frozenset(row.scopes),
                                 frozenset(row.audiences) if row.audiences is not None else None)
        stale = row.last_used is None or now - row.last_used >= LAST_USED_EVERY
    if stale:
        with hub.db.transaction() as s:
            s.execute(update(TokenRow).where(
                col(TokenRow.id) == identity.id,
                or_(col(TokenRow.last_used).is_(None),
                    col(TokenRow.last_used) <= now - LAST_USED_EVERY)).values(last_used=now))
    return identity


def list_tokens(hub: Hub) -> list[TokenRow]:
    with hub.db.read() as s:
        return list(s.exec(select(TokenRow).order_by(col(TokenRow.created))))


def revoke_token(hub: Hub, ref: str, *, actor: str = "owner") -> TokenRow:
    with hub.db.transaction() as s:
        # by id, or by the live token's name as create_token compares names ("Phone" is the
        # live "phone": the one it would refuse as a duplicate)
        row = s.get(TokenRow, ref) or next(
            (r for r in s.exec(select(TokenRow).where(col(TokenRow.revoked).is_(None)))
             if _same_name(r.name, ref.strip())), None)
        if row is None:
            raise NotFound(f"no token {ref!r}")
        if row.revoked is None:
            row.revoked = hub.now()
            s.add(row)
            hub.audit.append(s, TokenRevoked(actor=actor, subject=row.id, token_name=row.name),
                             now=hub.now())
        return row
