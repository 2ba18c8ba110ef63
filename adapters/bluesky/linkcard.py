"""Link cards: fetch a page's title, description and image, carefully, or give up quietly.

The PDS does not build cards; the client does. Fetching a URL found in a post is fetching
something a stranger may control, so: http(s) only, a byte cap and an overall deadline, and no
private, loopback or link-local address. The name is resolved once per hop and the connection
goes to the very address that was checked (``PinnedTransport``: the URL carries the address,
``Host`` and TLS SNI keep the name), so DNS cannot answer "public" to the check and "127.0.0.1"
to the connect. Every redirect hop is checked the same way, and IPv6 forms that carry an IPv4
address (mapped, translated, compatible, NAT64, 6to4, Teredo) count as that IPv4 address. Any
failure gives ``None`` and the post goes out with a plain link — a card never fails a post.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from hub.errors import InvalidInput

Resolver = Callable[[str, int], Awaitable[list[str]]]
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_COMPATIBLE = ipaddress.ip_network("::/96")

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


def carried_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form stands for, if it is one of those that carry one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _TRANSLATED or any(address in net for net in _NAT64):
        return low
    if address in _COMPATIBLE and int(address) > 1:   # ::a.b.c.d, but not :: or ::1
        return low
    return None


def is_public(address: str) -> bool:
    """Whether ``address`` is a globally reachable unicast address (IPv4 inside IPv6 judged
    as the IPv4 address it carries)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        carried = carried_ipv4(ip)
        if carried is not None:
            ip = carried
    return ip.is_global and not ip.is_multicast


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class RefusedAddress(httpx.ConnectError):
    """The name resolved to an address the fetcher may not connect to."""


class PinnedTransport(httpx.AsyncBaseTransport):
    """Resolves each request's host once, checks every address, and connects to the first
    one: the URL is rewritten to it while ``Host`` and TLS SNI keep the name."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, resolver: Resolver,
                 allowed: Callable[[str], bool]) -> None:
        self._inner = inner
        self._resolver = resolver
        self._allowed = allowed

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            ipaddress.ip_address(host)
            addresses = [host]
        except ValueError:
            try:
                addresses = await self._resolver(host, port)
            except OSError as exc:
                raise httpx.ConnectError(f"cannot resolve {host}", request=request) from exc
        if not addresses or not all(self._allowed(a) for a in addresses):
            raise RefusedAddress(f"{host} resolves to an address cards may not use",
                                 request=request)
        extensions = dict(request.extensions)
        if request.url.scheme == "https":
            extensions["sni_hostname"] = host
        pinned = httpx.Request(request.method, request.url.copy_with(host=addresses[0]),
                               headers=request.headers, stream=request.stream,
                               extensions=extensions)
        return await self._inner.handle_async_request(pinned)

    async def aclose(self) -> None:
        await self._inner.aclose()


class CardFetcher:
    """Fetches cards within ``timeout`` seconds overall. ``allow_private``, ``allowed``
    (which addresses may be used), ``resolver`` and ``transport`` are seams for tests."""

    def __init__(self, *, timeout: float = 5.0, allow_private: bool = False,
                 transport: httpx.AsyncBaseTransport | None = None,
                 resolver: Resolver | None = None,
                 allowed: Callable[[str], bool] | None = None) -> None:
        self.timeout = timeout
        self.allow_private = allow_private
        self._transport = transport
        self._resolver = resolver or system_resolver
        self._allowed = allowed or ((lambda _address: True) if allow_private else is_public)

    async def fetch(self, uri: str) -> Card | None:
        try:
            transport = PinnedTransport(self._transport or httpx.AsyncHTTPTransport(),
                                        resolver=self._resolver, allowed=self._allowed)
            async with asyncio.timeout(self.timeout), httpx.AsyncClient(
                    transport=transport, timeout=self.timeout,
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
                return None   # the transport checks the address of every hop
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


class FetchRefused(InvalidInput):
    """A file the hub would not (or could not) fetch, with a reason fit to show the user."""


class RemoteFiles:
    """``hub.ports.RemoteFiles``: a file at a URL someone sent (Micropub's ``photo``), fetched
    with the card fetcher's discipline — http(s) only, every hop's address resolved once,
    checked and pinned (no private, loopback or link-local address unless ``allowed`` says so),
    at most ``MAX_REDIRECTS`` redirects, a byte cap read as a stream, one overall deadline."""

    def __init__(self, *, timeout: float = 10.0, resolver: Resolver | None = None,
                 allowed: Callable[[str], bool] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.timeout = timeout
        self._resolver = resolver or system_resolver
        self._allowed = allowed or is_public
        self._transport = transport

    async def fetch(self, url: str, *, limit: int, kind: str) -> bytes:
        """The body (``kind``: the content type's prefix, e.g. ``image/``); ``FetchRefused``
        with the reason otherwise."""
        transport = PinnedTransport(self._transport or httpx.AsyncHTTPTransport(),
                                    resolver=self._resolver, allowed=self._allowed)
        try:
            async with asyncio.timeout(self.timeout), httpx.AsyncClient(
                    transport=transport, timeout=self.timeout,
                    headers={"User-Agent": "crosspost-hub media fetch"}) as http:
                return await self._get(http, url, limit, kind)
        except RefusedAddress as exc:
            raise FetchRefused(f"{exc}: the hub fetches only from public addresses") from None
        except TimeoutError:
            raise FetchRefused(f"no answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise FetchRefused(f"cannot fetch it ({type(exc).__name__})") from None

    async def _get(self, http: httpx.AsyncClient, url: str, limit: int, kind: str) -> bytes:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise FetchRefused("only http:// and https:// addresses are fetched")
            async with http.stream("GET", url) as response:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue        # the transport checks the next hop's address again
                if response.status_code != 200:
                    raise FetchRefused(f"the server answered {response.status_code}")
                ctype = response.headers.get("content-type", "")
                if not ctype.startswith(kind):
                    raise FetchRefused(f"it is {ctype or 'of no declared type'}, not {kind}…")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise FetchRefused(f"it is larger than {limit // 1024 // 1024} MiB")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise FetchRefused(f"it is larger than {limit // 1024 // 1024} MiB")
                return bytes(body)
        raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")
