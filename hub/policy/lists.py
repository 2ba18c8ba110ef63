"""Lists that keep themselves: a list defined in a policy file by a rule over the owner's
relationships on the networks and over other lists (``followers of mastodon:main``,
``friends and not clients``). Pure: the rule is parsed and checked at load, and evaluated
against a :class:`~hub.domain.model.PeopleSnapshot`, whose relationship facts come in as data.

Grammar (keywords in any case; ``and`` binds tighter than ``or``; parentheses group)::

    rule   := term ("or" term)*
    term   := factor ("and" factor)*
    factor := "not" factor | "(" rule ")" | clause
    clause := "followers of" WHERE | "follows me on" WHERE
            | "followed by" WHERE  | "i follow on" WHERE
            | "mutuals on" WHERE   | "mutual on" WHERE
            | "in no list" | "in" LIST | LIST
    WHERE  := <platform>:<name> | <platform> | "any network"

Never widen: every way into a rule list must name who is in (a relationship or a list);
``not`` only takes people out, so ``not clients`` alone is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from hub.domain.model import PeopleSnapshot, PersonId, Relationship

__all__ = ["ANY", "MAX_NESTING", "Clause", "Node", "RuleList", "RuleLists", "RuleSyntaxError",
           "RuleTooDeep", "parse_rule"]

ANY = "*"
_TOKEN = re.compile(r"\(|\)|[^\s()]+")


class RuleSyntaxError(ValueError):
    """A rule that cannot be read; the message says what was expected where."""


class RuleTooDeep(RuleSyntaxError):
    """A rule nested more than ``MAX_NESTING`` levels (parentheses and 'not's inside one
    another): refused before the parser, which recurses once per level, runs out of stack."""


MAX_NESTING = 20


class Side(StrEnum):
    FOLLOWS_ME = "follows-me"
    I_FOLLOW = "i-follow"
    MUTUAL = "mutual"


@dataclass(frozen=True)
class Clause:
    """One leaf of a rule: a relationship (``side`` and ``where``), a list, or no list."""

    text: str                       # as the owner wrote it, for explanations
    side: Side | None = None        # a relationship clause
    where: str = ""                 # account, platform, or ANY
    list_name: str = ""             # a list clause
    no_list: bool = False           # "in no list"


@dataclass(frozen=True)
class Node:
    """``op`` is "clause", "not", "and" or "or"."""

    op: str
    parts: tuple[Node, ...] = ()
    clause: Clause | None = None

    def clauses(self) -> list[Clause]:
        if self.clause is not None:
            return [self.clause]
        return [c for p in self.parts for c in p.clauses()]

    def names_someone(self) -> bool:
        """True when every way into the rule passes through a relationship or a list that is
        not negated. ``in no list`` is not one: it names people by what they are not in, and
        alone it would reach most of the address book."""
        if self.op == "clause":
            return self.clause is not None and not self.clause.no_list
        if self.op == "not":
            return False
        if self.op == "and":
            return any(p.names_someone() for p in self.parts)
        return all(p.names_someone() for p in self.parts)

    def words(self) -> str:
        if self.clause is not None:
            return self.clause.text
        if self.op == "not":
            return f"not {self.parts[0]._grouped()}"
        return f" {self.op} ".join(p._grouped() for p in self.parts)

    def _grouped(self) -> str:
        return f"({self.words()})" if self.op in ("and", "or") else self.words()


@dataclass(frozen=True)
class RuleList:
    """A list defined by a rule in a policy file; ``source`` is "file:line"."""

    name: str
    rule: Node
    text: str
    source: str = ""
    description: str = ""

    def lists_named(self) -> list[str]:
        return [c.list_name for c in self.rule.clauses() if c.list_name]


def parse_rule(text: str) -> Node:
    """Parse a rule; raise RuleSyntaxError saying what was expected."""
    tokens = _TOKEN.findall(text)
    if not tokens:
        raise RuleSyntaxError("the rule is empty: write e.g. 'followers of mastodon:main'")
    parser = _Parser(tokens)
    node = parser.rule()
    if parser.pos < len(tokens):
        raise RuleSyntaxError(f"unexpected {tokens[parser.pos]!r} after "
                              f"{' '.join(tokens[:parser.pos])!r}: join clauses with 'and' "
                              "or 'or'")
    return node


_SIDES = {("followers", "of"): Side.FOLLOWS_ME, ("follows", "me", "on"): Side.FOLLOWS_ME,
          ("followed", "by"): Side.I_FOLLOW, ("i", "follow", "on"): Side.I_FOLLOW,
          ("mutuals", "on"): Side.MUTUAL, ("mutual", "on"): Side.MUTUAL}
_KEYWORDS = {"and", "or", "not", "in", "(", ")"}


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.pos, self.depth = tokens, 0, 0

    def _peek(self, n: int = 0) -> str:
        i = self.pos + n
        return self.tokens[i].lower() if i < len(self.tokens) else ""

    def rule(self) -> Node:
        parts = [self.term()]
        while self._peek() == "or":
            self.pos += 1
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else Node("or", tuple(parts))

    def term(self) -> Node:
        parts = [self.factor()]
        while self._peek() == "and":
            self.pos += 1
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else Node("and", tuple(parts))

    def factor(self) -> Node:
        word = self._peek()
        if word in ("not", "("):
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise RuleTooDeep(f"the rule nests more than {MAX_NESTING} levels deep "
                                  "(parentheses and 'not's inside one another): write it "
                                  "flatter, or split it into lists that name each other")
            try:
                return self._negated() if word == "not" else self._group()
            finally:
                self.depth -= 1
        return Node("clause", clause=self.clause())

    def _negated(self) -> Node:
        self.pos += 1
        return Node("not", (self.factor(),))

    def _group(self) -> Node:
        self.pos += 1
        inner = self.rule()
        if self._peek() != ")":
            raise RuleSyntaxError("a '(' is not closed: add ')'")
        self.pos += 1
        return inner

    def clause(self) -> Clause:
        start = self.pos
        for words, side in _SIDES.items():
            if tuple(self._peek(i) for i in range(len(words))) == words:
                self.pos += len(words)
                where = self._where(" ".join(words))
                return Clause(" ".join(self.tokens[start:self.pos]), side=side, where=where)
        if (self._peek(), self._peek(1), self._peek(2)) == ("in", "no", "list"):
            self.pos += 3
            return Clause("in no list", no_list=True)
        if self._peek() == "in":
            self.pos += 1
        name = self._peek()
        if not name or name in _KEYWORDS:
            got = f"{self.tokens[self.pos]!r}" if name else "the end of the rule"
            raise RuleSyntaxError(
                f"expected a list name or a relationship ('followers of ACCOUNT', 'followed "
                f"by ACCOUNT', 'mutuals on ACCOUNT', 'in no list'), got {got}")
        if ":" in name:
            raise RuleSyntaxError(f"{self.tokens[self.pos]!r} looks like an account: write "
                                  f"'followers of {self.tokens[self.pos]}', 'followed by …' "
                                  "or 'mutuals on …'")
        self.pos += 1
        return Clause(" ".join(self.tokens[start:self.pos]), list_name=name)

    def _where(self, said: str) -> str:
        if (self._peek(), self._peek(1)) == ("any", "network"):
            self.pos += 2
            return ANY
        word = self.tokens[self.pos] if self.pos < len(self.tokens) else ""
        if not word or word.lower() in _KEYWORDS:
            raise RuleSyntaxError(f"'{said}' needs an account ('mastodon:main'), a network "
                                  "('bluesky') or 'any network' after it")
        self.pos += 1
        return word


# -- evaluation ------------------------------------------------------------------------------

@dataclass
class _Context:
    people: PeopleSnapshot
    rules: Mapping[str, RuleList]
    resolved: dict[str, frozenset[PersonId]] = field(default_factory=dict)
    related: dict[tuple[Side, str], frozenset[PersonId]] = field(default_factory=dict)

    @property
    def everyone(self) -> frozenset[PersonId]:
        return frozenset(self.people.people)


def _matches(r: Relationship, side: Side, where: str) -> bool:
    if where != ANY and r.account != where and r.account.split(":", 1)[0] != where:
        return False
    if side is Side.FOLLOWS_ME:
        return r.follows_me
    if side is Side.I_FOLLOW:
        return r.i_follow
    return r.follows_me and r.i_follow


class RuleLists:
    """The policy's rule lists, evaluated against a snapshot (the last result is kept: a
    snapshot is shared by every post until the address book changes)."""

    def __init__(self, lists: Mapping[str, RuleList], digest: str) -> None:
        self.lists, self.digest = lists, digest
        self._last: tuple[PeopleSnapshot | None, PeopleSnapshot | None] = (None, None)

    def resolve(self, people: PeopleSnapshot) -> PeopleSnapshot:
        """``people`` with every rule list's members under ``lists`` (a static list of the
        same name is replaced: the rule decides). The same object when there are none."""
        if not self.lists or people.rule_lists_of == self.digest:
            return people
        seen, result = self._last
        if seen is people and result is not None:
            return result
        ctx = _Context(people, self.lists)
        members = {name: self._members(name, ctx) for name in self.lists}
        result = replace(people, lists={**people.lists, **members},
                         rule_lists=frozenset(self.lists), rule_lists_of=self.digest)
        self._last = (people, result)
        return result

    def _members(self, name: str, ctx: _Context) -> frozenset[PersonId]:
        found = ctx.resolved.get(name)
        if found is None:
            ctx.resolved[name] = frozenset()   # a cycle (refused at load) reaches nobody
            found = ctx.resolved[name] = self._eval(self.lists[name].rule, ctx)
        return found

    def _eval(self, node: Node, ctx: _Context) -> frozenset[PersonId]:
        if node.op == "not":
            return ctx.everyone - self._eval(node.parts[0], ctx)
        if node.op == "and":
            out = self._eval(node.parts[0], ctx)
            for part in node.parts[1:]:
                out &= self._eval(part, ctx)
            return out
        if node.op == "or":
            return frozenset().union(*(self._eval(p, ctx) for p in node.parts))
        clause = node.clause
        assert clause is not None
        if clause.side is not None:
            key = (clause.side, clause.where)
            if key not in ctx.related:
                ctx.related[key] = frozenset(
                    pid for pid, rels in ctx.people.relationships.items()
                    if pid in ctx.people.people
                    and any(_matches(r, clause.side, clause.where) for r in rels))
            return ctx.related[key]
        if clause.no_list:
            static = frozenset().union(*(m for n, m in ctx.people.lists.items()
                                         if n not in self.lists))
            return ctx.everyone - static
        if clause.list_name in self.lists:
            return self._members(clause.list_name, ctx)
        return ctx.people.lists.get(clause.list_name, frozenset())

    def why(self, name: str, person: PersonId, people: PeopleSnapshot) -> list[str]:
        """Why ``person`` is in rule list ``name``: the clauses that put them there, e.g.
        ["follows mastodon:main since 2026-11-02", "not in clients"] (empty: not a member)."""
        resolved = self.resolve(people)
        if person not in resolved.lists.get(name, frozenset()):
            return []
        return self._why(self.lists[name].rule, person, resolved, negated=False) or []

    def _why(self, node: Node, person: PersonId, people: PeopleSnapshot, *,
             negated: bool) -> list[str] | None:
        """The reasons ``node`` holds (or, ``negated``, fails) for ``person``; None if not."""
        if node.op == "not":
            return self._why(node.parts[0], person, people, negated=not negated)
        if node.op in ("and", "or"):
            every = (node.op == "and") != negated
            found: list[str] = []
            for part in node.parts:
                reasons = self._why(part, person, people, negated=negated)
                if reasons is None and every:
                    return None
                if reasons is not None:
                    if not every:
                        return reasons
                    found += reasons
            return found if every else None
        clause = node.clause
        assert clause is not None
        holds, words = _clause_holds(clause, person, people, self.lists)
        if holds == negated:
            return None
        if not negated:
            return [words]
        return [f"not in {clause.list_name}" if clause.list_name
                else "in a list" if clause.no_list else f"not {clause.text}"]


def _clause_holds(clause: Clause, person: PersonId, people: PeopleSnapshot,
                  rules: Mapping[str, RuleList]) -> tuple[bool, str]:
    if clause.side is not None:
        side, where = clause.side, clause.where
        for r in people.relationships.get(person, ()):
            if _matches(r, side, where):
                since = r.follows_me_since if side is Side.FOLLOWS_ME else r.i_follow_since
                if side is Side.MUTUAL and r.follows_me_since and r.i_follow_since:
                    since = max(r.follows_me_since, r.i_follow_since)
                verb = {Side.FOLLOWS_ME: "follows", Side.I_FOLLOW: "followed by",
                        Side.MUTUAL: "mutual on"}[side]
                when = f" since {since.date().isoformat()}" if since else ""
                return True, f"{verb} {r.account}{when} ({clause.text})"
        return False, clause.text
    if clause.no_list:
        static = any(person in m for n, m in people.lists.items() if n not in rules)
        return not static, "in no list"
    inside = person in people.lists.get(clause.list_name, frozenset())
    return inside, f"in {clause.list_name}"
