"""A person filed by Bluesky handle meets the follows contact sync records by DID, against the
real local PDS: the follow records name only DIDs, the sync reads each DID's handle and keeps
it only when the handle resolves back to that DID, and every join of relationships to people
(rule lists, the inbox, the person page) matches by the DID or that handle.

Adversarial first: a forged handle claim (a repository or AppView naming someone else's
handle, or one that resolves to nobody) attaches nobody; a handle that moved to another DID
stops matching the old one at the next sync; handles match whatever their case. Then the
happy path as the owner meets it: ``hub contacts sync``, the list, the inbox, the page."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

import adapters.bluesky
from adapters.bluesky.contacts import build
from hub.entrypoints.cli import main
from hub.errors import Conflict
from hub.ports import Connection, ContactDirection
from hub.services.accounts import connect_account
from hub.services.contacts import relationships, sync_account
from hub.services.contacts_inbox import accept, inbox
from hub.services.contacts_sort import ignore
from hub.services.people import NewPerson, add_person, remove_identity
from hub.services.people_lists import explain_list
from hub.services.people_pages import person_page
from tests.conftest import ROOT, TEST_POLICY
from tests.fakes import MemoryCredentials
from tests.integration import test_ui_security as base

if str(ROOT / "tests" / "integration" / "bluesky") not in sys.path:   # its launcher's home
    sys.path.append(str(ROOT / "tests" / "integration" / "bluesky"))
from tests.integration.bluesky.conftest import pds  # noqa: E402, F401, I001  (fixture)

pytestmark = pytest.mark.integration
site = base.site
owner = base.owner

RULES = """lists:
  bsky-follows: {rule: followed by bluesky:me}
  bsky-mutuals: {rule: mutuals on bluesky:me}
"""


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    d = tmp_path / "policies"
    d.mkdir()
    (d / "hub.yaml").write_text(TEST_POLICY + RULES)
    return d


def _session(server: Any, account: Any) -> dict[str, str]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        login = http.post("/xrpc/com.atproto.server.createSession",
                          json={"identifier": account.did, "password": account.password})
        login.raise_for_status()
        return {"Authorization": f"Bearer {login.json()['accessJwt']}"}


def _follow(server: Any, follower: Any, subject: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        http.post("/xrpc/com.atproto.repo.createRecord", headers=_session(server, follower),
                  json={
                      "repo": follower.did, "collection": "app.bsky.graph.follow",
                      "record": {"$type": "app.bsky.graph.follow", "subject": subject.did,
                                 "createdAt": "2026-11-20T10:00:00.000Z"}}).raise_for_status()


def _rename(server: Any, account: Any, handle: str) -> None:
    """The account takes ``handle`` (com.atproto.identity.updateHandle, the PDS's own)."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        http.post("/xrpc/com.atproto.identity.updateHandle", headers=_session(server, account),
                  json={"handle": handle}).raise_for_status()


