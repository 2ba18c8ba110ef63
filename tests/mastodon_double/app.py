"""The double as an ASGI app: Mastodon's API (the part the hub uses) plus a control plane.

Every API request and response passes the contract check (``contract.py``); what fails is kept
as a *violation* that the test fixtures assert empty. The control plane lives under
``/_double/`` (never validated, never faulted): reset and configure the instance, create
accounts and follows, inject faults, and read back statuses, requests and violations.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import secrets
import time
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tests.mastodon_double import entities, relationships
from tests.mastodon_double.contract import Contract, Operation, nest
from tests.mastodon_double.handlers import HANDLERS
from tests.mastodon_double.world import Account, Config, Rejected, Token, World

JSONBody = Any


@dataclass
class Fault:
    """``kind``: error (answer ``status``), ratelimit (429 until ``reset_in`` s from now),
    delay (sleep ``seconds`` before handling, or after handling when ``when="after"``: the
    request takes effect but the client times out)."""

    kind: str
    count: int = 1
    method: str = "*"
    path: str = "*"
    status: int = 500
    seconds: float = 0.0
    when: str = "before"
    reset_in: float = 2.0
    query: str = ""          # only requests carrying this query parameter (e.g. max_id)

    def matches(self, method: str, path: str, params: Any = None) -> bool:
        return (self.method in ("*", method)) and fnmatch.fnmatch(path, self.path) and \
            (not self.query or (params is not None and self.query in params))


class Double:
    def __init__(self, contract: Contract, config: Config | None = None) -> None:
        self.contract = contract
        self.reset(config)

    def reset(self, config: Config | None = None) -> None:
        self.world = World(config)
        self.faults: list[Fault] = []
        self.buckets: dict[str, list[float]] = {}     # key -> [reset_at, used]
        self.requests: list[dict[str, Any]] = []
        self.violations: list[str] = []

    # -- the API -----------------------------------------------------------------------------

    async def api(self, request: Request) -> Response:
        method, path = request.method, request.url.path
        base = f"{request.url.scheme}://{request.url.netloc}"
        files: dict[str, UploadFile] = {}
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind == "multipart/form-data":
            form = await request.form()
            files = {k: v for k, v in form.multi_items() if isinstance(v, UploadFile)}
            body = nest([(k, "<binary>" if isinstance(v, UploadFile) else v)
                         for k, v in form.multi_items()])
            body_kind = "form"
        elif kind == "application/json":
            raw = await request.body()
            body, body_kind = (json.loads(raw) if raw.strip() else {}), "json"
        else:
            form = await request.form()
            body, body_kind = nest(form.multi_items()), "form"   # type: ignore[arg-type]
        checked = self.contract.check_request(method, path, request.query_params.multi_items(),
                                              request.headers, body, body_kind)
        self.violations += checked.violations
        entry = {"method": method, "path": path, "query": dict(request.query_params),
                 "idempotency_key": request.headers.get("Idempotency-Key"),
                 "body": {k: v for k, v in checked.body.items() if k != "file"},
                 "at": time.time()}
        self.requests.append(entry)
        op = checked.operation
        fault = next((f for f in self.faults
                      if f.matches(method, path.rstrip("/"), request.query_params)), None)
        if fault is not None:
            fault.count -= 1
            if fault.count <= 0:
                self.faults.remove(fault)
        token_value = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        token = self.world.tokens.get(token_value)
        bucket_key = token_value or (request.client.host if request.client else "-")
        injected = False
        if fault is not None and fault.kind == "delay" and fault.when == "before":
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "ratelimit":
            self.buckets[bucket_key] = [time.time() + fault.reset_in,
                                        float(self.world.config.ratelimit_limit)]
        limited = self._consume(bucket_key)
        if fault is not None and fault.kind == "error":
            status, payload, injected = fault.status, {"error": "Injected failure"}, True
        elif limited:
            status, payload = 429, {"error": "Too many requests"}
        elif op is None:
            status, payload = 404, {"error": "Not found in the spec"}
        else:
            status, payload = self._handle(op, checked.body, files, request, token, base)
        for upload in files.values():
            await upload.close()
        headers = self._ratelimit_headers(bucket_key)
        if op is not None and op.template == "/api/v1/accounts/{id}/followers" and status == 200:
            headers.update(self._link(request, payload))
        if op is not None and op.template == relationships.FOLLOWING and status == 200:
            headers.update(relationships.following_link(self.world, request, payload))
        entry["status"] = status
        if fault is not None and fault.kind == "delay" and fault.when == "after":
            await asyncio.sleep(fault.seconds)
        if isinstance(payload, str):
            return HTMLResponse(payload, status, headers=headers)
        response = Response(json.dumps(payload), status, headers=headers,
                            media_type="application/json")
        if op is not None:
            self.violations += self.contract.check_response(
                op, status, response.headers, bytes(response.body),
                response.headers.get("content-type", ""), injected=injected)
        return response

    def _consume(self, key: str) -> bool:
        """Count one call against the token's budget; True when it is exhausted (429)."""
        now = time.time()
        bucket = self.buckets.get(key)
        if bucket is None or now >= bucket[0]:
            bucket = self.buckets[key] = [now + self.world.config.ratelimit_window, 0.0]
        if bucket[1] >= self.world.config.ratelimit_limit:
            return True
        bucket[1] += 1
        return False

    def _ratelimit_headers(self, key: str) -> dict[str, str]:
        reset_at, used = self.buckets[key]
        limit = self.world.config.ratelimit_limit
        return {"X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(max(0, int(limit - used))),
                # ISO 8601 with microseconds, as Mastodon's ``iso8601(6)``.
                "X-RateLimit-Reset": datetime.fromtimestamp(reset_at, UTC).isoformat(
                    timespec="microseconds").replace("+00:00", "Z")}

    def _link(self, request: Request, page: JSONBody) -> dict[str, str]:
        """Mastodon adds rel=next whenever a page is full (even if nothing follows)."""
        limit = min(int(request.query_params.get("limit") or 40), 80)
        if not isinstance(page, list) or not page or len(page) < limit:
            return {}
        base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        account_id = request.url.path.rstrip("/").split("/")[-2]
        follow_ids = {b: fid for fid, b, a in self.world.follows if a == account_id}
        last, first = follow_ids[page[-1]["id"]], follow_ids[page[0]["id"]]
        return {"Link": f'<{base}?{urlencode({"limit": limit, "max_id": last})}>; rel="next", '
                        f'<{base}?{urlencode({"limit": limit, "min_id": first})}>; rel="prev"'}

    def _handle(self, op: Operation, body: dict[str, Any], files: dict[str, UploadFile],
                request: Request, token: Token | None, base: str) -> tuple[int, JSONBody]:
        world = self.world
        method, template = op.method, op.template
        scopes = self.contract.scopes(op)
        me: Account | None = None
        if scopes or template in _USER_ONLY:
            if token is None:
                return 401, {"error": "The access token is invalid"}
            if scopes and not any(_covers(token.scopes, s) for s in scopes):
                return 403, {"error": "This action is outside the authorized scopes"}
            me = world.accounts.get(token.account_id or "")
            if template in _USER_ONLY and me is None:
                return 422, {"error": "This method requires an authenticated user"}
        handler = HANDLERS.get((method, template))
        if handler is None:
            self.violations.append(f"{method} {template}: not implemented by the double")
            return 404, {"error": "Not implemented by the double"}
        try:
            return handler(self, me, op.params, body, files, request, base)
        except Rejected as exc:
            extra = {k: [entities.account(world, a, base) for a in v]
                     if isinstance(v, list) else v for k, v in exc.body.items()}
            return exc.status, extra

    # -- the control plane -------------------------------------------------------------------

    async def control(self, request: Request) -> Response:
        action = request.path_params["action"].strip("/")
        data = await request.json() if request.method == "POST" and \
            (await request.body()).strip() else {}
        world = self.world
        if action == "health":
            return JSONResponse({"ok": True})
        if action == "reset":
            self.reset(Config(**data.get("config", {})))
            return JSONResponse({"ok": True})
        if action == "config":
            for key, value in data.items():
                if key not in {f.name for f in fields(Config)}:
                    return JSONResponse({"error": f"unknown config {key}"}, 400)
                setattr(world.config, key, value)
            self.buckets.clear()   # a new budget starts a new window
            return JSONResponse(asdict(world.config))
        if action == "accounts":
            scopes = data.get("scopes")
            account, token = world.add_account(
                data["username"], data.get("domain"), locked=bool(data.get("locked")),
                known=data.get("known", True), scopes=set(scopes) if scopes is not None else None,
                display_name=str(data.get("display_name") or ""))
            account.fields = list(data.get("fields") or [])
            return JSONResponse({"id": account.id, "acct": world.full_acct(account),
                                 "token": token})
        if action == "follows":
            world.follow(data["follower"], data["followee"])
            return JSONResponse({"ok": True})
        if action == "unfollow":
            relationships.unfollow(world, data["follower"], data["followee"])
            return JSONResponse({"ok": True})
        if action == "faults":
            self.faults.append(Fault(**data))
            return JSONResponse({"ok": True, "pending": len(self.faults)})
        if action == "statuses":
            return JSONResponse([entities.inspect_status(world, s)
                                 for s in world.statuses.values()])
        if action == "media":
            return JSONResponse([asdict(m) for m in world.media.values()])
        if action == "requests":
            return JSONResponse(self.requests)
        if action == "violations":
            found = list(self.violations)
            if request.method == "DELETE":
                self.violations.clear()
            return JSONResponse(found)
        if action == "oauth/approve":
            app = next(a for a in world.apps.values() if a.client_id == data["client_id"])
            user = world.find(data["username"], None, resolve=False)
            assert user is not None
            code = secrets.token_urlsafe(16)
            granted = set(data.get("scope", " ".join(app.scopes)).split()) & set(app.scopes)
            world.codes[code] = (app.client_id, user.id, granted, data["redirect_uri"])
            return JSONResponse({"code": code})
        return JSONResponse({"error": f"unknown control {action}"}, 404)


def _covers(granted: set[str], scope: str) -> bool:
    return scope in granted or scope.split(":", 1)[0] in granted


_USER_ONLY = {"/api/v1/statuses", "/api/v1/statuses/{id}",
              "/api/v1/statuses/{id}/interaction_policy", "/api/v2/media",
              "/api/v1/media/{id}", "/api/v1/accounts/verify_credentials"}


def create_app(contract: Contract | None = None, config: Config | None = None) -> Starlette:
    double = Double(contract or Contract(), config)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    app = Starlette(routes=[
        Route("/_double/{action:path}", double.control, methods=["GET", "POST", "DELETE"]),
        Route("/{path:path}", double.api, methods=methods),
    ])
    app.state.double = double
    return app
