"""The API operations the double implements: (double, me, path params, body, files, request,
base URL) -> (HTTP status, JSON payload or HTML). Raise ``Rejected`` for Mastodon's errors."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from tests.mastodon_double import entities, relationships
from tests.mastodon_double.world import Account, App, Media, Rejected, Token

if TYPE_CHECKING:
    from tests.mastodon_double.app import Double

def _verify(d: Double, me: Any, p: Any, b: Any, f: Any, r: Request, base: str) -> Any:
    return 200, entities.credential_account(d.world, me, base)


def _instance(d: Double, me: Any, p: Any, b: Any, f: Any, r: Request, base: str) -> Any:
    return 200, entities.instance(d.world, base)


def _instance_v1(d: Double, me: Any, p: Any, b: Any, f: Any, r: Request, base: str) -> Any:
    return 404, {"error": "The v1 instance endpoint is not served by this double"}


def _post_status(d: Double, me: Any, p: Any, body: dict[str, Any], f: Any, r: Request,
                 base: str) -> Any:
    st, _ = d.world.create_status(me, body, r.headers.get("Idempotency-Key"))
    return 200, entities.status(d.world, st, base)


def _visible(d: Double, me: Account | None, status_id: str) -> Any:
    st = d.world.statuses.get(status_id)
    if st is None or not d.world.can_see(st, me.id if me else None):
        raise Rejected(404, "Record not found")
    return st


def _get_status(d: Double, me: Any, p: Any, b: Any, f: Any, r: Request, base: str) -> Any:
    return 200, entities.status(d.world, _visible(d, me, p["id"]), base)


def _put_status(d: Double, me: Any, p: Any, body: Any, f: Any, r: Request, base: str) -> Any:
    st = _visible(d, me, p["id"])
    if st.account_id != me.id:
        raise Rejected(404, "Record not found")
    return 200, entities.status(d.world, d.world.edit_status(st, body), base)


def _put_interaction_policy(d: Double, me: Any, p: Any, body: Any, f: Any, r: Request,
                            base: str) -> Any:
    st = _visible(d, me, p["id"])
    if st.account_id != me.id:
        raise Rejected(404, "Record not found")
    return 200, entities.status(d.world, d.world.set_quote_policy(
        st, body.get("quote_approval_policy")), base)


def _delete_status(d: Double, me: Any, p: Any, b: Any, f: Any, r: Request, base: str) -> Any:
    st = _visible(d, me, p["id"])
    if st.account_id != me.id:
        raise Rejected(404, "Record not found")
    st.deleted = True
    return 200, entities.status(d.world, st, base, with_text=True)


def _post_media(d: Double, me: Any, p: Any, body: Any, files: dict[str, UploadFile],
                r: Request, base: str) -> Any:
    upload = files.get("file")
    if upload is None:
        raise Rejected(422, "Validation failed: File can't be blank")
    mime = upload.content_type or ""
    if mime not in entities.MIME_TYPES:
        raise Rejected(422, f"Validation failed: File content type {mime!r} is invalid")
    description = body.get("description")
    c = d.world.config
    if description and len(description) > c.description_limit:
        raise Rejected(422, "Validation failed: Description is too long (maximum is "
                            f"{c.description_limit} characters)")
    size = upload.size or 0
    media = Media(d.world.next_id(), me.id, mime, size, description,
                  c.media_processing_polls if c.async_media else 0)
    d.world.media[media.id] = media
    return (202 if c.async_media else 200), entities.media(media, base)


def _get_media(d: Double, me: Any, p: Any, b: Any, f: Any, r: Request, base: str) -> Any:
    media = d.world.media.get(p["id"])
    if media is None or media.account_id != me.id:
        raise Rejected(404, "Record not found")
    if media.polls_left > 0:
        body = entities.media(media, base)     # still processing: url null
        media.polls_left -= 1
        return 206, body
    return 200, entities.media(media, base)


def _followers(d: Double, me: Any, p: Any, b: Any, f: Any, r: Request, base: str) -> Any:
    if p["id"] not in d.world.accounts:
        raise Rejected(404, "Record not found")
    q = r.query_params
    limit = min(int(q.get("limit") or 40), 80)
    rows = d.world.followers(p["id"])
    if q.get("max_id"):
        rows = [row for row in rows if int(row[0]) < int(q["max_id"])]
    if q.get("since_id"):
        rows = [row for row in rows if int(row[0]) > int(q["since_id"])]
    if q.get("min_id"):
        rows = sorted((row for row in rows if int(row[0]) > int(q["min_id"])),
                      key=lambda row: int(row[0]))[:limit][::-1]
    return 200, [entities.account(d.world, acc, base) for _, acc in rows[:limit]]


def _lookup(d: Double, me: Any, p: Any, b: Any, f: Any, r: Request, base: str) -> Any:
    user, _, domain = r.query_params["acct"].lstrip("@").partition("@")
    account = d.world.find(user, domain or None, resolve=False)
    if account is None:
        raise Rejected(404, "Record not found")
    return 200, entities.account(d.world, account, base)


def _apps(d: Double, me: Any, p: Any, body: Any, f: Any, r: Request, base: str) -> Any:
    uris = body.get("redirect_uris") or []
    uris = uris.split() if isinstance(uris, str) else list(uris)
    app = App(d.world.next_id(), body["client_name"], secrets.token_urlsafe(16),
              secrets.token_urlsafe(24), uris, (body.get("scopes") or "read").split(),
              body.get("website"))
    d.world.apps[app.id] = app
    return 200, entities.application(app)


def _authorize(d: Double, me: Any, p: Any, b: Any, f: Any, r: Request, base: str) -> Any:
    return 200, "<html><body>Authorize this app? (use /_double/oauth/approve)</body></html>"


def _token(d: Double, me: Any, p: Any, body: Any, f: Any, r: Request, base: str) -> Any:
    app = next((a for a in d.world.apps.values() if a.client_id == body.get("client_id")), None)
    if app is None or app.client_secret != body.get("client_secret"):
        return 401, {"error": "invalid_client",
                     "error_description": "Client authentication failed"}
    grant = d.world.codes.pop(body.get("code", ""), None)
    if body.get("grant_type") != "authorization_code" or grant is None or \
            grant[0] != app.client_id or grant[3] != body.get("redirect_uri"):
        return 400, {"error": "invalid_grant", "error_description": "The provided "
                     "authorization grant is invalid, expired, revoked, does not match the "
                     "redirection URI used in the authorization request, or was issued to "
                     "another client."}
    value = secrets.token_urlsafe(24)
    token = Token(value, grant[1], grant[2])
    d.world.tokens[value] = token
    return 200, entities.token(token)


def _oauth_server(d: Double, me: Any, p: Any, b: Any, f: Any, r: Request, base: str) -> Any:
    return 200, entities.oauth_server(base)


HANDLERS = {
    ("GET", "/api/v1/accounts/verify_credentials"): _verify,
    ("GET", "/api/v2/instance"): _instance,
    ("GET", "/api/v1/instance"): _instance_v1,
    ("POST", "/api/v1/statuses"): _post_status,
    ("GET", "/api/v1/statuses/{id}"): _get_status,
    ("PUT", "/api/v1/statuses/{id}"): _put_status,
    ("DELETE", "/api/v1/statuses/{id}"): _delete_status,
    ("PUT", "/api/v1/statuses/{id}/interaction_policy"): _put_interaction_policy,
    ("POST", "/api/v2/media"): _post_media,
    ("GET", "/api/v1/media/{id}"): _get_media,
    ("GET", "/api/v1/accounts/{id}/followers"): _followers,
    ("GET", relationships.FOLLOWING): relationships.handle_following,
    ("GET", "/api/v1/accounts/lookup"): _lookup,
    ("POST", "/api/v1/apps"): _apps,
    ("GET", "/oauth/authorize"): _authorize,
    ("POST", "/oauth/token"): _token,
    ("GET", "/.well-known/oauth-authorization-server"): _oauth_server,
}


