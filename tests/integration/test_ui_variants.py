"""The compose form's variants and thread editor over real HTTP, without JavaScript: the
"text for Bluesky only" field shows itself when the preview says the text is too long there,
a variant typed there is judged on its own (a #private tag in it stops Bluesky only), the
thread editor keeps its parts, adds one, counts each part as each network does, and sends a
reply chain."""

from __future__ import annotations

import re

import pytest

from hub.services.posts import get_post, list_posts
from tests.integration import test_ui_security as base
from tests.integration.test_ui_security import csrf_of

pytestmark = pytest.mark.integration
site = base.site
owner = base.owner


def _form(owner, **fields):
    token = csrf_of(owner.get("/compose").text)
    return {"csrf_token": token, "audiences": "public", "tags": "", "content_warning": "",
            "language": "", "schedule_at": "", "tz": "UTC", **fields}


def test_a_too_long_text_opens_the_bluesky_field_and_its_variant_goes_to_bluesky_only(
        site, owner, fakes):
    hub, _ = site
    r = owner.post("/compose", data=_form(owner, text="y" * 400, action="preview"))
    assert r.status_code == 200
    form = r.text.split('<section id="preview"')[0]
    assert re.search(r'<details class="field variants" id="variants" data-variants open>', form)
    note = re.search(r'<p class="warning" id="variant_help_bluesky"[^>]*>([^<]*)', form)
    assert note and "hidden" not in note.group(0)
    assert "write a shorter text for Bluesky here" in note.group(1)
    assert re.search(r'id="variant_help_mastodon"[^>]*hidden', form)
    assert '<span class="over">bsky 400/300 characters</span>' in form   # part 1's counter

    fields = _form(owner, text="y" * 400, action="send", **{"variants[bluesky]": "short"})
    r = owner.post("/compose", data=fields)
    assert r.status_code == 303, r.text[:2000]
    view = get_post(hub, r.headers["location"].rsplit("/", 1)[1])
    assert [(v.key, v.parts) for v in view.post.variants] == [("bluesky", ("short",))]
    assert {d.target: d.status for d in view.deliveries}["bsky"] != "rejected"


def test_a_private_tag_typed_only_in_the_bluesky_field_stops_bluesky(site, owner):
    hub, _ = site
    fields = _form(owner, text="a clean walk", action="preview",
                   **{"variants[bluesky]": "a walk #private"})
    r = owner.post("/compose", data=fields)
    preview = r.text.split('<section id="preview"')[1]
    assert re.search(r'data-target="bsky" data-outcome="deny"', preview)
    assert re.search(r'data-target="masto-public" data-outcome="allow"', preview)
    assert "a walk #private</textarea>" in r.text          # nothing typed is lost
    r = owner.post("/compose", data={**fields, "action": "send"})
    assert r.status_code == 303
    page = owner.get(r.headers["location"]).text
    assert 'class="flash flash-warn"' in page and "bsky stopped" in page
    [view] = list_posts(hub)
    assert {d.target: d.outcome for d in view.decisions if d.target in ("bsky", "masto-public")
            } == {"bsky": "deny", "masto-public": "allow"}


def test_the_thread_editor_keeps_adds_counts_and_sends_parts(site, owner, fakes):
    hub, _ = site
    fields = _form(owner, text="part one", thread_part=["part two #private"],
                   action="add-part")
    r = owner.post("/compose", data=fields)
    assert r.status_code == 200
    assert '<details class="field thread" id="thread" data-thread open>' in r.text
    assert "part two #private</textarea>" in r.text
    assert 'id="thread_part_3" name="thread_part"' in r.text     # the added, empty part
    assert 'id="part_counter_2"' in r.text
    preview = r.text.split('<section id="preview"')[1]
    assert re.search(r'data-target="bsky" data-outcome="deny"', preview)   # read part by part

    r = owner.post("/compose", data={**fields, "thread_part": ["part two", ""],
                                     "action": "preview"})
    form = r.text.split('<section id="preview"')[0]
    assert re.search(r'id="part_counter_2"[^>]*><span class="">bsky 8/300 characters</span> · '
                     r'<span class="">masto-public 8/500 characters</span>', form)
    r = owner.post("/compose", data={**fields, "thread_part": ["part two", ""],
                                     "action": "send"})
    assert r.status_code == 303
    view = get_post(hub, r.headers["location"].rsplit("/", 1)[1])
    assert view.post.thread == ("part one", "part two")
