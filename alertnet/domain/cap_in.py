"""A CAP 1.2 message posted to the hub, mapped onto an alert request (pure).

`alertnet.services.cap` parses the XML safely and validates it against the OASIS schema into a
`CapMessage`; this module decides what it asks for. The result is the same JSON-shaped request a sender
posts to ``POST /v1/alerts``, so a CAP alert goes through exactly the path a JSON one does
(`parse_alert_request`, the two-person rule, Exercise/Actual checks on follow-ups). The mapping:

- ``status`` Actual, Exercise and Test keep their value; System and Draft are refused (this network sends
  neither); ``msgType`` Alert, Update and Cancel likewise (Ack and Error are refused);
- ``scope`` Public makes the alert public (the Atom feed lists it); Restricted and Private do not;
- the first ``<info>`` in English (``language`` en or en-*, or absent: CAP's default is en-US), else the
  first one, gives event, urgency, severity, certainty, headline (the event when absent), description,
  instruction and expires; single-line fields have their whitespace collapsed, tabs become spaces;
- the audience is the registry counties its ``<area><geocode>``s map to (`geocode_index`, from the
  ``[cap.geocodes]`` table of the configuration); a geocode mapped to no county is refused, naming it.
  An Update or Cancel without geocodes keeps the audience of the alert it references;
- ``references`` (``sender,identifier,sent`` triples) name earlier alerts: the hub's own CAP documents or
  CAP messages it imported; the service resolves them to alert ids (`parse_references`);
- the message's ``sender``, ``identifier`` and ``sent`` are kept with the alert (`CapOrigin`), and the
  same three (``sent`` compared as an instant) identify it: posting it again sends nothing (`origin_key`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alertnet.domain.alert_request import AlertValidationError
from alertnet.domain.alerts import CapOrigin, MsgType, Status, format_datetime, parse_datetime
from alertnet.domain.errors import FieldError

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
MAX_ID = 256  # identifier and sender: CAP sets no limit; a key of the hub's store does
SENT_STATUSES = tuple(s.value for s in Status)
SENT_TYPES = tuple(m.value for m in MsgType)

Triple = tuple[str, str, str]


@dataclass(frozen=True)
class CapArea:
    area_desc: str
    geocodes: tuple[tuple[str, str], ...]  # (valueName, value)


@dataclass(frozen=True)
class CapInfo:
    language: str
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str = ""
    description: str = ""
    instruction: str = ""
    expires: str = ""
    areas: tuple[CapArea, ...] = ()


@dataclass(frozen=True)
class CapMessage:
    """The parts of a schema-valid CAP 1.2 ``<alert>`` the hub reads (text as written, "" when absent)."""

    identifier: str
    sender: str
    sent: str
    status: str
    msg_type: str
    scope: str
    references: str = ""
    infos: tuple[CapInfo, ...] = ()

    @property
    def origin(self) -> CapOrigin:
        return CapOrigin(sender=self.sender, identifier=self.identifier, sent=self.sent)


def origin_key(sender: str, identifier: str, sent: str) -> str:
    """What identifies a CAP message: SHA-256 (hex) over its sender, identifier and sent instant in UTC
    (so ``+00:00`` and ``-00:00`` name one message). ValueError if ``sent`` is not a date-time."""
    instant = format_datetime(parse_datetime(sent.strip()))
    return hashlib.sha256(f"{sender.strip()}\n{identifier.strip()}\n{instant}".encode()).hexdigest()


def parse_references(text: str) -> tuple[list[Triple], list[FieldError]]:
    """CAP ``references``: whitespace-separated ``sender,identifier,sent`` triples."""
    triples: list[Triple] = []
    errors: list[FieldError] = []
    for item in text.split():
        parts = item.split(",")
        if len(parts) != 3 or not all(parts):
            errors.append(FieldError("references", f"'{item[:80]}' is not a sender,identifier,sent triple"))
            continue
        try:
            parse_datetime(parts[2])
        except ValueError:
            errors.append(FieldError("references", f"'{item[:80]}': '{parts[2][:40]}' is not a date-time"))
            continue
        triples.append((parts[0], parts[1], parts[2]))
    return triples, errors


def geocode_index(config: Mapping[str, Sequence[str]]) -> dict[tuple[str, str], str]:
    """``{(VALUENAME, value): county}`` from the configuration's county -> ["VALUENAME:value", ...] table.

    ValueNames are matched case-insensitively (kept upper-case). Raises ValueError naming a malformed
    entry, or a geocode given to two counties."""
    index: dict[tuple[str, str], str] = {}
    for county, codes in config.items():
        if isinstance(codes, str) or not isinstance(codes, Sequence):
            raise ValueError(f'[cap.geocodes] {county}: must be a list of "VALUENAME:value" strings')
        for code in codes:
            name, _, value = str(code).partition(":")
            if not name.strip() or not value.strip():
                raise ValueError(f'[cap.geocodes] {county}: {code!r} is not "VALUENAME:value"')
            key = (name.strip().upper(), value.strip())
            if index.get(key, county) != county:
                raise ValueError(f"[cap.geocodes] {code!r} is given to both {index[key]} and {county}")
            index[key] = county
    return index


def county_geocodes(index: Mapping[tuple[str, str], str], county: str) -> list[tuple[str, str]]:
    """The geocodes that name a county (case-insensitive), in the configuration's order."""
    wanted = county.strip().casefold()
    return [key for key, name in index.items() if name.casefold() == wanted]


