"""Email delivery through a real SMTP server: per recipient, Bcc, and retries that send nothing
twice."""

from __future__ import annotations

import asyncio

import pytest

import adapters.email
from hub.services.accounts import connect_account
from hub.services.delivery import deliver, due_ids
from hub.services.people import NewPerson, add_person
from hub.services.posts import Author, PostInput, get_post, submit_post
from tests.conftest import Clock
from tests.integration.smtp import SmtpServer

pytestmark = pytest.mark.integration


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def mail_hub(make_hub, sqlite_url, smtp):
    clock = Clock()
    hub = make_hub(sqlite_url, clock=clock)
    asyncio.run(connect_account(hub, "email:personal", smtp.settings, "", adapters.email.connect))
    add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends", "clients"]))
    add_person(hub, NewPerson("Bo", [("email", "bo@example.org")], ["friends", "clients"]))
    add_person(hub, NewPerson("Cy", [], ["friends"]))   # no email: noted, never silently dropped
    return hub


async def _run(hub) -> list[str]:
    return [(await deliver(hub, d, worker="w")).status
            for d in await asyncio.to_thread(due_ids, hub)]


async def test_one_message_per_recipient_with_a_fixed_message_id(mail_hub, smtp):
    view = submit_post(mail_hub, PostInput("Dinner on Friday?", ["friends"], tags=["food"],
                                           language="en"), Author())
    await _run(mail_hub)
    mail = next(d for d in get_post(mail_hub, view.post.id).deliveries
                if d.target == "friends-mail")
    assert mail.status == "published"
    assert sorted(r.envelope_to[0] for r in smtp.inbox.messages) == [
        "ana@example.org", "bo@example.org"]
    msg = smtp.inbox.to("ana@example.org")[0]
    assert msg["Subject"] == "Dinner on Friday?"
    assert "Dinner on Friday?" in msg.get_payload() and "#food" in msg.get_payload()
    assert msg["Content-Language"] == "en"
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@example.org>")
    assert "bo@example.org" not in msg["To"]


async def test_bcc_mode_sends_one_message_that_hides_recipients(mail_hub, smtp):
    submit_post(mail_hub, PostInput("Invoice reminder", ["clients"]), Author())
    await _run(mail_hub)
    assert len(smtp.inbox.messages) == 1
    received = smtp.inbox.messages[0]
    assert sorted(received.envelope_to) == ["ana@example.org", "bo@example.org"]
    assert "ana@example.org" not in str(received.message)


async def test_a_retry_after_a_partial_send_only_sends_the_rest(mail_hub, smtp):
    """Bo's server says 'try later'; the retry reaches Bo and never sends Ana a second copy."""
    smtp.inbox.refuse["bo@example.org"] = "451 4.3.0 try again later"
    view = submit_post(mail_hub, PostInput("Partial", ["friends"]), Author())
    assert await _run(mail_hub) == ["published", "retry"] or \
        sorted(await _run(mail_hub)) == []
    mail = next(d for d in get_post(mail_hub, view.post.id).deliveries
                if d.target == "friends-mail")
    assert mail.status == "pending" and "try again later" in mail.reason
    assert len(smtp.inbox.to("ana@example.org")) == 1 and smtp.inbox.to("bo@example.org") == []
    del smtp.inbox.refuse["bo@example.org"]
    mail_hub.now.advance(60)
    assert await _run(mail_hub) == ["published"]
    assert len(smtp.inbox.to("ana@example.org")) == 1
    assert len(smtp.inbox.to("bo@example.org")) == 1
    # the Message-ID is the same one a duplicate would carry: fixed per delivery and person
    assert smtp.inbox.to("bo@example.org")[0]["Message-ID"] != \
        smtp.inbox.to("ana@example.org")[0]["Message-ID"]


