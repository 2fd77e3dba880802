"""Every worker SIGKILLed in the middle of a 10,000-official fan-out on all three channels, then new
workers started: every SMS and call went out exactly once and every email at least once (v3 Mail Send
cannot be asked what it accepted), read at the simulators."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from alertnet.domain.alert_request import example_alert_request
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.store.server import RedisProcess
from tests.conftest import start_stack, stop_stack

SIZE = 10_000
DB = 2


@pytest.mark.faults
@pytest.mark.timeout(600)
def test_workers_killed_mid_fanout_of_10000_officials_lose_and_double_nothing(
    redis_server: RedisProcess, tmp_path: Path
) -> None:
    stack = start_stack(
        redis_server,
        tmp_path / "data",
        db=DB,
        ALERTNET_ESCALATION_TIME_SCALE="1000",  # no escalation step may add messages of its own
    )
    try:
        text = generate_registry(SIZE, seed=41)
        (tmp_path / "registry.csv").write_text(text)
        assert stack.import_contacts(tmp_path / "registry.csv").returncode == 0
        officials = [o for o in parse_registry(text) if o.active]
        director = stack.add_sender("kill-director", "director")
        stack.set_faults(latency_ms=20)  # keeps the fan-out going long enough for the kill to land in it
        t0 = time.time()
        accepted = stack.post_alert(director, example_alert_request())
        assert accepted.status_code == 202, accepted.text
        alert_id = accepted.json()["id"]
        deadline = time.monotonic() + 60
        while len(stack.sim_messages("sms", t0)) < 200:
            assert time.monotonic() < deadline, "the fan-out never started"
            time.sleep(0.1)
        stack.stop("worker", signal.SIGKILL)
        sent_before = len(stack.sim_messages("sms", t0))
        mobiles = Counter(o.mobile for o in officials if o.mobile)
        assert sent_before < sum(mobiles.values()), "the kill came after the last SMS"
        stack.clear_faults()
        stack.start("worker", 2)
        status = stack.wait_settled(director, alert_id, timeout=420)
        sms, calls, emails = (
            Counter(m["to"].lower() for m in stack.sim_messages(kind, t0) if alert_id in str(m))
            for kind in ("sms", "voice", "email")
        )
    finally:
        stop_stack(stack)
    channels = status["channels"]
    assert channels["sms"]["states"] == {"delivered": channels["sms"]["total"]}
    assert channels["voice"]["states"] == {"delivered": channels["voice"]["total"]}
    assert sms == mobiles
    assert calls == Counter(o.voice for o in officials if o.voice)
    assert set(emails) == {o.email.lower() for o in officials if o.email}
