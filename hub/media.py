"""Media files stored by content hash under ``<data_dir>/media``; images only, checked by
their bytes (never by the name or the declared type)."""

from __future__ import annotations

import hashlib
import io

from PIL import Image, UnidentifiedImageError

from hub.errors import InvalidInput, NotFound
from hub.runtime import Hub
from hub.store.tables import MediaRow

MAX_MEDIA_BYTES = 20 * 1024 * 1024
_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}


def store_media(hub: Hub, data: bytes) -> MediaRow:
    if not data:
        raise InvalidInput("the uploaded file is empty", field="file")
    if len(data) > MAX_MEDIA_BYTES:
        raise InvalidInput(f"images are limited to {MAX_MEDIA_BYTES // 1024 // 1024} MiB",
                           field="file")
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or ""
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidInput("the file is not an image the hub can read (JPEG, PNG, GIF, WebP)",
                           field="file") from exc
    if fmt not in _FORMATS:
        raise InvalidInput(f"{fmt or 'this'} images are not supported: use JPEG, PNG, GIF or "
                           "WebP", field="file")
    digest = hashlib.sha256(data).hexdigest()
    hub.media_dir.mkdir(parents=True, exist_ok=True)
    path = hub.media_dir / digest
    if not path.exists():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    with hub.db.transaction() as s:
        row = s.get(MediaRow, digest)
        if row is None:
            row = MediaRow(sha256=digest, mime_type=_FORMATS[fmt], size=len(data),
                           created=hub.now())
            s.add(row)
        return row


def load_media(hub: Hub, sha256: str) -> bytes:
    path = hub.media_dir / sha256
    if len(sha256) != 64 or not path.exists():
        raise NotFound(f"no media {sha256[:12]}")
    return path.read_bytes()
