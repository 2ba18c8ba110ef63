"""The Contacts pages over real HTTP, as the owner uses them: "Sync now" against the Mastodon
double, the progress and figures, then the people-to-sort inbox — file a suggestion, ignore,
merge, split — with refused changes answered 4xx with the reason and nothing written, and
every form refusing a missing CSRF token."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

import adapters.mastodon
from hub.services import jobs
from hub.services.accounts import connect_account
from hub.services.contacts import relationships, sync_states
from hub.services.contacts_inbox import inbox
from hub.services.people import NewPerson, add_person, list_people
from tests.conftest import wait_until
from tests.integration import test_ui_security as base
from tests.integration.test_ui_security import csrf_of
from web.routes import contacts as contact_routes

pytestmark = pytest.mark.integration
site = base.site
owner = base.owner


def _names(hub: Any) -> dict[str, list[str]]:
    return {p.name: sorted(f"{i.kind}:{i.value}" for i in ids) for p, ids, _ in list_people(hub)}


@pytest.fixture
def synced_site(site, double, hub_scopes):
    hub, server = site
    me = double.local("hub", scopes=hub_scopes)
    bo = double.http.post("/_double/accounts", json={
        "username": "bo", "domain": "example.org", "display_name": "Bo",
        "fields": [{"name": "Site", "value": '<a href="https://example.org/bo" rel="me">me</a>',
                    "verified_at": None}]}).json()
    for i in range(90):
        fan = double.account(f"fan{i}", "fans.social")
        double.follow(fan, me)
    double.http.post("/_double/follows", json={"follower": bo["id"], "followee": me.id})
    double.http.post("/_double/follows", json={"follower": me.id, "followee": bo["id"]})
    asyncio.run(connect_account(hub, "mastodon:main", {"instance": double.base},
                                str(me.token), adapters.mastodon.connect))
    return hub, server, "@" + bo["acct"]


def test_every_contacts_form_refuses_a_missing_csrf_token(synced_site, owner):
    hub, _, bo = synced_site
    paths = [r.path for r in contact_routes.router.routes if "POST" in getattr(r, "methods", ())]
    assert len(paths) == 6
    for path in paths:
        r = owner.post(path, data={"identity": f"mastodon:{bo}", "into": "Ana", "other": "Ana"})
        assert r.status_code == 403 and "reload the page" in r.text, path
    assert sync_states(hub) == [] and _names(hub) == {"Ana": ["email:ana@example.org"]}


def test_sync_now_shows_progress_and_figures_then_the_inbox_files_a_suggestion(
        synced_site, owner):
    hub, _, bo = synced_site
    page = owner.get("/contacts")
    assert page.status_code == 200 and 'data-sync="mastodon:main" data-status="never"' in page.text
    row = page.text[page.text.index('data-sync="mastodon:main"'):]
    row = row[:row.index("</tr>")]           # the row's own Sync button carries its CSRF token
    assert 'name="csrf_token"' in row and 'name="account" value="mastodon:main"' in row
    r = owner.post("/contacts/sync", data={"csrf_token": csrf_of(page.text),
                                           "account": "mastodon:main"})
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/j")
    job_page = owner.get(r.headers["location"])          # the jobs' page follows it
    assert job_page.status_code == 200 and "Sync contacts" in job_page.text
    wait_until(lambda: [s.status for s in sync_states(hub)] == ["done", "done"]
               and [j.state for j in jobs.recent(hub, kinds=["contacts-sync"])] == ["done"],
               timeout=60, what="the sync (and its job) started from the page to finish")
    page = owner.get("/contacts")
    assert "Refresh" not in page.headers
    assert re.search(r'data-sync="mastodon:main followers" data-status="done">.*?'
                     r"2 pages, 91 seen, 91 new, 0 gone", page.text, re.S)
    assert re.search(r'data-counts="mastodon:main">.*?<td data-label="Mutual">1</td>'
                     r'<td data-label="Follow me">90</td>', page.text, re.S)
    assert "People to sort (91)" in page.text
    assert re.search(r'data-state="done">\s*<a href="/jobs/j[^"]+"><strong>mastodon:main'
                     r"</strong>.*?mastodon:main: followers done, following done", page.text,
                     re.S)
    again = owner.post("/contacts/sync", data={"csrf_token": csrf_of(page.text),
                                               "account": "mastodon:nope"})
    assert again.status_code == 404 and "no connected account" in again.text

    box = owner.get("/contacts/inbox")
    card = box.text[box.text.index(f'data-unsorted="mastodon:{bo}"'):]
    card = card[:card.index("</article>")]
    assert "profile link to example.org, their email domain" in card
    ana = next(p.id for p, _, _ in list_people(hub) if p.name == "Ana")
    r = owner.post("/contacts/accept", data={"csrf_token": csrf_of(box.text),
                                             "identity": f"mastodon:{bo}", "person": ana})
    assert r.status_code == 303
    assert _names(hub)["Ana"] == ["email:ana@example.org", f"mastodon:{bo}"]
    assert f'data-unsorted="mastodon:{bo}"' not in owner.get("/contacts/inbox").text


def test_refused_sorting_on_the_page_is_a_4xx_with_the_reason_and_changes_nothing(
        synced_site, owner):
    hub, _, bo = synced_site
    asyncio.run(_sync(hub))
    add_person(hub, NewPerson("Cy", [("email", "cy@c.org"), ("mastodon", "@cy@c.social")]))
    before_people, before_box = _names(hub), [u.identity for u in inbox(hub)]
    token = csrf_of(owner.get("/contacts/inbox").text)
    ana = next(p.id for p, _, _ in list_people(hub) if p.name == "Ana")
    cases = [
        ("/contacts/merge", {"into": ana, "other": ana}, 400, "cannot merge Ana into themselves"),
        ("/contacts/merge", {"into": ana, "other": "u_deleted"}, 404, "nobody matches"),
        ("/contacts/split", {"person": "Cy", "identities": ["email:cy@c.org",
                                                            "mastodon:@cy@c.social"],
                             "name": "Cy 2"}, 400, "would leave Cy with no identity"),
        ("/contacts/ignore", {"identity": "mastodon:@ghost@g.social"}, 404,
         "not seen by any contact sync"),
        ("/contacts/accept", {"identity": "mastodon:@cy@c.social"}, 404,
         "not seen by any contact sync"),
        ("/contacts/unignore", {"identity": f"mastodon:{bo}"}, 404, "is not ignored"),
    ]
    for path, data, status, why in cases:
        r = owner.post(path, data={"csrf_token": token, **data})
        assert (r.status_code, why in r.text) == (status, True), (path, r.text[-2000:])
        assert 'role="alert"' in r.text
    assert _names(hub) == before_people and [u.identity for u in inbox(hub)] == before_box

    r = owner.post("/contacts/ignore", data={"csrf_token": token, "identity": f"mastodon:{bo}"})
    assert r.status_code == 303
    r = owner.post("/contacts/ignore", data={"csrf_token": token, "identity": f"mastodon:{bo}"})
    assert r.status_code == 409 and "already ignored" in r.text
    assert f"mastodon:{bo}" not in [u.identity for u in inbox(hub)]

    r = owner.post("/contacts/split", data={"csrf_token": token, "person": "Cy",
                                            "identities": ["mastodon:@cy@c.social"],
                                            "name": "Cy at work"})
    assert r.status_code == 303
    cy_work = next(p.id for p, _, _ in list_people(hub) if p.name == "Cy at work")
    r = owner.post("/contacts/merge", data={"csrf_token": token, "into": "Cy",
                                            "other": cy_work})
    assert r.status_code == 303
    assert _names(hub)["Cy"] == ["email:cy@c.org", "mastodon:@cy@c.social"]
    assert "Cy at work" not in _names(hub)


async def _sync(hub: Any) -> None:
    from hub.bootstrap import contact_reader
    from hub.services.contacts import sync_account

    reader = contact_reader(hub, "mastodon:main")
    try:
        await sync_account(hub, "mastodon:main", reader)
    finally:
        await reader.aclose()
    assert len(relationships(hub, "mastodon:main")) == 91
