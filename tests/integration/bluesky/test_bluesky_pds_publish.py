"""Publishing to a real PDS and reading back what landed: text, facets, media, threads, gates."""

from __future__ import annotations

import hashlib
import io
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from bluesky_pds import MemorySteps, Pds, new_key
from PIL import Image

from adapters.bluesky import connect
from adapters.bluesky.linkcard import CardFetcher
from hub.domain.model import (
    Identity,
    IdentityKind,
    Media,
    PeopleSnapshot,
    Person,
    PersonId,
    Post,
    PostId,
    Reach,
    Target,
)
from hub.errors import ContentRejected, CredentialsRejected

pytestmark = pytest.mark.integration
FAMILY = "👩\u200d👩\u200d👧\u200d👦"
NOBODY = PeopleSnapshot()


def post(text: str, **kw: Any) -> Post:
    return Post(id=PostId("p"), text=text, audiences=("public",),
                created=datetime(2026, 1, 1, tzinfo=UTC), **kw)


def target(**options: Any) -> Target:
    return Target(name="bsky", account="bluesky:me", reach=Reach.WORLD, options=options)


def sliced(record: dict[str, Any], facet: dict[str, Any]) -> str:
    index = facet["index"]
    return record["text"].encode()[index["byteStart"]:index["byteEnd"]].decode()


def ref(strong: dict[str, Any]) -> tuple[str, str]:
    return strong["uri"], strong["cid"]


async def publish(conn: Any, text: str, people: PeopleSnapshot = NOBODY, *,
                  steps: MemorySteps | None = None, key: str | None = None,
                  options: dict[str, Any] | None = None, **post_fields: Any) -> Any:
    draft = conn.publisher.prepare(post(text, **post_fields), target(**(options or {})), people)
    return await conn.publisher.publish(draft, key=key or new_key(), steps=steps or MemorySteps())


async def test_connect_stores_a_session_and_refuses_bad_or_main_passwords(pds: Pds) -> None:
    account = pds.create_account()
    settings, secret = await connect({"handle": account.handle, "service": pds.url},
                                     account.app_password)
    assert settings == {"handle": account.handle, "service": pds.url, "did": account.did}
    assert '"session"' in secret
    with pytest.raises(CredentialsRejected, match="refused"):
        await connect({"handle": account.handle, "service": pds.url}, "wrong-pass-word-xxxx")
    with pytest.raises(CredentialsRejected, match="main password"):
        await connect({"handle": account.handle, "service": pds.url}, account.password)


@pytest.mark.parametrize("prefix", [
    "plain ", "👋🏽 emoji ", f"{FAMILY} zwj ", "🇺🇦🇵🇹 flags ", "e\u0301a\u0308 combining ",
    "日本語とかな ", "שלום עולם ", "مرحبا ",
], ids=["ascii", "emoji", "zwj", "flags", "combining", "cjk", "hebrew", "arabic"])
async def test_facets_land_at_the_right_byte_offsets(pds: Pds, connect_account: Any,
                                                     prefix: str) -> None:
    friend = pds.create_account("friend")
    people = PeopleSnapshot(people={PersonId("f"): Person(PersonId("f"), "Friend", (
        Identity(IdentityKind.BLUESKY, friend.handle),
        Identity(IdentityKind.BLUESKY, friend.did)))})
    conn = await connect_account()
    text = (f"{prefix}{FAMILY} read https://example.com/ü?q=1 #tagé 🇺🇦 @{friend.handle} "
            f"@{conn.account.handle} and @nobody-here.test")
    receipt = await publish(conn, text, people, language="en")
    record = pds.record(receipt.remote_id)["value"]
    assert record["text"] == text and record["langs"] == ["en"]
    found = {sliced(record, f): f["features"][0] for f in record["facets"]}
    assert found["https://example.com/ü?q=1"]["uri"] == "https://example.com/ü?q=1"
    assert found["#tagé"]["tag"] == "tagé"
    assert found[f"@{friend.handle}"]["did"] == friend.did            # from the people snapshot
    assert found[f"@{conn.account.handle}"]["did"] == conn.account.did  # resolved by the PDS
    assert "@nobody-here.test" not in found                          # unresolvable: plain text
    assert len(found) == 4