class Claims(httpx.AsyncBaseTransport):
    """Passes every request to the real PDS, except that it lies about handles the way a
    hostile PDS or AppView could: ``describe`` rewrites the handle ``describeRepo`` gives
    for a DID; ``followers`` answers ``getFollowers`` (which this PDS, having no AppView,
    refuses) with the given (did, handle) pairs. ``resolveHandle`` always reaches the PDS."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.describe: dict[str, str] = {}
        self.followers: list[tuple[str, str]] | None = None
        self.profiles: dict[str, tuple[str, str]] | None = None   # an AppView's getProfiles
        self.resolved: list[str] = []
        self.calls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[-1]
        self.calls.append(method)
        if method == "app.bsky.graph.getFollowers" and self.followers is not None:
            return httpx.Response(200, request=request, json={
                "subject": {"did": request.url.params["actor"], "handle": "me.test"},
                "followers": [{"did": d, "handle": h} for d, h in self.followers]})
        if method == "app.bsky.actor.getProfiles" and self.profiles is not None:
            asked = request.url.params.get_list("actors")
            return httpx.Response(200, request=request, json={"profiles": [
                {"did": d, "handle": self.profiles[d][0], "displayName": self.profiles[d][1]}
                for d in asked if d in self.profiles]})
        if method == "com.atproto.identity.resolveHandle":
            self.resolved.append(request.url.params["handle"])
        response = await self.inner.handle_async_request(request)
        repo = request.url.params.get("repo", "")
        if method == "com.atproto.repo.describeRepo" and repo in self.describe:
            body = json.loads(await response.aread())
            body["handle"] = self.describe[repo]
            return httpx.Response(response.status_code, request=request, json=body)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _reader(server: Any, me: Any, transport: httpx.AsyncBaseTransport | None = None
                  ) -> Any:
    settings, secret = await adapters.bluesky.connect({"handle": me.handle,
                                                       "service": server.url}, me.app_password)
    return build(Connection("bluesky:me", settings, secret), MemoryCredentials(),
                 transport=transport)


async def _sync(hub: Any, reader: Any, account: str = "bluesky:me",
                directions: list[ContactDirection] | None = None) -> None:
    results = await sync_account(hub, account, reader, directions=directions)
    assert all(r.done or "AppView" in r.error for r in results), results


def _members(hub: Any, name: str) -> dict[str, tuple[str, ...]]:
    return {m.name: m.why for m in explain_list(hub, name)}


def _handles(hub: Any, account: str = "bluesky:me") -> dict[str, str | None]:
    return {r.address: r.handle for r in relationships(hub, account)}


async def test_a_forged_handle_claim_attaches_nobody(database_url, make_hub, pds):  # noqa: F811
    """Mal's repository claims Ana's handle, Nemo's a handle nobody has; the owner follows
    both (not Ana). Neither claim survives the check with resolveHandle: Ana, filed by her
    handle, is in no rule list, holds no relationship, and Mal stays in the inbox as a DID."""
    hub = make_hub(database_url)
    me, ana, mal, nemo = (pds.create_account(p) for p in ("me", "ana", "mal", "nemo"))
    filed = add_person(hub, NewPerson("Ana", [("bluesky", ana.handle)]))
    _follow(pds, me, mal)
    _follow(pds, me, nemo)
    claims = Claims()
    claims.describe = {mal.did: ana.handle.upper(), nemo.did: "nobody-here.test"}
    reader = await _reader(pds, me, claims)
    try:
        await _sync(hub, reader)
    finally:
        await reader.aclose()
    assert sorted(claims.resolved) == sorted([ana.handle, "nobody-here.test"])  # both checked
    assert _handles(hub) == {mal.did: None, nemo.did: None}
    assert _members(hub, "bsky-follows") == {}
    assert person_page(hub, filed.id).relationships == []
    assert sorted(u.address for u in inbox(hub)) == sorted([mal.did, nemo.did])
    assert {u.handle for u in inbox(hub)} == {""}

    # A hostile AppView says Mal (as Ana) and Ana herself follow the owner: only Ana's own
    # DID counts, and she is a follower, not a mutual (the owner does not follow her).
    claims.followers = [(mal.did, ana.handle), (ana.did, ana.handle)]
    reader = await _reader(pds, me, claims)
    try:
        await _sync(hub, reader, directions=[ContactDirection.FOLLOWERS])
    finally:
        await reader.aclose()
    assert _handles(hub)[ana.did] == ana.handle and _handles(hub)[mal.did] is None
    [rel] = person_page(hub, filed.id).relationships
    assert (rel.address, rel.follows_me, rel.i_follow) == (ana.did, True, False)
    assert _members(hub, "bsky-follows") == {} and _members(hub, "bsky-mutuals") == {}
    assert ana.did not in [u.address for u in inbox(hub)]


async def test_with_an_appview_follows_take_handles_and_names_from_profiles_checked_alike(
        database_url, make_hub, pds):  # noqa: F811
    """Where the PDS has an AppView (played here by the transport: this PDS has none),
    the follows' handles and names come from ``getProfiles``, 25 DIDs a request, and are
    checked the same way: Mal's profile claiming Ana's handle gets Mal nothing."""
    hub = make_hub(database_url)
    me, ana, mal = (pds.create_account(p) for p in ("me", "ana", "mal"))
    crowd = [pds.create_account("c") for _ in range(26)]
    filed = add_person(hub, NewPerson("Ana", [("bluesky", ana.handle)]))
    for subject in (ana, mal, *crowd):
        _follow(pds, me, subject)
    claims = Claims()
    claims.profiles = {ana.did: (ana.handle.upper(), "Ana A."), mal.did: (ana.handle, "Ana"),
                       **{c.did: (c.handle, "") for c in crowd}}
    settings, secret = await adapters.bluesky.connect({"handle": me.handle,
                                                       "service": pds.url}, me.app_password)
    reader = build(Connection("bluesky:me", settings, secret), MemoryCredentials(),
                   transport=claims, page_size=100)
    try:
        await _sync(hub, reader, directions=[ContactDirection.FOLLOWING])
    finally:
        await reader.aclose()
    assert claims.calls.count("app.bsky.actor.getProfiles") == 2      # 28 DIDs: 25 + 3
    assert "com.atproto.repo.describeRepo" not in claims.calls
    handles = _handles(hub)
    assert handles[ana.did] == ana.handle and handles[mal.did] is None
    assert all(handles[c.did] == c.handle for c in crowd)
    assert list(_members(hub, "bsky-follows")) == ["Ana"]
    [rel] = person_page(hub, filed.id).relationships
    assert (rel.address, rel.display_name) == (ana.did, "Ana A.")
    assert [(u.address, u.display_name) for u in inbox(hub) if u.address == mal.did] == [
        (mal.did, "Ana")]            # offered as what it is: a DID to sort, not Ana


async def test_a_handle_that_moved_to_another_did_stops_matching_the_old_one(
        database_url, make_hub, pds):  # noqa: F811
    """Ana is filed by handle; the owner follows Ana's DID. Ana renames, Bo takes her old
    handle: the next sync moves the match off Ana's DID (the owner does not follow Bo, so
    the person is in no list and Ana's DID waits in the inbox again); once the owner follows
    Bo, the handle matches Bo's DID and nothing else, under every account of the owner."""
    hub = make_hub(database_url)
    me, alt, ana, bo = (pds.create_account(p) for p in ("me", "alt", "ana", "bo"))
    old = ana.handle
    filed = add_person(hub, NewPerson("Ana", [("bluesky", old)]))
    _follow(pds, me, ana)
    _follow(pds, alt, ana)
    reader, alt_reader = await _reader(pds, me), await _reader(pds, alt)
    try:
        await _sync(hub, reader)
        await _sync(hub, alt_reader, "bluesky:alt")
        assert list(_members(hub, "bsky-follows")) == ["Ana"]
        assert inbox(hub) == []
        assert {r.account for r in person_page(hub, filed.id).relationships} == {
            "bluesky:me", "bluesky:alt"}

        renamed = "moved-" + old
        _rename(pds, ana, renamed)
        _rename(pds, bo, old)
        await _sync(hub, reader)                      # only bluesky:me syncs
        assert _handles(hub) == {ana.did: renamed}
        assert _handles(hub, "bluesky:alt") == {ana.did: renamed}   # the DID's, everywhere
        assert _members(hub, "bsky-follows") == {}    # the handle is Bo's now
        assert person_page(hub, filed.id).relationships == []
        assert [(u.address, u.handle) for u in inbox(hub)] == [(ana.did, renamed)]

        _follow(pds, me, bo)
        await _sync(hub, reader)
        assert _handles(hub) == {ana.did: renamed, bo.did: old}
        [rel] = person_page(hub, filed.id).relationships
        assert (rel.address, rel.account) == (bo.did, "bluesky:me")
        assert list(_members(hub, "bsky-follows")) == ["Ana"]   # the person filed as `old`

        # Bo gives the handle back to nobody: the next sync forgets it for Bo too.
        _rename(pds, bo, "gone-" + old)
        await _sync(hub, reader)
        assert _handles(hub)[bo.did] == "gone-" + old
        assert _members(hub, "bsky-follows") == {}
    finally:
        await reader.aclose()
        await alt_reader.aclose()


