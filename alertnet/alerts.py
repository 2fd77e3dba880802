"""The alert model (CAP 1.2 style) and validation of a sender's alert request.

Pure: no I/O. The flow is

    payload (JSON) --parse_alert_request--> AlertDraft --new_alert--> Alert --canonical_bytes--> signed

`Alert` keeps the draft's fields *flattened* (``alert.status``, ``alert.headline``, ...) next to the fields
the hub assigns (``id``, ``sender``, ``sent``); ``alert.draft`` gives the `AlertDraft` back.

Field names in `Alert.to_dict` follow CAP 1.2 where CAP has the element (``identifier``, ``sender``,
``sent``, ``status``, ``msgType``, ``references``, ``event``, ``urgency``, ``severity``, ``certainty``,
``headline``, ``description``, ``instruction``, ``expires``); ``audience`` and ``channels`` are AlertNet's
own (CAP's ``<area>`` is geographic polygons; ours is the school-officials registry). Two deliberate
differences from CAP: ``references`` is a list of earlier AlertNet alert ids (CAP: a space separated string of
``sender,identifier,sent`` triples), and the CAP enumerations are narrowed to what this network sends
(no ``System``/``Draft`` status, no ``Ack``/``Error`` msgType). Date-times are written the CAP way:
``YYYY-MM-DDThh:mm:ss-00:00`` for UTC (CAP forbids ``Z``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from ulid import ULID

from alertnet.contacts import Role


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


class Channel(StrEnum):
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    BULK = "bulk"


MAX_EVENT = 80
MAX_HEADLINE = 160
MAX_DESCRIPTION = 4000
MAX_INSTRUCTION = 1000

# A ULID: 26 Crockford base32 characters, the first one 0-7 (48-bit timestamp).
ULID_RE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")

GEO_SELECTORS = ("regions", "counties", "districts", "schools", "officials")
"""Audience selectors that pick people by where they are (or who they are); they form a union."""
LIST_SELECTORS = ("regions", "counties", "districts", "schools", "roles", "officials")
AUDIENCE_KEYS = ("statewide", "regions", "counties", "districts", "schools", "roles", "officials")


# --------------------------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class FieldError:
    """One bad field: ``field`` is a JSON path (``severity``, ``audience.counties[0]``, ``body``)."""

    field: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


class AlertValidationError(Exception):
    """The request had bad fields; ``errors`` lists every one of them."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in self.errors) or "invalid alert")


# ------------------------------------------------------------------------------------------ audience


@dataclass(frozen=True)
class Audience:
    """Who an alert is for. See `alertnet.audience` for the semantics (union of selectors, roles narrow)."""

    statewide: bool = False
    regions: tuple[str, ...] = ()
    counties: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    schools: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    officials: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Every key, always (so the signed bytes do not depend on which selectors were used)."""
        return {
            "statewide": self.statewide,
            "regions": list(self.regions),
            "counties": list(self.counties),
            "districts": list(self.districts),
            "schools": list(self.schools),
            "roles": list(self.roles),
            "officials": list(self.officials),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Audience:
        """Rebuild from `to_dict` output (trusted data; missing keys mean empty)."""
        return cls(
            statewide=bool(d.get("statewide", False)),
            regions=tuple(str(v) for v in d.get("regions", ())),
            counties=tuple(str(v) for v in d.get("counties", ())),
            districts=tuple(str(v) for v in d.get("districts", ())),
            schools=tuple(str(v) for v in d.get("schools", ())),
            roles=tuple(str(v) for v in d.get("roles", ())),
            officials=tuple(str(v) for v in d.get("officials", ())),
        )


# ----------------------------------------------------------------------------------------- the alert


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
        """JSON-ready; every key always present (``expires`` may be null). Inverse of `from_dict`."""
        return {
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


def _utc_seconds(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


def new_alert(draft: AlertDraft, *, sender: str, now: datetime) -> Alert:
    """Accept a draft: give it a ULID id (its timestamp is ``now``) and ``sent`` = ``now`` (UTC, seconds)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    sent = _utc_seconds(now)
    values = {f.name: getattr(draft, f.name) for f in fields(AlertDraft)}
    return Alert(id=str(ULID.from_datetime(now.astimezone(UTC))), sender=sender, sent=sent, **values)


