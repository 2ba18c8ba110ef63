"""Micropub ``photo`` URLs of other sites (W3C Micropub 3.3.1/3.3.2): fetched through the
link-card fetcher's rules — public addresses only, each hop resolved once and pinned, every
redirect checked, the upload's size cap read as a stream — then checked as an upload (formats,
pixels). Adversarial first: private and loopback addresses, a redirect to loopback, IPv4 in
IPv6, huge files and decompression bombs, a page that is not an image."""

from __future__ import annotations

import hashlib
import io
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from hub.bootstrap import Mode
from hub.media import MAX_MEDIA_BYTES
from hub.services.posts import get_post
from hub.services.tokens import create_token
from tests.integration.micropub.conftest import Micropub, png
from tests.integration.test_http import LiveServer
from web.app import create_app

pytestmark = pytest.mark.integration


def _bomb() -> bytes:
    """A small PNG whose header declares 40,000 × 40,000 pixels."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = bytearray(data[12:29])                       # type + 13 bytes of IHDR
    ihdr[4:12] = struct.pack(">II", 40_000, 40_000)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


class Site:
    """A photo site on ``host``: /photo.png, /huge.png (past the cap, no length), /bomb.png,
    /page (HTML), /go (a redirect to ``redirect``); records every request."""

    def __init__(self, host: str, redirect: str = "") -> None:
        self.hits: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                site.hits.append(self.path)
                if self.path == "/go":
                    self.send_response(302)
                    self.send_header("location", redirect)
                    self.end_headers()
                    return
                if self.path == "/huge.png":
                    self.send_response(200)
                    self.send_header("content-type", "image/png")
                    self.end_headers()
                    chunk = b"\0" * 1_048_576
                    try:
                        for _ in range(MAX_MEDIA_BYTES // len(chunk) + 5):
                            self.wfile.write(chunk)
                    except OSError:
                        pass                        # the hub hung up at the cap
                    return
                body, ctype = {"/photo.png": (png(), "image/png"),
                               "/bomb.png": (_bomb(), "image/png"),
                               "/page": (b"<title>hi</title>", "text/html")}.get(
                    self.path, (b"", ""))
                self.send_response(200 if body else 404)
                self.send_header("content-type", ctype or "text/plain")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sites() -> Iterator[tuple[Site, Site]]:
    internal = Site("127.0.0.2")                         # loopback, never allowed
    honest = Site("127.0.0.1", redirect=f"{internal.url}/photo.png")
    yield honest, internal
    honest.close()
    internal.close()


@pytest.fixture
def lan(make_runtime, sqlite_url) -> Iterator[Micropub]:
    """A hub whose owner allowed one private address (HUB_REMOTE_FETCH_ALLOW=127.0.0.1): the
    test's photo site stands in for a public one."""
    runtime = make_runtime(sqlite_url, real_clock=True, mode=Mode.EMBEDDED, sweep_seconds=0.2,
                           remote_fetch_allow=["127.0.0.1"])
    hub = runtime.hub
    _, friends = create_token(hub, "ia-writer", ["post"], ["friends"])
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server:
        hub.settings.public_url = server.url
        yield Micropub(hub, server.url, friends, friends, friends)


def _create(mp: Micropub, photo: object) -> Any:
    with mp.client(mp.friends) as http:
        return http.post("/micropub", json={"type": ["h-entry"], "properties": {
            "content": ["hello world"], "photo": [photo]}})


@pytest.mark.parametrize("where", [
    "http://127.0.0.1:{port}/photo.png", "http://localhost:{port}/photo.png",
    "http://[::ffff:127.0.0.1]:{port}/photo.png", "http://10.0.0.1/photo.png",
    "http://169.254.169.254/latest/meta-data", "http://[::1]:{port}/photo.png"])
def test_private_and_loopback_addresses_are_refused_without_a_request(mp, sites, where):
    honest, _ = sites
    url = where.format(port=honest.url.rsplit(":", 1)[1])
    got = _create(mp, url)
    assert got.status_code == 400, got.text
    assert got.json()["error"] == "invalid_request"
    assert "only from public addresses" in got.json()["error_description"]
    assert honest.hits == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x.png",
                                 "gopher://example.org/x"])
def test_other_schemes_are_refused(mp, url):
    got = _create(mp, url)
    assert got.status_code == 400 and "only http:// and https://" in \
        got.json()["error_description"]


def test_a_photo_url_is_fetched_stored_and_keeps_its_alt_text(lan, sites):
    honest, _ = sites
    got = _create(lan, {"value": f"{honest.url}/photo.png", "alt": "a blue square"})
    assert got.status_code == 201, got.text
    [photo] = get_post(lan.hub, got.headers["location"].rsplit("/", 1)[1]).post.media
    assert photo.sha256 == hashlib.sha256(png()).hexdigest() and photo.alt == "a blue square"
    assert photo.mime_type == "image/png" and honest.hits == ["/photo.png"]


def test_a_redirect_to_loopback_is_refused_and_never_followed(lan, sites):
    honest, internal = sites
    got = _create(lan, f"{honest.url}/go")
    assert got.status_code == 400, got.text
    assert "only from public addresses" in got.json()["error_description"]
    assert honest.hits == ["/go"] and internal.hits == []


@pytest.mark.parametrize(("path", "reason"), [
    ("/huge.png", f"larger than {MAX_MEDIA_BYTES // 1024 // 1024} MiB"),
    ("/bomb.png", "pixels"),
    ("/page", "not image/"),
    ("/missing.png", "answered 404"),
])
def test_huge_files_bombs_pages_and_missing_files_are_refused(lan, sites, path, reason):
    honest, _ = sites
    got = _create(lan, f"{honest.url}{path}")
    assert got.status_code == 400, got.text
    assert reason in got.json()["error_description"]
    assert not list(lan.hub.media_dir.glob("*")) or all(
        p.stat().st_size < 1_000_000 for p in lan.hub.media_dir.iterdir())
