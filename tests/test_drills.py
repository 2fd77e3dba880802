"""A drill's report from a hand-built fixture of recorded events, against figures computed by hand
(issue #14, points 4 to 6): per school, per district and for the state, including a median of an even
count, the nearest-rank 90th percentile, acks outside the window, two spellings of one school, the change
since the previous drill; byte-identical CSV on regeneration; the plan's figures for a school year."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from alertnet.content.drill_reports import drill_csv, drill_html, participation_csv
from alertnet.domain.acks import Ack, AckChannel
from alertnet.domain.contacts import Official, Role, Subscription
from alertnet.domain.deliveries import Delivery, DeliveryState
from alertnet.domain.drill_report import DrillAlert, drill_report, median, nearest_rank
from alertnet.domain.drills import (
    DrillValidationError,
    drill_alert_payload,
    parse_drill_request,
    parse_improvement,
)
from alertnet.domain.errors import ValidationError
from alertnet.domain.participation import participation, school_year

START, END, SENT = 1_000_000.0, 1_002_000.0, 1_000_100.0
DRILL: dict[str, Any] = {
    "id": "drill-00000000000000aa",
    "name": "Fall lockdown drill",
    "type": "lockdown",
    "start": START,
    "end": END,
    "start_iso": "x",
    "end_iso": "y",
    "audience": {"statewide": True},
    "objectives": ["Every school acknowledges within 2 minutes", '=HYPERLINK("x")'],
    "created_by": "director-1",
}
# official id -> (district, school) as recorded when the alert was sent
SCHOOLS = {
    "n1a": ("North", "N1"),
    "n1b": ("North", "N1"),
    "n1c": ("north", " n1 "),  # the same school, spelled otherwise
    "n2a": ("North", "N2"),
    "n3a": ("North", "N3"),
    "n4a": ("North", "N4"),
    "n5a": ("North", "N5"),
    "s1a": ("South", "S1"),
    "s2a": ("South", "=S2"),  # a formula, neutralised in the CSV
    "e1a": ("East", "E1"),
}
DISTRICTS = {**{i: d for i, (d, _) in SCHOOLS.items()}, "sup-n": "North"}
# seconds after sending of each ack; n5a's is after the window ends, so it does not count
ACK_AFTER = {"n1a": 30, "n1b": 10, "n2a": 50, "n3a": 120, "n4a": 90, "n5a": 2000, "s1a": 40, "sup-n": 60}
FAILED_SMS = {"s2a": "30003", "e1a": "30003"}


def _fixture(order: int = 1) -> list[DrillAlert]:
    sms = {
        i: Delivery(DeliveryState.FAILED, reason=FAILED_SMS[i])
        if i in FAILED_SMS
        else Delivery(DeliveryState.DELIVERED, updated=SENT + 5)
        for i in sorted(DISTRICTS, reverse=order < 0)
    }
    deliveries = {"sms": sms, "email": {"n1a": Delivery(DeliveryState.FAILED, reason="bounce")}}
    acks = {
        i: Ack("a1", i, SENT + after, AckChannel.SMS)
        for i, after in sorted(ACK_AFTER.items(), reverse=order < 0)
    }
    return [DrillAlert("a1", SENT, dict(SCHOOLS), DISTRICTS, deliveries, acks)]


PREVIOUS = {
    "drill": {"id": "drill-00000000000000a0", "name": "Spring lockdown drill"},
    "state": {
        "schools_targeted": 6,
        "schools_participating": 3,
        "percent_participating": 50.0,
        "median_ack_seconds": 60.0,
        "p90_ack_seconds": 100.0,
    },
}


def test_median_of_an_even_count_and_the_nearest_rank_percentile() -> None:
    assert median([120, 10, 90, 50]) == 70  # (50 + 90) / 2
    assert median([3, 1, 2]) == 2
    assert median([]) is None
    assert nearest_rank([10, 50, 90, 120], 0.9) == 120  # ceil(3.6) = 4th
    assert nearest_rank(list(range(1, 11)), 0.9) == 9  # ceil(9.0) = 9th
    assert nearest_rank([40], 0.9) == 40


def test_the_report_matches_the_hand_computed_figures() -> None:
    report = drill_report(DRILL, _fixture(), now=END + 1, previous=PREVIOUS)
    assert report["provisional"] is False
    assert report["schools"] == [
        {"district": "East", "school": "E1", "participated": False, "first_ack_seconds": None},
        {"district": "North", "school": "N1", "participated": True, "first_ack_seconds": 10.0},
        {"district": "North", "school": "N2", "participated": True, "first_ack_seconds": 50.0},
        {"district": "North", "school": "N3", "participated": True, "first_ack_seconds": 120.0},
        {"district": "North", "school": "N4", "participated": True, "first_ack_seconds": 90.0},
        {"district": "North", "school": "N5", "participated": False, "first_ack_seconds": None},
        {"district": "South", "school": "=S2", "participated": False, "first_ack_seconds": None},
        {"district": "South", "school": "S1", "participated": True, "first_ack_seconds": 40.0},
    ]
    east, north, south = report["districts"]
    assert north == {
        "district": "North",
        "sent": 9,  # 8 officials by SMS (sup-n and n1c too), n1a's email
        "delivered": 8,
        "failed": 1,
        "failed_by_reason": {"email: bounce": 1},
        "acknowledged": 6,  # n1a, n1b, n2a, n3a, n4a, sup-n (n5a's ack came after the window)
        "schools_targeted": 5,
        "schools_participating": 4,
        "median_ack_seconds": 70.0,  # of 10, 50, 90, 120: (50 + 90) / 2
        "p90_ack_seconds": 120.0,
        "slowest_school": {"school": "N3", "first_ack_seconds": 120.0},
    }
    assert south == {
        "district": "South",
        "sent": 2,
        "delivered": 1,
        "failed": 1,
        "failed_by_reason": {"sms: 30003": 1},
        "acknowledged": 1,
        "schools_targeted": 2,
        "schools_participating": 1,
        "median_ack_seconds": 40.0,
        "p90_ack_seconds": 40.0,
        "slowest_school": {"school": "S1", "first_ack_seconds": 40.0},
    }
    assert east["schools_participating"] == 0 and east["slowest_school"] is None
    assert east["median_ack_seconds"] is None and east["failed_by_reason"] == {"sms: 30003": 1}
    assert report["state"] == {
        "schools_targeted": 8,
        "schools_participating": 5,
        "percent_participating": 62.5,
        "districts_targeted": 3,
        "districts_with_none": ["East"],
        "median_ack_seconds": 50.0,  # of 10, 40, 50, 90, 120
        "p90_ack_seconds": 120.0,  # ceil(4.5) = 5th
        "sent": 12,
        "delivered": 9,
        "failed": 3,
        "acknowledged": 7,
    }
    assert report["change"] == {
        "previous_drill": "drill-00000000000000a0",
        "previous_name": "Spring lockdown drill",
        "schools_targeted": 2.0,
        "schools_participating": 2.0,
        "percent_participating": 12.5,
        "median_ack_seconds": -10.0,
        "p90_ack_seconds": 20.0,
    }


def test_a_report_while_the_window_is_open_is_provisional() -> None:
    assert drill_report(DRILL, _fixture(), now=END - 1)["provisional"] is True


def test_regenerating_gives_byte_identical_csv_with_formulas_neutralised() -> None:
    first = drill_csv(drill_report(DRILL, _fixture(1), now=END + 1, previous=PREVIOUS))
    again = drill_csv(drill_report(DRILL, _fixture(-1), now=END + 500, previous=PREVIOUS))
    assert first.encode() == again.encode()
    rows = list(csv.DictReader(io.StringIO(first)))
    assert [r["level"] for r in rows] == ["school"] * 8 + ["district"] * 3 + ["state"]
    assert rows[6]["school"] == "'=S2"
    north = rows[9]
    assert (north["median_ack_seconds"], north["p90_ack_seconds"], north["slowest_school"]) == (
        "70",
        "120",
        "N3",
    )
    assert rows[-1]["percent_participating"] == "62.5" and rows[-1]["districts_with_none"] == "East"


def test_the_html_has_the_shape_of_an_hseep_after_action_report() -> None:
    plan = [{"n": 1, "issue": "East never answered", "corrective_action": "Fix numbers", "owner": "<b>R</b>",
             "due": "2026-12-01", "status": "open"}]  # fmt: skip
    html = drill_html(drill_report(DRILL, _fixture(), now=END + 1, improvements=plan))
    for heading in ("Exercise overview", "Analysis of objectives", "Improvement plan", "Corrective action"):
        assert heading in html
    assert "Objective 2: =HYPERLINK(&#34;x&#34;)" in html and "&lt;b&gt;R&lt;/b&gt;" in html
    assert "62.5%" in html and "70.0 s" in html


def test_a_drill_request_is_checked_field_by_field() -> None:
    now = START - 10
    body = {
        "name": "Fall lockdown drill",
        "type": "lockdown",
        "window": {"start": "1970-01-12T13:46:40Z", "end": "1970-01-12T14:20:00+00:00"},
        "audience": {"districts": ["North"]},
        "objectives": ["Acknowledge"],
    }
    parsed = parse_drill_request(body, now=now)
    assert (parsed["start"], parsed["end"]) == (START, END)
    with pytest.raises(DrillValidationError) as error:
        parse_drill_request({**body, "type": "party", "window": {"start": "soon"}, "x": 1}, now=now)
    fields = {e.field for e in error.value.errors}
    assert {"type", "window.start", "window.end", "x"} <= fields
    with pytest.raises(DrillValidationError) as error:
        parse_drill_request({**body, "audience": {"planets": ["Mars"]}}, now=now)
    assert "audience.planets" in {e.field for e in error.value.errors}
    drill = {**DRILL, "start_iso": "s", "end_iso": "e"}
    assert drill_alert_payload({"event": "Drill"}, drill, START + 1)["status"] == "Exercise"
    with pytest.raises(DrillValidationError) as error:
        drill_alert_payload({"status": "Actual", "msgType": "Cancel"}, drill, END + 1)
    assert [e.field for e in error.value.errors] == ["status", "msgType", "drill_id"]
    row = {"issue": "i", "corrective_action": "c", "owner": "o", "due": "2027-01-31"}
    assert parse_improvement(row, partial=False)["status"] == "open"
    with pytest.raises(DrillValidationError) as error:
        parse_improvement({"due": "tomorrow", "status": "maybe"}, partial=True)
    assert [e.field for e in error.value.errors] == ["due", "status"]


def _official(oid: str, role: Role, school: str, district: str = "North", digest: bool = False) -> Official:
    subscriptions = frozenset({Subscription.ALERTS, *([Subscription.DIGEST] if digest else [])})
    return Official(
        id=oid, name=oid, role=role, school=school, district=district, county="", region="",
        mobile=None, voice=None, email=f"{oid}@example.org", backup_id=None, subscriptions=subscriptions,
    )  # fmt: skip


def test_the_plans_figures_over_a_school_year() -> None:
    low, high = school_year("2026-27", "America/Chicago")
    assert high - low == 365 * 86400
    with pytest.raises(ValidationError):
        school_year("2026-28", "America/Chicago")
    registry = [
        _official("p1", Role.SAFETY_COORDINATOR, "N1", digest=True),
        _official("p2", Role.CYBERSECURITY_COORDINATOR, "N1"),
        _official("p3", Role.PRINCIPAL, "N2", digest=True),
        _official("sup", Role.SUPERINTENDENT, "N3", digest=True),  # counts for no school
    ]
    report = participation(
        "2026-27",
        reached=[("North", "N1"), ("South", "S1")],
        targeted=[("North", "N1"), ("North", "N2"), ("South", "S1")],
        drills=[[("North", "N1"), ("South", "S1")], [("north", "n1")]],
        registry=registry,
        digest_readers=frozenset({"p1", "sup"}),
    )
    n1, n2, s1 = report["schools"]
    assert n1 == {
        "district": "North", "school": "N1", "reached": True, "safety_coordinator": True,
        "cybersecurity_coordinator": True, "drills_participated": 2, "two_or_more_drills": True,
        "weekly_update": True,
    }  # fmt: skip
    assert (n2["reached"], n2["weekly_update"], s1["drills_participated"]) == (False, False, 1)
    assert report["state"] == {
        "districts": 2, "schools": 3, "reached": 2, "safety_coordinator": 1, "cybersecurity_coordinator": 1,
        "two_or_more_drills": 1, "weekly_update": 1,
    }  # fmt: skip
    assert set(report["figures"]) == {
        "reached", "safety_coordinator", "cybersecurity_coordinator", "two_or_more_drills", "weekly_update",
    }  # fmt: skip
    assert "[registry now]" in report["figures"]["safety_coordinator"]
    assert participation_csv(report).splitlines()[-1] == "state,,,3,2,1,1,,1,1"