async def test_handles_match_whatever_their_case_and_each_follow_counts_once(
        database_url, make_hub, pds):  # noqa: F811
    """The PDS answers a handle in capitals; the person was typed in capitals too, and also
    holds the DID: one relationship, one reason, the list has them once; accepting or
    ignoring the DID from the inbox is refused because the person already holds it."""
    hub = make_hub(database_url)
    me, cy = pds.create_account("me"), pds.create_account("cy")
    filed = add_person(hub, NewPerson("Cy", [("bluesky", "@" + cy.handle.upper()),
                                            ("bluesky", cy.did)]))
    _follow(pds, me, cy)
    claims = Claims()
    claims.describe = {cy.did: cy.handle.upper()}
    reader = await _reader(pds, me, claims)
    try:
        await _sync(hub, reader)
    finally:
        await reader.aclose()
    assert _handles(hub) == {cy.did: cy.handle}              # stored lower-cased
    assert len(person_page(hub, filed.id).relationships) == 1
    assert [len(why) for why in _members(hub, "bsky-follows").values()] == [1]

    remove_identity(hub, "Cy", f"bluesky:{cy.did}")           # the handle alone now
    assert list(_members(hub, "bsky-follows")) == ["Cy"] and inbox(hub) == []
    with pytest.raises(Conflict, match=f"already filed on Cy \\(as bluesky:{cy.handle}\\)"):
        accept(hub, "bluesky", cy.did, name="Someone else")
    with pytest.raises(Conflict, match=f"belongs to Cy \\(as bluesky:{cy.handle}\\)"):
        ignore(hub, f"bluesky:{cy.did}")
    with pytest.raises(Conflict, match="belongs to Cy"):
        ignore(hub, f"bluesky:{cy.handle.upper()}")
    assert len(person_page(hub, filed.id).relationships) == 1


