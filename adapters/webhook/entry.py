"""Signed webhooks: POST the rendered post as JSON to the owner's receiver, signed as Standard
Webhooks define, with the delivery key as ``webhook-id`` on every attempt.

At most once on the network cannot be promised by HTTP: a receiver that answered after we timed
out gets the same ``webhook-id`` again and is expected to drop it (the standard's contract).
Transient: timeouts, network errors, 408/425/429 (with ``Retry-After``) and 5xx. Permanent:
other 4xx (401/403 mean the receiver refused the signature: the account is marked), 410 (the
receiver is gone), and redirects (never followed: a signed body must not go elsewhere).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from adapters.webhook import render, signing
from adapters.webhook.signing import with_target_secret
from adapters.webhook.spec import WebhookOptions
from hub.domain.model import PeopleSnapshot, Post, Reach, Target
from hub.errors import (
    AccountNotConnected,
    CredentialsRejected,
    InvalidInput,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from hub.ports import JSON, Connection, CredentialStore, Draft, MediaLoader, Receipt, Steps

__all__ = ["WebhookPublisher", "build", "connect", "with_target_secret"]
USER_AGENT = "crosspost-hub (webhook)"
_TRANSIENT = {408, 425, 429}


class WebhookSettings(BaseModel):
    """What ``hub accounts add webhook NAME --url URL`` stores; the secret is stored apart."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str
    timeout: float = Field(default=15.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the webhook URL must be an http:// or https:// address")
        if parts.username or parts.password:
            raise ValueError("put no credentials in the webhook URL: the body is signed")
        return value.strip()


def _settings(raw: Mapping[str, JSON]) -> WebhookSettings:
    try:
        return WebhookSettings.model_validate(dict(raw))
    except ValidationError as exc:
        why = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"webhook settings: {why}", field="url") from exc


