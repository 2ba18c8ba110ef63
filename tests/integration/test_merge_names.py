"""A person merged away keeps their name in the audit's answers: the who-could-see records and
the feed fetches still name Bea's old id (nothing is rewritten), and the answers — the
service, the API, the web page, the CLI — say it was Bea and that she is now part of Ana.
Refused merges record nothing; a chain of merges ends at the person she is part of today."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlmodel import SQLModel, select

from hub.audit.sequencer import settle
from hub.entrypoints.cli import main
from hub.errors import InvalidInput, NotFound
from hub.services.audit_post import post_audit
from hub.services.audit_queries import person_audit
from hub.services.contacts_sort import merge
from hub.services.delivery import deliver, due_ids
from hub.services.feeds import feed_links, read_feed
from hub.services.people import NewPerson, add_person, remove_person, update_person
from hub.services.posts import Author, PostInput, submit_post
from hub.services.tokens import create_token
from hub.store.contact_tables import MergedPersonRow
from hub.store.db import make_engine
from hub.store.migrate import upgrade
from hub.store.tables import AuditRow, FetchRow, VisibilityRow
from tests.integration import test_ui_security as base
from tests.integration.test_ui_security import wait_settled

pytestmark = pytest.mark.integration
site = base.site
owner = base.owner
DAY = "2026-11-23"          # the test clock's day (tests/conftest.py Clock)


async def _deliver_all(hub: Any) -> None:
    for delivery_id in await asyncio.to_thread(due_ids, hub):
        await deliver(hub, delivery_id, worker="w1")


def _history(hub: Any) -> tuple[list[Any], list[Any], list[Any]]:
    """The index rows, feed fetches and audit events, as they stand."""
    settle(hub.db)
    with hub.db.read() as s:
        return (list(s.exec(select(VisibilityRow).order_by(VisibilityRow.id))),  # type: ignore[arg-type]
                list(s.exec(select(FetchRow).order_by(FetchRow.id))),  # type: ignore[arg-type]
                [(e.seq, e.hash) for e in s.exec(select(AuditRow).order_by(AuditRow.seq))])  # type: ignore[arg-type]


def _entries(hub: Any, post_id: str, person_id: str) -> list[dict[str, Any]]:
    return [p for d in post_audit(hub, post_id)["could_see"] for p in d["people"]
            if p["person_id"] == person_id]


def _merged_rows(hub: Any) -> list[MergedPersonRow]:
    with hub.db.read() as s:
        return list(s.exec(select(MergedPersonRow)))


async def test_refused_merges_record_no_names_and_a_removed_person_stays_unnamed(
        database_url, make_hub):
    """Adversarial first: a merge into oneself or of nobody writes no name; a person
    removed (not merged) is not given one."""
    hub = make_hub(database_url)
    bea = add_person(hub, NewPerson("Bea", [("email", "bea@b.org")], ["friends"]))
    add_person(hub, NewPerson("Di", [("email", "di@d.org")], ["friends"]))
    with pytest.raises(InvalidInput, match="into themselves"):
        merge(hub, "Bea", bea.id)
    with pytest.raises(NotFound):
        merge(hub, "Bea", "u_nobody")
    assert _merged_rows(hub) == []

    post = submit_post(hub, PostInput("for friends", ["friends"]), Author()).post.id
    await _deliver_all(hub)
    [di] = [p for d in post_audit(hub, post)["could_see"] for p in d["people"]
            if p["name"] == "Di"]
    remove_person(hub, "Di")
    [gone] = _entries(hub, post, di["person_id"])
    assert gone["name"] is None and gone["merged_into"] is None   # removed: not invented


async def test_a_merged_person_keeps_their_name_in_every_audit_answer(database_url, make_hub):
    hub = make_hub(database_url)
    ana = add_person(hub, NewPerson("Ana", [("email", "ana@a.org")]))
    bea = add_person(hub, NewPerson("Bea", [("email", "bea@b.org")], ["friends"]))
    post = submit_post(hub, PostInput("for friends", ["friends"]), Author()).post.id
    await _deliver_all(hub)
    links = {link.name: link.url for link in feed_links(hub, "friends")}
    read_feed(hub, "friends", links["Bea"].split("token=", 1)[1])     # Bea reads her feed
    [before] = _entries(hub, post, bea.id)
    assert (before["name"], before["merged_into"]) == ("Bea", None)
    history = _history(hub)

    merge(hub, "Ana", "Bea")
    label = f"Bea (merged into Ana on {DAY})"
    entries = _entries(hub, post, bea.id)
    assert [e["name"] for e in entries] == [label] * len(entries) and entries
    assert entries[0]["merged_into"]["person_id"] == ana.id
    assert entries[0]["merged_into"]["name"] == "Ana"
    assert entries[0]["merged_into"]["when"].startswith(DAY)
    assert all(e["identity"] == before["identity"] for e in entries if e["via_list"])
    [fetched] = post_audit(hub, post)["fetched_by"]
    assert (fetched["person_id"], fetched["name"]) == (bea.id, label)
    # The answer by her old id: what was recorded under it, named after who she was.
    answer = person_audit(hub, bea.id, include_public=False)
    assert answer["person"]["name"] == label
    assert answer["person"]["merged_into"]["person_id"] == ana.id
    assert [p["post_id"] for p in answer["posts"]] == [post]
    assert post not in [p["post_id"] for p in person_audit(hub, ana.id,
                                                           include_public=False)["posts"]]
    # Nothing recorded before was rewritten (the merge only appended its own events).
    index, fetches, events = _history(hub)
    assert (index, fetches) == history[:2] and events[:len(history[2])] == history[2]

    # Ana is merged into Cy in turn, then Cy renamed: Bea's entry follows to today's person.
    cy = add_person(hub, NewPerson("Cy", [("email", "cy@c.org")]))
    merge(hub, "Cy", "Ana")
    update_person(hub, cy.id, name="Cy Q.")
    entries = _entries(hub, post, bea.id)
    assert {e["name"] for e in entries} == {f"Bea (merged into Ana on {DAY}, now part of Cy Q.)"}
    assert {e["merged_into"]["person_id"] for e in entries} == {cy.id}
    assert [(r.id, r.into_id) for r in sorted(_merged_rows(hub), key=lambda r: r.name)] == [
        (ana.id, cy.id), (bea.id, ana.id)]       # each merge wrote its own row, once


def test_the_migration_matches_the_new_tables(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    assert [d for d in diff if "merged_person" in repr(d)
            or "contact_relationship" in repr(d)] == []


def test_the_api_and_the_web_page_name_bea_and_say_she_is_part_of_ana(site, owner,
                                                                      tmp_path: Path):
    hub, server = site                          # Ana (ana@example.org) is in friends
    bea = add_person(hub, NewPerson("Bea", [("email", "bea@example.org")], ["friends"]))
    post = submit_post(hub, PostInput("for friends", ["friends"]), Author()).post.id
    wait_settled(hub, post)
    merge(hub, "Ana", "Bea")
    day = hub.now().date().isoformat()
    label = f"Bea (merged into Ana on {day})"

    _, secret = create_token(hub, "auditor", ["audit"])
    with httpx.Client(base_url=server.url) as api:
        got = api.get(f"/api/audit/posts/{post}", headers={"Authorization": f"Bearer {secret}"})
    assert got.status_code == 200
    people = [p for d in got.json()["could_see"] for p in d["people"]
              if p["person_id"] == bea.id]
    assert people and {p["name"] for p in people} == {label}
    assert people[0]["merged_into"]["name"] == "Ana"

    page = owner.get(f"/audit/posts/{post}")
    assert page.status_code == 200 and label in page.text
    assert f'href="/audit/people/{bea.id}"' in page.text
    theirs = owner.get(f"/audit/people/{bea.id}")     # the link still answers
    assert theirs.status_code == 200 and f"What {label} could see" in theirs.text

    env = {"HUB_DATA_DIR": str(hub.settings.data_dir), "HUB_POLICY_DIR":
           str(hub.settings.policy_dir), "HUB_DATABASE_URL": hub.settings.database_url,
           "HUB_SECRET_KEY": "test-secret-key-not-for-production"}
    out = CliRunner().invoke(main, ["audit", "post", post], env=env)
    assert out.exit_code == 0, out.output
    assert label in out.output
