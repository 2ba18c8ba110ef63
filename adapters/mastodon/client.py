"""One Mastodon.py client per account, driven from async code without blocking the loop.

Mastodon.py is synchronous and its rate-limit bookkeeping is not thread-safe, so every call runs
in a worker thread (``asyncio.to_thread``) under the account's lock. It is built with
``ratelimit_method="throw"``: a 429 becomes a retry of the job after the reset time instead of a
worker asleep for minutes. The ``requests`` session is the seam for what Mastodon.py does not
expose: ``allowed_mentions[]`` and ``quote_approval_policy`` on a new status, ``language`` and
JSON booleans in an edit (``status_update`` has no ``language``), and the body of the last error
response.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import requests
from mastodon import Mastodon
from mastodon.errors import MastodonError

from adapters.mastodon._errors import translate
from adapters.mastodon.limits import AccountSettings

T = TypeVar("T")
_EDIT = re.compile(r"/api/v1/statuses/[^/]+$")
USER_AGENT = "crosspost-hub (Mastodon.py)"


class _Session(requests.Session):
    """Adds per-call fields to ``POST /api/v1/statuses`` (form) and to an edit,
    ``PUT /api/v1/statuses/:id`` (form or JSON, as Mastodon.py sends it), and keeps the last
    response."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    @contextlib.contextmanager
    def status_fields(self, fields: Mapping[str, list[str]]) -> Iterator[None]:
        self._local.fields = fields
        try:
            yield
        finally:
            self._local.fields = None

    def last_json(self) -> Mapping[str, Any] | None:
        response = getattr(self._local, "response", None)
        if response is None or response.ok:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        return body if isinstance(body, Mapping) else None

    def request(self, method: str, url: str | bytes,
                *args: Any, **kwargs: Any) -> requests.Response:
        fields = getattr(self._local, "fields", None)
        path = (url.decode() if isinstance(url, bytes) else url).split("?", 1)[0].rstrip("/")
        if fields and method == "POST" and path.endswith("/api/v1/statuses"):
            data = dict(kwargs.get("data") or {})
            data.update(fields)
            kwargs["data"] = data
        if fields and method == "PUT" and _EDIT.search(path):
            if isinstance(kwargs.get("json"), dict):
                kwargs["json"] = {**kwargs["json"], **{k: v[0] if len(v) == 1 else v
                                                       for k, v in fields.items()}}
            else:
                kwargs["data"] = {**dict(kwargs.get("data") or {}), **fields}
        body = kwargs.get("json")
        if isinstance(body, dict) and body.get("sensitive") in ("0", "1"):
            # Mastodon.py turns booleans into "0"/"1" even in JSON bodies (an edit with
            # media_attributes is sent as JSON); the API declares a JSON boolean.
            kwargs["json"] = {**body, "sensitive": body["sensitive"] == "1"}
        self._local.response = None
        response = super().request(method, url, *args, **kwargs)
        self._local.response = response
        return response


class Client:
    """The account's Mastodon.py instance, its lock, and error translation."""

    def __init__(self, settings: AccountSettings, token: str) -> None:
        self.settings = settings
        self._session = _Session()
        self._lock = threading.Lock()
        version = settings.version if settings.version[:1].isdigit() else None
        # Version checks only for Mastodon itself: other servers report their own numbering
        # ("0.17.0" for GoToSocial) and would fail every "added in Mastodon x.y" check.
        mastodon_like = version is not None and int(version.split(".")[0] or 0) >= 3
        self.api = Mastodon(
            access_token=token,
            api_base_url=settings.instance,
            ratelimit_method="throw",
            request_timeout=settings.request_timeout,
            session=self._session,
            user_agent=USER_AGENT,
            # With the version cached by ``connect`` Mastodon.py neither asks the instance for
            # it nor falls back to the v1 media endpoint.
            mastodon_version=version,
            version_check_mode="created" if mastodon_like else "none",
        )

    async def call(self, action: str, fn: Callable[[Mastodon], T],
                   *, status_fields: Mapping[str, list[str]] | None = None) -> T:
        """Run ``fn(api)`` in a thread; raise hub errors only (``action`` names it)."""
        return await asyncio.to_thread(self._run, action, fn, status_fields)

    def _run(self, action: str, fn: Callable[[Mastodon], T],
             status_fields: Mapping[str, list[str]] | None) -> T:
        with self._lock:
            try:
                if status_fields:
                    with self._session.status_fields(status_fields):
                        return fn(self.api)
                return fn(self.api)
            except MastodonError as exc:
                raise translate(exc, action=action, ratelimit_reset=self.api.ratelimit_reset,
                                body=self._session.last_json()) from exc

    def close(self) -> None:
        self._session.close()
