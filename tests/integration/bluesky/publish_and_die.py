"""Run one Bluesky publish in its own process and SIGKILL it at a chosen checkpoint.

``python publish_and_die.py ARGS.json``: ARGS holds the connection (settings, secret), the
draft (parts, payload), the delivery key, a JSON file standing in for the hub's durable Steps,
and ``die_at``: the step name whose recording kills the process — after the network write it
follows, before the hub could record it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from adapters.bluesky import build  # noqa: E402
from hub.ports import Connection, Draft  # noqa: E402
from tests.fakes import PlainCredentials  # noqa: E402


class FileSteps:
    def __init__(self, path: Path, die_at: str) -> None:
        self.path = path
        self.die_at = die_at

    def _load(self) -> dict[str, str]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    async def get(self, name: str) -> str | None:
        return self._load().get(name)

    async def record(self, name: str, value: str) -> None:
        if name == self.die_at:
            os.kill(os.getpid(), signal.SIGKILL)
        self.path.write_text(json.dumps({**self._load(), name: value}))


async def main(args: dict) -> None:
    publisher = build(Connection(args["account"], args["settings"], args["secret"]),
                      PlainCredentials())
    draft = Draft(platform="bluesky", account=args["account"], target="t",
                  parts=tuple(args["parts"]), payload=args["payload"])
    await publisher.publish(draft, key=args["key"],
                            steps=FileSteps(Path(args["steps"]), args["die_at"]))
    await publisher.aclose()


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
