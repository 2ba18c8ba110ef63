"""Lists that keep themselves, as the owner meets them: a rule list naming a missing list or
account, or reaching itself, is refused by ``hub policy check``, by a reload and so by the API
(the old policy stays); members follow the relationships contact sync records, evaluated when
a post is routed and again at publish time; the who-could-see snapshot freezes who it was;
``hub lists show`` says why each member is in; a rule list takes no members by hand."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlmodel import select

from hub.domain.model import IdentityKind
from hub.entrypoints.cli import main
from hub.errors import Conflict, NotFound, PolicyFileInvalid
from hub.ports import Contact, ContactDirection, ContactPage
from hub.services.contacts import sync_account
from hub.services.delivery import deliver, due_ids
from hub.services.feeds import feed_links, read_feed
from hub.services.people import NewPerson, add_person, change_lists
from hub.services.people_lists import explain_list, list_sizes
from hub.services.policy import reload_policy
from hub.services.posts import Author, PostInput, get_post, submit_post
from hub.services.preview import preview_post
from hub.store.tables import DeliveryRow, PersonRow
from tests.integration.test_http import LiveServer

pytestmark = pytest.mark.integration

POLICY = """\
version: 1
accounts: [feed:site, mastodon:main]
targets:
  fans-feed: {account: feed:site, list: fans}
  masto-public: {account: mastodon:main, visibility: public}
audiences:
  fans: {reach: recipients, targets: [fans-feed]}
  public: {reach: world, targets: [masto-public]}
lists:
  fans:
    rule: followers of mastodon:main and not clients
    description: people who follow me, minus clients
"""


class Followers:
    """A ContactReader (the port): the followers it is told, one page; follows nobody."""

    platform = "mastodon"

    def __init__(self) -> None:
        self.followers: list[str] = []

    async def page(self, direction: ContactDirection, cursor: str | None) -> ContactPage:
        who = self.followers if direction is ContactDirection.FOLLOWERS else []
        return ContactPage(tuple(Contact(IdentityKind.MASTODON, a, a) for a in who), None)

    async def aclose(self) -> None:
        return None


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    d = tmp_path / "policies"
    d.mkdir()
    (d / "hub.yaml").write_text(POLICY.split("lists:")[0])   # the rule list comes later
    return d


def _book(hub, policy_dir: Path | None = None) -> dict[str, str]:
    """Ana, Bo, Cy (a client) and Di; then the policy with the rule list, which names the
    list 'clients' the address book now has."""
    for name, handle, lists in (("Ana", "@ana@social.example", []),
                                ("Bo", "@bo@social.example", []),
                                ("Cy", "@cy@social.example", ["clients"]),
                                ("Di", "@di@social.example", [])):
        add_person(hub, NewPerson(name, [("mastodon", handle)], lists))
    if policy_dir is not None:
        (policy_dir / "hub.yaml").write_text(POLICY)
        reload_policy(hub)
    with hub.db.read() as s:
        return {row.name: row.id for row in s.exec(select(PersonRow))}


async def _sync(hub, reader: Followers, *handles: str) -> None:
    reader.followers = [f"@{h}@social.example" for h in handles]
    await sync_account(hub, "mastodon:main", reader)


def _who_could_see(hub, post_id: str) -> set[str]:
    [delivery] = [d for d in get_post(hub, post_id).deliveries if d.target == "fans-feed"]
    with hub.db.read() as s:
        receipt = s.get(DeliveryRow, delivery.id).receipt
        return {m.person_id for m in hub.audit.snapshot_members(s, receipt["snapshot"])}


async def _publish(hub) -> list[str]:
    return [(await deliver(hub, d, worker="w1")).status
            for d in await asyncio.to_thread(due_ids, hub)]


async def test_members_are_evaluated_at_routing_and_again_at_publish_and_then_frozen(
        database_url, make_hub, policy_dir):
    hub = make_hub(database_url)
    ids = _book(hub, policy_dir)
    reader = Followers()
    await _sync(hub, reader, "ana", "bo", "cy")
    assert list_sizes(hub)["fans"] == 2                     # Cy is a client
    [shown] = [t for t in preview_post(hub, PostInput("news", ["fans"])).targets
               if t.target == "fans-feed"]
    assert shown.who.startswith("the 2 people in fans")      # the compose preview's count
    view = submit_post(hub, PostInput("news for fans", ["fans"]), Author())
    assert [d.target for d in view.deliveries] == ["fans-feed"]

    await _sync(hub, reader, "ana", "cy")                    # Bo stops following, before send
    assert await _publish(hub) == ["published"]
    assert _who_could_see(hub, view.post.id) == {ids["Ana"]}

    await _sync(hub, reader, "ana", "cy", "di")              # Di follows after it was sent
    assert _who_could_see(hub, view.post.id) == {ids["Ana"]}   # history is not rewritten
    later = submit_post(hub, PostInput("and again", ["fans"]), Author())
    assert await _publish(hub) == ["published"]
    assert _who_could_see(hub, later.post.id) == {ids["Ana"], ids["Di"]}

    # the private feed of a rule list: its members now read what they were sent
    links = {link.name: link.url for link in feed_links(hub, "fans")}
    assert set(links) == {"Ana", "Di"}
    ana_token = links["Ana"].split("token=", 1)[1]
    assert {e.post_id for e in read_feed(hub, "fans", ana_token).entries} == {
        later.post.id, view.post.id}
    await _sync(hub, reader, "cy", "di")                     # Ana stops following
    with pytest.raises(NotFound):
        read_feed(hub, "fans", ana_token)
    await _sync(hub, reader, "ana", "cy", "di")

    why = {m.name: m.why for m in explain_list(hub, "fans")}
    assert set(why) == {"Ana", "Di"}
    assert why["Ana"][0].startswith("follows mastodon:main since ")
    assert why["Ana"][1] == "not in clients"
    with pytest.raises(Conflict, match="keeps itself"):
        change_lists(hub, "fans", add=["Bo"])


async def test_nobody_is_reached_whom_the_rule_does_not_name(database_url, make_hub,
                                                             policy_dir):
    """A follower the address book does not hold is not a member (the inbox has them), and an
    identity's follow counts only for the person who holds that identity."""
    hub = make_hub(database_url)
    ids = _book(hub, policy_dir)
    await _sync(hub, Followers(), "stranger", "bo")
    view = submit_post(hub, PostInput("hello", ["fans"]), Author())
    assert await _publish(hub) == ["published"]
    assert _who_could_see(hub, view.post.id) == {ids["Bo"]}


