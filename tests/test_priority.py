"""A lockdown's SMS does not wait behind another alert's call-out, which the provider paces."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alertnet.domain.alert_request import example_alert_request
from alertnet.domain.registry_sample import generate_registry
from alertnet.store.server import RedisProcess
from tests.conftest import Stack, start_stack, stop_stack

CALLS_PER_SECOND = 4


@pytest.fixture
def paced_stack(redis_server: RedisProcess, tmp_path: Path) -> Iterator[Stack]:
    stack = start_stack(
        redis_server,
        tmp_path / "data",
        db=4,
        ALERTNET_TWILIO_CALLS_PER_SECOND=str(CALLS_PER_SECOND),
        # Unpaced, a batch of 40 calls would hold a worker for 10 s; paced batches are cut to 5 s.
        ALERTNET_PIPELINE_VOICE_BATCH="40",
        ALERTNET_ESCALATION_TIME_SCALE="1000",  # no escalation step fires while the test runs
    )
    yield stack
    stop_stack(stack)


def test_a_new_alerts_sms_overtakes_a_paced_call_out(paced_stack: Stack, tmp_path: Path) -> None:
    stack = paced_stack
    (tmp_path / "registry.csv").write_text(generate_registry(120, seed=3))
    assert stack.import_contacts(tmp_path / "registry.csv").returncode == 0
    director = stack.add_sender("priority-director", "director")
    call_out = stack.post_alert(
        director, {**example_alert_request(), "event": "Severe weather", "channels": ["voice"]}
    ).json()
    calls = call_out["recipients"]["voice"]
    assert calls / CALLS_PER_SECOND >= 20, "the call-out must outlast the test's bound by far"
    time.sleep(3.0)  # both workers are now inside paced call batches
    posted = time.time()
    lockdown = stack.post_alert(director, {**example_alert_request(), "channels": ["sms"]}).json()
    deadline = posted + 30
    first_sms = None
    while first_sms is None and time.time() < deadline:
        sms = [m for m in stack.sim_messages("sms", posted) if lockdown["id"] in m["body"]]
        first_sms = min((m["received_at"] for m in sms), default=None)
        time.sleep(0.1)
    assert first_sms is not None, "the lockdown SMS never went out"
    # A paced batch holds a worker for about 5 s; the call-out itself would hold them for 30 s.
    assert first_sms - posted < 7.0
    placed = [m for m in stack.sim_messages("voice", 0) if call_out["id"] in str(m)]
    assert len(placed) < calls, "the call-out had finished: the test proved nothing"
