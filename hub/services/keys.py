"""Bringing stored secrets under the secret key in force (run by ``hub init``, ``hub db
upgrade`` and at ``hub serve`` start-up; repeating it changes nothing).

- Credentials still encrypted the pre-subkey way, or with ``HUB_PREVIOUS_SECRET_KEY``, are
  re-encrypted with the current credentials subkey.
- Feed links made before subkeys keep resolving while the key stays the same. When the key
  changed (its fingerprint differs from the one last recorded, or a previous key is given on
  the first run), every live feed link was made with the old key and no longer resolves: each
  gets a new generation, and the report (and the audit) names the people to send new links.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import col, select

from hub.domain.events import SecretKeyInstalled
from hub.errors import HubError
from hub.runtime import Hub
from hub.store.tables import AccountRow, FeedMemberRow, PersonRow


@dataclass(frozen=True)
class KeyReport:
    """What ``install_secret_key`` did. ``reissue`` holds (feed, person name) pairs."""

    rotated: bool = False
    reencrypted: int = 0
    unreadable: list[str] = field(default_factory=list)
    reissue: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report as sentences for the owner (empty when nothing needed doing)."""
        out = []
        if self.reencrypted:
            out.append(f"re-encrypted {self.reencrypted} stored credential(s) under the "
                       "current secret key")
        for account in self.unreadable:
            out.append(f"account {account}: its credentials cannot be decrypted with this "
                       "key or HUB_PREVIOUS_SECRET_KEY; reconnect it with `hub accounts add`")
        if self.reissue:
            out.append("the secret key changed, so these feed links stopped working; hand out "
                       "the new ones (`hub feeds links FEED`):")
            out.extend(f"  feed {feed}: {name}" for feed, name in self.reissue)
        return out


def install_secret_key(hub: Hub, *, actor: str = "hub") -> KeyReport:
    """Re-encrypt what needs it and retire feed links made with a previous key."""
    fingerprint = hub.box.fingerprint
    now = hub.now()
    with hub.db.transaction() as s:
        last = hub.audit.latest(s, SecretKeyInstalled.name)
        if last is not None:
            rotated = last.subject != fingerprint
        else:
            rotated = hub.settings.previous_secret_key is not None
        reencrypted, unreadable = 0, []
        for account in s.exec(select(AccountRow).where(col(AccountRow.secret_enc).is_not(None))):
            assert account.secret_enc is not None
            if hub.box.current(account.secret_enc):
                continue
            try:
                account.secret_enc = hub.box.reencrypt(account.secret_enc)
            except HubError:
                unreadable.append(account.name)
                continue
            s.add(account)
            reencrypted += 1
        reissue: list[tuple[str, str]] = []
        reissued: list[dict[str, str]] = []
        if rotated:
            rows = s.exec(select(FeedMemberRow, PersonRow)
                          .join(PersonRow, col(PersonRow.id) == col(FeedMemberRow.person_id))
                          .where(col(FeedMemberRow.revoked).is_(None))
                          .order_by(FeedMemberRow.feed, PersonRow.name))
            for member, person in rows:
                member.generation += 1
                member.scheme = 2
                s.add(member)
                reissue.append((member.feed, person.name))
                reissued.append({"feed": member.feed, "person_id": person.id})
        if last is None or rotated or reencrypted or unreadable:
            hub.audit.append(s, SecretKeyInstalled(
                actor=actor, subject=fingerprint, rotated=rotated, reencrypted=reencrypted,
                unreadable=unreadable, links_reissued=reissued), now=now)
    return KeyReport(rotated, reencrypted, unreadable, reissue)
