"""Matrix through the whole hub against a real Synapse: a room kept for a list (created,
members invited and kept in step), an existing room, images with alt text, exactly once with
the delivery key as txnId, encrypted rooms refused, deletion as redaction, and who could see."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from hub.media import store_media
from hub.services.audit_post import post_audit
from hub.services.deletion import delete_everywhere
from hub.services.delivery import deliver, due_ids
from hub.services.people import NewPerson, add_person, change_lists
from hub.services.posts import Author, MediaRef, PostInput, get_post, submit_post
from hub.store.tables import DeliveryRow
from tests.conftest import Clock

pytestmark = pytest.mark.integration

POLICY = """\
version: 1
accounts: [matrix:home]
targets:
  family-room: {account: matrix:home, list: family, alias: ALIAS}
  club-room: {account: matrix:home, room: "ROOM"}
audiences:
  family: {reach: room-members, targets: [family-room]}
  club: {reach: room-members, targets: [club-room]}
  private: {reach: recipients, targets: [family-room]}
"""


@pytest.fixture
def people(synapse):
    return {name: synapse.register(name.lower()) for name in ("Ana", "Bo", "Dee")}


@pytest.fixture
def club(synapse, hub_user, people):
    """An existing room (shared history, the Matrix default) the hub's user was invited to."""
    owner = people["Dee"]
    room = synapse.create_room(owner, preset="private_chat",
                               invite=[hub_user.user_id, people["Ana"].user_id])
    return room


def alias_of(hub_user) -> str:
    """The kept room's alias local part: unique per test (one hub user per test)."""
    return "fam-" + hub_user.user_id[1:].split(":")[0]


@pytest.fixture
def _matrix_hub(database_url, make_hub, policy_dir, connect_matrix, people, club, hub_user):
    alias = alias_of(hub_user)
    (policy_dir / "hub.yaml").write_text(POLICY.replace("ALIAS", alias).replace("ROOM", club))
    clock = Clock()
    hub = make_hub(database_url, clock=clock)
    connect_matrix(hub)
    add_person(hub, NewPerson("Ana", [("matrix", people["Ana"].user_id)], ["family"]))
    add_person(hub, NewPerson("Bo", [("matrix", people["Bo"].user_id)], ["family"]))
    add_person(hub, NewPerson("Cy", [("email", "cy@example.org")], ["family"]))
    return hub


@pytest.fixture
async def matrix_hub(_matrix_hub):
    """The hub; its publishers' HTTP clients are closed on the test's own event loop."""
    yield _matrix_hub
    await _matrix_hub.publishers.aclose()


async def _run(hub) -> list[str]:
    return [(await deliver(hub, d, worker="w")).status
            for d in await asyncio.to_thread(due_ids, hub)]


def _delivery(hub, post_id, target):
    return next(d for d in get_post(hub, post_id).deliveries if d.target == target)


def _messages(synapse, user, room_id, msgtype=None):
    return [e for e in synapse.messages(user, room_id) if e["type"] == "m.room.message"
            and (msgtype is None or e["content"].get("msgtype") == msgtype)]


def _receipt(hub, delivery_id):
    with hub.db.read() as s:
        return s.get(DeliveryRow, delivery_id).receipt


async def test_a_kept_room_is_created_for_the_list_and_its_members_invited(
        matrix_hub, synapse, people, hub_user):
    view = submit_post(matrix_hub, PostInput("Sunday lunch at ours, see https://example.org/map",
                                             ["family"], tags=["food"]), Author())
    assert await _run(matrix_hub) == ["published"]
    d = _delivery(matrix_hub, view.post.id, "family-room")
    assert d.status == "published" and d.reach == "room-members"
    room_id = _receipt(matrix_hub, d.id)["details"]["room_id"]
    # the alias leads to the room the hub created
    assert synapse.join(people["Ana"], f"#{alias_of(hub_user)}:hub.test") == room_id
    [msg] = _messages(synapse, people["Ana"], room_id)
    assert msg["event_id"] == d.remote_id and msg["sender"] == hub_user.user_id
    assert msg["content"]["body"] == ("Sunday lunch at ours, see https://example.org/map"
                                      "\n\n#food")
    assert msg["content"]["format"] == "org.matrix.custom.html"
    assert '<a href="https://example.org/map">' in msg["content"]["formatted_body"]
    state = {e["type"]: e["content"] for e in synapse.messages(people["Ana"], room_id)}
    assert state["m.room.history_visibility"] == {"history_visibility": "invited"}
    who = next(c for c in post_audit(matrix_hub, view.post.id)["could_see"]
               if c["target"] == "family-room")
    assert sorted((m["name"], m["identity"]) for m in who["people"]) == [
        ("Ana", people["Ana"].user_id), ("Bo", people["Bo"].user_id)]
    assert who["lower_bound"] is False
    assert _receipt(matrix_hub, d.id)["notes"] == [
        "Cy has no Matrix identity: not invited to the room"]


