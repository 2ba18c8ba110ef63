"""Email to the members of a hub list over SMTP: one message per recipient or one with Bcc.

Exactly once as far as SMTP allows: each recipient (or the one Bcc message) is a durable step,
so a retried job skips what was accepted; the Message-ID is fixed per delivery (and recipient),
so even the one unavoidable resend window (accepted, then crash before the step is recorded)
produces a duplicate that mail clients recognise and fold.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import replace
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.email_spec import EmailOptions
from hub.domain.model import IdentityKind, PeopleSnapshot, Post, Target
from hub.errors import (
    ContentRejected,
    CredentialsRejected,
    InvalidInput,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from hub.ports import (
    JSON,
    Connection,
    CredentialStore,
    Draft,
    MediaLoader,
    Receipt,
    Recipient,
    Steps,
)

MAX_EMAIL_TEXT = 100_000


class SmtpSettings(BaseModel):
    """What ``hub accounts add email NAME`` stores (the password is stored encrypted apart)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    from_addr: str
    from_name: str = ""
    timeout: float = 30.0


def _settings(raw: Mapping[str, JSON]) -> SmtpSettings:
    try:
        return SmtpSettings.model_validate(dict(raw))
    except ValidationError as exc:
        raise InvalidInput(f"email account settings: {exc.errors()[0]['msg']}") from exc


