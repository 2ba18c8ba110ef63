"""Editing published statuses through the real adapter against the double: alt text through
``media_attributes``, quote policies on create and edit, and a repeated edit that sends nothing
more."""

from __future__ import annotations

import pytest

from hub.domain.model import Media

pytestmark = pytest.mark.integration
KEY = "3lbfxyzabc222"
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d7"
    "63f8cfc000000301010018dd8db00000000049454e44ae426082")


def _edits(double) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in double.requests() if r["method"] == "PUT"]


async def test_quotes_option_becomes_the_quote_policy_and_private_posts_say_it_is_nobody(
        double, publisher, compose, hub_scopes):
    owner = double.local("hub", scopes=hub_scopes)
    pub = await publisher(double, owner)
    public = pub.prepare(compose.post("quote me, followers"),
                         compose.target("public", quotes="followers"), compose.people([]))
    private = pub.prepare(compose.post("not quotable"),
                          compose.target("private", quotes="anyone"), compose.people([]))
    assert public.payload["quote_policy"] == "followers"
    assert private.payload["quote_policy"] == "nobody"
    assert any("becomes nobody" in n and "followers-only" in n for n in private.notes)
    await pub.publish(public, key=KEY, steps=compose.steps())
    await pub.publish(private, key="3lbfxyzabc223", steps=compose.steps())
    stored = {s["text"]: s["quote_approval_policy"] for s in double.live()}
    assert stored == {"quote me, followers": "followers", "not quotable": "nobody"}


async def test_an_edit_changes_alt_text_and_quote_policy_once(double, publisher, compose,
                                                              hub_scopes, media_store):
    owner = double.local("hub", scopes=hub_scopes)
    pub = await publisher(double, owner)
    sha = media_store.add(_PNG)
    before = Media(sha, "image/png", alt="a pixel", size=len(_PNG))
    after = Media(sha, "image/png", alt="a single red pixel", size=len(_PNG))
    steps = compose.steps()
    draft = pub.prepare(compose.post("pixel", media=(before,)),
                        compose.target("public", quotes="anyone"), compose.people([]))
    receipt = await pub.publish(draft, key=KEY, steps=steps)
    edited = pub.prepare(compose.post("pixel, described", media=(after,)),
                         compose.target("public", quotes="nobody"), compose.people([]))
    new = await pub.edit(receipt, edited, steps=steps)
    await pub.edit(receipt, edited, steps=steps)      # the job ran twice: nothing more is sent
    [status] = double.live()
    assert status["text"] == "pixel, described" and len(status["edits"]) == 1
    assert status["media"][0]["description"] == "a single red pixel"
    assert status["quote_approval_policy"] == "nobody"
    assert new.remote_id == receipt.remote_id and new.details["quote_policy"] == "nobody"
    sid = receipt.remote_id
    assert _edits(double) == [("PUT", f"/api/v1/statuses/{sid}"),
                              ("PUT", f"/api/v1/statuses/{sid}/interaction_policy")]


@pytest.mark.parametrize("with_media", [False, True], ids=["form", "json"])
async def test_an_edit_changes_the_language_once(double, publisher, compose, hub_scopes,
                                                 media_store, with_media):
    # Mastodon.py's status_update has no ``language``: the client's seam adds it to the PUT,
    # in the form body (no media) or the JSON body (media_attributes); the double checks the
    # request against the contract.
    owner = double.local("hub", scopes=hub_scopes)
    pub = await publisher(double, owner)
    media: tuple[Media, ...] = ()
    if with_media:
        sha = media_store.add(_PNG)
        media = (Media(sha, "image/png", alt="a pixel", size=len(_PNG)),)
    steps = compose.steps()
    draft = pub.prepare(compose.post("Guten Tag", language="en", media=media),
                        compose.target("public"), compose.people([]))
    receipt = await pub.publish(draft, key=KEY, steps=steps)
    assert double.live()[0]["language"] == "en"
    edited = pub.prepare(compose.post("Guten Tag", language="de", media=media),
                         compose.target("public"), compose.people([]))
    await pub.edit(receipt, edited, steps=steps)
    await pub.edit(receipt, edited, steps=steps)      # the job ran twice: nothing more is sent
    [status] = double.live()
    assert status["language"] == "de" and len(status["edits"]) == 1
    assert _edits(double) == [("PUT", f"/api/v1/statuses/{receipt.remote_id}")]
    assert double.violations() == []
