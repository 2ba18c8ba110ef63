"""Rich-text facets for one piece of post text: links, #tags and @mentions at UTF-8 byte offsets.

Detection follows Bluesky's own rules (the SDK's port of ``@atproto/api`` ``detectFacets``), so
what the app would link, the hub links. Mentions need a DID: known ones come from the people
snapshot; the rest are kept as *candidates* and resolved when publishing — a mention that does
not resolve stays plain text, never a broken facet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from atproto_client.utils import facet_detection

from adapters.bluesky import graphemes as _graphemes
from hub.ports import JSON

FACET = "app.bsky.richtext.facet"


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


def detect(text: str, dids: Mapping[str, str]) -> tuple[list[dict[str, JSON]], list[Mention]]:
    """Facets for ``text`` and the mentions still to resolve.

    ``dids`` maps lower-case handles to DIDs (from the people snapshot). Returns the facets
    (links, tags, cashtags, known mentions) sorted by position, and the unresolved mentions.
    """
    facets: list[dict[str, JSON]] = []
    for found in facet_detection.detect_facets(text):
        feature = found.features[0]
        start, end = found.index.byte_start, found.index.byte_end
        if feature.py_type.endswith("#link"):
            facets.append(_facet(start, end, {"$type": f"{FACET}#link", "uri": feature.uri}))
        else:
            facets.append(_facet(start, end, {"$type": f"{FACET}#tag", "tag": feature.tag}))
    pending: list[Mention] = []
    for match in facet_detection.detect_mentions(text):
        mention = Mention(match.handle.lower(), match.byte_start, match.byte_end)
        did = dids.get(mention.handle)
        if did:
            facets.append(mention_facet(mention, did))
        else:
            pending.append(mention)
    return without_overlaps(facets), pending


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
