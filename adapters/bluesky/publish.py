"""The Bluesky publisher: writes a rendered draft exactly once, resumes threads, deletes.

Exactly once: part ``n`` of a delivery always has the record key ``offset_tid(key, n)`` (the
delivery key for the root), and a post goes out with its threadgate and postgate in one
``applyWrites`` commit. A second create at the same key cannot succeed (the PDS answers 500),
so the worst a repeat can do is fail — and before writing again after an unknown outcome, or on
any attempt after the first, the part is looked up with ``getRecord``. Each part that landed is
recorded in the delivery's Steps before the next is sent, so a thread resumes where it stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from adapters.bluesky import facets as fx
from adapters.bluesky import gates
from adapters.bluesky._errors import OutcomeUnknown
from adapters.bluesky.linkcard import CardFetcher
from adapters.bluesky.media import DEFAULT_MAX_BYTES, fit_image
from adapters.bluesky.render import MAX_GRAPHEMES, Part, Plan, fits, render
from adapters.bluesky.repo import MAX_WRITES, Ref, Repo, create, delete
from hub.domain.model import PeopleSnapshot, Post, Target
from hub.domain.tid import TID_RE, offset_tid
from hub.errors import DeliveryError, PermanentDeliveryError
from hub.ports import JSON, Draft, MediaLoader, Receipt, Size, Steps

THUMB_MAX_BYTES = 1_000_000


class BlueskyPublisher:
    platform: ClassVar[str] = "bluesky"

    def __init__(self, *, account: str, repo: Repo, media_loader: MediaLoader | None = None,
                 cards: CardFetcher | None = None, image_max_bytes: int = DEFAULT_MAX_BYTES,
                 web_url: str = "https://bsky.app",
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.account = account
        self.repo = repo
        self._media = media_loader      # blocking file read: run in a thread
        self._cards = cards or CardFetcher()
        self._image_max_bytes = image_max_bytes
        self._web_url = web_url.rstrip("/")
        self._now = now

    def measure(self, text: str, *, content_warning: str = "", first: bool = True) -> Size:
        """Graphemes as the PDS counts them (the content warning goes first, on part one)."""
        if content_warning and first:
            text = f"CW: {content_warning.strip()}\n\n{text.strip()}"
        text = text.strip()
        return Size(fx.graphemes(text), MAX_GRAPHEMES, "graphemes", fits(text))

    def prepare(self, post: Post, target: Target, people: PeopleSnapshot) -> Draft:
        return render(post, target, people)

    async def publish(self, draft: Draft, *, key: str, steps: Steps) -> Receipt:
        if not TID_RE.match(key):
            raise PermanentDeliveryError(f"delivery key {key!r} is not a TID", platform="bluesky")
        plan = Plan.from_json(draft.payload)
        did = await self.repo.ready()
        started = await steps.get("created_at")
        check_first = started is not None        # an earlier attempt may have written
        if started is None:
            started = self._now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
            await steps.record("created_at", started)
        refs: list[Ref] = []
        lists: dict[str, str] = {}
        for n, part in enumerate(plan.parts):
            done = await steps.get(f"part:{n}")
            if done:
                refs.append(Ref.load(done))
                continue
            rkey = key if n == 0 else offset_tid(key, n)
            found = await self._landed(rkey) if check_first else None
            check_first = False       # parts go out in order: only this one can be unrecorded
            if found is None:
                if n == 0 and plan.reply_rules is not None:
                    lists = await self._lists(plan, key=key, steps=steps, created_at=started)
                found = await self._write(plan, n, part, rkey, refs, lists, started)
            await steps.record(f"part:{n}", found.dump())
            refs.append(found)
        details: dict[str, JSON] = {
            "did": did, "parts": [r.to_json() for r in refs],
            **gates.describe(plan.reply_rules, plan.quotes)}
        if plan.lists:
            details["lists"] = {name: await steps.get(f"list:{name}") for name in plan.lists}
        return Receipt(remote_id=refs[0].uri, url=f"{self._web_url}/profile/{did}/post/{key}",
                       details=details)

    async def delete(self, receipt: Receipt, *, steps: Steps) -> None:
        """Delete every part and its gates, last part first; deleting twice is fine."""
        raw = receipt.details.get("parts")
        refs = [Ref(str(p["uri"]), str(p["cid"])) for p in raw if isinstance(p, dict)] \
            if isinstance(raw, list) else []
        while not raw and (done := await steps.get(f"part:{len(refs)}")) is not None:
            refs.append(Ref.load(done))      # no receipt (e.g. a thread that failed midway)
        if not refs and receipt.remote_id.startswith("at://"):
            refs = [Ref(receipt.remote_id, "")]
        if not refs:
            return
        await self.repo.ready()
        gated = receipt.details.get("reply_control") not in (None, "anyone")
        quotes_off = receipt.details.get("quotes") == "disabled"
        known = "reply_control" in receipt.details
        ops = []
        for i, ref in reversed(list(enumerate(refs))):
            if quotes_off or not known:
                ops.append(delete(gates.POSTGATE, ref.rkey))
            if i == 0 and (gated or not known):
                ops.append(delete(gates.THREADGATE, ref.rkey))
            ops.append(delete(gates.POST, ref.rkey))
        if known and len(ops) <= MAX_WRITES:
            try:
                await self.repo.apply_writes(ops, doing="delete post")
                return
            except OutcomeUnknown:
                pass    # some record is already gone (the PDS answers 500): one by one
        for op in ops:
            await self.repo.delete_one(str(op["collection"]), str(op["rkey"]))

    async def _landed(self, rkey: str) -> Ref | None:
        found = await self.repo.get(gates.POST, rkey)
        return found[0] if found else None

    async def _lists(self, plan: Plan, *, key: str, steps: Steps,
                     created_at: str) -> dict[str, str]:
        uris = {}
        for index, (name, dids) in enumerate(sorted(plan.lists.items())):
            uri = await steps.get(f"list:{name}")
            if uri is None:
                uri = await gates.sync_list(self.repo, name, dids, key=key, index=index,
                                            created_at=created_at)
                await steps.record(f"list:{name}", uri)
            uris[name] = uri
        return uris

    async def _write(self, plan: Plan, n: int, part: Part, rkey: str, refs: list[Ref],
                     lists: Mapping[str, str], started: str) -> Ref:
        created = (datetime.fromisoformat(started.replace("Z", "+00:00"))
                   + timedelta(milliseconds=n)).isoformat(timespec="milliseconds")
        created = created.replace("+00:00", "Z")
        record: dict[str, JSON] = {"$type": gates.POST, "text": part.text, "createdAt": created}
        facets = fx.without_overlaps(part.facets + await self._mentions(part))
        if facets:
            record["facets"] = list(facets)
        if plan.langs:
            record["langs"] = list(plan.langs)
        if plan.labels:
            record["labels"] = {"$type": "com.atproto.label.defs#selfLabels",
                                "values": [{"val": v} for v in plan.labels]}
        if n == 0 and plan.tags:
            record["tags"] = list(plan.tags)
        if n > 0:
            record["reply"] = {"root": refs[0].to_json(), "parent": refs[-1].to_json()}
        embed = await self._images(plan) if n == 0 and plan.images else None
        if embed is None and plan.card and plan.card.get("part") == n:
            embed = await self._card(str(plan.card["uri"]))
        if embed:
            record["embed"] = embed
        uri = f"at://{self.repo.did}/{gates.POST}/{rkey}"
        ops = [create(gates.POST, rkey, record)]
        if n == 0 and plan.reply_rules is not None:
            ops.append(create(gates.THREADGATE, rkey,
                              gates.threadgate(uri, plan.reply_rules, dict(lists), created)))
        if not plan.quotes:
            ops.append(create(gates.POSTGATE, rkey, gates.postgate(uri, created)))
        try:
            return (await self.repo.apply_writes(ops, doing=f"write post {n + 1}"))[0]
        except OutcomeUnknown:
            found = await self._landed(rkey)
            if found is None:
                raise
            return found

    async def _mentions(self, part: Part) -> list[dict[str, JSON]]:
        facets = []
        for mention in part.mentions:
            did = await self.repo.resolve(mention.handle)
            if did:
                facets.append(fx.mention_facet(mention, did))
        return facets

    async def _images(self, plan: Plan) -> dict[str, JSON]:
        if self._media is None:
            raise PermanentDeliveryError("no media store configured for Bluesky",
                                         platform="bluesky")
        images: list[JSON] = []
        for image in plan.images:
            try:
                data = await asyncio.to_thread(self._media, image["sha256"])
            except (OSError, KeyError) as exc:
                raise PermanentDeliveryError(f"media {image['sha256'][:12]} is missing",
                                             platform="bluesky") from exc
            fitted = await asyncio.to_thread(fit_image, data, max_bytes=self._image_max_bytes)
            blob = await self.repo.upload(fitted.data, fitted.mime)
            images.append({"image": blob, "alt": image.get("alt", ""),
                           "aspectRatio": {"width": fitted.width, "height": fitted.height}})
        return {"$type": "app.bsky.embed.images", "images": images}

    async def _card(self, uri: str) -> dict[str, JSON] | None:
        card = await self._cards.fetch(uri)
        if card is None:
            return None
        external: dict[str, JSON] = {"uri": uri, "title": card.title,
                                     "description": card.description}
        if card.image:
            try:
                thumb = await asyncio.to_thread(fit_image, card.image,
                                                max_bytes=THUMB_MAX_BYTES, max_side=1000)
                external["thumb"] = await self.repo.upload(thumb.data, thumb.mime)
            except DeliveryError:
                pass            # a card without its picture is still a card
        return {"$type": "app.bsky.embed.external", "external": external}

    async def aclose(self) -> None:
        await self.repo.keeper.client.request.close()
