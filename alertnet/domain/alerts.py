"""The alert model (CAP 1.2 style): what a sender asked for, accepted, and the bytes that are signed.

Pure: no I/O. The flow (parsing is in `alertnet.domain.alert_request`) is

    payload (JSON) --parse_alert_request--> AlertDraft --new_alert--> Alert --canonical_bytes--> signed

`Alert` keeps the draft's fields *flattened* (``alert.status``, ``alert.headline``, ...) next to the fields
the hub assigns (``id``, ``sender``, ``sent``); ``alert.draft`` gives the `AlertDraft` back.

Field names in `Alert.to_dict` follow CAP 1.2 where CAP has the element (``identifier``, ``sender``,
``sent``, ``status``, ``msgType``, ``references``, ``event``, ``urgency``, ``severity``, ``certainty``,
``headline``, ``description``, ``instruction``, ``expires``); ``audience`` and ``channels`` are AlertNet's
own (CAP's ``<area>`` is geographic polygons; ours is the school-officials registry). Three keys appear only
when set, so that alerts signed before they existed verify unchanged: ``public`` (true: listed in the
public feed, its CAP document readable without a token) and ``cap`` (the sender, identifier and sent of
the CAP 1.2 message the alert was imported from; `alertnet.domain.cap_in`) and ``poll`` (a status check,
`alertnet.domain.polls`). Two deliberate
differences from CAP: ``references`` is a list of earlier AlertNet alert ids (CAP: a space separated string of
``sender,identifier,sent`` triples), and the CAP enumerations are narrowed to what this network sends
(no ``System``/``Draft`` status, no ``Ack``/``Error`` msgType). Date-times are written the CAP way:
``YYYY-MM-DDThh:mm:ss-00:00`` for UTC (CAP forbids ``Z``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ulid import ULID

from alertnet.domain.audience import Audience
from alertnet.domain.messages import Channel, MessageKind, Priority
from alertnet.domain.polls import Poll


class Status(StrEnum):
    ACTUAL = "Actual"
    EXERCISE = "Exercise"
    TEST = "Test"


class MsgType(StrEnum):
    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"


class Severity(StrEnum):
    EXTREME = "Extreme"
    SEVERE = "Severe"
    MODERATE = "Moderate"
    MINOR = "Minor"
    UNKNOWN = "Unknown"


class Urgency(StrEnum):
    IMMEDIATE = "Immediate"
    EXPECTED = "Expected"
    FUTURE = "Future"
    PAST = "Past"
    UNKNOWN = "Unknown"


class Certainty(StrEnum):
    OBSERVED = "Observed"
    LIKELY = "Likely"
    POSSIBLE = "Possible"
    UNLIKELY = "Unlikely"
    UNKNOWN = "Unknown"


# ----------------------------------------------------------------------------------------- the alert


@dataclass(frozen=True)
class CapOrigin:
    """The CAP 1.2 message an alert was imported from: its sender, identifier and sent, as written."""

    sender: str
    identifier: str
    sent: str

    def to_dict(self) -> dict[str, str]:
        return {"sender": self.sender, "identifier": self.identifier, "sent": self.sent}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CapOrigin:
        return cls(sender=str(d["sender"]), identifier=str(d["identifier"]), sent=str(d["sent"]))


@dataclass(frozen=True)
class AlertDraft:
    """What the sender asked for, validated by `parse_alert_request`.

    Strings are whitespace-trimmed; ``description``/``instruction`` are ``""`` when not given;
    ``expires`` is aware UTC at second precision, or None.
    """

    status: Status
    msg_type: MsgType
    references: tuple[str, ...]
    severity: Severity
    urgency: Urgency
    certainty: Certainty
    event: str
    headline: str
    description: str
    instruction: str
    expires: datetime | None
    audience: Audience
    channels: tuple[Channel, ...]
    public: bool = False
    cap: CapOrigin | None = None
    poll: Poll | None = None  # a status check (`alertnet.domain.polls`)


@dataclass(frozen=True)
class Alert:
    """An accepted alert: the draft's fields flattened, plus the id, sender and sent time the hub gave it."""

    id: str
    sender: str
    sent: datetime
    status: Status
    msg_type: MsgType
    references: tuple[str, ...]
    severity: Severity
    urgency: Urgency
    certainty: Certainty
    event: str
    headline: str
    description: str
    instruction: str
    expires: datetime | None
    audience: Audience
    channels: tuple[Channel, ...]
    public: bool = False
    cap: CapOrigin | None = None
    poll: Poll | None = None  # a status check (`alertnet.domain.polls`)

    @property
    def draft(self) -> AlertDraft:
        return AlertDraft(**{f.name: getattr(self, f.name) for f in fields(AlertDraft)})

    @property
    def is_exercise(self) -> bool:
        """True for Exercise and Test alerts: every message of every channel must say so."""
        return self.status is not Status.ACTUAL

    @property
    def priority(self) -> Priority:
        """Which queue the alert's deliveries go to.

        - CRITICAL: severity Extreme or Severe with urgency Immediate or Expected (lockdown, shelter in
          place, bomb threat, tornado warning), whatever the status: an exercise rehearses the real
          timing, so Exercise/Test alerts keep the priority their severity and urgency give them.
        - HIGH: every other alert, update and cancellation (an all-clear must not wait behind bulk mail).
        - BULK is never given to an alert; it is for digests and other non-urgent traffic.
        """
        if self.severity in (Severity.EXTREME, Severity.SEVERE) and self.urgency in (
            Urgency.IMMEDIATE,
            Urgency.EXPECTED,
        ):
            return Priority.CRITICAL
        return Priority.HIGH

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; every key always present (``expires`` may be null) but ``public``, ``cap`` and
        ``poll``, present only when set. Inverse of `from_dict`."""
        d: dict[str, Any] = {
            "identifier": self.id,
            "sender": self.sender,
            "sent": format_datetime(self.sent),
            "status": self.status.value,
            "msgType": self.msg_type.value,
            "references": list(self.references),
            "event": self.event,
            "urgency": self.urgency.value,
            "severity": self.severity.value,
            "certainty": self.certainty.value,
            "headline": self.headline,
            "description": self.description,
            "instruction": self.instruction,
            "expires": format_datetime(self.expires) if self.expires is not None else None,
            "audience": self.audience.to_dict(),
            "channels": [c.value for c in self.channels],
        }
        if self.public:
            d["public"] = True
        if self.cap is not None:
            d["cap"] = self.cap.to_dict()
        if self.poll is not None:
            d["poll"] = self.poll.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Alert:
        """Rebuild an alert from `to_dict` output (trusted data; KeyError/ValueError if malformed)."""
        expires = d.get("expires")
        return cls(
            id=str(d["identifier"]),
            sender=str(d["sender"]),
            sent=parse_datetime(str(d["sent"])),
            status=Status(d["status"]),
            msg_type=MsgType(d["msgType"]),
            references=tuple(str(r) for r in d.get("references", ())),
            severity=Severity(d["severity"]),
            urgency=Urgency(d["urgency"]),
            certainty=Certainty(d["certainty"]),
            event=str(d["event"]),
            headline=str(d["headline"]),
            description=str(d.get("description", "")),
            instruction=str(d.get("instruction", "")),
            expires=parse_datetime(str(expires)) if expires is not None else None,
            audience=Audience.from_dict(d.get("audience", {})),
            channels=tuple(Channel(c) for c in d["channels"]),
            public=d.get("public") is True,
            cap=CapOrigin.from_dict(d["cap"]) if d.get("cap") else None,
            poll=Poll.from_dict(d["poll"]) if d.get("poll") else None,
        )


def format_datetime(value: datetime) -> str:
    """CAP 1.2 date-time: ``2025-03-04T15:09:26-00:00`` (UTC, seconds; CAP writes UTC as ``-00:00``)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 date-time with an offset into aware UTC (ValueError if it has no offset)."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{text!r} has no timezone")
    return value.astimezone(UTC)


