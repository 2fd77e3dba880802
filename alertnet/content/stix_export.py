"""A cyber bulletin as analysts' tools read it: a STIX 2.1 bundle (built with the `stix2` library) and an
indicators CSV.

Every object but the marking definitions carries ``object_marking_refs`` to its TLP 2.0 marking: the
report and the producer's identity the bulletin's label, each indicator its own (a stricter one where
the publisher gave it). The five marking definitions of the OASIS TLP 2.0 extension ship with the package
(`alertnet/data/tlp2_markings.json`): nothing is fetched at run time. Ids are uuid5 over the bulletin, so
exporting twice gives the same objects.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Any

import stix2

from alertnet.content.reports import csv_cell
from alertnet.domain.bulletins import Bulletin, Indicator, IndicatorType
from alertnet.domain.tlp import Tlp

PRODUCER = "Missouri School Safety Alert Network"
TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
NAMESPACE = uuid.UUID("3b0c6a52-6f1e-5d44-9a53-2f7d1b8e4c10")
CSV_COLUMNS = ("type", "value", "tlp", "first_seen", "last_seen", "confidence")


@cache
def marking_definitions() -> dict[Tlp, dict[str, Any]]:
    """The OASIS TLP 2.0 marking-definition objects, by label."""
    raw = json.loads((files("alertnet") / "data" / "tlp2_markings.json").read_text(encoding="utf-8"))
    return {Tlp(d["name"]): d for d in raw}


def _stix_time(seconds: float) -> str:
    at = datetime.fromtimestamp(seconds, UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def stix_pattern(indicator: Indicator) -> str:
    """The STIX patterning expression that matches the indicator's value."""
    value = _quoted(indicator.value)
    if indicator.type is IndicatorType.SHA256:
        return f"[file:hashes.'SHA-256' = {value}]"
    if indicator.type is IndicatorType.SHA1:
        return f"[file:hashes.'SHA-1' = {value}]"
    if indicator.type is IndicatorType.MD5:
        return f"[file:hashes.MD5 = {value}]"
    return f"[{indicator.type.value}:value = {value}]"


def _id(kind: str, *parts: str) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, '|'.join(parts))}"


def _chosen(bulletin: Bulletin, shown: Sequence[int] | None) -> list[Indicator]:
    if shown is None:
        return list(bulletin.indicators)
    return [bulletin.indicators[n] for n in sorted(set(shown)) if 0 <= n < len(bulletin.indicators)]


def stix_bundle(
    bulletin: Bulletin, *, shown: Sequence[int] | None = None, producer: str = PRODUCER
) -> dict[str, Any]:
    """The bulletin as a STIX 2.1 bundle (a JSON-ready dict): identity, indicators, report, markings.
    `shown` limits the indicators to those positions (an official's own download)."""
    markings = marking_definitions()
    created = _stix_time(bulletin.created)
    label = markings[bulletin.tlp]["id"]
    identity = stix2.v21.Identity(
        id=_id("identity", producer),
        created="2026-01-01T00:00:00.000Z",
        modified="2026-01-01T00:00:00.000Z",
        name=producer,
        identity_class="organization",
        sectors=["education", "government-public-services"],
        object_marking_refs=[markings[Tlp.CLEAR]["id"]],
    )
    used = {Tlp.CLEAR, bulletin.tlp}
    indicators = []
    for indicator in _chosen(bulletin, shown):
        own = indicator.label(bulletin.tlp)
        used.add(own)
        valid_from = indicator.first_seen or created
        extra: dict[str, Any] = {}
        if indicator.last_seen and indicator.last_seen > valid_from:
            extra["valid_until"] = indicator.last_seen
        if indicator.confidence is not None:
            extra["confidence"] = indicator.confidence
        indicators.append(
            stix2.v21.Indicator(
                id=_id("indicator", bulletin.id, indicator.type.value, indicator.value),
                created=created,
                modified=created,
                created_by_ref=identity.id,
                name=f"{indicator.type.value}: {indicator.value}",
                indicator_types=["malicious-activity"],
                pattern=stix_pattern(indicator),
                pattern_type="stix",
                valid_from=valid_from,
                object_marking_refs=[markings[own]["id"]],
                **extra,
            )
        )
    references = [{"source_name": "reference", "url": url} for url in bulletin.references]
    report = stix2.v21.Report(
        id=_id("report", bulletin.id),
        created=created,
        modified=created,
        created_by_ref=identity.id,
        name=bulletin.title,
        description=bulletin.summary,
        published=created,
        report_types=["threat-report"],
        labels=[f"severity:{bulletin.severity.value}"],
        object_refs=[i.id for i in indicators] or [identity.id],
        object_marking_refs=[label],
        **({"external_references": references} if references else {}),
    )
    definitions = [stix2.v21.MarkingDefinition(**markings[t]) for t in sorted(used, key=lambda t: t.rank)]
    bundle = stix2.v21.Bundle(
        id=_id("bundle", bulletin.id, ",".join(str(n) for n in (shown or ()))),
        objects=[*definitions, identity, *indicators, report],
    )
    result: dict[str, Any] = json.loads(bundle.serialize())
    return result


def indicators_csv(bulletin: Bulletin, *, shown: Sequence[int] | None = None) -> str:
    """One row per indicator with its label; every text cell safe from spreadsheet formulas."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for indicator in _chosen(bulletin, shown):
        confidence = "" if indicator.confidence is None else str(indicator.confidence)
        cells = [
            indicator.type.value,
            indicator.value,
            indicator.label(bulletin.tlp).value,
            indicator.first_seen,
            indicator.last_seen,
        ]
        writer.writerow([*map(csv_cell, cells), confidence])
    return out.getvalue()