class EmailPublisher:
    platform: ClassVar[str] = "email"

    def __init__(self, account: str, settings: SmtpSettings, password: str | None) -> None:
        self.account = account
        self.settings = settings
        self._password = password

    def __repr__(self) -> str:
        return f"EmailPublisher({self.account!r})"

    def prepare(self, post: Post, target: Target, people: PeopleSnapshot) -> Draft:
        options = EmailOptions.model_validate(dict(target.options))
        if len(post.text) > MAX_EMAIL_TEXT:
            raise ContentRejected(f"{target.name}: email text is limited to "
                                  f"{MAX_EMAIL_TEXT} characters", target=target.name)
        recipients, notes = [], []
        for person in people.members(options.list):
            ident = person.identity(IdentityKind.EMAIL)
            if ident is None:
                notes.append(f"{person.name} has no email address: not sent to them")
            else:
                recipients.append(Recipient(person.id, person.name, ident.value, options.list))
        subject = options.subject or _subject(post)
        body = post.text if not post.content_warning else (
            f"Content warning: {post.content_warning}\n\n{post.text}")
        if post.tags:
            body += "\n\n" + " ".join(f"#{t}" for t in post.tags)
        return Draft(platform=self.platform, account=self.account, target=target.name,
                     parts=(body,), recipients=tuple(recipients),
                     payload={"subject": subject, "mode": options.mode,
                              "language": post.language},
                     counter=f"{len(recipients)} recipients", notes=tuple(notes))

    async def publish(self, draft: Draft, *, key: str, steps: Steps) -> Receipt:
        return await asyncio.to_thread(self._send_all, draft, key, _SyncSteps(steps))

    def correction(self, draft: Draft, *, original: Receipt) -> Draft:
        """``hub.ports.Corrector``: the new version as a reply to the message it corrects
        (``In-Reply-To`` its Message-ID, so mail clients thread them), subject "Correction:"."""
        original_key = original.remote_id.strip("<>").partition("@")[0]
        subject = f"Correction: {draft.payload.get('subject') or ''}".strip()
        body = ("This corrects an earlier message. It now reads:\n\n" + draft.parts[0])
        return replace(draft, parts=(body,), payload={**draft.payload, "subject": subject,
                                                      "corrects": original_key})

    async def delete(self, receipt: Receipt, *, steps: Steps) -> None:
        return None   # sent mail cannot be recalled; the hub reports it as still delivered

    async def aclose(self) -> None:
        """Nothing to close: each publish opens and ends its own SMTP session."""

    def _send_all(self, draft: Draft, key: str, steps: _SyncSteps) -> Receipt:
        domain = parseaddr(self.settings.from_addr)[1].rpartition("@")[2] or "hub.invalid"
        sent: list[str] = []
        refused: dict[str, str] = {}      # permanent (5xx): recorded, never retried
        later: dict[str, str] = {}        # temporary (4xx): the delivery is retried for them
        if not draft.recipients:
            return Receipt(remote_id=f"<{key}@{domain}>", details={"sent": 0})
        with self._connect() as smtp:
            if draft.payload.get("mode") == "bcc":
                state = steps.get("sent")
                if state is None:
                    # who an earlier attempt already reached (or was refused for good)
                    done = json.loads(steps.get("bcc") or '{"ok": [], "refused": []}')
                    refused = {a: "refused" for a in done["refused"]}
                    todo = [r.address for r in draft.recipients
                            if r.address not in done["ok"] and r.address not in refused]
                    msg = self._message(draft, key, domain, None)
                    bad = self._send(smtp, msg, todo) if todo else {}
                    later = {a: why for a, why in bad.items() if why.startswith("4")}
                    refused.update({a: why for a, why in bad.items() if a not in later})
                    if later:
                        steps.record("bcc", json.dumps({
                            "ok": sorted(set(done["ok"]) | {a for a in todo if a not in bad}),
                            "refused": sorted(refused)}))
                    else:
                        steps.record("sent", ",".join(sorted(refused)) or "-")
                else:
                    refused = {a: "refused" for a in state.split(",") if a and a != "-"}
                sent = [r.address for r in draft.recipients
                        if r.address not in refused and r.address not in later]
            else:
                for r in draft.recipients:
                    state = steps.get(f"to:{r.person_id}")
                    if state is None:
                        bad = self._send(smtp, self._message(draft, key, domain, r), [r.address])
                        why = bad.get(r.address, "")
                        if why.startswith("4"):
                            later[r.address] = why
                            continue
                        state = "refused" if bad else "sent"
                        steps.record(f"to:{r.person_id}", state)
                    if state == "sent":
                        sent.append(r.address)
                    else:
                        refused[r.address] = "refused"
        if later:
            raise TransientDeliveryError(
                f"the mail server asked to try again later for {len(later)} recipient(s): "
                + "; ".join(f"{a}: {why}" for a, why in later.items()), platform="email")
        if not sent:
            raise PermanentDeliveryError(
                "every recipient was refused by the mail server: " + "; ".join(
                    f"{a}: {why}" for a, why in refused.items()), platform="email")
        reached: list[JSON] = [*sent]
        not_reached: list[JSON] = [*sorted(refused)]
        return Receipt(remote_id=f"<{key}@{domain}>", details={
            "sent": len(sent), "refused": not_reached,
            "audience": {"kind": "recipients", "identities": reached, "lower_bound": False}})

    def _message(self, draft: Draft, key: str, domain: str, to: Recipient | None
                 ) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = formataddr((self.settings.from_name, self.settings.from_addr))
        msg["To"] = formataddr((to.name, to.address)) if to else formataddr(
            ("undisclosed recipients", self.settings.from_addr))
        msg["Subject"] = str(draft.payload.get("subject") or "")
        suffix = f".{to.person_id}" if to else ""
        msg["Message-ID"] = f"<{key}{suffix}@{domain}>"
        if draft.payload.get("corrects"):
            msg["In-Reply-To"] = msg["References"] = \
                f"<{draft.payload['corrects']}{suffix}@{domain}>"
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(draft.parts[0])   # set_content drops Content-* headers set before it
        if draft.payload.get("language"):
            msg["Content-Language"] = str(draft.payload["language"])
        return msg

    def smtp(self) -> smtplib.SMTP:
        """A connected, logged-in SMTP session with this account's settings (the caller
        closes it); the audit's email anchor sends through it."""
        return self._connect()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if s.username:
                smtp.login(s.username, self._password or "")
            return smtp
        except smtplib.SMTPNotSupportedError as exc:   # reached it: it lacks STARTTLS or AUTH
            raise PermanentDeliveryError(_missing(s.host, s.port, str(exc)), platform="email"
                                         ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise CredentialsRejected(f"the mail server refused the login for {s.username}: "
                                      f"{exc.smtp_code}", platform="email",
                                      status_code=exc.smtp_code) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientDeliveryError(f"cannot reach the mail server {s.host}:{s.port}: "
                                         f"{type(exc).__name__}", platform="email") from exc

    def _send(self, smtp: smtplib.SMTP, msg: EmailMessage, to: Sequence[str]) -> dict[str, str]:
        try:
            refused = smtp.send_message(msg, to_addrs=list(to))
        except smtplib.SMTPRecipientsRefused as exc:
            return {addr: f"{code} {text.decode(errors='replace')}"
                    for addr, (code, text) in exc.recipients.items()}
        except smtplib.SMTPResponseException as exc:
            error = exc.smtp_error.decode(errors="replace") if isinstance(
                exc.smtp_error, bytes) else str(exc.smtp_error)
            cls = TransientDeliveryError if 400 <= exc.smtp_code < 500 else \
                PermanentDeliveryError
            raise cls(f"mail server said {exc.smtp_code} {error}", platform="email",
                      status_code=exc.smtp_code) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientDeliveryError(f"mail server connection failed: "
                                         f"{type(exc).__name__}", platform="email") from exc
        return {addr: f"{code} {text.decode(errors='replace')}"
                for addr, (code, text) in refused.items()}


class _SyncSteps:
    """Runs the async Steps port from the SMTP worker thread."""

    def __init__(self, steps: Steps) -> None:
        self._steps = steps
        self._loop = asyncio.get_running_loop()

    def get(self, name: str) -> str | None:
        return asyncio.run_coroutine_threadsafe(self._steps.get(name), self._loop).result()

    def record(self, name: str, value: str) -> None:
        asyncio.run_coroutine_threadsafe(self._steps.record(name, value), self._loop).result()


def _subject(post: Post) -> str:
    if post.content_warning:
        return f"[CW] {post.content_warning}"
    lines = post.text.strip().splitlines()
    first = lines[0] if lines else ""
    return first if len(first) <= 78 else first[:75].rstrip() + "…"


def build(connection: Connection, credentials: CredentialStore, *,
          media_loader: MediaLoader | None = None) -> EmailPublisher:
    return EmailPublisher(connection.account, _settings(connection.settings), connection.secret)


async def connect(settings: Mapping[str, JSON], secret: str) -> tuple[dict[str, JSON], str]:
    """Check that the SMTP server accepts a connection (and the login, if any)."""
    parsed = _settings(settings)
    publisher = EmailPublisher("email:check", parsed, secret or None)

    def _probe() -> None:
        with publisher._connect() as smtp:
            smtp.noop()

    try:
        await asyncio.to_thread(_probe)
    except CredentialsRejected:
        raise
    except (TransientDeliveryError, PermanentDeliveryError) as exc:   # unreachable, or lacking
        raise InvalidInput(exc.message) from exc
    return parsed.model_dump(), secret


def _missing(host: str, port: int, said: str) -> str:
    """The server answered but lacks what the account's settings ask for: say which, and how."""
    if "STARTTLS" in said:
        return (f"the mail server {host}:{port} answered but does not offer STARTTLS: use "
                "`--security tls` if it expects TLS from the start (usually port 465), or "
                "`--security none` for a trusted local relay")
    return (f"the mail server {host}:{port} answered but does not offer AUTH (login) on this "
            "connection: many servers offer it only after encryption, so try `--security "
            "starttls` (port 587) or `--security tls` (port 465); leave out --username if "
            "it needs no login")
