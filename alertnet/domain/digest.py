"""The weekly school safety update: its items, approval, and who gets which items (the weekly schedule
is `alertnet.domain.digest_schedule`). Pure: no clock, Redis or file."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from email_validator import EmailNotValidError, validate_email

from alertnet.domain.alert_request import FieldParser, show
from alertnet.domain.audience import Audience, audience_includes
from alertnet.domain.contacts import Official, Subscription
from alertnet.domain.errors import FieldError, ValidationError

CATEGORIES = ("news", "training", "grants", "cyber", "drills", "events", "resources")
MAX_TITLE = 200
MAX_BODY = 10_000
MAX_LINK = 2000
LINK_RE = re.compile(r"^https?://[^\s<>\"']+$", re.IGNORECASE)
ITEM_FIELDS = ("title", "body", "link", "category", "audience", "position")
TEST_MAX_ADDRESSES = 5
TEST_SENDS_PER_DAY = 20


class DigestValidationError(ValidationError):
    """An item request with bad fields (every one is listed)."""


# --- items -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestItem:
    """One item of an issue. ``position`` orders the issue (lower first, then by creation)."""

    id: str
    issue: int
    title: str
    body: str  # Markdown, as the editor wrote it; rendered and sanitized on the way out
    link: str
    category: str
    audience: Audience
    position: int
    created_by: str
    created: float
    updated_by: str
    updated: float
    # A cyber bulletin waiting for the digest: its id and TLP label (CLEAR or GREEN). Such an item goes
    # only to officials subscribed to cyber bulletins, and only a CLEAR one reaches the public archive.
    bulletin: str = ""
    tlp: str = ""

    @property
    def statewide(self) -> bool:
        return self.audience.statewide

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "issue": self.issue,
                "title": self.title,
                "body": self.body,
                "link": self.link,
                "category": self.category,
                "audience": self.audience.to_dict(),
                "position": self.position,
                "created_by": self.created_by,
                "created": self.created,
                "updated_by": self.updated_by,
                "updated": self.updated,
                **({"bulletin": self.bulletin, "tlp": self.tlp} if self.bulletin else {}),
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> DigestItem:
        d = json.loads(raw)
        return cls(
            id=d["id"],
            issue=int(d["issue"]),
            title=d["title"],
            body=d["body"],
            link=d["link"],
            category=d["category"],
            audience=Audience.from_dict(d["audience"]),
            position=int(d["position"]),
            created_by=d["created_by"],
            created=float(d["created"]),
            updated_by=d["updated_by"],
            updated=float(d["updated"]),
            bulletin=d.get("bulletin", ""),
            tlp=d.get("tlp", ""),
        )

    def public_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.to_json())
        return data


def new_item_id() -> str:
    return "itm_" + uuid.uuid4().hex[:20]


def parse_item(payload: object, *, partial: bool) -> dict[str, Any]:
    """The item fields of a POST (every required field) or a PATCH (`partial`: only those given).

    Returns {field: value} with the audience as an `Audience`; raises DigestValidationError naming every
    bad field.
    """
    if not isinstance(payload, dict):
        raise DigestValidationError([FieldError("body", f"must be a JSON object; got {show(payload)}")])
    p = FieldParser()
    for key in payload:
        if key not in ITEM_FIELDS:
            p.error(key, f"unknown field; allowed: {', '.join(ITEM_FIELDS)}")
    out: dict[str, Any] = {}
    if not partial:
        for key in ("title", "body", "category"):
            if payload.get(key) is None:
                p.error(key, "is required")
    if "title" in payload:
        out["title"] = p.text(payload, "title", MAX_TITLE, required=True, multiline=False)
    if "body" in payload:
        out["body"] = p.text(payload, "body", MAX_BODY, required=True, multiline=True)
    if "link" in payload:
        link = p.text(payload, "link", MAX_LINK, required=False, multiline=False)
        if link and not LINK_RE.match(link):
            p.error("link", f"must be an http:// or https:// URL; got {show(payload.get('link'))}")
        out["link"] = link
    if "category" in payload:
        category = payload.get("category")
        if not isinstance(category, str) or category.strip().lower() not in CATEGORIES:
            p.error("category", f"must be one of {', '.join(CATEGORIES)}; got {show(category)}")
        else:
            out["category"] = category.strip().lower()
    if "audience" in payload:
        out["audience"] = (
            Audience(statewide=True) if payload["audience"] is None else p.audience(payload["audience"])
        )
    if "position" in payload:
        position = payload["position"]
        if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= 10_000:
            p.error("position", f"must be a whole number from 0 to 10000; got {show(position)}")
        else:
            out["position"] = position
    if partial and not payload:
        p.error("body", f"must name at least one of {', '.join(ITEM_FIELDS)}")
    if p.errors:
        raise DigestValidationError(p.errors)
    return out


def new_item(fields: Mapping[str, Any], *, issue: int, position: int, actor: str, now: float) -> DigestItem:
    return DigestItem(
        id=new_item_id(),
        issue=issue,
        title=fields["title"],
        body=fields["body"],
        link=fields.get("link", ""),
        category=fields["category"],
        audience=fields.get("audience", Audience(statewide=True)),
        position=fields.get("position", position),
        created_by=actor,
        created=now,
        updated_by=actor,
        updated=now,
    )


def edited(item: DigestItem, fields: Mapping[str, Any], *, actor: str, now: float) -> DigestItem:
    return replace(item, **fields, updated_by=actor, updated=now)


def ordered(items: Iterable[DigestItem]) -> list[DigestItem]:
    return sorted(items, key=lambda i: (i.position, i.created, i.id))


# --- an issue's state ---------------------------------------------------------------------------------


class IssueState(StrEnum):
    OPEN = "open"  # being assembled (or cut off, waiting for its send time)
    SENT = "sent"
    HELD = "held"  # not sent at its time (unapproved, or too late): an editor releases or skips it
    SKIPPED = "skipped"
    EMPTY = "empty"  # no items at its send time: nothing sent


class HoldReason(StrEnum):
    UNAPPROVED = "unapproved"
    STALE = "stale"


@dataclass(frozen=True)
class IssueRecord:
    """What is kept about one issue besides its items."""

    number: int
    version: int = 0  # +1 on every change to its items
    changed_by: str = ""  # who made the last change
    approved_by: str = ""
    approved_version: int = -1
    approved_at: float = 0.0
    state: IssueState = IssueState.OPEN
    reason: str = ""
    sent_at: float = 0.0
    recipients: int = 0
    messages: tuple[str, ...] = ()

    @property
    def approved(self) -> bool:
        """Approved, and nothing changed since (any edit voids the approval)."""
        return bool(self.approved_by) and self.approved_version == self.version

    @classmethod
    def from_hash(cls, number: int, h: Mapping[bytes, bytes]) -> IssueRecord:
        def get(key: str, default: str = "") -> str:
            value = h.get(key.encode())
            return default if value is None else value.decode()

        return cls(
            number=number,
            version=int(get("version", "0")),
            changed_by=get("changed_by"),
            approved_by=get("approved_by"),
            approved_version=int(get("approved_version", "-1")),
            approved_at=float(get("approved_at", "0")),
            state=IssueState(get("state", IssueState.OPEN.value)),
            reason=get("reason"),
            sent_at=float(get("sent_at", "0")),
            recipients=int(get("recipients", "0")),
            messages=tuple(m for m in get("messages").split(",") if m),
        )


def approval_problem(record: IssueRecord, approver: str, items: Sequence[DigestItem]) -> str | None:
    """Why `approver` may not approve this issue now, or None. Nobody approves their own change."""
    if record.state is not IssueState.OPEN and record.state is not IssueState.HELD:
        return f"issue {record.number} is {record.state.value}"
    if not items:
        return f"issue {record.number} has no items"
    if record.changed_by == approver:
        return f"'{approver}' made the last change to issue {record.number}; another editor must approve it"
    if record.approved:
        return f"issue {record.number} is already approved by '{record.approved_by}'"
    return None


# --- who gets which items -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edition:
    """One personal version of an issue: its items, and the officials who get exactly those."""

    item_ids: tuple[str, ...]
    official_ids: list[str] = field(default_factory=list)


def digest_recipient(official: Official, *, unsubscribed: frozenset[str], suppressed: frozenset[str]) -> bool:
    """An active official subscribed to the digest, with an email address that has not left or failed."""
    return (
        official.active
        and Subscription.DIGEST in official.subscriptions
        and bool(official.email)
        and official.id not in unsubscribed
        and (official.email or "").lower() not in suppressed
    )


def items_for(
    official: Official, items: Sequence[DigestItem], *, cyber_left: frozenset[str] = frozenset()
) -> tuple[str, ...]:
    """The ids of the items `official` gets, in the issue's order: statewide ones and theirs; a cyber
    bulletin's only if they take cyber bulletins (subscribed in the registry, and not left the list)."""
    cyber = Subscription.CYBER in official.subscriptions and official.id not in cyber_left
    return tuple(
        i.id
        for i in items
        if (i.statewide or audience_includes(i.audience, official)) and (cyber or not i.bulletin)
    )


