"""Telling the owner that something waits for approval: an email to the owner's own address when
an email account is connected, else an entry in the owner-only feed (``/owner/feed.atom``, a
secret link shown on the queue page). A notice never carries the held post's text — only which
post, to which audiences, which targets wait and the rule that held them — so nothing of a post
reaches a mailbox or reader that could not see it; the text stays on the owner's pages.

Usage: ``notify_held(hub, view)`` after a post was written with held deliveries, and
``notify(hub, waiting_edit(plan, author))`` after an edit was confirmed with held copies (both
return at once; the email goes out on its own thread and falls back to the feed if it cannot be
sent). ``replace_feed_key`` gives the owner feed a new secret link (the old one then answers
404).
"""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any, Protocol, runtime_checkable

import structlog
from sqlmodel import col, select

from hub.crypto import same
from hub.domain.delivery import DeliveryStatus, EditAction
from hub.domain.events import OwnerFeedLinkReplaced
from hub.errors import HubError, NotFound
from hub.runtime import Hub
from hub.services.edit_plan import EditPlan
from hub.services.post_views import PostView
from hub.store.queue_tables import OwnerNoticeRow
from hub.store.tables import AccountRow, OwnerRow

log = structlog.get_logger("hub.notices")


@runtime_checkable
class SelfMailer(Protocol):
    """What an email account's publisher offers for mail to its own address."""

    settings: Any

    def smtp(self) -> smtplib.SMTP: ...


@dataclass(frozen=True)
class Notice:
    id: int
    kind: str
    post_id: str | None
    title: str
    channel: str
    detail: str
    created: Any


def _email_account(hub: Hub) -> str | None:
    with hub.db.read() as s:
        row = s.exec(select(AccountRow.name).where(AccountRow.platform == "email",
                                                   AccountRow.status == "ok")
                     .order_by(col(AccountRow.name))).first()
    return row


@dataclass(frozen=True)
class Waiting:
    """What waits for the owner's approval, without any of the post's text: a new post's held
    deliveries (``version`` None) or an edit's held copies (the version the edit made)."""

    post_id: str
    audiences: tuple[str, ...]
    author: str
    targets: tuple[str, ...]
    rules: tuple[str, ...]
    version: int | None = None

    @property
    def kind(self) -> str:
        return "held" if self.version is None else "held-edit"


def waiting_post(view: PostView) -> Waiting | None:
    """The held deliveries of a post just written, if any."""
    held = tuple(d.target for d in view.deliveries if d.status is DeliveryStatus.HELD)
    rules = tuple(sorted({r for d in view.decisions if d.outcome == "hold"
                          for r in d.rule_ids}))
    return Waiting(view.post.id, tuple(view.post.audiences), view.post.author, held,
                   rules) if held else None


def waiting_edit(plan: EditPlan, author: str) -> Waiting | None:
    """The copies an edit just confirmed holds for approval (newly held, or not yet sent and
    now needing approval), if any."""
    copies = [c for c in plan.copies if c.action in (EditAction.HOLD, EditAction.WAIT)]
    rules = tuple(sorted({r for c in copies for r in c.rule_ids}))
    return Waiting(plan.post.id, tuple(plan.post.audiences), author,
                   tuple(c.target for c in copies), rules, plan.version) if copies else None


def describe(w: Waiting, base: str = "") -> tuple[str, str]:
    """The notice's title and body: no text of the post, only what waits and why."""
    n = len(w.targets)
    what = "a post" if w.version is None else f"an edit (version {w.version}) of a post"
    title = (f"Waiting for your approval: {what} to {', '.join(w.audiences)} "
             f"({n} target{'s' if n != 1 else ''})")
    opening = (f"Post {w.post_id}, written by {w.author}, waits for approval." if w.version is None
               else f"Version {w.version} of post {w.post_id}, edited by {w.author}, waits for "
                    "approval; the copies already out keep the version before it until then.")
    body = (f"{opening}\n"
            f"Held targets: {', '.join(w.targets)}\n"
            f"Held by the rule{'s' if len(w.rules) != 1 else ''}: {', '.join(w.rules) or '—'}\n\n"
            f"Open the queue to read it, approve, change or cancel it: "
            f"{base}/queue\n")
    return title, body


