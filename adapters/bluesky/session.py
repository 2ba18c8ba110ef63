"""The account's session: restore it, refresh it once for everyone, log in again only when it is
dead, and hand every change to the hub's encrypted credential store.

The stored secret is JSON: ``{"v": 1, "session": <SDK session string>, "app_password": ...}``.
The session string is what is used; the app password is kept (unless the account was connected
with ``keep_app_password: false``) only to log in again when the session is unusable — refresh
token past its 90 days, or revoked after another process rotated it more than two hours ago —
instead of marking the account dead. ``createSession`` is limited (30 per 5 min, 300 per day per
account), so it is never called per post.

Exactly one refresh at a time: an ``asyncio.Lock`` in the process, and — when the credential store
also implements ``hub.ports.SharedCredentials`` — a lock across processes, under which the latest
stored session is re-read first and adopted if another process already refreshed it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from typing import TypeVar

from atproto import AsyncClient, Session
from atproto_client import exceptions as sdk
from atproto_core.exceptions import AtProtocolError

from adapters.bluesky import _errors
from hub.errors import CredentialsRejected
from hub.ports import CredentialStore, SharedCredentials

T = TypeVar("T")
REFRESH_MARGIN = 20 * 60     # seconds before access-token expiry; the SDK's own is 15 minutes
APP_PASSWORD_SCOPES = {"com.atproto.appPass", "com.atproto.appPassPrivileged"}


@dataclass(frozen=True)
class StoredSecret:
    session: str | None = field(default=None, repr=False)
    app_password: str | None = field(default=None, repr=False)

    def dump(self) -> str:
        return json.dumps({"v": 1, "session": self.session, "app_password": self.app_password})

    @classmethod
    def load(cls, secret: str | None) -> StoredSecret:
        if not secret:
            return cls()
        if not secret.lstrip().startswith("{"):
            return cls(session=secret)           # a bare SDK session string
        try:
            data = json.loads(secret)
        except ValueError:
            return cls()
        return cls(session=data.get("session"), app_password=data.get("app_password"))


def seconds_left(session: Session, now: float) -> float:
    exp = session.access_jwt_payload.exp
    return float(exp) - now if exp else 0.0


class SessionKeeper:
    """Owns one account's session in this process and runs calls with a usable one."""

    def __init__(self, *, account: str, handle: str, client: AsyncClient, secret: str | None,
                 credentials: CredentialStore, clock: Callable[[], float] = time.time) -> None:
        self.account = account
        self.handle = handle
        self.client = client
        self._secret = StoredSecret.load(secret)
        self._credentials = credentials
        self._clock = clock
        self._session: Session | None = None
        self._lock = asyncio.Lock()
        self.logins = self.refreshes = 0          # what this keeper cost the account's limits

    @property
    def did(self) -> str:
        assert self._session is not None
        return str(self._session.did)

    async def call(self, doing: str, op: Callable[[AsyncClient], Awaitable[T]]) -> T:
        """Run ``op`` with a fresh session; on a session failure renew once and run it again.

        A request refused for its token was not carried out, so running it again is safe."""
        await self._ensure()
        try:
            return await op(self.client)
        except AtProtocolError as exc:
            if not _errors.is_auth_failure(exc):
                raise
            stale = self._session
        await self._renew(stale)
        try:
            return await op(self.client)
        except AtProtocolError as exc:
            raise _errors.translate(exc, doing=doing, now=self._clock()) from exc

    async def _ensure(self) -> None:
        async with self._lock:
            if self._session is None:
                if self._secret.session:
                    await self._adopt(self._secret.session)
                else:
                    await self._login()
                    return
        assert self._session is not None
        if seconds_left(self._session, self._clock()) < REFRESH_MARGIN:
            await self._renew(self._session)

    async def _adopt(self, session_string: str) -> None:
        try:
            session = Session.decode(session_string)
            session.access_jwt_payload.exp  # noqa: B018 - unreadable tokens fail here
            await self.client.login(session_string=session_string, fetch_bsky_profile=False)
        except (ValueError, TypeError, AtProtocolError) as exc:
            raise CredentialsRejected(f"{self.account}: the stored Bluesky session is "
                                      "unreadable; connect the account again",
                                      platform="bluesky") from exc
        self._session = session

    async def _renew(self, stale: Session | None) -> None:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self._lock)
            if self._session is not stale:
                return                       # someone in this process already renewed it
            shared = self._credentials if isinstance(self._credentials, SharedCredentials) else None
            if shared is not None:
                await stack.enter_async_context(shared.refresh_lock(self.account))
                latest = StoredSecret.load(await shared.load(self.account))
                if latest.session and (stale is None or latest.session != stale.encode()):
                    newer = Session.decode(latest.session)     # another process renewed it
                    if (seconds_left(newer, self._clock()) > 60 and (
                            stale is None or newer.access_jwt_payload.exp
                            >= stale.access_jwt_payload.exp)):
                        self._secret = latest
                        await self._adopt(latest.session)
                        return
            if stale is not None:
                try:
                    await self._refresh(stale)
                    return
                except AtProtocolError as exc:
                    if not _errors.is_auth_failure(exc):     # else: refresh token is dead too
                        raise _errors.translate(exc, doing="refresh session",
                                                now=self._clock()) from exc
            await self._login()

    async def _refresh(self, stale: Session) -> None:
        response = await self.client.com.atproto.server.refresh_session(
            headers={"Authorization": f"Bearer {stale.refresh_jwt}"}, ignore_session_check=True)
        self.refreshes += 1
        renewed = Session(handle=response.handle, did=response.did,
                          access_jwt=response.access_jwt, refresh_jwt=response.refresh_jwt,
                          pds_endpoint=stale.pds_endpoint)
        await self._store(renewed)

    async def _login(self) -> None:
        if not self._secret.app_password:
            raise CredentialsRejected(
                f"{self.account}: the Bluesky session is no longer usable and no app password is "
                "stored; connect the account again", platform="bluesky")
        try:
            await self.client.login(self.handle, self._secret.app_password,
                                    fetch_bsky_profile=False)
        except sdk.UnauthorizedError as exc:
            raise CredentialsRejected(f"{self.account}: Bluesky refused the app password",
                                      platform="bluesky", status_code=401) from exc
        except AtProtocolError as exc:
            raise _errors.translate(exc, doing="log in", now=self._clock()) from exc
        self.logins += 1
        await self._store(Session.decode(self.client.export_session_string()))

    async def _store(self, session: Session) -> None:
        self._secret = StoredSecret(session.encode(), self._secret.app_password)
        await self._adopt(session.encode())
        await self._credentials.save(self.account, self._secret.dump())


async def create_session(client: AsyncClient, handle: str, password: str) -> Session:
    """Log in once for ``hub accounts add``; refuses the account's main password."""
    try:
        await client.login(handle, password, fetch_bsky_profile=False)
    except sdk.UnauthorizedError as exc:
        raise CredentialsRejected("Bluesky refused the handle or app password",
                                  platform="bluesky", status_code=401) from exc
    session = Session.decode(client.export_session_string())
    if session.access_jwt_payload.scope not in APP_PASSWORD_SCOPES:
        with suppress(AtProtocolError):
            await client.com.atproto.server.delete_session(
                headers={"Authorization": f"Bearer {session.refresh_jwt}"},
                ignore_session_check=True)
        raise CredentialsRejected(
            "that is the account's main password; create an app password (Settings → Privacy "
            "and security → App passwords) and use it instead", platform="bluesky")
    return session

