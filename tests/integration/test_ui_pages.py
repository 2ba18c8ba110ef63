"""The pages' forms over real HTTP without JavaScript: compose with images and the preview
button, people and lists, import, tokens, audit search and export, delete everywhere."""

from __future__ import annotations

import io
import json
import re

import httpx
import pytest
from PIL import Image

from hub.services.feeds import feed_links
from hub.services.people import list_people
from hub.services.posts import Author, PostInput, get_post, list_posts, submit_post
from hub.services.tokens import list_tokens
from tests.integration import test_ui_security as base
from tests.integration.test_ui_security import csrf_of, wait_settled

pytestmark = pytest.mark.integration
site = base.site      # the same fixtures: a live hub with fakes, and a logged-in client
owner = base.owner


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def test_compose_without_javascript_keeps_images_and_text_until_sent(site, owner):
    hub, _ = site
    token = csrf_of(owner.get("/compose").text)
    base = {"csrf_token": token, "text": "A red square", "audiences": "friends",
            "tags": "", "content_warning": "", "language": "en", "schedule_at": "",
            "tz": "Europe/Berlin"}
    r = owner.post("/compose", data={**base, "action": "preview",
                                      "image_alt": ["a small red square", "", "", ""]},
                   files=[("image", ("red.png", png(), "image/png"))])
    assert r.status_code == 200
    assert 'data-target="friends-mail"' in r.text and 'data-outcome="allow"' in r.text
    assert "the 1 person in friends, by email" in r.text
    sha = re.search(r'name="media" value="([0-9a-f]{64})"', r.text).group(1)
    assert "a small red square</textarea>" in r.text
    assert list_posts(hub) == []

    kept = {**base, "media": sha, "media_alt": "a small red square", "action": "send"}
    r = owner.post("/compose", data={**kept, "tags": "no good!"})
    assert r.status_code == 400 and "may only hold letters" in r.text
    assert f'name="media" value="{sha}"' in r.text                 # the image stays attached
    r = owner.post("/compose", data={**kept, "schedule_at": "2099-01-02T09:30"})
    assert r.status_code == 303
    view = get_post(hub, r.headers["location"].rsplit("/", 1)[1])
    assert [(m.sha256, m.alt) for m in view.post.media] == [(sha, "a small red square")]
    assert view.post.schedule_at.isoformat() == "2099-01-02T08:30:00+00:00"   # Berlin time
    assert view.status == "scheduled"
    image = owner.get(f"/media/{sha}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"


def test_people_lists_identities_and_import(site, owner):
    hub, _ = site
    token = csrf_of(owner.get("/people").text)
    csv_file = ("name,email,mastodon,lists\n"
                "Dana Ruiz,dana@example.org,@dana@example.social,clients\n")
    r = owner.post("/people/import", data={"csrf_token": token},
                   files={"file": ("people.csv", csv_file.encode(), "text/csv")})
    assert r.status_code == 303
    vcard = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Eli Moss\r\nEMAIL:eli@example.org\r\n" \
            "CATEGORIES:friends,family\r\nEND:VCARD\r\n"
    r = owner.post("/people/import", data={"csrf_token": token},
                   files={"file": ("eli.vcf", vcard.encode(), "text/vcard")})
    assert r.status_code == 303
    bad = owner.post("/people/import", data={"csrf_token": token},
                     files={"file": ("bad.csv", b"name,email\nFox,not-an-email\n", "text/csv")})
    assert bad.status_code == 400 and "CSV line 2" in bad.text
    people = {p.name: (p, [i.value for i in ids], lists) for p, ids, lists in list_people(hub)}
    assert people["Dana Ruiz"][1:] == (["dana@example.org", "@dana@example.social"],
                                       ["clients"])
    assert people["Eli Moss"][2] == ["family", "friends"]
    assert "Fox" not in people

    dana = people["Dana Ruiz"][0].id
    page = owner.get(f"/people/{dana}")
    assert page.status_code == 200 and "Dana Ruiz" in page.text
    r = owner.post(f"/people/{dana}/identities", data={"csrf_token": token, "kind": "bluesky",
                                                       "value": "not a handle"})
    assert r.status_code == 400 and 'value="not a handle"' in r.text
    r = owner.post(f"/people/{dana}/identities", data={"csrf_token": token, "kind": "bluesky",
                                                       "value": "dana.bsky.social"})
    assert r.status_code == 303
    r = owner.post(f"/people/{dana}/lists", data={"csrf_token": token, "lists": "friends",
                                                  "new_list": "neighbours"})
    assert r.status_code == 303
    lists = {p.name: lists for p, _, lists in list_people(hub)}
    assert lists["Dana Ruiz"] == ["friends", "neighbours"]

    r = owner.post(f"/people/{dana}/edit", data={"csrf_token": token, "name": " ",
                                                 "note": "met at the fair"})
    assert r.status_code == 400 and "met at the fair" in r.text      # nothing typed is lost
    r = owner.post(f"/people/{dana}/edit", data={"csrf_token": token, "name": "Dana R. Ruiz",
                                                 "note": "met at the fair"})
    assert r.status_code == 303
    r = owner.post(f"/people/{dana}/identities/remove",
                   data={"csrf_token": token, "kind": "email", "value": "dana@example.org"})
    assert r.status_code == 303
    edited = {p.name: [i.value for i in ids] for p, ids, _ in list_people(hub)}
    assert edited["Dana R. Ruiz"] == ["@dana@example.social", "dana.bsky.social"]

    r = owner.post("/lists", data={"csrf_token": token, "name": "Bad Name"})
    assert r.status_code == 400 and 'value="bad name"' in r.text
    r = owner.post("/lists", data={"csrf_token": token, "name": "book-club"})
    assert r.status_code == 303 and r.headers["location"] == "/lists/book-club"
    r = owner.post("/lists/book-club/members", data={"csrf_token": token, "add": dana})
    assert r.status_code == 303
    assert "Dana R. Ruiz" in owner.get("/lists/book-club").text
    r = owner.post("/lists/book-club/members", data={"csrf_token": token, "remove": dana})
    assert r.status_code == 303
    assert "Nobody in this list yet" in owner.get("/lists/book-club").text
    assert "used by the policy" in owner.get("/lists").text          # friends is used

    r = owner.post(f"/people/{dana}/remove", data={"csrf_token": token})
    assert r.status_code == 303
    assert "Dana R. Ruiz" not in {p.name for p, _, _ in list_people(hub)}


def test_tokens_are_shown_once_and_can_be_revoked(site, owner):
    hub, server = site
    token = csrf_of(owner.get("/tokens").text)
    r = owner.post("/tokens", data={"csrf_token": token, "name": "", "scopes": ["post", "read"],
                                    "limit": "yes", "audiences": "friends"})
    assert r.status_code == 400 and "needs a name" in r.text
    assert re.search(r'value="read"\s+checked', r.text)              # choices kept
    r = owner.post("/tokens", data={"csrf_token": token, "name": "shortcut",
                                    "scopes": "post", "limit": "yes", "audiences": "friends"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    secret = re.search(r'id="new-token"[^>]*>(hub_[^<]+)<', r.text).group(1)
    assert f"{server.url}/api/posts" in r.text and "audiences=friends" in r.text
    api = httpx.post(f"{server.url}/api/posts", data={"text": "hi", "audiences": "public"},
                     headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 403                                    # the allow-list holds
    assert secret not in owner.get("/tokens").text
    row = next(t for t in list_tokens(hub) if t.name == "shortcut")
    assert owner.post(f"/tokens/{row.id}/revoke", data={"csrf_token": token}
                      ).status_code == 303
    assert "revoked" in owner.get("/tokens").text


def test_audit_search_verification_and_export(site, owner):
    hub, _ = site
    view = submit_post(hub, PostInput(text="for friends", audiences=["friends"]), Author())
    wait_settled(hub, view.post.id)
    page = owner.get("/audit")
    assert 'data-chain="never"' in page.text      # viewing the page does not re-verify
    r = owner.post("/audit/verify", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303
    page = owner.get("/audit")
    assert 'data-chain="ok"' in page.text and "data-verifier-key" in page.text
    proof = owner.get(f"/audit/posts/{view.post.id}/proof.json")
    assert proof.headers["content-disposition"].startswith("attachment")
    from hub.audit import verifier
    bundle = proof.json()
    key = verifier.VerifierKey.parse(bundle["verifier_key"])
    assert {e["post_id"] for e in verifier.verify_proof(bundle, key)} == {view.post.id}
    assert owner.get("/audit/people?q=nobody-at-all").status_code == 404
    r = owner.get("/audit/people?q=ANA@example")
    assert r.status_code == 303 and r.headers["location"].startswith("/audit/people/u")
    person = owner.get(r.headers["location"])
    assert f'data-post="{view.post.id}"' in person.text and "list friends" in person.text
    link = next(x.url for x in feed_links(hub, "friends") if x.name == "Ana")
    assert httpx.get(link).status_code == 200
    person = owner.get(r.headers["location"])
    assert "Feed friends" in person.text and "1 post shown" in person.text
    jsonl = owner.get("/audit/export?format=jsonl")
    assert jsonl.headers["content-disposition"] == 'attachment; filename="hub-audit.jsonl"'
    events = [json.loads(line) for line in jsonl.text.splitlines()]
    assert {"PostSubmitted", "DeliverySucceeded", "FeedFetched"} <= {e["name"] for e in events}
    csv_text = owner.get("/audit/export?format=csv").text
    assert csv_text.startswith("seq,name,created")


def test_delete_everywhere_says_which_copies_stay_live(site, owner):
    hub, _ = site
    view = submit_post(hub, PostInput(text="oops", audiences=["friends", "public"]), Author())
    wait_settled(hub, view.post.id)
    token = csrf_of(owner.get(f"/posts/{view.post.id}").text)
    r = owner.post(f"/posts/{view.post.id}/delete", data={"csrf_token": token})
    assert r.status_code == 303
    page = owner.get(r.headers["location"])
    assert "some copies are still live" in page.text
    assert "friends-mail: sent email cannot be recalled" in page.text
    states = {d.target: (d.status, d.reason) for d in get_post(hub, view.post.id).deliveries}
    assert states["bsky"] == ("deleted", "")
    assert states["friends-feed"][0] == "deleted"
    assert states["friends-mail"][0] == "published"
    assert states["friends-mail"][1].startswith("still live")
    link = next(x.url for x in feed_links(hub, "friends") if x.name == "Ana")
    assert "oops" not in httpx.get(link).text                      # gone from the feed
    with hub.db.read() as s:
        names = [e.name for e in hub.audit.events(s, post_id=view.post.id)]
    assert "PostDeleted" in names and names.count("DeliveryDeleted") == 3


def test_send_asks_first_when_a_target_cannot_carry_the_post(site, owner):
    hub, _ = site
    token = csrf_of(owner.get("/compose").text)
    long = {"csrf_token": token, "text": "y" * 400, "audiences": "public", "tags": "",
            "content_warning": "", "language": "", "schedule_at": "", "tz": "UTC",
            "action": "send"}
    r = owner.post("/compose", data=long)
    assert r.status_code == 200 and 'id="confirm-send"' in r.text
    assert "Not every target can take this post" in r.text
    assert "bsky: cannot carry it — bsky: text is 400 characters" in r.text
    assert 'value="send-others"' in r.text and 'href="/compose" id="cancel-send"' in r.text
    assert "y" * 400 + "</textarea>" in r.text                  # nothing typed is lost
    assert list_posts(hub) == []

    r = owner.post("/compose", data={**long, "action": "send-others"})
    assert r.status_code == 303
    page = owner.get(r.headers["location"])
    assert 'class="flash flash-warn"' in page.text
    assert "Sending to 1 of 2 targets: masto-public; bsky cannot carry it" in page.text
    [view] = list_posts(hub)
    assert {d.target: d.status for d in view.deliveries}["bsky"] == "rejected"

    stopped = {**long, "text": "at home", "tags": "private"}
    for action in ("send", "send-others"):      # nothing to send to: never sent, never offered
        r = owner.post("/compose", data={**stopped, "action": action})
        assert r.status_code == 200 and "Nothing can be delivered" in r.text
        assert 'value="send-others"' not in r.text
        assert "masto-public: stopped by the policy" in r.text
    assert len(list_posts(hub)) == 1

    r = owner.post("/compose", data={**long, "text": "short and fine"})
    assert r.status_code == 303
    assert 'class="flash flash-ok"' in owner.get(r.headers["location"]).text


def test_post_pages_title_the_text_and_fold_targets_outside_the_audiences(site, owner):
    hub, _ = site
    view = submit_post(hub, PostInput(text="Dinner at eight, bring bread", audiences=["friends"]),
                       Author("owner"))
    page = owner.get(f"/posts/{view.post.id}").text
    assert "<h1>Dinner at eight, bring bread</h1>" in page
    assert "<title>Dinner at eight, bring bread · Hub</title>" in page
    table, _, folded = page.partition('<details class="others">')
    assert "friends-mail" in table and "clients-mail" not in table.split("<table")[1]
    assert "4 other targets (not in the post's audiences)" in folded
    assert "<strong>clients-mail</strong>" in folded
    listing = owner.get("/posts").text
    assert f'<a href="/posts/{view.post.id}">Dinner at eight, bring bread</a>' in listing


def test_compose_repeats_the_checks_above_send(site, owner):
    token = csrf_of(owner.get("/compose").text)
    r = owner.post("/compose", data={"csrf_token": token, "text": "z" * 400,
                                     "audiences": "public", "action": "preview"})
    form = r.text.split('<section id="preview"')[0]
    near_send = form.split("data-send-check>")[1].split('<div class="actions')[0]
    assert "1 will send · 0 held for approval · 0 stopped · 1 cannot be sent yet" in near_send
    assert "bsky: bsky: text is 400 characters" in near_send


def test_new_phone_tokens_default_to_post_to_one_audience_with_shortcut_fields(site, owner):
    hub, server = site
    page = owner.get("/tokens").text
    assert re.search(r'value="post"\s+checked', page) and not re.search(
        r'value="read"\s+checked', page)
    assert re.search(r'name="limit" value="yes"\s+checked', page)
    checked = re.findall(r'name="audiences" value="([^"]+)"\s+checked', page)
    assert checked == [next(iter(hub.policies.current.audiences))]
    r = owner.post("/tokens", data={"csrf_token": csrf_of(page), "name": "phone",
                                    "scopes": "post", "limit": "yes", "audiences": "friends"})
    secret = re.search(r'id="new-token"[^>]*>(hub_[^<]+)<', r.text).group(1)
    fields = r.text.split('class="facts shortcut-fields"')[1].split("</dl>")[0]
    assert f"<code>{server.url}/api/posts</code>" in fields
    assert f"<code>Authorization: Bearer {secret}</code>" in fields
    assert "<dt>Field audiences</dt><dd><code>friends</code>" in fields
    assert 'aria-label="QR code of the token"><svg' in r.text


def test_the_ui_warns_while_hub_public_url_is_unset(site, owner):
    hub, server = site
    assert "data-public-url-warning" not in owner.get("/compose").text
    hub.settings.public_url = ""
    try:
        page = owner.get("/tokens").text
        assert "data-public-url-warning" in page
        assert "HUB_PUBLIC_URL is not set, so feed links and phone requests point at" in page
    finally:
        hub.settings.public_url = server.url

