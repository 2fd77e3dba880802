"""Look-ups after an unknown outcome, on the real stack: a lost call is never taken for another delivery's
call to the same number, and an SMS failure learned by a look-up places the failover call at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from alertnet.domain.alert_request import example_alert_request
from alertnet.store.server import RedisProcess
from tests.conftest import Stack, start_stack, stop_stack, wait_http
from tests.test_escalation_e2e import HEADER, slot_of

SHARED_LINE = "+15734440100"  # a school office line two officials share
# The twilio SDK gives up after 10 s: a hang of 11 s leaves the hub without an answer.
HANG_MS = 11_000


def _row(oid: str, n: int, voice: str = "") -> dict[str, str]:
    return {
        "id": oid,
        "name": f"Official {oid}",
        "role": "principal",
        "school": "Lookup Elementary",
        "district": "Columbia 93",
        "county": "Boone",
        "region": "Central",
        "mobile": f"+1573444{n:04d}",
        "voice": voice or f"+1573555{n:04d}",
        "email": f"{oid}@k12.example.org",
        "backup_id": "",
        "subscriptions": "alerts",
    }


ROWS = {
    "lk-a": _row("lk-a", 1, SHARED_LINE),
    "lk-b": _row("lk-b", 2, SHARED_LINE),
    "lk-c": _row("lk-c", 3),
}


@pytest.fixture(scope="module")
def lookup_stack(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(
        redis_server,
        tmp_path_factory.mktemp("lookup-data"),
        db=8,
        ALERTNET_ESCALATION_TIME_SCALE="1000",  # no escalation step fires while a test runs
    )
    path = tmp_path_factory.mktemp("lookup-registry") / "registry.csv"
    path.write_text(
        HEADER + "\n" + "".join(",".join(r[c] for c in HEADER.split(",")) + "\n" for r in ROWS.values())
    )
    try:
        assert stack.import_contacts(path).returncode == 0
    except BaseException:
        stop_stack(stack)
        raise
    yield stack
    stop_stack(stack)


@pytest.fixture(scope="module")
def director(lookup_stack: Stack) -> str:
    return lookup_stack.add_sender("lookup-director", "director")


def _alert(officials: list[str], channels: list[str]) -> dict[str, Any]:
    return {**example_alert_request(), "audience": {"officials": officials}, "channels": channels}


def _of_alert(messages: list[dict[str, Any]], alert_id: str) -> list[dict[str, Any]]:
    return [m for m in messages if alert_id in str(m)]


def test_a_lost_call_is_not_taken_for_another_deliverys_call_to_the_same_number(
    lookup_stack: Stack, director: str
) -> None:
    stack = lookup_stack
    # The first call request hangs past the SDK's timeout and is never processed: its delivery's outcome
    # is unknown. The other official's call to the same line goes through at once, so a look-up by
    # number and time finds exactly one call there, which is not the lost one's.
    stack.set_faults(hang_next=1, hang_ms=HANG_MS)
    t0 = time.time()
    accepted = stack.post_alert(director, _alert(["lk-a", "lk-b"], ["voice"]))
    assert accepted.status_code == 202, accepted.text
    alert_id = accepted.json()["id"]
    try:
        status = stack.wait_settled(director, alert_id, timeout=60)
    finally:
        stack.clear_faults()
    calls = _of_alert(stack.sim_messages("voice", t0, to=SHARED_LINE), alert_id)
    assert status["channels"]["voice"]["states"] == {"delivered": 2}
    # Each official's delivery has its own call: neither took the other's for its own.
    assert len(calls) == 2, [c["status_callback"] for c in calls]
    assert {c["status_callback"].split("d=")[1] for c in calls} == {
        f"{alert_id}.voice.lk-a",
        f"{alert_id}.voice.lk-b",
    }


def test_an_sms_failure_found_by_a_look_up_places_the_failover_call(
    lookup_stack: Stack, director: str
) -> None:
    stack = lookup_stack
    official = ROWS["lk-c"]
    # The SMS is accepted after the API has gone (its callbacks find nobody and are dropped), it comes
    # back undelivered, and the answer to the send is held past the SDK's timeout: the worker learns
    # what happened only by looking the message up.
    stack.set_faults(
        latency_ms=1500,
        accepted_hang_rate=1.0,
        hang_ms=HANG_MS,
        undelivered_numbers=[official["mobile"]],
    )
    t0 = time.time()
    accepted = stack.post_alert(director, _alert(["lk-c"], ["sms"]))
    assert accepted.status_code == 202, accepted.text
    alert_id = accepted.json()["id"]
    stack.stop("api")
    time.sleep(4.0)
    stack.clear_faults()
    stack.start("api")
    wait_http(f"{stack.api}/healthz")
    deadline = time.monotonic() + 45
    calls: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not calls:
        time.sleep(0.5)
        calls = [
            m
            for m in stack.sim_messages("voice", t0, to=official["voice"])
            if slot_of(m, alert_id) == "voice@f"
        ]
    sms = _of_alert(stack.sim_messages("sms", t0, to=official["mobile"]), alert_id)
    assert len(sms) == 1 and sms[0]["status"] == "undelivered"
    assert stack.status(director, alert_id)["channels"]["sms"]["states"] == {"failed": 1}
    assert len(calls) == 1, "the SMS failure found by the look-up placed no call"
