"""The platform side of the fault suite, pluggable: each platform brings its servers, its part
of the policy, its people, its faults, and a way to count what really reached it — by reading
the platform itself (a mailbox, a feed over HTTP, a server's statuses), never the hub's tables.

``copies(marker, target)`` answers "where did the post with this marker land for this target,
and how many distinct copies are there": ``{place: n}``. An allowed delivery must give exactly
the expected places with 1 each; a denied one must give nothing.
"""

from __future__ import annotations

import contextlib
import random
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest

from hub.runtime import Hub
from hub.services.people import NewPerson
from tests.conftest import ROOT, free_port
from tests.faults.smtp import FaultySmtpServer

MARKER = re.compile(r"\[m\d{3,}\]")
ATOM = "{http://www.w3.org/2005/Atom}"


@dataclass
class Platform:
    """Base: a name, its policy part, its people; subclasses read the platform."""

    name: str
    accounts: tuple[str, ...] = ()
    targets: dict[str, str] = field(default_factory=dict)         # name -> YAML flow mapping
    audiences: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    people: list[NewPerson] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)

    def start(self, stack: contextlib.ExitStack, tmp: Path) -> None:
        """Start this platform's servers (stopped when ``stack`` closes)."""

    async def connect(self, hub: Hub) -> None:
        """Store the account connection, as ``hub accounts add`` would."""

    def inject(self, rng: random.Random) -> None:
        """Inject one random platform fault (5xx, 429, timeout, ...)."""

    def calm(self) -> None:
        """The chaos is over: drop the faults injected but not yet met (a queue of scripted
        failures left behind would all land on the last deliveries, one backoff after another,
        and spend the settle window on nothing the test is about)."""

    def expected(self, target: str) -> set[str]:
        """Where an allowed post for ``target`` must appear (recipients, readers, the account)."""
        raise NotImplementedError

    def copies(self, marker: str, target: str) -> dict[str, int]:
        raise NotImplementedError

    def notes(self) -> dict[str, Any]:
        """What the platform saw beyond the verdict (raw duplicates...), for the report."""
        return {}


def _people(prefix: str, n: int, list_name: str, kind: str | None) -> list[NewPerson]:
    made = []
    for i in range(n):
        name = f"{prefix.title()} {i}"
        ident = [(kind, f"{prefix}{i}@example.org")] if kind == "email" else []
        made.append(NewPerson(name, ident, [list_name]))
    return made


class Email(Platform):
    """SMTP to hub lists: ``friends`` one message per person, ``clients`` one Bcc message."""

    def __init__(self) -> None:
        super().__init__(
            "email", accounts=("email:personal",),
            targets={"friends-mail": "{account: email:personal, list: friends}",
                     "clients-mail": "{account: email:personal, list: clients, mode: bcc}"},
            audiences={"friends": ("recipients", ("friends-mail",)),
                       "clients": ("recipients", ("clients-mail",))},
            people=_people("friend", 3, "friends", "email") + _people("client", 2, "clients",
                                                                      "email"))
        self.server = FaultySmtpServer()
        self.lists = {"friends-mail": {f"friend{i}@example.org" for i in range(3)},
                      "clients-mail": {f"client{i}@example.org" for i in range(2)}}

    def start(self, stack: contextlib.ExitStack, tmp: Path) -> None:
        stack.enter_context(self.server)

    async def connect(self, hub: Hub) -> None:
        from adapters.email import connect
        from hub.services.accounts import connect_account

        await connect_account(hub, "email:personal",
                              self.server.account_settings(timeout=2.0), "", connect)

    def inject(self, rng: random.Random) -> None:
        if rng.random() < 0.7:
            n = rng.randint(1, 3)
            self.server.inbox.tempfail(n)
            self.faults["smtp 451 (try later)"] += n
        else:
            self.server.inbox.stall(1, 3.0)
            self.faults["smtp timeout"] += 1

    def expected(self, target: str) -> set[str]:
        return set(self.lists[target])

    def _by_marker(self) -> dict[str, list[Any]]:
        index: dict[str, list[Any]] = defaultdict(list)
        for m in self.server.inbox.snapshot():
            found = MARKER.search(m.text)
            if found:
                index[found.group(0)].append(m)
        return index

    def copies(self, marker: str, target: str) -> dict[str, int]:
        ids: dict[str, set[str]] = defaultdict(set)
        for m in self._by_marker().get(marker, []):
            for address in m.envelope_to:
                if address in self.lists[target]:
                    ids[address].add(m.message_id)
        return {address: len(found) for address, found in ids.items()}

    def resent_keys(self) -> set[str]:
        """Delivery keys of messages that reached one recipient more than once."""
        pairs = Counter((m.message_id, a) for m in self.server.inbox.snapshot()
                        for a in m.envelope_to)
        return {re.sub(r"^<([^.@>]+).*$", r"\1", mid) for (mid, _), n in pairs.items() if n > 1}

    def notes(self) -> dict[str, Any]:
        pairs = Counter((m.message_id, a) for m in self.server.inbox.snapshot()
                        for a in m.envelope_to)
        return {"messages": len(self.server.inbox.snapshot()),
                "resent_with_same_message_id": sum(n - 1 for n in pairs.values() if n > 1),
                "injected": dict(self.server.inbox.injected)}