def test_hub_contacts_sync_then_the_rule_list_the_inbox_and_the_person_page(
        site, owner, pds):  # noqa: F811
    """The owner files Dee by her handle and follows her on Bluesky; ``hub contacts sync``
    records the follow by DID with her handle, and she is in ``followed by bluesky:me``, not
    in the inbox, and her page shows the follow."""
    import asyncio

    hub, _ = site
    me, dee, eve = (pds.create_account(p) for p in ("me", "dee", "eve"))
    filed = add_person(hub, NewPerson("Dee", [("bluesky", dee.handle)]))
    _follow(pds, me, dee)
    _follow(pds, me, eve)                             # nobody holds Eve: she is to sort
    asyncio.run(connect_account(hub, "bluesky:me", {"handle": me.handle, "service": pds.url},
                                me.app_password, adapters.bluesky.connect))
    env = {"HUB_DATA_DIR": str(hub.settings.data_dir), "HUB_POLICY_DIR":
           str(hub.settings.policy_dir), "HUB_DATABASE_URL": hub.settings.database_url,
           "HUB_SECRET_KEY": "test-secret-key-not-for-production"}
    out = CliRunner().invoke(main, ["contacts", "sync", "bluesky:me"], env=env)
    assert "following: done, 2 seen, 2 new" in out.output, out.output
    assert "needs an AppView" in out.output          # followers: this PDS has none

    assert _handles(hub) == {dee.did: dee.handle, eve.did: eve.handle}
    assert _members(hub, "bsky-follows") == {"Dee": (
        "followed by bluesky:me since " + hub.now().date().isoformat()
        + " (followed by bluesky:me)",)}
    assert [(u.address, u.handle) for u in inbox(hub)] == [(eve.did, eve.handle)]
    sorting = CliRunner().invoke(main, ["contacts", "inbox"], env=env).output
    assert f"bluesky:{eve.did} (@{eve.handle})" in sorting and dee.did not in sorting
    shown = CliRunner().invoke(main, ["lists", "show", "bsky-follows"], env=env)
    assert "Dee" in shown.output, shown.output

    page = owner.get(f"/people/{filed.id}")
    assert page.status_code == 200
    table = page.text.split('class="relationships"', 1)[1].split("</table>", 1)[0]
    assert "bluesky:me" in table and dee.did in table and dee.handle in table
    assert "yes, since" in table
    assert "bsky-follows" in page.text
    box = owner.get("/contacts/inbox").text
    assert dee.did not in box
    assert f"@{eve.handle}" in box and eve.did in box   # shown by handle, the DID beside it


