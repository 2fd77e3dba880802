"""Acknowledgements and escalation end to end, on a compressed clock (issue: acks and escalation).

100 officials receive an Extreme alert; 30 acknowledge by SMS reply, 20 by pressing 1, 20 on the email
page, 30 do not answer. The 30 are escalated as config/escalation.toml says (voice again, then their
backups, then their superintendents); the 70 get nothing after their ack; the scheduler is killed and
restarted mid-way (two of them after that); a Cancel stops the rest; forged webhooks are refused.
"""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import redis
import requests

from alertnet.domain.alert_request import example_alert_request
from alertnet.domain.alerts import parse_datetime
from alertnet.domain.escalation import choose_policy, parse_policies, schedule
from alertnet.settings import REPO_ROOT, SIM_AUTH_TOKEN
from alertnet.store import keys as k
from tests.conftest import Stack, start_stack, stop_stack

SCALE = 0.04  # the policy's minutes become seconds: voice 4.8 s, backups 12 s, superintendents 24 s, ...
AUDIENCE_ROLES = ["principal", "safety_coordinator", "sro", "cybersecurity_coordinator"]
# An Extreme Actual alert (the "extreme" policy) to the 100 audience officials of `build_registry`. Not a
# lockdown: those have their own policy, which stops per school (tests/test_schools_e2e.py).
EXTREME_TO_AUDIENCE: dict[str, Any] = {
    **example_alert_request(),
    "event": "Armed intruder",
    "headline": "Lockdown: intruder reported",
    "instruction": "Lock doors and keep students in rooms.",
    "audience": {"roles": AUDIENCE_ROLES},
}
HEADER = "id,name,role,school,district,county,region,mobile,voice,email,backup_id,subscriptions"


def build_registry() -> tuple[str, dict[str, dict[str, str]]]:
    """100 audience officials in 4 districts, each with a backup outside the audience, a superintendent
    per district and a regional coordinator."""
    rows: list[dict[str, str]] = []
    districts = [
        ("Columbia 93", "Boone"),
        ("Hallsville R-IV", "Boone"),
        ("Jefferson City", "Cole"),
        ("Blair Oaks R-II", "Cole"),
    ]
    rows.append(_row("rc-1", "regional_coordinator", "", districts[0][0], "Boone", 1))
    for d, (district, county) in enumerate(districts):
        rows.append(_row(f"sup-{d}", "superintendent", "", district, county, 10 + d))
        for n in range(25):
            index = d * 25 + n
            school = f"{district} School {n % 5 + 1}"
            rows.append(_row(f"bk-{index:03d}", "nurse", school, district, county, 200 + index))
            rows.append(
                _row(
                    f"of-{index:03d}",
                    AUDIENCE_ROLES[n % 4],
                    school,
                    district,
                    county,
                    400 + index,
                    backup=f"bk-{index:03d}",
                )
            )
    text = HEADER + "\n" + "\n".join(",".join(r[c] for c in HEADER.split(",")) for r in rows) + "\n"
    return text, {r["id"]: r for r in rows}


def _row(
    oid: str, role: str, school: str, district: str, county: str, n: int, backup: str = ""
) -> dict[str, str]:
    return {
        "id": oid,
        "name": f"Official {oid}",
        "role": role,
        "school": school,
        "district": district,
        "county": county,
        "region": "Central",
        "mobile": f"+1573210{n:04d}",
        "voice": f"+1573310{n:04d}",
        "email": f"{oid}@k12.example.org",
        "backup_id": backup,
        "subscriptions": "alerts",
    }


def import_registry(stack: Stack, tmp_path: Path) -> dict[str, dict[str, str]]:
    """Import `build_registry`'s officials (a full import) and return its rows by id."""
    text, rows = build_registry()
    path = tmp_path / "registry.csv"
    path.write_text(text)
    assert stack.import_contacts(path).returncode == 0
    return rows


