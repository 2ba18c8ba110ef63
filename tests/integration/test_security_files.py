"""Files on disk and images in memory: the database, its WAL, the key and media are the owner's
alone (0600/0700), and an image that declares too many pixels is refused (413) before any
pixel is decoded."""

from __future__ import annotations

import io
import re
import stat
import struct
import zlib
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.integration.served import HubServe, run_hub

pytestmark = pytest.mark.integration


def _declared_png(width: int, height: int) -> bytes:
    """A small, valid-looking PNG that declares ``width`` × ``height`` (a decompression bomb
    needs no more: the pixels are only made when decoded)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    idat = zlib.compress(row * min(height, 64), 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) +
            chunk(b"IEND", b""))


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 10)).save(out, "PNG")
    return out.getvalue()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def hub_env(tmp_path: Path, policy_dir: Path) -> dict[str, str]:
    return {"HUB_DATA_DIR": str(tmp_path / "var"), "HUB_POLICY_DIR": str(policy_dir)}


def test_images_that_declare_too_many_pixels_are_refused(hub_env, tmp_path):
    token = re.search(r"\bhub_t[0-9a-f]+_[\w-]+", run_hub("init", env=hub_env).stdout).group(0)
    with HubServe(hub_env, tmp_path / "serve.log") as hub:
        auth = {"Authorization": f"Bearer {token}"}
        for width, height in [(20_000, 20_000), (9_400, 9_400), (100_000, 1_000)]:
            r = httpx.post(f"{hub.url}/api/media", headers=auth, timeout=30,
                           files={"file": ("bomb.png", _declared_png(width, height),
                                           "image/png")})
            assert r.status_code == 413, (width, height, r.status_code, r.text[:200])
            assert "pixels" in r.json()["detail"]
        ok = httpx.post(f"{hub.url}/api/media", headers=auth,
                        files={"file": ("fine.png", _png(64, 48), "image/png")})
        assert ok.status_code == 201, ok.text
    assert not list((tmp_path / "var" / "media").glob("*.part"))


def test_the_database_its_wal_the_key_and_media_are_owner_only(hub_env, tmp_path):
    data = tmp_path / "var"
    token = re.search(r"\bhub_t[0-9a-f]+_[\w-]+", run_hub("init", env=hub_env).stdout).group(0)
    with HubServe(hub_env, tmp_path / "serve.log") as hub:
        auth = {"Authorization": f"Bearer {token}"}
        r = httpx.post(f"{hub.url}/api/media", headers=auth,
                       files={"file": ("p.png", _png(32, 32), "image/png")})
        assert r.status_code == 201, r.text
        assert httpx.post(f"{hub.url}/api/posts", headers=auth, json={
            "text": "private words", "audiences": ["friends"]}).status_code == 202
        wal, shm = data / "hub.db-wal", data / "hub.db-shm"
        assert wal.exists() and shm.exists()
        modes = {p.name: _mode(p) for p in (data / "hub.db", wal, shm, data / "secret.key",
                                            *(data / "media").iterdir())}
        assert set(modes.values()) == {0o600}, {k: oct(v) for k, v in modes.items()}
        assert _mode(data) == 0o700 and _mode(data / "media") == 0o700


def test_an_existing_world_readable_database_is_narrowed(hub_env, tmp_path):
    data = tmp_path / "var"
    run_hub("init", env=hub_env)
    for path in (data, data / "hub.db"):
        path.chmod(0o755 if path.is_dir() else 0o644)   # as the hub left them before
    run_hub("db", "upgrade", env=hub_env)
    assert _mode(data / "hub.db") == 0o600
    run_hub("init", env=hub_env)
    assert _mode(data) == 0o700
