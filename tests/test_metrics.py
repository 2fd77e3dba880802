"""`/metrics`: the deployment-wide counters in Redis, rendered through prometheus_client and read back with
its own parser, agree with what the simulators received after a real fan-out; plus the pure parts (buckets,
who may scrape, the in-process request tally, the rendering)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from twilio.base.exceptions import TwilioRestException

from alertnet.channels.base import Outcome
from alertnet.channels.request_stats import REQUESTS, RequestStats
from alertnet.channels.sendgrid_email import SendGridEmail
from alertnet.channels.twilio_common import classify_twilio_call
from alertnet.domain.contacts import Official
from alertnet.domain.metrics import (
    ACK_SECONDS,
    INF,
    PROVIDER_SECONDS,
    RequestCounts,
    bucket_of,
    cumulative,
    scrape_refusal,
    window_buckets,
)
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.services.metrics import render
from alertnet.settings import load_settings
from alertnet.store.metrics import MetricsSnapshot
from alertnet.store.server import RedisProcess
from tests.conftest import Stack, start_stack, stop_stack

DB = 20
CHANNELS = ("sms", "voice", "email")
SIM_KIND = {"sms": "sms", "voice": "voice", "email": "email"}


# -- the pure parts ---------------------------------------------------------------------------------------


def test_an_observation_falls_in_the_first_bucket_at_or_above_it() -> None:
    assert bucket_of(0.0, PROVIDER_SECONDS) == "0.025"
    assert bucket_of(0.05, PROVIDER_SECONDS) == "0.05"
    assert bucket_of(0.051, PROVIDER_SECONDS) == "0.1"
    assert bucket_of(31, PROVIDER_SECONDS) == INF
    assert bucket_of(60, ACK_SECONDS) == "60"


def test_buckets_become_cumulative_and_end_with_inf() -> None:
    counts = {"0.5": 2, "1": 1, INF: 4, "0.3": 5}  # "0.3" is no bucket (any more): only +Inf counts it
    assert cumulative(counts, (0.5, 1.0, 2.0)) == [("0.5", 2), ("1", 3), ("2", 3), (INF, 12)]
    assert window_buckets([0.01, 0.2, 0.2, 500], (0.1, 1.0)) == {"0.1": 1, "1": 2, INF: 1}


def test_who_may_scrape() -> None:
    # No token: this host only, and not through a proxy.
    assert scrape_refusal("", "", "127.0.0.1", False) == 0
    assert scrape_refusal("", "", "::1", False) == 0
    assert scrape_refusal("", "", "127.0.0.1", True) == 403
    assert scrape_refusal("", "", "10.1.2.3", False) == 403
    assert scrape_refusal("", "", "", False) == 403
    # A token: everyone must carry it, this host too.
    assert scrape_refusal("s3cret", "Bearer s3cret", "10.1.2.3", True) == 0
    assert scrape_refusal("s3cret", "bearer s3cret", "10.1.2.3", False) == 0
    assert scrape_refusal("s3cret", "", "127.0.0.1", False) == 401
    assert scrape_refusal("s3cret", "Bearer wrong", "127.0.0.1", False) == 401
    assert scrape_refusal("s3cret", "Basic s3cret", "127.0.0.1", False) == 401


def test_the_request_tally_drains_and_takes_back_what_failed_to_be_written() -> None:
    stats = RequestStats()
    stats.note("twilio", "sms", 0.04)
    stats.note("twilio", "sms", 0.2, "400", "21211")
    stats.note("sendgrid", "email", 40.0, "timeout")
    counts = stats.drain()
    assert counts.buckets == {"twilio|sms|0.05": 1, "twilio|sms|0.25": 1, "sendgrid|email|+Inf": 1}
    assert counts.counts == {"twilio|sms": 2, "sendgrid|email": 1}
    assert counts.sums["twilio|sms"] == pytest.approx(0.24)
    assert counts.errors == {"twilio|sms|400|21211": 1, "sendgrid|email|timeout|": 1}
    assert not stats.drain()
    stats.put_back(counts)
    stats.note("twilio", "sms", 0.01)
    again = stats.drain()
    assert again.counts == {"twilio|sms": 3, "sendgrid|email": 1}
    assert again.buckets["twilio|sms|0.025"] == 1 and again.errors == counts.errors
    assert not RequestCounts()


async def test_twilio_and_sendgrid_requests_are_timed_and_their_failures_counted() -> None:
    REQUESTS.drain()

    async def refused() -> None:
        raise TwilioRestException(400, "/Messages.json", "not a mobile number +15735550100", code=21614)

    async def accepted() -> Any:
        return SimpleNamespace(sid="SM1")

    assert (await classify_twilio_call("of-1", refused(), channel="sms")).outcome is Outcome.PERMANENT
    assert (await classify_twilio_call("of-2", accepted(), channel="voice")).provider_id == "SM1"
    await classify_twilio_call("of-3", accepted())  # no channel: a look-up, not counted

    class Unanswered(SendGridEmail):
        def _post(self, body: dict[str, Any]) -> str:
            raise TimeoutError

    email = Unanswered.from_settings(load_settings(env={}))
    assert email._send_request({})[0] is Outcome.AMBIGUOUS
    counts = REQUESTS.drain()
    assert counts.counts == {"twilio|sms": 1, "twilio|voice": 1, "sendgrid|email": 1}
    assert counts.errors == {"twilio|sms|400|21614": 1, "sendgrid|email|timeout|": 1}


def test_a_snapshot_renders_to_text_the_client_parser_reads_back() -> None:
    snapshot = MetricsSnapshot(
        counters={
            "deliveries": {"sms|delivered": 3, "sms|queued": 3, "not a field": 1},
            "acks": {"sms": 2},
            "ack_seconds": {"sms|10": 1, "sms|60": 1, "sms|sum": 25.5, "sms|count": 2},
            "requests": {"twilio|sms|0.05": 2, "twilio|sms|sum": 0.04, "twilio|sms|count": 2},
            "request_errors": {"twilio|sms|400|21211": 1},
            "webhook_rejected": {"twilio|bad_signature": 1},
        },
        queues={"alertnet-critical": 4},
        batches_unfinished=2,
        lateness=[0.01, 0.3, 2.0],
    )
    parsed = scrape_text(render(snapshot).decode())
    assert parsed[("alertnet_deliveries_total", (("channel", "sms"), ("state", "delivered")))] == 3
    assert len([key for key in parsed if key[0] == "alertnet_deliveries_total"]) == 2
    assert parsed[("alertnet_time_to_ack_seconds_bucket", (("channel", "sms"), ("le", "30")))] == 1
    assert parsed[("alertnet_time_to_ack_seconds_bucket", (("channel", "sms"), ("le", "+Inf")))] == 2
    assert parsed[("alertnet_time_to_ack_seconds_sum", (("channel", "sms"),))] == 25.5
    errors = (("channel", "sms"), ("code", "21211"), ("provider", "twilio"), ("status", "400"))
    assert parsed[("alertnet_provider_request_errors_total", errors)] == 1
    assert parsed[("alertnet_queue_depth", (("queue", "alertnet-critical"),))] == 4
    assert parsed[("alertnet_escalation_step_lateness_seconds_bucket", (("le", "0.5"),))] == 2
    assert parsed[("alertnet_escalation_step_lateness_seconds_gcount", ())] == 3


# -- the real stack ---------------------------------------------------------------------------------------


def scrape_text(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample, parsed by the Prometheus client's own parser: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(parsed: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return parsed.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def hub(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Escalation 100 times slower: the exercise policy's calls after a minute must not come during the test.
    started = start_stack(
        redis_server, tmp_path_factory.mktemp("metrics-data"), db=DB, ALERTNET_ESCALATION_TIME_SCALE="100"
    )
    yield started
    stop_stack(started)


@pytest.fixture(scope="module")
def district(hub: Stack, tmp_path_factory: pytest.TempPathFactory) -> list[Official]:
    text = generate_registry(60, seed=20)
    path: Path = tmp_path_factory.mktemp("metrics-registry") / "registry.csv"
    path.write_text(text)
    assert hub.import_contacts(path).returncode == 0
    officials = [o for o in parse_registry(text) if o.active]
    name = officials[0].district
    return [o for o in officials if o.district == name]


def scrape(hub: Stack, **headers: str) -> requests.Response:
    return requests.get(f"{hub.api}/metrics", headers=headers, timeout=30)


def test_metrics_agree_with_the_simulators_after_a_fan_out(hub: Stack, district: list[Official]) -> None:
    director = hub.add_sender("metrics-director", "director")
    before = scrape_text(scrape(hub).text)
    assert value(before, "alertnet_deliveries_total", channel="sms", state="delivered") == 0
    alert = hub.post_alert(
        director,
        {
            "status": "Exercise",
            "msgType": "Alert",
            "severity": "Severe",
            "urgency": "Immediate",
            "certainty": "Observed",
            "event": "Lockdown",
            "headline": "Metrics drill",
            "audience": {"districts": [district[0].district]},
            "channels": list(CHANNELS),
        },
    )
    assert alert.status_code == 202, alert.text
    status = hub.wait_settled(director, alert.json()["id"])
    # Two officials acknowledge by SMS reply, through the simulator (a signed inbound webhook).
    mobiles = list(dict.fromkeys(o.mobile for o in district if o.mobile))[:2]
    for mobile in mobiles:
        answer = requests.post(f"{hub.sim}/sim/reply", json={"from": mobile, "body": "1"}, timeout=10)
        assert "Acknowledged" in answer.json()["body"], answer.text
    forged = requests.post(
        f"{hub.api}/v1/webhooks/twilio/status?d=x.sms.y",
        data={"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered"},
        headers={"X-Twilio-Signature": "forged"},
        timeout=10,
    )
    assert forged.status_code == 403

    sims = {channel: hub.sim_messages(SIM_KIND[channel]) for channel in CHANNELS}
    stats = requests.get(f"{hub.sim}/sim/stats", timeout=10).json()
    final = {"sms": "delivered", "voice": "completed"}
    expected_delivered = {
        channel: sum(1 for m in sims[channel] if channel == "email" or m.get("status") == final[channel])
        for channel in CHANNELS
    }
    deadline = time.monotonic() + 20
    while True:  # the last results' request times reach Redis just after their state moves
        response = scrape(hub)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        parsed = scrape_text(response.text)
        requested = {
            c: value(parsed, "alertnet_provider_request_seconds_count", provider=p, channel=c)
            for p, c in (("twilio", "sms"), ("twilio", "voice"), ("sendgrid", "email"))
        }
        if all(requested[c] == stats["kinds"][SIM_KIND[c]]["requests"] for c in CHANNELS):
            break
        assert time.monotonic() < deadline, (requested, stats["kinds"])
        time.sleep(0.3)

    for channel in CHANNELS:
        received = len(sims[channel])
        assert received > 0, channel
        delivered = value(parsed, "alertnet_deliveries_total", channel=channel, state="delivered")
        assert delivered == expected_delivered[channel] == status["channels"][channel]["states"]["delivered"]
        assert value(parsed, "alertnet_deliveries_total", channel=channel, state="queued") == received
        assert value(parsed, "alertnet_message_recipients_total", kind="alert", channel=channel) == received
        assert (
            value(parsed, "alertnet_provider_request_seconds_bucket", **_series(channel), le="+Inf")
            == (requested[channel])
        )
    assert value(parsed, "alertnet_messages_total", kind="alert") == 1
    assert value(parsed, "alertnet_acks_total", channel="sms") == len(mobiles) == 2
    assert value(parsed, "alertnet_time_to_ack_seconds_count", channel="sms") == 2
    assert value(parsed, "alertnet_time_to_ack_seconds_bucket", channel="sms", le="+Inf") == 2
    assert value(parsed, "alertnet_webhook_rejections_total", provider="twilio", reason="bad_signature") == 1
    assert not [key for key in parsed if key[0] == "alertnet_provider_request_errors_total"]
    depths = {
        dict(labels)["queue"]: n for (name, labels), n in parsed.items() if name == "alertnet_queue_depth"
    }
    assert set(depths) == {
        "alertnet-critical",
        "alertnet-high",
        "alertnet-calls",
        "alertnet-notice",
        "alertnet-bulk",
    }
    assert all(n >= 0 for n in depths.values())
    assert ("alertnet_escalation_steps_due", ()) in parsed
    assert value(parsed, "alertnet_workers_alive") == len(hub.pids("worker")) == 2  # the stack's two


def _series(channel: str) -> dict[str, Any]:
    return {"provider": "sendgrid" if channel == "email" else "twilio", "channel": channel}


def test_metrics_are_refused_through_a_proxy_without_a_token(hub: Stack) -> None:
    refused = scrape(hub, **{"X-Forwarded-For": "203.0.113.9"})
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
