"""The load-time checks of rule lists (:mod:`hub.policy.lists`): every account, network and
list they name exists, each says who is in (never widen), none reaches itself."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from hub.policy.documents import did_you_mean
from hub.policy.lists import ANY, RuleList

__all__ = ["check_rule_lists"]


def check_rule_lists(lists: Mapping[str, RuleList], *, accounts: Collection[str],
                     platforms: Collection[str], static_lists: Collection[str] | None,
                     fail: Callable[[str, str], Exception]) -> None:
    """Refuse a rule list that names an unknown account, network or list, that is defined by
    a rule that names nobody, that reaches itself, or that takes an address-book list's name.
    ``fail(list_name, reason)`` builds the error (it knows the file and line)."""
    for name, rule_list in lists.items():
        if static_lists is not None and name in static_lists:
            raise fail(name, f"list {name!r} already exists in the address book (kept by "
                             "hand); give the rule list another name, or empty that list "
                             "and remove it first")
        if not rule_list.rule.names_someone():
            raise fail(name, f"list {name!r}: the rule {rule_list.text!r} does not say who is "
                             "in ('not' and 'in no list' only take people out, so it would "
                             "reach everyone in the address book); write e.g. 'friends and not "
                             "clients' or 'follows me on any network and in no list'")
        for clause in rule_list.rule.clauses():
            if clause.side is not None and clause.where != ANY:
                if ":" in clause.where and clause.where not in accounts:
                    raise fail(name, f"list {name!r} names account {clause.where!r}, which is "
                                     f"not declared under 'accounts'"
                                     f"{did_you_mean(clause.where, list(accounts))}")
                if ":" not in clause.where and clause.where not in platforms:
                    hint = did_you_mean(clause.where, list(platforms))
                    known = ", ".join(sorted(platforms))
                    raise fail(name, f"list {name!r} names network {clause.where!r}, which "
                                     f"is not a platform{hint}; known: {known}, or "
                                     "'any network'")
            if clause.list_name and clause.list_name not in lists and static_lists is not None \
                    and clause.list_name not in static_lists:
                names = [*lists, *static_lists]
                raise fail(name, f"list {name!r} names list {clause.list_name!r}, which is "
                                 f"neither a rule list nor in the address book"
                                 f"{did_you_mean(clause.list_name, names)}; create it first "
                                 f"(`hub lists add {clause.list_name} PERSON`, or on the "
                                 "Lists page)")
    for name in lists:
        path = _cycle(name, lists, [])
        if path:
            raise fail(name, f"list {name!r} depends on itself: {' → '.join(path)}")


def _cycle(name: str, lists: Mapping[str, RuleList], path: list[str]) -> list[str]:
    if name in path:
        return [*path, name] if path[0] == name else []
    if name not in lists:
        return []
    for child in dict.fromkeys(lists[name].lists_named()):
        found = _cycle(child, lists, [*path, name])
        if found:
            return found
    return []
