"""The after-action report from recorded events, against figures worked out by hand."""

from __future__ import annotations

from alertnet.content.console import after_action_csv
from alertnet.domain.acks import Ack, AckChannel
from alertnet.domain.after_action import after_action, percentile
from alertnet.domain.contacts import Official, Role
from alertnet.domain.deliveries import Delivery, DeliveryState

SENT = 1_000_000_000.0


def official(oid: str, district: str) -> Official:
    return Official(oid, oid.upper(), Role.PRINCIPAL, "S", district, "C", "R", "+15735550100", None, None,
                    None, frozenset())  # fmt: skip


def test_percentiles_interpolate_and_the_median_of_an_even_count_is_the_middle_mean() -> None:
    assert percentile([], 0.5) is None
    assert percentile([30.0, 10.0, 20.0, 40.0], 0.5) == 25.0
    assert percentile([10.0, 20.0, 30.0], 0.5) == 20.0
    assert percentile([0.0, 10.0], 0.9) == 9.0


def test_the_report_of_one_alert_matches_the_hand_count() -> None:
    people = {o.id: o for o in [official("a", "North"), official("b", "North"), official("c", "South"),
                                official("d", "South")]}  # fmt: skip
    deliveries = {
        "sms": {
            "a": Delivery(DeliveryState.DELIVERED, updated=SENT + 2),
            "b": Delivery(DeliveryState.DELIVERED, updated=SENT + 4),
            "c": Delivery(DeliveryState.FAILED, reason="30003 unreachable", updated=SENT + 3),
            "d": Delivery(DeliveryState.DELIVERED, updated=SENT + 8),
        },
        "voice@2": {"c": Delivery(DeliveryState.PARKED, reason="21211 invalid number", updated=SENT + 60)},
    }
    acks = {
        "a": Ack("X", "a", SENT + 30, AckChannel.SMS),
        "b": Ack("X", "b", SENT + 50, AckChannel.SMS),
        "d": Ack("X", "d", SENT + 100, AckChannel.SMS),
    }
    record = {"alert": {"identifier": "X", "event": "Lockdown"}, "approved_by": "dir-two", "recipients": {}}
    fix = {"identifier": "Y", "msgType": "Cancel", "event": "=Lockdown", "sent": "2001-09-09T01:50:00Z"}
    report = after_action(record, SENT, deliveries, acks, people, [fix])
    timeline = dict(report.timeline)
    assert timeline["approved by"] == "dir-two"
    assert timeline["first delivery confirmed"] == "2001-09-09T01:46:42Z"  # SENT + 2
    assert timeline["50% delivered"] == "2001-09-09T01:46:48Z"  # 5 deliveries: the 3rd (SENT + 8)
    assert timeline["90% delivered"] == "not reached"  # 3 of 5 delivered
    assert timeline["median acknowledgement"].endswith("(50 s after sending)")
    assert timeline["90th-percentile acknowledgement"].endswith("(90 s after sending)")  # 50 + 0.8 * 50
    rows = {(r.district, r.channel): r for r in report.rows}
    north, south = rows[("North", "sms")], rows[("South", "sms")]
    assert (north.sent, north.delivered, north.failed, north.acknowledged) == (2, 2, 0, 2)
    assert north.median_ack_seconds == 40.0  # (30 + 50) / 2
    assert (south.sent, south.delivered, south.failed, south.acknowledged) == (2, 1, 1, 1)
    assert (rows[("South", "voice")].sent, rows[("South", "voice")].failed) == (1, 1)
    assert report.failures == [("sms: 30003 unreachable", 1), ("voice: 21211 invalid number", 1)]
    assert report.recipients == 4 and report.acknowledged == 3
    text = after_action_csv(report)
    assert "'=Lockdown" in text  # formula-safe
    assert after_action_csv(after_action(record, SENT, deliveries, acks, people, [fix])) == text  # same bytes
