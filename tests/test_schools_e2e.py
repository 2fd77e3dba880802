"""Per-school accounting end to end, on a compressed clock, checked at the simulators (issue #14, 1 and 3).

A lockdown to a district of 10 schools: officials of 7 acknowledge; the other 3 schools escalate inside the
school (every official there, every channel), then to the superintendent; the school list shows exactly
that. Two schools of one name in two districts are kept apart; an alert keeps the policy's steps it was
sent with when the file changes under it; a backup who is also the superintendent gets the alert once per
channel; calls reach the voice simulator in the configured order of roles.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from redis.asyncio import Redis

from alertnet.domain.alert_request import example_alert_request
from alertnet.domain.alerts import parse_datetime
from alertnet.domain.contacts import Official
from alertnet.domain.escalation import DueStep, Policy, choose_policy, parse_policies, schedule, step_to_dict
from alertnet.domain.schools import encode_school
from alertnet.pipeline.school_skip import reached_at_school
from alertnet.settings import REPO_ROOT
from alertnet.store import keys as k
from alertnet.store.server import RedisProcess
from tests.conftest import Stack, bearer, start_stack, stop_stack, wait_until
from tests.test_escalation_e2e import slot_of

DB = 21
HUB_NUMBER = "+15735550190"  # the hub's first SMS number (config/alertnet.toml)
SCALE = 0.04  # the lockdown policy's 2 minutes (inside the school) become 4.8 s, 5 minutes 12 s
HEADER = "id,name,role,school,district,county,region,mobile,voice,email,backup_id,subscriptions"
COLUMBIA, HALLSVILLE = "Columbia 93", "Hallsville R-IV"
LOCKDOWN: dict[str, Any] = {**example_alert_request(), "headline": "Lockdown: intruder reported"}
# A policy of the test's own beside the shipped ones: the backups' step (repeated once), then the
# superintendents' step, for the backup who is also the superintendent.
BACKUP_POLICY = """
[[policy]]
name = "backup-drill"
events = ["Backup drill"]
severities = ["Extreme"]
statuses = ["Actual"]
  [[policy.step]]
  after = 60
  channels = ["sms", "voice"]
  whom = ["backup"]
  repeat = 1
  every = 120
  [[policy.step]]
  after = 120
  channels = ["sms", "voice"]
  whom = ["superintendent"]
"""
# The lockdown policy as an editor might change it while an alert is in flight: one step, by email, to
# the superintendent only.
EDITED_LOCKDOWN = """
[[policy]]
name = "lockdown"
events = ["Lockdown", "Lockout"]
severities = ["Extreme", "Severe"]
statuses = ["Actual"]
  [[policy.step]]
  after = 60
  channels = ["email"]
  whom = ["superintendent"]