def _write(hub: Hub, w: Waiting, channel: str, detail: str) -> None:
    title, _ = describe(w)
    with hub.db.transaction() as s:
        s.add(OwnerNoticeRow(kind=w.kind, post_id=w.post_id, title=title[:300],
                             channel=channel, detail=detail, created=hub.now()))


def notify_held(hub: Hub, view: PostView, *, wait: bool = False) -> None:
    """Tell the owner ``view`` waits for approval (see the module docstring). ``wait``: send the
    email on this thread (for callers that are already in the background)."""
    notify(hub, waiting_post(view), wait=wait)


def notify(hub: Hub, w: Waiting | None, *, wait: bool = False) -> None:
    """Tell the owner about ``w`` (nothing when None): email to self, else the owner feed."""
    if w is None:
        return
    account = _email_account(hub)
    if account is None:
        _write(hub, w, "feed", "no email account is connected")
        return
    send: Callable[[], None] = lambda: _email(hub, w, account)   # noqa: E731
    if wait:
        send()
        return
    # not a daemon: a short-lived process (``hub post``) waits for the mail before it exits,
    # so a notice is never lost with it (the SMTP timeout bounds the wait)
    thread = threading.Thread(target=send, name=f"notice-{w.post_id}", daemon=False)
    thread.start()


def _email(hub: Hub, w: Waiting, account: str) -> None:
    try:
        publisher = hub.publishers.get(account)
        if not isinstance(publisher, SelfMailer):
            raise HubError(f"{account} cannot send mail to its own address")
        sender = str(publisher.settings.from_addr)
        title, body = describe(w, hub.settings.base_url)
        msg = EmailMessage()
        msg["From"] = msg["To"] = sender
        msg["Subject"] = title
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = make_msgid("notice", parseaddr(sender)[1].rpartition("@")[2]
                                       or "hub.invalid")
        msg.set_content(body)
        with publisher.smtp() as smtp:
            smtp.send_message(msg, to_addrs=[sender])
        _write(hub, w, "email", f"sent to {sender} through {account}")
    except (smtplib.SMTPException, OSError, HubError) as exc:
        reason = exc.message if isinstance(exc, HubError) else f"{type(exc).__name__}: {exc}"
        log.warning("notice.email_failed", post_id=w.post_id, account=account,
                    reason=reason[:300])
        _write(hub, w, "feed", f"the email to yourself through {account} failed: "
                               f"{reason[:500]}")


def notices(hub: Hub, limit: int = 50, *, channel: str | None = None) -> list[Notice]:
    """Newest first."""
    with hub.db.read() as s:
        q = select(OwnerNoticeRow).order_by(col(OwnerNoticeRow.id).desc()).limit(limit)
        if channel:
            q = q.where(OwnerNoticeRow.channel == channel)
        return [Notice(r.id or 0, r.kind, r.post_id, r.title, r.channel, r.detail, r.created)
                for r in s.exec(q)]


def feed_key(hub: Hub) -> str:
    """The secret in the owner feed's link, derived from the hub's secret key and the link's
    generation (``replace_feed_key`` moves it on; generation 0 keeps the first links valid)."""
    with hub.db.read() as s:
        row = s.get(OwnerRow, 1)
    generation = row.feed_generation if row is not None else 0
    return hub.box.sign("owner-feed", f"owner:{generation}" if generation else "owner",
                        length=32)


def check_feed_key(hub: Hub, key: str) -> None:
    if not key or not same(key, feed_key(hub)):
        raise NotFound("no such feed")


def replace_feed_key(hub: Hub, *, actor: str = "owner") -> str:
    """Give the owner feed a new link (say the old one leaked): the old link answers 404 from
    now on, like any wrong key. Audited. Returns the new key."""
    now = hub.now()
    with hub.db.transaction() as s:
        row = s.get(OwnerRow, 1)
        if row is None:
            raise NotFound("no owner login yet: set a password first (`hub password`)")
        row.feed_generation += 1
        s.add(row)
        hub.audit.append(s, OwnerFeedLinkReplaced(actor=actor, subject="owner",
                                                  generation=row.feed_generation), now=now)
    return feed_key(hub)
