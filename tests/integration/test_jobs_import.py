"""The batched import (hub.services.people_import): a bad entry anywhere is found before the
first write; the address book changing between the check and a later batch stops the
import with the entry named and what went in kept; batches share what earlier ones matched;
a job's count is the committed count. Against real SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlmodel import select

from hub.errors import InvalidInput
from hub.services import jobs
from hub.services.people import NewPerson, add_person, list_people
from hub.services.people_import import csv_entries, upsert_entries
from hub.services.people_import_job import import_params, keep_upload
from hub.store.tables import PersonRow

pytestmark = pytest.mark.integration


def rows(n: int, *, lists: str = "club") -> str:
    return "name,email,lists\n" + "".join(
        f"Person {i},p{i}@example.org,{lists}\n" for i in range(n))


def names(hub) -> list[str]:
    return sorted(p.name for p, _, _ in list_people(hub))


def test_a_problem_anywhere_is_found_before_the_first_write(database_url, make_hub):
    hub = make_hub(database_url)
    add_person(hub, NewPerson("Ana", [("email", "ana@example.org")]))
    add_person(hub, NewPerson("Bo", [("email", "bo@example.org")]))
    data = rows(7) + "Anabo,ana@example.org bo@example.org,club\n" + rows(3)[17:]
    with pytest.raises(InvalidInput, match=r"^CSV line 9 \(Anabo\): its identities belong "
                                           r"to different people"):
        upsert_entries(hub, csv_entries(data), batch_rows=2)
    assert names(hub) == ["Ana", "Bo"]
    with pytest.raises(InvalidInput, match=r"^CSV line 4 \(Pe\x08rson\): name holds"):
        upsert_entries(hub, csv_entries(rows(2) + "Pe\x08rson,x@example.org,\n"), batch_rows=1)
    assert names(hub) == ["Ana", "Bo"]


def test_a_conflict_arising_between_batches_names_the_entry_and_keeps_what_went_in(
        database_url, make_hub):
    hub = make_hub(database_url)
    data = rows(4) + "Late,late@example.org late@work.example,\n"
    seen: list[int] = []
    done: list[bool] = []

    def meanwhile(seconds: float) -> None:   # between batches, someone else adds these two
        if seen[-1] >= 2 and not done:
            done.append(True)
            add_person(hub, NewPerson("Elsewhere", [("email", "late@example.org")]))
            add_person(hub, NewPerson("Other", [("email", "late@work.example")]))

    with pytest.raises(InvalidInput) as err:
        upsert_entries(hub, csv_entries(data), batch_rows=2, pause=meanwhile,
                       on_batch=lambda s, written, added, updated: seen.append(written))
    message = err.value.message
    assert message.startswith("CSV line 6 (Late): its identities belong to different people")
    kept = seen[-1]   # batches may end early (after 0.2 s of work): what committed stays
    assert f"The first {kept} entries were imported and stay" in message
    assert "not added twice" in message and 2 <= kept <= 4
    assert names(hub) == ["Elsewhere", "Other", *(f"Person {i}" for i in range(kept))]


def test_batches_share_what_earlier_batches_matched(database_url, make_hub):
    hub = make_hub(database_url)
    data = "name,email,lists\nAna,,club\nBo,,club\nAna,,friends\n"   # two people called Ana
    assert upsert_entries(hub, csv_entries(data), batch_rows=1) == (3, 0)
    assert names(hub) == ["Ana", "Ana", "Bo"]
    data = rows(5)
    assert upsert_entries(hub, csv_entries(data), batch_rows=2) == (5, 0)
    assert upsert_entries(hub, csv_entries(data), batch_rows=3) == (0, 5)   # re-run: updates
    with hub.db.read() as s:
        assert len(list(s.exec(select(PersonRow)))) == 8


def test_an_import_job_counts_what_is_committed_and_removes_its_upload(database_url, make_hub):
    hub = make_hub(database_url)
    path = keep_upload(hub, "club.csv", rows(30).encode())
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    seen: list[tuple[int, int | None]] = []
    row = jobs.run_now(hub, "people-import", import_params(path, filename="club.csv",
                                                           keep=False),
                       on_update=lambda done, total, message: seen.append((done, total)))
    assert row.state == "done", row.error
    assert (row.done, row.total) == (30, 30)
    assert row.result == {"added": 30, "updated": 0, "entries": 30, "filename": "club.csv"}
    assert row.message == "imported 30 people from club.csv (30 new, 0 updated)"
    assert seen[-1] == (30, 30) and all(t in (None, 30) for _, t in seen)
    assert not path.exists()
    gone = jobs.run_now(hub, "people-import", import_params(path, filename="club.csv"))
    assert gone.state == "failed" and gone.error == "club.csv is no longer there; import it again"
    bad = keep_upload(hub, "bad.csv", b"\xff\xfe not text")
    failed = jobs.run_now(hub, "people-import", import_params(bad, filename="bad.csv"))
    assert failed.state == "failed" and failed.error == "bad.csv is not UTF-8 text"


def test_a_vcard_file_goes_in_as_a_job_and_a_bad_card_is_named(database_url, make_hub):
    hub = make_hub(database_url)
    card = ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nEMAIL:{email}\r\n"
            "CATEGORIES:club\r\nEND:VCARD\r\n")
    good = "".join(card.format(name=f"Card {i}", email=f"c{i}@example.org") for i in range(12))
    row = jobs.run_now(hub, "people-import", import_params(
        keep_upload(hub, "cards.vcf", good.encode()), filename="cards.vcf", keep=False))
    assert (row.state, row.done, row.result["added"]) == ("done", 12, 12)
    bad = good + card.format(name="Broken", email="nope")
    failed = jobs.run_now(hub, "people-import", import_params(
        keep_upload(hub, "more.vcf", bad.encode()), filename="more.vcf", keep=False))
    assert failed.state == "failed"
    assert failed.error is not None and failed.error.startswith("vCard #13 (Broken): 'nope'")
    assert len(names(hub)) == 12