"""


def _row(oid: str, role: str, school: str, district: str, n: int, backup: str = "") -> dict[str, str]:
    return {
        "id": oid,
        "name": f"Official {oid}",
        "role": role,
        "school": school,
        "district": district,
        "county": "Boone",
        "region": "Central",
        "mobile": f"+1573420{n:04d}",
        "voice": f"+1573520{n:04d}",
        "email": f"{oid}@schools.example.org",
        "backup_id": backup,
        "subscriptions": "alerts",
    }


def build_rows() -> dict[str, dict[str, str]]:
    """Columbia 93: 10 schools of a principal, a safety coordinator and a nurse each, a superintendent.
    Hallsville R-IV: its own "School 1" and "School 2" and a superintendent who is the backup of School 2's
    principal. One regional coordinator."""
    rows = [
        _row("rc", "regional_coordinator", "", COLUMBIA, 1),
        _row("sup-c", "superintendent", "", COLUMBIA, 2),
    ]
    for s in range(1, 11):
        for r, role in enumerate(("principal", "safety_coordinator", "nurse")):
            rows.append(_row(f"c{s:02d}-{role[:2]}", role, f"School {s}", COLUMBIA, 100 + s * 10 + r))
    rows.append(_row("sup-h", "superintendent", "", HALLSVILLE, 3))
    for s in (1, 2):
        for r, role in enumerate(("principal", "nurse")):
            backup = "sup-h" if (s, role) == (2, "principal") else ""
            rows.append(
                _row(f"h{s:02d}-{role[:2]}", role, f"School {s}", HALLSVILLE, 300 + s * 10 + r, backup)
            )
    return {r["id"]: r for r in rows}


ROWS = build_rows()
BY_ADDRESS = {r[key]: oid for oid, r in ROWS.items() for key in ("mobile", "voice", "email")}


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schools-policies") / "escalation.toml"
    path.write_text(
        BACKUP_POLICY + (REPO_ROOT / "config" / "escalation.toml").read_text()
    )  # first match wins
    return path


@pytest.fixture(scope="module")
def schools_stack(
    redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory, policy_file: Path
) -> Iterator[Stack]:
    stack = start_stack(
        redis_server,
        tmp_path_factory.mktemp("schools-data"),
        db=DB,
        log_dir=tmp_path_factory.mktemp("schools-logs"),
        ALERTNET_ESCALATION_TIME_SCALE=str(SCALE),
        ALERTNET_ESCALATION_TICK_SECONDS="0.1",
        ALERTNET_ESCALATION_POLICY_FILE=str(policy_file),
        # Calls paced as Twilio paces them (faster, for the test): one batch, placed in order.
        ALERTNET_TWILIO_CALLS_PER_SECOND="10",
    )
    redis.Redis.from_url(stack.env["REDIS_URL"]).flushdb()
    path = tmp_path_factory.mktemp("schools-registry") / "registry.csv"
    path.write_text(
        HEADER + "\n" + "\n".join(",".join(r[c] for c in HEADER.split(",")) for r in ROWS.values())
    )
    assert stack.import_contacts(path).returncode == 0
    yield stack
    stop_stack(stack)


@pytest.fixture(scope="module")
def director(schools_stack: Stack) -> str:
    return schools_stack.add_sender("schools-director", "director")


def _waves(stack: Stack, token: str, alert_id: str, policy: Policy) -> list[DueStep]:
    sent = parse_datetime(stack.status(token, alert_id)["alert"]["sent"]).timestamp()
    return schedule(policy, sent, time_scale=SCALE)


def _policy(text: str, event: str) -> Policy:
    policy = choose_policy(parse_policies(text), "Extreme", "Actual", event)
    assert policy is not None
    return policy


def _ack(stack: Stack, token: str, alert_id: str, official_id: str) -> None:
    answer = requests.post(
        f"{stack.api}/v1/alerts/{alert_id}/acks",
        json={"official_id": official_id},
        headers=bearer(token),
        timeout=10,
    )
    assert answer.status_code == 201, answer.text


def _received(stack: Stack, alert_id: str, since: float) -> list[tuple[str, str, float]]:
    """(slot, official id, time received) of every SMS, call and email of the alert the simulators got."""
    found = []
    for kind in ("sms", "voice", "email"):
        for message in stack.sim_messages(kind, since):
            slot = slot_of(message, alert_id)
            if slot:
                found.append((slot, BY_ADDRESS[str(message["to"])], float(message["received_at"])))
    return sorted(found, key=lambda m: m[2])


def _escalated(received: list[tuple[str, str, float]]) -> Counter[tuple[str, str]]:
    return Counter((slot, oid) for slot, oid, _ in received if "@" in slot)


def _schools(stack: Stack, token: str, alert_id: str) -> dict[str, Any]:
    response = requests.get(f"{stack.api}/v1/alerts/{alert_id}/schools", headers=bearer(token), timeout=10)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _rank(oid: str) -> int:
    return {"superintendent": 0, "safety_coordinator": 1, "principal": 2}.get(ROWS[oid]["role"], 3)


def test_a_district_lockdown_escalates_the_schools_nobody_answered_for(
    schools_stack: Stack, director: str
) -> None:
    stack = schools_stack
    t0 = time.time()
    roles = ["superintendent", "principal", "safety_coordinator"]
    alert_id = stack.send(
        director,
        {**LOCKDOWN, "audience": {"districts": [COLUMBIA], "roles": roles}, "channels": ["sms", "voice"]},
    )
    # Schools 1-3 answer by the principal's SMS reply, 4-7 by the safety coordinator, through the operator.
    for s in range(1, 4):
        reply = requests.post(
            f"{stack.sim}/sim/reply",
            json={"from": ROWS[f"c{s:02d}-pr"]["mobile"], "body": "1", "to": HUB_NUMBER},
            timeout=10,
        ).json()
        assert "Acknowledged" in reply["body"], reply
    for s in range(4, 8):
        _ack(stack, director, alert_id, f"c{s:02d}-sa")
    acked_at = time.time()
    waves = _waves(
        stack,
        director,
        alert_id,
        _policy(REPO_ROOT.joinpath("config/escalation.toml").read_text(), "Lockdown"),
    )
    assert acked_at < waves[0].due, "the acks took longer than the first step; the test cannot judge it"
    assert stack.status(director, alert_id)["schools"] == {"targeted": 10, "reached": 7, "not_reached": 3}

    wait_until(waves[1].due + 2.5)  # after the superintendents' step
    received = _received(stack, alert_id, t0)
    expected: Counter[tuple[str, str]] = Counter()
    for s in (8, 9, 10):
        for role in (
            "pr",
            "sa",
            "nu",
        ):  # every official there (nurses were not in the audience), every channel
            for channel in ("sms", "voice", "email"):
                expected[(f"{channel}@1", f"c{s:02d}-{role}")] += 1
    expected[("sms@2", "sup-c")] += 1
    expected[("voice@2", "sup-c")] += 1
    assert _escalated(received) == expected
    # Calls in order of who matters first: the first fan-out and the step inside the schools.
    first_calls = [oid for slot, oid, _ in received if slot == "voice"]
    assert len(first_calls) == 21 and first_calls[0] == "sup-c"
    assert [_rank(oid) for oid in first_calls] == sorted(_rank(oid) for oid in first_calls), [
        (oid, round(at - t0, 3)) for slot, oid, at in received if slot == "voice"
    ]
    step_calls = [oid for slot, oid, _ in received if slot == "voice@1"]
    assert [_rank(oid) for oid in step_calls] == [1, 1, 1, 2, 2, 2, 3, 3, 3]

    listing = _schools(stack, director, alert_id)
    assert (listing["targeted"], listing["reached"], listing["not_reached"]) == (10, 7, 3)
    states = [(row["district"], row["school"], row["state"]) for row in listing["schools"]]
    assert states[:3] == [(COLUMBIA, f"School {s}", "no_answer") for s in (10, 8, 9)]
    assert sorted(states[3:]) == sorted((COLUMBIA, f"School {s}", "acknowledged") for s in range(1, 8))
    for row in listing["schools"]:
        number = int(row["school"].split()[-1])
        who = [a["official_id"] for a in row["acknowledged_by"]]
        assert row["officials"] == 2  # the principal and safety coordinator the alert went to
        assert who == ([] if number > 7 else [f"c{number:02d}-{'pr' if number < 4 else 'sa'}"])
        assert (row["first_ack_at"] is None) == (number > 7)
    # A school answers late: it is reached; the all-clear ends the rest.
    _ack(stack, director, alert_id, "c08-nu")
    assert stack.status(director, alert_id)["schools"] == {"targeted": 10, "reached": 8, "not_reached": 2}
    assert _schools(stack, director, alert_id)["schools"][-1]["acknowledged_by"][0]["official_id"] in {
        f"c{s:02d}-{r}" for s in range(1, 9) for r in ("pr", "sa", "nu")
    }
    stack.all_clear(director, alert_id)
    viewer = stack.add_sender("schools-viewer", "viewer")
    assert _schools(stack, viewer, alert_id)["targeted"] == 10
    editor = stack.add_sender("schools-editor", "editor")
    refused = requests.get(f"{stack.api}/v1/alerts/{alert_id}/schools", headers=bearer(editor), timeout=10)
    assert refused.status_code == 403
    missing = requests.get(f"{stack.api}/v1/alerts/NOPE/schools", headers=bearer(director), timeout=10)
    assert missing.status_code == 404


def test_two_schools_of_one_name_in_two_districts_are_two_schools(
    schools_stack: Stack, director: str
) -> None:
    stack = schools_stack
    t0 = time.time()
    both = stack.send(director, {**LOCKDOWN, "audience": {"schools": ["School 1"]}, "channels": ["sms"]})
    _ack(stack, director, both, "c01-nu")  # Columbia's School 1 is reached; Hallsville's is not
    listing = _schools(stack, director, both)
    assert [(r["district"], r["school"], r["state"]) for r in listing["schools"]] == [
        (HALLSVILLE, "School 1", "no_answer"),
        (COLUMBIA, "School 1", "acknowledged"),
    ]
    waves = _waves(
        stack, director, both, _policy(REPO_ROOT.joinpath("config/escalation.toml").read_text(), "Lockdown")
    )
    wait_until(waves[0].due + 2.0)
    escalated = _escalated(_received(stack, both, t0))
    assert escalated == Counter(
        {(f"{c}@1", f"h01-{r}"): 1 for c in ("sms", "voice", "email") for r in ("pr", "nu")}
    )
    stack.all_clear(director, both)
    qualified = stack.post_alert(
        director, {**LOCKDOWN, "audience": {"schools": [f"{HALLSVILLE} / school 1"]}, "channels": ["sms"]}
    )
    assert qualified.status_code == 202, qualified.text
    assert qualified.json()["recipients"] == {"sms": 2}
    assert stack.status(director, qualified.json()["id"])["schools"] == {
        "targeted": 1,
        "reached": 0,
        "not_reached": 1,
    }
    stack.all_clear(director, qualified.json()["id"])
    wrong = stack.post_alert(director, {**LOCKDOWN, "audience": {"schools": ["Cole County / School 1"]}})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "audience.schools[0]"


def test_a_backup_who_is_also_the_superintendent_gets_one_sms(
    schools_stack: Stack, director: str, policy_file: Path
) -> None:
    stack = schools_stack
    t0 = time.time()
    alert_id = stack.send(
        director,
        {**LOCKDOWN, "event": "Backup drill", "audience": {"officials": ["h02-pr"]}, "channels": ["sms"]},
    )
    waves = _waves(stack, director, alert_id, _policy(policy_file.read_text(), "Backup drill"))
    assert [(w.step, w.repetition) for w in waves] == [(0, 0), (1, 0), (0, 1)]
    wait_until(waves[2].due + 2.0)
    stack.all_clear(director, alert_id)
    # The backups' step reached her; the superintendents' step sent her nothing more; the backups' step's
    # own repeat did send again.
    assert _escalated(_received(stack, alert_id, t0)) == Counter(
        {("sms@1", "sup-h"): 1, ("voice@1", "sup-h"): 1, ("sms@3", "sup-h"): 1, ("voice@3", "sup-h"): 1}
    )


def test_an_alert_in_flight_keeps_the_steps_it_was_sent_with(
    schools_stack: Stack, director: str, policy_file: Path
) -> None:
    stack = schools_stack
    original = policy_file.read_text()
    t0 = time.time()
    alert_id = stack.send(
        director,
        {**LOCKDOWN, "audience": {"schools": [f"{HALLSVILLE} / School 2"]}, "channels": ["sms"]},
    )
    waves = _waves(stack, director, alert_id, _policy(original, "Lockdown"))
    try:
        # The lockdown policy, edited: the shipped one's steps are gone from the file (kept under a new name).
        policy_file.write_text(
            EDITED_LOCKDOWN + original.replace('name = "lockdown"', 'name = "lockdown-was"')
        )
        stack.stop("scheduler", signal.SIGTERM)
        stack.start("scheduler")  # it reads the edited file
        wait_until(waves[1].due + 2.5)
    finally:
        policy_file.write_text(original)
    stack.all_clear(director, alert_id)
    expected = Counter({(f"{c}@1", f"h02-{r}"): 1 for c in ("sms", "voice", "email") for r in ("pr", "nu")})
    expected.update({("sms@2", "sup-h"): 1, ("voice@2", "sup-h"): 1})
    assert _escalated(_received(stack, alert_id, t0)) == expected  # no email@1 to the superintendent


def test_a_step_that_stops_per_school_skips_what_is_still_queued_for_a_school_reached(
    schools_stack: Stack,
) -> None:
    """The worker's check before each round of a batch (a call-out takes minutes), on the stack's Redis."""

    async def check() -> None:
        conn = Redis.from_url(schools_stack.env["REDIS_URL"])
        alert_id = "SKIPCHECK" + str(time.time_ns())
        lockdown = _policy(REPO_ROOT.joinpath("config/escalation.toml").read_text(), "Lockdown")
        extreme = _policy(REPO_ROOT.joinpath("config/escalation.toml").read_text(), "Armed intruder")
        plan = {
            "policy": "lockdown",
            "steps": [step_to_dict(s) for s in lockdown.steps],
            "waves": [{"wave": 1, "step": 0, "repetition": 0, "due": 0.0}],
        }
        try:
            await conn.set(k.ESCALATION_PLAN + alert_id, json.dumps(plan))
            await conn.hset(
                k.ALERT_SCHOOLS + alert_id,
                mapping={
                    "c01-pr": encode_school((COLUMBIA, "School 1")),
                    "c02-pr": encode_school((COLUMBIA, "School 2")),
                    "h01-pr": encode_school((HALLSVILLE, "School 1")),
                },
            )

            async def nobody(ids: list[str]) -> dict[str, Official]:
                return {}

            ids = ["c01-pr", "c01-nu", "c02-pr", "h01-pr"]
            registry: dict[str, Official] = {}
            found = await reached_at_school(conn, alert_id, "voice@1", ids, {"c01-pr"}, registry, nobody)
            assert found == {"c01-pr"}  # c01-nu's school is unknown here (not recorded, not in registry)
            assert (
                await reached_at_school(conn, alert_id, "voice", ids, {"c01-pr"}, registry, nobody) == set()
            )
            assert (
                await reached_at_school(conn, alert_id, "voice@f", ids, {"c01-pr"}, registry, nobody) == set()
            )
            plan["steps"] = [step_to_dict(s) for s in extreme.steps]  # until = official: per official only
            await conn.set(k.ESCALATION_PLAN + alert_id, json.dumps(plan))
            assert (
                await reached_at_school(conn, alert_id, "voice@1", ids, {"c01-pr"}, registry, nobody) == set()
            )
        finally:
            await conn.delete(k.ESCALATION_PLAN + alert_id, k.ALERT_SCHOOLS + alert_id)
            await conn.aclose()

    asyncio.run(check())
