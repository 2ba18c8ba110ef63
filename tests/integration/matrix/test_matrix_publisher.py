"""The Matrix publisher against a real Synapse, without the rest of the hub: exactly once per
delivery key, the recovery when a send's outcome was lost, and errors as the server gives them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import adapters.matrix
from hub.domain.model import PeopleSnapshot, Post, PostId, Reach, Target
from hub.errors import CredentialsRejected, PermanentDeliveryError
from hub.ports import Connection
from tests.fakes import MemorySteps, NeverSavedCredentials

pytestmark = pytest.mark.integration


async def _publisher(synapse, user):
    settings, token = await adapters.matrix.connect({"homeserver": synapse.url}, user.token)
    return adapters.matrix.build(Connection("matrix:t", settings, token), NeverSavedCredentials())


def _draft(publisher, room: str, text: str = "hello"):
    post = Post(PostId("p1"), text, ("club",), datetime(2026, 11, 23, tzinfo=UTC))
    return publisher.prepare(post, Target("club", "matrix:t", Reach.ROOM_MEMBERS,
                                          {"room": room}), PeopleSnapshot())


def _texts(synapse, user, room):
    return [e for e in synapse.messages(user, room) if e["type"] == "m.room.message"]


async def test_connect_stores_the_user_and_device_of_the_token(synapse, hub_user):
    settings, token = await adapters.matrix.connect({"homeserver": synapse.url + "/"},
                                                    hub_user.token)
    assert settings["user_id"] == hub_user.user_id
    assert settings["device_id"] == hub_user.device_id
    assert settings["homeserver"] == synapse.url and token == hub_user.token


async def test_a_revoked_token_is_rejected_as_credentials(synapse):
    with pytest.raises(CredentialsRejected) as err:
        await adapters.matrix.connect({"homeserver": synapse.url}, "syt_not_a_token")
    assert "M_UNKNOWN_TOKEN" in err.value.message and "syt_not_a_token" not in err.value.message


async def test_the_same_key_twice_sends_one_event(synapse, hub_user):
    room = synapse.create_room(hub_user)
    publisher = await _publisher(synapse, hub_user)
    try:
        first = await publisher.publish(_draft(publisher, room), key="3lkeyone",
                                        steps=MemorySteps())
        again = await publisher.publish(_draft(publisher, room), key="3lkeyone",
                                        steps=MemorySteps())   # the steps were lost too
    finally:
        await publisher.aclose()
    assert first.remote_id == again.remote_id
    assert len(_texts(synapse, hub_user, room)) == 1


async def test_a_send_whose_outcome_was_lost_is_found_in_the_room(synapse, hub_user):
    """The worker sent, then died before recording the event: the retry, beyond the server's
    transaction memory, finds the event by its transaction id instead of sending again."""
    room = synapse.create_room(hub_user)
    publisher = await _publisher(synapse, hub_user)
    try:
        sent = await publisher.publish(_draft(publisher, room), key="3lkeytwo",
                                       steps=MemorySteps())
        # what survived the crash: the room and the fact that a send was tried
        steps = MemorySteps({"room": room, "tried:3lkeytwo": "1"})
        # a different text would show up as a second event if it were sent again
        retried = await publisher.publish(_draft(publisher, room, "hello (again)"),
                                          key="3lkeytwo", steps=steps)
    finally:
        await publisher.aclose()
    assert retried.remote_id == sent.remote_id
    assert [e["content"]["body"] for e in _texts(synapse, hub_user, room)] == ["hello"]


async def test_an_unknown_room_alias_is_a_permanent_error(synapse, hub_user):
    publisher = await _publisher(synapse, hub_user)
    try:
        with pytest.raises(PermanentDeliveryError) as err:
            await publisher.publish(_draft(publisher, "#nowhere:hub.test"), key="3lk",
                                    steps=MemorySteps())
    finally:
        await publisher.aclose()
    assert "M_NOT_FOUND" in err.value.message or "404" in err.value.message


def test_hub_accounts_add_matrix_checks_the_token(synapse, hub_user, tmp_path, policy_dir,
                                                  monkeypatch):
    from tests.integration.test_cli import hub

    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HUB_POLICY_DIR", str(policy_dir))
    hub("init")
    out = hub("accounts", "add", "matrix", "home", "--homeserver", synapse.url,
              input=hub_user.token + "\n")
    assert "connected matrix:home" in out
    out = hub("accounts", "add", "matrix", "other", "--homeserver", synapse.url,
              input="syt_wrong\n", code=1)
    assert "M_UNKNOWN_TOKEN" in out and "syt_wrong" not in out
