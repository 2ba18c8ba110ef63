"""Text hygiene at the door, over real HTTP: control characters and lone surrogates are
refused with a 4xx naming the field, whitespace-only text is "text is empty" on every path
(the compose form with an email audience ticked included), and nothing is half-written."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

import adapters.email
from hub.bootstrap import Mode
from hub.errors import InvalidInput
from hub.services.accounts import connect_account
from hub.services.owner import set_password
from hub.services.people import NewPerson, add_person, list_people, update_person
from hub.services.people_import import import_people, parse_csv
from hub.services.tokens import create_token
from tests.integration.smtp import SmtpServer
from tests.integration.test_http import LiveServer
from tests.integration.test_ui_security import PASSWORD, csrf_of, log_in
from web.app import create_app

pytestmark = pytest.mark.integration


@pytest.fixture
def site(make_runtime, sqlite_url, fakes) -> Iterator[tuple[object, LiveServer, str]]:
    """A hub whose email account is the real adapter (on a local SMTP server)."""
    fakes.pop("email:personal", None)
    runtime = make_runtime(sqlite_url, real_clock=True, mode=Mode.EMBEDDED, sweep_seconds=0.2)
    hub = runtime.hub
    with SmtpServer() as smtp:
        asyncio.run(connect_account(hub, "email:personal", smtp.settings, "",
                                    adapters.email.connect))
        add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
        set_password(hub, PASSWORD)
        _, token = create_token(hub, "phone", ["post", "read"])
        with LiveServer(create_app(hub.settings, runtime=runtime)) as server:
            hub.settings.public_url = server.url
            yield hub, server, token


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"text": "tab\tand\nnewline are fine, but \u000b is not"}, "text", "U+000B"),
    ({"text": "unit separator \u001f"}, "text", "U+001F"),
    ({"text": "half a pair \ud83d"}, "text", "lone surrogate"),
    ({"text": " \n\t  "}, "text", "text is empty"),
    ({"text": "ok", "content_warning": "two\nlines"}, "content_warning", "line break"),
    ({"text": "ok", "content_warning": "bell \u0007"}, "content_warning", "U+0007"),
])
def test_the_api_refuses_bad_characters_naming_the_field(site, body, field, words):
    hub, server, token = site
    # json.dumps keeps a lone surrogate as the escape "\ud83d", as a phone app would send it
    raw = json.dumps({"audiences": ["friends"], **body})
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}",
                                                    "Content-Type": "application/json"}) as c:
        r = c.post("/api/posts", content=raw)
        assert r.status_code == 400, r.text
        assert r.json()["field"] == field and words in r.json()["detail"]
        assert c.get("/api/posts").json() == []                  # nothing was written


def test_the_compose_form_with_an_email_audience_says_text_is_empty(site):
    hub, server, _ = site
    with httpx.Client(base_url=server.url) as owner:
        assert log_in(owner).status_code == 303
        page = owner.get("/compose")
        for action in ("send", "preview"):
            r = owner.post("/compose", data={"text": "   \n  ", "audiences": "friends",
                                             "action": action,
                                             "csrf_token": csrf_of(page.text)})
            if action == "send":
                assert r.status_code == 400 and "text is empty" in r.text.lower()
            else:
                assert r.status_code == 200 and "text is empty" in r.text.lower().lower()
        preview = owner.post("/compose/preview", data={
            "text": "  ", "audiences": "friends", "csrf_token": csrf_of(page.text)})
        assert preview.status_code == 200 and "text is empty" in preview.text.lower()
        r = owner.post("/compose", data={"text": "fine", "content_warning": "a\u000bb",
                                         "audiences": "friends",
                                         "csrf_token": csrf_of(page.text)})
        assert r.status_code == 400 and "U+000B" in r.text
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {site[2]}"}) as c:
        assert c.get("/api/posts").json() == []


def test_person_and_list_names_refuse_control_characters(site):
    hub, server, _ = site
    with pytest.raises(InvalidInput, match="line break") as err:
        add_person(hub, NewPerson("Bo\nBcc: everyone@example.org", [], ["friends"]))
    assert err.value.field == "name"
    with pytest.raises(InvalidInput) as err:
        add_person(hub, NewPerson("Bo", [], ["friends\n"]))
    assert err.value.field == "list"
    with pytest.raises(InvalidInput, match=r"U\+001B") as err:
        update_person(hub, "Ana", name="Ana\x1b[31m")
    assert err.value.field == "name"
    with pytest.raises(InvalidInput, match=r"entry 2 \(Dee.*\): name holds"):
        import_people(hub, parse_csv("name,email\nCy,cy@example.org\nDee\u0008,d@example.org\n"))
    assert [p.name for p, _, _ in list_people(hub)] == ["Ana"]       # nothing half-written
    with httpx.Client(base_url=server.url) as owner:                  # and through the form
        assert log_in(owner).status_code == 303
        page = owner.get("/people")
        r = owner.post("/people", data={"name": "Eve\u0007", "csrf_token": csrf_of(page.text)})
        assert r.status_code == 400 and "U+0007" in r.text
