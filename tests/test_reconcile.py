"""Status callbacks lost while the API was down: the scheduler looks the messages up at the provider."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from alertnet.domain.alert_request import example_alert_request
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.store.server import RedisProcess
from tests.conftest import Stack, start_stack, stop_stack, wait_http


@pytest.fixture
def quick_reconcile_stack(redis_server: RedisProcess, tmp_path: Path) -> Iterator[Stack]:
    stack = start_stack(
        redis_server,
        tmp_path / "data",
        db=3,
        ALERTNET_PIPELINE_RECEIPT_OVERDUE_SECONDS="2",
        ALERTNET_ESCALATION_TIME_SCALE="1000",  # no escalation step fires while the test runs
    )
    yield stack
    stop_stack(stack)


def test_receipts_lost_while_the_api_was_down_are_looked_up(
    quick_reconcile_stack: Stack, tmp_path: Path
) -> None:
    stack = quick_reconcile_stack
    text = generate_registry(60, seed=8)
    (tmp_path / "registry.csv").write_text(text)
    assert stack.import_contacts(tmp_path / "registry.csv").returncode == 0
    officials = [o for o in parse_registry(text) if o.active]
    director = stack.add_sender("reconcile-director", "director")
    failed_before = requests.get(f"{stack.sim}/sim/stats", timeout=10).json()["callbacks"]["failed"]
    # The provider answers slowly, so every send is accepted after the API has gone: the workers record
    # each one as sent, and every status callback finds nobody (the simulator gives up after retries).
    stack.set_faults(latency_ms=1500)
    t0 = time.time()
    accepted = stack.post_alert(director, {**example_alert_request(), "channels": ["sms", "voice"]})
    assert accepted.status_code == 202, accepted.text
    alert_id = accepted.json()["id"]
    stack.stop("api")
    time.sleep(4.0)
    stack.clear_faults()
    stack.start("api")
    wait_http(f"{stack.api}/healthz")
    status = stack.wait_settled(director, alert_id, timeout=60)

    stats = requests.get(f"{stack.sim}/sim/stats", timeout=10).json()["callbacks"]
    mobiles = Counter(o.mobile for o in officials if o.mobile)
    voices = Counter(o.voice for o in officials if o.voice)
    assert stats["failed"] - failed_before >= len(mobiles), "the callbacks were not lost: nothing to test"
    assert status["channels"]["sms"]["states"] == {"delivered": sum(mobiles.values())}
    assert status["channels"]["voice"]["states"] == {"delivered": sum(voices.values())}
    sent = {kind: stack.sim_messages(kind, t0) for kind in ("sms", "voice")}
    assert Counter(m["to"] for m in sent["sms"] if alert_id in str(m)) == mobiles
    assert Counter(m["to"] for m in sent["voice"] if alert_id in str(m)) == voices
