"""Cyber bulletins at state scale: 50,000 generated officials. An AMBER bulletin for three districts
reaches exactly their subscribed officials; a critical bulletin's SMS notices go out while the weekly
digest is in flight, and an alert posted with them goes out before the digest is done. Everything is
read at the simulators (per address, or their counters: the digest itself is too big to list)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from alertnet.domain.alert_request import example_alert_request
from alertnet.domain.contacts import Official, Role, Subscription
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.store.server import RedisProcess
from tests.conftest import Stack, start_stack, stop_stack

DB = 7
SIZE = 50_000


@pytest.fixture(scope="module")
def hub(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = start_stack(redis_server, tmp_path_factory.mktemp("scale-data"), db=DB)
    yield started
    stop_stack(started)


@pytest.fixture(scope="module")
def officials(hub: Stack, tmp_path_factory: pytest.TempPathFactory) -> list[Official]:
    text = generate_registry(SIZE, seed=5)
    path: Path = tmp_path_factory.mktemp("scale-registry") / "registry.csv"
    path.write_text(text)
    result = hub.run_cli("contacts", "import", str(path), timeout=600)
    assert result.returncode == 0, result.stderr
    return [o for o in parse_registry(text) if o.active]


def call(hub: Stack, token: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.request(method, f"{hub.api}{path}", headers=headers, timeout=120, **kwargs)


def stats(hub: Stack) -> dict[str, Any]:
    response = requests.get(f"{hub.sim}/sim/stats", timeout=30)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def takers(officials: list[Official], districts: list[str]) -> list[Official]:
    return [o for o in officials if Subscription.CYBER in o.subscriptions and o.district in districts]


@pytest.mark.scale
def test_amber_for_three_districts_then_a_critical_bulletin_and_an_alert_during_the_digest(
    hub: Stack, officials: list[Official]
) -> None:
    publisher = hub.add_sender("scale-pub", "cyber_publisher")
    director = hub.add_sender("scale-dir", "director")
    editor = hub.add_sender("scale-ed", "editor")
    by_district = Counter(o.district for o in officials if Subscription.CYBER in o.subscriptions and o.email)
    districts = sorted(d for d, n in by_district.items() if n >= 3)
    three = districts[:: max(1, len(districts) // 3)][:3]

    # 1. AMBER for three districts: exactly their subscribed officials, nobody else of the 50,000.
    since = time.time()
    body = {
        "title": "Credential stuffing against three districts' portals",
        "summary": "Automated logins from a botnet.",
        "body": "Turn on MFA for staff portals.",
        "tlp": "TLP:AMBER",
        "severity": "medium",
        "organizations": three,
    }
    answer = call(hub, publisher, "POST", "/v1/bulletins", json=body)
    assert answer.status_code == 201, answer.text
    expected = sorted(o.email.lower() for o in takers(officials, three) if o.email)
    deadline = time.monotonic() + 60
    while stats(hub)["counts"]["email"] < len(expected) and time.monotonic() < deadline:
        time.sleep(0.3)
    time.sleep(1.5)
    got = requests.get(f"{hub.sim}/sim/messages", params={"kind": "email", "since": since}, timeout=60).json()
    assert sorted(m["to"].lower() for m in got) == expected
    assert all(m["subject"].startswith("[TLP:AMBER] ") for m in got)

    # 2. The digest goes to every subscriber; a critical bulletin and a lockdown are posted during it.
    item = {"title": "Statewide: drill calendar", "body": "Dates for spring.", "category": "drills"}
    assert call(hub, editor, "POST", "/v1/digest/items", json=item).status_code == 201
    assert call(hub, director, "POST", "/v1/digest/issues/next/approve").status_code == 200
    issue = call(hub, editor, "GET", "/v1/digest/issues/next").json()
    requests.delete(f"{hub.sim}/sim/messages", timeout=30).raise_for_status()
    out = hub.run_cli("digest", "run-due", "--at", datetime.fromisoformat(issue["send_time"]).isoformat())
    assert f"issue {issue['number']}: sent" in out.stdout, out.stdout + out.stderr
    subscribers = sum(1 for o in officials if Subscription.DIGEST in o.subscriptions and o.email)
    deadline = time.monotonic() + 60
    while not stats(hub)["kinds"]["email"]["requests"] and time.monotonic() < deadline:
        time.sleep(0.02)
    critical_district = next(
        d
        for d in districts
        if d not in three
        and any(o.role is Role.CYBERSECURITY_COORDINATOR and o.mobile for o in takers(officials, [d]))
    )
    notice_to = sorted(
        o.mobile
        for o in takers(officials, [critical_district])
        if o.role is Role.CYBERSECURITY_COORDINATOR and o.mobile
    )
    critical = {**body, "title": "Active intrusion", "tlp": "TLP:AMBER+STRICT", "severity": "critical",
                "organizations": [critical_district]}  # fmt: skip
    sent_at = time.time()
    assert call(hub, publisher, "POST", "/v1/bulletins", json=critical).status_code == 201
    alert_district = three[0]
    lockdown = {**example_alert_request(), "channels": ["sms"], "audience": {"districts": [alert_district]}}
    alert = call(hub, director, "POST", "/v1/alerts", json=lockdown)
    assert alert.status_code == 202, alert.text
    code = alert.json()["verification_code"]
    alert_to = sorted(o.mobile for o in officials if o.district == alert_district and o.mobile)

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        counts = stats(hub)["counts"]
        if counts["email"] >= subscribers and counts["sms"] >= len(alert_to) + len(notice_to):
            break
        time.sleep(0.5)
    time.sleep(1.0)
    last_digest_request = stats(hub)["kinds"]["email"]["last_request_at"]

    def sms_to(mobiles: list[str], marker: str) -> list[dict[str, Any]]:
        return [
            m
            for mobile in dict.fromkeys(mobiles)
            for m in requests.get(
                f"{hub.sim}/sim/messages", params={"kind": "sms", "since": sent_at, "to": mobile}, timeout=30
            ).json()
            if marker in m["body"]
        ]

    notices = sms_to(notice_to, "TLP:AMBER+STRICT")
    assert sorted(m["to"] for m in notices) == notice_to
    alert_sms = sms_to(alert_to, code)
    assert sorted(m["to"] for m in alert_sms) == alert_to
    assert stats(hub)["counts"]["email"] >= subscribers
    # Both went out while the digest was still being sent: neither waited for it.
    assert max(m["received_at"] for m in alert_sms) < last_digest_request
    assert max(m["received_at"] for m in notices) < last_digest_request
