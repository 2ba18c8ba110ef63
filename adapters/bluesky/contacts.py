"""Reads a Bluesky account's follows and followers, a page (cursor) at a time, each with the
handle it has now — only when that handle resolves back to the same DID.

* following: the ``app.bsky.graph.follow`` records in the account's own repository
  (``com.atproto.repo.listRecords``), which every PDS serves; a record names only the DID
  it follows, so each DID's handle is asked of the AppView (``app.bsky.actor.getProfiles``)
  or, with none, of the PDS (``com.atproto.repo.describeRepo``: the repositories it hosts).
* followers: only an AppView knows who follows an account (``app.bsky.graph.getFollowers``);
  a PDS with no AppView configured (a bare self-hosted or test PDS) answers 400, and this
  reader then says so plainly instead of pretending the account has no followers.

A handle is only a claim (a repository, a PDS or an AppView can name any), so every one is
checked with ``com.atproto.identity.resolveHandle``: a handle that does not resolve, or
resolves to another DID, is dropped (``Contact.handle`` is empty) and the DID alone is kept.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar, TypeVar

import httpx

from adapters.bluesky.entry import DEFAULT_SERVICE, _client, _text
from adapters.bluesky.repo import Repo
from adapters.bluesky.session import SessionKeeper
from hub.domain.identities import normalise_identity
from hub.domain.model import IdentityKind
from hub.errors import InvalidInput, PermanentDeliveryError
from hub.ports import (
    JSON,
    Connection,
    Contact,
    ContactDirection,
    ContactPage,
    CredentialStore,
)

FOLLOW = "app.bsky.graph.follow"
PROFILES_AT_ONCE = 25     # getProfiles' limit
CHECKS_AT_ONCE = 8        # handle look-ups in flight together
_T = TypeVar("_T")
_R = TypeVar("_R")


class BlueskyContacts:
    """A :class:`hub.ports.ContactReader` over one account's PDS session."""

    platform: ClassVar[str] = "bluesky"

    def __init__(self, repo: Repo, *, page_size: int = 100) -> None:
        self._repo = repo
        self._size = page_size
        self._appview: bool | None = None     # does the PDS proxy app.bsky.* (unknown yet)

    async def page(self, direction: ContactDirection, cursor: str | None) -> ContactPage:
        did = await self._repo.ready()
        params: dict[str, Any] = {"limit": self._size}
        if cursor:
            params["cursor"] = cursor
        if direction is ContactDirection.FOLLOWING:
            body = await self._repo.query("com.atproto.repo.listRecords",
                                          {**params, "repo": did, "collection": FOLLOW},
                                          "list the follows")
            records = body.get("records") or []
            subjects = list(dict.fromkeys(
                str(r["value"]["subject"]) for r in records if isinstance(r.get("value"), dict)
                and isinstance(r["value"].get("subject"), str)))
            profiles = await self._profiles(subjects)
            handles = await self._verified({d: profiles.get(d, ("", ""))[0] for d in subjects})
            contacts = tuple(Contact(IdentityKind.BLUESKY, d, d, profiles.get(d, ("", ""))[1],
                                     handles.get(d, "")) for d in subjects)
            nxt = body.get("cursor") if records else None
            return ContactPage(contacts, str(nxt) if nxt else None)
        try:
            body = await self._repo.query("app.bsky.graph.getFollowers",
                                          {**params, "actor": did}, "read the followers")
        except PermanentDeliveryError as exc:
            if exc.status_code == 400:
                raise PermanentDeliveryError(
                    "reading Bluesky followers needs an AppView (app.bsky.graph.getFollowers); "
                    "this PDS has none configured, so only follows can be synced",
                    platform="bluesky", status_code=400) from exc
            raise
        people = [p for p in body.get("followers") or [] if isinstance(p.get("did"), str)]
        handles = await self._verified({str(p["did"]): str(p.get("handle") or "")
                                        for p in people})
        contacts = tuple(Contact(IdentityKind.BLUESKY, str(p["did"]), str(p["did"]),
                                 str(p.get("displayName") or ""), handles.get(str(p["did"]), ""))
                         for p in people)
        nxt = body.get("cursor") if people else None
        return ContactPage(contacts, str(nxt) if nxt else None)

    async def _profiles(self, dids: list[str]) -> dict[str, tuple[str, str]]:
        """DID → (the handle claimed for it, display name), from the AppView when the PDS
        has one, else from the PDS itself (only the repositories it hosts; others stay
        unknown, their DID alone is kept)."""
        if not dids:
            return {}
        if self._appview is not False:
            try:
                found: dict[str, tuple[str, str]] = {}
                for i in range(0, len(dids), PROFILES_AT_ONCE):
                    actors: list[JSON] = list(dids[i:i + PROFILES_AT_ONCE])
                    body = await self._repo.query("app.bsky.actor.getProfiles",
                                                  {"actors": actors},
                                                  "read the followed profiles")
                    for p in body.get("profiles") or []:
                        if isinstance(p, dict) and isinstance(p.get("did"), str):
                            found[p["did"]] = (str(p.get("handle") or ""),
                                               str(p.get("displayName") or ""))
                self._appview = True
                return found
            except PermanentDeliveryError as exc:
                if exc.status_code != 400 or self._appview:
                    raise
                self._appview = False    # "No service configured": ask the PDS instead

        async def described(subject: str) -> tuple[str, str] | None:
            try:
                body = await self._repo.query("com.atproto.repo.describeRepo",
                                              {"repo": subject}, "describe a followed repo")
            except PermanentDeliveryError as exc:
                if exc.status_code == 400:     # RepoNotFound / deactivated: not known here
                    return None
                raise
            return str(body.get("handle") or ""), ""

        got = await _bounded(described, dids)
        return {d: found for d, found in zip(dids, got, strict=True) if found is not None}

    async def _verified(self, claims: dict[str, str]) -> dict[str, str]:
        """DID → its claimed handle (lower-cased) for the claims whose handle resolves back to
        that very DID; a handle that does not resolve, or names someone else, is dropped."""
        async def check(item: tuple[str, str]) -> str:
            did, claimed = item
            try:
                kind, handle = normalise_identity("bluesky", claimed)
            except InvalidInput:               # empty, "handle.invalid"-like nonsense
                return ""
            if kind is not IdentityKind.BLUESKY or handle.startswith("did:") \
                    or handle == "handle.invalid":
                return ""
            return handle if await self._repo.resolve(handle) == did else ""

        items = [(d, h) for d, h in claims.items() if h]
        got = await _bounded(check, items)
        return {did: h for (did, _), h in zip(items, got, strict=True) if h}

    async def aclose(self) -> None:
        await self._repo.keeper.client.request.close()


async def _bounded(work: Callable[[_T], Awaitable[_R]], items: Iterable[_T]) -> list[_R]:
    """``work`` over ``items``, a few at a time, results in order; the first failure cancels
    the rest (so a page that cannot be read is asked again whole)."""
    gate = asyncio.Semaphore(CHECKS_AT_ONCE)

    async def one(item: _T) -> _R:
        async with gate:
            return await work(item)

    tasks = [asyncio.ensure_future(one(item)) for item in items]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:     # re-raised as it came (a TransientDeliveryError stays one)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def build(connection: Connection, credentials: CredentialStore, *, page_size: int = 100,
          transport: httpx.AsyncBaseTransport | None = None) -> BlueskyContacts:
    """The contact reader of one connected account (its stored session, refreshed through
    ``credentials`` like the publisher's); ``transport`` is the tests' seam."""
    settings = connection.settings
    client = _client(_text(settings, "service", DEFAULT_SERVICE), transport)
    keeper = SessionKeeper(account=connection.account, handle=_text(settings, "handle"),
                           client=client, secret=connection.secret, credentials=credentials,
                           clock=time.time)
    return BlueskyContacts(Repo(keeper), page_size=page_size)
