"""The link-card fetcher cannot be rebound: it connects to the address it checked (two real
HTTP servers on 127.0.0.2 and 127.0.0.3 stand for "public" and "internal"), re-checks every
redirect hop, and judges IPv6 forms that carry an IPv4 address as that address."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from adapters.bluesky.linkcard import CardFetcher, is_public

pytestmark = pytest.mark.integration
HONEST, INTERNAL = "127.0.0.2", "127.0.0.3"


class _Site:
    def __init__(self, address: str, body: str, redirect: str | None = None) -> None:
        self.hits: list[tuple[str, str]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                site.hits.append((self.path, self.headers.get("Host", "")))
                if redirect and self.path == "/go":
                    self.send_response(302)
                    self.send_header("Location", redirect)
                    self.end_headers()
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sites() -> Iterator[tuple[_Site, _Site]]:
    internal = _Site(INTERNAL, "<title>INTERNAL ADMIN</title>")
    honest = _Site(HONEST, "<title>Public article</title>",
                   redirect=f"http://{INTERNAL}:{internal.port}/admin")
    yield honest, internal
    honest.close()
    internal.close()


def _rebinding(answers: list[str]):
    """A DNS server under attack control: first answer "public", then "internal"."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return [answers[min(len(asked), len(answers)) - 1]]

    return resolve, asked


async def test_the_connection_goes_to_the_address_that_was_checked(sites):
    honest, internal = sites
    resolve, asked = _rebinding([HONEST, INTERNAL, INTERNAL])
    fetcher = CardFetcher(resolver=resolve, allowed=lambda a: a == HONEST)
    card = await fetcher.fetch(f"http://rebind.example:{honest.port}/page")
    assert card is not None and card.title == "Public article"
    assert asked == ["rebind.example"]                       # resolved once, used once
    assert honest.hits == [("/page", f"rebind.example:{honest.port}")]   # Host keeps the name
    assert internal.hits == []


async def test_every_redirect_hop_is_checked_again(sites):
    honest, internal = sites
    resolve, _ = _rebinding([HONEST])
    fetcher = CardFetcher(resolver=resolve, allowed=lambda a: a == HONEST)
    assert await fetcher.fetch(f"http://rebind.example:{honest.port}/go") is None
    assert internal.hits == []
    by_name = _Site(HONEST, "<title>x</title>",
                    redirect=f"http://internal.example:{internal.port}/admin")
    try:
        names = {"start.example": HONEST, "internal.example": INTERNAL}

        async def resolve_names(host: str, port: int) -> list[str]:
            return [names[host]]

        fetcher = CardFetcher(resolver=resolve_names, allowed=lambda a: a == HONEST)
        assert await fetcher.fetch(f"http://start.example:{by_name.port}/go") is None
        assert internal.hits == [] and by_name.hits[0][0] == "/go"
    finally:
        by_name.close()


async def test_a_name_with_any_private_answer_is_refused(sites):
    honest, internal = sites

    async def both(host: str, port: int) -> list[str]:
        return [HONEST, INTERNAL]

    fetcher = CardFetcher(resolver=both, allowed=lambda a: a == HONEST)
    assert await fetcher.fetch(f"http://mixed.example:{honest.port}/page") is None
    assert honest.hits == [] and internal.hits == []


async def test_tls_keeps_the_name_for_sni_and_host():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, html="<title>TLS page</title>")

    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.215.14"]

    fetcher = CardFetcher(resolver=resolve, transport=httpx.MockTransport(handler))
    card = await fetcher.fetch("https://news.example/story")
    assert card is not None and card.title == "TLS page"
    assert seen[0].url.host == "93.184.215.14"
    assert seen[0].headers["host"] == "news.example"
    assert seen[0].extensions["sni_hostname"] == "news.example"


@pytest.mark.parametrize("address", [
    "::ffff:0:7f00:1", "64:ff9b::7f00:1", "2002:7f00:1::", "::127.0.0.1", "::ffff:127.0.0.1",
    "64:ff9b:1::a00:1", "::ffff:0:a9fe:a9fe", "2002:c0a8:101::1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe", "::1", "fe80::1%eth0", "127.0.0.1", "10.0.0.1",
    "169.254.169.254", "fc00::1"])
async def test_ipv4_carried_in_ipv6_counts_as_that_ipv4(address):
    assert not is_public(address)
    seen: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        return [address]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, html="<title>internal</title>")

    fetcher = CardFetcher(resolver=resolve, transport=httpx.MockTransport(handler))
    assert await fetcher.fetch("http://sneaky.example/") is None
    assert seen == []


@pytest.mark.parametrize("address", ["8.8.8.8", "64:ff9b::808:808", "2002:808:808::",
                                     "2606:4700::1111"])
def test_public_addresses_stay_allowed(address):
    assert is_public(address)
