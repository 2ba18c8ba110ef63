"""The owner is told when something waits for approval (issue 17 item 2): by an email to their
own address through a connected email account (a real SMTP server, aiosmtpd), else — or when
that email cannot be sent — in the owner-only feed; neither ever carries the held post's text."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlmodel import select

import adapters.email
from hub.services.accounts import connect_account
from hub.services.notices import feed_key, notices
from hub.services.posts import Author, PostInput, submit_post
from hub.store.queue_tables import OwnerNoticeRow
from tests.conftest import wait_until
from tests.integration import test_ui_security as base
from tests.integration.smtp import SmtpServer
from tests.integration.test_http import LiveServer
from tests.integration.test_ui_security import csrf_of
from web.app import create_app

pytestmark = pytest.mark.integration
site = base.site
owner = base.owner
SECRET = "the launch date is the 9th"


def _held(hub) -> str:
    view = submit_post(hub, PostInput(SECRET, ["public"], tags=["work"]), Author())
    assert {d.status for d in view.deliveries} == {"held"}
    return view.post.id


def test_with_an_email_account_the_owner_gets_an_email_without_the_text(make_hub, sqlite_url):
    with SmtpServer() as smtp:
        hub = make_hub(sqlite_url)
        asyncio.run(connect_account(hub, "email:personal", smtp.settings, "",
                                    adapters.email.connect))
        plain = submit_post(hub, PostInput("nothing held", ["friends"]), Author())
        post_id = _held(hub)
        wait_until(lambda: notices(hub, channel="email"))
        mails = smtp.inbox.to("me@example.org")
        assert len(mails) == 1                          # the unheld post told nobody
        mail = mails[0]
        body = mail.get_payload(decode=True).decode()
        assert mail["To"] == mail["From"] == "me@example.org"
        assert "Waiting for your approval" in mail["Subject"]
        assert post_id in body and "review-work" in body and "bsky" in body
        assert SECRET not in body and SECRET not in mail["Subject"]
        assert plain.post.id not in body
        assert [n.post_id for n in notices(hub)] == [post_id]
        assert notices(hub, channel="feed") == []


async def test_an_edit_held_for_approval_is_told_like_a_held_post_without_its_text(
        make_hub, sqlite_url):
    from hub.services.delivery import deliver, due_ids
    from hub.services.edits import EditInput, edit_post, plan_edit

    with SmtpServer() as smtp:
        hub = make_hub(sqlite_url)
        await connect_account(hub, "email:personal", smtp.settings, "", adapters.email.connect)
        view = submit_post(hub, PostInput("Launch day", ["public"]), Author())
        for delivery_id in await asyncio.to_thread(due_ids, hub):
            await deliver(hub, delivery_id, worker="w")
        assert notices(hub) == []                        # nothing waited: nobody was told
        change = EditInput(text=f"Launch day: {SECRET}", tags=["work"])
        plan = plan_edit(hub, view.post.id, change, Author())
        await edit_post(hub, view.post.id, change, Author(), confirm=plan.digest)
        wait_until(lambda: notices(hub, channel="email"))
        [mail] = smtp.inbox.to("me@example.org")
        body = mail.get_payload(decode=True).decode()
        assert "an edit (version 2) of a post" in mail["Subject"]
        assert f"Version 2 of post {view.post.id}" in body and "review-work" in body
        assert "bsky" in body and "masto-public" in body
        assert SECRET not in body and SECRET not in mail["Subject"]
        [notice] = notices(hub)
        assert notice.kind == "held-edit" and notice.post_id == view.post.id


def test_without_an_email_account_it_is_an_owner_only_feed_entry(make_runtime, sqlite_url):
    runtime = make_runtime(sqlite_url, real_clock=True)
    hub = runtime.hub
    post_id = _held(hub)
    with hub.db.read() as s:
        rows = list(s.exec(select(OwnerNoticeRow)))
    assert [(r.post_id, r.channel) for r in rows] == [(post_id, "feed")]
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server, \
            httpx.Client(base_url=server.url) as client:
        for key in ("", "x" * 32, feed_key(hub)[:-1] + "A"):
            r = client.get("/owner/feed.atom", params={"key": key})
            assert r.status_code == 404 and SECRET not in r.text
        feed = client.get("/owner/feed.atom", params={"key": feed_key(hub)})
        assert feed.status_code == 200
        assert feed.headers["content-type"].startswith("application/atom+xml")
        assert post_id in feed.text and "Waiting for your approval" in feed.text
        assert SECRET not in feed.text
        assert feed.headers["cache-control"] == "private, no-store"


def test_an_email_that_cannot_be_sent_falls_back_to_the_feed(make_hub, sqlite_url):
    with SmtpServer() as smtp:
        hub = make_hub(sqlite_url)
        asyncio.run(connect_account(hub, "email:personal", smtp.settings, "",
                                    adapters.email.connect))
    post_id = _held(hub)                                # the mail server is gone now
    wait_until(lambda: notices(hub, channel="feed"))
    [notice] = notices(hub)
    assert notice.post_id == post_id and notice.channel == "feed"
    assert "email to yourself through email:personal failed" in notice.detail
    assert SECRET not in notice.detail and SECRET not in notice.title


def test_the_owner_can_replace_a_leaked_feed_link_and_the_old_one_dies_at_once(site, owner):
    hub, server = site
    post_id = _held(hub)
    page = owner.get("/queue")
    old = feed_key(hub)
    assert f"/owner/feed.atom?key={old}" in page.text and "data-owner-feed-replace" in page.text
    assert httpx.get(f"{server.url}/owner/feed.atom", params={"key": old}).status_code == 200
    refused = owner.post("/queue/owner-feed/replace", data={})          # no CSRF token
    assert refused.status_code == 403 and feed_key(hub) == old
    r = owner.post("/queue/owner-feed/replace", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    new = feed_key(hub)
    assert new != old
    gone = httpx.get(f"{server.url}/owner/feed.atom", params={"key": old})
    assert gone.status_code == 404 and post_id not in gone.text
    fresh = httpx.get(f"{server.url}/owner/feed.atom", params={"key": new})
    assert fresh.status_code == 200 and post_id in fresh.text
    shown = owner.get("/queue")
    assert f"key={new}" in shown.text and f"key={old}" not in shown.text
    assert "the old one no longer works" in shown.text
    with hub.db.read() as s:
        [event] = hub.audit.events(s, names=["OwnerFeedLinkReplaced"])
    assert event.payload["generation"] == 1 and old not in str(event.payload)

