"""The few ``com.atproto`` calls the adapter makes, on the account's own repository.

Records go in and come out as plain lexicon-shaped JSON dicts; SDK models stop here. Every call
runs through the :class:`SessionKeeper` and raises only hub errors (writes whose outcome is
unknown raise ``OutcomeUnknown``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from atproto import AsyncClient, models
from atproto_core.exceptions import AtProtocolError

from adapters.bluesky import _errors
from adapters.bluesky.session import SessionKeeper
from hub.errors import DeliveryError, TransientDeliveryError
from hub.ports import JSON

MAX_WRITES = 200       # per applyWrites, the PDS's limit


@dataclass(frozen=True)
class Ref:
    """A strong reference to a record: its at:// URI and CID."""

    uri: str
    cid: str

    @property
    def rkey(self) -> str:
        return self.uri.rsplit("/", 1)[-1]

    def to_json(self) -> dict[str, JSON]:
        return {"uri": self.uri, "cid": self.cid}

    def dump(self) -> str:
        return f"{self.uri} {self.cid}"

    @classmethod
    def load(cls, text: str) -> Ref:
        uri, cid = text.split(" ")
        return cls(uri, cid)


def create(collection: str, rkey: str, value: Mapping[str, JSON]) -> dict[str, JSON]:
    return {"op": "create", "collection": collection, "rkey": rkey, "value": dict(value)}


def delete(collection: str, rkey: str) -> dict[str, JSON]:
    return {"op": "delete", "collection": collection, "rkey": rkey}


def _write(op: Mapping[str, JSON]) -> Any:
    writes = models.ComAtprotoRepoApplyWrites
    if op["op"] == "create":
        return writes.Create(collection=op["collection"], rkey=op["rkey"], value=op["value"])
    return writes.Delete(collection=op["collection"], rkey=op["rkey"])


class Repo:
    def __init__(self, keeper: SessionKeeper) -> None:
        self.keeper = keeper

    @property
    def did(self) -> str:
        return self.keeper.did

    async def _call(self, doing: str, op: Any, *, write: bool = False,
                    absent: Callable[[BaseException], bool] | None = None) -> Any:
        """Run ``op`` through the session keeper; hub errors only. ``absent`` says which
        failures mean "no such thing" (the call then returns ``None``)."""
        try:
            return await self.keeper.call(doing, op)
        except DeliveryError:
            raise
        except AtProtocolError as exc:
            if absent is not None and absent(exc):
                return None
            translate = _errors.translate_write if write else _errors.translate
            raise translate(exc, doing=doing) from exc
        except httpx.TransportError as exc:    # e.g. the server hung up: not mapped by the SDK
            kind = _errors.OutcomeUnknown if write else TransientDeliveryError
            raise kind(f"{doing}: {type(exc).__name__}", platform="bluesky") from exc

    async def ready(self) -> str:
        """Make sure a session exists (restoring or logging in); returns the DID."""
        await self._call("restore session", _noop)
        return self.did

    async def apply_writes(self, ops: Sequence[Mapping[str, JSON]], doing: str) -> list[Ref]:
        """One atomic commit; the refs of the created records, in order."""
        async def op(client: AsyncClient) -> Any:
            return await client.com.atproto.repo.apply_writes(
                models.ComAtprotoRepoApplyWrites.Data(repo=self.did,
                                                      writes=[_write(o) for o in ops]))
        response = await self._call(doing, op, write=True)
        return [Ref(r.uri, r.cid) for r in response.results or [] if hasattr(r, "cid")]

    async def get(self, collection: str, rkey: str) -> tuple[Ref, dict[str, JSON]] | None:
        params = {"repo": self.did, "collection": collection, "rkey": rkey}
        body = await self._call(f"read {collection}", _query(_GET, params),
                                absent=_errors.is_not_found)
        return None if body is None else (Ref(body["uri"], body.get("cid", "")), body["value"])

    async def list(self, collection: str) -> list[tuple[str, dict[str, JSON]]]:
        """Every record of ``collection`` as ``(uri, value)``."""
        found: list[tuple[str, dict[str, JSON]]] = []
        cursor: str | None = None
        while True:
            params: dict[str, JSON] = {"repo": self.did, "collection": collection, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = await self._call(f"list {collection}", _query(_LIST, params))
            found.extend((r["uri"], r["value"]) for r in page.get("records", []))
            cursor = page.get("cursor")
            if not cursor or not page.get("records"):
                return found

    async def query(self, nsid: str, params: Mapping[str, JSON], doing: str) -> Any:
        """One raw XRPC query (JSON body as the server sent it); hub errors only."""
        return await self._call(doing, _query(nsid, params))

    async def delete_one(self, collection: str, rkey: str) -> None:
        """``deleteRecord``: "delete a record, or ensure it doesn't exist" — safe to repeat."""
        async def op(client: AsyncClient) -> Any:
            return await client.com.atproto.repo.delete_record(
                models.ComAtprotoRepoDeleteRecord.Data(repo=self.did, collection=collection,
                                                       rkey=rkey))
        await self._call(f"delete {collection}", op)

    async def upload(self, data: bytes, mime: str) -> dict[str, JSON]:
        """Upload a blob (content-addressed: the same bytes give the same CID); its blob ref."""
        async def op(client: AsyncClient) -> Any:
            # Raw bytes as ``content``: the SDK's ``upload_blob`` passes ``data=`` to httpx,
            # which warns (DeprecationWarning), and it hides the real Content-Type.
            response = await client.invoke_procedure(
                "com.atproto.repo.uploadBlob", content=data, headers={"Content-Type": mime},
                output_encoding="application/json")
            return response.content
        blob: dict[str, JSON] = (await self._call("upload image", op))["blob"]
        return blob

    async def resolve(self, handle: str) -> str | None:
        """The DID of ``handle``, or ``None`` when it does not resolve."""
        async def op(client: AsyncClient) -> Any:
            return await client.com.atproto.identity.resolve_handle({"handle": handle})
        found = await self._call("resolve handle", op,
                                 absent=lambda exc: _errors.status_of(exc) == 400)
        return None if found is None else str(found.did)


async def _noop(client: AsyncClient) -> None:
    return None


_GET = "com.atproto.repo.getRecord"
_LIST = "com.atproto.repo.listRecords"


def _query(nsid: str, params: Mapping[str, JSON]) -> Any:
    """A raw XRPC query: records come back exactly as stored, not as SDK models."""
    async def op(client: AsyncClient) -> Any:
        response = await client.invoke_query(nsid, params=_Params(dict(params)))
        return response.content
    return op


class _Params(dict[str, JSON]):
    """Query parameters in the shape the SDK's invoke layer expects (it calls model_dump)."""

    def model_dump(self, **_: Any) -> dict[str, JSON]:
        return dict(self)
