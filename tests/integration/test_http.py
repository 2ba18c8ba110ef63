"""The API and the private feeds over real HTTP (uvicorn on 127.0.0.1), workers in-process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from xml.etree import ElementTree as ET

import httpx
import pytest
import uvicorn

from hub.bootstrap import Mode
from hub.services.people import NewPerson, add_person, change_lists
from hub.services.tokens import create_token, revoke_token
from tests.conftest import free_port
from web.app import create_app

pytestmark = pytest.mark.integration
ATOM = "{http://www.w3.org/2005/Atom}"


class LiveServer:
    def __init__(self, app: object) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the hub did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def live(make_runtime, sqlite_url) -> Iterator[tuple[object, LiveServer, str]]:
    runtime = make_runtime(sqlite_url, real_clock=True, mode=Mode.EMBEDDED, sweep_seconds=0.2)
    hub = runtime.hub
    add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
    add_person(hub, NewPerson("Bo", [("email", "bo@example.org")], ["friends"]))
    _, token = create_token(hub, "phone", ["post", "read", "audit"], ["friends", "public"])
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server:
        hub.settings.public_url = server.url
        yield hub, server, token


def _wait_done(client: httpx.Client, post_id: str, token: str) -> dict:
    for _ in range(200):
        data = client.get(f"/api/posts/{post_id}",
                          headers={"Authorization": f"Bearer {token}"}).json()
        if all(d["status"] not in ("pending", "in_flight") for d in data["deliveries"]):
            return data
        time.sleep(0.05)
    raise AssertionError(f"deliveries did not finish: {data}")


def test_json_post_is_accepted_routed_and_published(live):
    hub, server, token = live
    with httpx.Client(base_url=server.url) as client:
        r = client.post("/api/posts", json={"text": "hello friends", "audiences": ["friends"],
                                             "tags": ["hi"]},
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 202, r.text
        body = r.json()
        assert r.headers["location"] == f"/api/posts/{body['id']}"
        assert {d["target"]: d["outcome"] for d in body["decisions"]}["friends-feed"] == "allow"
        assert {d["target"] for d in body["deliveries"]} == {"friends-mail", "friends-feed"}
        done = _wait_done(client, body["id"], token)
        states = {d["target"]: d["status"] for d in done["deliveries"]}
        assert states["friends-feed"] == "published"
        assert states["friends-mail"] == "failed"     # no SMTP account connected: said so
        mail = next(d for d in done["deliveries"] if d["target"] == "friends-mail")
        assert "hub accounts add email personal" in mail["reason"]


def test_form_encoded_post_from_a_shortcut_app(live):
    hub, server, token = live
    with httpx.Client(base_url=server.url) as client:
        r = client.post("/api/posts", data={"text": "from my phone", "audiences": "friends",
                                            "tags": "a, b"},
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 202, r.text
        assert r.json()["tags"] == ["a", "b"]


@pytest.mark.parametrize(("kwargs", "status", "detail"), [
    ({"json": {"text": "x", "audiences": ["friends"]}, "headers": {}}, 401, "Bearer"),
    ({"json": {"text": "x", "audiences": ["friends"]},
      "headers": {"Authorization": "Bearer hub_nope"}}, 401, "not valid"),
    ({"json": {"text": "x", "audiences": ["clients"]}}, 403, "may post to friends, public"),
    ({"json": {"text": "", "audiences": ["friends"]}}, 400, "text is empty"),
    ({"json": {"text": "x", "audiences": ["nope"]}}, 403, "not to nope"),
    ({"json": {"text": "x"}}, 400, "audiences: Field required"),
    ({"json": {"text": "x", "audiences": ["friends"], "extra": 1}}, 400, "extra: Extra inputs"),
    ({"content": b"{not json", "headers_ct": "application/json"}, 400, "not valid JSON"),
    ({"content": b"x" * 2_000_000, "headers_ct": "application/json"}, 413, "limited to"),
    ({"content": b"text=x", "headers_ct": "text/plain"}, 400, "unsupported content type"),
    ({"json": {"text": "x", "audiences": ["friends"], "schedule_at": "tomorrow"}}, 400,
     "schedule_at"),
])
def test_bad_requests_get_a_readable_4xx_and_write_nothing(live, kwargs, status, detail):
    hub, server, token = live
    headers = kwargs.pop("headers", {"Authorization": f"Bearer {token}"})
    if "headers_ct" in kwargs:
        headers["Content-Type"] = kwargs.pop("headers_ct")
    with httpx.Client(base_url=server.url) as client:
        before = client.get("/api/posts", headers={"Authorization": f"Bearer {token}"}).json()
        r = client.post("/api/posts", headers=headers, **kwargs)
        assert r.status_code == status, r.text
        assert detail in r.json()["detail"]
        after = client.get("/api/posts", headers={"Authorization": f"Bearer {token}"}).json()
        assert len(after) == len(before)


def test_private_feed_shows_only_what_reached_that_member_and_logs_fetches(live):
    hub, server, token = live
    from hub.services.feeds import feed_links, revoke_feed_access

    with httpx.Client(base_url=server.url) as client:
        auth = {"Authorization": f"Bearer {token}"}
        first = client.post("/api/posts", json={"text": "<script>alert(1)</script> & more",
                                                "audiences": ["friends"]}, headers=auth).json()
        _wait_done(client, first["id"], token)
        add_person(hub, NewPerson("Cy", [], ["friends"]))   # joins after the first post
        second = client.post("/api/posts", json={"text": "second", "audiences": ["friends"]},
                             headers=auth).json()
        _wait_done(client, second["id"], token)
        links = {link.name: link.url for link in feed_links(hub, "friends")}
        assert set(links) == {"Ana", "Bo", "Cy"}

        ana = client.get(links["Ana"])
        assert ana.status_code == 200
        assert ana.headers["content-type"].startswith("application/atom+xml")
        assert b"<script>" not in ana.content and b"&lt;script&gt;" in ana.content
        entries = ET.fromstring(ana.content).findall(f"{ATOM}entry")
        assert len(entries) == 2
        cy = ET.fromstring(client.get(links["Cy"]).content).findall(f"{ATOM}entry")
        assert [e.find(f"{ATOM}content").text for e in cy] == ["second"]

        assert client.get(links["Ana"][:-3] + "xyz").status_code == 404
        assert client.get("/feeds/friends.atom").status_code == 404
        assert client.get("/feeds/nope.atom?token=" + links["Ana"].split("=")[1]
                          ).status_code == 404
        revoke_feed_access(hub, "friends", "Bo")
        assert client.get(links["Bo"]).status_code == 404
        change_lists(hub, "friends", remove=["Cy"])
        assert client.get(links["Cy"]).status_code == 404

        audit = client.get(f"/api/audit/posts/{first['id']}", headers=auth).json()
        assert [f["name"] for f in audit["fetched_by"]] == ["Ana"]
        person = client.get("/api/audit/people/Ana", headers=auth).json()
        assert {p["post_id"] for p in person["posts"]} == {first["id"], second["id"]}
        assert len(person["feed_fetches"]) == 1


def test_revoked_token_and_scopes(live):
    hub, server, token = live
    _, read_only = create_token(hub, "reader", ["read"])
    with httpx.Client(base_url=server.url) as client:
        r = client.post("/api/posts", json={"text": "x", "audiences": ["friends"]},
                        headers={"Authorization": f"Bearer {read_only}"})
        assert r.status_code == 403 and "lacks the 'post' scope" in r.json()["detail"]
        r = client.get("/api/audit/verify", headers={"Authorization": f"Bearer {read_only}"})
        assert r.status_code == 403
        revoke_token(hub, "phone")
        r = client.get("/api/posts", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401


def test_audit_endpoints_and_export(live):
    hub, server, _ = live
    # the whole log spans every audience: an audience-limited token may not export it
    _, token = create_token(hub, "auditor", ["post", "read", "audit"])
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url) as client:
        post = client.post("/api/posts", json={"text": "x", "audiences": ["friends"]},
                           headers=auth).json()
        _wait_done(client, post["id"], token)
        verify = client.get("/api/audit/verify", headers=auth).json()
        assert verify["ok"] is True and verify["events"] > 5
        lines = client.get("/api/audit/export?format=jsonl", headers=auth).text.splitlines()
        assert len(lines) == verify["events"]
        csv_text = client.get("/api/audit/export?format=csv", headers=auth).text
        assert csv_text.splitlines()[0].startswith("seq,name,created")
        assert client.get("/api/audit/posts/nope", headers=auth).status_code == 404
        assert client.get("/healthz").json()["database"] == "ok"
        metrics = client.get("/metrics").text      # embedded mode counts its own attempts
        assert 'hub_delivery_attempts_total{outcome="published",platform="feed"}' in metrics
        assert 'hub_deliveries{platform="feed",state="published"}' in metrics
        assert client.get("/docs").status_code == 200
        assert "/api/posts" in client.get("/openapi.json").json()["paths"]
