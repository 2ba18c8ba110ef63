"""The paged, filtered lists behind the posts, queue, deliveries and audit pages, on SQLite and
PostgreSQL alike: cursors continue exactly where a page ended (same timestamps included), the
filters and the text search (LIKE wildcards taken literally) are done by the database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.errors import InvalidInput
from hub.services.post_pages import ListFilter, delivery_page, post_page, queue_page
from hub.services.posts import Author, PostInput, submit_post

pytestmark = pytest.mark.integration


def _all(hub, fetch, flt, limit):
    out, cursor = [], None
    while True:
        page = fetch(hub, flt, cursor, limit=limit)
        items = getattr(page, "views", None)
        out += ([v.post.id for v in items] if items is not None
                else [i.delivery.id for i in page.items])
        cursor = page.next_cursor
        if cursor is None:
            return out


def test_pages_filters_and_search_on_both_databases(database_url, make_hub):
    hub = make_hub(database_url)
    ids = [submit_post(hub, PostInput(f"note {i} 100%_done" if i == 3 else f"note {i}",
                                      ["friends"]), Author()).post.id for i in range(7)]
    hub.now.advance(1)
    held = submit_post(hub, PostInput("Work news", ["public"], tags=["work"]), Author()).post.id
    hub.now.advance(1)
    soon = submit_post(hub, PostInput("later", ["friends"],
                                      schedule_at=hub.now() + timedelta(hours=1)), Author())
    never = ListFilter()
    newest_first = [soon.post.id, held, *sorted(ids, reverse=True)]   # same time: by id
    assert _all(hub, post_page, never, 3) == newest_first

    def only(**kw):
        return [v.post.id for v in post_page(hub, ListFilter.parse(hub, **kw)).views]

    assert only(state="held") == [held]
    assert only(state="scheduled") == [soon.post.id]
    assert only(audience="public") == [held]
    assert only(account="mastodon:main") == [held]
    assert only(q="WORK") == [held]
    assert only(q="100%_") == [ids[3]]                   # wildcards are literal
    assert only(q="0%") == [ids[3]] and only(q="_") == [ids[3]]
    assert only(state="failed") == []

    queue = _all(hub, queue_page, never, 1)
    assert queue == [held, soon.post.id]                 # soonest first
    mails = ListFilter.parse(hub, account="email:personal",
                             states=("pending", "published"))
    assert len(_all(hub, delivery_page, mails, 4)) == 8
    with pytest.raises(InvalidInput, match="not one of"):
        ListFilter.parse(hub, state="held; DROP TABLE post")
