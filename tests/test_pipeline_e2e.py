"""The core pipeline end to end: HTTP in, real SDKs out, simulators recording what arrived."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from alertnet.domain.alert_request import example_alert_request
from alertnet.domain.contacts import Official
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.store import keys as k
from tests.conftest import Stack

LOCKDOWN = example_alert_request()


def import_registry(stack: Stack, tmp_path: Path, size: int) -> list[Official]:
    text = generate_registry(size, seed=11)
    path = tmp_path / "registry.csv"
    path.write_text(text)
    result = stack.import_contacts(path)
    assert result.returncode == 0, result.stderr
    return parse_registry(text)


@pytest.fixture
def registry(stack: Stack, tmp_path: Path) -> list[Official]:
    return import_registry(stack, tmp_path, 60)


@pytest.fixture
def big_registry(stack: Stack, tmp_path: Path) -> list[Official]:
    return import_registry(stack, tmp_path, 600)


@pytest.fixture(scope="module")
def director(stack: Stack) -> str:
    return stack.add_sender("e2e-director", "director")


def delivered_ids(messages: list[dict[str, Any]], alert_id: str) -> Counter[str]:
    """Count messages per recipient address for one alert."""
    return Counter(m["to"] for m in messages if alert_id in str(m.get("params", "")) or alert_id in str(m))


def test_statewide_alert_reaches_every_official_exactly_once(
    stack: Stack, registry: list[Official], director: str
) -> None:
    since = time.time()
    response = stack.post_alert(director, LOCKDOWN)
    assert response.status_code == 202, response.text
    accepted = response.json()
    alert_id = accepted["id"]
    mobiles = [o.mobile for o in registry if o.mobile]
    voices = [o.voice for o in registry if o.voice]
    emails = [o for o in registry if o.email]
    assert accepted["recipients"] == {"sms": len(mobiles), "voice": len(voices), "email": len(emails)}

    status = stack.wait_settled(director, alert_id)
    assert status["channels"]["sms"]["states"] == {"delivered": len(mobiles)}
    assert status["channels"]["voice"]["states"] == {"delivered": len(voices)}
    assert status["channels"]["email"]["states"] == {"delivered": len(emails)}

    code = accepted["verification_code"]
    sms = [m for m in stack.sim_messages("sms", since) if code in m["body"]]
    assert sorted(m["to"] for m in sms) == sorted(mobiles)  # each mobile exactly once
    calls = [m for m in stack.sim_messages("voice", since) if alert_id in str(m)]
    assert sorted(m["to"] for m in calls) == sorted(voices)
    # Calls carry their TwiML inline (the hub is not asked at answer time): the alert twice, one gather.
    shape = [(m["url"], m["twiml"].count("armed intruder"), m["twiml"].count("<Gather")) for m in calls]
    assert shape == [(None, 2, 1)] * len(calls)
    mails = [m for m in stack.sim_messages("email", since) if alert_id in str(m)]
    assert Counter(m["to"].lower() for m in mails) == Counter(o.email.lower() for o in emails if o.email)

    verify = requests.get(f"{stack.api}/v1/alerts/{alert_id}/verify", timeout=10).json()
    assert verify["valid"] is True
    assert verify["verification_code"] == code


def test_invalid_alert_is_refused_with_every_field_named_and_nothing_sent(
    stack: Stack, registry: list[Official], director: str
) -> None:
    since = time.time()
    bad = {**LOCKDOWN, "severity": "Huge", "channels": ["pager"], "audience": {"counties": ["Nowhere"]}}
    del bad["headline"]
    response = stack.post_alert(director, bad)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"severity", "headline"} <= fields
    assert any(f.startswith("channels") for f in fields)
    not_json = requests.post(
        f"{stack.api}/v1/alerts", data="{nope", headers={"Authorization": f"Bearer {director}"}, timeout=10
    )
    assert not_json.status_code == 400
    assert not_json.json()["errors"][0]["field"] == "body"
    typo = stack.post_alert(director, {**LOCKDOWN, "audience": {"counties": ["Nowhere County"]}})
    assert typo.status_code == 422
    assert typo.json()["errors"][0]["field"] == "audience.counties[0]"
    time.sleep(0.5)
    assert stack.sim_messages("sms", since) == []


def test_senders_are_authenticated_and_authorized(stack: Stack, registry: list[Official]) -> None:
    assert stack.post_alert("", LOCKDOWN).status_code == 401
    assert stack.post_alert("an_not-a-real-token", LOCKDOWN).status_code == 401
    editor = stack.add_sender("e2e-editor", "editor")
    refused = stack.post_alert(editor, LOCKDOWN)
    assert refused.status_code == 403
    assert refused.json()["allowed"] == ["digest_item"]
    assert "digest_item" in refused.json()["message"]
    viewer = stack.add_sender("e2e-viewer", "viewer")
    assert stack.post_alert(viewer, LOCKDOWN).status_code == 403
    # Every refused send is in the audit trail, with who tried.
    trail = redis.Redis.from_url(stack.env["REDIS_URL"]).xrevrange(k.AUDIT_STREAM, count=20)
    refused = {(f[b"actor"], f[b"outcome"]) for _id, f in trail if f[b"action"] == b"send_alert"}
    assert {(b"e2e-editor", b"forbidden"), (b"e2e-viewer", b"forbidden")} <= refused
    # Requests without valid credentials are audited too, in their own capped stream.
    refusals = redis.Redis.from_url(stack.env["REDIS_URL"]).xrevrange(k.AUDIT_REFUSED_STREAM, count=20)
    unauthorized = [f for _id, f in refusals if f[b"outcome"] == b"unauthorized"]
    assert {f[b"action"] for f in unauthorized} == {b"POST /v1/alerts"} and len(unauthorized) >= 2
    # The trail is readable over HTTP by the Director's office and viewers, and by nobody else.
    director = stack.add_sender("e2e-auditor", "director")
    sent = stack.post_alert(director, {**LOCKDOWN, "status": "Test", "channels": ["email"]}).json()

    def read(token: str, **params: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(f"{stack.api}/v1/audit", params=params, headers=headers, timeout=10)

    entries = read(viewer, limit="50").json()["entries"]
    assert entries == sorted(entries, key=lambda e: e["ts"], reverse=True)
    newest = entries[0]
    assert (newest["actor"], newest["action"], newest["outcome"]) == ("e2e-auditor", "send_alert", "accepted")
    assert newest["detail"]["alert_id"] == sent["id"] and newest["detail"]["status"] == "Test"
    assert {("e2e-editor", "forbidden"), ("e2e-viewer", "forbidden")} <= {
        (e["actor"], e["outcome"]) for e in entries if e["action"] == "send_alert"
    }
    assert len(read(director, limit="2").json()["entries"]) == 2
    assert read(editor).status_code == 403 and "director" in read(editor).json()["message"]
    assert read("").status_code == 401
    assert read(director, limit="0").json()["errors"][0]["field"] == "limit"


def test_transient_provider_errors_are_retried_without_doubling(
    stack: Stack, registry: list[Official], director: str
) -> None:
    since = time.time()
    # Deterministic 503s first, then random 429s and 500s (8 attempts: a park here has odds of about 1e-5).
    stack.set_faults(fail_next=20, rate_429=0.15, error_rate=0.1)
    try:
        accepted = stack.post_alert(director, {**LOCKDOWN, "channels": ["sms", "email"]}).json()
        status = stack.wait_settled(director, accepted["id"])
    finally:
        stack.clear_faults()
    mobiles = sorted(o.mobile for o in registry if o.mobile)
    assert status["channels"]["sms"]["states"] == {"delivered": len(mobiles)}
    sms = [m for m in stack.sim_messages("sms", since) if accepted["verification_code"] in m["body"]]
    assert sorted(m["to"] for m in sms) == mobiles


def test_permanent_failure_is_parked_with_its_reason(
    stack: Stack, registry: list[Official], director: str
) -> None:
    bad_number = next(o.mobile for o in registry if o.mobile)
    stack.set_faults(fail_numbers=[bad_number])
    try:
        accepted = stack.post_alert(director, {**LOCKDOWN, "channels": ["sms"]}).json()
        status = stack.wait_settled(director, accepted["id"])
    finally:
        stack.clear_faults()
    states = status["channels"]["sms"]["states"]
    assert states.get("parked", 0) + states.get("failed", 0) == 1
    assert states["delivered"] == status["channels"]["sms"]["total"] - 1


def test_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    stack: Stack, big_registry: list[Official], director: str
) -> None:
    registry = big_registry
    since = time.time()
    stack.set_faults(latency_ms=150)
    try:
        accepted = stack.post_alert(director, {**LOCKDOWN, "channels": ["sms"]}).json()
        code = accepted["verification_code"]
        deadline = time.monotonic() + 20
        while not [m for m in stack.sim_messages("sms", since) if code in m["body"]]:
            assert time.monotonic() < deadline, "nothing was sent"
            time.sleep(0.02)
        stack.stop("worker", signal.SIGKILL)
        stack.clear_faults()
        sent_before = len([m for m in stack.sim_messages("sms", since) if code in m["body"]])
        assert sent_before < accepted["recipients"]["sms"], "the batch finished before the kill"
    finally:
        stack.clear_faults()
        stack.start("worker", 2)
    status = stack.wait_settled(director, accepted["id"], timeout=90)
    mobiles = sorted(o.mobile for o in registry if o.mobile)
    assert status["channels"]["sms"]["states"] == {"delivered": len(mobiles)}
    sms = [m for m in stack.sim_messages("sms", since) if code in m["body"]]
    assert sorted(m["to"] for m in sms) == mobiles


def test_forged_provider_webhooks_are_refused(stack: Stack) -> None:
    response = requests.post(
        f"{stack.api}/v1/webhooks/twilio/status?d=x.sms.y",
        data={"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered"},
        headers={"X-Twilio-Signature": "forged"},
        timeout=10,
    )
    assert response.status_code == 403
    unsigned = requests.post(f"{stack.api}/v1/webhooks/twilio/voice?d=x.voice.y", data={}, timeout=10)
    assert unsigned.status_code == 403
    events = '[{"event": "delivered", "delivery_id": "x.email.y", "email": "a@b.org"}]'
    stamp = str(int(time.time()))
    forged_events = requests.post(
        f"{stack.api}/v1/webhooks/sendgrid/events",
        data=events,
        headers={
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
            "X-Twilio-Email-Event-Webhook-Signature": "MEUCIQDzvz0=",
        },
        timeout=10,
    )
    assert forged_events.status_code == 403
    unsigned_events = requests.post(f"{stack.api}/v1/webhooks/sendgrid/events", data=events, timeout=10)
    assert unsigned_events.status_code == 403


def test_exercise_alerts_are_marked_in_every_message(
    stack: Stack, registry: list[Official], director: str
) -> None:
    since = time.time()
    accepted = stack.post_alert(director, {**LOCKDOWN, "status": "Exercise"}).json()
    stack.wait_settled(director, accepted["id"])
    code = accepted["verification_code"]
    sms = [m for m in stack.sim_messages("sms", since) if code in m["body"]]
    assert sms and all(m["body"].startswith("EXERCISE") for m in sms)
    calls = [m for m in stack.sim_messages("voice", since) if alert_id_in(m, accepted["id"])]
    assert calls and all("exercise" in (m.get("twiml") or "").lower() for m in calls)
    mails = [m for m in stack.sim_messages("email", since) if alert_id_in(m, accepted["id"])]
    assert mails and all("EXERCISE" in m["subject"] for m in mails)


def alert_id_in(message: dict[str, Any], alert_id: str) -> bool:
    return alert_id in str(message)


def test_health_readiness_and_openapi(stack: Stack) -> None:
    assert requests.get(f"{stack.api}/healthz", timeout=5).json() == {"status": "ok"}
    deadline = time.monotonic() + 20
    while (ready := requests.get(f"{stack.api}/readyz", timeout=5)).status_code != 200:
        assert time.monotonic() < deadline, ready.text
        time.sleep(0.2)
    assert ready.json()["checks"]["workers"] >= 1
    doc = requests.get(f"{stack.api}/v1/openapi.json", timeout=5).json()
    assert doc["openapi"].startswith("3.")
    for path in (
        "/v1/alerts",
        "/v1/alerts/{alert_id}",
        "/v1/alerts/{alert_id}/verify",
        "/v1/keys",
        "/healthz",
        "/readyz",
    ):
        assert path in doc["paths"], path
    post = doc["paths"]["/v1/alerts"]["post"]
    assert "schema" in post["requestBody"]["content"]["application/json"]
    assert {"202", "401", "403", "422"} <= set(post["responses"])
    keys = requests.get(f"{stack.api}/v1/keys", timeout=5).json()["keys"]
    assert keys[0]["algorithm"] == "Ed25519" and len(keys[0]["public_key"]) == 44


def test_a_call_too_long_for_inline_twiml_fetches_it_from_the_hub(
    stack: Stack, registry: list[Official], director: str
) -> None:
    since = time.time()
    long_instruction = "K&M " * 240 + "go to the gym"  # XML-escaped and said twice: past the inline limit
    accepted = stack.post_alert(
        director,
        {
            **LOCKDOWN,
            "instruction": long_instruction.strip(),
            "channels": ["voice"],
            "audience": {"roles": ["sro"]},
        },
    ).json()
    status = stack.wait_settled(director, accepted["id"])
    assert status["channels"]["voice"]["states"] == {"delivered": accepted["recipients"]["voice"]}
    calls = [m for m in stack.sim_messages("voice", since) if alert_id_in(m, accepted["id"])]
    assert calls and all(m["url"] and "/v1/webhooks/twilio/voice" in m["url"] for m in calls)
    assert all(m["twiml"].count("<Gather") == 1 and "go to the gym" in m["twiml"] for m in calls)


def test_recent_alerts_are_listed_newest_first(stack: Stack, registry: list[Official], director: str) -> None:
    auth = {"Authorization": f"Bearer {director}"}
    first = stack.post_alert(director, {**LOCKDOWN, "status": "Test", "channels": ["email"]}).json()["id"]
    second = stack.post_alert(director, {**LOCKDOWN, "event": "Severe weather", "channels": ["sms"]})
    second_id = second.json()["id"]
    stack.wait_settled(director, second_id)
    listed = requests.get(f"{stack.api}/v1/alerts", params={"limit": 2}, headers=auth, timeout=10)
    assert listed.status_code == 200, listed.text
    alerts = listed.json()["alerts"]
    assert [a["id"] for a in alerts] == [second_id, first]
    assert alerts[0]["event"] == "Severe weather" and alerts[0]["settled"] is True
    assert alerts[0]["sender"] == "e2e-director" and alerts[1]["status"] == "Test"
    assert alerts[0]["recipients"] == {"sms": sum(1 for o in registry if o.active and o.mobile)}
    for bad in ("0", "201", "ten", "-1"):
        refused = requests.get(f"{stack.api}/v1/alerts", params={"limit": bad}, headers=auth, timeout=10)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "limit", bad
    assert requests.get(f"{stack.api}/v1/alerts", timeout=10).status_code == 401
