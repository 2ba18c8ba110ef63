"""Bluesky group chats through the whole hub, against the lexicon-validated double: the group
kept for a list (found by name, created, members added and removed with the list), messages
with facets, exactly once when a send's outcome is lost, errors by name, who could see."""

from __future__ import annotations

import asyncio

import pytest

from hub.services.audit_post import post_audit
from hub.services.deletion import delete_everywhere
from hub.services.delivery import deliver, due_ids
from hub.services.people import NewPerson, add_person, change_lists
from hub.services.posts import Author, PostInput, get_post, submit_post

pytestmark = pytest.mark.integration

POLICY = """\
version: 1
accounts: [bluesky-chat:me]
targets:
  family-chat: {account: bluesky-chat:me, list: family}
audiences:
  family: {reach: recipients, targets: [family-chat]}
"""


@pytest.fixture
def members(chat):
    world = chat[0]
    return {name: world.account(f"{name.lower()}.test") for name in ("Ana", "Bo", "Dee")}


@pytest.fixture
def _chat_hub(database_url, make_hub, policy_dir, connect_chat, members):
    (policy_dir / "hub.yaml").write_text(POLICY)
    hub = make_hub(database_url)
    connect_chat(hub)
    add_person(hub, NewPerson("Ana", [("bluesky", members["Ana"].did)], ["family"]))
    add_person(hub, NewPerson("Bo", [("bluesky", "bo.test")], ["family"]))   # by handle
    add_person(hub, NewPerson("Cy", [("email", "cy@example.org")], ["family"]))
    return hub


@pytest.fixture
async def chat_hub(_chat_hub):
    yield _chat_hub
    await _chat_hub.publishers.aclose()


async def _run(hub) -> list[str]:
    return [(await deliver(hub, d, worker="w")).status
            for d in await asyncio.to_thread(due_ids, hub)]


def _delivery(hub, post_id):
    [d] = get_post(hub, post_id).deliveries
    return d


async def test_a_group_is_made_for_the_list_and_the_post_sent_once(chat_hub, chat, members,
                                                                   owner):
    world = chat[0]
    view = submit_post(chat_hub, PostInput("Dinner at 8, menu on https://example.org/menu",
                                           ["family"], tags=["food"]), Author())
    assert await _run(chat_hub) == ["published"]
    [convo] = world.convos.values()
    assert convo.name == "family (hub)" and convo.owner == owner.did
    assert set(convo.members) == {owner.did, members["Ana"].did, members["Bo"].did}
    [msg] = convo.messages
    assert msg["text"] == "Dinner at 8, menu on https://example.org/menu\n\n#food"
    kinds = sorted(f["features"][0]["$type"].rsplit("#", 1)[1] for f in msg["facets"])
    assert kinds == ["link", "tag"]
    d = _delivery(chat_hub, view.post.id)
    assert d.status == "published" and d.remote_id == f"{convo.id}/{msg['id']}"
    who = post_audit(chat_hub, view.post.id)["could_see"][0]
    assert who["reach"] == "recipients" and who["lower_bound"] is False
    assert sorted((m["name"], m["identity"]) for m in who["people"]) == [
        ("Ana", members["Ana"].did), ("Bo", "bo.test")]


async def test_the_group_follows_the_list(chat_hub, chat, members):
    world = chat[0]
    submit_post(chat_hub, PostInput("one", ["family"]), Author())
    assert await _run(chat_hub) == ["published"]
    change_lists(chat_hub, "family", remove=["Bo"])
    add_person(chat_hub, NewPerson("Dee", [("bluesky", members["Dee"].did)], ["family"]))
    view = submit_post(chat_hub, PostInput("two", ["family"]), Author())
    assert await _run(chat_hub) == ["published"]
    [convo] = world.convos.values()                # found again by its name: one group
    assert members["Bo"].did not in convo.members and members["Dee"].did in convo.members
    who = post_audit(chat_hub, view.post.id)["could_see"][0]
    assert sorted(m["name"] for m in who["people"]) == ["Ana", "Dee"]


async def test_a_lost_answer_is_checked_in_the_conversation_not_sent_again(chat_hub, chat):
    world = chat[0]
    # the service stores the message, but the hub gets a 502 instead of the answer
    world.faults.append(("chat.bsky.convo.sendMessage", 502, {"error": "BadGateway"}, True))
    view = submit_post(chat_hub, PostInput("only once", ["family"]), Author())
    assert await _run(chat_hub) == ["retry"]
    chat_hub.now.advance(60)
    assert await _run(chat_hub) == ["published"]
    [convo] = world.convos.values()
    assert [m["text"] for m in convo.messages] == ["only once"]
    assert _delivery(chat_hub, view.post.id).remote_id.endswith(convo.messages[0]["id"])
    assert world.calls.count("chat.bsky.convo.getMessages") == 1


async def test_a_member_who_forbids_groups_stops_it_with_the_reason(chat_hub, chat, members):
    chat[0].accounts[members["Ana"].did].accepts_groups = False
    view = submit_post(chat_hub, PostInput("hi", ["family"]), Author())
    assert await _run(chat_hub) == ["failed"]
    assert "UserForbidsGroups" in _delivery(chat_hub, view.post.id).reason


async def test_a_rate_limit_is_retried(chat_hub, chat):
    chat[0].faults.append(("chat.bsky.group.createGroup", 429,
                           {"error": "RateLimitExceeded"}, False))
    submit_post(chat_hub, PostInput("hi", ["family"]), Author())
    assert await _run(chat_hub) == ["retry"]
    chat_hub.now.advance(60)
    assert await _run(chat_hub) == ["published"]


async def test_delete_says_a_chat_message_cannot_be_unsent(chat_hub):
    view = submit_post(chat_hub, PostInput("hi", ["family"]), Author())
    assert await _run(chat_hub) == ["published"]
    [outcome] = await delete_everywhere(chat_hub, view.post.id)
    assert not outcome.removed and "cannot be unsent" in outcome.reason


async def test_an_edit_sends_a_correction_to_the_same_group(chat_hub, chat):
    from hub.services.edits import EditInput, edit_post, plan_edit

    view = submit_post(chat_hub, PostInput("lunch at 12", ["family"]), Author())
    assert await _run(chat_hub) == ["published"]
    change = EditInput(text="lunch at 1")
    plan = await asyncio.to_thread(plan_edit, chat_hub, view.post.id, change, Author())
    assert [c.action for c in plan.copies] == ["correct"]
    await edit_post(chat_hub, view.post.id, change, Author(), confirm=plan.digest, run=True)
    [convo] = chat[0].convos.values()
    assert [m["text"] for m in convo.messages] == [
        "lunch at 12", "Correction of my earlier message:\n\nlunch at 1"]
