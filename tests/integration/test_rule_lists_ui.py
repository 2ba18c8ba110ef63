"""Rule lists defined from the Lists page and ``hub lists define``: the whole candidate policy
is validated before the hub-managed file is written (file and line on error; the file and the
policy in force unchanged), typed text round-trips through a real YAML emitter, a file changed
since the form was shown is never overwritten, a list still in use is not removed, a policy
directory the hub cannot write gives a readable refusal, and every change is audited."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from hub.entrypoints.cli import main
from hub.errors import Conflict, InvalidInput, NotFound, PolicyFileInvalid
from hub.runtime import PolicyState
from hub.services.people import NewPerson, add_person
from hub.services.people_lists import list_infos
from hub.services.rule_list_edit import (
    ABSENT,
    HEADER,
    UI_FILE,
    define_rule_list,
    preview_rule_list,
    ui_file_digest,
    undefine_rule_list,
)
from tests.integration import test_ui_security as base
from tests.integration.test_ui_security import csrf_of

pytestmark = pytest.mark.integration
site = base.site
owner = base.owner

HOSTILE = ('say "hi": it\'s # not a comment\n- item: {x: [1]} & *alias !!python/object '
           "<script>window.__xss=1</script> Zoë 東京 🙂 \u200d ") + "x" * 300


def _people(hub) -> None:
    add_person(hub, NewPerson("Ana", [("mastodon", "@ana@social.example")], ["friends"]))
    add_person(hub, NewPerson("Bo", [("email", "bo@example.org")], ["friends", "clients"]))
    add_person(hub, NewPerson("Cy", [("email", "cy@example.org")], ["clients"]))


def _events(hub, *names: str) -> list:
    with hub.db.read() as s:
        return hub.audit.events(s, names=list(names))


@pytest.fixture
def hub(database_url, make_hub):
    h = make_hub(database_url)
    _people(h)
    return h


def _ui(hub) -> Path:
    return hub.policies.directory / UI_FILE


@pytest.mark.parametrize(("rule", "reason"), [
    ("followers of mastodon:nope", "not declared under 'accounts'"),
    ("followers of myspace", "is not a platform"),
    ("friends and not nobodies", "neither a rule list nor in the address book"),
    ('friends and not "clients"', "neither a rule list nor in the address book"),
    ("friends # and more", "unexpected '#' after 'friends'"),
    ("not clients", "does not say who is in"),
    ("friends and (clients", "is not closed"),
    ("fans or friends", "depends on itself"),
])
def test_a_bad_rule_is_refused_with_file_and_line_and_nothing_changes(hub, rule, reason):
    before = hub.policies.current.digest
    for attempt in (lambda: preview_rule_list(hub, "fans", rule),
                    lambda: define_rule_list(hub, "fans", rule, expected_digest=ABSENT)):
        with pytest.raises(PolicyFileInvalid) as caught:
            attempt()
        assert reason in caught.value.message
        assert re.match(rf"policies/{UI_FILE}:\d+: ", caught.value.message), caught.value.message
    assert not _ui(hub).exists()
    assert hub.policies.current.digest == before
    assert _events(hub, "RuleListEdited") == []


def test_a_name_the_address_book_or_another_file_has_is_refused(hub):
    with pytest.raises(PolicyFileInvalid, match="already exists in the address book"):
        define_rule_list(hub, "friends", "clients", expected_digest=ABSENT)
    (hub.policies.directory / "mine.yaml").write_text(
        "version: 1\nlists:\n  close:\n    rule: friends and not clients\n")
    hub.policies.reload()
    with pytest.raises(Conflict, match=r"defined in policies/mine\.yaml:4.*edit it there"):
        define_rule_list(hub, "close", "friends", expected_digest=ABSENT)
    with pytest.raises(Conflict, match=r"policies/mine\.yaml:4"):
        undefine_rule_list(hub, "close", expected_digest=ABSENT)
    for bad in ("Fans", "a: b", "fans\nversion: 2", "#x", "x" * 64, "zoë", ""):
        with pytest.raises(InvalidInput):
            define_rule_list(hub, bad, "friends", expected_digest=ABSENT)
    with pytest.raises(InvalidInput, match="control character"):
        define_rule_list(hub, "fans", "friends", "a\x00b", expected_digest=ABSENT)
    with pytest.raises(InvalidInput, match="at most 2000"):
        define_rule_list(hub, "fans", "friends or " * 300 + "friends", expected_digest=ABSENT)
    assert not _ui(hub).exists()


def test_the_preview_names_who_is_in_and_why_and_writes_nothing(hub):
    shown = preview_rule_list(hub, "close", "friends and not clients", "  the  close ones ")
    assert (shown.count, shown.rule, shown.description) == (1, "friends and not clients",
                                                            "the close ones")
    [ana] = shown.members
    assert ana.name == "Ana" and ana.why == ("in friends", "not in clients")
    assert not _ui(hub).exists() and "close" not in hub.policies.current.lists


def test_hostile_text_round_trips_through_the_emitter_and_the_change_is_audited(hub):
    before = hub.policies.current.digest
    policy = define_rule_list(hub, "close", "friends\n and  not clients", HOSTILE,
                              expected_digest=ABSENT, create=True, actor="owner:test")
    written = _ui(hub).read_text(encoding="utf-8")
    assert written.startswith(HEADER)
    assert yaml.safe_load(written) == {"version": 1, "lists": {"close": {
        "rule": "friends and not clients", "description": " ".join(HOSTILE.split())}}}
    kept = policy.lists["close"]
    assert kept.description == " ".join(HOSTILE.split())
    assert kept.source.startswith(f"policies/{UI_FILE}:")
    assert hub.policies.current.digest == policy.digest != before
    info = {i.name: i for i in list_infos(hub)}["close"]
    assert info.size == 1 and info.rule == "friends and not clients"
    [loaded] = [e for e in _events(hub, "PolicyLoaded") if e.policy_digest == policy.digest]
    assert loaded.actor == "owner:test" and f"policies/{UI_FILE}" in loaded.payload["files"]
    [edited] = _events(hub, "RuleListEdited")
    assert (edited.subject, edited.payload["change"], edited.policy_digest) == (
        "close", "defined", policy.digest)
    assert (_ui(hub).stat().st_mode & 0o777) == 0o644
    assert not [p for p in hub.policies.directory.iterdir() if p.name.startswith(".")]

    digest = ui_file_digest(hub)
    with pytest.raises(Conflict, match="already exists"):
        define_rule_list(hub, "close", "friends", expected_digest=digest, create=True)
    define_rule_list(hub, "close", "friends", "", expected_digest=digest, create=False)
    assert yaml.safe_load(_ui(hub).read_text())["lists"] == {"close": {"rule": "friends"}}
    assert [e.payload["change"] for e in _events(hub, "RuleListEdited")] == ["defined",
                                                                             "changed"]


def test_a_file_changed_since_the_form_was_shown_is_not_overwritten(hub):
    define_rule_list(hub, "close", "friends", expected_digest=ABSENT)
    shown = ui_file_digest(hub)
    hand = _ui(hub).read_text() + "  mine:\n    rule: clients  # added by hand\n"
    _ui(hub).write_text(hand)
    for attempt in (
            lambda: define_rule_list(hub, "close", "clients", expected_digest=shown),
            lambda: define_rule_list(hub, "other", "clients", expected_digest=shown),
            lambda: undefine_rule_list(hub, "close", expected_digest=shown),
            lambda: define_rule_list(hub, "new", "clients", expected_digest=ABSENT)):
        with pytest.raises(Conflict, match="changed since you opened it"):
            attempt()
    assert _ui(hub).read_text() == hand
    assert "mine" not in hub.policies.current.lists       # nothing reloaded either


def test_a_list_still_in_use_is_not_removed(hub):
    define_rule_list(hub, "close", "friends and not clients", expected_digest=ABSENT)
    define_rule_list(hub, "inner", "close and followers of mastodon:main",
                     expected_digest=ui_file_digest(hub))
    with pytest.raises(Conflict, match=r"still used by list 'inner' \(policies/lists-from-ui"):
        undefine_rule_list(hub, "close", expected_digest=ui_file_digest(hub))
    (hub.policies.directory / "more.yaml").write_text(
        "version: 1\ntargets:\n  close-feed: {account: feed:site, list: inner}\n"
        "rules:\n  - id: careful\n    hold: {mentions_member_of: [inner]}\n")
    hub.policies.reload()
    with pytest.raises(Conflict) as caught:
        undefine_rule_list(hub, "inner", expected_digest=ui_file_digest(hub))
    assert "target 'close-feed'" in caught.value.message
    assert "rule 'careful' (policies/more.yaml:5)" in caught.value.message
    with pytest.raises(NotFound):
        undefine_rule_list(hub, "nope", expected_digest=None)
    (hub.policies.directory / "more.yaml").unlink()
    hub.policies.reload()
    undefine_rule_list(hub, "inner", expected_digest=ui_file_digest(hub))
    undefine_rule_list(hub, "close", expected_digest=ui_file_digest(hub))
    assert yaml.safe_load(_ui(hub).read_text()) == {"version": 1, "lists": {}}
    assert not hub.policies.current.lists
    assert [e.payload["change"] for e in _events(hub, "RuleListEdited")] == [
        "defined", "defined", "removed", "removed"]



def test_saving_the_same_list_again_writes_and_audits_nothing(hub):
    define_rule_list(hub, "close", "friends", "mine", expected_digest=ABSENT)
    digest, mtime = ui_file_digest(hub), _ui(hub).stat().st_mtime_ns
    define_rule_list(hub, "close", " friends ", "mine ", expected_digest=digest)
    assert ui_file_digest(hub) == digest and _ui(hub).stat().st_mtime_ns == mtime
    assert len(_events(hub, "RuleListEdited")) == 1


def test_a_reload_refused_after_the_write_puts_the_old_file_back(hub):
    """Between the check and the load the address book gained a hand-kept list 'close' (or
    another file changed): the load refuses, and the file is as it was."""
    define_rule_list(hub, "other", "friends", expected_digest=ABSENT)
    before, digest = _ui(hub).read_bytes(), hub.policies.current.digest
    answers = iter([None, None, ["friends", "clients", "close"]])   # build, check, reload
    racing = dataclasses.replace(hub, policies=PolicyState(
        hub.policies.directory, hub.policies.specs, static_lists=lambda: next(answers)))
    with pytest.raises(PolicyFileInvalid, match="already exists in the address book"):
        define_rule_list(racing, "close", "clients", expected_digest=ui_file_digest(hub))
    assert _ui(hub).read_bytes() == before
    assert racing.policies.current.digest == digest
    assert [e.payload["reason"] for e in _events(hub, "PolicyRejected")] != []
    assert [e.subject for e in _events(hub, "RuleListEdited")] == ["other"]


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """The directory made unwritable for the hub: chmod, or for root (which ignores modes)
    the immutable attribute."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)
        return
    done = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, text=True)
    assert done.returncode == 0, f"running as root, chattr +i is needed: {done.stderr}"
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


