"""An edit survives the hub being killed in the middle of it: the request only records the edit
(202), a ``hub worker`` changes the copy, and that worker is SIGKILLed while the network holds
its request (the replacement stored, the answer not yet given). Its lease runs out, a fresh
worker takes the edit again and finishes it — one replacement on the network, under the key
chosen when the edit was confirmed, and one story in the audit.

The distributed topology of the fault suite (web, a ``hub worker``, a private Redis,
PostgreSQL) and the signed webhook receiver, which verifies every signature."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from sqlmodel import select

from hub.audit.sequencer import sequence_pending
from hub.services.people import NewPerson
from hub.store.edit_tables import CopyEditRow
from hub.store.tables import AuditRow
from tests.conftest import wait_until
from tests.faults.channels import Webhook
from tests.faults.conftest import cluster, post, require_services
from tests.webhook_receiver import Answer

pytestmark = pytest.mark.integration


def _copies(client: httpx.Client, auth: dict[str, str], post_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/posts/{post_id}/copies", headers=auth)
    assert r.status_code == 200, r.text
    return list(r.json()["copies"])


@pytest.mark.timeout(300)
def test_a_worker_killed_mid_edit_leaves_it_to_the_next_worker_which_finishes_it_once(
        tmp_path) -> None:
    require_services()
    hook = Webhook()
    hook.audiences = {"friends": ("recipients", ("team-hook",))}
    hook.people = [NewPerson("Ana", [("email", "ana@example.org")], ["friends"])]
    with cluster(tmp_path, [hook], "  []\n", workers=1) as c, \
            httpx.Client(base_url=c.api, timeout=30) as client:
        auth = {"Authorization": f"Bearer {c.token}"}
        post_id = str(post(client, c.token, {"text": "Helo team [m001]",
                                             "audiences": ["friends"]})["id"])
        wait_until(lambda: _copies(client, auth, post_id)[0]["status"] == "published",
                   timeout=60, what="the first version to go out")
        [first] = hook.receiver.received
        # The next request (the replacement) is stored by the receiver, its answer held.
        release = threading.Event()
        hook.receiver.script.append(Answer(200, hold=release))
        url = f"/api/posts/{post_id}"
        preview = client.patch(url, json={"text": "Hello team [m001]"}, headers=auth).json()
        assert [c_["action"] for c_ in preview["copies"]] == ["replace"]
        done = client.patch(url, json={"text": "Hello team [m001]",
                                       "confirm": preview["confirm"]}, headers=auth)
        assert done.status_code == 202, done.text          # recorded; not run in the request
        assert done.json()["in_progress"] == ["team-hook"]

        def edited() -> list[Any]:
            return [r for r in hook.receiver.received
                    if "Hello team" in str((r.event.get("data") or {}).get("text", ""))]

        wait_until(lambda: edited(), timeout=30, what="the worker's replacement request")
        [worker] = c.topology.workers
        c.kill(worker, "mid-edit")
        release.set()
        with c.hub.db.read() as s:
            row = s.exec(select(CopyEditRow).where(CopyEditRow.post_id == post_id)).one()
        assert row.status == "in_flight" and row.new_receipt is None    # died before recording
        [copy] = _copies(client, auth, post_id)
        assert copy["carries_version"] == 1 and copy["edit"]["status"] == "in_flight"

        assert c.replace_dead_workers() == 1
        wait_until(lambda: (_copies(client, auth, post_id)[0]["edit"] or {}).get("status")
                   == "done", timeout=90, what="the next worker to finish the edit")
        [copy] = _copies(client, auth, post_id)
        assert copy["carries_version"] == 2 and copy["remote_id"] == row.key
        # Sent again after the kill with the same webhook-id (the receiver drops the repeat):
        # one replacement, under the key chosen when the edit was confirmed.
        assert len(edited()) >= 2 and {r.webhook_id for r in edited()} == {row.key}
        deleted = [r for r in hook.receiver.received if r.webhook_id.endswith(".deleted")]
        assert {r.webhook_id for r in deleted} == {f"{first.webhook_id}.deleted"}
        assert hook.receiver.rejected == []                       # every signature verified
        sequence_pending(c.hub.db, wait=True)     # the audit events still queued, too
        with c.hub.db.read() as s:
            story = [r.name for r in s.exec(select(AuditRow).where(
                AuditRow.post_id == post_id)) if r.name.startswith("Copy")]
            row = s.exec(select(CopyEditRow).where(CopyEditRow.post_id == post_id)).one()
        assert story == ["CopyReplaced"] and row.attempts == 2