class WebhookPublisher:
    platform: ClassVar[str] = "webhook"

    def __init__(self, account: str, settings: WebhookSettings, key: bytes | None, *,
                 client: httpx.AsyncClient, media_loader: MediaLoader | None = None,
                 clock: Callable[[], float] = time.time,
                 target_keys: Mapping[str, bytes] | None = None) -> None:
        self.account = account
        self.settings = settings
        self._key = key                         # the account's: targets without their own
        self._target_keys = dict(target_keys or {})
        self._client = client
        self._media_loader = media_loader
        self._clock = clock

    def __repr__(self) -> str:
        return f"WebhookPublisher({self.account!r})"

    def _key_for(self, target: str) -> bytes:
        key = self._target_keys.get(target, self._key)
        if key is None:
            raise AccountNotConnected(
                f"{self.account}: no signing secret for target {target}: run `hub accounts "
                f"webhook-secret {self.account.split(':', 1)[1]} --target {target}`")
        return key

    def prepare(self, post: Post, target: Target, people: PeopleSnapshot) -> Draft:
        options = WebhookOptions.model_validate(dict(target.options))
        event = render.payload(post, target, options)
        recipients = render.recipients(options, people)
        counter = f"{len(post.text)} characters"
        notes = () if options.list or target.reach in (Reach.WORLD, Reach.WORLD_UNLISTED) else (
            f"reach {target.reach.value} is declared by the policy; the hub cannot name the "
            f"people a webhook receiver shows it to",)
        return Draft(platform=self.platform, account=self.account, target=target.name,
                     parts=(post.text,), recipients=recipients, payload=event,
                     counter=counter, notes=notes)

    async def publish(self, draft: Draft, *, key: str, steps: Steps) -> Receipt:
        body = render.body(draft.payload, key=key, media_loader=self._media_loader)
        answer = await self._post(key, body, action="deliver", target=draft.target)
        details: dict[str, JSON] = {
            "status": answer.status_code, "target": draft.target, "delivery_key": key,
            "post_id": _data(draft.payload).get("post_id"),
            # as declared by the policy: the hub cannot observe a receiver's readers
            "audience": {"kind": "declared", "declared_by": "policy",
                         "lower_bound": _grows(draft)},
        }
        return Receipt(remote_id=key, url=_answer_url(answer), details=details)

    async def delete(self, receipt: Receipt, *, steps: Steps) -> None:
        """Tell the receiver the post was deleted (a signed ``post.deleted`` event); what it
        already showed cannot be taken back by the hub."""
        msg_id = f"{receipt.remote_id}.deleted"
        await self._post(msg_id, render.deletion(receipt.details, remote_id=receipt.remote_id),
                         action="delete", target=str(receipt.details.get("target") or ""))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, msg_id: str, body: bytes, *, action: str,
                    target: str) -> httpx.Response:
        headers = signing.headers(self._key_for(target), msg_id=msg_id,
                                  timestamp=int(self._clock()), body=body)
        try:
            answer = await self._client.post(self.settings.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError(
                f"the webhook receiver did not answer within {self.settings.timeout:g} s",
                platform=self.platform) from exc
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(
                f"cannot reach the webhook receiver ({type(exc).__name__})",
                platform=self.platform) from exc
        classify(answer, action=action)
        return answer


def classify(answer: httpx.Response, *, action: str) -> None:
    """Raise the hub error a receiver's answer means; return for 2xx."""
    code = answer.status_code
    if 200 <= code < 300:
        return
    said = _said(answer)
    if code in _TRANSIENT or code >= 500:
        raise TransientDeliveryError(
            f"the webhook receiver answered {code} to {action}{said}; retrying",
            platform="webhook", status_code=code, retry_after=retry_after(answer))
    if code in (401, 403):
        raise CredentialsRejected(
            f"the webhook receiver refused the signature ({code}){said}: check that it "
            f"has this target's signing secret", platform="webhook", status_code=code)
    if code == 410:
        raise PermanentDeliveryError(
            "the webhook receiver says this endpoint is gone (410): remove or reconnect it",
            platform="webhook", status_code=code)
    if 300 <= code < 400:
        raise PermanentDeliveryError(
            f"the webhook receiver redirected ({code}) to "
            f"{answer.headers.get('location', 'elsewhere')!r}; redirects are not followed: "
            f"connect the final URL", platform="webhook", status_code=code)
    raise PermanentDeliveryError(f"the webhook receiver refused it ({code}){said}",
                                 platform="webhook", status_code=code)


def retry_after(answer: httpx.Response) -> float | None:
    """Seconds from ``Retry-After`` (delta seconds or an HTTP date), if given."""
    value = answer.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _said(answer: httpx.Response) -> str:
    text = answer.text.strip().replace("\n", " ")
    return f": {text[:200]}" if text else ""


def _answer_url(answer: httpx.Response) -> str | None:
    """A receiver may answer ``{"url": "https://…"}``: where it shows the post."""
    try:
        value = answer.json().get("url") if answer.content else None
    except (ValueError, AttributeError):
        return None
    if isinstance(value, str) and urlsplit(value).scheme in ("http", "https"):
        return value[:2000]
    return None


def _data(event: Mapping[str, JSON]) -> Mapping[str, JSON]:
    data = event.get("data")
    return data if isinstance(data, dict) else {}


def _grows(draft: Draft) -> bool:
    audience = _data(draft.payload).get("audience")
    reach = audience.get("reach") if isinstance(audience, dict) else None
    return reach in (Reach.FOLLOWERS.value, Reach.ROOM_MEMBERS.value)


def build(connection: Connection, credentials: CredentialStore, *,
          media_loader: MediaLoader | None = None) -> WebhookPublisher:
    """A publisher for one webhook account (its own HTTP client, closed by ``aclose``)."""
    if not connection.secret:
        raise AccountNotConnected(f"{connection.account}: no signing secret stored")
    settings = _settings(connection.settings)
    default, targets = signing.parse_secrets(connection.secret)
    client = httpx.AsyncClient(timeout=settings.timeout, follow_redirects=False,
                               headers={"user-agent": USER_AGENT})
    return WebhookPublisher(
        connection.account, settings, signing.secret_bytes(default) if default else None,
        client=client, media_loader=media_loader,
        target_keys={t: signing.secret_bytes(v) for t, v in targets.items()})


async def connect(settings: Mapping[str, JSON], secret: str) -> tuple[dict[str, JSON], str]:
    """Validate the URL and the signing secret (``whsec_…``, as the receiver has it; the CLI
    can generate one), or the account's secrets per target (``signing.parse_secrets``: what
    ``hub accounts webhook-secret`` stores). The receiver is not called: Standard Webhooks
    defines no ping."""
    parsed = _settings(settings)
    if not secret.strip():
        raise InvalidInput("a signing secret is needed (whsec_…)", field="secret")
    try:
        default, targets = signing.parse_secrets(secret)
        if default is None and not targets:
            raise ValueError("a signing secret is needed (whsec_…)")
        default = _normal(default) if default else None
        targets = {t: _normal(v) for t, v in targets.items()}
    except ValueError as exc:
        raise InvalidInput(str(exc), field="secret") from exc
    return parsed.model_dump(), signing.dump_secrets(default, targets)


def _normal(secret: str) -> str:
    """A valid secret with its ``whsec_`` prefix (ValueError, never echoing it, if not)."""
    value = secret.strip()
    signing.secret_bytes(value)
    return value if value.startswith(signing.PREFIX) else signing.PREFIX + value
