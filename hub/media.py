"""Media files stored by content hash under ``<data_dir>/media`` (owner-only: 0700/0600);
images only, checked by their bytes (never by the name or the declared type), and by their
declared size before any pixel is decoded: a small file can declare a huge image."""

from __future__ import annotations

import hashlib
import io
import os
import warnings

from PIL import Image, UnidentifiedImageError

from hub.errors import ImageTooLarge, InvalidInput, NotFound
from hub.runtime import Hub
from hub.store.tables import MediaRow

MAX_MEDIA_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 50_000_000   # a 48-megapixel phone photo fits; decoding one takes ~200 MB
_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}


def store_media(hub: Hub, data: bytes) -> MediaRow:
    if not data:
        raise InvalidInput("the uploaded file is empty", field="file")
    if len(data) > MAX_MEDIA_BYTES:
        raise InvalidInput(f"images are limited to {MAX_MEDIA_BYTES // 1024 // 1024} MiB",
                           field="file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or ""
                _check_pixels(*img.size)
                img.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"the image declares too many pixels: at most "
                            f"{MAX_IMAGE_PIXELS:,} are accepted", field="file") from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidInput("the file is not an image the hub can read (JPEG, PNG, GIF, WebP)",
                           field="file") from exc
    if fmt not in _FORMATS:
        raise InvalidInput(f"{fmt or 'this'} images are not supported: use JPEG, PNG, GIF or "
                           "WebP", field="file")
    digest = hashlib.sha256(data).hexdigest()
    hub.media_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = hub.media_dir / digest
    if not path.exists():
        tmp = path.with_suffix(".part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        tmp.replace(path)
    with hub.db.transaction() as s:
        row = s.get(MediaRow, digest)
        if row is None:
            row = MediaRow(sha256=digest, mime_type=_FORMATS[fmt], size=len(data),
                           created=hub.now())
            s.add(row)
        return row


def _check_pixels(width: int, height: int) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageTooLarge(f"the image is {width:,} × {height:,} pixels; at most "
                            f"{MAX_IMAGE_PIXELS:,} pixels are accepted (about 8,000 × 6,000): "
                            "scale it down and upload it again", field="file")


def load_media(hub: Hub, sha256: str) -> bytes:
    path = hub.media_dir / sha256
    if len(sha256) != 64 or not path.exists():
        raise NotFound(f"no media {sha256[:12]}")
    return path.read_bytes()
