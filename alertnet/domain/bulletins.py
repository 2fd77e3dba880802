"""Cyber threat bulletins: what a publisher posts, how it is checked against its TLP label, where it goes
(the weekly digest or at once), who sees which indicator, and the personal links officials read it by.
Pure: no clock, Redis or file (the TLP rules are `alertnet.domain.tlp`)."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from alertnet.domain.contacts import Official
from alertnet.domain.errors import ValidationError
from alertnet.domain.tlp import Marking, Tlp

MAX_TITLE = 200
MAX_SUMMARY = 1000
MAX_BODY = 20_000
MAX_INDICATORS = 500
MAX_LIST = 20
MAX_ACTION = 500
MAX_REFERENCE = 2000
MAX_REASON = 500
MAX_NAMES = 200
URL_RE = re.compile(r"^https?://[^\s<>\"']+$", re.IGNORECASE)
DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$"
)
HEX_RE = re.compile(r"^[0-9a-f]+$")
BULLETIN_FIELDS = (
    "title",
    "summary",
    "body",
    "tlp",
    "severity",
    "organizations",
    "officials",
    "indicators",
    "actions",
    "references",
)
REQUIRED_FIELDS = ("title", "summary", "body", "tlp", "severity")
INDICATOR_FIELDS = ("type", "value", "first_seen", "last_seen", "confidence", "tlp")
CHANGE_FIELDS = ("tlp", "organizations", "officials", "reason")


class BulletinValidationError(ValidationError):
    """A bulletin request with bad fields (every one is listed)."""


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def urgent(self) -> bool:
        """High and critical bulletins also send an SMS notice to cybersecurity coordinators."""
        return self in (Severity.HIGH, Severity.CRITICAL)


class IndicatorType(StrEnum):
    DOMAIN = "domain-name"
    IPV4 = "ipv4-addr"
    IPV6 = "ipv6-addr"
    URL = "url"
    EMAIL = "email-addr"
    MD5 = "file:hashes.MD5"
    SHA1 = "file:hashes.SHA-1"
    SHA256 = "file:hashes.SHA-256"


HASH_LENGTHS = {IndicatorType.MD5: 32, IndicatorType.SHA1: 40, IndicatorType.SHA256: 64}


class BulletinState(StrEnum):
    WAITING = "waiting"  # an item of the next weekly digest
    SENT = "sent"  # sent at once, or in a digest
    RETRACTED = "retracted"


@dataclass(frozen=True)
class Indicator:
    type: IndicatorType
    value: str
    first_seen: str = ""  # ISO 8601 UTC ("2026-12-01T10:00:00Z") or ""
    last_seen: str = ""
    confidence: int | None = None  # 0-100
    tlp: Tlp | None = None  # stricter than the bulletin's, or None (the bulletin's)

    def label(self, bulletin_tlp: Tlp) -> Tlp:
        return self.tlp or bulletin_tlp

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "value": self.value,
            "first_seen": self.first_seen or None,
            "last_seen": self.last_seen or None,
            "confidence": self.confidence,
            "tlp": None if self.tlp is None else self.tlp.value,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Indicator:
        return cls(
            type=IndicatorType(d["type"]),
            value=d["value"],
            first_seen=d.get("first_seen") or "",
            last_seen=d.get("last_seen") or "",
            confidence=d.get("confidence"),
            tlp=None if not d.get("tlp") else Tlp(d["tlp"]),
        )


@dataclass(frozen=True)
class Bulletin:
    """One cyber threat bulletin. ``organizations`` and ``officials`` are the names its label (or an
    indicator's stricter label) needs."""

    id: str
    title: str
    summary: str
    body: str  # Markdown, sanitized on the way out as the digest's
    tlp: Tlp
    severity: Severity
    organizations: tuple[str, ...]
    officials: tuple[str, ...]
    indicators: tuple[Indicator, ...]
    actions: tuple[str, ...]
    references: tuple[str, ...]
    author: str
    created: float
    version: int = 1
    state: BulletinState = BulletinState.SENT
    digest_item: str = ""  # while waiting: the digest item that carries it
    digest_issue: int = 0
    retracted_by: str = ""
    retracted_reason: str = ""
    retracted_at: float = 0.0
    changes: tuple[Mapping[str, Any], ...] = ()

    @property
    def marking(self) -> Marking:
        return Marking(self.tlp, self.organizations, self.officials)

    def indicator_marking(self, indicator: Indicator) -> Marking:
        return Marking(indicator.label(self.tlp), self.organizations, self.officials)

    @property
    def waits_for_digest(self) -> bool:
        """CLEAR or GREEN, low or medium, with no indicator held to a stricter label."""
        return (
            self.tlp.may_wait_for_digest
            and not self.severity.urgent
            and all(i.label(self.tlp).may_wait_for_digest for i in self.indicators)
        )

    @property
    def restricted(self) -> bool:
        """AMBER, AMBER+STRICT or RED: read over the API only by directors and cyber publishers, and
        every view and download is logged."""
        return self.tlp.rank >= Tlp.AMBER.rank

    def visible_indicators(self, official: Official) -> tuple[int, ...]:
        """The positions of the indicators `official` may see (each indicator's own label decides)."""
        return tuple(n for n, i in enumerate(self.indicators) if self.indicator_marking(i).allows(official))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "summary": self.summary,
            "body": self.body,
            "tlp": self.tlp.value,
            "severity": self.severity.value,
            "organizations": list(self.organizations),
            "officials": list(self.officials),
            "indicators": [i.to_dict() for i in self.indicators],
            "actions": list(self.actions),
            "references": list(self.references),
            "author": self.author,
            "created": self.created,
            "version": self.version,
            "state": self.state.value,
            "digest_item": self.digest_item,
            "digest_issue": self.digest_issue,
            "retracted_by": self.retracted_by,
            "retracted_reason": self.retracted_reason,
            "retracted_at": self.retracted_at,
            "changes": [dict(c) for c in self.changes],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Bulletin:
        d = json.loads(raw)
        return cls(
            id=d["id"],
            title=d["title"],
            summary=d["summary"],
            body=d["body"],
            tlp=Tlp(d["tlp"]),
            severity=Severity(d["severity"]),
            organizations=tuple(d["organizations"]),
            officials=tuple(d["officials"]),
            indicators=tuple(Indicator.from_dict(i) for i in d["indicators"]),
            actions=tuple(d["actions"]),
            references=tuple(d["references"]),
            author=d["author"],
            created=float(d["created"]),
            version=int(d["version"]),
            state=BulletinState(d["state"]),
            digest_item=d.get("digest_item", ""),
            digest_issue=int(d.get("digest_issue", 0)),
            retracted_by=d.get("retracted_by", ""),
            retracted_reason=d.get("retracted_reason", ""),
            retracted_at=float(d.get("retracted_at", 0.0)),
            changes=tuple(d.get("changes", ())),
        )


def new_bulletin_id() -> str:
    return "bul_" + secrets.token_hex(8)


# --- parsing -----------------------------------------------------------------------------------------


def new_bulletin(fields: Mapping[str, Any], *, author: str, now: float) -> Bulletin:
    bulletin = Bulletin(
        id=new_bulletin_id(),
        title=fields["title"],
        summary=fields["summary"],
        body=fields["body"],
        tlp=fields["tlp"],
        severity=fields["severity"],
        organizations=tuple(fields["organizations"]),
        officials=tuple(fields["officials"]),
        indicators=tuple(fields["indicators"]),
        actions=tuple(fields["actions"]),
        references=tuple(fields["references"]),
        author=author,
        created=now,
    )
    state = BulletinState.WAITING if bulletin.waits_for_digest else BulletinState.SENT
    return replace(bulletin, state=state)


@dataclass(frozen=True)
class Change:
    """A change to who may receive a bulletin: its label and the names it needs, and why."""

    tlp: Tlp
    organizations: tuple[str, ...]
    officials: tuple[str, ...]
    reason: str


def applied(
    bulletin: Bulletin, change: Change, *, actor: str, now: float, widening: Sequence[str]
) -> Bulletin:
    record = {
        "at": now,
        "by": actor,
        "from": bulletin.marking.to_dict(),
        "to": Marking(change.tlp, change.organizations, change.officials).to_dict(),
        "reason": change.reason,
        "widening": list(widening),
    }
    indicators = tuple(
        replace(i, tlp=None) if i.tlp is not None and not i.tlp.stricter_than(change.tlp) else i
        for i in bulletin.indicators
    )
    return replace(
        bulletin,
        tlp=change.tlp,
        organizations=change.organizations,
        officials=change.officials,
        indicators=indicators,
        version=bulletin.version + 1,
        changes=(*bulletin.changes, record),
    )


# --- who gets which indicators ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BulletinEdition:
    """The officials who see exactly these indicators (by position)."""

    indicators: tuple[int, ...]
    official_ids: list[str] = field(default_factory=list)


def bulletin_editions(bulletin: Bulletin, officials: Iterable[Official]) -> list[BulletinEdition]:
    """Group allowed recipients by the indicators their labels let them see (usually one group)."""
    groups: dict[tuple[int, ...], BulletinEdition] = {}
    for official in sorted(officials, key=lambda o: o.id):
        shown = bulletin.visible_indicators(official)
        groups.setdefault(shown, BulletinEdition(shown)).official_ids.append(official.id)
    return sorted(groups.values(), key=lambda e: (-len(e.official_ids), e.indicators))
