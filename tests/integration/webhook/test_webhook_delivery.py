"""Signed webhooks through the whole hub: submit → deliver to a real local receiver that
verifies each signature with the reference library → read back → audit who could see; retries
keep the webhook-id; never-widen applies to the declared reach."""

from __future__ import annotations

import asyncio
import threading

import pytest

import adapters.webhook
from adapters.webhook.signing import new_secret
from hub.errors import PolicyFileInvalid
from hub.services.accounts import connect_account
from hub.services.audit_post import post_audit
from hub.services.deletion import delete_everywhere
from hub.services.delivery import deliver, due_ids
from hub.services.people import NewPerson, add_person
from hub.services.posts import Author, PostInput, get_post, submit_post
from hub.store.tables import AccountRow
from tests.conftest import Clock
from tests.webhook_receiver import Answer, WebhookReceiver

pytestmark = pytest.mark.integration

POLICY = """\
version: 1
accounts: [webhook:team, webhook:site]
targets:
  team-hook: {account: webhook:team, reach: recipients, list: team}
  site-hook: {account: webhook:site, reach: world}
audiences:
  public: {reach: world, targets: [site-hook]}
  team: {reach: recipients, targets: [team-hook]}
  careless: {reach: recipients, targets: [site-hook]}
"""


@pytest.fixture
def secret():
    return new_secret()


@pytest.fixture
def receiver(secret):
    with WebhookReceiver(secret) as r:
        yield r


@pytest.fixture
def _hook_hub(database_url, make_hub, policy_dir, receiver, secret):
    (policy_dir / "hub.yaml").write_text(POLICY)
    clock = Clock()
    hub = make_hub(database_url, clock=clock)
    for name in ("team", "site"):
        asyncio.run(connect_account(hub, f"webhook:{name}",
                                    {"url": receiver.url, "timeout": 0.5}, secret,
                                    adapters.webhook.connect))
    add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["team"]))
    add_person(hub, NewPerson("Bo", [], ["team"]))
    return hub


@pytest.fixture
async def hook_hub(_hook_hub):
    """The hub; its publishers' HTTP clients are closed on the test's own event loop."""
    yield _hook_hub
    await _hook_hub.publishers.aclose()


async def _run(hub) -> list[str]:
    return [(await deliver(hub, d, worker="w")).status
            for d in await asyncio.to_thread(due_ids, hub)]


def _delivery(hub, post_id, target):
    return next(d for d in get_post(hub, post_id).deliveries if d.target == target)


async def test_a_post_arrives_signed_and_the_audit_names_the_declared_list(hook_hub, receiver):
    view = submit_post(hook_hub, PostInput("Standup moved to 10:00", ["team"], tags=["work"],
                                           language="en"), Author())
    assert await _run(hook_hub) == ["published"]
    [got] = receiver.received
    assert receiver.rejected == []
    data = got.event["data"]
    assert got.event["type"] == "post.published"
    assert data["text"] == "Standup moved to 10:00" and data["tags"] == ["work"]
    assert data["audience"] == {"requested": ["team"], "reach": "recipients", "list": "team"}
    d = _delivery(hook_hub, view.post.id, "team-hook")
    assert d.status == "published"
    assert got.webhook_id == data["delivery_key"] == d.remote_id
    assert d.url == "https://receiver.example/p/1"
    who = next(c for c in post_audit(hook_hub, view.post.id)["could_see"]
               if c["target"] == "team-hook")
    assert who["reach"] == "recipients"
    assert sorted(m["name"] for m in who["people"]) == ["Ana", "Bo"]


