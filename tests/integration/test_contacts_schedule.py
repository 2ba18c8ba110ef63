"""When ``hub serve`` syncs contacts by itself (``contacts_sync_hours``): a never-synced
account at once, then every N hours; a run paused by a rate limit once the limit resets; a run
whose process died (no progress for ten minutes) resumed; one account never synced twice at
once. The readers are fakes behind the ContactReader port."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from hub.domain.model import IdentityKind
from hub.errors import Conflict, NotFound
from hub.ports import Contact, ContactDirection, ContactPage
from hub.services.accounts import connect_account
from hub.services.contacts import relationships, sync_states
from hub.services.contacts_schedule import ContactSync
from tests.conftest import Clock

pytestmark = pytest.mark.integration


class GatedReader:
    """Two followers, one page each; each page waits for ``gate`` when one is given."""

    platform = "mastodon"

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.gate = gate
        self.calls = 0

    async def page(self, direction: ContactDirection, cursor: str | None) -> ContactPage:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if direction is ContactDirection.FOLLOWING:
            return ContactPage((), None)
        who = "@a@x.social" if cursor is None else "@b@x.social"
        return ContactPage((Contact(IdentityKind.MASTODON, who, who),),
                           "2" if cursor is None else None)

    async def aclose(self) -> None:
        return None


async def _fake_connect(settings: Any, secret: str) -> tuple[dict[str, Any], str]:
    return dict(settings), secret


async def _hub(make_hub: Any, database_url: str, clock: Clock, hours: float) -> Any:
    hub = make_hub(database_url, clock=clock, contacts_sync_hours=hours)
    await connect_account(hub, "mastodon:main", {}, "token", _fake_connect)
    await connect_account(hub, "email:personal", {}, "pw", _fake_connect)   # no contacts
    return hub


async def test_the_schedule_syncs_new_accounts_then_every_n_hours(database_url, make_hub):
    clock = Clock()
    hub = await _hub(make_hub, database_url, clock, 6)
    readers: list[GatedReader] = []
    sync = ContactSync(hub, lambda h, a: readers.append(GatedReader()) or readers[-1],
                       ["mastodon"])
    assert sync.tick() == ["mastodon:main"]          # never synced, and email has no reader
    await sync.wait()
    assert len(relationships(hub, "mastodon:main")) == 2
    assert sync.tick() == []
    clock.advance(5 * 3600)
    assert sync.tick() == []
    clock.advance(3600)
    assert sync.tick() == ["mastodon:main"]
    await sync.wait()
    assert len(readers) == 2


async def test_on_demand_only_when_the_setting_is_zero_and_never_twice_at_once(
        database_url, make_hub):
    clock = Clock()
    hub = await _hub(make_hub, database_url, clock, 0)
    gate = asyncio.Event()
    sync = ContactSync(hub, lambda h, a: GatedReader(gate), ["mastodon"])
    assert sync.tick() == []
    with pytest.raises(NotFound, match="no connected account 'email:personal'"):
        sync.start("email:personal")
    assert sync.start("mastodon:main") == ["mastodon:main"]
    with pytest.raises(Conflict, match="already syncing"):
        sync.start("mastodon:main")
    assert sync.start() == []
    gate.set()
    await sync.wait()
    assert [s.status for s in sync_states(hub)] == ["done", "done"]


async def test_a_paused_run_waits_for_its_reset_and_a_dead_one_is_resumed(
        database_url, make_hub):
    from hub.services.contacts import _stop

    clock = Clock()
    hub = await _hub(make_hub, database_url, clock, 24)
    sync = ContactSync(hub, lambda h, a: GatedReader(), ["mastodon"])
    _stop(hub, "mastodon:main", ContactDirection.FOLLOWERS, "paused",
          clock() + timedelta(minutes=30))
    assert sync.tick() == []
    clock.advance(31 * 60)
    assert sync.tick() == ["mastodon:main"]
    await sync.wait()
    assert {s.status for s in sync_states(hub)} == {"done"}

    _stop(hub, "mastodon:main", ContactDirection.FOLLOWERS, "running")   # then the process died
    clock.advance(9 * 60)
    assert sync.tick() == []               # it may still be alive
    clock.advance(2 * 60)
    assert sync.tick() == ["mastodon:main"]
    await sync.wait()
    assert {s.status for s in sync_states(hub)} == {"done"}
