"""Drills end to end on the real stack (issue #14, points 4 to 6): a director plans a short notification
drill for two districts, sends its Exercise alert, officials of some schools answer "1" by SMS through the
simulator (one after the window closes); the report (JSON, CSV, HTML) matches the simulator's records and
the recorded acks; the improvement plan is filled in and changed (audited); officials added to the
registry afterwards do not change the report; a second drill of the same type compares with the first;
the participation report covers both."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from alertnet.domain.alerts import parse_datetime
from alertnet.domain.drill_report import median, nearest_rank
from alertnet.store.server import RedisProcess
from tests.conftest import Stack, start_stack, stop_stack
from tests.test_escalation_e2e import slot_of

DB = 22
HUB_NUMBER = "+15735550190"  # the hub's first SMS number (config/alertnet.toml)
WINDOW = 8.0  # seconds: the drill window opens now and closes this much later
HEADER = "id,name,role,school,district,county,region,mobile,voice,email,backup_id,subscriptions"
A, B = "Drill District A", "Drill District B"
ALERT: dict[str, Any] = {
    "severity": "Severe",
    "urgency": "Immediate",
    "certainty": "Observed",
    "event": "Lockdown",
    "headline": "Lockdown drill: this is an exercise",
    "channels": ["sms"],
}


def _row(oid: str, role: str, school: str, district: str, n: int, subscriptions: str = "alerts") -> str:
    # No voice number and no backup: the exercise policy's later steps reach nobody, so what is recorded
    # for the drill is final once its SMS settle.
    fields = [oid, f"Official {oid}", role, school, district, "Boone", "Central", f"+1573630{n:04d}", ""]
    return ",".join([*fields, f"{oid}@drills.example.org", "", subscriptions])


def _rows(extra_school: bool) -> list[str]:
    """District A: schools A1-A4 (A5 too, `extra_school`: added after the first drill), a principal and a
    safety coordinator each, and a superintendent; district B: B1 (with a cybersecurity coordinator) and
    B2. A1's principal receives the weekly update."""
    rows = [_row("sup-a", "superintendent", "", A, 1)]
    for s in range(1, 6 if extra_school else 5):
        rows.append(
            _row(f"a{s}-pr", "principal", f"A{s}", A, 10 * s, "alerts;digest" if s == 1 else "alerts")
        )
        rows.append(_row(f"a{s}-sc", "safety_coordinator", f"A{s}", A, 10 * s + 1))
    for s in (1, 2):
        rows.append(_row(f"b{s}-pr", "principal", f"B{s}", B, 100 + 10 * s))
        rows.append(_row(f"b{s}-sc", "safety_coordinator", f"B{s}", B, 101 + 10 * s))
    rows.append(_row("b1-cy", "cybersecurity_coordinator", "B1", B, 115))
    return rows


def _mobile(oid: str, rows: list[str]) -> str:
    return next(r.split(",")[7] for r in rows if r.startswith(oid + ","))