class Feed(Platform):
    """Private Atom feeds, read over HTTP from the web process with each reader's link."""

    def __init__(self) -> None:
        super().__init__(
            "feed", accounts=("feed:site",),
            targets={"readers-feed": "{account: feed:site, list: readers}"},
            audiences={"readers": ("recipients", ("readers-feed",))},
            people=_people("reader", 2, "readers", None))
        self.links: dict[str, str] = {}       # person name -> URL
        self._cache: dict[str, list[str]] | None = None

    async def connect(self, hub: Hub) -> None:
        return None    # the hub serves feeds itself: no account to connect

    def prepare_links(self, hub: Hub) -> None:
        from hub.services.feeds import feed_links

        self.links = {link.name: link.url for link in feed_links(hub, "readers")}

    def expected(self, target: str) -> set[str]:
        return set(self.links)

    def _read(self) -> dict[str, list[str]]:
        if self._cache is None:
            self._cache = {}
            for name, url in self.links.items():
                response = httpx.get(url, timeout=10)
                response.raise_for_status()
                root = ET.fromstring(response.content)
                self._cache[name] = [e.findtext(f"{ATOM}content") or ""
                                     for e in root.iter(f"{ATOM}entry")]
        return self._cache

    def copies(self, marker: str, target: str) -> dict[str, int]:
        found = {name: sum(marker in text for text in entries)
                 for name, entries in self._read().items()}
        return {name: n for name, n in found.items() if n}


