"""The owner's day in a real browser: log in, compose with a live preview of who will see it,
send, watch deliveries go out, approve and retry, and ask the audit who saw what."""

from __future__ import annotations

import io
import re

import httpx
import pytest
from PIL import Image
from playwright.sync_api import expect

from hub.errors import PermanentDeliveryError
from hub.services.feeds import feed_links
from hub.services.people import NewPerson, add_person
from hub.services.posts import list_posts
from tests.e2e.conftest import log_in, shot

pytestmark = pytest.mark.integration
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2;alert(2)">'


def preview_target(page, target: str):
    return page.locator(f"[data-preview-body] article[data-target='{target}']")


def test_compose_to_two_audiences_send_and_find_it_in_a_persons_audit(page, site):
    log_in(page, site)
    shot(page, "01-compose-empty")
    page.fill("#text", "Launch day: the new site is live! https://example.org/launch")
    page.check("input[name=audiences][value=friends]")
    page.check("input[name=audiences][value=public]")
    page.fill("#tags", "news")

    bsky = preview_target(page, "bsky")
    expect(bsky).to_have_attribute("data-outcome", "allow")
    expect(bsky).to_contain_text("anyone on the web")
    expect(bsky).to_contain_text("audience:public")
    expect(bsky.locator(".counter")).to_have_text(re.compile(r"^\d+/300$"))
    mail = preview_target(page, "friends-mail")
    expect(mail).to_have_attribute("data-outcome", "allow")
    expect(mail).to_contain_text("the 2 people in friends, by email")
    expect(preview_target(page, "friends-feed")).to_contain_text(
        "the 2 people in friends, through their private feed")
    expect(preview_target(page, "masto-public").locator(".rendered")).to_have_text(
        "Launch day: the new site is live! https://example.org/launch")
    expect(preview_target(page, "clients-mail")).to_have_count(0)   # not asked for
    expect(page.locator("details.others summary")).to_contain_text("other targets")
    shot(page, "02-compose-preview")

    page.click("#send")
    page.wait_for_url(re.compile(r"/posts/p_?\w+$"))
    expect(page.locator(".flash")).to_have_text("Sent.")
    delivered = page.locator("li.delivery[data-status=published]")
    expect(delivered).to_have_count(4, timeout=15_000)           # updated live, no reload
    expect(page.locator("[data-post-status]")).to_have_text("done")
    shot(page, "03-post-published")
    post_id = page.url.rsplit("/", 1)[1]
    assert {d.target for d in site.fakes["email:personal"].published.values()} == {
        "friends-mail"}

    page.click("nav >> text=Posts")
    expect(page.locator(f"article[data-post='{post_id}'] .post-text")).to_contain_text(
        "Launch day")
    shot(page, "04-posts-list")

    page.click("nav >> text=Audit")
    expect(page.locator("[data-chain=never]")).to_be_visible()   # a view does not re-verify
    page.click("text=Verify now")
    expect(page.locator("[data-chain=ok]")).to_contain_text("chain correctly")
    shot(page, "05-audit")
    page.fill("#q", "ana")
    page.press("#q", "Enter")
    page.wait_for_url(f"**/audit/people/{site.people['Ana Lima']}")
    row = page.locator(f"tr[data-post='{post_id}']")
    expect(row.first).to_be_visible()
    expect(page.locator("table.person-posts").first).to_contain_text("list friends")
    expect(page.locator("table.person-posts").last).to_contain_text("anyone on the web")
    shot(page, "06-audit-person")

    row.first.locator("a").click()
    page.wait_for_url(f"**/audit/posts/{post_id}")
    mail_section = page.locator("section.could-see[data-target='friends-mail']")
    expect(mail_section).to_contain_text("2 people")
    expect(mail_section).to_contain_text("Ana Lima")
    expect(mail_section).to_contain_text("Bo Chen")
    expect(mail_section).not_to_contain_text("Cy Okafor")
    expect(page.locator("section.could-see[data-target='bsky']")).to_contain_text(
        "anyone on the web")
    shot(page, "07-audit-post")


def test_a_denied_tag_shows_the_denial_before_sending(page, site):
    log_in(page, site)
    page.fill("#text", "Thinking about my family's plans")
    page.check("input[name=audiences][value=public]")
    page.fill("#tags", "private")
    for target in ("bsky", "masto-public"):
        card = preview_target(page, target)
        expect(card).to_have_attribute("data-outcome", "deny")
        expect(card.locator(".badge")).to_have_text("stopped")
        expect(card.locator("code.rule")).to_have_text("private-stays-home")
    expect(page.locator("[data-preview-body] .warnings")).to_contain_text(
        "The tag #private stops it going to bsky (it would otherwise be sent)")
    shot(page, "08-compose-denied-tag")
    assert list_posts(site.hub) == []                    # a preview writes nothing

    page.fill("#tags", "")                               # without the tag, it would go
    expect(preview_target(page, "bsky")).to_have_attribute("data-outcome", "allow")


