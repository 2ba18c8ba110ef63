"""Security review 4 of what landed on 2026-12-01 afternoon (rule lists written from the web
UI, the owner feed's replaceable link, unique token names, held-edit notices, the audit's
one-statement read), tried as an outside reviewer would: hostile input through the real pages
and services. Each test is a finding (fixed, or xfail naming the module's owner) or a probe
that found nothing and stays as a regression test."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from datetime import timedelta

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import text

from hub.audit.sequencer import sequence_pending
from hub.domain.events import PolicyLoaded, TokenRevoked
from hub.entrypoints.cli import main
from hub.errors import Conflict, InvalidInput, NotFound, PolicyFileInvalid
from hub.runtime import PolicyState
from hub.services.delivery import deliver, due_ids
from hub.services.drafts import Author
from hub.services.edits import EditInput, edit_post, plan_edit
from hub.services.notices import notices
from hub.services.people import NewPerson, add_person
from hub.services.posts import PostInput, submit_post
from hub.services.rule_list_edit import (
    ABSENT,
    UI_FILE,
    define_rule_list,
    preview_rule_list,
    ui_file_digest,
)
from hub.services.saved_drafts import (
    DraftInput,
    delete_draft,
    get_draft,
    list_drafts,
    save_draft,
    send_draft,
    update_draft,
)
from hub.services.tokens import authenticate, create_token, revoke_token
from hub.store.migrate import alembic_config
from hub.store.tables import TokenRow
from tests.integration import test_ui_security as ui
from tests.integration.conftest import bearer
from tests.integration.test_rule_lists_ui import _digest
from tests.integration.test_ui_security import csrf_of
from web.routes.owner_feed import render

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


def test_a_hand_written_deep_rule_is_refused_with_file_and_line(hub):
    """Finding: the parser recursed once per '(' or 'not', so a deep rule in a hand-written
    file raised RecursionError from the policy load (start, reload, SIGHUP) instead of the
    file-and-line refusal that keeps the old policy in force."""
    (hub.policies.directory / "deep.yaml").write_text(
        f"version: 1\nlists:\n  deep:\n    rule: {DEEP[0]}\n")
    with pytest.raises(PolicyFileInvalid, match=r"deep\.yaml:4"):
        PolicyState(hub.policies.directory, hub.policies.specs,
                    static_lists=hub.policies.static_lists)


def test_many_negated_groups_side_by_side_are_not_deep(hub):
    rule = "friends and " + " and ".join(["not (clients)"] * 30)
    assert preview_rule_list(hub, "close", rule).count == 1


# -- token names and the drafts they own ------------------------------------------------------

def _token(hub, name: str, scopes=("post",), audiences=None):
    _, secret = create_token(hub, name, list(scopes), audiences)
    return authenticate(hub, f"Bearer {secret}").author


def test_a_new_token_with_a_revoked_tokens_name_does_not_get_its_drafts(hub):
    """Finding: drafts belonged to a token by name, and names are unique only among live
    tokens: revoke 'phone', make a new 'phone' (another device, another person) and the new
    token read, changed and sent the old one's drafts."""
    old = _token(hub, "phone")
    draft = save_draft(hub, DraftInput("the old phone's plans", ("friends",)), old)
    revoke_token(hub, "phone")
    new = _token(hub, "phone")
    assert list_drafts(hub, new) == []
    for attempt in (lambda: get_draft(hub, draft.id, new),
                    lambda: update_draft(hub, draft.id, DraftInput("x", ("friends",)), new),
                    lambda: send_draft(hub, draft.id, new),
                    lambda: delete_draft(hub, draft.id, new)):
        with pytest.raises(NotFound):
            attempt()
    assert get_draft(hub, draft.id, Author()).data.text == "the old phone's plans"   # owner
    mine = save_draft(hub, DraftInput("the new phone's", ("friends",)), new)
    assert [d.id for d in list_drafts(hub, new)] == [mine.id]
    assert mine.author == "token:phone"              # still shown by name


@pytest.mark.parametrize("name", ["ph\none", "phone\u200b", "\u202ephone", "ph\tone",
                                  "phone\u00ad", "pho\u2028ne"])
def test_a_token_name_with_invisible_or_control_characters_is_refused(hub, name):
    """Finding: a name could hold a newline, a zero-width space or a bidi override, so the
    tokens page and the audit showed two tokens both reading 'phone'."""
    with pytest.raises(InvalidInput) as caught:
        create_token(hub, name, ["post"])
    assert caught.value.field == "name"


