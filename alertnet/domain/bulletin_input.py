"""Cyber threat bulletins as publishers post and change them: every field checked, and the names each
TLP label needs (and nothing else), each refusal naming its field. Pure."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

from alertnet.domain.alert_request import FieldParser, show
from alertnet.domain.bulletins import (
    BULLETIN_FIELDS,
    CHANGE_FIELDS,
    DOMAIN_RE,
    HASH_LENGTHS,
    HEX_RE,
    INDICATOR_FIELDS,
    MAX_ACTION,
    MAX_BODY,
    MAX_INDICATORS,
    MAX_LIST,
    MAX_NAMES,
    MAX_REASON,
    MAX_REFERENCE,
    MAX_SUMMARY,
    MAX_TITLE,
    REQUIRED_FIELDS,
    URL_RE,
    Bulletin,
    BulletinValidationError,
    Change,
    Indicator,
    IndicatorType,
    Severity,
)
from alertnet.domain.errors import FieldError
from alertnet.domain.tlp import LABELS, Tlp, parse_tlp


def _timestamp(p: FieldParser, value: Any, where: str) -> str:
    if value is None:
        return ""
    reason = "must be an ISO 8601 date-time with a timezone offset, e.g. 2026-12-01T10:00:00Z"
    if not isinstance(value, str):
        p.error(where, f"{reason}; got {show(value)}")
        return ""
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            p.error(where, f"must include a timezone offset; got {show(value)}")
            return ""
        at = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        p.error(where, f"{reason}; got {show(value)}")
        return ""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _indicator_value(kind: IndicatorType, raw: str) -> str | None:
    """The value in its canonical form, or None when it is not one of `kind`."""
    value = raw.strip()
    if kind is IndicatorType.DOMAIN:
        value = value.lower().rstrip(".")
        return value if DOMAIN_RE.match(value) else None
    if kind in (IndicatorType.IPV4, IndicatorType.IPV6):
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return None
        if network.version != (4 if kind is IndicatorType.IPV4 else 6):
            return None
        single = network.num_addresses == 1
        return str(network.network_address) if single and "/" not in value else str(network)
    if kind is IndicatorType.URL:
        return value if URL_RE.match(value) and len(value) <= MAX_REFERENCE else None
    if kind is IndicatorType.EMAIL:
        try:
            return validate_email(value, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            return None
    value = value.lower()
    return value if HEX_RE.match(value) and len(value) == HASH_LENGTHS[kind] else None


def _indicators(p: FieldParser, value: Any, bulletin_tlp: Tlp | None) -> tuple[Indicator, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        p.error("indicators", f"must be a list of objects; got {show(value)}")
        return ()
    if len(value) > MAX_INDICATORS:
        p.error("indicators", f"must list at most {MAX_INDICATORS}; got {len(value)}")
        return ()
    types = [t.value for t in IndicatorType]
    out: list[Indicator] = []
    seen: set[tuple[str, str]] = set()
    for n, item in enumerate(value):
        at = f"indicators[{n}]"
        if not isinstance(item, dict):
            p.error(at, f"must be an object; got {show(item)}")
            continue
        for key in item:
            if key not in INDICATOR_FIELDS:
                p.error(f"{at}.{key}", f"unknown field; allowed: {', '.join(INDICATOR_FIELDS)}")
        raw_type, raw_value = item.get("type"), item.get("value")
        kind = IndicatorType(raw_type) if isinstance(raw_type, str) and raw_type in types else None
        if kind is None:
            p.error(f"{at}.type", f"must be one of {', '.join(types)}; got {show(raw_type)}")
        canonical = None
        if not isinstance(raw_value, str) or not raw_value.strip():
            p.error(f"{at}.value", f"is required: a non-empty string; got {show(raw_value)}")
        elif kind is not None:
            canonical = _indicator_value(kind, raw_value)
            if canonical is None:
                p.error(f"{at}.value", f"is not a valid {kind.value}; got {show(raw_value)}")
            elif (kind.value, canonical) in seen:
                p.error(f"{at}.value", f"duplicate indicator {show(raw_value)}")
        first = _timestamp(p, item.get("first_seen"), f"{at}.first_seen")
        last = _timestamp(p, item.get("last_seen"), f"{at}.last_seen")
        if first and last and last < first:
            p.error(f"{at}.last_seen", "must not be before first_seen")
        confidence = item.get("confidence")
        if confidence is not None and (
            isinstance(confidence, bool) or not isinstance(confidence, int) or not 0 <= confidence <= 100
        ):
            p.error(f"{at}.confidence", f"must be a whole number from 0 to 100; got {show(confidence)}")
            confidence = None
        tlp = None
        if item.get("tlp") is not None:
            tlp = parse_tlp(item["tlp"])
            if tlp is None:
                p.error(f"{at}.tlp", f"must be one of {', '.join(LABELS)}; got {show(item['tlp'])}")
            elif bulletin_tlp is not None and not tlp.stricter_than(bulletin_tlp):
                if tlp is bulletin_tlp:
                    tlp = None  # the same label as the bulletin's: nothing stricter to apply
                else:
                    p.error(
                        f"{at}.tlp",
                        f"may only be stricter than the bulletin's {bulletin_tlp.value}; got {tlp.value}",
                    )
                    tlp = None
        if kind is not None and canonical is not None:
            seen.add((kind.value, canonical))
            out.append(Indicator(kind, canonical, first, last, confidence, tlp))
    return tuple(out)


def _strings(p: FieldParser, value: Any, where: str, limit: int, *, url: bool = False) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        p.error(where, f"must be a list of strings; got {show(value)}")
        return ()
    if len(value) > MAX_LIST:
        p.error(where, f"must list at most {MAX_LIST}; got {len(value)}")
        return ()
    out: list[str] = []
    for n, item in enumerate(value):
        text = p.text({"v": item}, "v", limit, required=True, multiline=False)
        # FieldParser names the key it was given: rename the errors it just added.
        p.errors = [FieldError(f"{where}[{n}]", e.reason) if e.field == "v" else e for e in p.errors]
        if item is None:
            p.error(f"{where}[{n}]", "must be a string; got null")
        elif text and url and not URL_RE.match(text):
            p.error(f"{where}[{n}]", f"must be an http:// or https:// URL; got {show(item)}")
        elif text:
            out.append(text)
    return tuple(out)


def label_problems(
    tlp: Tlp, organizations: Sequence[str], officials: Sequence[str], indicators: Sequence[Indicator]
) -> list[FieldError]:
    """Recipients that would fall outside the label: what each label needs named, and nothing else."""
    errors: list[FieldError] = []
    labels = {tlp} | {i.label(tlp) for i in indicators}
    needs_orgs = any(t.needs_organizations for t in labels)
    needs_people = any(t.needs_officials for t in labels)
    if tlp.needs_organizations and not organizations:
        errors.append(
            FieldError("organizations", f"{tlp.value} needs at least one organization (a district)")
        )
    if tlp.needs_officials and not officials:
        errors.append(
            FieldError("officials", f"{tlp.value} needs at least one official named (registry ids)")
        )
    if tlp.needs_officials and organizations:
        errors.append(
            FieldError(
                "organizations",
                f"{tlp.value} is for the named individuals only; it cannot be addressed to an organization",
            )
        )
    elif organizations and not needs_orgs:
        errors.append(
            FieldError(
                "organizations",
                f"{tlp.value} reaches every subscribed official; organizations are only for "
                "TLP:AMBER and TLP:AMBER+STRICT (of the bulletin or one of its indicators)",
            )
        )
    if officials and not needs_people:
        errors.append(
            FieldError(
                "officials",
                "officials are named only for TLP:RED (of the bulletin or one of its indicators), "
                f"not {tlp.value}",
            )
        )
    for n, indicator in enumerate(indicators):
        label = indicator.label(tlp)
        if label.needs_officials and not officials:
            errors.append(
                FieldError(f"indicators[{n}].tlp", f"{label.value} needs officials named on the bulletin")
            )
        elif label.needs_organizations and not organizations:
            errors.append(
                FieldError(f"indicators[{n}].tlp", f"{label.value} needs organizations named on the bulletin")
            )
    return errors


def parse_bulletin(payload: object) -> dict[str, Any]:
    """The fields of a POST /v1/bulletins, checked; raises BulletinValidationError naming every bad one.
    Whether the named organizations and officials exist is the caller's check (it has the registry)."""
    if not isinstance(payload, dict):
        raise BulletinValidationError([FieldError("body", f"must be a JSON object; got {show(payload)}")])
    p = FieldParser()
    for key in payload:
        if key not in BULLETIN_FIELDS:
            p.error(key, f"unknown field; allowed: {', '.join(BULLETIN_FIELDS)}")
    for key in REQUIRED_FIELDS:
        if payload.get(key) is None:
            p.error(key, "is required" + (" (no default: choose the label)" if key == "tlp" else ""))
    out: dict[str, Any] = {
        "title": p.text(payload, "title", MAX_TITLE, required=True, multiline=False),
        "summary": p.text(payload, "summary", MAX_SUMMARY, required=True, multiline=True),
        "body": p.text(payload, "body", MAX_BODY, required=True, multiline=True),
    }
    tlp = None
    if payload.get("tlp") is not None:
        tlp = parse_tlp(payload["tlp"])
        if tlp is None:
            p.error(
                "tlp", f"must be one of {', '.join(LABELS)} (or the bare label); got {show(payload['tlp'])}"
            )
    severity = payload.get("severity")
    if severity is not None and severity not in [s.value for s in Severity]:
        p.error("severity", f"must be one of {', '.join(s.value for s in Severity)}; got {show(severity)}")
    out["organizations"] = p.selector_list(payload.get("organizations"), "organizations", None)
    out["officials"] = p.selector_list(payload.get("officials"), "officials", None)
    for key in ("organizations", "officials"):
        if len(out[key]) > MAX_NAMES:
            p.error(key, f"must list at most {MAX_NAMES}; got {len(out[key])}")
    out["indicators"] = _indicators(p, payload.get("indicators"), tlp)
    out["actions"] = _strings(p, payload.get("actions"), "actions", MAX_ACTION)
    out["references"] = _strings(p, payload.get("references"), "references", MAX_REFERENCE, url=True)
    if tlp is not None:
        p.errors += label_problems(tlp, out["organizations"], out["officials"], out["indicators"])
    if p.errors:
        raise BulletinValidationError(p.errors)
    out["tlp"] = tlp
    out["severity"] = Severity(str(severity))
    return out


