"""Acknowledgements under load and through a Redis restart (issue: reliability).

Signed Twilio inbound-SMS webhooks ("1" replies), as Twilio posts them, as fast as they go: while a
fan-out runs, every ack is recorded exactly once; with Redis killed and started again from its
append-only file mid-burst, the API answers 503 with Retry-After meanwhile, and every reply that got a
2xx is recorded afterwards.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import redis
import requests
from redis.asyncio import Redis as AsyncRedis
from twilio.request_validator import RequestValidator

from alertnet.domain.acks import Ack, AckChannel
from alertnet.domain.alert_request import example_alert_request
from alertnet.domain.contacts import Official
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.settings import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN
from alertnet.sim.twilio_common import inbound_sms_params
from alertnet.store import keys as k
from alertnet.store.acks import AckStore
from alertnet.store.server import RedisProcess, start_redis
from alertnet.store.webhooks import TAKEOVER_SECONDS, HandledRequests
from tests.conftest import Stack, start_stack, stop_stack

HUB_NUMBER = "+15735550190"
FORM = "application/x-www-form-urlencoded"


@dataclass
class Sent:
    """One webhook request and what became of it: every answer it got, in order."""

    body: bytes
    signature: str
    official_id: str
    answers: list[tuple[int, str, str]] = field(default_factory=list)  # (status, Retry-After, body)
    answered: float = 0.0  # when the last answer came (wall clock)

    @property
    def ok(self) -> bool:
        return bool(self.answers) and 200 <= self.answers[-1][0] < 300


def signed(url: str, officials: list[Official], copies: int = 1) -> list[Sent]:
    """A "1" reply from each official's mobile (`copies` of each, each its own MessageSid), signed."""
    validator = RequestValidator(SIM_AUTH_TOKEN)
    out = []
    for copy in range(copies):
        for n, official in enumerate(officials):
            assert official.mobile is not None
            sid = f"SM{copy:04x}{n:028x}"
            params = inbound_sms_params(SIM_ACCOUNT_SID, sid, official.mobile, HUB_NUMBER, "1")
            out.append(
                Sent(urlencode(params).encode(), validator.compute_signature(url, params), official.id)
            )
    return out


async def post_all(url: str, sent: list[Sent], in_flight: int, *, retry_for: float = 0.0) -> None:
    """Post every request, `in_flight` at a time; with `retry_for`, a request answered 5xx or not at all
    is posted again (after its Retry-After, at most 1 s) until it gets a 2xx or `retry_for` runs out."""
    queue = list(reversed(sent))
    deadline = time.monotonic() + retry_for
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def client() -> None:
            while queue:
                item = queue.pop()
                while True:
                    headers = {"X-Twilio-Signature": item.signature, "Content-Type": FORM}
                    try:
                        async with session.post(url, data=item.body, headers=headers) as response:
                            answer = (response.status, response.headers.get("Retry-After", ""))
                            item.answers.append((*answer, await response.text()))
                    except (aiohttp.ClientError, TimeoutError) as error:
                        item.answers.append((0, "", repr(error)))
                    item.answered = time.time()
                    if item.ok or time.monotonic() > deadline:
                        break
                    retry_after = float(item.answers[-1][1] or "0.2")
                    await asyncio.sleep(min(retry_after, 1.0))

        await asyncio.gather(*(client() for _ in range(in_flight)))