def _cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


BROKEN = {
    "missing list": ("followers of mastodon:main and not clients", "followers of "
                     "mastodon:main and not client", "names list 'client'"),
    "missing account": ("followers of mastodon:main and", "followers of mastodon:alt and",
                        "account 'mastodon:alt'"),
    "cycle": ("followers of mastodon:main and not clients", "fans and not clients",
              "depends on itself: fans → fans"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_rule_list_is_refused_everywhere_and_the_old_policy_stays(
        case, database_url, make_runtime, policy_dir, tmp_path, monkeypatch):
    from web.app import create_app

    runtime = make_runtime(database_url)
    hub = runtime.hub
    _book(hub, policy_dir)
    old = hub.policies.current.digest
    before, after, words = BROKEN[case]
    (policy_dir / "hub.yaml").write_text(POLICY.replace(before, after))

    with pytest.raises(PolicyFileInvalid) as info:
        reload_policy(hub)
    assert info.value.file.endswith("hub.yaml") and info.value.line == 11, str(info.value)
    assert words in info.value.reason
    assert hub.policies.current.digest == old

    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HUB_POLICY_DIR", str(policy_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("HUB_SECRET_KEY", "test-secret-key-not-for-production")
    out = _cli("policy", "check", code=1)
    assert "hub.yaml:11" in out and words in out

    token = _token(hub)
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server:
        r = httpx.post(f"{server.url}/api/posts", json={"text": "still routed",
                                                        "audiences": ["fans"]},
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 202, r.text
        assert r.json()["policy_digest"] == old


def _token(hub) -> str:
    from hub.services.tokens import create_token

    return create_token(hub, "t", scopes=["post"])[1]


async def test_cli_lists_shows_rule_lists_and_explains_members(
        database_url, make_hub, policy_dir, tmp_path, monkeypatch):
    hub = make_hub(database_url)
    _book(hub, policy_dir)
    await _sync(hub, Followers(), "ana", "cy")
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HUB_POLICY_DIR", str(policy_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("HUB_SECRET_KEY", "test-secret-key-not-for-production")
    listed = _cli("lists")
    assert "fans" in listed and "rule: followers of mastodon:main and not clients" in listed
    shown = await asyncio.to_thread(_cli, "lists", "show", "fans")
    assert "kept by the rule" in shown and "(1 members)" in shown
    assert "Ana" in shown and "why: follows mastodon:main since" in shown
    assert "not in clients" in shown and "Cy" not in shown
    out = await asyncio.to_thread(_cli, "lists", "add", "fans", "Bo", code=1)
    assert "keeps itself" in out
