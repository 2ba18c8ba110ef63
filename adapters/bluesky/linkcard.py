"""Link cards: fetch a page's title, description and image, carefully, or give up quietly.

The PDS does not build cards; the client does. Fetching a URL found in a post is fetching
something a stranger may control, so: http(s) only, no private/loopback/link-local addresses
(checked on every redirect hop), a byte cap and an overall deadline. Any failure gives ``None``
and the post goes out with a plain link — a card never fails a post.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

MAX_PAGE_BYTES = 512_000
MAX_IMAGE_BYTES = 5_000_000
MAX_REDIRECTS = 3


@dataclass(frozen=True)
class Card:
    uri: str
    title: str
    description: str
    image: bytes | None = None


class _Meta(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): v or "" for k, v in attrs}
        if tag == "meta":
            key = (values.get("property") or values.get("name") or "").lower()
            if key and "content" in values:
                self.meta.setdefault(key, values["content"].strip())
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title and not self.title:
            self.title = data.strip()


def parse_card(uri: str, html: str) -> tuple[str, str, str | None]:
    """``(title, description, absolute image URL or None)`` from a page's Open Graph tags."""
    parser = _Meta()
    parser.feed(html)
    meta = parser.meta
    title = meta.get("og:title") or meta.get("twitter:title") or parser.title
    description = meta.get("og:description") or meta.get("description") or ""
    image = meta.get("og:image") or meta.get("twitter:image")
    return title[:300], description[:1000], urljoin(uri, image) if image else None


async def _public(host: str) -> bool:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
    return bool(addresses) and all(a.is_global for a in addresses)


class CardFetcher:
    """Fetches cards within ``timeout`` seconds overall; ``allow_private`` is for tests."""

    def __init__(self, *, timeout: float = 5.0, allow_private: bool = False,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.timeout = timeout
        self.allow_private = allow_private
        self._transport = transport

    async def fetch(self, uri: str) -> Card | None:
        try:
            async with asyncio.timeout(self.timeout), httpx.AsyncClient(
                    transport=self._transport, timeout=self.timeout,
                    headers={"User-Agent": "crosspost-hub link card"}) as http:
                page = await self._get(http, uri, MAX_PAGE_BYTES, "text/html")
                if page is None:
                    return None
                final_uri, body = page
                title, description, image_uri = parse_card(final_uri, body.decode("utf-8",
                                                                                  "replace"))
                if not title:
                    return None
                image = None
                if image_uri:
                    found = await self._get(http, image_uri, MAX_IMAGE_BYTES, "image/")
                    image = found[1] if found else None
                return Card(uri, title, description, image)
        except (TimeoutError, httpx.HTTPError, ValueError, UnicodeError):
            return None

    async def _get(self, http: httpx.AsyncClient, uri: str, limit: int,
                   kind: str) -> tuple[str, bytes] | None:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(uri)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                return None
            if not self.allow_private and not await _public(parts.hostname):
                return None
            async with http.stream("GET", uri) as response:
                if response.is_redirect and "location" in response.headers:
                    uri = urljoin(uri, response.headers["location"])
                    continue
                if response.status_code != 200 or not response.headers.get(
                        "content-type", "").startswith(kind):
                    return None
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        if kind != "text/html":
                            return None
                        break                # the head of a long page is enough
                return uri, body[:limit]
        return None