def _line(text: str) -> str:
    return " ".join(text.split())


def _block(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ").strip()


def _english(infos: Sequence[CapInfo]) -> CapInfo | None:
    for info in infos:
        language = info.language.strip().lower() or "en-us"
        if language == "en" or language.startswith("en-"):
            return info
    return infos[0] if infos else None


def _counties(info: CapInfo, index: Mapping[tuple[str, str], str], errors: list[FieldError]) -> list[str]:
    counties: dict[str, str] = {}
    for area in info.areas:
        for name, value in area.geocodes:
            county = index.get((name.strip().upper(), value.strip()))
            if county is None:
                errors.append(
                    FieldError(
                        "info.area.geocode",
                        f"{name.strip()} {value.strip()} ({area.area_desc.strip()[:60]}) is mapped to no "
                        "registry county ([cap.geocodes] in the configuration)",
                    )
                )
            else:
                counties.setdefault(county.casefold(), county)
    return list(counties.values())


def cap_request(
    message: CapMessage,
    *,
    index: Mapping[tuple[str, str], str],
    channels: Sequence[str],
    resolved: Mapping[Triple, str],
    original_audience: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The alert request a CAP message asks for (see the module's docstring).

    ``resolved`` maps each reference triple to the alert id it names (those missing are refused);
    ``original_audience`` is the audience of the first referenced alert (for a follow-up without
    geocodes). Raises `AlertValidationError` listing every problem; field names are CAP's."""
    errors: list[FieldError] = []
    for where, value in (("identifier", message.identifier), ("sender", message.sender)):
        if not value.strip():
            errors.append(FieldError(where, "must not be empty"))
        elif len(value.strip()) > MAX_ID:
            errors.append(FieldError(where, f"must be at most {MAX_ID} characters"))
    if message.status not in SENT_STATUSES:
        errors.append(
            FieldError(
                "status", f"'{message.status}' is not sent by this network: use {', '.join(SENT_STATUSES)}"
            )
        )
    if message.msg_type not in SENT_TYPES:
        errors.append(
            FieldError("msgType", f"'{message.msg_type}' is not taken here: use {', '.join(SENT_TYPES)}")
        )
    info = _english(message.infos)
    if info is None:
        errors.append(FieldError("info", "is required: the hub sends what an <info> block says"))
        raise AlertValidationError(errors)
    follow_up = message.msg_type in (MsgType.UPDATE.value, MsgType.CANCEL.value)
    references: list[str] = []
    if follow_up:
        triples, problems = parse_references(message.references)
        errors.extend(problems)
        if not triples and not problems:
            errors.append(FieldError("references", f"is required for msgType {message.msg_type}"))
        for triple in triples:
            alert_id = resolved.get(triple)
            if alert_id is None:
                errors.append(
                    FieldError(
                        "references", f"'{','.join(triple)[:120]}' names no alert this hub sent or took in"
                    )
                )
            elif alert_id not in references:
                references.append(alert_id)
    counties = _counties(info, index, errors)
    audience: Mapping[str, Any]
    if counties:
        audience = {"counties": counties}
    elif follow_up and original_audience is not None and not any(a.geocodes for a in info.areas):
        audience = original_audience
    else:
        audience = {}
        if not any(e.field == "info.area.geocode" for e in errors):
            errors.append(
                FieldError(
                    "info.area.geocode",
                    "is required: the hub reaches officials by county (a FIPS6 or SAME geocode); "
                    "polygons and circles are not used",
                )
            )
    if errors:
        raise AlertValidationError(errors)
    request: dict[str, Any] = {
        "status": message.status,
        "msgType": message.msg_type,
        "severity": info.severity,
        "urgency": info.urgency,
        "certainty": info.certainty,
        "event": _line(info.event),
        "headline": _line(info.headline) or _line(info.event),
        "description": _block(info.description),
        "instruction": _block(info.instruction),
        "audience": dict(audience),
        "channels": list(channels),
        "public": message.scope == "Public",
    }
    if info.expires.strip():
        request["expires"] = info.expires.strip()
    if follow_up:
        request["references"] = references
    return request
