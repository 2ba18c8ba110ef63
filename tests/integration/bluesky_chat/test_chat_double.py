"""The chat double enforces the lexicons (so a green test means the hub's requests conform),
and connecting an account checks the app password and its chat access."""

from __future__ import annotations

import httpx
import pytest

import adapters.bluesky_chat
from hub.errors import CredentialsRejected
from tests.bluesky_chat_double.app import PROXY

pytestmark = pytest.mark.integration


def _session(url: str, account) -> str:
    got = httpx.post(f"{url}/xrpc/com.atproto.server.createSession",
                     json={"identifier": account.handle, "password": account.password})
    got.raise_for_status()
    return str(got.json()["accessJwt"])


@pytest.mark.parametrize(("nsid", "body", "why"), [
    ("chat.bsky.convo.sendMessage", {"convoId": "c", "message": {"text": "é" * 1001}},
     "more than 1000 graphemes"),
    ("chat.bsky.group.createGroup", {"members": ["not-a-did"], "name": "x"},
     "not a valid did"),
    ("chat.bsky.group.createGroup", {"members": []}, "'name' is a required property"),
])
def test_the_double_refuses_requests_that_break_the_lexicon(chat, owner, nsid, body, why):
    world, url = chat
    token = _session(url, owner)
    got = httpx.post(f"{url}/xrpc/{nsid}", json=body,
                     headers={"authorization": f"Bearer {token}", "atproto-proxy": PROXY})
    assert got.status_code == 400 and why in got.json()["message"]
    assert any(why in v for v in world.violations)
    world.violations.clear()   # expected here: the fixture checks the rest of the test


def test_chat_calls_must_be_proxied_to_the_chat_service(chat, owner):
    world, url = chat
    got = httpx.get(f"{url}/xrpc/chat.bsky.convo.listConvos",
                    headers={"authorization": f"Bearer {_session(url, owner)}"})
    assert got.status_code == 500 and "atproto-proxy" in got.json()["message"]
    world.violations.clear()


async def test_connect_stores_the_did_and_refuses_a_wrong_password(chat, owner):
    settings, secret = await adapters.bluesky_chat.connect(
        {"handle": owner.handle, "service": chat[1]}, owner.password)
    assert settings["did"] == owner.did and secret == owner.password
    with pytest.raises(CredentialsRejected) as err:
        await adapters.bluesky_chat.connect({"handle": owner.handle, "service": chat[1]},
                                            "wrong-password")
    assert "wrong-password" not in err.value.message


def test_hub_accounts_add_bluesky_chat(chat, owner, tmp_path, policy_dir, monkeypatch):
    from tests.integration.test_cli import hub

    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HUB_POLICY_DIR", str(policy_dir))
    hub("init")
    out = hub("accounts", "add", "bluesky-chat", "me", "--handle", owner.handle, "--service",
              chat[1], input=owner.password + "\n")
    assert "connected bluesky-chat:me" in out
    assert "bluesky-chat:me" in hub("accounts", "list")
