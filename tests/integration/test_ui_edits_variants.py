"""Editing a post written with per-network variants from its page without JavaScript: the form
shows one box per network with the variant as written, the preview says which text each copy
would carry and retracts only the network whose own text the policy now denies, and emptying a
box sends that network the main text."""

from __future__ import annotations

import pytest

from hub.services.posts import Author, PostInput, get_post, submit_post
from tests.integration import test_ui_security as base
from tests.integration.test_ui_edits import wait_edited
from tests.integration.test_ui_security import csrf_of, wait_settled

pytestmark = pytest.mark.integration
site = base.site
owner = base.owner


def _confirm(page: str) -> str:
    return page.split('name="confirm" value="')[1][:24]


def test_a_variant_edited_from_the_page_retracts_only_its_network(site, owner):
    hub, _ = site
    view = submit_post(hub, PostInput("The whole story, at length", ["public"],
                                      variants={"bluesky": "Short"}), Author())
    wait_settled(hub, view.post.id)
    url = f"/posts/{view.post.id}/edit"
    page = owner.get(url)
    assert page.status_code == 200
    assert 'name="variants[bluesky]" rows="3">Short</textarea>' in page.text
    assert 'name="variants[mastodon]" rows="3"></textarea>' in page.text
    form = {"csrf_token": csrf_of(page.text), "text": "The whole story, at length",
            "content_warning": "", "language": "", "tags": "",
            "variants[bluesky]": "Short #private", "variants[mastodon]": ""}
    preview = owner.post(url, data={**form, "action": "preview"})
    assert preview.status_code == 200, preview.text
    assert "The policy now denies the edited post on bsky." in preview.text
    assert 'data-target="masto-public" data-action="none"' in preview.text
    assert "the bluesky variant:</span> Short #private" in preview.text
    assert "the main text, unchanged:</span> The whole story, at length" in preview.text
    # the confirm form carries the variant boxes as typed
    assert 'name="variants[bluesky]" value="Short #private"' in preview.text
    assert get_post(hub, view.post.id).post.variants[0].parts == ("Short",)   # nothing yet
    done = owner.post(url, data={**form, "action": "confirm",
                                 "confirm": _confirm(preview.text)})
    assert done.status_code == 303
    wait_edited(hub, view.post.id)
    assert {d.target: d.status for d in get_post(hub, view.post.id).deliveries} == {
        "bsky": "deleted", "masto-public": "published"}


def test_emptying_a_variant_box_sends_that_network_the_main_text(site, owner):
    hub, _ = site
    view = submit_post(hub, PostInput("A clean main text", ["public"],
                                      variants={"bluesky": "Short"}), Author())
    wait_settled(hub, view.post.id)
    url = f"/posts/{view.post.id}/edit"
    form = {"csrf_token": csrf_of(owner.get(url).text), "text": "A clean main text",
            "content_warning": "", "language": "", "tags": "", "variants[bluesky]": "",
            "variants[mastodon]": ""}
    preview = owner.post(url, data={**form, "action": "preview"})
    assert preview.status_code == 200, preview.text
    assert 'data-target="bsky" data-action="replace"' in preview.text
    assert "changes variants.bluesky" in preview.text
    typo = owner.post(url, data={**form, "variants[nosuch]": "x", "action": "preview"})
    assert typo.status_code == 400 and "no target or network" in typo.text
    owner.post(url, data={**form, "action": "confirm", "confirm": _confirm(preview.text)})
    wait_edited(hub, view.post.id)
    assert get_post(hub, view.post.id).post.variants == ()
