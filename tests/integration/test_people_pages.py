"""The address book as the owner uses it: /people and /lists/NAME searched, filtered and paged
by cursor over real HTTP; the person page (identities, lists and why, relationships with
dates, posts they could see, feed fetches, an editable note); adding a taken name answers 409
naming who; the export (CSV, vCard) re-imports losslessly and re-imports as an update."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from sqlmodel import select

from hub.domain.model import IdentityKind
from hub.ports import Contact, ContactDirection, ContactPage
from hub.services.contacts import sync_account
from hub.services.people import NewPerson, add_people, add_person, list_people
from hub.services.people_export import export_people
from hub.services.people_import import parse_people, upsert_people
from hub.services.posts import Author, PostInput, submit_post
from hub.store.tables import PersonRow
from tests.conftest import TEST_POLICY
from tests.integration import test_ui_security as base
from tests.integration.test_ui_security import csrf_of, wait_settled

pytestmark = pytest.mark.integration
site = base.site
owner = base.owner

RULES = "lists:\n  masto-fans: {rule: followers of mastodon:main}\n"


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    d = tmp_path / "policies"
    d.mkdir()
    (d / "hub.yaml").write_text(TEST_POLICY + RULES)
    return d


class Followers:
    platform = "mastodon"

    def __init__(self, *handles: str) -> None:
        self.handles = handles

    async def page(self, direction: ContactDirection, cursor: str | None) -> ContactPage:
        who = self.handles if direction is ContactDirection.FOLLOWERS else ()
        return ContactPage(tuple(Contact(IdentityKind.MASTODON, h, h) for h in who), None)

    async def aclose(self) -> None:
        return None


def _names(html: str) -> list[str]:
    return re.findall(r'<th scope="row"[^>]*><a href="/people/[^"]+">([^<]+)</a>', html)


def _next(html: str) -> str | None:
    found = re.search(r'rel="next" href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_people_search_filters_and_cursor_pages(site, owner):
    hub, _ = site
    add_people(hub, [NewPerson(f"Member {n:03d}", [("email", f"m{n}@example.org")]
                               + ([("mastodon", f"@m{n}@social.example")] if n % 2 else []),
                               ["club"] if n % 3 == 0 else [])
                     for n in range(120)])
    seen: list[str] = []
    url: str | None = "/people"
    while url:
        r = owner.get(url)
        assert r.status_code == 200
        seen += _names(r.text)
        url = _next(r.text)
    assert seen == sorted(seen, key=str.casefold) and len(seen) == len(set(seen)) == 121
    assert "121 people." in owner.get("/people").text

    found = owner.get("/people", params={"q": "m7@EXAMPLE"}).text      # identity, any case
    assert _names(found) == ["Member 007"] and "1 person match." in found
    clubbed = owner.get("/people", params={"list": "club", "network": "mastodon"}).text
    assert _names(clubbed)[:3] == ["Member 003", "Member 009", "Member 015"]
    assert "20 people match." in clubbed
    unsorted = owner.get("/people", params={"unsorted": "1", "q": "member 00"}).text
    assert _names(unsorted) == ["Member 001", "Member 002", "Member 004", "Member 005",
                                "Member 007", "Member 008"]
    page2 = _next(owner.get("/people", params={"q": "member", "network": "email"}).text)
    assert page2 is not None
    assert parse_qs(urlparse(page2).query)["q"] == ["member"]        # the search is kept
    assert _names(owner.get(page2).text)[0] == "Member 050"
    for bad in ({"cursor": "!!"}, {"network": "myspace"}):
        r = owner.get("/people", params=bad)
        assert r.status_code == 400, r.text
        assert "damaged" in r.text or "Unknown network" in r.text
    assert owner.get("/people", params={"list": "nope"}).status_code == 404


def test_a_list_page_pages_its_members_with_why(site, owner):
    hub, _ = site
    add_people(hub, [NewPerson(f"Fan {n:02d}", [("mastodon", f"@fan{n}@social.example")])
                     for n in range(60)])
    import asyncio

    asyncio.run(sync_account(hub, "mastodon:main", Followers(
        *(f"@fan{n}@social.example" for n in range(0, 60, 2)))))
    r = owner.get("/lists/masto-fans")
    assert r.status_code == 200 and "30 members." in r.text
    assert "keeps itself" in r.text and "followers of mastodon:main" in r.text
    assert r.text.count("why: follows mastodon:main since ") == 30
    assert "Remove Fan" not in r.text and 'name="add"' not in r.text      # kept by its rule
    r = owner.get("/lists/masto-fans", params={"q": "fan1"})
    assert "5 members match." in r.text                   # fan10, 12, 14, 16, 18
    token = csrf_of(owner.get("/lists/friends").text)
    r = owner.post("/lists/masto-fans/members", data={"csrf_token": token, "add": "Fan 01"})
    assert r.status_code == 409 and "keeps itself" in r.text
    r = owner.post("/lists/friends/members", data={"csrf_token": token,
                                                   "add": "@fan3@social.example"})
    assert r.status_code == 303
    friends = owner.get("/lists/friends").text
    assert "Fan 03" in friends and "why: added by hand on " in friends
    assert "masto-fans</a> — 30 people" in owner.get("/lists").text


def test_adding_a_taken_name_answers_409_with_who_and_can_add_a_second_on_purpose(site, owner):
    hub, _ = site
    token = csrf_of(owner.get("/people").text)
    r = owner.post("/people", data={"csrf_token": token, "name": "ana", "email": ""})
    ana = next(p.id for p, _, _ in list_people(hub) if p.name == "Ana")
    assert r.status_code == 409 and f'href="/people/{ana}"' in r.text
    assert "already exists" in r.text and 'name="new" value="1"' in r.text
    assert len(list_people(hub)) == 1
    r = owner.post("/people", data={"csrf_token": token, "name": "ana", "new": "1"})
    assert r.status_code == 303 and len(list_people(hub)) == 2


def test_the_person_page_answers_the_crm_questions(site, owner):
    import asyncio

    hub, _ = site
    with hub.db.read() as s:
        ana = s.exec(select(PersonRow).where(PersonRow.name == "Ana")).one().id
    add_person(hub, NewPerson("Bo", [("mastodon", "@bo@social.example")]))
    token = csrf_of(owner.get("/people").text)
    owner.post(f"/people/{ana}/identities", data={"csrf_token": token, "kind": "mastodon",
                                                  "value": "@ana@social.example"})
    asyncio.run(sync_account(hub, "mastodon:main", Followers("@ana@social.example")))
    view = submit_post(hub, PostInput("for friends", ["friends"]), Author())
    wait_settled(hub, view.post.id)
    r = owner.post(f"/people/{ana}/edit", data={"csrf_token": token, "name": "Ana",
                                                "note": "met at the climbing gym,\nlikes tea"})
    assert r.status_code == 303
    page = owner.get(f"/people/{ana}").text
    assert "@ana@social.example" in page and "ana@example.org" in page
    assert "mastodon:main" in page and "yes, since " in page            # relationship, date
    assert "masto-fans" in page and "why: follows mastodon:main since" in page
    assert "friends</a> — added by hand on " in page
    assert f'href="/posts/{view.post.id}"' in page and "through list friends" in page
    assert "Feed fetches" in page and "likes tea</textarea>" in page
    assert owner.get("/people/u_nobody").status_code == 404


def _book(hub) -> None:
    upsert_people(hub, [
        NewPerson("Zoë Ærø", [("email", "zoe@example.org"), ("email", "z@work.example"),
                              ("matrix", "@Zoe:matrix.example")], ["family", "friends"],
                  "likes tea, coffee; and\nnew lines"),
        NewPerson("ana", [("mastodon", "@ana@social.example"), ("bluesky", "ana.bsky.social")],
                  [], ""),
        NewPerson("Ana", [], ["clients"], 'says "hi"'),
    ])


@pytest.mark.parametrize("fmt", ["csv", "vcard"])
def test_the_export_reimports_losslessly_and_again_as_an_update(fmt, database_url, make_hub,
                                                                 tmp_path, make_runtime):
    first = make_hub(database_url)
    _book(first)
    exported = export_people(first, fmt)
    assert "Zoë Ærø" in exported and "@Zoe:matrix.example" in exported
    fresh = make_runtime(f"sqlite:///{tmp_path / 'fresh.db'}").hub
    assert upsert_people(fresh, parse_people(exported, fmt=fmt)) == (3, 0)
    assert export_people(fresh, fmt) == exported
    assert upsert_people(fresh, parse_people(exported, fmt=fmt))[0] == 0   # no one new
    assert export_people(fresh, fmt) == exported
    assert len(list_people(fresh)) == 3


def test_cli_export_then_import(tmp_path, policy_dir, monkeypatch):
    from click.testing import CliRunner

    from hub.entrypoints.cli import main

    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HUB_POLICY_DIR", str(policy_dir))
    run = CliRunner()
    assert run.invoke(main, ["init"]).exit_code == 0
    assert run.invoke(main, ["people", "add", "Ana", "--email", "ana@example.org",
                             "--list", "friends"]).exit_code == 0
    out = tmp_path / "book.vcf"
    r = run.invoke(main, ["people", "export", "--format", "vcard", "-o", str(out)])
    assert r.exit_code == 0 and "FN:Ana" in out.read_text()
    r = run.invoke(main, ["people", "import", str(out)])
    assert r.exit_code == 0 and "(0 new, 1 updated)" in r.output
    r = run.invoke(main, ["people", "export"])
    assert r.output.splitlines() == ["name,email,mastodon,bluesky,matrix,lists,note",
                                     "Ana,ana@example.org,,,,friends,"]
