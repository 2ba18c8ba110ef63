"""``prepare`` for Mastodon, pure: count, split, address and guard, from cached instance limits.

A draft's payload is a list of *groups*: each group is one thread (usually of one post) sent to
one set of addressees. Public, unlisted and private targets have one group; a direct target whose
mentions do not fit one post gets several groups, each addressed to a subset of the list, so
nobody is dropped and nobody sees another group's copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.mastodon.limits import AccountSettings
from adapters.mastodon.spec import MastodonOptions
from adapters.mastodon.text import (
    graphemes,
    split_text,
    status_length,
    thread_marker,
)
from hub.domain.model import IdentityKind, Media, PeopleSnapshot, Post, Target
from hub.domain.reading import Field, fold, read_text
from hub.errors import ContentRejected
from hub.ports import JSON, Draft, Recipient

PLATFORM = "mastodon"


@dataclass(frozen=True)
class Addressee:
    acct: str        # user@domain, lower-cased
    token: str       # as written in the text: @user (local) or @user@domain
    cost: int        # counted characters, with the separating space


def render(post: Post, target: Target, people: PeopleSnapshot, account: AccountSettings) -> Draft:
    try:
        options = MastodonOptions.model_validate(dict(target.options))
    except ValueError as exc:
        raise ContentRejected(f"{target.name}: invalid Mastodon options: {exc}",
                              target=target.name) from exc
    notes = list(_check_media(post.media, account, target.name))
    cw = post.content_warning or ""
    own = fold(f"{account.username}@{account.domain}")
    in_text = [acct for acct in text_mentions(post.text, account.domain) if acct != own]
    recipients: list[Recipient] = []
    if options.visibility == "direct":
        list_name = options.list or ""
        recipients, addressees, skipped = _addressees(people, list_name, account)
        notes += skipped
        allowed = {a.acct for a in addressees}
        for acct in in_text:
            if acct not in allowed:
                raise ContentRejected(
                    f"{target.name}: the text mentions @{acct}, who is not in list "
                    f"{list_name!r}; a mention would let them read this direct post",
                    target=target.name)
        if not addressees:
            raise ContentRejected(f"{target.name}: list {list_name!r} has no member with a "
                                  "Mastodon identity", target=target.name)
        if post.thread:
            raise ContentRejected(
                f"{target.name}: a thread cannot go as direct posts (each part would need "
                "every mention); write one text for this target as its variant",
                target=target.name)
        groups = _address(post.text, cw, addressees, account, options.split, target.name,
                          set(in_text))
        if len(groups) > 1:
            notes.append(f"sent as {len(groups)} direct posts: the mentions of "
                         f"{len(addressees)} people do not fit one post of "
                         f"{account.limit('max_characters')} characters")
    else:
        groups = [((), _written(post, cw, account, options.split, target.name))]
        if options.visibility == "private" and in_text:
            notes.append("mentions " + ", ".join(f"@{acct}" for acct in in_text)
                         + ": publishing checks they already follow the account")
    if options.visibility == "private" and not account.locked:
        notes.append("followers-only: anyone who follows the account later can read it too "
                     "(the account is not locked)")
    quote_policy, quote_note = quote_approval(options, account)
    if quote_note:
        notes.append(quote_note)
    parts = tuple(part for _, group_parts in groups for part in group_parts)
    longest = max(status_length(p, cw, url_weight=account.limit("characters_reserved_per_url"))
                  for p in parts)
    payload: dict[str, JSON] = {
        "visibility": options.visibility,
        "spoiler_text": cw,
        "sensitive": options.sensitive,
        "language": post.language,
        "list": options.list,
        "media": [{"sha256": m.sha256, "mime_type": m.mime_type, "alt": m.alt, "size": m.size}
                  for m in post.media],
        "groups": [{"recipients": list(accts), "parts": list(group_parts)}
                   for accts, group_parts in groups],
        "text_mentions": [acct for acct in sorted(set(in_text))],
        "quote_policy": quote_policy,
    }
    counter = f"{longest}/{account.limit('max_characters')} characters"
    if len(parts) > 1:
        counter += f", {len(parts)} posts"
    return Draft(platform=PLATFORM, account=target.account, target=target.name, parts=parts,
                 recipients=tuple(recipients), payload=payload, counter=counter,
                 notes=tuple(notes))


_QUOTES = {"anyone": "public", "followers": "followers", "nobody": "nobody"}


def quote_approval(options: MastodonOptions, account: AccountSettings
                   ) -> tuple[str | None, str | None]:
    """The ``quote_approval_policy`` to send for the target's ``quotes`` (None: the account's
    default), and a note for the preview when the server will not do what was asked."""
    if options.quotes is None:
        return None, None
    if not account.supports_quote_policy:
        return None, (f"quotes: {options.quotes} is ignored: quote policies need Mastodon 4.5 "
                      f"(this instance runs {account.version or 'an unknown version'})")
    if options.visibility in ("private", "direct"):
        note = None if options.quotes == "nobody" else (
            f"quotes: {options.quotes} becomes nobody: Mastodon lets nobody quote "
            f"{'followers-only' if options.visibility == 'private' else 'direct'} posts")
        return "nobody", note
    return _QUOTES[options.quotes], None


def text_mentions(text: str, local_domain: str) -> list[str]:
    """``user@domain`` of every account Mastodon will mention (and so let read) for ``text``:
    the ``"mastodon"`` reading of :mod:`hub.domain.reading`, the one the policy judged."""
    found = (m.acct(local_domain) for m in read_text(text, Field.TEXT).by("mastodon").mentions)
    return list(dict.fromkeys(acct for acct in found if acct))


def _addressees(people: PeopleSnapshot, list_name: str, account: AccountSettings
                ) -> tuple[list[Recipient], list[Addressee], list[str]]:
    recipients, addressees, skipped = [], [], []
    seen: set[str] = set()
    for person in people.members(list_name):
        identity = person.identity(IdentityKind.MASTODON)
        acct = _acct(identity.value) if identity else None
        if acct is None:
            why = "has no Mastodon identity" if identity is None else \
                f"has a Mastodon identity that is not @user@domain ({identity.value!r})"
            skipped.append(f"{person.name} {why} and will not receive this post")
            continue
        if acct in seen:
            continue
        seen.add(acct)
        user, domain = acct.split("@", 1)
        token = f"@{user}" if domain == account.domain else f"@{user}@{domain}"
        recipients.append(Recipient(person.id, person.name, f"@{acct}", via_list=list_name))
        addressees.append(Addressee(acct, token, graphemes("@" + user) + 1))
    return recipients, addressees, skipped


def _acct(value: str) -> str | None:
    user, _, domain = value.strip().lstrip("@").partition("@")
    if not user or not domain or "@" in domain or " " in value.strip():
        return None
    return fold(f"{user}@{domain}")


def _written(post: Post, cw: str, account: AccountSettings, split: bool,
             target: str) -> list[str]:
    """The posts of the chain: the text (split if it must and may be), or the thread the owner
    wrote, one post per part (a part over the limit is split only if the target allows)."""
    if not post.thread:
        return _thread(post.text, "", cw, account, split, target)
    out: list[str] = []
    for n, part in enumerate(post.thread, 1):
        try:
            out += _thread(part, "", cw, account, split, target)
        except ContentRejected as exc:
            raise ContentRejected(f"thread part {n}: {exc.message}", target=target) from exc
    return out


def _thread(body: str, prefix: str, cw: str, account: AccountSettings, split: bool,
            target: str) -> list[str]:
    limit = account.limit("max_characters")
    weight = account.limit("characters_reserved_per_url")
    length = status_length(prefix + body, cw, url_weight=weight)
    if length <= limit:
        return [prefix + body]
    if not split:
        raise ContentRejected(
            f"{target}: {length} characters (content warning included, links count "
            f"{weight}) is over this instance's limit of {limit}; allow 'split' to post a thread",
            target=target)
    total = 2
    while True:
        budget = (limit - graphemes(cw) - status_length(prefix, url_weight=weight)
                  - graphemes(thread_marker(total, total)))
        if budget < 20:
            raise ContentRejected(f"{target}: no room left for text in a {limit}-character "
                                  "post after the content warning and mentions", target=target)
        pieces = split_text(body, budget, url_weight=weight)
        if len(str(len(pieces))) <= len(str(total)):
            break
        total = len(pieces)
    return [prefix + piece + thread_marker(i, len(pieces)) for i, piece in
            enumerate(pieces, 1)]


Groups = list[tuple[tuple[str, ...], list[str]]]


def _address(body: str, cw: str, addressees: list[Addressee], account: AccountSettings,
             split: bool, target: str, in_body: set[str]) -> Groups:
    """Group the addressees so each group's mentions fit beside the text."""
    limit = account.limit("max_characters")
    weight = account.limit("characters_reserved_per_url")
    body_length = status_length(body, cw, url_weight=weight)
    # People the text already mentions are reached by it; don't mention them twice.
    extra = [a for a in addressees if a.acct not in in_body]
    longest = max((a.cost for a in extra), default=0)
    if body_length + longest <= limit:
        if not extra:
            return [(tuple(a.acct for a in addressees), [body])]
        groups = _pack(extra, limit - body_length)
        mentioned = tuple(a.acct for a in addressees if a.acct in in_body)
        return [(mentioned + tuple(a.acct for a in group), [_prefix(group) + body])
                for group in groups]
    if not split:
        raise ContentRejected(
            f"{target}: {body_length} characters plus a mention is over this instance's "
            f"limit of {limit}; allow 'split' to post a thread", target=target)
    longest = max(a.cost for a in addressees)
    reserve = min(sum(a.cost for a in addressees), max(longest, limit // 4))
    pieces = _thread(body, "x" * reserve, cw, account, split, target)
    pieces = [p[reserve:] for p in pieces]
    room = limit - max(status_length(p, cw, url_weight=weight) for p in pieces)
    return [(tuple(a.acct for a in group), [_prefix(group) + p for p in pieces])
            for group in _pack(addressees, room)]


def _pack(addressees: list[Addressee], room: int) -> list[list[Addressee]]:
    groups: list[list[Addressee]] = [[]]
    used = 0
    for addressee in addressees:
        if groups[-1] and used + addressee.cost > room:
            groups.append([])
            used = 0
        groups[-1].append(addressee)
        used += addressee.cost
    return groups


def _prefix(group: list[Addressee]) -> str:
    return "".join(a.token + " " for a in group)


def _check_media(media: tuple[Media, ...], account: AccountSettings, target: str) -> list[str]:
    notes = []
    if len(media) > account.limit("max_media_attachments"):
        raise ContentRejected(f"{target}: {len(media)} attachments; this instance takes at most "
                              f"{account.limit('max_media_attachments')}", target=target)
    if len(media) > 1 and any(not m.mime_type.startswith("image/") for m in media):
        raise ContentRejected(f"{target}: Mastodon takes several images or one video or audio "
                              "file, not a mix", target=target)
    for item in media:
        if account.mime_types and item.mime_type not in account.mime_types:
            raise ContentRejected(f"{target}: this instance does not accept {item.mime_type}",
                                  target=target)
        kind = "image_size_limit" if item.mime_type.startswith("image/") else "video_size_limit"
        if item.size > account.limit(kind):
            raise ContentRejected(f"{target}: {item.sha256[:12]} is {item.size} bytes; this "
                                  f"instance takes at most {account.limit(kind)}", target=target)
        if graphemes(item.alt) > account.limit("description_limit"):
            raise ContentRejected(f"{target}: alt text of {item.sha256[:12]} is longer than "
                                  f"{account.limit('description_limit')} characters",
                                  target=target)
        if not item.alt.strip():
            notes.append(f"attachment {item.sha256[:12]} has no alt text")
    return notes
