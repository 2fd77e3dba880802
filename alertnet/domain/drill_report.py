"""A drill's report, pure, from what was recorded when its alerts went out: each recipient's (district,
school) as stored with the alert, the deliveries with their states and failure reasons, the acks with
their times. Never from the registry as it is now, so officials added later change nothing, and the same
records give the same report (and byte-identical CSV) every time.

Definitions:

* A school *participated* when one of its officials (as recorded at send time) acknowledged one of the
  drill's alerts inside the drill's window. Its *time to first acknowledgement* is the least
  (ack time - that alert's sent time) over those acks.
* Per district, *sent* / *delivered* / *failed* count deliveries (every channel and step); *failed by
  reason* is "channel: reason"; *acknowledged* counts the district's officials who acknowledged inside
  the window. The median and 90th percentile are over the participating schools' times to first
  acknowledgement: the median of an even count is the mean of the two middle values; the 90th percentile
  is the nearest-rank one (the ceil(0.9 n)-th smallest value).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alertnet.domain.acks import Ack
from alertnet.domain.deliveries import Delivery, DeliveryState
from alertnet.domain.schools import SchoolKey, same_school

FAILED = frozenset({DeliveryState.FAILED, DeliveryState.PARKED})
UNRECORDED = "(not recorded)"


@dataclass(frozen=True)
class DrillAlert:
    """One of the drill's alerts as recorded: `schools` official id -> (district, school) and `districts`
    official id -> district (everyone it first went to, schoolless officials too), both at send time;
    `deliveries` by slot ("sms", "voice@2", ...) then official id."""

    alert_id: str
    sent_at: float
    schools: Mapping[str, SchoolKey]
    districts: Mapping[str, str]
    deliveries: Mapping[str, Mapping[str, Delivery]]
    acks: Mapping[str, Ack]


def median(values: Sequence[float]) -> float | None:
    """The middle value; of an even count, the mean of the two middle values; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def nearest_rank(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile: the ceil(share * n)-th smallest value; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass
class _School:
    district: str
    school: str
    first_ack: float | None = None


@dataclass
class _District:
    name: str
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    acknowledged: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


def _district_of(alert: DrillAlert, official_id: str) -> str:
    if official_id in alert.schools:
        return alert.schools[official_id][0]
    return alert.districts.get(official_id, UNRECORDED)


def drill_report(
    drill: Mapping[str, Any],
    alerts: Sequence[DrillAlert],
    *,
    now: float,
    previous: Mapping[str, Any] | None = None,
    improvements: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The report of `drill` (its record) from its recorded `alerts`. `previous`: the report of the
    previous drill of the same type (its `state` figures are compared); `improvements`: the improvement
    plan's rows. `now` only decides whether the report is still provisional (the window is open)."""
    start, end = float(drill["start"]), float(drill["end"])
    schools: dict[SchoolKey, _School] = {}
    districts: dict[str, _District] = {}

    def district(name: str) -> _District:
        return districts.setdefault(name.strip().casefold(), _District(name.strip()))

    for alert in sorted(alerts, key=lambda a: (a.sent_at, a.alert_id)):
        for key in sorted(alert.schools.values()):
            schools.setdefault(same_school(key), _School(key[0].strip(), key[1].strip()))
            district(key[0])
        for slot, by_official in sorted(alert.deliveries.items()):
            channel = slot.split("@")[0]
            for official_id, delivery in sorted(by_official.items()):
                row = district(_district_of(alert, official_id))
                row.sent += 1
                if delivery.state is DeliveryState.DELIVERED:
                    row.delivered += 1
                elif delivery.state in FAILED:
                    row.failed += 1
                    row.reasons[f"{channel}: {delivery.reason or delivery.state.value}"] += 1
        for official_id, ack in sorted(alert.acks.items()):
            if not start <= ack.at <= end:
                continue
            district(_district_of(alert, official_id)).acknowledged += 1
            recorded = alert.schools.get(official_id)
            if recorded is None:
                continue
            school = schools[same_school(recorded)]
            took = max(0.0, ack.at - alert.sent_at)
            school.first_ack = took if school.first_ack is None else min(school.first_ack, took)
    school_rows = [
        {
            "district": s.district,
            "school": s.school,
            "participated": s.first_ack is not None,
            "first_ack_seconds": _seconds(s.first_ack),
        }
        for s in sorted(schools.values(), key=lambda s: (s.district.casefold(), s.school.casefold()))
    ]
    district_rows = []
    for folded, row in sorted(districts.items()):
        mine = [s for k, s in schools.items() if k[0] == folded]
        times = [s.first_ack for s in mine if s.first_ack is not None]
        slowest = max(
            (s for s in mine if s.first_ack is not None),
            key=lambda s: (s.first_ack or 0.0, s.school.casefold()),
            default=None,
        )
        district_rows.append(
            {
                "district": row.name,
                "sent": row.sent,
                "delivered": row.delivered,
                "failed": row.failed,
                "failed_by_reason": dict(sorted(row.reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
                "acknowledged": row.acknowledged,
                "schools_targeted": len(mine),
                "schools_participating": len(times),
                "median_ack_seconds": _seconds(median(times)),
                "p90_ack_seconds": _seconds(nearest_rank(times, 0.9)),
                "slowest_school": None
                if slowest is None
                else {"school": slowest.school, "first_ack_seconds": _seconds(slowest.first_ack)},
            }
        )
    times = [s.first_ack for s in schools.values() if s.first_ack is not None]
    targeted = len(schools)
    state = {
        "schools_targeted": targeted,
        "schools_participating": len(times),
        "percent_participating": round(100 * len(times) / targeted, 1) if targeted else None,
        "districts_targeted": sum(1 for d in district_rows if d["schools_targeted"]),
        "districts_with_none": [
            d["district"] for d in district_rows if d["schools_targeted"] and not d["schools_participating"]
        ],
        "median_ack_seconds": _seconds(median(times)),
        "p90_ack_seconds": _seconds(nearest_rank(times, 0.9)),
        "sent": sum(d.sent for d in districts.values()),
        "delivered": sum(d.delivered for d in districts.values()),
        "failed": sum(d.failed for d in districts.values()),
        "acknowledged": sum(d.acknowledged for d in districts.values()),
    }
    return {
        "drill": {
            "id": drill["id"],
            "name": drill["name"],
            "type": drill["type"],
            "window": {"start": iso(start), "end": iso(end)},
            "objectives": list(drill["objectives"]),
            "planned_by": drill.get("created_by", ""),
            "alerts": [{"id": a.alert_id, "sent": iso(a.sent_at)} for a in alerts],
        },
        "provisional": now <= end,
        "schools": school_rows,
        "districts": district_rows,
        "state": state,
        "change": _change(state, previous),
        "improvements": [dict(i) for i in improvements],
        "definitions": DEFINITIONS,
    }


DEFINITIONS = {
    "participated": "one of the school's officials (as recorded when the alert was sent) acknowledged "
    "inside the drill's window",
    "first_ack_seconds": "seconds from the alert's sending to the school's first acknowledgement",
    "sent": "deliveries (messages, every channel and step)",
    "acknowledged": "officials who acknowledged inside the drill's window",
    "median_ack_seconds": "median of the participating schools' first_ack_seconds (of an even count, the "
    "mean of the two middle values)",
    "p90_ack_seconds": "nearest-rank 90th percentile of the participating schools' first_ack_seconds",
}


def _change(state: Mapping[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """This drill's state figures against the previous drill of the same type (None: no such drill)."""
    if previous is None:
        return None
    before = previous["state"]

    def delta(name: str) -> float | None:
        if state[name] is None or before[name] is None:
            return None
        return round(float(state[name]) - float(before[name]), 3)

    return {
        "previous_drill": previous["drill"]["id"],
        "previous_name": previous["drill"]["name"],
        **{
            name: delta(name)
            for name in (
                "schools_targeted",
                "schools_participating",
                "percent_participating",
                "median_ack_seconds",
                "p90_ack_seconds",
            )
        },
    }