async def test_the_kept_room_follows_the_list(matrix_hub, synapse, people):
    first = submit_post(matrix_hub, PostInput("one", ["family"]), Author())
    assert await _run(matrix_hub) == ["published"]
    room_id = _receipt(matrix_hub, _delivery(matrix_hub, first.post.id, "family-room").id)[
        "details"]["room_id"]
    synapse.join(people["Bo"], room_id)
    synapse.join(people["Ana"], room_id)
    change_lists(matrix_hub, "family", remove=["Bo"])
    add_person(matrix_hub, NewPerson("Dee", [("matrix", people["Dee"].user_id)], ["family"]))
    second = submit_post(matrix_hub, PostInput("two", ["family"]), Author())
    assert await _run(matrix_hub) == ["published"]
    d = _delivery(matrix_hub, second.post.id, "family-room")
    assert _receipt(matrix_hub, d.id)["details"]["room_id"] == room_id   # the same room
    members = {e["state_key"]: e["content"]["membership"]
               for e in synapse.messages(people["Ana"], room_id) if e["type"] == "m.room.member"}
    assert members[people["Bo"].user_id] == "leave"          # removed: no longer in the list
    assert members[people["Dee"].user_id] == "invite"
    who = next(c for c in post_audit(matrix_hub, second.post.id)["could_see"])
    assert sorted(m["name"] for m in who["people"]) == ["Ana", "Dee"]


async def test_an_existing_shared_room_is_a_growing_audience(matrix_hub, synapse, people,
                                                              club):
    synapse.join(people["Ana"], club)
    view = submit_post(matrix_hub, PostInput("club night", ["club"]), Author())
    assert await _run(matrix_hub) == ["published"]
    [msg] = _messages(synapse, people["Dee"], club)
    assert msg["content"]["body"] == "club night"
    who = next(c for c in post_audit(matrix_hub, view.post.id)["could_see"])
    assert who["lower_bound"] is True                     # history "shared": later members too
    assert sorted((m["name"] or "?", m["identity"]) for m in who["people"]) == [
        ("?", people["Dee"].user_id), ("Ana", people["Ana"].user_id)]   # Dee: not in people


async def test_images_go_through_the_media_repository_with_their_alt_text(
        matrix_hub, synapse, people):
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), "red").save(buf, "PNG")
    media = store_media(matrix_hub, buf.getvalue())
    view = submit_post(matrix_hub, PostInput("a red square", ["family"],
                                             media=[MediaRef(media.sha256, "A red square")]),
                       Author())
    assert await _run(matrix_hub) == ["published"]
    room_id = _receipt(matrix_hub, _delivery(matrix_hub, view.post.id, "family-room").id)[
        "details"]["room_id"]
    synapse.join(people["Ana"], room_id)
    [img] = _messages(synapse, people["Ana"], room_id, "m.image")
    assert img["content"]["body"] == "A red square"
    assert img["content"]["info"]["mimetype"] == "image/png"
    mxc = img["content"]["url"]
    assert mxc.startswith("mxc://hub.test/")
    with synapse.client(people["Ana"]) as http:
        got = http.get(synapse.url + "/_matrix/client/v1/media/download/"
                       + mxc.removeprefix("mxc://"))
    assert got.status_code == 200 and got.content == buf.getvalue()


async def test_an_encrypted_room_is_refused_with_a_reason(matrix_hub, synapse, people, club):
    with synapse.client(people["Dee"]) as http:
        http.put(f"/rooms/{club}/state/m.room.encryption/",
                 json={"algorithm": "m.megolm.v1.aes-sha2"}).raise_for_status()
    view = submit_post(matrix_hub, PostInput("secret plans", ["club"]), Author())
    assert await _run(matrix_hub) == ["failed"]
    d = _delivery(matrix_hub, view.post.id, "club-room")
    assert "end-to-end encrypted" in d.reason and "will not post in clear" in d.reason
    assert _messages(synapse, people["Dee"], club) == []


async def test_delete_redacts_every_event(matrix_hub, synapse, people, club):
    synapse.join(people["Ana"], club)
    view = submit_post(matrix_hub, PostInput("oops", ["club"]), Author())
    assert await _run(matrix_hub) == ["published"]
    [outcome] = await delete_everywhere(matrix_hub, view.post.id)
    assert outcome.removed
    [msg] = _messages(synapse, people["Ana"], club)
    assert msg["content"] == {} and "redacted_because" in msg["unsigned"]


async def test_an_edit_is_an_m_replace_of_the_same_event(matrix_hub, synapse, people, club):
    from hub.services.edits import EditInput, edit_post, plan_edit

    synapse.join(people["Ana"], club)
    view = submit_post(matrix_hub, PostInput("meet at 8", ["club"]), Author())
    assert await _run(matrix_hub) == ["published"]
    original = _delivery(matrix_hub, view.post.id, "club-room").remote_id
    change = EditInput(text="meet at 9")
    plan = await asyncio.to_thread(plan_edit, matrix_hub, view.post.id, change, Author())
    assert [c.action for c in plan.copies] == ["edit"]
    await edit_post(matrix_hub, view.post.id, change, Author(), confirm=plan.digest, run=True)
    first, edit = _messages(synapse, people["Ana"], club)
    assert first["event_id"] == original and first["content"]["body"] == "meet at 8"
    assert edit["content"]["m.relates_to"] == {"rel_type": "m.replace", "event_id": original}
    assert edit["content"]["m.new_content"]["body"] == "meet at 9"
    assert _delivery(matrix_hub, view.post.id, "club-room").remote_id == original
