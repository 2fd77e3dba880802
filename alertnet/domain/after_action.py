"""An alert's after-action report, pure: its timeline (created, approved, the times 50, 90 and 100% of
deliveries were confirmed, the first, median and 90th-percentile acknowledgement), per district and
channel what was sent, delivered, failed and acknowledged, failures by reason, and corrections issued.
Computed from recorded events only, so it reads the same every time it is made."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alertnet.domain.acks import Ack
from alertnet.domain.contacts import Official
from alertnet.domain.deliveries import Delivery, DeliveryState

FAILED = frozenset({DeliveryState.FAILED, DeliveryState.PARKED})


def percentile(values: Sequence[float], share: float) -> float | None:
    """The value at `share` (0..1) of the sorted values, interpolated between neighbours (median of an
    even count is the mean of the middle two); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def iso(at: float | None) -> str:
    if at is None:
        return ""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Row:
    """One district on one channel."""

    district: str
    channel: str
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    acknowledged: int = 0
    ack_seconds: list[float] = field(default_factory=list)

    @property
    def median_ack_seconds(self) -> float | None:
        return percentile(self.ack_seconds, 0.5)


@dataclass(frozen=True)
class AfterAction:
    alert: Mapping[str, Any]
    timeline: list[tuple[str, str]]
    rows: list[Row]
    failures: list[tuple[str, int]]
    corrections: list[Mapping[str, Any]]
    recipients: int
    acknowledged: int


def after_action(
    record: Mapping[str, Any],
    sent_at: float,
    deliveries: Mapping[str, Mapping[str, Delivery]],
    acks: Mapping[str, Ack],
    officials: Mapping[str, Official],
    corrections: Sequence[Mapping[str, Any]],
) -> AfterAction:
    """The report of one alert. `deliveries` is by slot ("sms", "voice@2", ...) then official id."""
    rows: dict[tuple[str, str], Row] = {}
    delivered_at: list[float] = []
    reasons: Counter[str] = Counter()
    total = 0
    for slot, by_official in sorted(deliveries.items()):
        channel = slot.split("@")[0]
        for official_id, delivery in sorted(by_official.items()):
            district = officials[official_id].district if official_id in officials else "(not in registry)"
            row = rows.setdefault((district, channel), Row(district, channel))
            row.sent += 1
            total += 1
            if delivery.state is DeliveryState.DELIVERED:
                row.delivered += 1
                delivered_at.append(delivery.updated)
            elif delivery.state in FAILED:
                row.failed += 1
                reasons[f"{channel}: {delivery.reason or delivery.state.value}"] += 1
    ack_delays = []
    for official_id, ack in sorted(acks.items()):
        district = officials[official_id].district if official_id in officials else "(not in registry)"
        row = rows.setdefault((district, ack.channel.value), Row(district, ack.channel.value))
        row.acknowledged += 1
        row.ack_seconds.append(max(0.0, ack.at - sent_at))
        ack_delays.append(max(0.0, ack.at - sent_at))
    delivered_at.sort()

    def share_delivered(share: float) -> str:
        needed = math.ceil(total * share)
        return iso(delivered_at[needed - 1]) if total and len(delivered_at) >= needed else "not reached"

    def after(seconds: float | None) -> str:
        return "none" if seconds is None else f"{iso(sent_at + seconds)} ({seconds:.0f} s after sending)"

    timeline = [("created and signed", iso(sent_at))]
    if record.get("approved_by"):
        timeline.append(("approved by", str(record["approved_by"])))
    timeline += [
        ("first delivery confirmed", iso(delivered_at[0]) if delivered_at else "none"),
        ("50% delivered", share_delivered(0.5)),
        ("90% delivered", share_delivered(0.9)),
        ("100% delivered", share_delivered(1.0)),
        ("first acknowledgement", after(min(ack_delays) if ack_delays else None)),
        ("median acknowledgement", after(percentile(ack_delays, 0.5))),
        ("90th-percentile acknowledgement", after(percentile(ack_delays, 0.9))),
    ]
    ordered = sorted(rows.values(), key=lambda r: (r.district, r.channel))
    recipients = len({official_id for by_official in deliveries.values() for official_id in by_official})
    return AfterAction(
        alert=record["alert"],
        timeline=timeline,
        rows=ordered,
        failures=sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])),
        corrections=list(corrections),
        recipients=recipients,
        acknowledged=len(acks),
    )
