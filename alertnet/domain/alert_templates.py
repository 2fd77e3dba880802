"""Message templates of the operator console (lockdown, shelter in place, ...), kept as data in
`config/alert_templates.toml` and checked here: a template fills the composer, never sends anything."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alertnet.domain.alert_request import MAX_DESCRIPTION, MAX_EVENT, MAX_HEADLINE, MAX_INSTRUCTION
from alertnet.domain.alerts import Certainty, Severity, Urgency
from alertnet.domain.messages import Channel

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
TEXTS = {
    "title": 60,
    "event": MAX_EVENT,
    "headline": MAX_HEADLINE,
    "description": MAX_DESCRIPTION,
    "instruction": MAX_INSTRUCTION,
}


class TemplateError(ValueError):
    """A template file that does not fit (the message names the template and the field)."""


@dataclass(frozen=True)
class AlertTemplate:
    key: str
    title: str
    event: str
    severity: Severity
    urgency: Urgency
    certainty: Certainty
    headline: str
    description: str
    instruction: str
    channels: tuple[Channel, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "event": self.event,
            "severity": self.severity.value,
            "urgency": self.urgency.value,
            "certainty": self.certainty.value,
            "headline": self.headline,
            "description": self.description,
            "instruction": self.instruction,
            "channels": [c.value for c in self.channels],
        }


def parse_templates(data: Mapping[str, Any]) -> list[AlertTemplate]:
    """The templates of a decoded TOML file (`[[template]]` tables); raises TemplateError."""
    raw = data.get("template")
    if not isinstance(raw, list) or not raw:
        raise TemplateError("the file needs at least one [[template]] table")
    out: list[AlertTemplate] = []
    for n, entry in enumerate(raw, start=1):
        where = f"template {n}"
        if not isinstance(entry, dict):
            raise TemplateError(f"{where}: must be a table")
        key = entry.get("key")
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise TemplateError(f"{where}: key must be lower-case letters, digits and _ (got {key!r})")
        where = f"template {key!r}"
        if any(t.key == key for t in out):
            raise TemplateError(f"{where}: the key is used twice")
        texts: dict[str, str] = {}
        for field, limit in TEXTS.items():
            value = entry.get(field, "")
            if (
                not isinstance(value, str)
                or len(value) > limit
                or (field in ("title", "event", "headline") and not value)
            ):
                raise TemplateError(
                    f"{where}: {field} must be a non-empty string of at most {limit} characters"
                )
            texts[field] = value
        try:
            severity = Severity(str(entry.get("severity")))
            urgency = Urgency(str(entry.get("urgency")))
            certainty = Certainty(str(entry.get("certainty")))
            channels = tuple(Channel(c) for c in entry.get("channels", []))
        except ValueError as error:
            raise TemplateError(f"{where}: {error}") from None
        if not channels:
            raise TemplateError(f"{where}: channels must name at least one of sms, voice, email")
        out.append(
            AlertTemplate(
                key=key, severity=severity, urgency=urgency, certainty=certainty, channels=channels, **texts
            )
        )
    return out
