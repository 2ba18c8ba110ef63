"""Editing from the post page without JavaScript: the form, a preview that names the copies the
policy would now retract, the confirmed edit, and the page saying which copy shows which
version; held edits approved from the page; one target of a scheduled post cancelled."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from hub.services.edits import copy_versions
from hub.services.posts import Author, PostInput, get_post, submit_post
from tests.integration import test_ui_security as base
from tests.integration.test_ui_security import csrf_of, wait_settled

pytestmark = pytest.mark.integration
site = base.site
owner = base.owner


def wait_edited(hub, post_id: str) -> None:
    """Until the embedded workers finished every copy edit of the post."""
    for _ in range(200):
        if all((c["edit"] or {}).get("status") not in ("pending", "in_flight")
               for c in copy_versions(hub, post_id)):
            return
        time.sleep(0.05)
    raise AssertionError("copy edits did not finish")


def test_edit_from_the_page_previews_retractions_then_applies(site, owner):
    hub, _ = site
    view = submit_post(hub, PostInput("Garden party", ["public", "friends"]), Author())
    wait_settled(hub, view.post.id)
    page = owner.get(f"/posts/{view.post.id}/edit")
    assert page.status_code == 200 and "Garden party</textarea>" in page.text
    token = csrf_of(page.text)
    form = {"csrf_token": token, "text": "Garden party at ours", "content_warning": "",
            "language": "", "tags": "private"}
    preview = owner.post(f"/posts/{view.post.id}/edit", data={**form, "action": "preview"})
    assert preview.status_code == 200
    assert "The policy now denies the edited post on bsky, masto-public" in preview.text
    assert 'data-target="friends-feed" data-action="in-place"' in preview.text
    assert get_post(hub, view.post.id).post.text == "Garden party"          # nothing yet
    confirm = csrf_of(preview.text) and preview.text.split('name="confirm" value="')[1][:24]
    done = owner.post(f"/posts/{view.post.id}/edit",
                      data={**form, "action": "confirm", "confirm": confirm})
    assert done.status_code == 303
    wait_edited(hub, view.post.id)
    assert {d.target: d.status for d in get_post(hub, view.post.id).deliveries} == {
        "bsky": "deleted", "masto-public": "deleted", "friends-mail": "published",
        "friends-feed": "published"}
    page = owner.get(f"/posts/{view.post.id}")
    assert "Retracted, now denied: bsky, masto-public" in page.text
    assert 'data-carries="2">Shows version 2 of 2' in page.text            # the feed entry
    assert 'data-carries="1">Shows version 1 of 2' in page.text            # the sent email
    stale = owner.post(f"/posts/{view.post.id}/edit",
                       data={**form, "text": "again", "action": "confirm", "confirm": confirm})
    assert stale.status_code == 409 and "preview it again" in stale.text


def test_held_edits_are_approved_and_a_scheduled_target_cancelled_from_the_page(site, owner):
    hub, _ = site
    view = submit_post(hub, PostInput("Launch", ["public"]), Author())
    wait_settled(hub, view.post.id)
    token = csrf_of(owner.get(f"/posts/{view.post.id}/edit").text)
    form = {"csrf_token": token, "text": "Launch!", "content_warning": "", "language": "",
            "tags": "work"}
    preview = owner.post(f"/posts/{view.post.id}/edit", data={**form, "action": "preview"})
    confirm = preview.text.split('name="confirm" value="')[1][:24]
    owner.post(f"/posts/{view.post.id}/edit", data={**form, "action": "confirm",
                                                    "confirm": confirm})
    page = owner.get(f"/posts/{view.post.id}")
    assert "Approve held edits" in page.text and "edit held" in page.text
    assert owner.post(f"/posts/{view.post.id}/edits/approve",
                      data={"csrf_token": token}).status_code == 303
    wait_edited(hub, view.post.id)
    assert "Approve held edits" not in owner.get(f"/posts/{view.post.id}").text

    later = submit_post(hub, PostInput("Later", ["friends"],
                                       schedule_at=hub.now() + timedelta(days=1)), Author())
    mail = next(d for d in later.deliveries if d.target == "friends-mail")
    r = owner.post(f"/deliveries/{mail.id}/cancel", data={"csrf_token": token})
    assert r.status_code == 303
    assert {d.target: d.status for d in get_post(hub, later.post.id).deliveries} == {
        "friends-mail": "cancelled", "friends-feed": "pending"}
    again = owner.post(f"/deliveries/{mail.id}/cancel", data={"csrf_token": token})
    assert again.status_code == 409


def test_the_preview_says_an_edit_never_adds_the_audiences_it_would_now_allow(site, owner):
    hub, _ = site
    view = submit_post(hub, PostInput("Garden party", ["public", "friends"], tags=["private"]),
                       Author())
    wait_settled(hub, view.post.id)
    token = csrf_of(owner.get(f"/posts/{view.post.id}/edit").text)
    form = {"csrf_token": token, "text": "Garden party", "content_warning": "",
            "language": "", "tags": ""}
    preview = owner.post(f"/posts/{view.post.id}/edit", data={**form, "action": "preview"})
    assert preview.status_code == 200
    assert "bsky: the policy would allow the edited post here, but an edit never adds " \
           "audiences; a new audience is a new post" in preview.text
