"""Variants and threads against the real sinks (aiosmtpd, the Mastodon double, the reference
PDS), read back from the sinks: a tag or a client mention typed only in one network's variant
(or in one part of a thread) keeps the post off that network and only that one; a clean
variant is what its network gets, and nothing else gets it; a thread arrives as a reply chain.
In the style of ``test_audience_corpus.py``: zero copies outside the permitted set, every
permitted copy exactly once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.services.posts import FINAL
from tests.faults.conftest import cluster, post, require_services
from tests.faults.platforms import Bluesky, Mastodon, assert_exactly_permitted
from tests.faults.test_audience_corpus import FRIENDS, RULES, _wait, platforms

pytestmark = pytest.mark.integration

MASTO, BSKY = {"masto-public": {"status"}}, {"bsky": {"record"}}
MAIL = {"friends-mail": FRIENDS}


@dataclass
class Case:
    name: str
    audiences: tuple[str, ...]
    text: str | list[str]
    permitted: dict[str, set[str]]
    variants: dict[str, str | list[str]] = field(default_factory=dict)
    only_in: dict[str, str] = field(default_factory=dict)   # target -> words only its copy has
    marker: str = ""
    post_id: str = ""

    def _mark(self, value: str | list[str]) -> str | list[str]:
        # the marker goes in the first part only: a thread counts once per network
        if isinstance(value, str):
            return f"{value} {self.marker}"
        return [f"{value[0]} {self.marker}", *value[1:]]

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"audiences": list(self.audiences),
                                "variants": {k: self._mark(v) for k, v in self.variants.items()}}
        body["thread" if isinstance(self.text, list) else "text"] = self._mark(self.text)
        return body


def corpus() -> list[Case]:
    cases = [
        Case("control: a clean variant for Bluesky", ("public",), "the main text",
             {**MASTO, **BSKY}, {"bluesky": "short for Bluesky"},
             only_in={"bsky": "short for Bluesky", "masto-public": "the main text"}),
        Case("#kids only in the Bluesky variant", ("public",), "lunch", MASTO,
             {"bluesky": "lunch #kids"}),
        Case("fullwidth ＃kids only in the Bluesky variant", ("public",), "lunch", MASTO,
             {"bluesky": "lunch ＃ｋｉｄｓ"}),
        Case("#ki(zwj)ds only in the Mastodon variant", ("public",), "lunch", BSKY,
             {"mastodon": "lunch #ki\u200dds"}),
        Case("a client's handle only in the Bluesky variant", ("public",), "thanks all", MASTO,
             {"bluesky": "thanks @Ana.Bsky.Social!"}),
        Case("a client's address only in the Mastodon variant, by target", ("public",),
             "thanks all", BSKY, {"masto-public": "thanks @ana@example.social"}),
        Case("#kids in the main text, a clean Bluesky variant", ("public", "friends"),
             "sunday #kids", {**BSKY, **MAIL}, {"bluesky": "sunday"},
             only_in={"bsky": "sunday"}),
        Case("#kids in the second part of a Bluesky thread variant", ("public",), "two parts",
             MASTO, {"bluesky": ["part one", "part two #kids"]}),
        Case("a client in the second part of the main thread", ("public", "friends"),
             ["part one", "part two @ana@example.social"], MAIL),
        Case("a clean thread goes as a reply chain", ("public", "friends"),
             ["the first part", "the second part"], {**MASTO, **BSKY, **MAIL},
             only_in={"bsky": "the second part", "masto-public": "the second part"}),
        Case("an email variant reaches the mail only", ("public", "friends"), "for everyone",
             {**MASTO, **BSKY, **MAIL}, {"email": "for the friends #kids"}),
    ]
    for n, case in enumerate(cases, 201):
        case.marker = f"[m{n:03d}]"
    return cases


@pytest.mark.timeout(300)
def test_each_network_gets_and_is_judged_on_its_own_text(tmp_path: Path, pds: Any) -> None:
    require_services()
    under_test = platforms(pds, feed=False)
    cases = corpus()
    with cluster(tmp_path, under_test, RULES, workers=1) as c, \
            httpx.Client(base_url=c.api, timeout=30) as client:
        for case in cases:
            case.post_id = str(post(client, c.token, case.body())["id"])
        _wait(client, c, cases, lambda v: all(d["status"] in FINAL for d in v["deliveries"]),
              timeout=90)
        assert_exactly_permitted(cases, c.platforms)

        mastodon = next(p for p in under_test if isinstance(p, Mastodon))
        bluesky = next(p for p in under_test if isinstance(p, Bluesky))
        assert mastodon.http is not None
        statuses = mastodon.http.get("/_double/statuses").json()
        records = [r["value"] for r in pds.records(bluesky.account.did, "app.bsky.feed.post")]
        texts = {"masto-public": [s["text"] for s in statuses],
                 "bsky": [r.get("text", "") for r in records]}
        for case in cases:
            for target, words in case.only_in.items():
                assert any(words in t for t in texts[target]), (case.name, target)
                others = [o for o in texts if o != target]
                if case.variants:   # a variant's words reach no other network
                    assert not any(words in t and case.marker in t
                                   for o in others for t in texts[o]), (case.name, target)
        # the thread: its second part replies to its first, on both networks
        second = next(s for s in statuses if "the second part" in s["text"])
        first = next(s for s in statuses if s["id"] == second["in_reply_to_id"])
        assert "the first part" in first["text"]
        reply = next(r for r in records if "the second part" in r.get("text", ""))
        assert "reply" in reply and reply["reply"]["root"]["uri"]