def test_the_migration_adds_the_handle_and_its_version_trigger_and_takes_them_back(
        database_url, make_hub):
    """0020 makes a changed handle bump the address book's version (rule lists are read
    again); downgraded, the column is gone and a changed side of a follow still bumps it."""
    from alembic import command
    from sqlalchemy import text

    from hub.store.migrate import alembic_config

    hub = make_hub(database_url)
    insert = text("INSERT INTO contact_relationship (account, kind, address, remote_id, "
                  "display_name, follows_me, i_follow, first_seen, links, links_verified) "
                  "VALUES ('bluesky:me', 'bluesky', 'did:plc:x', 'did:plc:x', '', false, "
                  "true, '2026-11-23 12:00:00', '[]', '[]')")

    def version() -> int:
        with hub.db.engine.connect() as conn:
            return int(conn.execute(text("SELECT n FROM people_version WHERE id = 1")).scalar_one())

    def run(sql: str) -> None:
        with hub.db.engine.begin() as conn:
            conn.execute(text(sql))

    with hub.db.engine.begin() as conn:
        conn.execute(insert)
    before = version()
    run("UPDATE contact_relationship SET handle = 'x.test'")
    assert version() > before
    before = version()
    run("UPDATE contact_relationship SET handle = 'x.test', display_name = 'X'")
    assert version() == before                     # the same handle: no new version

    cfg = alembic_config()
    with hub.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0023_variant_edits")
    with hub.db.engine.connect() as conn:
        columns = list(conn.execute(text("SELECT * FROM contact_relationship")).keys())
    assert "handle" not in columns
    before = version()
    run("UPDATE contact_relationship SET follows_me = true")
    assert version() > before                      # 0016's trigger is still in place
    with hub.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    before = version()
    run("UPDATE contact_relationship SET handle = 'y.test'")
    assert version() > before


class Follows:
    """A ContactReader (the port): ``n`` Bluesky follows with verified handles, 500 a page."""

    platform = "bluesky"
    directions = (ContactDirection.FOLLOWING,)

    def __init__(self, n: int) -> None:
        self.n = n

    async def page(self, direction: ContactDirection, cursor: str | None) -> Any:
        from hub.domain.model import IdentityKind
        from hub.ports import Contact, ContactPage

        start = int(cursor or 0)
        dids = [(f"did:plc:{i:024d}", f"p{i}.test") for i in range(start, min(start + 500,
                                                                            self.n))]
        return ContactPage(tuple(Contact(IdentityKind.BLUESKY, d, d, handle=h)
                                 for d, h in dids),
                           str(start + 500) if start + 500 < self.n else None)

    async def aclose(self) -> None:
        return None


async def test_ten_thousand_people_filed_by_handle_are_all_matched(database_url, make_hub):
    """10,000 people filed by handle, 15,000 follows: every one is matched (the match by handle
    is an equality join of two arms, not an OR, which took 10-20 s here; its speed belongs to
    ``python -m bench --only people``, not to a timed test)."""
    from sqlalchemy import insert

    from hub.store.people import read_people
    from hub.store.tables import IdentityRow, PersonRow

    hub = make_hub(database_url)
    n = 10_000
    with hub.db.transaction() as s:
        s.connection().execute(insert(PersonRow.__table__), [   # type: ignore[attr-defined]
            {"id": f"u{i}", "name": f"P{i}", "note": "", "created": hub.now()}
            for i in range(n)])
        s.connection().execute(insert(IdentityRow.__table__), [   # type: ignore[attr-defined]
            {"person_id": f"u{i}", "kind": "bluesky", "value": f"p{i}.test"}
            for i in range(n)])

    async def no_pause(_: float) -> None:
        return None

    await sync_account(hub, "bluesky:me", Follows(n * 3 // 2), sleep=no_pause)
    with hub.db.read() as s:
        people = read_people(s)
    assert len(people.relationships) == n
    assert len(inbox(hub)) == n // 2
    assert len(_members(hub, "bsky-follows")) == n