@pytest.mark.parametrize("twin", ["Phone", "PHONE", "\uff50\uff48\uff4f\uff4e\uff45"])
def test_token_names_are_unique_whatever_the_case_or_width(hub, twin):
    """Finding: 'phone' and 'Phone' could both be live; the policy's author rules match
    token names case-insensitively, so they are one author to the policy but two owners of
    drafts (and two look-alike rows to revoke)."""
    create_token(hub, "phone", ["post"])
    with pytest.raises(Conflict, match="already exists"):
        create_token(hub, twin, ["post"])
    revoke_token(hub, "phone")
    create_token(hub, twin, ["post"])


def test_two_tokens_created_at_once_with_one_name_do_not_share_drafts(hub):
    """Names are checked in the creating transaction only; whatever two concurrent creates
    leave behind, drafts follow the token, not the name."""
    with hub.db.transaction() as s:          # what a lost race (or an old database) leaves
        s.add(TokenRow(id="t_twin_one", name="phone", token_hash="a" * 64, scopes=["post"],
                       created=hub.now()))
        s.add(TokenRow(id="t_twin_two", name="phone", token_hash="b" * 64, scopes=["post"],
                       created=hub.now()))
    one = Author("token:phone", None, False, token_id="t_twin_one")
    two = Author("token:phone", None, False, token_id="t_twin_two")
    draft = save_draft(hub, DraftInput("one's", ("friends",)), one)
    assert list_drafts(hub, two) == []
    with pytest.raises(NotFound):
        get_draft(hub, draft.id, two)
    assert [d.id for d in list_drafts(hub, one)] == [draft.id]


def test_the_migration_keeps_each_old_draft_with_the_token_that_sees_it_today(hub):
    phone = _token(hub, "phone")
    _, old_secret = create_token(hub, "tablet", ["post"])
    old = authenticate(hub, f"Bearer {old_secret}").author
    revoke_token(hub, "tablet")
    cfg = alembic_config()
    with hub.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0022_owner_feed_link")
    with hub.db.engine.begin() as conn:
        for did, author in (("dr_phone", "token:phone"), ("dr_tablet", "token:tablet"),
                            ("dr_owner", "owner"), ("dr_gone", "token:nobody")):
            conn.execute(text(
                "INSERT INTO saved_draft (id, text, audiences, tags, content_warning, language,"
                " time_zone, media, author, created, updated) VALUES (:id, :t, '[\"friends\"]',"
                " '[]', '', '', '', '[]', :a, :now, :now)"),
                {"id": did, "t": f"{author}'s", "a": author, "now": hub.now()})
    with hub.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    assert [d.id for d in list_drafts(hub, phone)] == ["dr_phone"]
    assert [d.id for d in list_drafts(hub, old)] == ["dr_tablet"]    # its own, if it lived
    assert list_drafts(hub, _token(hub, "tablet")) == []               # a new 'tablet'
    assert sorted(d.id for d in list_drafts(hub, Author())) == [
        "dr_gone", "dr_owner", "dr_phone", "dr_tablet"]


def test_a_symlinked_hub_file_is_never_written_through_nor_silently_replaced(hub, tmp_path):
    """Probe: the save replaces the file with os.replace, which never writes through a link
    (the file it points to stays as it was). Finding: it silently replaced the link itself
    with a regular file, so an owner who keeps the file in a repository (a link into it) lost
    the link without a word; a planted link was 'adopted'. Now a 409 that says so."""
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("version: 1\nlists: {}\n")
    link = hub.policies.directory / UI_FILE
    link.symlink_to(outside)
    hub.policies.reload()
    with pytest.raises(Conflict, match="symbolic link"):
        define_rule_list(hub, "close", "friends", expected_digest=None)
    assert link.is_symlink() and outside.read_text() == "version: 1\nlists: {}\n"
    assert "close" not in hub.policies.current.lists
    assert preview_rule_list(hub, "close", "friends").count == 1     # reading is fine


# -- the audit's one-statement read ----------------------------------------------------------

