"""Redis killed mid fan-out and started again from its append-only file: nothing lost, nothing doubled.

The hub's own Redis (as `make run` starts it) keeps an append-only file. While it is down, workers cannot
record what they sent and the API cannot take the providers' callbacks. When it is back, the interrupted
batches are put back, each attempt whose outcome was never recorded is looked up at the provider before
anything is sent again, and receipts lost meanwhile are looked up too: every delivery settles, and every
SMS and call went out exactly once.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from alertnet.domain.alert_request import example_alert_request
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.store.server import RedisProcess, start_redis
from tests.conftest import start_stack, stop_stack


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    server = start_redis(tmp_path / "redis", persistent=True)
    yield server
    server.stop()


@pytest.mark.timeout(300)
def test_redis_killed_mid_fanout_loses_nothing_and_doubles_nothing(
    own_redis: RedisProcess, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    stack = start_stack(
        own_redis,
        tmp_path / "data",
        log_dir=logs,
        ALERTNET_PIPELINE_RECEIPT_OVERDUE_SECONDS="3",
        # No escalation step may fire while the test runs: it would add messages of its own.
        ALERTNET_ESCALATION_TIME_SCALE="1000",
    )
    try:
        text = generate_registry(600, seed=5)
        (tmp_path / "registry.csv").write_text(text)
        assert stack.import_contacts(tmp_path / "registry.csv").returncode == 0
        officials = [o for o in parse_registry(text) if o.active]
        director = stack.add_sender("crash-director", "director")
        # Slow provider answers keep the fan-out going for a few seconds, so the kill lands mid-batch.
        stack.set_faults(latency_ms=400)
        t0 = time.time()
        accepted = stack.post_alert(director, example_alert_request())
        assert accepted.status_code == 202, accepted.text
        alert_id = accepted.json()["id"]
        time.sleep(1.0)
        own_redis.process.send_signal(signal.SIGKILL)
        own_redis.process.wait()
        sent_before = len(stack.sim_messages("sms", t0))
        assert sent_before < len({o.mobile for o in officials if o.mobile}), "the kill came too late"
        time.sleep(2.0)
        own_redis.process = start_redis(own_redis.data_dir, port=own_redis.port, persistent=True).process
        stack.clear_faults()

        status = stack.wait_settled(director, alert_id, timeout=120)
        sms, calls, emails = (
            Counter(m["to"].lower() for m in stack.sim_messages(kind, t0) if alert_id in str(m))
            for kind in ("sms", "voice", "email")
        )
    finally:
        stop_stack(stack)
    channels = status["channels"]
    assert channels["sms"]["states"] == {"delivered": channels["sms"]["total"]}
    assert channels["voice"]["states"] == {"delivered": channels["voice"]["total"]}
    assert set(channels["email"]["states"]) == {"delivered"}
    assert sms == Counter(o.mobile for o in officials if o.mobile)
    assert calls == Counter(o.voice for o in officials if o.voice)
    # v3 Mail Send cannot be asked what it accepted: an email caught in flight may come twice, never not.
    assert set(emails) == {o.email.lower() for o in officials if o.email}