def test_a_policy_directory_the_hub_cannot_write_is_a_readable_refusal(hub):
    before = hub.policies.current.digest
    with read_only(hub.policies.directory), \
            pytest.raises(Conflict, match=r"cannot write policies/lists-from-ui\.yaml"):
        define_rule_list(hub, "close", "friends", expected_digest=ABSENT)
    assert not _ui(hub).exists() and hub.policies.current.digest == before


def test_the_cli_defines_and_removes_with_the_same_service(database_url, hub, tmp_path,
                                                           policy_dir, monkeypatch):
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HUB_POLICY_DIR", str(policy_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("HUB_SECRET_KEY", "test-secret-key-not-for-production")
    run = CliRunner().invoke
    shown = run(main, ["lists", "define", "close", "friends and not clients", "--preview"])
    assert shown.exit_code == 0, shown.output
    assert "1 person" in shown.output and "Ana" in shown.output and not _ui(hub).exists()
    done = run(main, ["lists", "define", "close", "friends and not clients",
                      "--description", 'my "close" ones: #1'])
    assert done.exit_code == 0, done.output
    assert f"policies/{UI_FILE}" in done.output
    assert yaml.safe_load(_ui(hub).read_text())["lists"]["close"]["description"] == \
        'my "close" ones: #1'
    bad = run(main, ["lists", "define", "close", "followers of mastodon:nope"])
    assert bad.exit_code == 1 and f"policies/{UI_FILE}:" in bad.output
    gone = run(main, ["lists", "undefine", "close"])
    assert gone.exit_code == 0, gone.output
    assert yaml.safe_load(_ui(hub).read_text())["lists"] == {}