class Mastodon(Platform):
    """The project's Mastodon API double (``python -m tests.mastodon_double``), with its fault
    injection: 5xx, 429 with a reset time, and answers delayed past the client's timeout
    (the status is stored, the client sees a timeout)."""

    def __init__(self) -> None:
        super().__init__(
            "mastodon", accounts=("mastodon:main",),
            targets={"masto-public": "{account: mastodon:main, visibility: public}"},
            audiences={"public": ("world", ("masto-public",))})
        self.base = ""
        self.http: httpx.Client | None = None
        self.owner: dict[str, Any] = {}
        self._statuses: list[dict[str, Any]] | None = None

    def start(self, stack: contextlib.ExitStack, tmp: Path) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        log = (tmp / "mastodon-double.log").open("wb")
        stack.callback(log.close)
        how = f"cd {ROOT} && {sys.executable} -m tests.mastodon_double --port {port}"
        proc = subprocess.Popen([sys.executable, "-m", "tests.mastodon_double", "--port",
                                 str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        stack.callback(_stop_child, proc)
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the Mastodon double exited ({proc.returncode}); "
                            f"log {tmp / 'mastodon-double.log'}; start it by hand: {how}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/_double/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"the Mastodon double did not answer in 30s; start it by hand: "
                            f"{how}")
            time.sleep(0.1)
        self.http = stack.enter_context(httpx.Client(base_url=self.base, timeout=10))
        self.http.post("/_double/reset", json={"config": {}}).raise_for_status()
        from adapters.mastodon import SCOPES

        self.owner = self.http.post("/_double/accounts", json={
            "username": "me", "scopes": list(SCOPES)}).json()

    async def connect(self, hub: Hub) -> None:
        from adapters.mastodon import connect
        from hub.services.accounts import connect_account

        await connect_account(hub, "mastodon:main",
                              {"instance": self.base, "request_timeout": 2.0},
                              self.owner["token"], connect)

    def inject(self, rng: random.Random) -> None:
        assert self.http is not None
        kind = rng.choice(["500", "503", "429", "timeout"])
        if kind == "429":
            fault: dict[str, Any] = {"kind": "ratelimit", "reset_in": 1.0}
        elif kind == "timeout":
            fault = {"kind": "delay", "seconds": 3.0, "when": "after"}
        else:
            fault = {"kind": "error", "status": int(kind)}
        self.http.post("/_double/faults", json={**fault, "method": "POST",
                                                "path": "/api/v1/statuses"}).raise_for_status()
        self.faults[f"mastodon {kind}"] += 1

    def expected(self, target: str) -> set[str]:
        return {"status"}

    def copies(self, marker: str, target: str) -> dict[str, int]:
        assert self.http is not None
        if self._statuses is None:      # read once, after the run
            self._statuses = self.http.get("/_double/statuses").json()
        live = [s for s in self._statuses if not s["deleted"] and marker in s["text"]]
        return {"status": len(live)} if live else {}

    def notes(self) -> dict[str, Any]:
        assert self.http is not None
        violations = self.http.get("/_double/violations").json()
        return {"statuses": len(self.http.get("/_double/statuses").json()),
                "contract_violations": violations}


class Bluesky(Platform):
    """The reference Bluesky PDS from npm with a local PLC (``tests/integration/bluesky``'s
    launcher). Records get the delivery's TID as rkey, so a retry after a kill finds the
    record instead of writing a second one. No HTTP faults here: the PDS has no switch for
    them (a fault proxy would be bypassed once the SDK follows the DID document)."""

    def __init__(self, pds: Any) -> None:
        super().__init__(
            "bluesky", accounts=("bluesky:me",),
            targets={"bsky": "{account: bluesky:me}"},
            audiences={"public": ("world", ("bsky",))})
        self.pds = pds
        self.account: Any = None
        self._texts: list[str] | None = None

    def merge_into(self, platforms: list[Platform]) -> None:
        """Share the ``public`` audience with the Mastodon target, if there is one."""
        for p in platforms:
            if "public" in p.audiences:
                reach, targets = p.audiences["public"]
                p.audiences["public"] = (reach, (*targets, "bsky"))
                self.audiences = {}

    async def connect(self, hub: Hub) -> None:
        from adapters.bluesky import connect
        from hub.services.accounts import connect_account

        self.account = self.pds.create_account("hub")
        await connect_account(hub, "bluesky:me", {"handle": self.account.handle,
                                                  "service": self.pds.url},
                              self.account.app_password, connect)

    def expected(self, target: str) -> set[str]:
        return {"record"}

    def copies(self, marker: str, target: str) -> dict[str, int]:
        if self._texts is None:          # read once, after the run
            self._texts = [r["value"].get("text", "") for r in
                           self.pds.records(self.account.did, "app.bsky.feed.post")]
        n = sum(marker in text for text in self._texts)
        return {"record": n} if n else {}

    def notes(self) -> dict[str, Any]:
        return {"records": len(self._texts or [])}


def _stop_child(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def policy_yaml(platforms: list[Platform], rules: str) -> str:
    accounts = [a for p in platforms for a in p.accounts]
    lines = ["version: 1", f"accounts: [{', '.join(accounts)}]", "targets:"]
    lines += [f"  {name}: {spec}" for p in platforms for name, spec in p.targets.items()]
    lines.append("audiences:")
    for p in platforms:
        for name, (reach, targets) in p.audiences.items():
            lines.append(f"  {name}: {{reach: {reach}, targets: [{', '.join(targets)}]}}")
    return "\n".join(lines) + "\nrules:\n" + rules


def every_target(platforms: list[Platform]) -> Iterator[tuple[str, Platform]]:
    for p in platforms:
        for name in p.targets:
            yield name, p


def assert_exactly_permitted(cases: Any, platforms: list[Platform]) -> None:
    """Read every sink back: no copy of a case (found by its ``marker``) outside its
    ``permitted`` places ({target: {place}}), and every permitted copy exactly once."""
    leaks, missing = [], []
    for case in cases:
        for target, platform in every_target(platforms):
            got = platform.copies(case.marker, target)
            allowed = case.permitted.get(target, set())
            leaks += [f"{case.name}: {target} -> {place}" for place in set(got) - allowed]
            missing += [f"{case.name}: {target} -> {place} ({got.get(place, 0)} copies)"
                        for place in allowed if got.get(place) != 1]
    assert not leaks, f"copies outside the permitted set: {leaks}"
    assert not missing, f"permitted copies missing or doubled: {missing}"