def utc_seconds(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


def new_alert(draft: AlertDraft, *, sender: str, now: datetime) -> Alert:
    """Accept a draft: give it a ULID id (its timestamp is ``now``) and ``sent`` = ``now`` (UTC, seconds)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    sent = utc_seconds(now)
    values = {f.name: getattr(draft, f.name) for f in fields(AlertDraft)}
    return Alert(id=str(ULID.from_datetime(now.astimezone(UTC))), sender=sender, sent=sent, **values)


def canonical_bytes(alert: Alert) -> bytes:
    """The exact bytes that are signed.

    ``json.dumps(alert.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` encoded as
    UTF-8. In words: the `Alert.to_dict` object (every key present but ``public``, ``cap`` and ``poll``,
    which are there only when set; ``expires`` null when absent, lists in their stored order, no floats), keys
    sorted by code point at every level, no whitespace between tokens, non-ASCII characters written as
    themselves (UTF-8), and JSON's standard escapes for ``"``, ``\\`` and control characters (``\\n``;
    others as ``\\u00XX``). A third party holding the alert JSON served by the API can re-create the bytes
    with the same call and check the Ed25519 signature.
    """
    return json.dumps(alert.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def message_kind(alert: Alert) -> MessageKind:
    """The kind of message an alert travels as (an all-clear is an Update; its sender says so)."""
    return {MsgType.ALERT: MessageKind.ALERT, MsgType.UPDATE: MessageKind.UPDATE}.get(
        alert.msg_type, MessageKind.CANCEL
    )
