"""The shipped example policy and its example cases, and how case files are read and judged."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters import TARGET_SPECS
from hub.domain.model import IdentityKind, Outcome
from hub.errors import PolicyFileInvalid
from hub.policy import Policy, load_examples, load_policy, run_examples

POLICIES = Path(__file__).resolve().parents[2] / "policies"
NOW = datetime(2025, 3, 4, 11, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(POLICIES, TARGET_SPECS)


def cases_file(tmp_path: Path, text: str) -> Path:
    directory = tmp_path / "policies" / "tests"
    directory.mkdir(parents=True)
    (directory / "cases.yaml").write_text(text, encoding="utf-8")
    return directory


def test_the_example_policy_loads_cleanly(policy: Policy) -> None:
    assert policy.files == ("policies/hub.yaml",)
    assert policy.warnings == ()
    assert set(policy.audiences) == {"public", "professional", "friends", "clients", "family"}
    assert policy.accounts == ("email:personal", "feed:site", "bluesky:me", "mastodon:main")
    assert policy.lists_used() == ("clients", "family", "friends")


def test_every_shipped_example_case_passes(policy: Policy) -> None:
    examples = load_examples(POLICIES / "tests")
    results = run_examples(policy, examples, NOW)
    assert len(examples) >= 15 and len(results) >= 60
    failures = [r.message for r in results if not r.passed]
    assert failures == []
    outcomes = {r.got for r in results}
    assert outcomes == {Outcome.ALLOW, Outcome.DENY, Outcome.HOLD}


CASES = """\
people:
  - {name: Ana, identities: ["email:ana@example.org", "mastodon:@ana@example.social"],
     lists: [clients, friends]}
cases:
  - name: friends only
    post: {text: "dinner?", audiences: [friends]}
    expect: {friends-mail: allow, bsky: deny}
  - name: wrong on purpose
    post: {text: "dinner?", audiences: [friends]}
    expect:
      friends-mail: deny
      bsky: {outcome: deny, rule: private-stays-home}
  - name: mention of a client in public
    post: {text: "hi @ana@example.social", audiences: [public]}
    at: 2025-03-04T12:00:00Z
    expect: {bsky: hold, masto-public: hold}
    otherwise: deny
  - name: typo in a target and an audience
    post: {text: "x", audiences: [friendz]}
    expect: {friends-mail: allow}
  - name: rechecked with a removed audience
    post: {text: "x", audiences: [friends, friendz]}
    recheck: true
    expect: {friends-mail: allow, nonexistent: deny}
  - name: late at night
    post: {text: "x", audiences: [public]}
    at: 2025-03-04T23:30:00+01:00
    expect: {masto-public: {outcome: hold, rule: sleep-on-it}}
