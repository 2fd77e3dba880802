"""A statewide alert while the providers misbehave: 20% of send requests answered 500 (half of them after
the message was accepted all the same), 10% answered 429, some held past the client's timeout (before or
after acceptance), and a few numbers refused for good. Every delivery ends delivered, or parked with its
reason; every SMS and call reaches the simulator exactly once (the hub looks a message up before it
sends again after a 5xx or a timeout); every email at least once (SendGrid cannot be asked); a permanent
4xx is not retried."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from alertnet.domain.alert_request import example_alert_request
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.store import keys as k
from alertnet.store.server import RedisProcess
from tests.conftest import Stack, start_stack, stop_stack

OFFICIALS = 300
DB = 15
REFUSED = 3  # officials whose mobile Twilio refuses for good (400, 21614)


@pytest.fixture
def faulty_stack(redis_server: RedisProcess, tmp_path: Path) -> Iterator[Stack]:
    stack = start_stack(
        redis_server,
        tmp_path / "data",
        db=DB,
        # No escalation step fires while the test runs: it would add messages of its own.
        ALERTNET_ESCALATION_TIME_SCALE="1000",
    )
    yield stack
    stop_stack(stack)


@pytest.mark.faults
@pytest.mark.timeout(150)
def test_a_fan_out_through_failing_providers_ends_exactly_once(faulty_stack: Stack, tmp_path: Path) -> None:
    stack = faulty_stack
    text = generate_registry(OFFICIALS, seed=11)
    (tmp_path / "registry.csv").write_text(text)
    assert stack.import_contacts(tmp_path / "registry.csv").returncode == 0
    officials = [o for o in parse_registry(text) if o.active]
    director = stack.add_sender("faults-director", "director")
    refused = {o.mobile for o in officials if o.mobile}
    refused = set(sorted(refused)[:REFUSED])
    before = _stats(stack)
    stack.set_faults(
        error_rate=0.10,  # 500 before anything was done
        accepted_error_rate=0.10,  # 500 although the message was accepted (it goes out)
        rate_429=0.10,
        hang_rate=0.03,  # held past the SDK's 10 s timeout, then dropped unprocessed
        accepted_hang_rate=0.03,  # accepted, and the answer held past the timeout
        hang_ms=11_000,
        fail_numbers=sorted(refused),
    )
    t0 = time.time()
    try:
        accepted = stack.post_alert(director, example_alert_request())
        assert accepted.status_code == 202, accepted.text
        alert_id = accepted.json()["id"]
        status = stack.wait_settled(director, alert_id, timeout=100)
    finally:
        stack.clear_faults()
    after = _stats(stack)

    # The faults did happen, on every kind of request.
    codes = Counter(
        {code: n - before["status_codes"].get(code, 0) for code, n in after["status_codes"].items()}
    )
    assert codes["500"] > 20 and codes["429"] > 10 and codes["504"] > 0, codes
    for kind in ("sms", "voice", "email"):
        assert after["kinds"][kind]["requests"] > before["kinds"][kind]["requests"]
    # The hub gave up on every Twilio request held past its timeout, instead of waiting for ever (a hang
    # of 11 s is within SendGrid's 30 s: that client waits, as it should).
    for kind in ("sms", "voice"):
        hangs, earlier = after["hangs"][kind], before["hangs"][kind]
        assert hangs["abandoned"] > earlier["abandoned"] and hangs["waited"] == earlier["waited"], hangs

    mobiles = Counter(o.mobile for o in officials if o.mobile)
    voices = Counter(o.voice for o in officials if o.voice)
    emails = {o.email.lower() for o in officials if o.email}
    channels = status["channels"]
    assert channels["sms"]["states"] == {"delivered": sum(mobiles.values()) - REFUSED, "parked": REFUSED}
    assert channels["voice"]["states"] == {"delivered": sum(voices.values())}
    assert channels["email"]["states"] == {"delivered": channels["email"]["total"]}

    # Exactly once at the simulator: every SMS and call, however its first answer went.
    sms = Counter(m["to"] for m in stack.sim_messages("sms", t0) if alert_id in str(m))
    calls = Counter(m["to"] for m in stack.sim_messages("voice", t0) if alert_id in str(m))
    assert sms == mobiles - Counter(refused)
    assert calls == voices
    # Email at least once.
    sent_to = {str(m["to"]).lower() for m in stack.sim_messages("email", t0) if alert_id in str(m)}
    assert emails <= sent_to

    # A permanent refusal was asked once (earlier faults on the way to it aside) and parked with its reason.
    refusals = after["kinds"]["sms"]["status_codes"].get("400", 0)
    assert refusals - before["kinds"]["sms"]["status_codes"].get("400", 0) == REFUSED
    conn = redis.Redis.from_url(stack.env["REDIS_URL"])
    try:
        parked = [
            json.loads(raw)
            for raw in conn.hvals(f"{k.DELIVERY_KEY}{alert_id}:sms")
            if json.loads(raw)["s"] == "parked"
        ]
    finally:
        conn.close()
    assert len(parked) == REFUSED and all("21614" in d["r"] for d in parked), parked
    # The reason is kept and logged: no full phone number in it.
    assert not [d["r"] for d in parked if any(number in d["r"] for number in refused)]


def _stats(stack: Stack) -> dict[str, Any]:
    response = requests.get(f"{stack.sim}/sim/stats", timeout=30)
    response.raise_for_status()
    stats: dict[str, Any] = response.json()
    return stats
