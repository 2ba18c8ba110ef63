"""Security review 4 of what landed on 2026-12-01 afternoon (rule lists written from the web
UI, the owner feed's replaceable link, unique token names, held-edit notices, the audit's
one-statement read), tried as an outside reviewer would: hostile input through the real pages
and services. Each test is a finding (fixed, or xfail naming the module's owner) or a probe
that found nothing and stays as a regression test."""

from __future__ import annotations

import pytest

from hub.errors import InvalidInput, PolicyFileInvalid
from hub.runtime import PolicyState
from hub.services.people import NewPerson, add_person
from hub.services.rule_list_edit import (
    ABSENT,
    UI_FILE,
    define_rule_list,
    preview_rule_list,
)
from tests.integration import test_ui_security as ui
from tests.integration.test_rule_lists_ui import _digest
from tests.integration.test_ui_security import csrf_of

pytestmark = pytest.mark.integration
site = ui.site
owner = ui.owner


@pytest.fixture
def hub(database_url, make_hub):
    h = make_hub(database_url)
    add_person(h, NewPerson("Ana", [("mastodon", "@ana@social.example")], ["friends"]))
    add_person(h, NewPerson("Cy", [("email", "cy@example.org")], ["clients"]))
    return h


# -- rule lists written from the web UI -------------------------------------------------------

DEEP = ["(" * 600 + "friends" + ")" * 600,                    # 1207 characters, under the cap
        "friends and " + "not " * 490 + "clients"]


@pytest.mark.parametrize("rule", DEEP, ids=["parentheses", "nots"])
def test_a_deeply_nested_rule_is_a_400_not_a_crash(hub, rule):
    """Finding: a rule nested a few hundred levels deep (well under the 2000-character cap)
    blew Python's recursion limit in the parser: RecursionError, a 500 on the Lists page."""
    before = hub.policies.current.digest
    for attempt in (lambda: preview_rule_list(hub, "deep", rule),
                    lambda: define_rule_list(hub, "deep", rule, expected_digest=ABSENT)):
        with pytest.raises(InvalidInput, match="nests") as caught:
            attempt()
        assert caught.value.field == "rule"
    assert not (hub.policies.directory / UI_FILE).exists()
    assert hub.policies.current.digest == before


def test_the_lists_page_answers_a_deep_rule_with_a_400_and_keeps_the_form(site, owner):
    hub, _ = site
    page = owner.get("/lists").text
    for action in ("preview", "save"):
        r = owner.post("/lists/rules", data={
            "csrf_token": csrf_of(page), "digest": _digest(page), "name": "deep",
            "rule": DEEP[0], "description": "", "action": action})
        assert r.status_code == 400, r.text[:300]
        assert "nests" in r.text and 'value="deep"' in r.text
    assert not (hub.policies.directory / UI_FILE).exists()


def test_a_moderately_nested_rule_still_loads(hub):
    rule = "(" * 8 + "friends and not (clients or not friends)" + ")" * 8
    shown = preview_rule_list(hub, "close", rule)
    assert [m.name for m in shown.members] == ["Ana"]


@pytest.mark.xfail(strict=True, reason="hub/policy/lists.py parse_rule (owned by the contacts/"
                   "lists helper) recurses once per '(' or 'not': a hand-written policy file "
                   "with a deeply nested rule raises RecursionError from load_policy (hub "
                   "start, `hub policy reload`, SIGHUP) instead of PolicyFileInvalid with file "
                   "and line; needs a depth limit that raises RuleSyntaxError")
def test_a_hand_written_deep_rule_is_refused_with_file_and_line(hub):
    (hub.policies.directory / "deep.yaml").write_text(
        f"version: 1\nlists:\n  deep:\n    rule: {DEEP[0]}\n")
    with pytest.raises(PolicyFileInvalid, match=r"deep\.yaml:4"):
        PolicyState(hub.policies.directory, hub.policies.specs,
                    static_lists=hub.policies.static_lists)


def test_many_negated_groups_side_by_side_are_not_deep(hub):
    rule = "friends and " + " and ".join(["not (clients)"] * 30)
    assert preview_rule_list(hub, "close", rule).count == 1