def editions(
    items: Sequence[DigestItem],
    officials: Iterable[Official],
    *,
    unsubscribed: frozenset[str],
    suppressed: frozenset[str],
    cyber_left: frozenset[str] = frozenset(),
) -> list[Edition]:
    """Group the recipients by the exact set of items they get: one edition (and one message, sharing
    SendGrid requests) per distinct set. Officials whose set is empty get nothing."""
    ordered_items = ordered(items)
    by_set: dict[tuple[str, ...], Edition] = {}
    for official in sorted(officials, key=lambda o: o.id):
        if not digest_recipient(official, unsubscribed=unsubscribed, suppressed=suppressed):
            continue
        chosen = items_for(official, ordered_items, cyber_left=cyber_left)
        if chosen:
            by_set.setdefault(chosen, Edition(chosen)).official_ids.append(official.id)
    return sorted(by_set.values(), key=lambda e: (-len(e.official_ids), e.item_ids))


def parse_test_addresses(payload: object) -> list[str]:
    """The `to` list of a test send: 1 to 5 email addresses. Raises DigestValidationError."""
    if not isinstance(payload, dict) or not isinstance(payload.get("to"), list):
        raise DigestValidationError([FieldError("to", "must be a list of 1 to 5 email addresses")])
    to = payload["to"]
    errors: list[FieldError] = []
    for key in payload:
        if key not in ("to", "official"):
            errors.append(FieldError(key, "unknown field; allowed: to, official"))
    if not 1 <= len(to) <= TEST_MAX_ADDRESSES:
        errors.append(FieldError("to", f"must list 1 to {TEST_MAX_ADDRESSES} addresses; got {len(to)}"))
    addresses: list[str] = []
    for n, value in enumerate(to):
        try:
            if not isinstance(value, str):
                raise EmailNotValidError("not a string")
            address = validate_email(value, check_deliverability=False).normalized.lower()
        except EmailNotValidError as error:
            errors.append(FieldError(f"to[{n}]", f"must be an email address ({error}); got {show(value)}"))
            continue
        if address in addresses:
            errors.append(FieldError(f"to[{n}]", f"duplicate address {show(value)}"))
        else:
            addresses.append(address)
    if errors:
        raise DigestValidationError(errors)
    return addresses