def test_send_asks_when_a_network_cannot_carry_it_and_the_result_is_not_green(page, site):
    log_in(page, site)
    page.fill("#text", "A long thought. " * 25)                        # 400 characters
    page.check("input[name=audiences][value=public]")
    expect(preview_target(page, "bsky").locator(".badge")).to_have_text("cannot carry it")
    page.click("#send")
    confirm = page.locator("#confirm-send")
    expect(confirm).to_contain_text("Not every target can take this post")
    expect(confirm).to_contain_text("bsky: cannot carry it")
    expect(page.locator("#text")).to_have_value("A long thought. " * 25)
    shot(page, "08b-compose-confirm")
    assert list_posts(site.hub) == []
    page.click("#send-others")
    flash = page.locator(".flash")
    expect(flash).to_contain_text("Sending to 1 of 2 targets: masto-public; bsky cannot carry it")
    expect(flash).to_have_class(re.compile(r"flash-warn"))
    ok, warn = (page.evaluate(f"getComputedStyle(document.querySelector('{sel}'))"
                              ".backgroundColor") for sel in (".flash", "body"))
    assert ok != warn                                   # not the page's colour, and not green
    assert ok != "rgb(228, 243, 232)"


def test_held_and_failed_deliveries_can_be_approved_retried_and_deleted(page, site):
    site.fakes["bluesky:me"].fail_next(1, PermanentDeliveryError(
        "the network refused the post: rate limited for today", platform="bluesky"))
    log_in(page, site)
    page.fill("#text", "Quarterly numbers are out")
    page.check("input[name=audiences][value=public]")
    page.check("input[name=audiences][value=professional]")
    page.fill("#tags", "work")
    page.click("summary:has-text('Images')")
    page.set_input_files("#image_0", files=[{"name": "chart.png", "mimeType": "image/png",
                                             "buffer": _png()}])
    page.fill("#image_alt_0", "Bar chart: revenue up 12%")
    expect(preview_target(page, "bsky")).to_have_attribute("data-outcome", "hold")
    expect(preview_target(page, "bsky").locator("code.rule")).to_have_text("review-work")
    expect(preview_target(page, "masto-followers")).to_contain_text(
        "your Mastodon followers — grows as people follow you")
    page.click("#send")
    page.wait_for_url(re.compile(r"/posts/\w+$"))
    expect(page.locator(".flash")).to_have_text("Waiting for your approval.")
    expect(page.locator("li.delivery[data-status=held]")).to_have_count(3)
    expect(page.locator("[data-post-status]")).to_have_text("awaiting approval")
    expect(page.locator(".media-list img")).to_have_attribute("alt", "Bar chart: revenue up 12%")
    assert page.evaluate("document.querySelector('.media-list img').naturalWidth") == 8

    page.click("button:has-text('Approve held deliveries')")
    expect(page.locator(".flash")).to_contain_text("Approved: 3")
    failed = page.locator("li.delivery[data-target='bsky'][data-status=failed]")
    expect(failed).to_contain_text("rate limited for today")      # the reason, live
    expect(page.locator("li.delivery[data-status=published]")).to_have_count(2)
    shot(page, "09-post-failed-with-reason")
    page.click("button:has-text('Retry bsky')")
    expect(page.locator(".flash")).to_have_text("Sending it again.")
    expect(page.locator("li.delivery[data-status=published]")).to_have_count(3)
    expect(page.locator("[data-post-status]")).to_have_text("done")

    page.click("summary:has-text('Delete everywhere')")
    page.click("button:has-text('Delete this post everywhere')")
    expect(page.locator(".flash")).to_have_text("Deleted everywhere.")
    expect(page.locator("li.delivery[data-status=deleted]")).to_have_count(3)
    assert len(site.fakes["bluesky:me"].deleted) == 1
    assert len(site.fakes["mastodon:main"].deleted) == 2


