"""Validation of a sender's alert request (decoded JSON) into an `AlertDraft`, and its JSON Schema.

The schema in `request_schema` (served in the OpenAPI document) is built from the same field lists and
enumerations the validation uses, so the two cannot disagree.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from alertnet.domain.alerts import (
    AlertDraft,
    Certainty,
    MsgType,
    Severity,
    Status,
    Urgency,
    format_datetime,
    utc_seconds,
)
from alertnet.domain.audience import AUDIENCE_KEYS, GEO_SELECTORS, LIST_SELECTORS, Audience
from alertnet.domain.audience import SCHOOLS_DESCRIPTION as SCHOOLS
from alertnet.domain.contacts import Role
from alertnet.domain.errors import FieldError, ValidationError
from alertnet.domain.messages import Channel
from alertnet.domain.polls import parse_poll, poll_schema
from alertnet.domain.text import BIDI_REASON, has_bidi_control

MAX_EVENT = 80
MAX_HEADLINE = 160
MAX_DESCRIPTION = 4000
MAX_INSTRUCTION = 1000

# A ULID: 26 Crockford base32 characters, the first one 0-7 (48-bit timestamp).
ULID_RE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")


class AlertValidationError(ValidationError):
    """The alert request had bad fields; ``errors`` lists every one of them."""


# ------------------------------------------------------------------------------------------ parsing

TOP_LEVEL = (
    "status", "msgType", "references", "severity", "urgency", "certainty", "event", "headline",
    "description", "instruction", "expires", "audience", "channels", "public", "poll",
)  # fmt: skip
REQUIRED = (
    "status", "msgType", "severity", "urgency", "certainty", "event", "headline", "audience", "channels",
)  # fmt: skip


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


def show(value: object) -> str:
    """A short, safe rendering of a bad value for an error reason."""
    text = json.dumps(value, ensure_ascii=True, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


E = TypeVar("E", bound=StrEnum)


class FieldParser:
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
        self.error(key, f"must be one of {', '.join(allowed)} (case-sensitive); got {show(value)}")
        return None

    def text(self, data: Mapping[str, Any], key: str, limit: int, *, required: bool, multiline: bool) -> str:
        value = data.get(key)
        if value is None:
            return ""  # missing required fields are reported once, as "is required"
        if not isinstance(value, str):
            self.error(key, f"must be a string; got {show(value)}")
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
        elif has_bidi_control(value):
            self.error(key, BIDI_REASON)
        return value

    def references(self, data: Mapping[str, Any], msg_type: MsgType | None) -> tuple[str, ...]:
        value = data.get("references")
        if value is None:
            value = []
        if not isinstance(value, list):
            self.error("references", f"must be a list of alert ids; got {show(value)}")
            return ()
        ids: list[str] = []
        for n, item in enumerate(value):
            where = f"references[{n}]"
            ref = item.strip().upper() if isinstance(item, str) else None
            if ref is None or not ULID_RE.fullmatch(ref):
                self.error(where, f"must be an alert id (a 26-character ULID); got {show(item)}")
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
            self.error("expires", f"{reason}; got {show(value)}")
            return None
        try:
            parsed = datetime.fromisoformat(value.strip())
            if parsed.tzinfo is None or parsed.utcoffset() is None:
                self.error("expires", f"must include a timezone offset; got {show(value)}")
                return None
            expires = utc_seconds(parsed)
        except (ValueError, OverflowError):  # OverflowError: in UTC it falls outside years 1 to 9999
            self.error("expires", f"{reason}, within years 1 to 9999 in UTC; got {show(value)}")
            return None
        if expires <= now:
            self.error("expires", f"must be in the future (now is {format_datetime(now)})")
            return None
        return expires

    def audience(self, value: Any) -> Audience:
        if not isinstance(value, dict):
            self.error("audience", f"must be an object; got {show(value)}")
            return Audience()
        for key in value:
            if key not in AUDIENCE_KEYS:
                self.error(f"audience.{key}", f"unknown field; allowed: {', '.join(AUDIENCE_KEYS)}")
        statewide = value.get("statewide")
        if statewide is None:
            statewide = False
        elif not isinstance(statewide, bool):
            self.error("audience.statewide", f"must be true or false; got {show(statewide)}")
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
            self.error(where, f"must be a list of strings; got {show(value)}")
            return ()
        items: list[str] = []
        seen: set[str] = set()
        for n, item in enumerate(value):
            at = f"{where}[{n}]"
            text = item.strip() if isinstance(item, str) else None
            if text is None:
                self.error(at, f"must be a string; got {show(item)}")
            elif not text:
                self.error(at, "must not be empty")
            elif _has_surrogate(text):
                self.error(at, "must be valid Unicode (has an unpaired surrogate)")
            elif _has_control(text, allow_newline=False):
                self.error(at, "must not contain control characters")
            elif has_bidi_control(text):
                self.error(at, BIDI_REASON)
            elif allowed is not None and text not in allowed:
                self.error(at, f"unknown role {show(item)}; must be one of {', '.join(allowed)}")
            elif text.casefold() in seen:
                self.error(at, f"duplicate {show(item)}")
            else:
                seen.add(text.casefold())
                items.append(text)
        return tuple(items)

    def boolean(self, data: Mapping[str, Any], key: str) -> bool:
        """An optional boolean (null: absent, false)."""
        if data.get(key) is not None and not isinstance(data[key], bool):
            self.error(key, f"must be true or false; got {show(data[key])}")
        return data.get(key) is True

    def channels(self, value: Any) -> tuple[Channel, ...]:
        allowed = [c.value for c in Channel]
        if not isinstance(value, list) or not value:
            self.error("channels", f"must be a non-empty list of {', '.join(allowed)}; got {show(value)}")
            return ()
        result: list[Channel] = []
        for n, item in enumerate(value):
            at = f"channels[{n}]"
            if not isinstance(item, str) or item not in allowed:
                self.error(at, f"must be one of {', '.join(allowed)} (case-sensitive); got {show(item)}")
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
    - ``channels``: a non-empty list of unique `Channel` values;
    - ``public``: a boolean, default false; true lists the alert in the public Atom feed and lets anyone read
      its CAP document (a lockdown is never published unless its sender says so);
    - ``poll``: optional, a status check (`alertnet.domain.polls.parse_poll`), never on a Cancel.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not isinstance(payload, dict):
        raise AlertValidationError([FieldError("body", f"must be a JSON object; got {show(payload)}")])
    p = FieldParser()
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
    public = p.boolean(payload, "public")
    poll = parse_poll(payload.get("poll"), p.errors, closing=msg_type is MsgType.CANCEL)
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
        public=public,
        poll=poll,
    )


def request_schema() -> dict[str, Any]:
    """The JSON Schema of an alert request, from the definitions `parse_alert_request` enforces."""
    strings = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    audience = {
        "type": "object",
        "additionalProperties": False,
        "description": "Geographic selectors are a union; roles narrow it; statewide means everyone.",
        "properties": {
            key: {"type": "boolean"}
            if key == "statewide"
            else {**strings, "items": {"enum": [r.value for r in Role]}}
            if key == "roles"
            else {**strings, "description": SCHOOLS}
            if key == "schools"
            else strings
            for key in AUDIENCE_KEYS
        },
    }
    properties: dict[str, Any] = {
        "status": {"enum": [v.value for v in Status]},
        "msgType": {"enum": [v.value for v in MsgType]},
        "references": {"type": "array", "items": {"type": "string"}, "description": "ids of earlier alerts"},
        "severity": {"enum": [v.value for v in Severity]},
        "urgency": {"enum": [v.value for v in Urgency]},
        "certainty": {"enum": [v.value for v in Certainty]},
        "event": {"type": "string", "maxLength": MAX_EVENT},
        "headline": {"type": "string", "maxLength": MAX_HEADLINE},
        "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
        "instruction": {"type": "string", "maxLength": MAX_INSTRUCTION},
        "expires": {"type": "string", "format": "date-time"},
        "audience": audience,
        "channels": {"type": "array", "items": {"enum": [c.value for c in Channel]}, "minItems": 1},
        "public": {
            "type": "boolean",
            "default": False,
            "description": "list the alert in the public feed (/v1/alerts.atom) and let anyone read its CAP "
            "document; a lockdown is not published unless its sender says so",
        },
        "poll": poll_schema(),
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(REQUIRED),
        "properties": {key: properties[key] for key in TOP_LEVEL},
    }
