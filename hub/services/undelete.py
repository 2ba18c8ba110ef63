"""Undeleting a post (Micropub's ``action=undelete``): what a user expects is the post back
where it was. The deleted post becomes published again to the same audiences, judged again by
the policy in force (a target it now denies gets nothing; one it now holds waits for approval),
each target with a new delivery and a new key (the old copies were removed from the networks;
new ones get new links). A copy the network never gave up (sent email, a chat message) is
still live: nothing is sent there again. The post keeps its id, text and history.
"""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import select

from hub.domain.delivery import DeliveryStatus
from hub.domain.edit_events import PostUndeleted
from hub.domain.events import DeliveryRejected, RouteDecided
from hub.domain.model import Outcome
from hub.errors import Conflict, NotFound
from hub.ids import new_delivery_key, new_id
from hub.policy.engine import route
from hub.runtime import Hub
from hub.services.drafts import Author
from hub.services.edit_plan import check_author
from hub.services.post_views import PostView, get_post
from hub.store.repos import due, post_from_row
from hub.store.tables import DecisionRow, DeliveryRow, PostRow


def undelete_post(hub: Hub, post_id: str, author: Author) -> PostView:
    """Publish a deleted post again (see the module); ``Conflict`` if it is not deleted."""
    now = hub.now()
    policy = hub.policies.current
    with hub.db.transaction() as s:
        row = s.get(PostRow, post_id)
        if row is None:
            raise NotFound(f"no post {post_id!r}")
        check_author(row, author)
        if row.deleted is None:
            raise Conflict(f"post {post_id} is not deleted")
        post = post_from_row(row)
        if post.schedule_at is not None and post.schedule_at <= now:
            post = replace(post, schedule_at=None)
        people = hub.people.snapshot(s)
        live = {d.target for d in s.exec(select(DeliveryRow).where(
            DeliveryRow.post_id == post_id, DeliveryRow.status == DeliveryStatus.PUBLISHED))}
        routing = route(post, policy, people, now, recheck=True)
        row.deleted, row.schedule_at = None, post.schedule_at
        s.add(row)
        resent, woken = [], []
        for d in routing.decisions:
            s.add(DecisionRow(post_id=post_id, target=d.target.name, account=d.target.account,
                              reach=d.target.reach.value, outcome=d.outcome.value,
                              rule_ids=list(d.rule_ids), reasons=list(d.reasons),
                              audiences=list(d.audiences), policy_digest=policy.digest,
                              phase="undelete", created=now))
            if d.outcome is Outcome.DENY or d.target.name in live:
                continue
            rejection = hub.publishers.check(post, d.target, people)
            status = DeliveryStatus.REJECTED if rejection else DeliveryStatus.HELD \
                if d.outcome is Outcome.HOLD else DeliveryStatus.PENDING
            delivery = DeliveryRow(
                id=new_id("d"), post_id=post_id, target=d.target.name,
                account=d.target.account, platform=d.target.platform,
                reach=d.target.reach.value, key=new_delivery_key(now), status=status,
                due_at=due(post, now), last_error=rejection or "", created=now, updated=now,
                finished=now if rejection else None)
            s.add(delivery)
            s.flush()
            resent.append(d.target.name)
            if rejection:
                hub.audit.append(s, DeliveryRejected(
                    actor=author.name, post_id=post_id, delivery_id=delivery.id,
                    policy_digest=policy.digest, target=d.target.name, reason=rejection),
                    now=now)
            elif status is DeliveryStatus.PENDING and delivery.due_at <= now:
                woken.append(delivery.id)
        hub.audit.append(s, PostUndeleted(actor=author.name, post_id=post_id,
                                          policy_digest=policy.digest, resent=resent,
                                          still_live=sorted(live)), now=now)
        hub.audit.append(s, RouteDecided(
            actor=author.name, post_id=post_id, policy_digest=policy.digest, phase="undelete",
            decisions=[{"target": d.target.name, "account": d.target.account,
                        "reach": d.target.reach.value, "outcome": d.outcome.value,
                        "rule_ids": list(d.rule_ids)} for d in routing.decisions]), now=now)
    hub.wake(woken)
    return get_post(hub, post_id)