@pytest.fixture(scope="module")
def esc_stack(redis_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(
        redis_server,
        tmp_path_factory.mktemp("esc-data"),
        db=1,
        log_dir=tmp_path_factory.mktemp("esc-logs"),
        ALERTNET_LOG_LEVEL="INFO",
        ALERTNET_ESCALATION_TIME_SCALE=str(SCALE),
        ALERTNET_ESCALATION_TICK_SECONDS="0.1",
    )
    yield stack
    stop_stack(stack)


def slot_of(message: dict[str, Any], alert_id: str) -> str | None:
    found = re.search(re.escape(alert_id) + r"\.([a-z]+(?:@\w+)?)\.", unquote(json.dumps(message)))
    return found.group(1) if found else None


def test_acks_stop_escalation_and_the_rest_are_escalated_as_the_policy_says(
    esc_stack: Stack, tmp_path: Path
) -> None:
    stack = esc_stack
    rows = import_registry(stack, tmp_path)
    director = stack.add_sender("esc-director", "director")
    audience = sorted(i for i in rows if i.startswith("of-"))
    assert len(audience) == 100

    t0 = time.time()
    accepted = stack.post_alert(
        director,
        EXTREME_TO_AUDIENCE,
    )
    assert accepted.status_code == 202, accepted.text
    alert_id = accepted.json()["id"]
    stack.wait_settled(director, alert_id, timeout=30)

    by_sms, by_voice, by_email, silent = audience[:30], audience[30:50], audience[50:70], audience[70:]
    emails = {m["to"]: m for m in stack.sim_messages("email", t0) if alert_id in json.dumps(m)}

    def ack_sms(oid: str) -> str:
        answer = requests.post(
            f"{stack.sim}/sim/reply", json={"from": rows[oid]["mobile"], "body": "1"}, timeout=10
        ).json()
        assert answer["status"] == 200 and "Acknowledged" in answer["body"], answer
        return oid

    def ack_voice(oid: str) -> str:
        answer = requests.post(
            f"{stack.sim}/sim/press", json={"to": rows[oid]["voice"], "digits": "1"}, timeout=10
        ).json()
        assert answer["status"] == 200 and "recorded" in answer["body"], answer
        return oid

    def ack_email(oid: str) -> str:
        html = emails[rows[oid]["email"]]["html"]
        link = re.search(r'href="([^"]*/ack/[^"]+)"', html)
        assert link, html
        assert requests.post(link.group(1), timeout=10).status_code == 200
        return oid

    ack_time: dict[str, float] = {}
    with ThreadPoolExecutor(8) as pool:
        for fn, group in ((ack_sms, by_sms), (ack_voice, by_voice), (ack_email, by_email)):
            for oid in pool.map(fn, group):
                ack_time[oid] = time.time()
    policy = choose_policy(
        parse_policies((REPO_ROOT / "config/escalation.toml").read_text()), "Extreme", "Actual"
    )
    assert policy is not None
    # Timers count from the alert's `sent` time (whole seconds, as CAP writes it).
    sent = parse_datetime(stack.status(director, alert_id)["alert"]["sent"]).timestamp()
    waves = schedule(policy, sent, time_scale=SCALE)
    assert max(ack_time.values()) < waves[0].due, (
        "acks took longer than the first step; the test cannot judge it"
    )

    headers = {"Authorization": f"Bearer {director}"}
    report = requests.get(f"{stack.api}/v1/alerts/{alert_id}/acks", headers=headers, timeout=10).json()
    assert Counter(a["channel"] for a in report["acknowledged"]) == {"sms": 30, "voice": 20, "email": 20}
    assert sorted(p["official_id"] for p in report["pending"]) == silent
    assert sum(v["recipients"] for v in report["by_role"].values()) == 100
    csv_export = requests.get(
        f"{stack.api}/v1/alerts/{alert_id}/acks?format=csv", headers=headers, timeout=10
    )
    assert csv_export.headers["Content-Type"].startswith("text/csv") and csv_export.text.count("\n") == 101
    exported = list(csv.DictReader(io.StringIO(csv_export.text)))
    assert Counter(r["acknowledged"] for r in exported) == {"yes": 70, "no": 30}
    for row in exported:
        if row["acknowledged"] == "yes":
            at = datetime.fromisoformat(row["at"].replace("Z", "+00:00")).timestamp()
            assert sent <= at < waves[0].due and row["channel"] in ("sms", "voice", "email")
    again = requests.post(
        f"{stack.sim}/sim/reply",
        json={"from": rows[by_sms[0]]["mobile"], "body": accepted.json()["verification_code"]},
        timeout=10,
    )
    assert "Already acknowledged" in again.json()["body"]  # idempotent

    # Mid-way, after the backups' step: kill the scheduler, bring back two.
    while time.time() < waves[1].due + 1.0:
        time.sleep(0.1)
    stack.stop("scheduler", signal.SIGKILL)
    time.sleep(1.0)
    stack.start("scheduler", 2)
    # After the superintendents' step and the first repeat of the call: Cancel.
    while time.time() < waves[3].due + 1.5:
        time.sleep(0.1)
    cancel = stack.post_alert(
        director,
        {
            "status": "Actual",
            "msgType": "Cancel",
            "references": [alert_id],
            "severity": "Minor",
            "urgency": "Past",
            "certainty": "Observed",
            "event": "Lockdown",
            "headline": "Cancelled: lockdown alert",
            "audience": {"roles": AUDIENCE_ROLES},
            "channels": ["sms"],
        },
    )
    assert cancel.status_code == 202, cancel.text
    cancel_time = time.time()
    time.sleep(3.0)
    # The remaining repeats are gone from the timers, so they cannot come.
    timers = redis.Redis.from_url(stack.env["REDIS_URL"])
    pending_steps = [m for m in timers.zrange(k.ESCALATION_DUE, 0, -1) if m.decode().startswith(alert_id)]
    assert pending_steps == [] and timers.get(k.CLOSED_KEY + alert_id) is not None
    timers.close()

    messages = [m for kind in ("sms", "voice", "email") for m in stack.sim_messages(kind, t0)]
    escalations = [(slot_of(m, alert_id), m) for m in messages]
    escalations = [(s, m) for s, m in escalations if s and "@" in s]
    expected_backups = {rows[o]["backup_id"] for o in silent}
    supers = {f"sup-{int(o[3:]) // 25}" for o in silent}
    number_to_id = {r[key]: oid for oid, r in rows.items() for key in ("mobile", "voice")}
    got: Counter[tuple[str, str]] = Counter((s, number_to_id[m["to"]]) for s, m in escalations)
    expected: Counter[tuple[str, str]] = Counter()
    for oid in silent:
        expected[("voice@1", oid)] += 1
        expected[("voice@4", oid)] += 1
        expected[("sms@2", rows[oid]["backup_id"])] += 1
        expected[("voice@2", rows[oid]["backup_id"])] += 1
    for sup in supers:
        expected[("sms@3", sup)] += 1
        expected[("voice@3", sup)] += 1
    assert got == expected
    assert {oid for (_s, oid) in got} == set(silent) | expected_backups | supers
    # Each step went out when the policy said: not before its due time, and within 3 s of it.
    for slot, message in escalations:
        due = waves[int(slot.split("@")[1]) - 1].due
        assert due - 0.05 <= message["received_at"] <= due + 3.0, (slot, message["received_at"] - due)
    # The 70 received nothing of this alert after their ack; nothing of it after the Cancel but the Cancel.
    for message in messages:
        oid = number_to_id.get(message["to"])
        if alert_id in json.dumps(message) and oid in ack_time:
            assert message["received_at"] <= ack_time[oid], (oid, slot_of(message, alert_id))
        if slot_of(message, alert_id):
            assert message["received_at"] <= cancel_time
    # Forged webhooks are refused and change nothing.
    forged = requests.post(
        f"{stack.api}/v1/webhooks/twilio/sms",
        data={"From": rows[silent[0]]["mobile"], "Body": "1", "MessageSid": "SM" + "0" * 32},
        headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
        timeout=10,
    )
    assert forged.status_code == 403
    forged_gather = requests.post(
        f"{stack.api}/v1/webhooks/twilio/gather?d={alert_id}.voice.{silent[0]}",
        data={"Digits": "1"},
        timeout=10,
    )
    assert forged_gather.status_code == 403
    report = requests.get(f"{stack.api}/v1/alerts/{alert_id}/acks", headers=headers, timeout=10).json()
    assert len(report["pending"]) == 30


def test_an_undelivered_sms_moves_the_official_to_a_call_at_once(esc_stack: Stack, tmp_path: Path) -> None:
    stack = esc_stack
    rows = import_registry(stack, tmp_path)
    director = stack.add_sender("esc-director2", "director")
    unlucky = "of-007"
    stack.set_faults(undelivered_numbers=[rows[unlucky]["mobile"]])
    try:
        t0 = time.time()
        accepted = stack.post_alert(
            director,
            {
                **EXTREME_TO_AUDIENCE,
                "event": "Shelter in Place",
                "headline": "Tornado warning",
                "audience": {"schools": [rows[unlucky]["school"]], "roles": AUDIENCE_ROLES},
                "channels": ["sms"],
            },
        )
        assert accepted.status_code == 202, accepted.text
        alert_id = accepted.json()["id"]
        deadline = time.monotonic() + 3.5  # well before the policy's first call (4.8 s)
        calls: list[dict[str, Any]] = []
        while not calls:
            assert time.monotonic() < deadline, "no failover call"
            calls = [m for m in stack.sim_messages("voice", t0) if slot_of(m, alert_id) == "voice@f"]
            time.sleep(0.1)
        assert [m["to"] for m in calls] == [rows[unlucky]["voice"]]
        # Everyone acknowledges; the policy's voice step then calls no one, the failed one included.
        members = [o for o in rows if o.startswith("of-") and rows[o]["school"] == rows[unlucky]["school"]]
        headers = {"Authorization": f"Bearer {director}"}
        for oid in members:
            if oid != unlucky:
                answer = requests.post(
                    f"{stack.api}/v1/alerts/{alert_id}/acks",
                    json={"official_id": oid},
                    headers=headers,
                    timeout=10,
                )
                assert answer.status_code == 201, answer.text
        time.sleep(max(0.0, t0 + 7.0 - time.time()))
        later = [m for m in stack.sim_messages("voice", t0) if slot_of(m, alert_id) == "voice@1"]
        assert later == []
        assert (
            requests.post(
                f"{stack.api}/v1/alerts/{alert_id}/acks",
                json={"official_id": "nobody"},
                headers=headers,
                timeout=10,
            ).json()["errors"][0]["field"]
            == "official_id"
        )
    finally:
        stack.clear_faults()


def test_all_clear_is_one_call_and_ends_escalation(esc_stack: Stack, tmp_path: Path) -> None:
    stack = esc_stack
    import_registry(stack, tmp_path)
    director = stack.add_sender("esc-director3", "director")
    headers = {"Authorization": f"Bearer {director}"}
    accepted = stack.post_alert(
        director,
        {
            "status": "Exercise",
            "msgType": "Alert",
            "severity": "Extreme",
            "urgency": "Immediate",
            "certainty": "Observed",
            "event": "Lockdown",
            "headline": "Lockdown drill",
            "audience": {"districts": ["Columbia 93"], "roles": AUDIENCE_ROLES},
            "channels": ["sms"],
        },
    ).json()
    clear = requests.post(f"{stack.api}/v1/alerts/{accepted['id']}/all-clear", headers=headers, timeout=10)
    assert clear.status_code == 202, clear.text
    update = stack.status(director, clear.json()["id"])
    assert update["alert"]["msgType"] == "Update" and update["alert"]["references"] == [accepted["id"]]
    assert update["alert"]["status"] == "Exercise"
    assert clear.json()["recipients"] == accepted["recipients"]
    stack.wait_settled(director, clear.json()["id"])
    sms = [m for m in stack.sim_messages("sms") if clear.json()["verification_code"] in m["body"]]
    assert len(sms) == 25 and all(m["body"].startswith("EXERCISE - UPDATE: ") for m in sms)
    timers = redis.Redis.from_url(stack.env["REDIS_URL"])
    assert [m for m in timers.zrange(k.ESCALATION_DUE, 0, -1) if m.decode().startswith(accepted["id"])] == []
    timers.close()
    missing = requests.post(f"{stack.api}/v1/alerts/NOPE/all-clear", headers=headers, timeout=10)
    assert missing.status_code == 404


def test_help_stop_and_free_text_replies(esc_stack: Stack) -> None:
    stack = esc_stack
    number = "+15732100401"
    help_reply = requests.post(
        f"{stack.sim}/sim/reply", json={"from": number, "body": "HELP"}, timeout=10
    ).json()
    assert "Reply 1 to acknowledge" in help_reply["body"]
    stop = requests.post(f"{stack.sim}/sim/reply", json={"from": number, "body": "STOP"}, timeout=10).json()
    assert "Critical safety alerts continue" in stop["body"]
    other = requests.post(
        f"{stack.sim}/sim/reply", json={"from": number, "body": "is this real??"}, timeout=10
    ).json()
    assert "passed to the operator" in other["body"]
    inbound = redis.Redis.from_url(stack.env["REDIS_URL"]).xrevrange(k.INBOUND_STREAM, count=1)
    assert inbound[0][1][b"body"] == b"is this real??"
    assert b"+1573" not in inbound[0][1][b"from"]  # kept by reference, not the number


def test_an_expired_alert_escalates_no_more(esc_stack: Stack, tmp_path: Path) -> None:
    stack = esc_stack
    import_registry(stack, tmp_path)
    director = stack.add_sender("esc-director5", "director")
    t0 = time.time()
    expires = datetime.fromtimestamp(int(t0) + 3, UTC).isoformat()
    accepted = stack.post_alert(
        director,
        {
            **EXTREME_TO_AUDIENCE,
            "event": "Shelter in place",
            "headline": "Shelter in place until 3 s from now",
            "expires": expires,
            "channels": ["email"],
        },
    )
    assert accepted.status_code == 202, accepted.text
    alert_id = accepted.json()["id"]
    # The first step (a call at 4.8 s) and the backups' (12 s) come due after the alert expired.
    time.sleep(300 * SCALE + 2.0)
    escalated = [
        m for kind in ("sms", "voice") for m in stack.sim_messages(kind, t0) if alert_id in json.dumps(m)
    ]
    assert escalated == []
    timers = redis.Redis.from_url(stack.env["REDIS_URL"])
    left = [m.decode() for m in timers.zrange(k.ESCALATION_DUE, 0, -1) if m.decode().startswith(alert_id)]
    firing = [m for m in timers.zrange(k.ESCALATION_FIRING, 0, -1) if m.decode().startswith(alert_id)]
    timers.close()
    assert firing == [] and f"{alert_id}|1" not in left and f"{alert_id}|2" not in left
    logs = "".join(p.read_text() for p in (stack.log_dir or tmp_path).glob("scheduler-*.log"))
    assert '"reason": "alert expired"' in logs


def test_logs_carry_no_phone_numbers_emails_or_secrets(esc_stack: Stack) -> None:
    """Runs last in this module: every process's log, after all the traffic above."""
    assert esc_stack.log_dir is not None
    _text, rows = build_registry()
    logs = "".join(path.read_text() for path in esc_stack.log_dir.glob("*.log"))
    assert '"event": "alert_accepted"' in logs and '"event": "acknowledged"' in logs  # the logs are real
    for row in rows.values():
        for value in (row["mobile"], row["voice"], row["email"], row["mobile"][2:]):
            assert value not in logs, value
    assert re.search(r"an_[A-Za-z0-9_-]{40,}", logs) is None  # no bearer token
    assert SIM_AUTH_TOKEN not in logs


def test_unanswered_busy_and_voicemail_calls_are_recorded_as_such(esc_stack: Stack, tmp_path: Path) -> None:
    stack = esc_stack
    rows = import_registry(stack, tmp_path)
    director = stack.add_sender("esc-director4", "director")
    school = rows["of-010"]["school"]
    members = sorted(o for o in rows if o.startswith("of-") and rows[o]["school"] == school)
    stack.set_faults(
        no_answer_numbers=[rows[members[0]]["voice"]],
        busy_numbers=[rows[members[1]]["voice"]],
        voicemail_numbers=[rows[members[2]]["voice"]],
    )
    try:
        accepted = stack.post_alert(
            director,
            {
                "status": "Test",
                "msgType": "Alert",
                "severity": "Minor",
                "urgency": "Future",
                "certainty": "Possible",
                "event": "Test call",
                "headline": "Monthly test of the voice channel",
                "audience": {"schools": [school], "roles": AUDIENCE_ROLES},
                "channels": ["voice"],
            },
        ).json()
        status = stack.wait_settled(director, accepted["id"])
    finally:
        stack.clear_faults()
    assert status["channels"]["voice"]["states"] == {"failed": 2, "delivered": len(members) - 2}
    conn = redis.Redis.from_url(stack.env["REDIS_URL"])
    reasons = {
        official.decode(): (json.loads(raw)["s"], json.loads(raw).get("r"))
        for official, raw in conn.hgetall(f"{k.DELIVERY_KEY}{accepted['id']}:voice").items()
    }
    conn.close()
    assert reasons[members[0]] == ("failed", "no-answer")
    assert reasons[members[1]] == ("failed", "busy")
    # Voicemail picked up: the message was left (delivered), and the record says a machine answered.
    assert reasons[members[2]] == ("delivered", "answered_by=machine_end_beep")
    assert {reasons[m] for m in members[3:]} == {("delivered", "answered_by=human")}
