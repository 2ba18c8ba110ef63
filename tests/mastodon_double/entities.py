"""Mastodon JSON entities (Account, Status, MediaAttachment, Instance...) for the double."""

from __future__ import annotations

import html
import time
from typing import Any

from tests.mastodon_double.world import Account, App, Media, Status, Token, World, now_iso

MIME_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4", "video/webm",
              "audio/mpeg", "audio/ogg"]


def account(world: World, acc: Account, base: str) -> dict[str, Any]:
    host = base if acc.domain is None else f"https://{acc.domain}"
    url = f"{host}/@{acc.username}"
    followers = sum(1 for _, _, b in world.follows if b == acc.id)
    following = sum(1 for _, a, _ in world.follows if a == acc.id)
    statuses = sum(1 for s in world.statuses.values() if s.account_id == acc.id and not s.deleted)
    return {
        "id": acc.id, "username": acc.username, "acct": acc.acct(),
        "display_name": acc.display_name, "locked": acc.locked, "bot": False,
        "discoverable": True, "indexable": False, "group": False, "created_at": acc.created_at,
        "note": "", "url": url, "uri": f"{host}/users/{acc.username}",
        "avatar": f"{base}/avatars/original/missing.png",
        "avatar_static": f"{base}/avatars/original/missing.png",
        "header": f"{base}/headers/original/missing.png",
        "header_static": f"{base}/headers/original/missing.png",
        "followers_count": followers, "following_count": following,
        "statuses_count": statuses, "last_status_at": None, "hide_collections": None,
        "noindex": False, "emojis": [], "roles": [],
        "fields": [{"name": str(f.get("name", "")), "value": str(f.get("value", "")),
                    "verified_at": f.get("verified_at")} for f in acc.fields],
    }


def credential_account(world: World, acc: Account, base: str) -> dict[str, Any]:
    return {
        **account(world, acc, base),
        "source": {"privacy": "public", "sensitive": False, "language": None, "note": "",
                   "fields": [], "follow_requests_count": 0, "indexable": False,
                   "hide_collections": None, "discoverable": True, "attribution_domains": []},
        "role": {"id": "-99", "name": "", "permissions": "0", "color": "",
                 "highlighted": False},
    }


def media(item: Media, base: str) -> dict[str, Any]:
    ready = item.polls_left <= 0
    url = f"{base}/system/media_attachments/{item.id}/original.bin"
    return {
        "id": item.id, "type": item.kind, "url": url if ready else None,
        "preview_url": f"{base}/system/media_attachments/{item.id}/small.bin",
        "remote_url": None, "description": item.description, "blurhash": None,
        "meta": {} if ready else None,
    }


def status(world: World, st: Status, base: str, *, with_text: bool = False) -> dict[str, Any]:
    author = world.accounts[st.account_id]
    reply = world.statuses.get(st.in_reply_to_id or "")
    body = {
        "id": st.id, "created_at": st.created_at, "edited_at": st.edited_at,
        "in_reply_to_id": st.in_reply_to_id,
        "in_reply_to_account_id": reply.account_id if reply else None,
        "sensitive": st.sensitive, "spoiler_text": st.spoiler_text,
        "visibility": st.visibility, "language": st.language,
        "uri": f"{base}/users/{author.username}/statuses/{st.id}",
        "url": f"{base}/@{author.username}/{st.id}",
        "replies_count": sum(1 for s in world.statuses.values()
                             if s.in_reply_to_id == st.id and not s.deleted),
        "reblogs_count": 0, "favourites_count": 0, "quotes_count": 0,
        "favourited": False, "reblogged": False, "muted": False, "bookmarked": False,
        "pinned": False,
        "content": "<p>" + html.escape(st.text).replace("\n", "<br />") + "</p>",
        "reblog": None, "application": {"name": "crosspost-hub", "website": None},
        "account": account(world, author, base),
        "media_attachments": [media(world.media[m], base) for m in st.media_ids],
        "mentions": [mention(world, world.accounts[i], base) for i in st.mentions],
        "tags": [], "emojis": [], "card": None, "poll": None,
        "quote_approval": quote_approval(st),
    }
    if with_text:
        body["text"] = st.text
    return body


