"""The scheduler killed mid-escalation, and two schedulers at once: every step fires exactly once
(issue: reliability). Counted at the simulators: calls and SMS per official per escalation step.

100 officials get an Extreme Actual alert by SMS and nobody acknowledges, so the "extreme" policy runs in
full on a compressed clock: a call to each official at 2 min and its three repeats, SMS + call to each
backup at 5 min, to each superintendent at 10 min.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from alertnet.domain.alerts import parse_datetime
from alertnet.domain.escalation import DueStep, choose_policy, parse_policies, schedule
from alertnet.pipeline.escalation_timers import FIRING_LEASE_SECONDS
from alertnet.settings import REPO_ROOT
from alertnet.store import keys as k
from alertnet.store.server import RedisProcess
from tests.conftest import Stack, start_stack, stop_stack
from tests.test_escalation_e2e import EXTREME_TO_AUDIENCE, import_registry, slot_of

SCALE = 0.02  # steps at 2.4 s (calls), 6 s (backups), 12 s (superintendents), 14.4, 26.4, 38.4 s (calls)
SETTLE = 4.0  # seconds after the last step's due time before counting


def start(redis_server: RedisProcess, tmp: Path, db: int) -> Stack:
    return start_stack(
        redis_server,
        tmp / "data",
        db=db,
        log_dir=tmp / "logs",
        ALERTNET_ESCALATION_TIME_SCALE=str(SCALE),
        ALERTNET_ESCALATION_TICK_SECONDS="0.05",
    )


@pytest.fixture
def stack_a(redis_server: RedisProcess, tmp_path: Path) -> Iterator[Stack]:
    stack = start(redis_server, tmp_path, 10)
    redis.Redis.from_url(stack.env["REDIS_URL"]).flushdb()
    yield stack
    stop_stack(stack)


def send_alert(stack: Stack, tmp_path: Path) -> tuple[str, str, dict[str, dict[str, str]], list[DueStep]]:
    """Import the registry, send the alert by SMS; (director, alert id, rows, the steps as scheduled)."""
    rows = import_registry(stack, tmp_path)
    director = stack.add_sender("faults-director", "director")
    accepted = stack.post_alert(director, {**EXTREME_TO_AUDIENCE, "channels": ["sms"]})
    assert accepted.status_code == 202, accepted.text
    alert_id = accepted.json()["id"]
    policy = choose_policy(
        parse_policies((REPO_ROOT / "config/escalation.toml").read_text()), "Extreme", "Actual"
    )
    assert policy is not None
    sent = parse_datetime(stack.status(director, alert_id)["alert"]["sent"]).timestamp()
    return director, alert_id, rows, schedule(policy, sent, time_scale=SCALE)


def expected_steps(rows: dict[str, dict[str, str]]) -> Counter[tuple[str, str]]:
    """(slot, official id) -> 1 for every call and SMS the policy makes when nobody acknowledges."""
    silent = sorted(i for i in rows if i.startswith("of-"))
    expected: Counter[tuple[str, str]] = Counter()
    for oid in silent:
        for wave in (1, 4, 5, 6):
            expected[(f"voice@{wave}", oid)] += 1
        expected[("sms@2", rows[oid]["backup_id"])] += 1
        expected[("voice@2", rows[oid]["backup_id"])] += 1
    for sup in {f"sup-{int(o[3:]) // 25}" for o in silent}:
        expected[("sms@3", sup)] += 1
        expected[("voice@3", sup)] += 1
    return expected


def escalations(
    stack: Stack, alert_id: str, rows: dict[str, dict[str, str]], since: float
) -> tuple[Counter[tuple[str, str]], list[tuple[str, float]]]:
    """What the simulators received of the alert's escalation: counts per (slot, official), and each
    message's (slot, time received)."""
    number_to_id = {r[key]: oid for oid, r in rows.items() for key in ("mobile", "voice")}
    got: Counter[tuple[str, str]] = Counter()
    times: list[tuple[str, float]] = []
    for kind in ("sms", "voice"):
        for message in stack.sim_messages(kind, since):
            slot = slot_of(message, alert_id)
            if slot and "@" in slot:
                got[(slot, number_to_id[message["to"]])] += 1
                times.append((slot, message["received_at"]))
    return got, times


