"""Rich-text facets for one piece of post text: links, #tags and @mentions at UTF-8 byte offsets.

Tokens come from the hub's one reading of a post (:mod:`hub.domain.reading`, Bluesky's own
``detectFacets`` rules), so what the policy judged is what Bluesky gets. A facet never cuts a
grapheme cluster as the PDS counts them: a tag that would end inside one (``#tag👩‍👩‍👧``, where
the rule stops at the joiner) takes the whole cluster or stops before it, whichever the policy
read; a tag the policy did not read, or a link or mention that would cut a cluster, is left as
plain text. Mentions need a DID: known ones come from the people snapshot; the rest are kept as
*candidates* and resolved when publishing — a mention that does not resolve stays plain text,
never a broken facet.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import adapters.bluesky.graphemes as _graphemes
from hub.domain.reading import Field, Hashtag, read_text, tag_key, utf8_span
from hub.ports import JSON

FACET = "app.bsky.richtext.facet"
MAX_TAG_GRAPHEMES, MAX_TAG_BYTES = 64, 640      # app.bsky.richtext.facet#tag


def graphemes(text: str) -> int:
    """Extended grapheme clusters, as the PDS counts them (``Intl.Segmenter``)."""
    return _graphemes.count(text)


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


@dataclass(frozen=True)
class Mention:
    """An ``@handle`` at byte offsets, possibly not yet resolved to a DID."""

    handle: str
    byte_start: int
    byte_end: int
    did: str | None = None

    def to_json(self) -> dict[str, JSON]:
        return {"handle": self.handle, "byteStart": self.byte_start, "byteEnd": self.byte_end}

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> Mention:
        handle, start, end = data["handle"], data["byteStart"], data["byteEnd"]
        assert isinstance(handle, str) and isinstance(start, int) and isinstance(end, int)
        return cls(handle, start, end)


def _facet(start: int, end: int, feature: dict[str, JSON]) -> dict[str, JSON]:
    return {"$type": FACET, "index": {"byteStart": start, "byteEnd": end}, "features": [feature]}


def mention_facet(mention: Mention, did: str) -> dict[str, JSON]:
    return _facet(mention.byte_start, mention.byte_end, {"$type": f"{FACET}#mention", "did": did})


def span(facet: Mapping[str, JSON]) -> tuple[int, int]:
    index = facet["index"]
    assert isinstance(index, dict)
    start, end = index["byteStart"], index["byteEnd"]
    assert isinstance(start, int) and isinstance(end, int)
    return start, end


def detect(text: str, dids: Mapping[str, str], *, judged: Collection[str] | None = None
           ) -> tuple[list[dict[str, JSON]], list[Mention]]:
    """Facets for ``text`` and the mentions still to resolve.

    ``dids`` maps lower-case handles to DIDs (from the people snapshot); ``judged`` holds the tag
    keys the policy read in the post (default: every key any reader finds in ``text``). Returns
    the facets (links, tags, known mentions) sorted by position, and the unresolved mentions.
    """
    full = read_text(text, Field.TEXT)
    reading = full.by("bluesky")
    keys = set(judged) if judged is not None else {t.key for t in full.hashtags}
    ends = [0, *_graphemes.ends(text)]
    bounds = set(ends)
    facets: list[dict[str, JSON]] = []
    for link in reading.links:
        if link.start in bounds and link.end in bounds:
            facets.append(_facet(*utf8_span(text, link.start, link.end),
                                 {"$type": f"{FACET}#link", "uri": link.url}))
    for hashtag in reading.hashtags:
        found = _whole_tag(text, hashtag, ends, keys)
        if found:
            facets.append(_facet(*utf8_span(text, *found[:2]),
                                 {"$type": f"{FACET}#tag", "tag": found[2]}))
    pending: list[Mention] = []
    for match in reading.mentions:
        if match.start not in bounds or match.end not in bounds:
            continue
        mention = Mention(match.value, *utf8_span(text, match.start, match.end))
        did = dids.get(mention.handle)
        if did:
            facets.append(mention_facet(mention, did))
        else:
            pending.append(mention)
    return without_overlaps(facets), pending


def _whole_tag(text: str, tag: Hashtag, ends: list[int], keys: Collection[str]
               ) -> tuple[int, int, str] | None:
    """The tag's span and name on cluster boundaries: as read, else to the end of the cluster it
    stops in, else before it; only a name whose key the policy read, within the tag limits."""
    if tag.start not in ends:
        return None
    if tag.end in ends:
        candidates = [tag.end]
    else:
        after = bisect_right(ends, tag.end)
        candidates = [ends[after], ends[after - 1]]
    for end in candidates:
        name = text[tag.start + 1:end]
        if (name and tag_key(name) in keys and _graphemes.count(name) <= MAX_TAG_GRAPHEMES
                and utf8_len(name) <= MAX_TAG_BYTES):
            return tag.start, end, name
    return None


def without_overlaps(facets: list[dict[str, JSON]]) -> list[dict[str, JSON]]:
    """Sorted by start; a facet overlapping an earlier one is dropped ("facets can not overlap")."""
    kept: list[dict[str, JSON]] = []
    last_end = -1
    for facet in sorted(facets, key=span):
        start, end = span(facet)
        if start >= last_end and end > start:
            kept.append(facet)
            last_end = end
    return kept


def first_link(facets: list[dict[str, JSON]]) -> str | None:
    for facet in facets:
        features = facet["features"]
        assert isinstance(features, list)
        for feature in features:
            if isinstance(feature, dict) and feature.get("$type") == f"{FACET}#link":
                uri = feature["uri"]
                return uri if isinstance(uri, str) else None
    return None


def mentioned_dids(facets: list[dict[str, JSON]]) -> list[str]:
    dids: list[str] = []
    for facet in facets:
        features = facet["features"]
        assert isinstance(features, list)
        for feature in features:
            if isinstance(feature, dict) and isinstance(feature.get("did"), str):
                dids.append(str(feature["did"]))
    return dids
