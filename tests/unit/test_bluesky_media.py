"""Image fitting and link-card fetching for Bluesky, without a network."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from adapters.bluesky.linkcard import CardFetcher, parse_card
from adapters.bluesky.media import fit_image
from hub.errors import PermanentDeliveryError


def encoded(image: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kw)
    return out.getvalue()


def noise(size: tuple[int, int]) -> Image.Image:
    layer = Image.effect_noise(size, 60)
    return Image.merge("RGB", (layer, layer.rotate(90, expand=False), layer.transpose(0)))


def test_a_big_photo_is_downscaled_and_recompressed_under_the_limit() -> None:
    data = encoded(noise((3000, 2000)), "JPEG", quality=95)
    assert len(data) > 1_000_000
    fitted = fit_image(data, max_bytes=500_000)
    assert len(fitted.data) <= 500_000 and fitted.mime == "image/jpeg"
    assert (fitted.width, fitted.height)[0] <= 2000
    assert abs(fitted.width / fitted.height - 1.5) < 0.01             # aspect ratio kept


def test_a_small_png_with_transparency_stays_png() -> None:
    fitted = fit_image(encoded(Image.new("RGBA", (120, 80), (0, 0, 0, 0)), "PNG"))
    assert (fitted.mime, fitted.width, fitted.height) == ("image/png", 120, 80)


def test_exif_orientation_is_applied_and_metadata_dropped() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6                  # rotate 90° on display
    exif[0x010F] = "CameraMaker"
    data = encoded(Image.new("RGB", (200, 100), "blue"), "JPEG", exif=exif)
    fitted = fit_image(data)
    assert (fitted.width, fitted.height) == (100, 200)
    assert b"CameraMaker" not in fitted.data
    assert not Image.open(io.BytesIO(fitted.data)).getexif()


def test_garbage_is_a_permanent_error() -> None:
    with pytest.raises(PermanentDeliveryError, match="cannot be decoded"):
        fit_image(b"not an image")


def test_open_graph_tags_win_over_the_title() -> None:
    html = ('<html><head><title>Page</title><meta property="og:title" content="OG &amp; co">'
            '<meta name="description" content="Desc"><meta property="og:image" '
            'content="/img.png"></head></html>')
    assert parse_card("https://example.com/a/b", html) == (
        "OG & co", "Desc", "https://example.com/img.png")


async def test_private_addresses_are_never_fetched() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, html="<title>x</title>")
    fetcher = CardFetcher(transport=httpx.MockTransport(handler))
    for uri in ("http://127.0.0.1/", "http://10.1.2.3/", "http://[::1]/", "http://localhost/",
                "file:///etc/passwd"):
        assert await fetcher.fetch(uri) is None
    assert seen == []


async def test_redirects_to_private_addresses_are_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "192.0.2.1":
            return httpx.Response(200, html="<title>internal</title>")
        return httpx.Response(302, headers={"Location": "http://192.168.1.1/admin"})
    fetcher = CardFetcher(transport=httpx.MockTransport(handler), allow_private=False)
    fetcher_allowing = CardFetcher(transport=httpx.MockTransport(handler), allow_private=True)
    assert await fetcher.fetch("http://192.0.2.1/") is None          # TEST-NET: not global
    card = await fetcher_allowing.fetch("http://192.0.2.1/")
    assert card is not None and card.title == "internal"


async def test_a_slow_or_failing_site_gives_no_card() -> None:
    def failing(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down", request=request)
    fetcher = CardFetcher(transport=httpx.MockTransport(failing), allow_private=True)
    assert await fetcher.fetch("http://example.com/") is None
    not_html = CardFetcher(allow_private=True, transport=httpx.MockTransport(
        lambda request: httpx.Response(200, content=b"{}", headers={"Content-Type": "x/json"})))
    assert await not_html.fetch("http://example.com/") is None
