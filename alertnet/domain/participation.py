"""The plan's figures for one school year (July to June), pure: per school, and rolled up by district and
state, what the hub can measure of the statewide plan's metrics. Each figure says what it counts and
where it comes from: recorded alerts and acks (reached, drills) or the registry as it is now
(coordinators, the weekly update)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alertnet.domain.contacts import Official, Role
from alertnet.domain.errors import FieldError, ValidationError
from alertnet.domain.schools import SchoolKey, same_school, school_of

YEAR = re.compile(r"^(\d{4})-(\d{2})$")
FIGURES: dict[str, str] = {
    "reached": "one of the school's officials (as recorded when the alert was sent) acknowledged at least "
    "one alert (any status: Actual, Exercise or Test) sent in the school year [recorded events]",
    "safety_coordinator": "the registry lists an active safety coordinator for the school [registry now]",
    "cybersecurity_coordinator": "the registry lists an active cybersecurity coordinator for the school "
    "[registry now]",
    "two_or_more_drills": "the school participated (acknowledged inside the window) in two or more "
    "notification drills run through the network whose window began in the school year [recorded events]",
    "weekly_update": "at least one active official of the school receives the weekly school safety update "
    "(subscribed, with an email address that has not unsubscribed or failed) [registry and mailing list now]",
}
COUNTED = tuple(FIGURES)


def school_year(text: object, timezone: str) -> tuple[float, float]:
    """[start, end) of a school year "2026-27": 1 July 2026 to 1 July 2027, in `timezone`. Raises
    ValidationError naming school_year."""
    found = YEAR.match(text) if isinstance(text, str) else None
    if found is None or (int(found[1]) + 1) % 100 != int(found[2]) or int(found[1]) < 2000:
        raise ValidationError(
            [FieldError("school_year", f"must be like 2026-27 (July to June); got {text!r}")]
        )
    first = int(found[1])
    zone = ZoneInfo(timezone)
    return (
        datetime(first, 7, 1, tzinfo=zone).timestamp(),
        datetime(first + 1, 7, 1, tzinfo=zone).timestamp(),
    )


def participation(
    year: str,
    *,
    reached: Iterable[SchoolKey],
    targeted: Iterable[SchoolKey],
    drills: Sequence[Iterable[SchoolKey]],
    registry: Iterable[Official],
    digest_readers: frozenset[str],
) -> dict[str, Any]:
    """The report. `reached`/`targeted`: schools of the year's alerts (recorded); `drills`: the schools
    that participated in each of the year's drills; `digest_readers`: ids of officials the weekly update
    goes to now."""
    names: dict[SchoolKey, SchoolKey] = {}
    for key in targeted:
        names.setdefault(same_school(key), (key[0].strip(), key[1].strip()))
    reached_keys = {same_school(k) for k in reached}
    for key in reached:
        names.setdefault(same_school(key), (key[0].strip(), key[1].strip()))
    roles: dict[SchoolKey, set[Role]] = {}
    readers: set[SchoolKey] = set()
    for official in sorted(registry, key=lambda o: o.id):
        found = school_of(official)
        if found is None or not official.active:
            continue
        same = same_school(found)
        names.setdefault(same, found)
        roles.setdefault(same, set()).add(official.role)
        if official.id in digest_readers:
            readers.add(same)
    drill_counts: dict[SchoolKey, int] = {}
    for schools in drills:
        for same in {same_school(k) for k in schools}:
            drill_counts[same] = drill_counts.get(same, 0) + 1
    rows = []
    for same, (district, school) in sorted(names.items()):
        rows.append(
            {
                "district": district,
                "school": school,
                "reached": same in reached_keys,
                "safety_coordinator": Role.SAFETY_COORDINATOR in roles.get(same, set()),
                "cybersecurity_coordinator": Role.CYBERSECURITY_COORDINATOR in roles.get(same, set()),
                "drills_participated": drill_counts.get(same, 0),
                "two_or_more_drills": drill_counts.get(same, 0) >= 2,
                "weekly_update": same in readers,
            }
        )
    by_district: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_district.setdefault(str(row["district"]).casefold(), []).append(row)
    districts = [
        {"district": group[0]["district"], **_rollup(group)} for _, group in sorted(by_district.items())
    ]
    return {
        "school_year": year,
        "drills": len(drills),
        "figures": FIGURES,
        "schools": rows,
        "districts": districts,
        "state": {"districts": len(districts), **_rollup(rows)},
    }


def _rollup(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"schools": len(rows), **{name: sum(1 for r in rows if r[name]) for name in COUNTED}}
