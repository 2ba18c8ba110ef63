"""Each webhook target signs with its own secret (issue 15: "a per-target secret stored
encrypted"). An account connected before per-target secrets (one plain secret, written as the
old code wrote it) keeps working; rotating one target's secret changes only that target's
signatures; the secrets stay encrypted at rest; the CLI rotates them."""

from __future__ import annotations

import asyncio
import json

import pytest

from adapters.webhook.signing import new_secret, parse_secrets
from hub.bootstrap import connector, target_secret_rotation
from hub.services.accounts import connect_account, stored_credentials
from hub.services.delivery import deliver, due_ids
from hub.services.people import NewPerson, add_person
from hub.services.posts import Author, PostInput, submit_post
from hub.store.tables import AccountRow
from tests.integration.test_cli import env, hub  # noqa: F401  (the CLI fixture and runner)
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration

POLICY = """\
version: 1
accounts: [webhook:team]
targets:
  team-hook: {account: webhook:team, reach: recipients, list: team}
  site-hook: {account: webhook:team, reach: world}
audiences:
  public: {reach: world, targets: [site-hook]}
  team: {reach: recipients, targets: [team-hook]}
"""


async def _send(hub_, text: str, audiences: list[str]) -> list[str]:
    submit_post(hub_, PostInput(text, audiences), Author())
    out = [(await deliver(hub_, d, worker="w")).status
           for d in await asyncio.to_thread(due_ids, hub_)]
    return out


async def test_an_old_single_secret_keeps_working_and_a_rotated_target_signs_alone(
        database_url, make_hub, policy_dir):
    (policy_dir / "hub.yaml").write_text(POLICY)
    old, team_secret = new_secret(), new_secret()
    hub_ = make_hub(database_url)
    add_person(hub_, NewPerson("Ana", [("email", "ana@example.org")], ["team"]))
    with WebhookReceiver(old) as before, WebhookReceiver(
            old, by_target={"team-hook": team_secret}) as after:
        # The account row as an install made before per-target secrets holds it: the
        # settings and one plain whsec_ secret, encrypted.
        with hub_.db.transaction() as s:
            s.add(AccountRow(name="webhook:team", platform="webhook",
                             settings={"url": before.url, "timeout": 2.0},
                             secret_enc=hub_.box.encrypt(old), updated=hub_.now()))
        assert await _send(hub_, "to everyone", ["public", "team"]) == ["published"] * 2
        assert {r.event["data"]["target"] for r in before.received} == {"team-hook",
                                                                         "site-hook"}
        assert before.rejected == []

        # Rotate team-hook's secret (what `hub accounts webhook-secret team --target
        # team-hook` does); the receiver moves to one that knows both secrets.
        settings, stored = stored_credentials(hub_, "webhook:team")
        settings["url"] = after.url
        combined = target_secret_rotation("webhook")(stored, "team-hook", team_secret)
        await connect_account(hub_, "webhook:team", settings, combined, connector("webhook"))
        assert await _send(hub_, "after the rotation", ["public", "team"]) == ["published"] * 2
        assert {r.event["data"]["target"] for r in after.received} == {"team-hook",
                                                                        "site-hook"}
        assert after.rejected == []
        # A receiver that still holds only the old secret refuses team-hook's signature now.
        with WebhookReceiver(old) as stale:
            settings["url"] = stale.url
            await connect_account(hub_, "webhook:team", settings, combined,
                                  connector("webhook"))
            assert await _send(hub_, "to the old receiver", ["team"]) == ["failed"]
            assert stale.received == [] and len(stale.rejected) == 1
    with hub_.db.read() as s:
        row = s.get(AccountRow, "webhook:team")
        assert row is not None and row.secret_enc is not None
        assert team_secret not in row.secret_enc and old not in row.secret_enc   # encrypted
    assert parse_secrets(hub_.box.decrypt(row.secret_enc)) == (old, {"team-hook": team_secret})
    await hub_.publishers.aclose()


def test_the_cli_rotates_one_targets_secret_and_refuses_an_unknown_target(
        env, policy_dir):  # noqa: F811
    (policy_dir / "hub.yaml").write_text(POLICY)
    hub("init")
    first = new_secret()
    hub("accounts", "add", "webhook", "team", "--url", "http://127.0.0.1:9/hook",
        input=first + "\n")
    out = hub("accounts", "webhook-secret", "team", "--target", "team-hook",
              "--generate-secret")
    assert "new signing secret for target team-hook" in out
    generated = out.split("shown again): ", 1)[1].strip()
    assert generated.startswith("whsec_")
    out = hub("accounts", "webhook-secret", "team", "--target", "nope", input=first + "\n",
              code=1)
    assert "no target 'nope' on webhook:team" in out
    out = hub("accounts", "webhook-secret", "team", input="whsec_!!bad\n", code=1)
    assert "base64" in out and "!!bad" not in out
    listed = hub("accounts", "list")
    assert generated not in listed and first not in listed
    from hub.entrypoints.cli._common import open_hub

    _, stored = stored_credentials(open_hub(require_policy=False), "webhook:team")
    assert stored is not None and json.loads(stored) == {
        "default": first, "targets": {"team-hook": generated}}