# -- the Lists page, over real HTTP -----------------------------------------------------------

def _digest(html: str) -> str:
    found = re.search(r'name="digest" value="([^"]*)"', html)
    assert found, "no digest field on the page"
    return found.group(1)


def _form(page: str, **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf_of(page), "digest": _digest(page), "name": "",
            "description": "", **fields}


def test_the_lists_page_previews_then_saves_then_changes_and_removes(site, owner):
    hub, _ = site
    add_person(hub, NewPerson("Bo", [("email", "bo@example.org")], ["friends", "clients"]))
    page = owner.get("/lists").text
    assert "New list that keeps itself" in page and _digest(page) == ABSENT
    typed = _form(page, name="close", rule="friends and not clients", description=HOSTILE)
    shown = owner.post("/lists/rules", data={**typed, "action": "preview"})
    assert shown.status_code == 200
    assert re.search(r"<strong>1 person</strong> in close now", shown.text)
    assert "Ana" in shown.text and "why: in friends; not in clients" in shown.text
    assert 'value="friends and not clients"' in shown.text
    assert "&#34;hi&#34;" in shown.text and "&lt;script&gt;window" in shown.text
    assert "<script>window" not in shown.text
    assert not _ui(hub).exists() and "close" not in hub.policies.current.lists

    saved = owner.post("/lists/rules", data={**typed, "action": "save"})
    assert saved.status_code == 303 and saved.headers["location"] == "/lists/close"
    assert yaml.safe_load(_ui(hub).read_text())["lists"]["close"] == {
        "rule": "friends and not clients", "description": " ".join(HOSTILE.split())}
    detail = owner.get("/lists/close").text
    assert "Change the rule" in detail and "Ana" in detail and "Bo</a>" not in detail
    assert f"made here (policies/{UI_FILE}:" in owner.get("/lists").text

    changed = owner.post("/lists/close/rule", data={**_form(detail, rule="friends"),
                                                    "action": "preview"})
    assert changed.status_code == 200 and "<strong>2 people</strong>" in changed.text
    assert hub.policies.current.lists["close"].text == "friends and not clients"
    changed = owner.post("/lists/close/rule", data={**_form(detail, rule="friends"),
                                                    "action": "save"})
    assert changed.status_code == 303
    assert hub.policies.current.lists["close"].text == "friends"
    assert yaml.safe_load(_ui(hub).read_text())["lists"]["close"] == {"rule": "friends"}

    detail = owner.get("/lists/close").text
    gone = owner.post("/lists/close/rule/delete", data=_form(detail))
    assert gone.status_code == 303 and gone.headers["location"] == "/lists"
    assert "close" not in hub.policies.current.lists
    assert [e.actor for e in _events(hub, "RuleListEdited")] == ["owner:web"] * 3


