"""The hub's corpus of audience cases, through the public API, against the real sinks: SMTP
(aiosmtpd), the private Atom feeds over HTTP, the Mastodon double and the reference PDS — read
back from the sinks themselves, never from the hub's tables.

Overlapping audiences; tags in the field, the text and the content warning, in every case, width
and with invisible characters; mentions of a client in every form; a hold released after a new
deny; scheduled posts denied later; a token scoped to one audience; a list member removed after
posting; a revoked feed link. The verdict: zero copies outside the permitted set, and every
permitted copy there exactly once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.domain.model import IdentityKind
from hub.services.feeds import revoke_feed_access
from hub.services.people import NewPerson, change_lists
from hub.services.posts import FINAL
from hub.services.tokens import create_token
from tests.faults.conftest import Cluster, cluster, post, require_services
from tests.faults.platforms import (
    Bluesky,
    Email,
    Feed,
    Mastodon,
    Platform,
    assert_exactly_permitted,
)

pytestmark = pytest.mark.integration

RULES = """\
  - id: kids-stay-home
    deny: {tags: [kids], reach: [world, world-unlisted, followers]}
  - id: review-holidays
    hold: {tags: [holiday]}
  - id: no-client-names-in-public
    deny: {mentions_member_of: [clients], reach: [world]}
"""
LATER_RULES = """\
  - id: no-holidays-after-all
    deny: {tags: [holiday]}
  - id: no-food-today
    deny: {tags: [food]}
