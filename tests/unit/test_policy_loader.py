"""Loading policy files: what a good file becomes, and every refusal's file, line and reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adapters import TARGET_SPECS
from hub.domain.model import Reach
from hub.errors import PolicyFileInvalid
from hub.policy import Action, Policy, Requirement, load_policy

BASE = """\
version: 1
accounts: [email:personal, feed:site, bluesky:me, mastodon:main]
targets:
  mail: {account: email:personal, list: friends, mode: bcc}
  feed: {account: feed:site, list: friends}
  bsky: {account: bluesky:me, quotes: false}
  masto: {account: mastodon:main, visibility: public}
audiences:
  public: {reach: world, targets: [bsky, masto], description: "anyone on the web"}
  friends: {targets: [mail, feed]}
rules:
  - id: no-private
    deny: {tags: [private], reach: [world]}
    reason: "private stays home"
"""


def write(directory: Path, files: dict[str, str | bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return directory


def load(tmp_path: Path, files: dict[str, str | bytes]) -> Policy:
    return load_policy(write(tmp_path / "policies", files), TARGET_SPECS)


def refused(tmp_path: Path, files: dict[str, str | bytes]) -> PolicyFileInvalid:
    with pytest.raises(PolicyFileInvalid) as caught:
        load(tmp_path, files)
    return caught.value


def edit(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new)


def test_a_good_file_becomes_a_policy(tmp_path: Path) -> None:
    policy = load(tmp_path, {"hub.yaml": BASE})
    assert policy.version == 1
    assert policy.accounts == ("email:personal", "feed:site", "bluesky:me", "mastodon:main")
    assert {n: (t.account, t.reach) for n, t in policy.targets.items()} == {
        "mail": ("email:personal", Reach.RECIPIENTS), "feed": ("feed:site", Reach.RECIPIENTS),
        "bsky": ("bluesky:me", Reach.WORLD), "masto": ("mastodon:main", Reach.WORLD)}
    assert policy.targets["mail"].options == {"list": "friends", "mode": "bcc", "subject": None,
                                              "on_edit": "nothing"}
    assert policy.targets["bsky"].options == {"threadgate": None, "quotes": False,
                                              "split": False, "link_cards": False}
    public, friends = policy.audiences["public"], policy.audiences["friends"]
    assert (public.reach, public.targets, public.description) == (
        Reach.WORLD, ("bsky", "masto"), "anyone on the web")
    assert friends.reach is Reach.RECIPIENTS   # the safe default
    (rule,) = policy.rules
    assert (rule.id, rule.action, rule.reason, rule.source) == (
        "no-private", Action.DENY, "private stays home", "policies/hub.yaml:12")
    assert (rule.conditions.tags, rule.conditions.reach) == (("private",), (Reach.WORLD,))
    assert policy.files == ("policies/hub.yaml",)
    assert re.fullmatch(r"[0-9a-f]{64}", policy.digest)
    assert policy.warnings == ()
    assert policy.lists_used() == ("friends",)


def test_conditions_are_compiled(tmp_path: Path) -> None:
    policy = load(tmp_path, {"hub.yaml": BASE + """\
  - id: quiet
    hold:
      tags: "#Work"
      text: ['\\bsalary\\b']
      hours: "22:30-07:00"
      weekdays: [sat, sun]
      timezone: Europe/Berlin
      author: ["token:*"]
      language: pt-BR
      mentions_member_of: clients
  - id: cw
    require: content_warning
    when: {platforms: [bluesky]}