def parse_change(payload: object, current: Bulletin) -> Change:
    """The fields of a PATCH /v1/bulletins/{id} (those not given stay as they are)."""
    if not isinstance(payload, dict) or not payload:
        raise BulletinValidationError(
            [FieldError("body", f"must be a JSON object with some of {', '.join(CHANGE_FIELDS)}")]
        )
    p = FieldParser()
    for key in payload:
        if key not in CHANGE_FIELDS:
            p.error(key, f"unknown field; only {', '.join(CHANGE_FIELDS)} may change")
    tlp = current.tlp
    if "tlp" in payload:
        parsed = parse_tlp(payload["tlp"])
        if parsed is None:
            p.error(
                "tlp", f"must be one of {', '.join(LABELS)} (or the bare label); got {show(payload['tlp'])}"
            )
        else:
            tlp = parsed
    organizations = (
        p.selector_list(payload.get("organizations"), "organizations", None)
        if "organizations" in payload
        else current.organizations
    )
    officials = (
        p.selector_list(payload.get("officials"), "officials", None)
        if "officials" in payload
        else current.officials
    )
    reason = p.text(payload, "reason", MAX_REASON, required=False, multiline=True)
    if "tlp" in payload and tlp is not current.tlp:
        # Names the new label has no use for go with the old label, unless they are given again.
        labels = {tlp} | {i.label(tlp) for i in current.indicators}
        if "organizations" not in payload and not any(t.needs_organizations for t in labels):
            organizations = ()
        if "officials" not in payload and not any(t.needs_officials for t in labels):
            officials = ()
    if not p.errors:
        for indicator in current.indicators:
            if (
                indicator.tlp is not None
                and not indicator.tlp.stricter_than(tlp)
                and indicator.tlp is not tlp
            ):
                p.error(
                    "tlp", f"an indicator is held to {indicator.tlp.value}; the bulletin cannot be stricter"
                )
                break
        p.errors += label_problems(tlp, organizations, officials, current.indicators)
    if p.errors:
        raise BulletinValidationError(p.errors)
    return Change(tlp, tuple(organizations), tuple(officials), reason)