def wait_until(moment: float) -> None:
    while time.time() < moment:
        time.sleep(0.05)


def kill_while_firing(stack: Stack, conn: redis.Redis, member: str, until: float) -> bool:
    """SIGKILL the scheduler while it is between claiming step `member` and writing it, if it can be
    caught there before `until`; kill it anyway otherwise. True if the kill landed mid-step.

    Redis holds every write while the step is seen claimed (CLIENT PAUSE), so the scheduler cannot finish
    the step between the look and the kill."""
    caught = False
    while time.time() < until and not caught:
        with conn.pipeline(transaction=True) as pipe:  # one look at both sets
            firing, waiting = (
                pipe.zscore(k.ESCALATION_FIRING, member).zscore(k.ESCALATION_DUE, member).execute()
            )
        if firing is not None:
            conn.execute_command("CLIENT", "PAUSE", "2000", "WRITE")
            caught = conn.zscore(k.ESCALATION_FIRING, member) is not None
            if caught:
                stack.stop("scheduler", signal.SIGKILL)
            conn.execute_command("CLIENT", "UNPAUSE")
        elif waiting is None:
            break  # fired already
    if not caught:
        stack.stop("scheduler", signal.SIGKILL)
    return caught


@pytest.mark.faults
@pytest.mark.timeout(300)
def test_a_scheduler_killed_mid_step_and_restarted_fires_every_step_exactly_once(
    stack_a: Stack, tmp_path: Path
) -> None:
    stack = stack_a
    t0 = time.time()
    _director, alert_id, rows, waves = send_alert(stack, tmp_path)
    conn = redis.Redis.from_url(stack.env["REDIS_URL"])
    caught: list[int] = []
    # Kill it at the officials' first call and at the superintendents' step, and bring it back a second
    # later each time (a restart takes a few seconds: killing it at every step would keep it down so long
    # that a repeat of the call is due before the first is fired, and the first is rightly dropped).
    for wave in (waves[0], waves[2]):
        member = f"{alert_id}|{wave.wave}"
        if kill_while_firing(stack, conn, member, until=wave.due + 2.0):
            caught.append(wave.wave)
        time.sleep(1.0)
        stack.start("scheduler")
    conn.close()
    print("steps caught mid-way by the kill:", caught)
    assert caught, "the kill never landed while a step was being fired: the test cannot judge it"
    wait_until(waves[-1].due + SETTLE)
    got, times = escalations(stack, alert_id, rows, t0)
    assert got == expected_steps(rows), sorted((got - expected_steps(rows)) + (expected_steps(rows) - got))
    # A step caught mid-way is fired when its claim runs out, not minutes of policy time later: before the
    # next step of the policy is due (a repeat that came too late would be dropped as overtaken).
    due = {f"@{w.wave}": w.due for w in waves}
    for slot, received in times:
        wave = "@" + slot.split("@")[1]
        assert received >= due[wave] - 0.05, (slot, received - due[wave])
        assert received <= due[wave] + 1.0 + FIRING_LEASE_SECONDS + 5.0, (slot, received - due[wave])


@pytest.mark.faults
@pytest.mark.timeout(300)
def test_two_schedulers_fire_every_step_exactly_once(stack_a: Stack, tmp_path: Path) -> None:
    stack = stack_a
    stack.start("scheduler", 2)  # three in all
    t0 = time.time()
    _director, alert_id, rows, waves = send_alert(stack, tmp_path)
    wait_until(waves[-1].due + SETTLE)
    got, times = escalations(stack, alert_id, rows, t0)
    assert got == expected_steps(rows), sorted((got - expected_steps(rows)) + (expected_steps(rows) - got))
    due = {f"@{w.wave}": w.due for w in waves}
    assert all(due["@" + s.split("@")[1]] - 0.05 <= r <= due["@" + s.split("@")[1]] + 3.0 for s, r in times)
    conn = redis.Redis.from_url(stack.env["REDIS_URL"])
    left = [m for key in (k.ESCALATION_DUE, k.ESCALATION_FIRING) for m in conn.zrange(key, 0, -1)]
    conn.close()
    assert [m for m in left if m.decode().startswith(alert_id)] == []
    logs = "".join(p.read_text() for p in (stack.log_dir or tmp_path).glob("scheduler-*.log"))
    assert "Traceback" not in logs, logs[-3000:]