"""
FRIENDS = {f"friend{i}@example.org" for i in range(3)}
CLIENTS = {"client0@example.org", "client1@example.org", "ana@example.org"}
READERS = {"Reader 0", "Reader 1"}
PUBLIC = {"masto-public": {"status"}, "bsky": {"record"}}
SCHEDULE_IN = 15.0


@dataclass
class Case:
    name: str
    audiences: tuple[str, ...]
    text: str
    permitted: dict[str, set[str]]             # target -> places a copy may (and must) reach
    cw: str | None = None
    tags: tuple[str, ...] = ()
    later: bool = False                        # scheduled SCHEDULE_IN seconds ahead
    token: str = "main"
    post_id: str = field(default="", init=False)
    marker: str = field(default="", init=False)

    def body(self, start: datetime) -> dict[str, object]:
        body: dict[str, object] = {"text": f"{self.text} {self.marker}",
                                   "audiences": list(self.audiences), "tags": list(self.tags),
                                   "content_warning": self.cw}
        if self.later:
            body["schedule_at"] = (start + timedelta(seconds=SCHEDULE_IN)).isoformat()
        return body


def corpus() -> list[Case]:
    friends, clients = {"friends-mail": FRIENDS}, {"clients-mail": CLIENTS}
    readers = {"readers-feed": {"Reader 0"}}            # Reader 1's link is revoked first
    cases = [
        Case("control: nothing to stop", ("public", "friends"), "a walk in the park",
             {**PUBLIC, **friends}),
        Case("the word without a sign is no tag", ("public",), "the kids are fine", PUBLIC),
        Case("tag in the text, natural case", ("public", "friends"),
             "Sunday lunch at mum's #Kids", friends),
        Case("upper case", ("public", "readers"), "#KIDS at the park", readers),
        Case("fullwidth letters", ("public",), "lunch #ｋｉｄｓ", {}),
        Case("fullwidth sign", ("public", "clients"), "lunch ＃kids", clients),
        Case("zero-width joiner inside", ("public",), "lunch #ki\u200dds", {}),
        Case("variation selector and soft hyphen", ("public",), "lunch #k\ufe0fi\u00adds!", {}),
        Case("glued to an emoji", ("public",), "lunch 🚀#kids", {}),
        Case("in the content warning", ("public", "readers"), "nap time", readers,
             cw="#Kids inside"),
        Case("in the tags field", ("public",), "just a photo", {}, tags=("Kids",)),
        Case("client by fediverse address", ("public", "friends"),
             "thanks @ana@example.social", friends),
        Case("client by Bluesky handle", ("public",), "hi @Ana.Bsky.Social!", {}),
        Case("client by email, in the content warning", ("public",), "minutes", {},
             cw="re ANA@EXAMPLE.ORG"),
        Case("client named to the clients list", ("clients",), "@Ana@Example.Social hello",
             clients),
        Case("a token scoped to friends", ("friends",), "from my phone #kids", friends,
             token="phone"),
        Case("held, then a deny arrives before approval", ("public", "friends"),
             "boarding now #holiday", {}),
        Case("scheduled, then denied by a later rule", ("public",), "dinner #food", {},
             later=True),
        Case("scheduled to friends, one removed from the list before it is sent", ("friends",),
             "see you all later", {"friends-mail": FRIENDS - {"friend2@example.org"}},
             later=True),
    ]
    for n, case in enumerate(cases, 1):
        case.marker = f"[m{n:03d}]"
    return cases


def platforms(pds: Any, *, feed: bool = True) -> list[Platform]:
    """The real sinks a corpus posts to: mail (with Ana Client on the clients list), a feed
    (unless ``feed`` is False), the Mastodon double and the reference PDS."""
    email = Email()
    email.people.append(NewPerson("Ana Client", [
        (IdentityKind.EMAIL, "ana@example.org"), (IdentityKind.MASTODON, "@ana@example.social"),
        (IdentityKind.BLUESKY, "ana.bsky.social")], ["clients"]))
    email.lists["clients-mail"] = set(CLIENTS)
    chosen: list[Platform] = [email, *([Feed()] if feed else []), Mastodon()]
    bluesky = Bluesky(pds)
    bluesky.merge_into(chosen)
    return [*chosen, bluesky]


@pytest.mark.timeout(360)
def test_the_audience_corpus_reaches_exactly_the_permitted_people(tmp_path: Path,
                                                                  pds: Any) -> None:
    require_services()
    under_test = platforms(pds)
    feed = next(p for p in under_test if isinstance(p, Feed))
    cases = corpus()
    with cluster(tmp_path, under_test, RULES, workers=1) as c, \
            httpx.Client(base_url=c.api, timeout=30) as client:
        tokens = {"main": c.token,
                  "phone": create_token(c.hub, "phone", ["post", "read"], ["friends"])[1],
                  "approver": create_token(c.hub, "approver", ["approve", "read"])[1]}
        revoked = feed.links.pop("Reader 1")
        revoke_feed_access(c.hub, "readers", "Reader 1")

        refused = client.post("/api/posts", json={"text": "phone to public", "audiences":
                                                  ["public"]}, headers=_auth(tokens["phone"]))
        assert refused.status_code == 403, refused.text
        held = next(case for case in cases if "held" in case.name)
        now = [case for case in cases if not case.later]
        for case in now:
            case.post_id = str(post(client, tokens[case.token], case.body(datetime.now(UTC)))
                               ["id"])
        _wait(client, c, now, lambda v: v["status"] != "publishing" and all(
            d["status"] in FINAL | {"held"} for d in v["deliveries"]))
        assert _view(client, c, held)["status"] == "awaiting approval"
        start = datetime.now(UTC)
        for case in cases:
            if case.later:
                case.post_id = str(post(client, tokens[case.token], case.body(start))["id"])
        change_lists(c.hub, "friends", remove=["Friend 2"])   # before the scheduled one is sent

        digest = c.reload_policy(c.policy_file.read_text() + LATER_RULES)
        _wait_worker_policy(c, digest)
        approved = client.post(f"/api/posts/{held.post_id}/approve",
                               headers=_auth(tokens["approver"]))
        assert approved.status_code == 200, approved.text
        _wait(client, c, cases, lambda v: all(d["status"] in FINAL for d in v["deliveries"]),
              timeout=SCHEDULE_IN + 90)

        assert_exactly_permitted(cases, c.platforms)
        gone = httpx.get(revoked, timeout=10)
        assert gone.status_code in (401, 403, 404, 410), gone.status_code
        assert all(case.marker not in gone.text for case in cases)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _view(client: httpx.Client, c: Cluster, case: Case) -> dict[str, Any]:
    return dict(client.get(f"/api/posts/{case.post_id}", headers=_auth(c.token)).json())


def _wait(client: httpx.Client, c: Cluster, cases: list[Case], done: Any, *,
          timeout: float = 60.0) -> None:
    """Poll the API until ``done(view)`` holds for every case's post."""
    deadline = time.monotonic() + timeout
    while True:
        views = {case.name: _view(client, c, case) for case in cases}
        waiting = {name: v["status"] for name, v in views.items() if not done(v)}
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"posts not settled: {waiting}; logs in {c.topology.log_dir}")
        time.sleep(0.3)


def _wait_worker_policy(c: Cluster, digest: str, timeout: float = 30.0) -> None:
    """Until every worker's log says it loaded ``digest`` (it follows the web's reload)."""
    deadline = time.monotonic() + timeout
    logs = sorted(c.topology.log_dir.glob("worker*.log"))
    assert logs, f"no worker logs in {c.topology.log_dir}"
    while not all(digest[:12] in log.read_text(errors="replace") for log in logs):
        if time.monotonic() > deadline:
            raise AssertionError(f"a worker did not load policy {digest[:12]}; see {logs}")
        time.sleep(0.2)
