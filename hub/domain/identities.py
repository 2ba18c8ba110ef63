"""Who a person is on each network: the rules an identity must follow and its normal form,
and what a list may be called. Pure; the address book (``hub.services.people``) and the
imports use them."""

from __future__ import annotations

import regex

from hub.domain.model import IdentityKind
from hub.errors import InvalidInput

_EMAIL = regex.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_MASTODON = regex.compile(r"^@?[A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*@[^@\s]+\.[^@\s]+$")
_BSKY_HANDLE = regex.compile(r"^@?(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                             r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_DID = regex.compile(r"^did:(plc|web):[A-Za-z0-9._:%-]+$")
_MATRIX = regex.compile(r"^@[A-Za-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(?::\d{1,5})?$")
_LIST = regex.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def normalise_identity(kind: str, value: str) -> tuple[IdentityKind, str]:
    """Validate and normalise an identity; raise InvalidInput naming what is wrong."""
    value = value.strip()
    try:
        k = IdentityKind(kind.strip().lower())
    except ValueError:
        raise InvalidInput(f"unknown identity kind {kind!r}: use email, mastodon, bluesky "
                           "or matrix",
                           field="identities") from None
    if k is IdentityKind.EMAIL and _EMAIL.match(value):
        return k, value.lower()
    if k is IdentityKind.MASTODON and _MASTODON.match(value):
        return k, "@" + value.lstrip("@").lower()
    if k is IdentityKind.BLUESKY and (_DID.match(value) or _BSKY_HANDLE.match(value)):
        return k, value if value.startswith("did:") else value.lstrip("@").lower()
    if k is IdentityKind.MATRIX and _MATRIX.match(value):
        return k, value   # as written: historical Matrix user ids may hold capitals
    examples = {"email": "ana@example.org", "mastodon": "@ana@example.social",
                "bluesky": "ana.bsky.social or did:plc:...", "matrix": "@ana:example.org"}
    raise InvalidInput(f"{value!r} is not a valid {k.value} identity (e.g. {examples[k.value]})",
                       field="identities")


def parse_identity(spec: str) -> tuple[IdentityKind, str]:
    """``kind:value`` as typed on the CLI (``email:ana@x.org``, ``mastodon:@ana@x.social``)."""
    kind, sep, value = spec.partition(":")
    if not sep:
        raise InvalidInput(f"identity {spec!r} needs a kind: email:…, mastodon:… or bluesky:…",
                           field="identities")
    return normalise_identity(kind, value)


def check_list_name(name: str) -> str:
    if not _LIST.fullmatch(name):
        raise InvalidInput(f"list name {name!r}: use lowercase letters, digits, - and _",
                           field="list")
    return name
