"""A real Synapse homeserver, started once per test session on 127.0.0.1 (see
``tests/synapse/server.py``), and a hub with a Matrix account connected to it.

Synapse is installed by ``scripts/install-synapse`` into its own virtualenv in a cache outside
the checkout; when it is missing these tests fail and say how to install it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import adapters.matrix
from hub.services.accounts import connect_account
from tests.conftest import free_port
from tests.synapse.server import Synapse, User, start, stop, synapse_home


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    home = synapse_home()
    if not (home / ".complete").exists():
        pytest.fail(f"Synapse is not installed at {home}: run scripts/install-synapse "
                    "(needs PyPI, about a minute the first time)", pytrace=False)
    try:
        server = start(home, tmp_path_factory.mktemp("synapse"), free_port())
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        stop(server)


@pytest.fixture
def hub_user(synapse: Synapse) -> User:
    return synapse.register("hub")


@pytest.fixture
def connect_matrix(synapse: Synapse, hub_user: User):
    def connect(hub, account: str = "matrix:home") -> None:
        asyncio.run(connect_account(hub, account, {"homeserver": synapse.url}, hub_user.token,
                                    adapters.matrix.connect))
    return connect
