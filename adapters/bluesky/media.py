"""Images for Bluesky: re-encode to fit the PDS's blob limit, keep the aspect ratio.

Every image is decoded and encoded again, which also drops EXIF (camera, GPS location) —
whatever the original carried never reaches a world-readable network. Pure: bytes in, bytes out.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from hub.errors import PermanentDeliveryError

DEFAULT_MAX_BYTES = 1_000_000     # older PDSes cap post images at 1 MB (2 MB since 2026-04)
MAX_SIDE = 2000                   # what the Bluesky app itself uploads
_QUALITIES = (90, 80, 70, 60)


@dataclass(frozen=True)
class Fitted:
    data: bytes
    mime: str
    width: int
    height: int


def _encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    out = io.BytesIO()
    if fmt == "PNG":
        image.save(out, "PNG", compress_level=quality)
    else:
        image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _flatten(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def fit_image(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES,
              max_side: int = MAX_SIDE) -> Fitted:
    """Decode ``data`` and encode it at most ``max_side`` px wide/high and ``max_bytes`` long.

    Keeps PNG for lossless sources when that fits, else JPEG with falling
    quality, then smaller sizes. Raises ``PermanentDeliveryError`` for undecodable input."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            source = Image.open(io.BytesIO(data))
            source.seek(0)                       # first frame of an animation
            image = ImageOps.exif_transpose(source)
            image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise PermanentDeliveryError(f"image cannot be decoded: {exc}",
                                     platform="bluesky") from exc
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if source.format in ("PNG", "GIF", "WEBP"):     # screenshots, drawings: try lossless first
        png = image if image.mode in ("RGB", "RGBA", "LA", "L", "P") else image.convert("RGBA")
        encoded = _encode(png, "PNG", 1)              # fast; photos are far too big this way
        if len(encoded) <= max_bytes * 1.3:
            encoded = _encode(png, "PNG", 9) if len(encoded) > max_bytes else encoded
            if len(encoded) <= max_bytes:
                return Fitted(encoded, "image/png", *png.size)
    rgb = _flatten(image)
    while True:
        for quality in _QUALITIES:
            encoded = _encode(rgb, "JPEG", quality)
            if len(encoded) <= max_bytes:
                return Fitted(encoded, "image/jpeg", *rgb.size)
        if max(rgb.size) <= 64:
            raise PermanentDeliveryError(f"image does not fit in {max_bytes} bytes",
                                         platform="bluesky")
        # JPEG size grows about with the pixel count: aim just under the limit
        factor = max(0.5, min(0.9, 0.95 * math.sqrt(max_bytes / len(encoded))))
        rgb = rgb.resize((max(1, int(rgb.width * factor)), max(1, int(rgb.height * factor))),
                         Image.Resampling.LANCZOS)