async def test_a_5xx_and_a_timeout_are_retried_with_the_same_webhook_id(hook_hub, receiver):
    release = threading.Event()
    receiver.script.extend([Answer(503, body="busy"), Answer(200, hold=release)])
    view = submit_post(hook_hub, PostInput("retry me", ["team"]), Author())
    assert await _run(hook_hub) == ["retry"]
    assert "503" in _delivery(hook_hub, view.post.id, "team-hook").reason
    hook_hub.now.advance(60)
    assert await _run(hook_hub) == ["retry"]          # the receiver held the answer: timeout
    release.set()
    assert "did not answer" in _delivery(hook_hub, view.post.id, "team-hook").reason
    hook_hub.now.advance(60)
    assert await _run(hook_hub) == ["published"]
    ids = receiver.ids()
    assert len(ids) == 3 and len(set(ids)) == 1       # one message id on every attempt
    stamps = [r.timestamp for r in receiver.received]
    assert all(s.isdigit() for s in stamps)           # each attempt signed afresh


async def test_a_429_waits_for_retry_after(hook_hub, receiver):
    receiver.script.append(Answer(429, {"retry-after": "120"}))
    view = submit_post(hook_hub, PostInput("slow down", ["team"]), Author())
    assert await _run(hook_hub) == ["retry"]
    d = _delivery(hook_hub, view.post.id, "team-hook")
    hook_hub.now.advance(60)
    assert await _run(hook_hub) == []                 # not due yet: Retry-After said 120 s
    hook_hub.now.advance(61)
    assert await _run(hook_hub) == ["published"]
    assert d.status == "pending"


async def test_a_refused_signature_marks_the_account(hook_hub, receiver, database_url):
    receiver.script.append(Answer(403, body="signature mismatch"))
    view = submit_post(hook_hub, PostInput("nope", ["team"]), Author())
    assert await _run(hook_hub) == ["failed"]
    d = _delivery(hook_hub, view.post.id, "team-hook")
    assert "refused the signature (403): signature mismatch" in d.reason
    with hook_hub.db.read() as s:
        assert s.get(AccountRow, "webhook:team").status == "rejected"


async def test_a_4xx_is_permanent_and_a_redirect_is_not_followed(hook_hub, receiver):
    receiver.script.extend([Answer(422, body="unknown field"),
                            Answer(301, {"location": "https://elsewhere.example/"})])
    first = submit_post(hook_hub, PostInput("one", ["team"]), Author())
    second = submit_post(hook_hub, PostInput("two", ["team"]), Author())
    assert sorted(await _run(hook_hub)) == ["failed", "failed"]
    reasons = {_delivery(hook_hub, p.post.id, "team-hook").reason for p in (first, second)}
    assert any("refused it (422): unknown field" in r for r in reasons)
    assert any("redirects are not followed" in r for r in reasons)


async def test_never_widen_keeps_a_restricted_post_off_a_world_webhook(hook_hub, receiver):
    view = submit_post(hook_hub, PostInput("friends only", ["careless"]), Author())
    [decision] = [d for d in view.decisions if d.target == "site-hook"]
    assert decision.outcome == "deny" and "never-widen" in decision.rule_ids
    assert await _run(hook_hub) == []
    assert receiver.received == []


async def test_a_deletion_is_announced_with_a_signed_event(hook_hub, receiver):
    view = submit_post(hook_hub, PostInput("oops", ["public"]), Author())
    assert await _run(hook_hub) == ["published"]
    [outcome] = await delete_everywhere(hook_hub, view.post.id)
    assert outcome.removed
    published, deleted = receiver.received
    assert deleted.event["type"] == "post.deleted"
    assert deleted.webhook_id == f"{published.webhook_id}.deleted"
    assert deleted.event["data"]["delivery_key"] == published.webhook_id


def test_a_webhook_target_without_a_declared_reach_is_refused(make_hub, policy_dir):
    (policy_dir / "hub.yaml").write_text(POLICY.replace(
        "team-hook: {account: webhook:team, reach: recipients, list: team}",
        "team-hook: {account: webhook:team, list: team}"))
    with pytest.raises(PolicyFileInvalid) as err:     # the policy loads when the hub is built
        make_hub()
    assert "hub.yaml:4: target 'team-hook': missing required key 'reach'" in err.value.message
