"""A process that runs the audit sequencer, for the kill -9 tests.

``python -m tests.faults.sequencer_child URL hold``: sequence every queued event in one batch,
print ``mid-batch N`` once every row of the batch is written and not yet committed, then wait
(for the parent's ``kill -9``) on stdin. ``... URL wait``: print ``started``, sequence
everything (waiting for the lock if another process holds it), print ``done N``.
"""

from __future__ import annotations

import sys

from hub.audit.sequencer import sequence_pending
from hub.store.db import Database, make_engine


def main() -> None:
    url, how = sys.argv[1], sys.argv[2]
    db = Database(make_engine(url, pool_size=2))
    if how == "hold":
        def hold(n: int) -> None:
            print(f"mid-batch {n}", flush=True)
            sys.stdin.readline()     # blocks until the parent kills this process

        sequence_pending(db, limit=1_000_000, before_commit=hold)
        print("committed (the parent was meant to kill this process first)", flush=True)
        return
    print("started", flush=True)
    print(f"done {sequence_pending(db, wait=True)}", flush=True)


if __name__ == "__main__":
    main()
