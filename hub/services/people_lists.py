"""Lists as the owner sees them: the address book's own lists (kept by hand) beside the lists
the policy keeps by rule (``hub.policy.lists``), each with its current size, and for any list
why each member is in. Reads only; membership of a rule list changes with its rule and with
the relationships contact sync records, never by hand."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from hub.domain.model import PeopleSnapshot, PersonId
from hub.errors import NotFound, PolicyFileInvalid
from hub.policy import Policy
from hub.policy.lists import RuleList
from hub.runtime import Hub
from hub.store.tables import ListMemberRow, ListRow

__all__ = ["ListInfo", "Member", "current_people", "explain_list", "list_infos",
           "list_sizes", "members_now", "rule_list"]


@dataclass(frozen=True)
class ListInfo:
    """One list: its size now; for a rule list its rule and where the policy defines it."""

    name: str
    size: int
    rule: str = ""
    source: str = ""
    description: str = ""

    @property
    def kept_by_rule(self) -> bool:
        return bool(self.rule)


@dataclass(frozen=True)
class Member:
    """A member of a list and why they are in it."""

    person_id: str
    name: str
    identities: tuple[str, ...]
    why: tuple[str, ...]


def _policy(hub: Hub) -> Policy | None:
    try:
        return hub.policies.current
    except PolicyFileInvalid:   # a CLI hub that could not load the files: hand-kept lists only
        return None


def current_people(hub: Hub, s: Session) -> PeopleSnapshot:
    """The address book as routing sees it now, rule lists evaluated."""
    policy = _policy(hub)
    people = hub.people.snapshot(s)
    return policy.with_lists(people) if policy is not None else people


def members_now(hub: Hub, s: Session, name: str) -> frozenset[PersonId]:
    """Who is in ``name`` now: its members kept by hand, or whom its rule names."""
    return current_people(hub, s).lists.get(name, frozenset())


def rule_list(hub: Hub, name: str) -> RuleList | None:
    policy = _policy(hub)
    return policy.lists.get(name) if policy is not None else None


def list_infos(hub: Hub) -> list[ListInfo]:
    """Every list, hand-kept and rule-kept, by name."""
    policy = _policy(hub)
    with hub.db.read() as s:
        people = current_people(hub, s)
        stored = {r.name: r.description for r in s.exec(select(ListRow))}
    rules = policy.lists if policy is not None else {}
    out = [ListInfo(name, len(people.lists.get(name, ())), description=description)
           for name, description in stored.items() if name not in rules]
    out += [ListInfo(name, len(people.lists.get(name, ())), r.text, r.source, r.description)
            for name, r in rules.items()]
    return sorted(out, key=lambda i: i.name)


def list_sizes(hub: Hub) -> dict[str, int]:
    """Each list's current size (the compose preview shows them)."""
    return {i.name: i.size for i in list_infos(hub)}


def explain_list(hub: Hub, name: str, members: list[PersonId] | None = None) -> list[Member]:
    """Members of ``name`` (all, or those in ``members``, in that order) with why each is in:
    "added by hand on <date>", or the clauses of the rule that hold for them."""
    policy = _policy(hub)
    kept = policy.lists.get(name) if policy is not None else None
    with hub.db.read() as s:
        people = current_people(hub, s)
        if kept is None and s.get(ListRow, name) is None:
            raise NotFound(f"no list {name!r}")
        ids = members if members is not None else sorted_members(people, name)
        added = {} if kept is not None else dict(s.exec(
            select(ListMemberRow.person_id, ListMemberRow.added)
            .where(ListMemberRow.list_name == name,
                   col(ListMemberRow.person_id).in_(ids))).all())
    out = []
    for pid in ids:
        person = people.people.get(pid)
        if person is None:
            continue
        if kept is not None and policy is not None:
            why = tuple(policy.rule_lists.why(name, pid, people))
        else:
            when = added.get(pid)
            why = (f"added by hand{' on ' + when.date().isoformat() if when else ''}",)
        out.append(Member(pid, person.name,
                          tuple(f"{i.kind.value}:{i.value}" for i in person.identities), why))
    return out


def sorted_members(people: PeopleSnapshot, name: str) -> list[PersonId]:
    return [p.id for p in people.members(name)]
