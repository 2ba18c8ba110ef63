"""The double's in-memory instance: accounts, follows, tokens, apps, media, statuses, and the
server-side rules the hub depends on (length, mentions, idempotency, visibility).

Written from Mastodon's documented behaviour and server code (PostStatusService,
StatusLengthValidator, ProcessMentionsService), independently of the adapter under test.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import regex
from mastodon._url_regex import url_regex  # twitter-text's URL pattern, as Mastodon uses

QUOTE_POLICIES = ("public", "followers", "nobody")
MENTION = re.compile(r"(?:^|(?<=[^=/\w]))@([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@([\w.-]+\w))?",
                     re.IGNORECASE)


def now_iso(ts: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Config:
    domain: str = "double.test"
    version: str = "4.5.0"
    api_version: int = 7
    max_characters: int = 500
    url_weight: int = 23
    max_media: int = 4
    description_limit: int = 1500
    image_size_limit: int = 16 * 1024 * 1024
    video_size_limit: int = 99 * 1024 * 1024
    media_processing_polls: int = 0       # GETs answered 206 before an upload is ready
    async_media: bool = True              # answer uploads 202 (the v2 behaviour for video)
    ratelimit_limit: int = 300
    ratelimit_window: float = 300.0
    idempotency_ttl: float = 3600.0
    allowed_mentions: bool = True         # honour allowed_mentions[] (Mastodon >= 4.0)


@dataclass
class Account:
    id: str
    username: str
    domain: str | None            # None: local
    display_name: str = ""
    locked: bool = False
    known: bool = True            # remote accounts: already in the instance's database
    created_at: str = field(default_factory=now_iso)
    # Profile fields: {"name", "value" (HTML), "verified_at" (ISO or None)}
    fields: list[dict[str, Any]] = field(default_factory=list)

    def acct(self) -> str:
        return self.username if self.domain is None else f"{self.username}@{self.domain}"


@dataclass
class Token:
    value: str
    account_id: str | None
    scopes: set[str]


@dataclass
class App:
    id: str
    name: str
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    scopes: list[str]
    website: str | None = None


@dataclass
class Media:
    id: str
    account_id: str
    mime: str
    size: int
    description: str | None
    polls_left: int
    status_id: str | None = None

    @property
    def kind(self) -> str:
        major = self.mime.split("/", 1)[0]
        return {"image": "gifv" if self.mime == "image/gif" else "image", "video": "video",
                "audio": "audio"}.get(major, "unknown")


@dataclass
class Status:
    id: str
    account_id: str
    text: str
    spoiler_text: str
    visibility: str
    visibility_sent: bool
    sensitive: bool
    language: str | None
    in_reply_to_id: str | None
    media_ids: list[str]
    mentions: list[str]                   # account ids
    idempotency_key: str | None
    created_at: str = field(default_factory=now_iso)
    edited_at: str | None = None
    deleted: bool = False
    edits: list[dict[str, Any]] = field(default_factory=list)
    quote_policy: str = "public"          # public | followers | nobody (quote_approval_policy)


class Rejected(Exception):
    """A request the server refuses with ``status`` and a Mastodon-shaped error body."""

    def __init__(self, status: int, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.body = {"error": error, **extra}


class World:
    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        self._ids = itertools.count(int(time.time() * 1000) << 16)
        self.accounts: dict[str, Account] = {}
        self.follows: list[tuple[str, str, str]] = []       # (follow id, follower, followee)
        self.tokens: dict[str, Token] = {}
        self.apps: dict[str, App] = {}
        self.codes: dict[str, tuple[str, str, set[str], str]] = {}
        self.media: dict[str, Media] = {}
        self.statuses: dict[str, Status] = {}
        self.idempotency: dict[tuple[str, str], tuple[str, float]] = {}

    def next_id(self) -> str:
        return str(next(self._ids))

    # -- accounts ----------------------------------------------------------------------------

    def add_account(self, username: str, domain: str | None = None, *, locked: bool = False,
                    known: bool = True, display_name: str = "",
                    scopes: set[str] | None = None) -> tuple[Account, str | None]:
        if domain is not None and domain.casefold() == self.config.domain:
            domain = None
        account = Account(self.next_id(), username, domain, display_name or username, locked,
                          known)
        self.accounts[account.id] = account
        token = None
        if domain is None and scopes is not None:
            token = secrets.token_urlsafe(24)
            self.tokens[token] = Token(token, account.id, set(scopes))
        return account, token

    def find(self, username: str, domain: str | None, *, resolve: bool) -> Account | None:
        """``resolve``: also accounts the instance would fetch over WebFinger."""
        if domain is not None and domain.casefold() == self.config.domain:
            domain = None
        for account in self.accounts.values():
            same = account.username.casefold() == username.casefold() and (
                (account.domain or "").casefold() == (domain or "").casefold())
            if same and (account.known or resolve):
                account.known = True
                return account
        return None

    def follow(self, follower: str, followee: str) -> None:
        self.follows.append((self.next_id(), follower, followee))

    def followers(self, account_id: str) -> list[tuple[str, Account]]:
        """(follow id, follower), newest first, as Mastodon pages them."""
        rows = [(fid, self.accounts[a]) for fid, a, b in self.follows if b == account_id]
        return sorted(rows, key=lambda r: int(r[0]), reverse=True)

    # -- statuses ----------------------------------------------------------------------------

    def length(self, text: str, spoiler_text: str) -> int:
        """StatusLengthValidator: graphemes of CW + text, links = url weight, no domains."""
        countable = url_regex.sub(lambda m: m.group(2) + "x" * self.config.url_weight, text)
        countable = MENTION.sub(lambda m: "@" + m.group(1), countable)
        return len(regex.findall(r"\X", spoiler_text + countable))

    def mentioned(self, text: str) -> list[Account]:
        """ProcessMentionsService: resolve each @user[@domain] (remote ones over WebFinger)."""
        found: dict[str, Account] = {}
        links = [m.span(3) for m in url_regex.finditer(text)]
        for match in MENTION.finditer(text):
            if any(s <= match.start() < e for s, e in links):
                continue
            account = self.find(match.group(1), match.group(2), resolve=True)
            if account is not None:
                found.setdefault(account.id, account)
        return list(found.values())

    def create_status(self, account: Account, params: dict[str, Any],
                      key: str | None) -> tuple[Status, bool]:
        """PostStatusService; returns (status, replayed)."""
        if key:
            stored = self.idempotency.get((account.id, key))
            if stored and time.time() - stored[1] < self.config.idempotency_ttl:
                return self.statuses[stored[0]], True
        text = str(params.get("status") or "")
        spoiler = str(params.get("spoiler_text") or "")
        media_ids = [str(m) for m in params.get("media_ids") or []]
        if not text.strip() and not media_ids:
            raise Rejected(422, "Validation failed: Text can't be blank")
        length = self.length(text, spoiler)
        if length > self.config.max_characters:
            raise Rejected(422, "Validation failed: Text character limit of "
                                f"{self.config.max_characters} exceeded")
        self._check_media(account, media_ids)
        reply_to = params.get("in_reply_to_id")
        if reply_to is not None and (reply_to not in self.statuses
                                     or self.statuses[reply_to].deleted):
            raise Rejected(404, "Record not found")
        mentioned = self.mentioned(text)
        allowed = params.get("allowed_mentions")
        if allowed is not None and self.config.allowed_mentions:
            unexpected = [a for a in mentioned if a.id not in {str(i) for i in allowed}]
            if unexpected:
                raise Rejected(422, "Post would be sent to unexpected accounts",
                               unexpected_accounts=unexpected)
        visibility = params.get("visibility")
        quote_policy = self._quote_policy(str(visibility or "public"),
                                          params.get("quote_approval_policy"))
        status = Status(
            id=self.next_id(), account_id=account.id, text=text, spoiler_text=spoiler,
            visibility=str(visibility or "public"), visibility_sent=visibility is not None,
            sensitive=bool(params.get("sensitive")) or bool(spoiler),
            language=params.get("language"), in_reply_to_id=reply_to, media_ids=media_ids,
            mentions=[a.id for a in mentioned], idempotency_key=key, quote_policy=quote_policy)
        self.statuses[status.id] = status
        for media_id in media_ids:
            self.media[media_id].status_id = status.id
        if key:   # stored only after success, like Mastodon's redis setex
            self.idempotency[(account.id, key)] = (status.id, time.time())
        return status, False

    def _check_media(self, account: Account, media_ids: list[str], status_id: str | None = None
                     ) -> None:
        if len(media_ids) > self.config.max_media:
            raise Rejected(422, "Validation failed: Media attachments are too many")
        items = []
        for media_id in media_ids:
            media = self.media.get(media_id)
            if media is None or media.account_id != account.id or \
                    media.status_id not in (None, status_id):
                raise Rejected(422, "Validation failed: Media attachments not found")
            if media.polls_left > 0:
                raise Rejected(422, "Cannot attach files that have not finished processing. "
                                    "Try again in a moment!")
            items.append(media)
        if len(items) > 1 and any(m.kind != "image" for m in items):
            raise Rejected(422, "Cannot attach a video to a post that already contains images")

    @staticmethod
    def _quote_policy(visibility: str, requested: object, current: str = "public") -> str:
        """Status#quote_approval_policy: who may quote. Private and direct posts are always
        ``nobody`` whatever was asked (the documented server rule)."""
        if requested is not None and requested not in QUOTE_POLICIES:
            raise Rejected(422, "Validation failed: Quote approval policy is invalid",
                           details={"quote_approval_policy": [
                               {"error": "ERR_INCLUSION", "description": "is not included in "
                                "the list"}]})
        if visibility in ("private", "direct"):
            return "nobody"
        return str(requested) if requested is not None else current

    def set_quote_policy(self, status: Status, requested: object) -> Status:
        """``PUT /api/v1/statuses/:id/interaction_policy``: only the quote policy changes."""
        if requested is None:
            raise Rejected(422, "Validation failed: Quote approval policy can't be blank",
                           details={"quote_approval_policy": [
                               {"error": "ERR_BLANK", "description": "can't be blank"}]})
        status.quote_policy = self._quote_policy(status.visibility, requested,
                                                 status.quote_policy)
        return status

    def edit_status(self, status: Status, params: dict[str, Any]) -> Status:
        """UpdateStatusService: text, CW, sensitive, language, media (and their descriptions
        through ``media_attributes``), quote policy; never visibility."""
        text = str(params.get("status", status.text) or "")
        spoiler = str(params.get("spoiler_text", status.spoiler_text) or "")
        if self.length(text, spoiler) > self.config.max_characters:
            raise Rejected(422, "Validation failed: Text character limit of "
                                f"{self.config.max_characters} exceeded")
        if "media_ids" in params:
            media_ids = [str(m) for m in params["media_ids"] or []]
            self._check_media(self.accounts[status.account_id], media_ids, status.id)
        else:
            media_ids = status.media_ids
        attributes = params.get("media_attributes") or []
        for attr in attributes:
            if not isinstance(attr, dict) or str(attr.get("id")) not in media_ids:
                raise Rejected(422, "Validation failed: Media attachments not found")
            description = attr.get("description")
            if description is not None and len(str(description)) > \
                    self.config.description_limit:
                raise Rejected(422, "Validation failed: Description is too long (maximum is "
                                    f"{self.config.description_limit} characters)")
        quote_policy = self._quote_policy(status.visibility, params.get("quote_approval_policy"),
                                          status.quote_policy)
        status.media_ids = media_ids
        for media_id in media_ids:
            self.media[media_id].status_id = status.id
        for attr in attributes:
            if attr.get("description") is not None:
                self.media[str(attr["id"])].description = str(attr["description"])
        status.quote_policy = quote_policy
        status.edits.append({"text": status.text, "spoiler_text": status.spoiler_text,
                             "at": status.edited_at or status.created_at})
        status.text, status.spoiler_text = text, spoiler
        if "sensitive" in params:
            status.sensitive = bool(params["sensitive"])
        if "language" in params:
            status.language = params["language"]
        # New mentions are added (and gain access); earlier ones stay, silently.
        for account in self.mentioned(text):
            if account.id not in status.mentions:
                status.mentions.append(account.id)
        status.edited_at = now_iso()
        return status

    def can_see(self, status: Status, viewer: str | None) -> bool:
        if status.deleted:
            return False
        if status.visibility in ("public", "unlisted") or viewer == status.account_id:
            return True
        if viewer in status.mentions:
            return True
        return status.visibility == "private" and any(
            a == viewer for _, a, b in self.follows if b == status.account_id)

    def audience(self, status: Status) -> list[str] | str:
        """Who can read it now: "anyone", or the accts."""
        if status.visibility in ("public", "unlisted"):
            return "anyone"
        ids = set(status.mentions)
        if status.visibility == "private":
            ids |= {a for _, a, b in self.follows if b == status.account_id}
        return sorted(self.full_acct(self.accounts[i]) for i in ids)

    def full_acct(self, account: Account) -> str:
        return f"{account.username}@{account.domain or self.config.domain}"
