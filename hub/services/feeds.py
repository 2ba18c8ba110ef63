"""Private Atom feeds: personal token links per member, and what each member may read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from hub.crypto import same
from hub.domain.delivery import DeliveryStatus
from hub.domain.events import FeedAccessRevoked, FeedFetched
from hub.errors import NotFound
from hub.runtime import Hub
from hub.services.edit_versions import carried_content
from hub.services.people import find_person
from hub.services.people_lists import members_now
from hub.store.tables import (
    DeliveryRow,
    FeedMemberRow,
    PersonRow,
    PostRow,
    SnapshotMemberRow,
)


def feeds_in_policy(hub: Hub) -> dict[str, str]:
    """feed name -> hub list, from the feed targets of the policy in force."""
    feeds: dict[str, str] = {}
    for target in hub.policies.current.targets.values():
        if target.platform == "feed" and target.list_name:
            name = target.options.get("feed") or target.list_name
            feeds[str(name)] = target.list_name
    return feeds


def _list_of(hub: Hub, feed: str) -> str:
    feeds = feeds_in_policy(hub)
    if feed not in feeds:
        raise NotFound(f"no feed {feed!r} in the policy (feeds: {', '.join(sorted(feeds))})")
    return feeds[feed]


def _token(hub: Hub, feed: str, person_id: str, row: FeedMemberRow) -> str:
    message = f"{feed}:{person_id}:{row.generation}"
    mac = hub.box.legacy_feed_mac(message) if row.scheme == 1 else hub.box.sign("feed", message)
    return f"{person_id}.{mac}"


@dataclass(frozen=True)
class FeedLink:
    person_id: str
    name: str
    url: str


def feed_links(hub: Hub, feed: str) -> list[FeedLink]:
    """Each current member's personal URL (created on first call, stable afterwards)."""
    list_name = _list_of(hub, feed)
    base = hub.settings.base_url
    links = []
    with hub.db.transaction() as s:
        inside = members_now(hub, s, list_name)   # kept by hand, or by a rule of the policy
        members = s.exec(select(PersonRow).where(col(PersonRow.id).in_(list(inside)))
                         .order_by(PersonRow.name))
        for person in members:
            row = s.get(FeedMemberRow, (feed, person.id))
            if row is None:
                row = FeedMemberRow(feed=feed, person_id=person.id)
                s.add(row)
            elif row.revoked is not None:
                continue
            token = _token(hub, feed, person.id, row)
            url = f"{base}/feeds/{feed}.atom?token={token}"
            links.append(FeedLink(person.id, person.name, url))
    return links


def revoke_feed_access(hub: Hub, feed: str, ref: str, *, reissue: bool = False,
                       actor: str = "owner") -> None:
    """Revoke a member's link; with ``reissue`` a new link replaces it."""
    _list_of(hub, feed)
    with hub.db.transaction() as s:
        person = find_person(s, ref)
        row = s.get(FeedMemberRow, (feed, person.id)) or FeedMemberRow(feed=feed,
                                                                       person_id=person.id)
        row.generation += 1
        row.scheme = 2
        row.revoked = None if reissue else hub.now()
        s.add(row)
        hub.audit.append(s, FeedAccessRevoked(actor=actor, subject=person.id, feed=feed),
                         now=hub.now())


@dataclass(frozen=True)
class FeedEntry:
    post_id: str
    text: str
    content_warning: str | None
    tags: list[str]
    language: str | None
    published: datetime
    updated: datetime | None = None     # when an edit last changed the entry (atom:updated)


@dataclass(frozen=True)
class FeedView:
    feed: str
    person_name: str
    entries: list[FeedEntry]
    updated: datetime


def read_feed(hub: Hub, feed: str, token: str, *, limit: int = 50) -> FeedView:
    """The posts this member was sent through this feed; logs the fetch in the audit (once
    per person, feed and hour unless new posts were shown).

    Any wrong, revoked or stale token, an unknown feed, or a person no longer in the list, is
    NotFound, after the same lookups and MAC in every case: the time taken does not tell
    which feed names exist."""
    person_id, _, _ = token.partition(".")
    list_name = feeds_in_policy(hub).get(feed)
    now = hub.now()
    with hub.db.transaction() as s:
        row = s.get(FeedMemberRow, (feed, person_id))
        person = s.get(PersonRow, person_id)
        member = person_id in members_now(hub, s, list_name or "")   # the same work for any name
        expected = _token(hub, feed, person_id, row or FeedMemberRow(feed=feed,
                                                                    person_id=person_id))
        genuine = same(token, expected)
        if (not genuine or list_name is None or row is None or row.revoked is not None
                or person is None or not member):
            raise NotFound("no such feed")
        q = (select(PostRow, DeliveryRow)
             .join(DeliveryRow, col(DeliveryRow.post_id) == col(PostRow.id))
             .where(DeliveryRow.platform == "feed", DeliveryRow.status == DeliveryStatus.PUBLISHED,
                    col(DeliveryRow.remote_id).startswith(f"feed:{feed}:"),
                    col(PostRow.deleted).is_(None))
             .order_by(col(DeliveryRow.finished).desc()).limit(limit * 4))
        entries = []
        for post, delivery in s.exec(q):
            snapshot = (delivery.receipt or {}).get("snapshot")
            if not snapshot or s.get(SnapshotMemberRow, (snapshot, person_id)) is None:
                continue   # not in the list when it was sent: the audit says they could not see it
            shown, edited = carried_content(s, post, delivery)
            entries.append(FeedEntry(post.id, shown.text, shown.content_warning,
                                     list(shown.tags), shown.language,
                                     delivery.finished or post.created, edited))
            if len(entries) >= limit:
                break
        post_ids = [e.post_id for e in entries]
        if not _fetched_this_hour(hub, s, feed, person_id, post_ids, now):
            hub.audit.append(s, FeedFetched(actor=f"feed-reader:{person_id}",
                                            subject=person_id, feed=feed, post_ids=post_ids),
                             now=now)
        return FeedView(feed, person.name, entries,
                        max((e.published for e in entries), default=now))


def _fetched_this_hour(hub: Hub, s: Session, feed: str, person_id: str, shown: list[str],
                       now: datetime) -> bool:
    """Whether this hour's audit already says this person fetched these posts from this feed
    (so a link holder cannot grow the log by fetching in a loop)."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    rows = hub.audit.events(s, names=[FeedFetched.name], subject=person_id, since=hour)
    return any(r.payload.get("feed") == feed and set(shown) <= set(r.payload.get("post_ids", []))
               for r in rows)


def retire_member_links(hub: Hub, s: Session, list_name: str, person_id: str) -> None:
    """A person left ``list_name``: their links to its feeds die for good, so being added
    again later gives them a new link rather than reviving the old one."""
    for feed, feed_list in feeds_in_policy(hub).items():
        row = s.get(FeedMemberRow, (feed, person_id)) if feed_list == list_name else None
        if row is not None:
            row.generation += 1
            row.scheme = 2
            s.add(row)