def canonical_bytes(alert: Alert) -> bytes:
    """The exact bytes that are signed.

    ``json.dumps(alert.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` encoded as
    UTF-8. In words: the `Alert.to_dict` object (every key present, ``expires`` null when absent, lists
    in their stored order, no floats), keys sorted by code point at every level, no whitespace between
    tokens, non-ASCII characters written as themselves (UTF-8), and JSON's standard escapes for ``"``,
    ``\\`` and control characters (``\\n``; others as ``\\u00XX``). A third party holding the alert JSON
    served by the API can re-create the bytes with the same call and check the Ed25519 signature.
    """
    return json.dumps(alert.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


# ------------------------------------------------------------------------------------------ parsing

TOP_LEVEL = (
    "status",
    "msgType",
    "references",
    "severity",
    "urgency",
    "certainty",
    "event",
    "headline",
    "description",
    "instruction",
    "expires",
    "audience",
    "channels",
)
REQUIRED = (
    "status",
    "msgType",
    "severity",
    "urgency",
    "certainty",
    "event",
    "headline",
    "audience",
    "channels",
)


def _has_control(text: str, *, allow_newline: bool) -> bool:
    """Control characters (Unicode Cc) and the Unicode line/paragraph separators."""
    for ch in text:
        if ch == "\n" and allow_newline:
            continue
        if ch in "\u2028\u2029" or unicodedata.category(ch) == "Cc":
            return True
    return False


def _has_surrogate(text: str) -> bool:
    """Unpaired UTF-16 surrogates (``"\\ud83d"`` in JSON) cannot be encoded as UTF-8, so cannot be signed."""
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def _show(value: object) -> str:
    """A short, safe rendering of a bad value for an error reason."""
    text = json.dumps(value, ensure_ascii=True, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


E = TypeVar("E", bound=StrEnum)


class _Parser:
    """Collects every error instead of stopping at the first."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def error(self, where: str, reason: str) -> None:
        self.errors.append(FieldError(where, reason))

    def enum(self, data: Mapping[str, Any], key: str, kind: type[E]) -> E | None:
        value = data.get(key)
        if value is None:
            return None  # reported as missing
        allowed = [m.value for m in kind]
        if isinstance(value, str) and value in allowed:
            return kind(value)
        self.error(key, f"must be one of {', '.join(allowed)} (case-sensitive); got {_show(value)}")
        return None

    def text(self, data: Mapping[str, Any], key: str, limit: int, *, required: bool, multiline: bool) -> str:
        value = data.get(key)
        if value is None:
            return ""  # missing required fields are reported once, as "is required"
        if not isinstance(value, str):
            self.error(key, f"must be a string; got {_show(value)}")
            return ""
        value = value.strip()
        if _has_surrogate(value):
            self.error(key, "must be valid Unicode (has an unpaired surrogate)")
        elif required and not value:
            self.error(key, "must not be empty")
        elif len(value) > limit:
            self.error(key, f"must be at most {limit} characters; got {len(value)}")
        elif _has_control(value, allow_newline=multiline):
            self.error(
                key,
                "must not contain control characters other than newline"
                if multiline
                else "must not contain control characters or line breaks",
            )
        return value

    def references(self, data: Mapping[str, Any], msg_type: MsgType | None) -> tuple[str, ...]:
        value = data.get("references")
        if value is None:
            value = []
        if not isinstance(value, list):
            self.error("references", f"must be a list of alert ids; got {_show(value)}")
            return ()
        ids: list[str] = []
        for n, item in enumerate(value):
            where = f"references[{n}]"
            ref = item.strip().upper() if isinstance(item, str) else None
            if ref is None or not ULID_RE.fullmatch(ref):
                self.error(where, f"must be an alert id (a 26-character ULID); got {_show(item)}")
            elif ref in ids:
                self.error(where, f"duplicate reference '{ref}'")
            else:
                ids.append(ref)
        if msg_type in (MsgType.UPDATE, MsgType.CANCEL) and not value:
            self.error("references", f"is required for msgType {msg_type}: the ids of the earlier alerts")
        elif msg_type is MsgType.ALERT and value:
            self.error("references", "must be absent for msgType Alert (use Update or Cancel)")
        return tuple(ids)

    def expires(self, data: Mapping[str, Any], now: datetime) -> datetime | None:
        value = data.get("expires")
        if value is None:
            return None
        reason = "must be an ISO 8601 date-time with a timezone offset, e.g. 2025-05-01T15:00:00-05:00"
        if not isinstance(value, str):
            self.error("expires", f"{reason}; got {_show(value)}")
            return None
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            self.error("expires", f"{reason}; got {_show(value)}")
            return None
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            self.error("expires", f"must include a timezone offset; got {_show(value)}")
            return None
        expires = _utc_seconds(parsed)
        if expires <= now:
            self.error("expires", f"must be in the future (now is {format_datetime(now)})")
            return None
        return expires

    def audience(self, value: Any) -> Audience:
        if not isinstance(value, dict):
            self.error("audience", f"must be an object; got {_show(value)}")
            return Audience()
        for key in value:
            if key not in AUDIENCE_KEYS:
                self.error(f"audience.{key}", f"unknown field; allowed: {', '.join(AUDIENCE_KEYS)}")
        statewide = value.get("statewide")
        if statewide is None:
            statewide = False
        elif not isinstance(statewide, bool):
            self.error("audience.statewide", f"must be true or false; got {_show(statewide)}")
            statewide = False
        roles = [r.value for r in Role]
        lists = {
            key: self.selector_list(value.get(key), f"audience.{key}", roles if key == "roles" else None)
            for key in LIST_SELECTORS
        }
        geo = [key for key in GEO_SELECTORS if lists[key]]
        anything_given = any(isinstance(value.get(key), list) and value.get(key) for key in LIST_SELECTORS)
        if statewide and geo:
            self.error(
                "audience.statewide",
                f"cannot be combined with {', '.join(geo)} (ambiguous): statewide already means everyone; "
                "use roles to narrow a statewide alert",
            )
        elif not statewide and not anything_given:
            self.error(
                "audience",
                "must set statewide: true or at least one of regions, counties, districts, schools, "
                "roles, officials",
            )
        return Audience(statewide=statewide, **lists)

    def selector_list(self, value: Any, where: str, allowed: list[str] | None) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(where, f"must be a list of strings; got {_show(value)}")
            return ()
        items: list[str] = []
        seen: set[str] = set()
        for n, item in enumerate(value):
            at = f"{where}[{n}]"
            text = item.strip() if isinstance(item, str) else None
            if text is None:
                self.error(at, f"must be a string; got {_show(item)}")
            elif not text:
                self.error(at, "must not be empty")
            elif _has_surrogate(text):
                self.error(at, "must be valid Unicode (has an unpaired surrogate)")
            elif _has_control(text, allow_newline=False):
                self.error(at, "must not contain control characters")
            elif allowed is not None and text not in allowed:
                self.error(at, f"unknown role {_show(item)}; must be one of {', '.join(allowed)}")
            elif text.casefold() in seen:
                self.error(at, f"duplicate {_show(item)}")
            else:
                seen.add(text.casefold())
                items.append(text)
        return tuple(items)

    def channels(self, value: Any) -> tuple[Channel, ...]:
        allowed = [c.value for c in Channel]
        if not isinstance(value, list) or not value:
            self.error("channels", f"must be a non-empty list of {', '.join(allowed)}; got {_show(value)}")
            return ()
        result: list[Channel] = []
        for n, item in enumerate(value):
            at = f"channels[{n}]"
            if not isinstance(item, str) or item not in allowed:
                self.error(at, f"must be one of {', '.join(allowed)} (case-sensitive); got {_show(item)}")
            elif Channel(item) in result:
                self.error(at, f"duplicate channel '{item}'")
            else:
                result.append(Channel(item))
        return tuple(result)


def example_alert_request() -> dict[str, Any]:
    """A valid statewide lockdown request, as a sender posts it (a fresh copy each call): the OpenAPI
    document's example, and the starting point of the bench's and the tests' alerts."""
    return {
        "status": "Actual",
        "msgType": "Alert",
        "severity": "Extreme",
        "urgency": "Immediate",
        "certainty": "Observed",
        "event": "Lockdown",
        "headline": "Lockdown: armed intruder reported near campus",
        "description": "Police are responding to a report of an armed person near the school.",
        "instruction": "Lock all doors, keep students in rooms, await law enforcement.",
        "audience": {"statewide": True},
        "channels": ["sms", "voice", "email"],
    }


def parse_alert_request(payload: object, *, now: datetime) -> AlertDraft:
    """Validate a sender's alert request (decoded JSON) into an `AlertDraft`.

    Raises `AlertValidationError` listing every bad field at once. Rules:

    - the payload is an object (else one error, field ``body``); unknown top-level fields are errors
      (field = the key, ``unknown field; allowed: ...``);
    - required (absent or null: ``is required``): status, msgType, severity, urgency, certainty, event,
      headline, audience, channels; description, instruction, references, expires are optional
      (null = absent);
    - enumerations are case-sensitive and the reason lists the allowed values;
    - strings are trimmed; event (<= 80) and headline (<= 160) must be non-empty; description <= 4000,
      instruction <= 1000; no control characters (nor U+2028/U+2029) except ``\\n`` in description and
      instruction;
    - msgType Update/Cancel need a non-empty ``references`` list of alert ids (ULIDs, unique, stored
      upper-case); msgType Alert must not have references;
    - ``expires``: ISO 8601 with a timezone offset, later than ``now``; kept as UTC at second precision;
    - ``audience``: an object with only statewide/regions/counties/districts/schools/roles/officials;
      statewide is a boolean; each list holds non-empty strings, unique ignoring case and surrounding
      whitespace; roles are `Role` values (exact spelling); statewide together with regions, counties,
      districts, schools or officials is an error (ambiguous); without statewide at least one selector
      is needed (roles alone means those roles statewide);
    - ``channels``: a non-empty list of unique `Channel` values.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not isinstance(payload, dict):
        raise AlertValidationError([FieldError("body", f"must be a JSON object; got {_show(payload)}")])
    p = _Parser()
    for key in payload:
        if key not in TOP_LEVEL:
            p.error(str(key), f"unknown field; allowed: {', '.join(TOP_LEVEL)}")
    for key in REQUIRED:
        if payload.get(key) is None:
            p.error(key, "is required")
    status = p.enum(payload, "status", Status)
    msg_type = p.enum(payload, "msgType", MsgType)
    severity = p.enum(payload, "severity", Severity)
    urgency = p.enum(payload, "urgency", Urgency)
    certainty = p.enum(payload, "certainty", Certainty)
    references = p.references(payload, msg_type)
    event = p.text(payload, "event", MAX_EVENT, required=True, multiline=False)
    headline = p.text(payload, "headline", MAX_HEADLINE, required=True, multiline=False)
    description = p.text(payload, "description", MAX_DESCRIPTION, required=False, multiline=True)
    instruction = p.text(payload, "instruction", MAX_INSTRUCTION, required=False, multiline=True)
    expires = p.expires(payload, now)
    audience = p.audience(payload["audience"]) if payload.get("audience") is not None else Audience()
    channels = p.channels(payload["channels"]) if payload.get("channels") is not None else ()
    if p.errors or not (status and msg_type and severity and urgency and certainty):
        raise AlertValidationError(p.errors)
    return AlertDraft(
        status=status,
        msg_type=msg_type,
        references=references,
        severity=severity,
        urgency=urgency,
        certainty=certainty,
        event=event,
        headline=headline,
        description=description,
        instruction=instruction,
        expires=expires,
        audience=audience,
        channels=channels,
    )


def audience_summary(audience: Audience) -> str:
    """A short human description of an audience (for logs, emails and pages)."""
    if audience.statewide:
        where = "statewide"
    else:
        parts = [
            f"{name} {', '.join(values)}"
            for name, values in (
                ("regions", audience.regions),
                ("counties", audience.counties),
                ("districts", audience.districts),
                ("schools", audience.schools),
                ("officials", audience.officials),
            )
            if values
        ]
        where = "; ".join(parts) if parts else "statewide"
    if audience.roles:
        return f"{where} ({', '.join(audience.roles)})"
    return where
