"""People to sort: identities that contact sync saw and nobody holds land in an inbox with
suggestions; accepting files them through the audited address-book services."""

from __future__ import annotations

import pytest

from hub.domain.model import IdentityKind
from hub.ports import Contact, ContactDirection, ContactPage
from hub.services.contacts import sync_account
from hub.services.contacts_inbox import accept, inbox
from hub.services.people import NewPerson, add_person, list_people

pytestmark = pytest.mark.integration


class ListReader:
    """A ContactReader (the port) over fixed lists: one page per direction."""

    platform = "bluesky"

    def __init__(self, followers: list[Contact], following: list[Contact]) -> None:
        self.lists = {ContactDirection.FOLLOWERS: followers,
                      ContactDirection.FOLLOWING: following}

    async def page(self, direction: ContactDirection, cursor: str | None) -> ContactPage:
        return ContactPage(tuple(self.lists[direction]), None)

    async def aclose(self) -> None:
        return None


def _c(address: str, name: str = "") -> Contact:
    return Contact(IdentityKind.BLUESKY, address, address, name)


async def test_unsorted_identities_get_suggestions_and_accepting_files_them(
        database_url, make_hub):
    hub = make_hub(database_url)
    add_person(hub, NewPerson("Ana Lima", [("email", "ana@lima.example")]))
    add_person(hub, NewPerson("Bo", [("bluesky", "bo.bsky.social")]))
    reader = ListReader([_c("ana.lima.example", "Someone"), _c("bo.bsky.social", "Bo"),
                         _c("cy.bsky.social", "Ana Lima")], [_c("cy.bsky.social")])
    await sync_account(hub, "bluesky:me", reader)
    box = {u.address: u for u in inbox(hub)}
    assert set(box) == {"ana.lima.example", "cy.bsky.social"}      # Bo is already filed
    [by_domain] = box["ana.lima.example"].suggestions
    assert by_domain.name == "Ana Lima" and "email domain" in by_domain.reason
    [by_name] = box["cy.bsky.social"].suggestions
    assert by_name.name == "Ana Lima" and "same name" in by_name.reason
    assert box["cy.bsky.social"].relations == ("bluesky:me: mutual",)

    accept(hub, "bluesky", "ana.lima.example", person="Ana Lima")
    accept(hub, "bluesky", "cy.bsky.social", name="Cy")
    assert inbox(hub) == []
    people = {p.name: sorted(i.value for i in ids) for p, ids, _ in list_people(hub)}
    assert people["Ana Lima"] == ["ana.lima.example", "ana@lima.example"]
    assert people["Cy"] == ["cy.bsky.social"]
    with hub.db.read() as s:
        changes = [(r.subject, r.payload.get("change")) for r in hub.audit.events(s)
                   if r.name == "PersonChanged"]
    ana = next(p.id for p, _, _ in list_people(hub) if p.name == "Ana Lima")
    assert (ana, "identity-added") in changes
    assert sum(change == "added" for _, change in changes) == 3      # Ana, Bo, then Cy