"""


def test_cases_are_read_with_people_times_and_lines(tmp_path: Path) -> None:
    examples = load_examples(cases_file(tmp_path, CASES))
    assert [(e.name, e.file, e.line) for e in examples[:3]] == [
        ("friends only", "policies/tests/cases.yaml", 5),
        ("wrong on purpose", "policies/tests/cases.yaml", 8),
        ("mention of a client in public", "policies/tests/cases.yaml", 13)]
    (ana,) = examples[0].people.people.values()
    assert [(i.kind, i.value) for i in ana.identities] == [
        (IdentityKind.EMAIL, "ana@example.org"), (IdentityKind.MASTODON, "@ana@example.social")]
    assert examples[0].people.members("clients") == (ana,)
    assert examples[1].expect[1].rule == "private-stays-home" and examples[1].expect[1].line == 12
    assert examples[2].at == datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
    assert examples[2].otherwise is Outcome.DENY


def test_results_name_target_expected_got_and_rule(tmp_path: Path, policy: Policy) -> None:
    results = run_examples(policy, load_examples(cases_file(tmp_path, CASES)), NOW)
    by_case: dict[str, list[tuple[str, bool]]] = {}
    for r in results:
        by_case.setdefault(r.example, []).append((r.target, r.passed))
    assert by_case["friends only"] == [("friends-mail", True), ("bsky", True)]
    assert by_case["wrong on purpose"] == [("friends-mail", False), ("bsky", False)]
    wrong = [r for r in results if r.example == "wrong on purpose"]
    assert wrong[0].message == (
        "policies/tests/cases.yaml:11 wrong on purpose: friends-mail: expected deny, got "
        "allow by [audience:friends]: This post asked for audience friends, which includes "
        "friends-mail.")
    assert (wrong[1].got, wrong[1].rule_ids) == (Outcome.DENY, ("default-deny",))
    assert "expected deny by private-stays-home, got deny by [default-deny]" in wrong[1].message
    mention = [r for r in results if r.example == "mention of a client in public"]
    assert mention[0].passed and mention[0].got is Outcome.HOLD
    assert mention[0].message == ("mention of a client in public: bsky hold "
                                  "[review-client-mentions]")
    assert mention[0].rule_ids == ("review-client-mentions",)
    assert len(mention) == len(policy.targets) and all(r.passed for r in mention)


def test_unknown_audiences_and_targets_fail_with_a_clear_message(tmp_path: Path,
                                                                policy: Policy) -> None:
    results = run_examples(policy, load_examples(cases_file(tmp_path, CASES)), NOW)
    typo = next(r for r in results if r.example == "typo in a target and an audience")
    assert (typo.passed, typo.got) == (False, None)
    assert "unknown audience 'friendz'" in typo.message
    recheck = [r for r in results if r.example == "rechecked with a removed audience"]
    assert [(r.target, r.passed) for r in recheck] == [("friends-mail", True),
                                                       ("nonexistent", False)]
    assert "the policy has no target 'nonexistent'" in recheck[1].message


def test_the_case_time_decides_time_windows(tmp_path: Path, policy: Policy) -> None:
    results = run_examples(policy, load_examples(cases_file(tmp_path, CASES)), NOW)
    late = next(r for r in results if r.example == "late at night")
    assert (late.passed, late.rule_ids) == (True, ("sleep-on-it",))


BAD_CASES = [
    pytest.param("cases:\n  - name: x\n    post: {audiences: [friends]}\n    expect: {a: allow}\n"
                 "    expext: {b: deny}\n", 5, ["case 'x'", "unknown key 'expext'"],
                 id="unknown-key"),
    pytest.param("cases:\n  - name: x\n    post: {audiences: [friends]}\n    expect: {a: maybe}\n",
                 4, ["case 'x'", "'allow', 'deny' or 'hold'", "(got 'maybe')"],
                 id="bad-outcome"),
    pytest.param("cases:\n  - name: x\n    post: {audiences: []}\n    expect: {a: allow}\n",
                 3, ["case 'x'", "post.audiences"],
                 id="no-audience"),
    pytest.param("people:\n  - {name: Ana, identities: [ana]}\ncases:\n  - name: x\n"
                 "    post: {audiences: [friends]}\n    expect: {a: allow}\n",
                 2, ["person 'Ana'", "'ana' is not an identity"],
                 id="bad-identity"),
    pytest.param("cases:\n  - name: x\n    post: {audiences: [friends]}\n", 2,
                 ["case 'x' expects nothing"],
                 id="no-expectation"),
    pytest.param("cases: []\n", 1, ["cases", "at least 1"],
                 id="no-cases"),
    pytest.param("cases:\n  - name: x\n    post: {audiences: [friends]}\n    expect: {a: allow}\n"
                 "    expect: {b: deny}\n", 5, ["duplicate key 'expect'"],
                 id="duplicate-key"),
    pytest.param("cases:\n  - name: x\n    post: {audiences: [friends\n", 4,
                 ["YAML syntax error"],
                 id="syntax-error"),
]


@pytest.mark.parametrize(("text", "line", "fragments"), BAD_CASES)
def test_bad_case_files_are_refused_with_file_and_line(tmp_path: Path, text: str, line: int,
                                                       fragments: list[str]) -> None:
    with pytest.raises(PolicyFileInvalid) as caught:
        load_examples(cases_file(tmp_path, text))
    assert (caught.value.file, caught.value.line) == ("policies/tests/cases.yaml", line), \
        caught.value.reason
    for fragment in fragments:
        assert fragment in caught.value.reason


def test_a_missing_examples_directory_has_no_examples(tmp_path: Path) -> None:
    assert load_examples(tmp_path / "nothing-here") == []
