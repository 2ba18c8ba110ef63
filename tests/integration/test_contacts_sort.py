"""Sorting people after contact sync, through the CLI as the owner types it and the services:
refused changes first (each a clear error, nothing changed), then merge, split and ignore,
each audited, and a merge that leaves who-could-see-what at send time exactly as it was."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlmodel import select

from hub.audit.sequencer import settle
from hub.domain.model import IdentityKind
from hub.entrypoints.cli import main
from hub.ports import Contact, ContactDirection, ContactPage
from hub.services.audit_post import post_audit
from hub.services.audit_queries import person_audit
from hub.services.contacts import sync_account
from hub.services.contacts_inbox import inbox
from hub.services.delivery import deliver, due_ids
from hub.services.people import NewPerson, add_person, change_lists, list_people
from hub.services.posts import Author, PostInput, submit_post
from hub.store.tables import AuditRow, VisibilityRow

pytestmark = pytest.mark.integration


class ListReader:
    """A ContactReader (the port) over fixed lists, one page per direction."""

    platform = "mastodon"

    def __init__(self, followers: list[Contact], following: list[Contact] = ()) -> None:
        self.lists = {ContactDirection.FOLLOWERS: list(followers),
                      ContactDirection.FOLLOWING: list(following)}

    async def page(self, direction: ContactDirection, cursor: str | None) -> ContactPage:
        return ContactPage(tuple(self.lists[direction]), None)

    async def aclose(self) -> None:
        return None


def _m(handle: str, name: str = "") -> Contact:
    return Contact(IdentityKind.MASTODON, handle, handle, name)


@pytest.fixture
def cli(tmp_path: Path, policy_dir: Path, monkeypatch: pytest.MonkeyPatch, database_url: str):
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HUB_POLICY_DIR", str(policy_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("HUB_SECRET_KEY", "test-secret-key-not-for-production")

    def run(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    return run


def _book(hub: Any) -> dict[str, tuple[list[str], list[str]]]:
    return {p.name: (sorted(f"{i.kind}:{i.value}" for i in ids), lists)
            for p, ids, lists in list_people(hub)}


def _events(hub: Any) -> list[tuple[str, str | None, dict[str, Any]]]:
    settle(hub.db)       # the queued audit events get their place in the log first
    with hub.db.read() as s:
        return [(r.name, r.subject, r.payload) for r in
                s.exec(select(AuditRow).order_by(AuditRow.seq))]  # type: ignore[arg-type]


async def test_refused_sorting_changes_say_why_and_change_nothing(database_url, make_hub, cli):
    hub = make_hub(database_url)
    ana = add_person(hub, NewPerson("Ana", [("mastodon", "@ana@a.social")], ["friends"]))
    add_person(hub, NewPerson("Bo", [("mastodon", "@bo@b.social"), ("email", "bo@b.org")]))
    await sync_account(hub, "mastodon:main", ListReader([_m("@cy@c.social", "Cy"),
                                                        _m("@ana@a.social", "Ana")]))
    book, events = _book(hub), _events(hub)

    assert "cannot merge Ana into themselves" in cli("contacts", "merge", "Ana", ana.id,
                                                     code=1)
    assert "nobody matches 'u_gone'" in cli("contacts", "merge", "Ana", "u_gone", code=1)
    assert "nobody matches 'Zed'" in cli("contacts", "merge", "Zed", "Ana", code=1)
    out = cli("contacts", "split", "Ana", "mastodon:@ana@a.social", "--name", "Other", code=1)
    assert "would leave Ana with no identity" in out
    assert "Ana has no email identity" in cli("contacts", "split", "Ana", "email:x@y.org",
                                              "--name", "Other", code=1)
    assert "belongs to Ana" in cli("contacts", "ignore", "mastodon:@ana@a.social", code=1)
    assert "was not seen by any contact sync" in cli("contacts", "ignore",
                                                     "mastodon:@nobody@n.social", code=1)
    assert "not kind:address" in cli("contacts", "ignore", "cy", code=1)
    assert "is not ignored" in cli("contacts", "unignore", "mastodon:@cy@c.social", code=1)
    assert "already filed on Ana" in cli("contacts", "accept", "mastodon:@ana@a.social",
                                         code=1)
    assert _book(hub) == book and _events(hub) == events


async def test_ignoring_hides_an_identity_through_later_syncs_until_unignored(
        database_url, make_hub, cli):
    hub = make_hub(database_url)
    reader = ListReader([_m("@cy@c.social", "Cy"), _m("@di@d.social", "Di")])
    await sync_account(hub, "mastodon:main", reader)
    assert "ignoring mastodon:@cy@c.social" in cli("contacts", "ignore",
                                                   "mastodon:@Cy@c.social")
    events = _events(hub)
    assert "already ignored" in cli("contacts", "ignore", "mastodon:@cy@c.social", code=1)
    assert "is ignored; un-ignore it first" in cli("contacts", "accept",
                                                   "mastodon:@cy@c.social", code=1)
    assert _events(hub) == events
    await sync_account(hub, "mastodon:main", reader)            # seen again: stays ignored
    assert [u.address for u in inbox(hub)] == ["@di@d.social"]
    assert "@cy@c.social" not in cli("contacts", "inbox")
    [ignored] = [e for e in _events(hub) if e[0] == "IdentityIgnored"]
    assert ignored[2] == {"kind": "mastodon", "ignored": True}
    assert "cy@c.social" not in json.dumps(ignored)              # a hash, not the address
    cli("contacts", "unignore", "mastodon:@cy@c.social")
    assert [u.address for u in inbox(hub)] == ["@cy@c.social", "@di@d.social"]
    assert "filed on Cy" in cli("contacts", "accept", "mastodon:@cy@c.social")
    assert [u.address for u in inbox(hub)] == ["@di@d.social"]


async def _deliver_all(hub: Any) -> None:
    for delivery_id in await asyncio.to_thread(due_ids, hub):
        await deliver(hub, delivery_id, worker="w1")


def _who_saw(hub: Any, post_id: str) -> list[tuple[Any, ...]]:
    return sorted((d["delivery_id"], p["person_id"], p["identity"], p["via_list"])
                  for d in post_audit(hub, post_id)["could_see"] for p in d["people"])


async def test_a_merge_moves_the_address_book_and_leaves_who_could_see_what_as_sent(
        database_url, make_hub, cli):
    """Ana L. saw the first post to friends, Ana only the second; after merging Ana L. into
    Ana every recorded answer is as before: Ana gains nothing Ana L. could see."""
    hub = make_hub(database_url)
    ana = add_person(hub, NewPerson("Ana", [("email", "ana@a.org")]))
    ana2 = add_person(hub, NewPerson("Ana L.", [("mastodon", "@ana@a.social")],
                                     ["friends", "clients"], note="met at the fair"))
    first = submit_post(hub, PostInput("for friends", ["friends"]), Author()).post.id
    await _deliver_all(hub)
    change_lists(hub, "friends", add=["Ana"])
    second = submit_post(hub, PostInput("again", ["friends"]), Author()).post.id
    await _deliver_all(hub)
    settle(hub.db)
    with hub.db.read() as s:
        index = list(s.exec(select(VisibilityRow).order_by(VisibilityRow.id)))  # type: ignore[arg-type]
    saw = {p: _who_saw(hub, p) for p in (first, second)}
    assert [r[1] for r in saw[first]] == [ana2.id]
    assert sorted(r[1] for r in saw[second]) == sorted([ana.id, ana2.id])
    ana_saw = person_audit(hub, ana.id, include_public=False)
    assert [x["post_id"] for x in ana_saw["posts"]] == [second]

    assert f"merged Ana L. into Ana ({ana.id})" in cli("contacts", "merge", "Ana", "Ana L.")
    assert _book(hub) == {"Ana": (["email:ana@a.org", "mastodon:@ana@a.social"],
                                  ["clients", "friends"])}
    [kept] = [p for p, _, _ in list_people(hub)]
    assert kept.note == "met at the fair"
    settle(hub.db)
    with hub.db.read() as s:   # the index rows are as they were written at send time
        assert list(s.exec(select(VisibilityRow).order_by(VisibilityRow.id))) == index  # type: ignore[arg-type]
    assert {p: _who_saw(hub, p) for p in saw} == saw      # Ana L.'s id, as recorded
    after = person_audit(hub, ana.id, include_public=False)
    assert [x["post_id"] for x in after["posts"]] == [second]   # not Ana L.'s first post
    assert [(e[0], e[1]) for e in _events(hub)[-4:]] == [
        ("ListMembershipChanged", "clients"), ("ListMembershipChanged", "friends"),
        ("PersonChanged", ana2.id), ("PeopleMerged", ana.id)]
    merged = next(e for e in _events(hub) if e[0] == "PeopleMerged")
    assert merged[2] == {"merged": ana2.id, "identities": 1, "lists": ["clients", "friends"]}
    assert "nobody matches 'Ana L.'" in cli("contacts", "merge", "Ana", "Ana L.", code=1)


async def test_a_split_moves_identities_to_a_new_person_in_no_list(database_url, make_hub,
                                                                   cli):
    hub = make_hub(database_url)
    add_person(hub, NewPerson("Sam", [("email", "sam@work.org"), ("mastodon", "@sam@s.social"),
                                      ("email", "sam@home.org")], ["clients"]))
    out = cli("contacts", "split", "Sam", "mastodon:@sam@s.social", "email:sam@home.org",
              "--name", "Sam (the other one)")
    assert "split 2 identities off Sam into Sam (the other one)" in out
    assert _book(hub) == {
        "Sam": (["email:sam@work.org"], ["clients"]),
        "Sam (the other one)": (["email:sam@home.org", "mastodon:@sam@s.social"], [])}
    split = next(e for e in _events(hub) if e[0] == "PersonSplit")
    assert split[2]["kinds"] == ["email", "mastodon"]
