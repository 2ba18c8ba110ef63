"""Small HTTP/1.1 pieces for the benchmarks, on bare asyncio streams so that the load generator
and the fake platform cost far less CPU than the servers they measure (httpx would cost about a
millisecond per request on this machine, comparable to what is measured).

- :func:`load`: N keep-alive clients sending the same request in a loop for a while;
  latencies and throughput.
- :class:`SlowPlatform`: a receiver on 127.0.0.1 that answers every POST after a fixed delay
  and records when it answered (``time.monotonic``).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench._suite import percentile


@dataclass
class LoadResult:
    latencies: list[float]
    elapsed: float
    errors: list[str]

    def figures(self) -> dict[str, float]:
        lat = self.latencies
        return {"p99_ms": percentile(lat, 0.99) * 1000, "p50_ms": percentile(lat, 0.5) * 1000,
                "req_per_s": len(lat) / self.elapsed, "requests": float(len(lat))}


def request_bytes(method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive",
            f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, body
        body += chunk[:-2]


async def call(port: int, raw: bytes) -> tuple[int, bytes]:
    """One request on a fresh connection (for set-up steps)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        return await _read_response(reader)
    finally:
        writer.close()


async def load(port: int, make: Callable[[int], bytes], *, clients: int, seconds: float,
               expect: int) -> LoadResult:
    """``clients`` connections, each sending ``make(n)`` (request bytes) back to back."""
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.monotonic() + seconds
    counter = iter(range(10**9))

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < stop_at:
                raw = make(next(counter))
                t0 = time.monotonic()
                writer.write(raw)
                await writer.drain()
                status, body = await _read_response(reader)
                latencies.append(time.monotonic() - t0)
                if status != expect and len(errors) < 5:
                    errors.append(f"{status}: {body[:200]!r}")
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    return LoadResult(latencies, time.monotonic() - started, errors)


@dataclass
class SlowPlatform:
    """Answers each POST with 200 and a small JSON body after ``delay`` seconds."""

    delay: float = 0.1
    answered: list[float] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._ready = threading.Event()
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="slow-platform")

    def __enter__(self) -> SlowPlatform:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait_for(self, count: int, timeout: float = 30.0) -> float:
        """Block until ``count`` requests were answered; the time the last of them was."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.answered) >= count, timeout):
                raise RuntimeError(f"the platform saw {len(self.answered)} of {count} requests")
            return max(self.answered[:count])

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        server = loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        loop.run_forever()
        server.close()
        loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = json.dumps({"url": "https://platform.example/p/1"}).encode()
        answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\n\r\n" + body)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                await asyncio.sleep(self.delay)
                writer.write(answer)
                await writer.drain()
                with self._cond:
                    self.answered.append(time.monotonic())
                    self._cond.notify_all()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