def quote_approval(st: Status) -> dict[str, Any]:
    """QuoteApproval as the author sees it: who is automatically allowed to quote."""
    automatic = {"public": ["public"], "followers": ["followers"], "nobody": []}
    return {"automatic": automatic[st.quote_policy], "manual": [], "current_user": "automatic"}


def mention(world: World, acc: Account, base: str) -> dict[str, Any]:
    data = account(world, acc, base)
    return {key: data[key] for key in ("id", "username", "url", "acct")}


def instance(world: World, base: str) -> dict[str, Any]:
    c = world.config
    return {
        "domain": c.domain, "title": "Mastodon double", "version": c.version,
        "source_url": "https://github.com/mastodon/mastodon",
        "description": "A Mastodon-compatible test server that validates against the spec",
        "usage": {"users": {"active_month": len(world.accounts)}},
        "thumbnail": {"url": f"{base}/packs/media/images/preview.png"},
        "icon": [], "languages": ["en"],
        "configuration": {
            "urls": {"streaming": None, "status": None, "about": f"{base}/about",
                     "privacy_policy": f"{base}/privacy-policy", "terms_of_service": None},
            "vapid": {"public_key": "double"},
            "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
            "statuses": {"max_characters": c.max_characters,
                         "max_media_attachments": c.max_media,
                         "characters_reserved_per_url": c.url_weight},
            "media_attachments": {
                "supported_mime_types": MIME_TYPES, "description_limit": c.description_limit,
                "image_size_limit": c.image_size_limit, "image_matrix_limit": 33177600,
                "video_size_limit": c.video_size_limit, "video_frame_rate_limit": 120,
                "video_matrix_limit": 8294400},
            "polls": {"max_options": 4, "max_characters_per_option": 50,
                      "min_expiration": 300, "max_expiration": 2629746},
            "translation": {"enabled": False},
        },
        "registrations": {"enabled": False, "approval_required": False, "message": None},
        "api_versions": {"mastodon": c.api_version},
        "contact": {"email": f"admin@{c.domain}", "account": None},
        "rules": [],
    }


def application(app: App) -> dict[str, Any]:
    return {"id": app.id, "name": app.name, "website": app.website, "scopes": app.scopes,
            "redirect_uri": "\n".join(app.redirect_uris), "redirect_uris": app.redirect_uris,
            "client_id": app.client_id, "client_secret": app.client_secret,
            "client_secret_expires_at": 0, "vapid_key": "double"}


def token(tok: Token) -> dict[str, Any]:
    return {"access_token": tok.value, "token_type": "Bearer",
            "scope": " ".join(sorted(tok.scopes)), "created_at": int(time.time())}


def oauth_server(base: str) -> dict[str, Any]:
    return {
        "issuer": base + "/", "service_documentation": "https://docs.joinmastodon.org/",
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "app_registration_endpoint": f"{base}/api/v1/apps",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "userinfo_endpoint": f"{base}/oauth/userinfo",
        "scopes_supported": ["read", "write", "profile", "read:accounts", "read:follows",
                             "read:statuses", "write:statuses", "write:media"],
        "response_types_supported": ["code"], "response_modes_supported": ["query", "fragment"],
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
    }


def inspect_status(world: World, st: Status) -> dict[str, Any]:
    """What the control plane shows about a stored status (not an API entity)."""
    return {
        "id": st.id, "account": world.full_acct(world.accounts[st.account_id]),
        "text": st.text, "spoiler_text": st.spoiler_text, "visibility": st.visibility,
        "visibility_sent": st.visibility_sent, "sensitive": st.sensitive,
        "language": st.language, "in_reply_to_id": st.in_reply_to_id,
        "media": [{"id": m, "description": world.media[m].description} for m in st.media_ids],
        "mentions": [world.full_acct(world.accounts[i]) for i in st.mentions],
        "idempotency_key": st.idempotency_key, "created_at": st.created_at,
        "edited_at": st.edited_at, "edits": st.edits, "deleted": st.deleted,
        "quote_approval_policy": st.quote_policy,
        "length": world.length(st.text, st.spoiler_text), "audience": world.audience(st),
        "checked_at": now_iso(),
    }
