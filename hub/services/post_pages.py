"""Pages of posts and deliveries for the list pages: server-side text search, filters (failed,
held, scheduled, by audience, by account) and signed cursors, so any older page is reachable
and no page reads more than it shows.

Usage::

    flt = ListFilter.parse(hub, q="garden", state="failed", audience="", account="")
    page = post_page(hub, flt, cursor=None)          # newest first
    page.views, page.next_cursor                     # the next (older) page, or None
    queue_page(hub, flt, cursor=None)                # held and scheduled posts, soonest first
    delivery_page(hub, flt, cursor=None)             # deliveries, newest first
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import regex
from sqlalchemy import Text, and_, bindparam, cast, func, or_, tuple_
from sqlmodel import col, select

from hub.domain.delivery import DeliveryStatus
from hub.domain.text import check_clean
from hub.errors import InvalidInput
from hub.runtime import Hub
from hub.services import cursors, token_scope
from hub.services.drafts import Author
from hub.services.post_views import DeliveryView, PostView, views_in
from hub.store.tables import DeliveryRow, PostRow, UTCDateTime

MAX_QUERY = 200
PAGE = 50
STATES = ("failed", "held", "scheduled")
DELIVERY_STATES = tuple(s.value for s in DeliveryStatus)
_NAME = regex.compile(r"^[\p{L}\p{N}_.:@-]{1,100}$")


@dataclass(frozen=True)
class ListFilter:
    """What a list page was asked for, checked: ``InvalidInput`` names the bad field."""

    q: str = ""
    state: str = ""
    audience: str = ""
    account: str = ""

    @classmethod
    def parse(cls, hub: Hub, *, q: str = "", state: str = "", audience: str = "",
              account: str = "", states: tuple[str, ...] = STATES) -> ListFilter:
        if len(q) > MAX_QUERY:
            raise InvalidInput(f"the search is {len(q)} characters long; at most {MAX_QUERY}",
                               field="q")
        q = check_clean(q, field="q", label="search", one_line=True).strip()
        state = state.strip()
        if state and state not in states:
            raise InvalidInput(f"state {state[:40]!r} is not one of: {', '.join(states)}",
                               field="state")
        for value, name in ((audience, "audience"), (account, "account")):
            if value and not _NAME.match(value):
                raise InvalidInput(f"{name} {value[:40]!r} is not a name from the policy",
                                   field=name)
        if audience and audience not in hub.policies.current.audiences:
            raise InvalidInput(f"no audience {audience!r} in the policy (audiences: "
                               f"{', '.join(sorted(hub.policies.current.audiences))})",
                               field="audience")
        return cls(q=q, state=state, audience=audience, account=account)

    def query(self) -> dict[str, str]:
        """The non-empty fields, for the page's links."""
        return {k: v for k, v in (("q", self.q), ("state", self.state),
                                  ("audience", self.audience), ("account", self.account)) if v}


@dataclass(frozen=True)
class Page:
    views: list[PostView]
    next_cursor: str | None
    keys: dict[str, datetime]        # post id -> the key the page is sorted by


@dataclass(frozen=True)
class DeliveryItem:
    delivery: DeliveryView
    post_id: str
    post_text: str
    audiences: list[str]
    created: datetime


@dataclass(frozen=True)
class DeliveryPage:
    items: list[DeliveryItem]
    next_cursor: str | None


def _like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _has(*where: Any) -> Any:
    return select(DeliveryRow.id).where(DeliveryRow.post_id == PostRow.id, *where).exists()


def _scheduled() -> Any:
    return and_(col(PostRow.schedule_at).is_not(None),
                _has(DeliveryRow.status == "pending", DeliveryRow.attempts == 0))


def _post_conditions(flt: ListFilter) -> list[Any]:
    where: list[Any] = []
    if flt.q:
        where.append(or_(col(PostRow.text).ilike(_like(flt.q), escape="\\"),
                         col(PostRow.content_warning).ilike(_like(flt.q), escape="\\")))
    if flt.audience:
        where.append(cast(PostRow.audiences, Text).like(_like(f'"{flt.audience}"'),
                                                        escape="\\"))
    if flt.account:
        where.append(_has(DeliveryRow.account == flt.account))
    if flt.state == "failed":
        where.append(_has(DeliveryRow.status == "failed"))
    elif flt.state == "held":
        where.append(_has(DeliveryRow.status == "held"))
    elif flt.state == "scheduled":
        where.append(_scheduled())
    return where


def post_page(hub: Hub, flt: ListFilter, cursor: str | None = None,
              limit: int = PAGE) -> Page:
    """Posts newest first (deleted ones too: they say so), ``limit`` at a time."""
    q = select(PostRow.id, PostRow.created).where(*_post_conditions(flt))
    if cursor:
        key, last = cursors.decode(hub, "posts", cursor)
        # a row-value comparison, so the (created, id) index serves any depth
        q = q.where(tuple_(col(PostRow.created), col(PostRow.id)) < tuple_(
            bindparam("c_key", key, type_=UTCDateTime), bindparam("c_id", last)))
    q = q.order_by(col(PostRow.created).desc(), col(PostRow.id).desc()).limit(limit + 1)
    return _page(hub, q, "posts", limit)