def test_the_page_refuses_with_the_reason_keeps_the_form_and_never_errs(site, owner):
    hub, _ = site
    page = owner.get("/lists").text
    before = hub.policies.current.digest
    typed = _form(page, name="close", rule="friends and not nobodies", description='a "b"')
    for action in ("preview", "save"):
        r = owner.post("/lists/rules", data={**typed, "action": action})
        assert r.status_code == 400
        assert re.search(rf"policies/{UI_FILE}:\d+: list &#39;close&#39; names list "
                         "&#39;nobodies&#39;", r.text), r.text
        assert 'value="friends and not nobodies"' in r.text and 'value="a &#34;b&#34;"' in r.text
    r = owner.post("/lists/rules", data={**typed, "name": "Not OK!", "action": "save"})
    assert r.status_code == 400 and "not a valid list name" in r.text
    assert not _ui(hub).exists() and hub.policies.current.digest == before

    good = {**typed, "rule": "friends"}
    _ui(hub).write_text("version: 1\nlists:\n  mine: {rule: friends}  # by hand\n")
    r = owner.post("/lists/rules", data={**good, "action": "save"})     # digest: absent
    assert r.status_code == 409 and "changed since you opened it" in r.text
    assert 'value="friends"' in r.text
    assert _ui(hub).read_text().endswith("# by hand\n")
    _ui(hub).unlink()

    with read_only(hub.policies.directory):
        r = owner.post("/lists/rules", data={**good, "action": "save"})
    assert r.status_code == 409 and "cannot write policies/lists-from-ui.yaml" in r.text
    assert not _ui(hub).exists() and hub.policies.current.digest == before
    assert owner.post("/lists/nope/rule", data={**good, "action": "save"}).status_code == 404


def test_a_list_in_the_owners_own_file_is_shown_with_its_place_and_not_edited(site, owner):
    hub, _ = site
    (hub.policies.directory / "mine.yaml").write_text(
        "version: 1\nlists:\n  close:\n    rule: friends\n")
    hub.policies.reload()
    index = owner.get("/lists").text
    assert "policies/mine.yaml:4, edit it there" in index
    detail = owner.get("/lists/close").text
    assert "defined in one of your own policy files, <code>policies/mine.yaml:4</code>" in detail
    assert "Change the rule" not in detail
    r = owner.post("/lists/close/rule", data={**_form(index, rule="clients"), "action": "save"})
    assert r.status_code == 409 and "edit it there" in r.text
    r = owner.post("/lists/close/rule/delete", data=_form(index))
    assert r.status_code == 409 and "policies/mine.yaml:4" in r.text
    assert not _ui(hub).exists()


def test_removing_a_list_a_target_uses_is_refused_on_the_page(site, owner):
    hub, _ = site
    page = owner.get("/lists").text
    saved = owner.post("/lists/rules", data={**_form(page, name="close", rule="friends"),
                                             "action": "save"})
    assert saved.status_code == 303
    (hub.policies.directory / "more.yaml").write_text(
        "version: 1\ntargets:\n  close-feed: {account: feed:site, list: close}\n")
    hub.policies.reload()
    detail = owner.get("/lists/close").text
    r = owner.post("/lists/close/rule/delete", data=_form(detail))
    assert r.status_code == 409 and "still used by target &#39;close-feed&#39;" in r.text
    assert "close" in yaml.safe_load(_ui(hub).read_text())["lists"]
