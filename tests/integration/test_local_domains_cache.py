"""The Mastodon accounts' domains (a bare ``@user`` there is ``user@domain``) are read again
only when an account changed — a counter the database bumps in the writer's transaction — and
every change, from this process or another, is seen by the very next post."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from hub.services.people import NewPerson, add_person
from hub.services.posts import PostInput
from hub.services.preview import preview_post
from hub.store.tables import AccountRow

pytestmark = pytest.mark.integration

POLICY = """\
version: 1
accounts: [mastodon:main]
targets:
  masto: {account: mastodon:main, visibility: public}
audiences:
  public: {reach: world, targets: [masto]}
rules:
  - id: review-client-mentions
    hold: {mentions_member_of: [clients]}
"""
ACCOUNTS = re.compile(r"\bFROM\s+\"?account\b", re.I)


def _outcome(hub) -> str:
    [target] = preview_post(hub, PostInput(text="thanks @ana", audiences=["public"])).targets
    return target.outcome


def _set_domain(hub, domain: str | None) -> None:
    with hub.db.transaction() as s:
        row = s.get(AccountRow, "mastodon:main")
        if domain is None:
            s.delete(row)
            return
        if row is None:
            row = AccountRow(name="mastodon:main", platform="mastodon", settings={},
                             updated=datetime.now(UTC))
        row.settings = {"instance": f"https://{domain}", "domain": domain}
        s.add(row)


def test_an_account_change_is_seen_by_the_next_post_and_nothing_else_reads_accounts(
        database_url, make_hub, policy_dir):
    (policy_dir / "hub.yaml").write_text(POLICY)
    hub = make_hub(database_url)
    other = make_hub(database_url)     # another process (CLI, a worker) changes the accounts
    add_person(hub, NewPerson("Ana", [("mastodon", "@ana@example.social")], ["clients"]))
    seen: list[str] = []
    event.listen(hub.db.engine, "before_cursor_execute",
                 lambda conn, cur, statement, *a: seen.append(statement))

    assert _outcome(hub) == "hold"          # no account: @ana may be ana@example.social
    assert [s for s in seen if ACCOUNTS.search(s)] != []
    seen.clear()
    assert _outcome(hub) == "hold"
    assert [s for s in seen if ACCOUNTS.search(s)] == []   # unchanged: not read again

    _set_domain(other, "other.social")
    assert _outcome(hub) == "allow"         # @ana there is ana@other.social
    _set_domain(other, "example.social")
    assert _outcome(hub) == "hold"
    _set_domain(other, "other.social")
    assert _outcome(hub) == "allow"
    _set_domain(other, None)
    assert _outcome(hub) == "hold"