async def test_a_permanently_refused_recipient_is_recorded_not_retried(mail_hub, smtp):
    smtp.inbox.refuse["bo@example.org"] = "550 5.1.1 no such user"
    view = submit_post(mail_hub, PostInput("Bounce", ["friends"]), Author())
    await _run(mail_hub)
    from hub.store.tables import DeliveryRow

    mail = next(d for d in get_post(mail_hub, view.post.id).deliveries
                if d.target == "friends-mail")
    assert mail.status == "published"
    with mail_hub.db.read() as s:
        receipt = s.get(DeliveryRow, mail.id).receipt
    assert receipt["details"]["refused"] == ["bo@example.org"]
    from hub.services.audit_post import post_audit

    who = next(c for c in post_audit(mail_hub, view.post.id)["could_see"]
               if c["target"] == "friends-mail")
    assert [m["identity"] for m in who["people"]] == ["ana@example.org"]


async def test_people_without_email_are_named_not_dropped(mail_hub, smtp):
    view = submit_post(mail_hub, PostInput("hello", ["friends"]), Author())
    await _run(mail_hub)
    from hub.store.tables import DeliveryRow

    mail = next(d for d in get_post(mail_hub, view.post.id).deliveries
                if d.target == "friends-mail")
    with mail_hub.db.read() as s:
        notes = s.get(DeliveryRow, mail.id).receipt["notes"]
    assert notes == ["Cy has no email address: not sent to them"]


async def test_unreachable_mail_server_is_retried_not_lost(make_hub, sqlite_url):
    from tests.conftest import free_port

    clock = Clock()
    hub = make_hub(sqlite_url, clock=clock)
    with SmtpServer() as server:
        settings = server.settings
        await connect_account(hub, "email:personal", settings, "", adapters.email.connect)
    add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
    view = submit_post(hub, PostInput("while the server is down", ["friends"]), Author())
    assert "retry" in await _run(hub)
    mail = next(d for d in get_post(hub, view.post.id).deliveries if d.target == "friends-mail")
    assert mail.status == "pending" and "cannot reach the mail server" in mail.reason
    assert free_port() > 0


async def test_connect_refuses_an_unreachable_server_with_a_clear_message(make_hub, sqlite_url):
    from hub.errors import InvalidInput
    from tests.conftest import free_port

    hub = make_hub(sqlite_url)
    bad = {"host": "127.0.0.1", "port": free_port(), "security": "none",
           "from_addr": "me@example.org"}
    with pytest.raises(InvalidInput, match="cannot reach the mail server"):
        await connect_account(hub, "email:personal", bad, "", adapters.email.connect)


async def test_a_bcc_retry_after_a_temporary_refusal_only_reaches_the_rest(mail_hub, smtp):
    """Found by the fault suite: Bo's 451 must not make the retry send Ana a second Bcc."""
    smtp.inbox.refuse["bo@example.org"] = "451 4.3.0 try again later"
    submit_post(mail_hub, PostInput("Bcc partial", ["clients"]), Author())
    assert await _run(mail_hub) == ["retry"]
    assert len(smtp.inbox.to("ana@example.org")) == 1
    del smtp.inbox.refuse["bo@example.org"]
    mail_hub.now.advance(60)
    assert await _run(mail_hub) == ["published"]
    assert len(smtp.inbox.to("ana@example.org")) == 1
    assert len(smtp.inbox.to("bo@example.org")) == 1


@pytest.mark.parametrize(("extra", "says"), [
    ({"security": "starttls"}, "answered but does not offer STARTTLS: use `--security tls`"),
    ({"security": "none", "username": "me"}, "answered but does not offer AUTH (login)"),
])
async def test_a_server_without_starttls_or_auth_is_named_not_unreachable(make_hub, sqlite_url,
                                                                         smtp, extra, says):
    from hub.errors import InvalidInput

    hub = make_hub(sqlite_url)
    with pytest.raises(InvalidInput, match="answered") as caught:
        await connect_account(hub, "email:personal", {**smtp.settings, **extra}, "pw",
                              adapters.email.connect)
    assert says in caught.value.message and "cannot reach" not in caught.value.message