"""})
    quiet, cw = policy.rules[1], policy.rules[2]
    c = quiet.conditions
    assert (c.tags, c.hours, c.weekdays, c.timezone, c.author, c.language) == (
        ("work",), (22 * 60 + 30, 7 * 60), (5, 6), "Europe/Berlin", ("token:*",), ("pt-br",))
    assert c.text[0].search("my SALARY") and not c.text[0].search("salaryman")
    assert (cw.action, cw.requirement, cw.conditions.platforms) == (
        Action.REQUIRE, Requirement.CONTENT_WARNING, ("bluesky",))
    assert policy.lists_used() == ("clients", "friends")


def test_lists_used_include_threadgate_lists_and_mention_lists(tmp_path: Path) -> None:
    policy = load(tmp_path, {"hub.yaml": edit(
        "quotes: false", "threadgate: [list:inner-circle, mentioned]").replace(
        "tags: [private]", "mentions_member_of: [clients]")})
    assert policy.lists_used() == ("clients", "friends", "inner-circle")


def test_files_merge_and_subdirectories_hidden_and_other_files_are_ignored(tmp_path: Path) -> None:
    split_at = BASE.index("audiences:")
    policy = load(tmp_path, {
        "10-accounts.yaml": BASE[:split_at],
        "20-audiences.yml": "version: 1\n" + BASE[split_at:],
        "notes.txt": "not: [policy",
        ".#hub.yaml": "an editor's lock file: [",
        "tests/cases.yaml": "cases: nonsense",
    })
    assert policy.files == ("policies/10-accounts.yaml", "policies/20-audiences.yml")
    assert set(policy.targets) == {"mail", "feed", "bsky", "masto"}
    assert set(policy.audiences) == {"public", "friends"}
    assert policy.rules[0].source == "policies/20-audiences.yml:6"


def test_digest_is_stable_and_changes_with_content_or_file_name(tmp_path: Path) -> None:
    first = load(tmp_path / "a", {"hub.yaml": BASE}).digest
    assert load(tmp_path / "b", {"hub.yaml": BASE}).digest == first
    assert load(tmp_path / "c", {"hub.yaml": BASE + "\n"}).digest != first
    assert load(tmp_path / "d", {"main.yaml": BASE}).digest != first


WARNED = """\
version: 1
accounts: [email:personal, feed:site, bluesky:me, mastodon:main, mastodon:alt]
targets:
  mail: {account: email:personal, list: friends}
  bsky: {account: bluesky:me}
  spare: {account: feed:site, list: x}
  masto: {account: mastodon:main, visibility: public}
audiences:
  public: {reach: world, targets: [bsky, masto]}
  friends:
    targets:
      - mail
      - bsky
  empty: {}
rules:
  - id: everything
    hold: {}
  - id: tz-only
    hold: {tags: x, timezone: Europe/Paris}