def test_events_answer_the_same_before_and_after_sequencing_with_every_filter(hub):
    """Probe: events() reads the log and the queue in one UNION; each filter, the order and
    the column types (aware times, JSON payloads) are the same for a queued event as for the
    same event once sequenced."""
    sequence_pending(hub.db, wait=True)
    start = hub.now()
    with hub.db.transaction() as s:
        for i in range(6):
            hub.audit.append(s, TokenRevoked(actor=f"probe-{i}", subject=f"t{i % 2}",
                                             token_name=f"n{i}"),
                             now=start + timedelta(seconds=i))
            hub.audit.append(s, PolicyLoaded(actor=f"probe-{i}", files=[f"f{i}.yaml"]),
                             now=start + timedelta(seconds=i))
    queries = [{}, {"names": ["TokenRevoked"]}, {"subject": "t1"},
               {"since": start + timedelta(seconds=2), "until": start + timedelta(seconds=4)},
               {"names": ["PolicyLoaded", "TokenRevoked"], "subject": "t0",
                "since": start + timedelta(seconds=1)}]

    def read() -> list[list[tuple]]:
        with hub.db.read() as s:
            return [[(r.name, r.created, r.actor, r.subject, r.payload)
                     for r in hub.audit.events(s, **q) if r.actor.startswith("probe-")]
                    for q in queries]

    queued = read()
    with hub.db.read() as s:
        assert all(r.seq is None for r in hub.audit.events(s, names=["TokenRevoked"])
                   if r.actor.startswith("probe-"))
    sequence_pending(hub.db, wait=True, limit=5)          # half moved: both tables at once
    half = read()
    sequence_pending(hub.db, wait=True)
    assert queued == half == read()
    every, revoked, t1, window, mixed = queued
    assert [e[2] for e in every] == [f"probe-{i // 2}" for i in range(12)]
    assert [e[2] for e in revoked] == [f"probe-{i}" for i in range(6)]
    assert [e[2] for e in t1] == ["probe-1", "probe-3", "probe-5"]
    assert {e[2] for e in window} == {"probe-2", "probe-3"} and len(window) == 4
    assert [e[2] for e in mixed] == ["probe-2", "probe-4"]
    assert every[0][1].tzinfo is not None and every[1][4] == {"files": ["f0.yaml"]}


def test_a_reload_that_fails_for_another_reason_also_puts_the_old_file_back(hub):
    """Finding: only a refused load (PolicyFileInvalid) put the old file back; any other
    failure of the reload (the address book unreadable: a database error) left the new file
    on disk, not loaded and not audited as RuleListEdited, to be loaded silently at the
    next start or SIGHUP."""
    define_rule_list(hub, "other", "friends", expected_digest=ABSENT)
    before = (hub.policies.directory / UI_FILE).read_bytes()
    digest = hub.policies.current.digest
    answers = iter([None, None])                  # build, check; then the reload fails

    def static_lists():
        try:
            return next(answers)
        except StopIteration:
            raise OSError("database is locked") from None

    racing = dataclasses.replace(hub, policies=PolicyState(
        hub.policies.directory, hub.policies.specs, static_lists=static_lists))
    with pytest.raises(OSError, match="database is locked"):
        define_rule_list(racing, "close", "clients", expected_digest=None)
    assert (hub.policies.directory / UI_FILE).read_bytes() == before
    assert racing.policies.current.digest == digest
    assert [e.subject for e in _events(hub, "RuleListEdited")] == ["other"]


def _events(hub, *names: str) -> list:
    with hub.db.read() as s:
        return hub.audit.events(s, names=list(names))


def test_a_hub_file_that_is_not_a_regular_file_is_refused_without_hanging(hub):
    """Finding: with a FIFO (or a link to one) planted as lists-from-ui.yaml, the Lists page's
    digest and every save blocked forever reading it, one web thread each; the loader itself
    skips such a file."""
    fifo = hub.policies.directory / UI_FILE
    os.mkfifo(fifo)
    outcome: list[object] = []

    def attempt() -> None:
        for call in (lambda: ui_file_digest(hub),
                     lambda: define_rule_list(hub, "close", "friends", expected_digest=None)):
            try:
                call()
                outcome.append("answered")
            except Conflict as exc:
                outcome.append(exc.message)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():                  # unblock the reader before failing
        with open(fifo, "wb"):
            pass
        worker.join(10)
        pytest.fail("reading the FIFO blocked")
    assert len(outcome) == 2 and all("not a regular file" in str(o) for o in outcome), outcome
    assert "close" not in hub.policies.current.lists


def test_a_lone_surrogate_in_a_description_is_a_400_not_a_poisoned_audit(hub, monkeypatch,
                                                                          tmp_path, policy_dir,
                                                                          database_url):
    """Finding: `hub lists define x RULE --description $'\\xff'` (argv bytes that are not UTF-8
    arrive as a lone surrogate) was saved, escaped in the file and loaded; its RuleListEdited
    event then could not be hashed (UnicodeEncodeError in the sequencer), so it stuck at the
    head of the audit queue and no later event was sequenced."""
    with pytest.raises(InvalidInput, match="surrogate") as caught:
        define_rule_list(hub, "close", "friends", "mine \udcff", expected_digest=None)
    assert caught.value.field == "description"
    with pytest.raises(InvalidInput, match="surrogate"):
        preview_rule_list(hub, "close", "friends \udcff")
    assert not (hub.policies.directory / UI_FILE).exists()
    for key, value in (("HUB_DATA_DIR", str(tmp_path / "var")), ("HUB_POLICY_DIR",
                       str(policy_dir)), ("HUB_DATABASE_URL", database_url),
                       ("HUB_SECRET_KEY", "test-secret-key-not-for-production")):
        monkeypatch.setenv(key, value)
    done = CliRunner().invoke(main, ["lists", "define", "close", "friends",
                                     "--description", "mine \udcff"])
    assert done.exit_code == 1 and "surrogate" in done.output, done.output
    sequence_pending(hub.db, wait=True)
    with hub.db.read() as s:
        assert hub.audit.verify(s).ok