def report(stack: Stack, token: str, alert_id: str) -> dict[str, Any]:
    response = requests.get(
        f"{stack.api}/v1/alerts/{alert_id}/acks", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def reachable(text: str) -> list[Official]:
    """Active officials with a mobile number no one else has (a reply names only its number)."""
    officials = [o for o in parse_registry(text) if o.active and o.mobile]
    counts = Counter(o.mobile for o in officials)
    return [o for o in officials if counts[o.mobile] == 1]


@pytest.fixture
def load_stack(redis_server: RedisProcess, tmp_path: Path) -> Iterator[Stack]:
    stack = start_stack(
        redis_server,
        tmp_path / "data",
        db=11,
        log_dir=tmp_path / "logs",
        ALERTNET_ESCALATION_TIME_SCALE="1000",
    )
    redis.Redis.from_url(stack.env["REDIS_URL"]).flushdb()
    yield stack
    stop_stack(stack)


@pytest.mark.faults
@pytest.mark.timeout(300)
def test_2000_acks_during_a_fan_out_are_each_recorded_exactly_once(load_stack: Stack, tmp_path: Path) -> None:
    stack = load_stack
    text = generate_registry(2300, seed=31)
    (tmp_path / "registry.csv").write_text(text)
    assert stack.import_contacts(tmp_path / "registry.csv").returncode == 0
    officials = reachable(text)[:2000]
    assert len(officials) == 2000
    director = stack.add_sender("acks-director", "director")
    url = f"{stack.api}/v1/webhooks/twilio/sms"
    # Two replies from each official (two messages, as a person who presses send twice), at once.
    sent = signed(url, officials, copies=2)
    stack.set_faults(latency_ms=40)  # the fan-out's provider requests take a while: it runs throughout
    try:
        t0 = time.time()
        accepted = stack.post_alert(
            director,
            {**example_alert_request(), "audience": {"statewide": True}, "channels": ["sms", "email"]},
        )
        assert accepted.status_code == 202, accepted.text
        alert_id = accepted.json()["id"]
        asyncio.run(post_all(url, sent, in_flight=48))
    finally:
        stack.clear_faults()
    stack.wait_settled(director, alert_id, timeout=120)
    first_ack = min(s.answered for s in sent if "Acknowledged:" in s.answers[-1][2])
    sms_after = [m for m in stack.sim_messages("sms", t0) if m["received_at"] > first_ack]
    assert len(sms_after) > 100, "the fan-out was over before the acks began: the test cannot judge it"
    assert Counter(s.answers[-1][0] for s in sent) == {200: len(sent)}
    # Exactly one of each official's two replies is the acknowledgement.
    firsts = Counter(s.official_id for s in sent if "Acknowledged:" in s.answers[-1][2])
    assert firsts == Counter({o.id: 1 for o in officials})
    acks = report(stack, director, alert_id)
    recorded = Counter(a["official_id"] for a in acks["acknowledged"])
    assert recorded == Counter({o.id: 1 for o in officials})
    assert {a["channel"] for a in acks["acknowledged"]} == {"sms"}
    conn = redis.Redis.from_url(stack.env["REDIS_URL"])
    audited = [
        f
        for _id, f in conn.xrange(k.AUDIT_STREAM)
        if f[b"action"] == b"acknowledge" and alert_id.encode() in f.get(b"detail", b"")
    ]
    conn.close()
    assert len(audited) == 2000  # audited once each, too


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    server = start_redis(tmp_path / "redis", persistent=True)
    yield server
    server.stop()


@pytest.mark.faults
@pytest.mark.timeout(300)
def test_redis_restarted_mid_burst_loses_no_acknowledged_ack(own_redis: RedisProcess, tmp_path: Path) -> None:
    stack = start_stack(
        own_redis, tmp_path / "data", log_dir=tmp_path / "logs", ALERTNET_ESCALATION_TIME_SCALE="1000"
    )
    try:
        text = generate_registry(1200, seed=32)
        (tmp_path / "registry.csv").write_text(text)
        assert stack.import_contacts(tmp_path / "registry.csv").returncode == 0
        officials = reachable(text)[:1000]
        director = stack.add_sender("restart-director", "director")
        accepted = stack.post_alert(
            director, {**example_alert_request(), "audience": {"statewide": True}, "channels": ["sms"]}
        )
        assert accepted.status_code == 202, accepted.text
        alert_id = accepted.json()["id"]
        stack.wait_settled(director, alert_id, timeout=120)
        url = f"{stack.api}/v1/webhooks/twilio/sms"
        sent = signed(url, officials)

        async def burst_with_a_restart() -> None:
            posting = asyncio.create_task(post_all(url, sent, in_flight=16, retry_for=60.0))
            while sum(1 for s in sent if s.answers) < len(sent) // 3:
                await asyncio.sleep(0.01)
            own_redis.process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(own_redis.process.wait)
            await asyncio.sleep(2.0)
            restarted = await asyncio.to_thread(start_redis, own_redis.data_dir, port=own_redis.port)
            own_redis.process = restarted.process
            await posting

        asyncio.run(burst_with_a_restart())
        acks = report(stack, director, alert_id)
    finally:
        stop_stack(stack)
    statuses = Counter(status for s in sent for status, _retry, _body in s.answers)
    assert statuses[503] > 0, statuses  # the API said so while Redis was away...
    retry_afters = {retry for s in sent for status, retry, _b in s.answers if status == 503}
    assert retry_afters and all(float(r) > 0 for r in retry_afters), retry_afters  # ...and when to retry
    assert {s.answers[-1][0] for s in sent} == {200}, statuses
    acknowledged = {a["official_id"] for a in acks["acknowledged"]}
    lost = [(s.official_id, s.answers) for s in sent if s.ok and s.official_id not in acknowledged]
    assert lost == [], f"{len(lost)} replies answered 2xx but not recorded: {lost[:3]}"
    assert acknowledged == {o.id for o in officials}


def test_a_request_left_half_handled_is_taken_over_not_answered_as_handled(fresh_redis_url: str) -> None:
    """The marker of a request whose handler lost Redis mid-way outlives it: a retry waits for it and takes
    it over (an empty "already handled" answer would lose the ack); a live handler's duplicate is answered
    as handled once that handler is done; an ack recorded with its marker is never handled twice."""

    async def scenario() -> None:
        conn = AsyncRedis.from_url(fresh_redis_url)
        handled, acks = HandledRequests(conn), AckStore(conn)
        assert await handled.begin("twilio-sms", "SM1")  # ... and its handler dies: nothing recorded
        started = time.monotonic()
        assert await handled.begin("twilio-sms", "SM1")  # the retry takes it over
        assert time.monotonic() - started >= TAKEOVER_SECONDS - 0.1
        # The retry records the ack with its marker: a later retry is answered as handled, at once.
        ack = Ack("A1", "of-1", time.time(), AckChannel.SMS)
        assert await acks.record(ack, handled=handled.key("twilio-sms", "SM1"))
        await handled.abandon("twilio-sms", "SM1")  # a failure after the ack does not undo the mark
        assert not await handled.begin("twilio-sms", "SM1")
        # A duplicate arriving while the first is being handled waits for it, then is answered as handled.
        assert await handled.begin("twilio-sms", "SM2")
        duplicate = asyncio.create_task(handled.begin("twilio-sms", "SM2"))
        await asyncio.sleep(0.3)
        assert not duplicate.done()
        await handled.done("twilio-sms", "SM2")
        assert await duplicate is False
        # One abandoned (Redis answered) is handled again by the next one at once.
        assert await handled.begin("twilio-sms", "SM3")
        await handled.abandon("twilio-sms", "SM3")
        assert await handled.begin("twilio-sms", "SM3")
        await conn.aclose()

    asyncio.run(scenario())
