"""A real HTTP webhook receiver on 127.0.0.1 for the tests: it verifies every request's
signature with the reference ``standardwebhooks`` library (from PyPI, not the hub's code) and
records what arrived; scripted answers make it fail, rate-limit or hang on purpose."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Answer:
    """One scripted response: status, headers, body; ``hold`` blocks until released."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    hold: threading.Event | None = None


@dataclass(frozen=True)
class Received:
    webhook_id: str
    timestamp: str
    event: dict[str, Any]
    status: int


class WebhookReceiver:
    """``with WebhookReceiver(secret) as r: ... r.url ... r.received``. ``by_target``: the
    secret each target signs with (a request is verified with its ``data.target``'s, else with
    ``secret``), as a receiver holding one secret per target would."""

    def __init__(self, secret: str, *, by_target: dict[str, str] | None = None) -> None:
        self.verifier = Webhook(secret)
        self.by_target = {t: Webhook(v) for t, v in (by_target or {}).items()}
        self.received: list[Received] = []     # verified, whatever we answered
        self.rejected: list[str] = []          # signature failures (reason)
        self.script: deque[Answer] = deque()
        self.requests = threading.Semaphore(0)  # released once per request seen
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:   # the sender died mid-request (kill -9): a real
                    return               # server discards it; it is no signature failure
                receiver._handle(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/hub"

    def ids(self) -> list[str]:
        return [r.webhook_id for r in self.received]

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {k: v for k, v in handler.headers.items()}
        with self._lock:
            answer = self.script.popleft() if self.script else Answer(
                200, {"content-type": "application/json"},
                json.dumps({"url": "https://receiver.example/p/1"}))
        try:
            claimed = json.loads(body).get("data", {}).get("target")
        except (ValueError, AttributeError):
            claimed = None
        verifier = self.by_target.get(str(claimed), self.verifier)
        try:
            event = verifier.verify(body, headers)
        except WebhookVerificationError as exc:
            with self._lock:
                self.rejected.append(str(exc))
            answer = Answer(401, body="bad signature")
        else:
            with self._lock:
                self.received.append(Received(headers["webhook-id"],
                                              headers["webhook-timestamp"], event,
                                              answer.status))
        self.requests.release()
        if answer.hold is not None:
            answer.hold.wait(10)
        try:
            handler.send_response(answer.status)
            for name, value in answer.headers.items():
                handler.send_header(name, value)
            data = answer.body.encode()
            handler.send_header("content-length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass   # the client gave up (the timeout test)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for answer in self.script:
            if answer.hold is not None:
                answer.hold.set()
        self._server.shutdown()
        self._server.server_close()