# -- lone surrogates through the JSON API ----------------------------------------------------

@pytest.mark.parametrize("key", ['"\\udcff"', '"' + "b" * 1000 + '"'], ids=["surrogate", "long"])
def test_a_draft_variant_named_with_a_lone_surrogate_is_a_400_and_nothing_is_saved(api, key):
    """Finding: a variant's key was never checked for a draft (sending checks it against the
    policy): JSON's "\\udcff" escape is a lone surrogate, the draft was saved, and its reply
    (and from then on every GET /api/drafts of that token) was a 500, since it cannot be
    written as UTF-8."""
    hub, server, tokens = api
    body = '{"text": "hi", "audiences": ["friends"], "variants": {' + key + ': "x"}}'
    with bearer(server, tokens["owner"]) as client:
        r = client.post("/api/drafts", content=body,
                        headers={"Content-Type": "application/json"})
        assert r.status_code == 400, r.text[:200]
        assert r.json()["field"] == "variants"
        listed = client.get("/api/drafts")
        assert listed.status_code == 200 and listed.json() == {"drafts": []}
    assert list_drafts(hub, Author()) == []


# -- held-post and held-edit notices ---------------------------------------------------------

async def test_a_notice_carries_no_text_tag_or_content_warning_of_the_post(hub):
    """Probe: the owner feed's notices (title, detail, feed entry) for a held post and for a
    held edit name the post, audiences, targets, rules and author, never the text, content
    warning, variants or tags (other than one a rule names)."""
    secrets = ["SECRET-text-4711", "SECRET-cw-4712", "secret-tag-4713", "SECRET-variant-4714",
               "SECRET-edit-4715"]
    author = _token(hub, "phone", scopes=("post", "read"))
    held = submit_post(hub, PostInput(secrets[0], ["public"], tags=["work", secrets[2]],
                                      content_warning=secrets[1],
                                      variants={"bluesky": secrets[3]}), author)
    assert {d.status for d in held.deliveries} == {"held"}
    sent = submit_post(hub, PostInput("plain", ["public"]), author)
    for delivery_id in await asyncio.to_thread(due_ids, hub):
        await deliver(hub, delivery_id, worker="w")
    change = EditInput(text=secrets[4], tags=["work", secrets[2]], content_warning=secrets[1])
    plan = plan_edit(hub, sent.post.id, change, author)
    await edit_post(hub, sent.post.id, change, author, confirm=plan.digest)
    shown = notices(hub)
    assert sorted(n.kind for n in shown) == ["held", "held-edit"]
    feed = render(hub).decode()
    for secret in secrets:
        assert not any(secret.lower() in (n.title + n.detail).lower() for n in shown)
        assert secret.lower() not in feed.lower()
    assert held.post.id in feed and sent.post.id in feed


def test_an_event_that_cannot_be_hashed_is_refused_when_appended_not_when_sequenced(hub):
    """Finding (the class behind the rule-list and draft ones): an event holding a lone
    surrogate was queued, then the sequencer's hash (UTF-8 of the canonical JSON) raised on
    it, so it stayed at the head of the audit queue and no later event was ever sequenced.
    Now append refuses it (400), so the change it records rolls back with it."""
    sequence_pending(hub.db, wait=True)
    for event in (TokenRevoked(actor="owner", subject="t1", token_name="ph\udcffone"),
                  TokenRevoked(actor="own\udcffer", subject="t1", token_name="phone")):
        with pytest.raises(InvalidInput, match="surrogate"), hub.db.transaction() as s:
            hub.audit.append(s, event, now=hub.now())
    with hub.db.transaction() as s:
        hub.audit.append(s, TokenRevoked(actor="owner", subject="t1", token_name="fine"),
                         now=hub.now())
    sequence_pending(hub.db, wait=True)
    with hub.db.read() as s:
        assert [e.payload["token_name"] for e in hub.audit.events(s, names=["TokenRevoked"])
                if e.seq is not None] == ["fine"]
        assert hub.audit.verify(s).ok