"""


def test_warnings_point_at_careless_definitions(tmp_path: Path) -> None:
    assert load(tmp_path, {"hub.yaml": WARNED}).warnings == (
        "policies/hub.yaml:2: account mastodon:alt is used by no target",
        "policies/hub.yaml:6: target spare is in no audience, so it never receives a post",
        "policies/hub.yaml:13: audience friends (reach recipients) lists target bsky (reach "
        "world): never-widen will deny it unless the post also asks for an audience of reach "
        "world",
        "policies/hub.yaml:14: audience empty has no targets, so posts to it go nowhere",
        "policies/hub.yaml:16: rule everything has no conditions, so it applies to every post "
        "and target",
        "policies/hub.yaml:18: rule tz-only sets a timezone without hours or weekdays, so the "
        "timezone has no effect",
    )


def test_a_policy_with_no_audience_loads_with_a_warning(tmp_path: Path) -> None:
    assert load(tmp_path, {"hub.yaml": "version: 1\n"}).warnings == (
        "no audience is defined: every post will be refused",)


# (file text, line, fragments the reason must contain)
BAD_FILES = [
    pytest.param(BASE + "audience: {}\n", 15,
                 ["top level", "unknown key 'audience'", "did you mean 'audiences'?"],
                 id="unknown-top-level-key"),
    pytest.param(edit("quotes: false", "quotse: false"), 6,
                 ["target 'bsky'", "unknown key 'quotse'", "did you mean 'quotes'?",
                  "allowed keys: account, threadgate, quotes"],
                 id="typo-in-target-option"),
    pytest.param(edit("mode: bcc", "mode: bc"), 4,
                 ["target 'mail'", "'mode'", "'each' or 'bcc'", "(got 'bc')"],
                 id="bad-target-option-value"),
    pytest.param(edit("masto: {account: mastodon:main, visibility: public}",
                      "masto: {account: mastodon:main}"), 7,
                 ["target 'masto'", "missing required key 'visibility'"],
                 id="missing-required-target-option"),
    pytest.param(edit("visibility: public", "visibility: direct"), 7,
                 ["target 'masto'", "visibility 'direct' needs 'list'"],
                 id="target-options-checked-together"),
    pytest.param(edit("bluesky:me, quotes", "bluesky:me, threadgate: [nobody, followers], quotes"),
                 6, ["target 'bsky'", "'threadgate'", "'nobody' cannot be combined"],
                 id="bad-threadgate"),
    pytest.param(edit("  bsky: {account: bluesky:me", "  bsky: {account: bluesky:other"), 6,
                 ["target 'bsky'", "account 'bluesky:other'", "not declared",
                  "did you mean 'bluesky:me'?"],
                 id="target-names-undeclared-account"),
    pytest.param(edit("mastodon:main]", "mastodon:main, xmpp:home]"), 2,
                 ["account 'xmpp:home'", "unknown platform 'xmpp'",
                  "bluesky, bluesky-chat, email, feed, mastodon"],
                 id="account-on-unknown-platform"),
    pytest.param(edit("accounts: [email:personal", "accounts: [personal"), 2,
                 ["'personal' is not an account name", "'<platform>:<name>'"],
                 id="account-without-platform"),
    pytest.param(edit("targets: [bsky, masto]", "targets: [bsky, mastodon]"), 9,
                 ["audience 'public'", "target 'mastodon'", "not defined",
                  "did you mean 'masto'?"],
                 id="audience-lists-unknown-target"),
    pytest.param(edit("  friends: {targets: [mail, feed]}",
                      "  friends:\n    targets:\n      - mail\n      - fed"), 13,
                 ["audience 'friends'", "target 'fed'", "did you mean 'feed'?"],
                 id="audience-unknown-target-in-block-list"),
    pytest.param(edit("reach: world, targets", "reach: everyone, targets"), 9,
                 ["audience 'public'", "'reach'", "'world-unlisted' or 'world'",
                  "(got 'everyone')"],
                 id="bad-reach-word"),
    pytest.param(edit("  public: {", "  Public Web: {"), 9,
                 ["audiences", "'Public Web' is not a valid name"],
                 id="bad-audience-name"),
    pytest.param(edit("  friends: {targets: [mail, feed]}",
                      "  friends: {targets: [mail, feed]}\n  friends: {targets: [mail]}"), 11,
                 ["duplicate key 'friends' in audiences", "first at line 10",
                  "silently keep only the last"],
                 id="duplicate-key"),
    pytest.param(edit("    reason:", "    deny: {tags: [other]}\n    reason:"), 14,
                 ["duplicate key 'deny'", "first at line 13"],
                 id="duplicate-key-in-rule"),
    pytest.param(BASE + "  - id: no-private\n    hold: {tags: [x]}\n", 15,
                 ["rule 'no-private' is defined twice", "first at policies/hub.yaml:12"],
                 id="duplicate-rule-id"),
    pytest.param(edit("accounts: [email:personal, feed:site",
                      "accounts: [email:personal, feed:site, feed:site"), 2,
                 ["account 'feed:site' is defined twice", "first at policies/hub.yaml:2"],
                 id="duplicate-account"),
    pytest.param(edit("tags: [private]", "text: ['(unclosed']"), 13,
                 ["rule 'no-private'", "'deny.text'", "invalid regular expression '(unclosed'"],
                 id="bad-regex"),
    pytest.param(edit("tags: [private]", "tag: [private]"), 13,
                 ["rule 'no-private'", "unknown key 'tag'", "did you mean 'tags'?"],
                 id="typo-in-condition-key"),
    pytest.param(edit("tags: [private]", "tags: [private], audiences: [publik]"), 13,
                 ["rule 'no-private' names audience 'publik'", "did you mean 'public'?"],
                 id="rule-names-unknown-audience"),
    pytest.param(edit("tags: [private]", "targets: [bsky, mast]"), 13,
                 ["rule 'no-private' names target 'mast'", "did you mean 'masto'?"],
                 id="rule-names-unknown-target"),
    pytest.param(edit("tags: [private]", "platforms: [blusky]"), 13,
                 ["rule 'no-private' names platform 'blusky'", "did you mean 'bluesky'?"],
                 id="rule-names-unknown-platform"),
    pytest.param(edit("tags: [private]", "accounts: [mastodon:work]"), 13,
                 ["rule 'no-private' names account 'mastodon:work'"],
                 id="rule-names-undeclared-account"),
    pytest.param(edit("tags: [private]", "tags: [my private]"), 13,
                 ["'my private' is not a tag"],
                 id="tag-with-space"),
    pytest.param(edit("tags: [private]", "hours: 22:00"), 13,
                 ["'deny.hours'", "write hours in quotes"],
                 id="unquoted-hours"),
    pytest.param(edit("tags: [private]", "hours: '22:00-22:00'"), 13,
                 ["starts and ends at the same minute"],
                 id="empty-hours-window"),
    pytest.param(edit("tags: [private]", "hours: '9-17'"), 13,
                 ["'9-17' is not a time window"],
                 id="malformed-hours"),
    pytest.param(edit("tags: [private]", "hours: '22:00-07:00', timezone: Mars/Olympus"), 13,
                 ["unknown time zone 'Mars/Olympus'"],
                 id="unknown-timezone"),
    pytest.param(edit("tags: [private]", "hours: '22:00-07:00', timezone: Europe"), 13,
                 ["unknown time zone 'Europe'"],
                 id="timezone-naming-a-folder"),        # IsADirectoryError (found by review)
    pytest.param(edit("tags: [private]", "hours: '22:00-07:00', timezone: " + "a" * 300), 13,
                 ["unknown time zone 'aaaa"],
                 id="timezone-too-long-for-a-file"),    # OSError (found by review)
    pytest.param(edit("tags: [private]", "weekdays: [monday]"), 13,
                 ["'deny.weekdays'", "'mon', 'tue'", "(got 'monday')"],
                 id="bad-weekday"),
    pytest.param(edit("tags: [private]", "author: [me]"), 13,
                 ["'me' is not an author"],
                 id="bad-author"),
    pytest.param(edit("reach: [world]}", "reach: [world]}\n    hold: {tags: [x]}"), 12,
                 ["rule 'no-private'", "exactly one of 'deny', 'hold' or 'require'",
                  "(it has deny and hold)"],
                 id="rule-with-two-actions"),
    pytest.param(edit("    deny: {tags: [private], reach: [world]}\n", ""), 12,
                 ["rule 'no-private'", "exactly one of"],
                 id="rule-without-action"),
    pytest.param(edit("reason:", "when: {tags: [x]}\n    reason:"), 12,
                 ["'when' goes with 'require'", "under 'deny:'"],
                 id="when-on-a-deny-rule"),
    pytest.param(edit("deny: {tags: [private], reach: [world]}", "require: spoilers"), 13,
                 ["'require'", "'content_warning' or 'alt_text'"],
                 id="unknown-requirement"),
    pytest.param(edit("id: no-private", "id: never-widen"), 12,
                 ["the id 'never-widen' is reserved"],
                 id="reserved-rule-id"),
    pytest.param(edit("  - id: no-private\n", "  - deny-id: no-private\n"), 12,
                 ["rule #1: missing required key 'id' (and 1 more problem)"],
                 id="rule-without-id"),
    pytest.param(edit("version: 1\n", ""), 1,
                 ["missing required key 'version'"],
                 id="missing-version"),
    pytest.param(edit("version: 1", "version: 2"), 1,
                 ["version", "(got 2)"],
                 id="unsupported-version"),
    pytest.param(edit("  bsky: {account: bluesky:me, quotes: false}",
                      "  bsky: {account: bluesky:me, quotes: false"), 7,
                 ["YAML syntax error"],
                 id="yaml-syntax-error"),
    pytest.param(edit("rules:\n", "rules:\n\t"), 12,
                 ["YAML syntax error", "'\\t'"],
                 id="tab-indentation"),
    pytest.param("- version: 1\n", 1,
                 ["a policy file is a mapping"],
                 id="file-is-a-list"),
    pytest.param(BASE + "---\nversion: 1\n", 15,
                 ["expected a single document"],
                 id="several-documents"),
    pytest.param(edit("version: 1", "version: !!python/object:os.system {}"), 1,
                 ["YAML syntax error", "python/object"],
                 id="python-tags-refused"),
    pytest.param(BASE.encode() + b"# caf\xe9\n", 15,
                 ["not UTF-8"],
                 id="not-utf8"),
]


@pytest.mark.parametrize(("content", "line", "fragments"), BAD_FILES)
def test_bad_file_is_refused_with_file_line_and_reason(
        tmp_path: Path, content: str | bytes, line: int, fragments: list[str]) -> None:
    error = refused(tmp_path, {"hub.yaml": content})
    assert (error.file, error.line) == ("policies/hub.yaml", line), error.reason
    for fragment in fragments:
        assert fragment in error.reason
    assert str(error).startswith(f"policies/hub.yaml:{line}: ")


def test_the_first_problem_by_line_is_reported_and_the_others_counted(tmp_path: Path) -> None:
    # the file's own structure is checked before each target's platform options
    error = refused(tmp_path, {"hub.yaml": edit("mode: bcc", "mode: bc").replace(
        "reach: world,", "reach: everyone,")})
    assert (error.line, "'everyone'" in error.reason) == (9, True)
    error = refused(tmp_path / "o", {"hub.yaml": edit("mode: bcc", "mode: bc, subject: [1]")})
    assert error.line == 4 and error.reason.endswith("(and 1 more problem)")
    split_at = BASE.index("audiences:")
    error = refused(tmp_path / "x", {"hub.yaml": BASE[:split_at] + "audiences:\n"
                                     "  a: {reach: wide, targets: [mail]}\n"
                                     "  b: {reach: far, targets: [mail]}\n"
                                     "  c: {reach: deep, targets: [mail]}\n"})
    assert (error.line, error.reason.endswith("(and 2 more problems)")) == (9, True)


def test_a_name_defined_in_two_files_names_both_places(tmp_path: Path) -> None:
    error = refused(tmp_path, {
        "a.yaml": BASE,
        "b.yaml": "version: 1\ntargets:\n  extra: {account: feed:site, list: x}\n"
                  "  bsky: {account: bluesky:me}\n",
    })
    assert (error.file, error.line) == ("policies/b.yaml", 4)
    assert error.reason == "target 'bsky' is defined twice: first at policies/a.yaml:6"


def test_references_across_files_are_checked_after_merging(tmp_path: Path) -> None:
    error = refused(tmp_path, {
        "a.yaml": BASE,
        "b.yaml": "version: 1\naudiences:\n  family: {targets: [mail, family-mail]}\n",
    })
    assert (error.file, error.line) == ("policies/b.yaml", 3)
    assert "audience 'family' lists target 'family-mail', which is not defined" in error.reason


def test_every_file_needs_a_version(tmp_path: Path) -> None:
    error = refused(tmp_path, {"a.yaml": BASE, "b.yaml": "rules: []\n"})
    assert (error.file, error.line) == ("policies/b.yaml", 1)
    assert "missing required key 'version'" in error.reason


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, {"hub.yaml": "# nothing yet\n"})
    assert (error.file, error.line) == ("policies/hub.yaml", None)
    assert "empty" in error.reason and "version: 1" in error.reason


def test_a_file_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, {"hub.yaml": BASE + "#" * (1 << 20) + "\n"})
    assert (error.file, error.line) == ("policies/hub.yaml", None)
    assert "larger than 1 MiB" in error.reason


def test_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    bomb = "version: 1\na: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcde", "bcdef", strict=True))
    error = refused(tmp_path, {"hub.yaml": bomb})
    assert "too many values" in error.reason


def test_a_directory_without_policy_files_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, {"README.md": "# policies"})
    assert (error.file, error.line) == ("policies", None)
    assert "no policy files" in error.reason
    with pytest.raises(PolicyFileInvalid, match="does not exist"):
        load_policy(tmp_path / "missing", TARGET_SPECS)


def test_single_values_may_be_written_without_brackets(tmp_path: Path) -> None:
    policy = load(tmp_path, {"hub.yaml": edit("deny: {tags: [private], reach: [world]}",
                                              "deny: {tags: private, reach: world}")})
    assert (policy.rules[0].conditions.tags, policy.rules[0].conditions.reach) == (
        ("private",), (Reach.WORLD,))


def test_a_refused_value_is_quoted_only_in_part(tmp_path):
    """The refusal (kept for good in the PolicyRejected audit event) quotes enough of a wrong
    value to find it, not a whole paragraph pasted where a name belongs."""
    (tmp_path / "hub.yaml").write_text("version: 1\naccounts: [email:personal]\ntargets:\n"
                                       "  m: {account: email:personal, list: friends, "
                                       f"mode: {'x' * 500}}}\n")
    with pytest.raises(PolicyFileInvalid) as caught:
        load_policy(tmp_path, TARGET_SPECS)
    assert "x" * 40 in str(caught.value) and "x" * 100 not in str(caught.value)