async def test_300_graphemes_pass_301_are_refused_or_split_as_the_target_says(
        pds: Pds, connect_account: Any) -> None:
    conn = await connect_account()
    text = ("🇺🇦" + FAMILY + "e\u0301" + "語") * 75                 # 300 graphemes, 2850 bytes
    receipt = await publish(conn, text)
    assert pds.record(receipt.remote_id)["value"]["text"] == text
    with pytest.raises(ContentRejected, match="301 graphemes"):
        conn.publisher.prepare(post(text + "x"), target(), NOBODY)
    assert len(pds.records(conn.account.did, "app.bsky.feed.post")) == 1   # nothing was sent
    receipt = await publish(conn, text + " and more", options={"split": True})
    assert len(receipt.details["parts"]) == 2


async def test_the_pds_counts_graphemes_as_the_adapter_does(pds: Pds, connect_account: Any
                                                            ) -> None:
    """A 301-grapheme record written directly is refused by the PDS itself."""
    from adapters.bluesky.repo import create
    from hub.errors import PermanentDeliveryError
    conn = await connect_account()
    repo = conn.publisher.repo
    await repo.ready()
    text = ("🇺🇦" + FAMILY + "e\u0301" + "語") * 75 + "x"
    record = {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-01-01T00:00:00Z"}
    with pytest.raises(PermanentDeliveryError, match="grapheme too big"):
        await repo.apply_writes([create("app.bsky.feed.post", new_key(), record)], doing="t")


async def test_images_land_with_alt_text_aspect_ratio_and_within_the_size_limit(
        pds: Pds, connect_account: Any) -> None:
    noise = Image.effect_noise((2400, 1600), 30)
    noisy = Image.merge("RGB", (noise, noise.rotate(180), noise.transpose(0)))
    small = Image.new("RGBA", (300, 600), (10, 200, 30, 128))
    files = {}
    for image, fmt in ((noisy, "JPEG"), (small, "PNG")):
        out = io.BytesIO()
        image.save(out, fmt, **({"quality": 97} if fmt == "JPEG" else {}))
        files[hashlib.sha256(out.getvalue()).hexdigest()] = out.getvalue()
    assert len(list(files.values())[0]) > 1_000_000
    conn = await connect_account(media_loader=files.__getitem__)
    mimes = ("image/jpeg", "image/png")
    media = tuple(Media(sha, mimes[n], alt=f"alt {n}", size=len(data))
                  for n, (sha, data) in enumerate(files.items()))
    receipt = await publish(conn, "two pictures", media=media)
    images = pds.record(receipt.remote_id)["value"]["embed"]["images"]
    assert [i["alt"] for i in images] == ["alt 0", "alt 1"]
    ratios = [(i["aspectRatio"]["width"], i["aspectRatio"]["height"]) for i in images]
    assert ratios == [(2000, 1333), (300, 600)]
    assert images[0]["image"]["mimeType"] == "image/jpeg"
    assert images[1]["image"]["mimeType"] == "image/png"
    assert all(i["image"]["size"] <= 1_000_000 for i in images)


async def test_a_thread_chains_root_and_parent(pds: Pds, connect_account: Any) -> None:
    conn = await connect_account()
    text = " ".join(f"Sentence number {n} of a long story." for n in range(38))
    key = new_key()
    receipt = await publish(conn, text, key=key, options={"split": True})
    parts = receipt.details["parts"]
    assert len(parts) == 5 and parts[0]["uri"].endswith(key)
    for n, part in enumerate(parts[1:], start=1):
        reply = pds.record(part["uri"])["value"]["reply"]
        assert ref(reply["root"]) == ref(parts[0]) and ref(reply["parent"]) == ref(parts[n - 1])
    assert "reply" not in pds.record(parts[0]["uri"])["value"]


async def test_threadgate_with_a_list_rule_and_postgate(pds: Pds, connect_account: Any) -> None:
    ana, bo, cy = (pds.create_account(n) for n in ("ana", "bo", "cy"))
    def person(pid: str, account: Any) -> Person:
        return Person(PersonId(pid), pid, (Identity(IdentityKind.BLUESKY, account.did),))
    people = PeopleSnapshot(people={PersonId(p.id): p for p in (person("ana", ana),
                                                                  person("bo", bo))},
                            lists={"friends": frozenset({PersonId("ana"), PersonId("bo")})})
    conn = await connect_account()
    options = {"threadgate": ["mentioned", "list:friends"], "quotes": False}
    receipt = await publish(conn, "gated", people, options=options)
    did, rkey = conn.account.did, receipt.remote_id.rsplit("/", 1)[1]
    gate = pds.record(f"at://{did}/app.bsky.feed.threadgate/{rkey}")["value"]
    rule_types = [r["$type"].split("#")[1] for r in gate["allow"]]
    assert rule_types == ["mentionRule", "listRule"] and gate["post"] == receipt.remote_id
    list_uri = gate["allow"][1]["list"]
    assert pds.record(list_uri)["value"]["purpose"] == "app.bsky.graph.defs#curatelist"
    def members() -> set[str]:
        return {r["value"]["subject"] for r in pds.records(did, "app.bsky.graph.listitem")
                if r["value"]["list"] == list_uri}
    assert members() == {ana.did, bo.did}
    postgate = pds.record(f"at://{did}/app.bsky.feed.postgate/{rkey}")["value"]
    assert postgate["embeddingRules"] == [{"$type": "app.bsky.feed.postgate#disableRule"}]
    assert receipt.details["reach"] == "world" and receipt.details["quotes"] == "disabled"
    # the hub list changes: the next post re-syncs the same Bluesky list
    people = PeopleSnapshot(people={**people.people, PersonId("cy"): person("cy", cy)},
                            lists={"friends": frozenset({PersonId("bo"), PersonId("cy")})})
    await publish(conn, "gated again", people, options=options)
    assert members() == {bo.did, cy.did}
    assert len(pds.records(did, "app.bsky.graph.list")) == 1


async def test_delete_removes_posts_and_gates_and_is_safe_to_repeat(pds: Pds, connect_account: Any
                                                                    ) -> None:
    conn = await connect_account()
    did = conn.account.did
    options = {"threadgate": ["nobody"], "quotes": False, "split": True}
    receipt = await publish(conn, "word " * 100, options=options)
    assert len(pds.records(did, "app.bsky.feed.post")) == 2
    for _ in range(2):
        await conn.publisher.delete(receipt, steps=MemorySteps())
        for collection in ("post", "threadgate", "postgate"):
            assert pds.records(did, f"app.bsky.feed.{collection}") == []


class _Site(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/article":
            body = (b'<html><head><title>Fallback</title><meta property="og:title" '
                    b'content="An article"><meta property="og:description" content="About it">'
                    b'<meta property="og:image" content="/pic.png"></head></html>')
            kind = "text/html; charset=utf-8"
        elif self.path == "/pic.png":
            out = io.BytesIO()
            Image.new("RGB", (40, 20), "red").save(out, "PNG")
            body, kind = out.getvalue(), "image/png"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def site() -> Any:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_link_card_is_built_when_allowed_and_falls_back_to_a_plain_link(
        pds: Pds, connect_account: Any, site: str) -> None:
    conn = await connect_account(cards=CardFetcher(allow_private=True, timeout=5))
    receipt = await publish(conn, f"look {site}/article", options={"link_cards": True})
    external = pds.record(receipt.remote_id)["value"]["embed"]["external"]
    assert external["title"] == "An article" and external["description"] == "About it"
    assert external["thumb"]["mimeType"] == "image/png"
    # the default fetcher refuses private addresses: the post goes out with a plain link
    plain = await connect_account()
    receipt = await publish(plain, f"look {site}/article", options={"link_cards": True})
    record = pds.record(receipt.remote_id)["value"]
    assert "embed" not in record and record["facets"][0]["features"][0]["uri"].endswith(
        "/article")