def test_typed_markup_stays_text_in_preview_list_audit_and_feed(page, site):
    add_person(site.hub, NewPerson(f"Eve {XSS}", [("email", "eve@example.org")], ["friends"]))
    log_in(page, site)
    page.fill("#text", f"Look: {XSS}")
    page.fill("#content_warning", XSS)
    page.check("input[name=audiences][value=friends]")
    expect(preview_target(page, "friends-feed").locator(".rendered")).to_have_text(
        f"Look: {XSS}")
    page.click("#send")
    page.wait_for_url(re.compile(r"/posts/\w+$"))
    expect(page.locator("li.delivery[data-status=published]")).to_have_count(2)
    post_id = page.url.rsplit("/", 1)[1]
    eve = next(p for p in list_people_ids(site) if p[1].startswith("Eve"))[0]
    for path in ["/posts", f"/posts/{post_id}", f"/audit/posts/{post_id}",
                 f"/audit/people/{eve}", "/people", "/lists/friends"]:
        page.goto(site.url + path)
        assert page.evaluate("window.__xss") is None, path
        assert page.locator("img[src='x']").count() == 0, path
        assert "<script>window.__xss=1</script>" in page.locator("main").inner_text(), path
    feed = next(link.url for link in feed_links(site.hub, "friends") if link.name == "Ana Lima")
    page.goto(feed)
    assert page.evaluate("window.__xss") is None
    raw = httpx.get(feed).text
    assert "<script>" not in raw and "&lt;script&gt;window.__xss=1&lt;/script&gt;" in raw
    assert page.dialogs == []


def list_people_ids(site) -> list[tuple[str, str]]:
    from hub.services.people import list_people

    return [(p.id, p.name) for p, _, _ in list_people(site.hub)]


def test_people_tokens_and_a_phone_sized_screen(phone, site):
    log_in(phone, site)
    expect(preview_target(phone, "bsky")).to_have_count(0)
    assert _fits(phone), "the compose page scrolls sideways on a phone"
    phone.fill("#text", "From the bus 🚌")
    phone.check("input[name=audiences][value=friends]")
    expect(preview_target(phone, "friends-mail")).to_have_attribute("data-outcome", "allow")
    shot(phone, "10-phone-compose")

    phone.goto(site.url + "/people")
    phone.click("summary:has-text('Add a person')")
    phone.fill("#name", "Dee Park")
    phone.fill("#email", "not-an-address")
    phone.fill("#lists", "clients")
    phone.click("button:has-text('Add person')")
    expect(phone.locator(".error-box")).to_contain_text("not a valid email identity")
    expect(phone.locator("#name")).to_have_value("Dee Park")      # nothing typed is lost
    phone.fill("#email", "dee@example.org")
    phone.click("button:has-text('Add person')")
    expect(phone.locator(".flash")).to_have_text("Added Dee Park.")
    assert _fits(phone), "the people page scrolls sideways on a phone"
    shot(phone, "11-phone-people")

    phone.goto(site.url + "/tokens")
    phone.fill("#token-name", "phone")
    phone.check("input[name=limit][value=yes]")
    phone.check("input[name=audiences][value=friends]")
    phone.click("button:has-text('Create token')")
    secret = phone.locator("#new-token").inner_text().strip()
    assert secret.startswith("hub_")
    curl = phone.locator("#curl-example").inner_text()
    assert f"Authorization: Bearer {secret}" in curl and "--data-urlencode" in curl
    shot(phone, "12-phone-token-created")
    r = httpx.post(f"{site.url}/api/posts", headers={"Authorization": f"Bearer {secret}"},
                   data={"text": "sent like a phone shortcut", "audiences": "friends"})
    assert r.status_code == 202, r.text
    phone.goto(site.url + "/tokens")
    assert "hub_" not in phone.locator("table.tokens").inner_text()   # never shown again
    phone.click("button:has-text('Revoke phone')")
    expect(phone.locator(".flash")).to_contain_text("revoked")
    assert httpx.post(f"{site.url}/api/posts", headers={"Authorization": f"Bearer {secret}"},
                      data={"text": "x", "audiences": "friends"}).status_code == 401

    phone.goto(site.url + "/posts")
    expect(phone.locator(".post-text").first).to_have_text("sent like a phone shortcut")
    assert _fits(phone), "the posts page scrolls sideways on a phone"
    shot(phone, "13-phone-posts")


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (40, 120, 200)).save(buf, format="PNG")
    return buf.getvalue()


def _fits(page) -> bool:
    return bool(page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth + 1"))


def test_on_a_phone_the_checks_sit_above_a_send_button_in_reach(phone, site):
    log_in(phone, site)
    phone.fill("#text", "A long thought. " * 25)
    phone.check("input[name=audiences][value=public]")
    near_send = phone.locator("[data-send-check]")
    expect(near_send).to_contain_text("1 cannot be sent yet")
    expect(near_send.locator(".warnings")).to_contain_text("bsky")
    phone.evaluate("window.scrollTo(0, 0)")
    box = phone.locator("#send").bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 844   # in view
    check_box = near_send.bounding_box()
    assert check_box is not None and check_box["y"] < phone.locator(
        "#preview").bounding_box()["y"]                 # above the preview, near Send
    phone.screenshot(path=str(shot(phone, "12-phone-compose-checks").with_name(
        "12-phone-compose-checks-viewport.png")))
