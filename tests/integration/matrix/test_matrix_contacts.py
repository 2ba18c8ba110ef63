"""Matrix room members as contacts, against the real Synapse: the people in the rooms the
account joined are recorded as following it (one room a page), leaving every room is a lost
follower, and a sync killed between rooms resumes with the next room, nothing twice."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

import adapters.matrix
from adapters.matrix.contacts import MatrixContacts, build
from hub.ports import Connection, ContactDirection, ContactPage
from hub.services.contacts import direction_of, relationships, sync_account, sync_states
from tests.fakes import NeverSavedCredentials

pytestmark = pytest.mark.integration


async def _reader(synapse: Any, user: Any) -> MatrixContacts:
    settings, token = await adapters.matrix.connect({"homeserver": synapse.url}, user.token)
    return build(Connection("matrix:home", settings, token), NeverSavedCredentials())


def _set_name(synapse: Any, user: Any, name: str) -> None:
    with synapse.client(user) as http:
        http.put(f"/profile/{quote(user.user_id)}/displayname",
                 json={"displayname": name}).raise_for_status()


def _leave(synapse: Any, user: Any, room: str) -> None:
    with synapse.client(user) as http:
        http.post(f"/rooms/{quote(room)}/leave", json={}).raise_for_status()


class DiesAfter:
    """The real reader, dying (as a killed process would) after ``pages`` pages."""

    platform = "matrix"
    directions = (ContactDirection.FOLLOWERS,)

    def __init__(self, inner: MatrixContacts, pages: int) -> None:
        self.inner, self.left = inner, pages

    async def page(self, direction: ContactDirection, cursor: str | None) -> ContactPage:
        if self.left == 0:
            raise RuntimeError("killed between rooms")
        self.left -= 1
        return await self.inner.page(direction, cursor)

    async def aclose(self) -> None:
        return None


async def test_room_members_are_followers_and_leaving_every_room_loses_one(
        database_url, make_hub, synapse, hub_user):
    hub = make_hub(database_url)
    ana, bo, cy = (synapse.register(n) for n in ("ana", "bo", "cy"))
    _set_name(synapse, ana, "Ana Lima")
    club = synapse.create_room(hub_user, preset="public_chat")
    work = synapse.create_room(hub_user, preset="public_chat")
    for who in (ana, bo):
        synapse.join(who, club)
    for who in (bo, cy):
        synapse.join(who, work)
    reader = await _reader(synapse, hub_user)
    try:
        seen: list[Any] = []
        [result] = await sync_account(hub, "matrix:home", reader, progress=seen.append)
        assert result.direction is ContactDirection.FOLLOWERS and result.done
        assert (result.pages, result.new) == (2, 3)       # one room a page; Bo once
        rows = {r.address: r for r in relationships(hub, "matrix:home")}
        assert set(rows) == {ana.user_id, bo.user_id, cy.user_id}      # never the hub itself
        assert rows[ana.user_id].display_name == "Ana Lima"
        assert {direction_of(r) for r in rows.values()} == {"follows me"}
        assert [s.direction for s in sync_states(hub)] == ["followers"]   # no "following"

        _leave(synapse, cy, work)
        _leave(synapse, bo, club)           # still in work: not lost
        hub.now.advance(60)
        [again] = await sync_account(hub, "matrix:home", reader)
        assert (again.new, again.lost) == (0, 1)
        [gone] = relationships(hub, "matrix:home", lost=True)
        assert gone.address == cy.user_id and gone.follower_lost == hub.now()
    finally:
        await reader.aclose()


async def test_a_sync_killed_between_rooms_resumes_with_the_next_room(
        database_url, make_hub, synapse, hub_user):
    hub = make_hub(database_url)
    rooms = [synapse.create_room(hub_user, preset="public_chat") for _ in range(3)]
    members = []
    for room in rooms:
        for _ in range(2):
            user = synapse.register("m")
            synapse.join(user, room)
            members.append(user.user_id)
    reader = await _reader(synapse, hub_user)
    try:
        with pytest.raises(RuntimeError, match="killed"):
            await sync_account(hub, "matrix:home", DiesAfter(reader, 1))
        [half] = sync_states(hub)
        assert (half.status, half.pages, half.seen) == ("running", 1, 2)
        assert half.cursor == sorted(rooms)[1]
        [done] = await sync_account(hub, "matrix:home", reader)
        assert (done.done, done.pages, done.seen, done.new, done.lost) == (True, 3, 6, 6, 0)
        assert sorted(r.address for r in relationships(hub, "matrix:home")) == sorted(members)
    finally:
        await reader.aclose()