@pytest.fixture(scope="module")
def hub(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(redis_server, tmp_path_factory.mktemp("drills-data"), db=DB)
    redis.Redis.from_url(stack.env["REDIS_URL"]).flushdb()
    yield stack
    stop_stack(stack)


def _import(hub: Stack, path: Path, extra_school: bool) -> None:
    path.write_text(HEADER + "\n" + "\n".join(_rows(extra_school)) + "\n")
    assert hub.import_contacts(path).returncode == 0


@pytest.fixture(scope="module")
def tokens(hub: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    _import(hub, tmp_path_factory.mktemp("drills-registry") / "registry.csv", extra_school=False)
    return {role: hub.add_sender(f"drills-{role}", role) for role in ("director", "viewer", "editor")}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _plan(hub: Stack, director: str, name: str) -> dict[str, Any]:
    now = time.time()
    body = {
        "name": name,
        "type": "lockdown",
        "window": {"start": _iso(now - 1), "end": _iso(now + WINDOW)},
        "audience": {"districts": [A, B]},
        "objectives": ["Every school acknowledges the lockdown notification", "Find numbers that fail"],
    }
    planned = requests.post(f"{hub.api}/v1/drills", json=body, headers=_auth(director), timeout=30)
    assert planned.status_code == 201, planned.text
    result: dict[str, Any] = planned.json()
    return result


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


def _send(hub: Stack, director: str, drill_id: str, expected_sms: int) -> str:
    since = time.time()
    sent = requests.post(
        f"{hub.api}/v1/drills/{drill_id}/alerts", json=ALERT, headers=_auth(director), timeout=60
    )
    assert sent.status_code == 202, sent.text
    assert sent.json()["status"] == "Exercise"
    assert len(hub.settled_sms(since, expected_sms, settle=0.5)) == expected_sms
    hub.wait_settled(director, sent.json()["id"])
    return str(sent.json()["id"])


def _reply(hub: Stack, mobile: str) -> None:
    answer = requests.post(
        f"{hub.sim}/sim/reply", json={"from": mobile, "body": "1", "to": HUB_NUMBER}, timeout=10
    ).json()
    assert "Acknowledged" in answer["body"], answer


def _report(hub: Stack, token: str, drill_id: str, fmt: str = "json") -> requests.Response:
    return requests.get(
        f"{hub.api}/v1/drills/{drill_id}/report", params={"format": fmt}, headers=_auth(token), timeout=30
    )


def _wait_closed(drill: dict[str, Any]) -> None:
    while time.time() <= drill["end"] + 0.2:
        time.sleep(0.1)


def _first_acks(hub: Stack, token: str, alert_id: str) -> dict[str, float]:
    """School -> seconds from sending to its first ack, from the alert's recorded acks."""
    sent = parse_datetime(hub.status(token, alert_id)["alert"]["sent"]).timestamp()
    acks = requests.get(f"{hub.api}/v1/alerts/{alert_id}/acks", headers=_auth(token), timeout=30).json()
    first: dict[str, float] = {}
    for ack in acks["acknowledged"]:
        school = ack["official_id"].split("-")[0].upper()
        first[school] = min(first.get(school, 1e9), ack["at"] - sent)
    return first


def test_a_drill_report_improvement_plan_and_participation(
    hub: Stack, tokens: dict[str, str], tmp_path: Path
) -> None:
    director, viewer, editor = tokens["director"], tokens["viewer"], tokens["editor"]
    rows = _rows(extra_school=False)
    drill = _plan(hub, director, "Fall lockdown drill")
    alert_id = _send(hub, director, drill["id"], expected_sms=len(rows))
    for oid in ("a1-pr", "a2-sc", "a3-pr", "a3-sc", "b1-sc"):
        _reply(hub, _mobile(oid, rows))
    provisional = _report(hub, viewer, drill["id"]).json()
    assert provisional["provisional"] is True
    _wait_closed(drill)
    _reply(hub, _mobile("a4-pr", rows))  # after the window: recorded, but not participation
    report = _report(hub, viewer, drill["id"]).json()
    assert report["provisional"] is False
    assert report["drill"]["alerts"][0]["id"] == alert_id

    participated = {s["school"]: s["participated"] for s in report["schools"]}
    assert participated == {"A1": True, "A2": True, "A3": True, "A4": False, "B1": True, "B2": False}
    first = _first_acks(hub, director, alert_id)
    assert {s["school"]: s["first_ack_seconds"] for s in report["schools"] if s["participated"]} == {
        school: round(first[school], 3) for school in ("A1", "A2", "A3", "B1")
    }
    # Per district, against the simulator: every SMS it received for the alert, by the district's numbers.
    received = [m for m in hub.sim_messages("sms") if slot_of(m, alert_id) == "sms"]
    assert len(received) == len(rows)
    numbers = {r.split(",")[7]: r.split(",")[4] for r in rows}
    by_district = {d: sum(1 for m in received if numbers.get(m.get("to", "")) == d) for d in (A, B)}
    district_a, district_b = report["districts"]
    assert (district_a["district"], district_a["sent"], district_a["delivered"]) == (A, by_district[A], 9)
    assert (district_b["sent"], district_b["delivered"], district_b["failed"]) == (by_district[B], 5, 0)
    assert (district_a["acknowledged"], district_b["acknowledged"]) == (4, 1)
    a_times = [round(first[s], 3) for s in ("A1", "A2", "A3")]
    assert district_a["median_ack_seconds"] == round(median(a_times) or 0, 3)
    assert district_a["p90_ack_seconds"] == nearest_rank(a_times, 0.9)
    slowest = max(("A1", "A2", "A3"), key=lambda s: first[s])
    assert district_a["slowest_school"]["school"] == slowest
    assert report["state"]["schools_targeted"] == 6 and report["state"]["schools_participating"] == 4
    assert report["state"]["percent_participating"] == 66.7
    assert report["state"]["districts_with_none"] == [] and report["change"] is None

    csv_first = _report(hub, director, drill["id"], "csv")
    assert csv_first.headers["Content-Type"].startswith("text/csv")
    assert _report(hub, director, drill["id"], "csv").content == csv_first.content
    html = _report(hub, director, drill["id"], "html")
    assert html.headers["Content-Type"].startswith("text/html")
    assert "Exercise overview" in html.text and "Improvement plan" in html.text
    assert _report(hub, editor, drill["id"]).status_code == 403

    # The improvement plan: directors add and change rows, each change audited; others are refused.
    plan_url = f"{hub.api}/v1/drills/{drill['id']}/improvements"
    item = {"issue": "B2 never answered", "corrective_action": "Verify B2's numbers", "owner": "District B",
            "due": "2027-01-15"}  # fmt: skip
    added = requests.post(plan_url, json=item, headers=_auth(director), timeout=30)
    assert added.status_code == 201 and added.json()["status"] == "open", added.text
    assert requests.post(plan_url, json=item, headers=_auth(viewer), timeout=30).status_code == 403
    changed = requests.patch(
        f"{plan_url}/{added.json()['n']}", json={"status": "in_progress"}, headers=_auth(director), timeout=30
    )
    assert changed.status_code == 200 and changed.json()["status"] == "in_progress", changed.text
    bad = requests.patch(f"{plan_url}/1", json={"due": "soon"}, headers=_auth(director), timeout=30)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "due"
    edits = [e for e in hub.audit_entries() if e["action"] == "edit_improvement_plan"]
    assert [(e["actor"], e["outcome"]) for e in edits] == [
        ("drills-director", "accepted"),
        ("drills-viewer", "forbidden"),
        ("drills-director", "accepted"),
    ]
    assert json.loads(edits[2]["detail"])["before"] == {"status": "open"}
    assert "Verify B2&#39;s numbers" in _report(hub, viewer, drill["id"], "html").text

    # Officials added to the registry after the drill change nothing in its report.
    csv_before = _report(hub, director, drill["id"], "csv").content
    _import(hub, tmp_path / "registry.csv", extra_school=True)
    assert _report(hub, director, drill["id"], "csv").content == csv_before

    # A second drill of the same type compares with the first.
    rows = _rows(extra_school=True)
    second = _plan(hub, director, "Winter lockdown drill")
    _send(hub, director, second["id"], expected_sms=len(rows))
    for oid in ("a1-sc", "a2-pr", "b2-pr"):
        _reply(hub, _mobile(oid, rows))
    _wait_closed(second)
    again = _report(hub, director, second["id"]).json()
    assert again["state"]["schools_targeted"] == 7 and again["state"]["schools_participating"] == 3
    assert again["change"]["previous_drill"] == drill["id"]
    assert again["change"]["schools_participating"] == -1
    assert again["change"]["percent_participating"] == round(42.9 - 66.7, 3)

    # The plan's figures over both drills.
    now = datetime.now(UTC)
    first_year = now.year if now.month >= 7 else now.year - 1
    year = f"{first_year}-{(first_year + 1) % 100:02d}"
    url = f"{hub.api}/v1/reports/participation"
    figures = requests.get(url, params={"school_year": year}, headers=_auth(viewer), timeout=30).json()
    assert figures["drills"] == 2
    assert figures["state"] == {
        "districts": 2,
        "schools": 7,
        "reached": 6,  # every school but A5 acknowledged some alert (A4 late, B2 in the second drill)
        "safety_coordinator": 7,
        "cybersecurity_coordinator": 1,
        "two_or_more_drills": 2,  # A1 and A2
        "weekly_update": 1,
    }
    both = {s["school"] for s in figures["schools"] if s["two_or_more_drills"]}
    assert both == {"A1", "A2"}
    assert all(text for text in figures["figures"].values())
    as_csv = requests.get(
        url, params={"school_year": year, "format": "csv"}, headers=_auth(director), timeout=30
    )
    assert as_csv.text.splitlines()[-1] == "state,,,7,6,7,1,,2,1"
    refused = requests.get(url, params={"school_year": year}, headers=_auth(editor), timeout=30)
    assert refused.status_code == 403
    wrong = requests.get(url, params={"school_year": "2026"}, headers=_auth(director), timeout=30)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "school_year"