def queue_page(hub: Hub, flt: ListFilter, cursor: str | None = None,
               limit: int = PAGE) -> Page:
    """Posts still waiting — held for approval, or scheduled and not sent yet — soonest first
    (by their send-later time, else when they were written)."""
    key = func.coalesce(PostRow.schedule_at, PostRow.created)
    waiting = or_(_has(DeliveryRow.status == "held"), _scheduled())
    unsent = select(DeliveryRow.post_id).where(col(DeliveryRow.status).in_(("held", "pending")))
    q = (select(PostRow.id, key.label("key"))
         .where(col(PostRow.id).in_(unsent), col(PostRow.deleted).is_(None), waiting,
                *_post_conditions(flt)))
    if cursor:
        after, last = cursors.decode(hub, "queue", cursor)
        q = q.where(or_(key > after, and_(key == after, col(PostRow.id) > last)))
    q = q.order_by(key, col(PostRow.id)).limit(limit + 1)
    return _page(hub, q, "queue", limit)


def scoped_post_page(hub: Hub, flt: ListFilter, author: Author, cursor: str | None = None,
                     limit: int = PAGE) -> Page:
    """``post_page`` for an API token: only posts inside the token's audience allow-list, and
    ``limit`` of them whenever there are that many. Pages are read on until one more post in
    the allow-list is found (or none is left), so the answer and its cursor depend only on the
    token's own posts: the cursor names the last post returned, and there is a next page only
    when another post of its own follows (never a hint that other audiences' posts match a
    search). An unrestricted token gets ``post_page`` itself."""
    if author.audiences is None:
        return post_page(hub, flt, cursor, limit)
    views: list[PostView] = []
    keys: dict[str, datetime] = {}
    chunk = max(limit + 1, 200)
    while True:
        page = post_page(hub, flt, cursor, chunk)
        for view in page.views:
            if not token_scope.in_scope(author, view.post.audiences):
                continue
            if len(views) == limit:          # one more of its own: there is a next page
                last = views[-1].post.id
                return Page(views, cursors.encode(hub, "posts", keys[last], last), keys)
            views.append(view)
            keys[view.post.id] = page.keys[view.post.id]
        cursor = page.next_cursor
        if cursor is None:
            return Page(views, None, keys)


def _page(hub: Hub, q: Any, kind: str, limit: int) -> Page:
    with hub.db.read() as s:
        rows = [(str(pid), key) for pid, key in s.exec(q).all()]
        more = len(rows) > limit
        rows = rows[:limit]
        views = views_in(s, [pid for pid, _ in rows])
    last = rows[-1] if rows and more else None
    return Page(views, cursors.encode(hub, kind, last[1], last[0]) if last else None,
                dict(rows))


def delivery_page(hub: Hub, flt: ListFilter, cursor: str | None = None,
                  limit: int = PAGE) -> DeliveryPage:
    """Deliveries newest first; ``state`` is a delivery status here (failed, held, ...)."""
    q = (select(DeliveryRow, PostRow.text, PostRow.audiences)
         .join(PostRow, col(PostRow.id) == DeliveryRow.post_id))
    if flt.q:
        q = q.where(col(PostRow.text).ilike(_like(flt.q), escape="\\"))
    if flt.audience:
        q = q.where(cast(PostRow.audiences, Text).like(_like(f'"{flt.audience}"'),
                                                       escape="\\"))
    if flt.account:
        q = q.where(DeliveryRow.account == flt.account)
    if flt.state:
        q = q.where(DeliveryRow.status == flt.state)
    if cursor:
        key, last = cursors.decode(hub, "deliveries", cursor)
        q = q.where(tuple_(col(DeliveryRow.created), col(DeliveryRow.id)) < tuple_(
            bindparam("c_key", key, type_=UTCDateTime), bindparam("c_id", last)))
    q = q.order_by(col(DeliveryRow.created).desc(), col(DeliveryRow.id).desc()).limit(limit + 1)
    with hub.db.read() as s:
        rows = list(s.exec(q).all())
    more = len(rows) > limit
    items = [DeliveryItem(
        DeliveryView(d.id, d.target, d.account, d.platform, d.reach, DeliveryStatus(d.status),
                     d.attempts, d.due_at, d.last_error, d.remote_id, d.remote_url),
        d.post_id, text, list(audiences), d.created) for d, text, audiences in rows[:limit]]
    tail = items[-1] if items and more else None
    return DeliveryPage(items, cursors.encode(hub, "deliveries", tail.created,
                                              tail.delivery.id) if tail else None)
