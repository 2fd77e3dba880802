"""Notification drills, pure: the plan (name, type, window, audience, objectives), its improvement plan
(HSEEP: issue, corrective action, owner, due date, status), and the checks on the requests for them.

A drill's alerts are Exercise alerts sent through `POST /v1/drills/{id}/alerts` inside its window; its
report (`alertnet.domain.drill_report`) is computed from what was recorded when they were sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from alertnet.domain.alert_request import example_alert_request, parse_alert_request, show
from alertnet.domain.alerts import parse_datetime
from alertnet.domain.errors import FieldError, ValidationError

DRILL_TYPES = (
    "lockdown",
    "lockout",
    "evacuation",
    "shelter_in_place",
    "severe_weather",
    "fire",
    "earthquake",
    "reunification",
    "other",
)
IMPROVEMENT_STATUSES = ("open", "in_progress", "complete", "deferred")
IMPROVEMENT_FIELDS = ("issue", "corrective_action", "owner", "due", "status")
DRILL_FIELDS = ("name", "type", "window", "audience", "objectives")
MAX_WINDOW_SECONDS = 14 * 86400
MAX_OBJECTIVES = 10
ID_PATTERN = re.compile(r"^drill-[0-9a-f]{16}$")


class DrillValidationError(ValidationError):
    """A drill or improvement request with bad fields."""


def _text(value: Any, field: str, longest: int, errors: list[FieldError]) -> str:
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError(field, f"must be non-empty text; got {show(value)}"))
        return ""
    if len(value) > longest:
        errors.append(FieldError(field, f"must be at most {longest} characters; got {len(value)}"))
    return value.strip()


def _moment(value: Any, field: str, errors: list[FieldError]) -> float | None:
    try:
        if not isinstance(value, str):
            raise ValueError("not a string")
        return parse_datetime(value).timestamp()
    except ValueError:
        errors.append(FieldError(field, f"must be an ISO 8601 date-time with an offset; got {show(value)}"))
        return None


def parse_drill_request(payload: object, *, now: float) -> dict[str, Any]:
    """The drill a `POST /v1/drills` body plans (without id and author). Raises DrillValidationError."""
    if not isinstance(payload, dict):
        raise DrillValidationError([FieldError("body", f"must be a JSON object; got {show(payload)}")])
    errors = [
        FieldError(key, f"unknown field; allowed: {', '.join(DRILL_FIELDS)}")
        for key in payload
        if key not in DRILL_FIELDS
    ]
    name = _text(payload.get("name"), "name", 120, errors)
    kind = payload.get("type")
    if kind not in DRILL_TYPES:
        errors.append(FieldError("type", f"must be one of {', '.join(DRILL_TYPES)}; got {show(kind)}"))
    window = payload.get("window")
    start = end = None
    if not isinstance(window, dict) or set(window) - {"start", "end"}:
        errors.append(FieldError("window", f"must be an object {{start, end}}; got {show(window)}"))
    else:
        start = _moment(window.get("start"), "window.start", errors)
        end = _moment(window.get("end"), "window.end", errors)
        if start is not None and end is not None and not 0 < end - start <= MAX_WINDOW_SECONDS:
            errors.append(FieldError("window.end", "must be after window.start, by at most 14 days"))
        if end is not None and end <= now:
            errors.append(FieldError("window.end", "must be in the future"))
    audience = payload.get("audience")
    try:  # the audience as an alert takes it (the drill's alerts go to it unless they say otherwise)
        parse_alert_request({**example_alert_request(), "audience": audience}, now=_utc(now))
    except ValidationError as error:
        errors += [e for e in error.errors if e.field.startswith("audience")]
    objectives = payload.get("objectives")
    if not isinstance(objectives, list) or not 1 <= len(objectives) <= MAX_OBJECTIVES:
        errors.append(FieldError("objectives", f"must be a list of 1 to {MAX_OBJECTIVES} texts"))
        objectives = []
    texts = [_text(o, f"objectives[{n}]", 300, errors) for n, o in enumerate(objectives)]
    if errors:
        raise DrillValidationError(errors)
    assert start is not None and end is not None
    return {
        "name": name,
        "type": kind,
        "start": start,
        "end": end,
        "audience": audience,
        "objectives": texts,
    }


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def parse_improvement(payload: object, *, partial: bool) -> dict[str, str]:
    """An improvement plan row (every field) or, `partial`, the fields a PATCH changes (one at least).
    Raises DrillValidationError."""
    if not isinstance(payload, dict):
        raise DrillValidationError([FieldError("body", f"must be a JSON object; got {show(payload)}")])
    errors = [
        FieldError(key, f"unknown field; allowed: {', '.join(IMPROVEMENT_FIELDS)}")
        for key in payload
        if key not in IMPROVEMENT_FIELDS
    ]
    found: dict[str, str] = {}
    for key in IMPROVEMENT_FIELDS:
        if key not in payload:
            if not partial and key != "status":
                errors.append(FieldError(key, "is required"))
            continue
        value = payload[key]
        if key == "status":
            if value not in IMPROVEMENT_STATUSES:
                allowed = ", ".join(IMPROVEMENT_STATUSES)
                errors.append(FieldError(key, f"must be one of {allowed}; got {show(value)}"))
            found[key] = str(value)
        elif key == "due":
            try:
                if not isinstance(value, str) or len(value) != 10:
                    raise ValueError(value)
                found[key] = date.fromisoformat(value).isoformat()
            except ValueError:
                errors.append(FieldError(key, f"must be a date YYYY-MM-DD; got {show(value)}"))
        else:
            found[key] = _text(value, key, 1000 if key != "owner" else 200, errors)
    if partial and not payload and not errors:
        errors.append(FieldError("body", f"must change one of {', '.join(IMPROVEMENT_FIELDS)}"))
    if errors:
        raise DrillValidationError(errors)
    if not partial:
        found.setdefault("status", "open")
    return found


def drill_alert_payload(payload: object, drill: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The `POST /v1/alerts` body for a drill's alert: an Exercise Alert (status given as Exercise or left
    out), to the drill's audience unless it names one, sent inside the drill's window. Raises
    DrillValidationError naming the field."""
    if not isinstance(payload, dict):
        raise DrillValidationError([FieldError("body", f"must be a JSON object; got {show(payload)}")])
    errors = []
    if payload.get("status", "Exercise") != "Exercise":
        errors.append(
            FieldError("status", f"a drill's alert must be Exercise; got {show(payload['status'])}")
        )
    if payload.get("msgType", "Alert") != "Alert":
        errors.append(
            FieldError("msgType", f"a drill's alert must be an Alert; got {show(payload['msgType'])}")
        )
    if not drill["start"] <= now <= drill["end"]:
        errors.append(
            FieldError(
                "drill_id", f"the drill's window ({drill['start_iso']} to {drill['end_iso']}) is not open"
            )
        )
    if errors:
        raise DrillValidationError(errors)
    return {"audience": drill["audience"], **payload, "status": "Exercise", "msgType": "Alert"}
