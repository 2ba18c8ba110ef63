"""A real Synapse homeserver for the Matrix tests: installed by ``scripts/install-synapse`` into
its own cached virtualenv, started on 127.0.0.1 with SQLite, registration by shared secret, no
federation and rate limits lifted. Users are created through the admin registration API."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "tests" / "synapse" / "requirements.txt"
SERVER_NAME = "hub.test"


def synapse_home() -> Path:
    """Where scripts/install-synapse puts the virtualenv for the current requirements."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    cache = os.environ.get("CROSSPOST_SYNAPSE_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "crosspost-hub")
    return Path(cache) / f"synapse-{digest}"


_UNLIMITED = {"per_second": 10000, "burst_count": 10000}


def config(data: Path, port: int, shared_secret: str) -> str:
    """homeserver.yaml: one plain-HTTP client listener on loopback, everything local."""
    import json  # YAML is a superset of JSON: no YAML writer needed

    doc: dict[str, Any] = {
        "server_name": SERVER_NAME,
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "pid_file": str(data / "homeserver.pid"),
        "listeners": [{"port": port, "bind_addresses": ["127.0.0.1"], "type": "http",
                       "tls": False, "x_forwarded": False,
                       "resources": [{"names": ["client"], "compress": False}]}],
        "database": {"name": "sqlite3", "args": {"database": str(data / "homeserver.db")}},
        "media_store_path": str(data / "media"),
        "signing_key_path": str(data / "signing.key"),
        "registration_shared_secret": shared_secret,
        "macaroon_secret_key": secrets.token_hex(16),
        "form_secret": secrets.token_hex(16),
        "report_stats": False,
        "enable_metrics": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "bcrypt_rounds": 4,
        "url_preview_enabled": False,
        "presence": {"enabled": False},
        "rc_message": _UNLIMITED,
        "rc_registration": _UNLIMITED,
        "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED,
                     "failed_attempts": _UNLIMITED},
        "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
        "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED,
                       "per_issuer": _UNLIMITED},
        "rc_admin_redaction": _UNLIMITED,
        "rc_media_create": _UNLIMITED,
        "rc_room_creation": _UNLIMITED,
        "log_config": str(data / "log.yaml"),
    }
    return json.dumps(doc, indent=1)


LOG_CONFIG = """\
version: 1
formatters: {plain: {format: '%(asctime)s %(levelname)s %(name)s %(message)s'}}
handlers: {file: {class: logging.FileHandler, formatter: plain, filename: LOGFILE}}
root: {level: WARNING, handlers: [file]}
disable_existing_loggers: false
"""


@dataclass(frozen=True)
class User:
    user_id: str        # @name:hub.test
    token: str
    device_id: str


@dataclass
class Synapse:
    url: str
    shared_secret: str
    process: subprocess.Popen[bytes]
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def register(self, prefix: str = "u") -> User:
        """A fresh local user (shared-secret registration, ~0.15 s)."""
        name = f"{prefix}{next(self._names)}-{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(12)
        with httpx.Client(base_url=self.url, timeout=30) as http:
            nonce = http.get("/_synapse/admin/v1/register").json()["nonce"]
            mac = hmac.new(self.shared_secret.encode(),
                           b"\x00".join([nonce.encode(), name.encode(), password.encode(),
                                         b"notadmin"]), hashlib.sha1).hexdigest()
            made = http.post("/_synapse/admin/v1/register", json={
                "nonce": nonce, "username": name, "password": password, "admin": False,
                "mac": mac})
            made.raise_for_status()
            body = made.json()
        return User(body["user_id"], body["access_token"], body["device_id"])

    def client(self, user: User) -> httpx.Client:
        return httpx.Client(base_url=self.url + "/_matrix/client/v3", timeout=30,
                            headers={"Authorization": f"Bearer {user.token}"})

    def messages(self, user: User, room_id: str) -> list[dict[str, Any]]:
        """Every event in the room's timeline as ``user`` sees it, oldest first."""
        with self.client(user) as http:
            got = http.get(f"/rooms/{quote(room_id)}/messages",
                           params={"dir": "b", "limit": 1000})
            got.raise_for_status()
            return list(reversed(got.json()["chunk"]))

    def join(self, user: User, room: str) -> str:
        with self.client(user) as http:
            got = http.post(f"/join/{quote(room)}", json={})
            got.raise_for_status()
            return str(got.json()["room_id"])

    def create_room(self, user: User, **body: Any) -> str:
        with self.client(user) as http:
            got = http.post("/createRoom", json=body)
            got.raise_for_status()
            return str(got.json()["room_id"])


def start(home: Path, data: Path, port: int) -> Synapse:
    """Generate keys, start the homeserver and wait until it answers (~3 s)."""
    python = home / "bin" / "python"
    shared = secrets.token_hex(16)
    data.mkdir(parents=True, exist_ok=True)
    (data / "homeserver.yaml").write_text(config(data, port, shared))
    (data / "log.yaml").write_text(LOG_CONFIG.replace("LOGFILE", str(data / "homeserver.log")))
    cfg = ["-m", "synapse.app.homeserver", "--config-path", str(data / "homeserver.yaml")]
    subprocess.run([str(python), *cfg, "--generate-keys"], check=True, capture_output=True,
                   timeout=120)
    log = open(data / "stderr.log", "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen([str(python), *cfg], stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("synapse exited during start-up:\n"
                               + (data / "stderr.log").read_text()[-3000:]
                               + (data / "homeserver.log").read_text()[-3000:]
                               if (data / "homeserver.log").exists() else "")
        try:
            if httpx.get(url + "/_matrix/client/versions", timeout=1).status_code == 200:
                return Synapse(url, shared, process)
        except httpx.TransportError:
            pass
        time.sleep(0.1)   # polling for an observable fact (the port answers), not a wait
    process.terminate()
    raise RuntimeError(f"synapse did not answer within 90 s; see {data}")


def stop(server: Synapse) -> None:
    server.process.terminate()          # our own child, by PID
    try:
        server.process.wait(15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(5)
