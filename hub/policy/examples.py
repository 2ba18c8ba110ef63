"""The owner's example cases (``policies/tests/*.yaml``): posts with expected outcomes per
target, run against the policy by ``hub policy test`` like unit tests for their privacy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from hub.domain.model import (
    Decision,
    Identity,
    IdentityKind,
    Media,
    Outcome,
    PeopleSnapshot,
    Person,
    PersonId,
    Post,
    PostId,
    Routing,
)
from hub.errors import PolicyFileInvalid, UnknownAudience
from hub.policy.documents import read_document
from hub.policy.engine import Policy, route

_FROZEN = ConfigDict(extra="forbid", frozen=True)
_PLACEHOLDER_TIME = datetime(2000, 1, 1, tzinfo=UTC)   # replaced by ``at`` or ``now`` when run


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, str) else value


def _identity(value: str) -> str:
    kind, _, rest = value.partition(":")
    if kind not in {k.value for k in IdentityKind} or not rest.strip():
        raise ValueError(f"{value!r} is not an identity: write 'email:ana@example.org', "
                         "'mastodon:@ana@example.social' or 'bluesky:ana.bsky.social'")
    return value


def _outcome_or_detail(value: object) -> object:
    return {"outcome": value} if isinstance(value, str) else value


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value


Many = Annotated[tuple[str, ...], BeforeValidator(_one_or_many)]


class _MediaModel(BaseModel):
    model_config = _FROZEN
    alt: str = ""
    mime_type: str = "image/jpeg"


class _PostModel(BaseModel):
    model_config = _FROZEN
    text: str = ""
    audiences: Annotated[tuple[str, ...], BeforeValidator(_one_or_many), Field(min_length=1)]
    tags: Many = ()
    content_warning: str | None = None
    language: str | None = None
    media: tuple[_MediaModel, ...] = ()
    author: str = "owner"


class _ExpectModel(BaseModel):
    model_config = _FROZEN
    outcome: Outcome
    rule: str | None = None


class _CaseModel(BaseModel):
    model_config = _FROZEN
    name: Annotated[str, Field(min_length=1)]
    post: _PostModel
    expect: dict[str, Annotated[_ExpectModel, BeforeValidator(_outcome_or_detail)]] = Field(
        default_factory=dict)
    otherwise: Outcome | None = None
    at: Annotated[datetime | None, AfterValidator(_aware)] = None
    recheck: bool = False


class _PersonModel(BaseModel):
    model_config = _FROZEN
    name: Annotated[str, Field(min_length=1)]
    identities: Annotated[tuple[Annotated[str, AfterValidator(_identity)], ...],
                          BeforeValidator(_one_or_many)] = ()
    lists: Many = ()


class _ExampleFileModel(BaseModel):
    model_config = _FROZEN
    people: tuple[_PersonModel, ...] = ()
    cases: Annotated[tuple[_CaseModel, ...], Field(min_length=1)]


@dataclass(frozen=True)
class Expectation:
    """One expected outcome, optionally with the rule id that must be among the deciders."""

    target: str
    outcome: Outcome
    rule: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Example:
    """One case: a post, the people it may mention, and what each target should do."""

    name: str
    file: str
    line: int | None
    post: Post
    people: PeopleSnapshot
    expect: tuple[Expectation, ...]
    otherwise: Outcome | None = None     # expected outcome for every target not in ``expect``
    at: datetime | None = None           # evaluation time; ``now`` of the run when unset
    recheck: bool = False


@dataclass(frozen=True)
class ExampleResult:
    """One expectation checked. ``message`` names the case, target, outcome and rules (and, for
    a failure, its file:line, what was expected and the reasons); it has no PASS/FAIL prefix."""

    example: str
    file: str
    line: int | None
    target: str
    expected: Outcome
    got: Outcome | None
    rule_ids: tuple[str, ...]
    passed: bool
    message: str


def load_examples(directory: Path) -> list[Example]:
    """Every case of every ``*.yaml`` / ``*.yml`` in ``directory`` (none if it is missing).
    Raises ``PolicyFileInvalid`` with file and line for a malformed case file."""
    if not directory.is_dir():
        return []
    base = f"{directory.resolve().parent.name}/{directory.name}"
    examples: list[Example] = []
    for path in sorted(p for p in directory.iterdir()
                       if p.suffix in {".yaml", ".yml"} and not p.name.startswith(".")
                       and p.is_file()):
        doc = read_document(path, f"{base}/{path.name}")
        if doc.data is None:
            raise PolicyFileInvalid(doc.file, None, "the file is empty; add 'cases:'")
        if not isinstance(doc.data, dict):
            raise doc.invalid((), "an example file is a mapping with 'people' and 'cases'")
        model = doc.validate(_ExampleFileModel)
        people = _people(model.people)
        for i, case in enumerate(model.cases):
            if not case.expect and case.otherwise is None:
                raise doc.invalid(("cases", i), f"case {case.name!r} expects nothing: add "
                                                "'expect:' (and/or 'otherwise:')")
            post = Post(id=PostId(f"example-{i + 1}"), text=case.post.text,
                        audiences=case.post.audiences, created=_PLACEHOLDER_TIME,
                        tags=case.post.tags, content_warning=case.post.content_warning,
                        language=case.post.language, author=case.post.author,
                        media=tuple(Media(sha256=f"example-{j}", mime_type=m.mime_type, alt=m.alt)
                                    for j, m in enumerate(case.post.media)))
            expect = tuple(
                Expectation(target, e.outcome, e.rule, doc.line_at(("cases", i, "expect", target)))
                for target, e in case.expect.items())
            examples.append(Example(case.name, doc.file, doc.line_at(("cases", i)), post,
                                    people, expect, case.otherwise, case.at, case.recheck))
    return examples


def _people(models: Sequence[_PersonModel]) -> PeopleSnapshot:
    people: dict[PersonId, Person] = {}
    lists: dict[str, set[PersonId]] = {}
    for i, model in enumerate(models):
        person_id = PersonId(f"example-person-{i + 1}")
        identities = tuple(Identity(IdentityKind(kind), value)
                           for kind, _, value in (s.partition(":") for s in model.identities))
        people[person_id] = Person(person_id, model.name, identities)
        for list_name in model.lists:
            lists.setdefault(list_name, set()).add(person_id)
    return PeopleSnapshot(people, {name: frozenset(ids) for name, ids in lists.items()})


def run_examples(policy: Policy, examples: Sequence[Example], now: datetime
                 ) -> list[ExampleResult]:
    """Route each example's post and compare every expectation with the decision."""
    results: list[ExampleResult] = []
    for example in examples:
        when = example.at or now
        try:
            routing: Routing | None = route(replace(example.post, created=when), policy,
                                            example.people, when, recheck=example.recheck)
            problem = ""
        except UnknownAudience as exc:
            routing, problem = None, exc.message
        decisions = {d.target.name: d for d in routing.decisions} if routing else {}
        expectations = list(example.expect)
        if example.otherwise is not None:
            named = {e.target for e in expectations}
            expectations += [Expectation(name, example.otherwise, None, example.line)
                             for name in policy.targets if name not in named]
        for expectation in expectations:
            results.append(_check(example, expectation, decisions.get(expectation.target),
                                  problem or (None if expectation.target in policy.targets else
                                              f"the policy has no target {expectation.target!r}")))
    return results


def _check(example: Example, expectation: Expectation, decision: Decision | None,
           problem: str | None) -> ExampleResult:
    where = f"{example.file}:{expectation.line or example.line}"
    wanted = expectation.outcome + (f" by {expectation.rule}" if expectation.rule else "")
    if problem or decision is None:
        return ExampleResult(example.name, example.file, expectation.line, expectation.target,
                             expectation.outcome, None, (), False,
                             f"{where} {example.name}: {expectation.target}: expected "
                             f"{wanted}, but {problem}")
    passed = decision.outcome == expectation.outcome and (
        expectation.rule is None or expectation.rule in decision.rule_ids)
    rules = ", ".join(decision.rule_ids)
    if passed:
        message = f"{example.name}: {expectation.target} {decision.outcome} [{rules}]"
    else:
        message = (f"{where} {example.name}: {expectation.target}: expected {wanted}, "
                   f"got {decision.outcome} by [{rules}]: {' '.join(decision.reasons)}")
    return ExampleResult(example.name, example.file, expectation.line, expectation.target,
                         expectation.outcome, decision.outcome, decision.rule_ids, passed,
                         message)
