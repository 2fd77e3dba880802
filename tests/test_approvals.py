"""The two-person rule over the API and the CLI: an Actual alert to more officials than the threshold
waits for a second director; its author cannot approve it, whatever they try; approval sends it once,
refusal never; follow-ups, drills and small audiences never wait; a configured fallback sends it
unapproved (audited). Checked at the simulators."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from alertnet.domain.alert_request import example_alert_request
from alertnet.domain.contacts import Official
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.store.server import RedisProcess
from tests.conftest import Stack, start_stack, stop_stack

THRESHOLD = 5


def start(redis_server: RedisProcess, data: Path, db: int, **env: str) -> Stack:
    hub = start_stack(redis_server, data, db=db, ALERTNET_APPROVAL_THRESHOLD=str(THRESHOLD), **env)
    path = data / "registry.csv"
    path.write_text(generate_registry(30, seed=21))
    assert hub.import_contacts(path).returncode == 0
    return hub


@pytest.fixture(scope="module")
def hub(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = start(redis_server, tmp_path_factory.mktemp("approvals"), 10)
    yield started
    stop_stack(started)


@pytest.fixture(scope="module")
def officials(hub: Stack) -> list[Official]:
    return [o for o in parse_registry(generate_registry(30, seed=21)) if o.active]


def call(hub: Stack, token: str, method: str, path: str, body: Any = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.request(method, f"{hub.api}{path}", json=body, headers=headers, timeout=30)


def statewide(status: str = "Actual", channels: list[str] | None = None) -> dict[str, Any]:
    body = example_alert_request()
    body.update(status=status, channels=channels or ["sms"])
    return body


def outcomes(hub: Stack, action: str) -> list[tuple[str, str]]:
    return [(e["actor"], e["outcome"]) for e in hub.audit_entries() if e.get("action") == action]


def test_a_large_actual_alert_waits_for_a_second_director(hub: Stack, officials: list[Official]) -> None:
    ann, bob = hub.add_sender("dir-ann", "director"), hub.add_sender("dir-bob", "director")
    viewer = hub.add_sender("view-vi", "viewer")
    mobiles = sorted(o.mobile for o in officials if o.mobile)
    since = time.time()
    held = call(hub, ann, "POST", "/v1/alerts", statewide())
    assert held.status_code == 202 and held.json()["state"] == "pending_approval"
    alert_id = held.json()["id"]
    assert held.json()["officials"] == len(officials)
    assert call(hub, ann, "POST", f"/v1/alerts/{alert_id}/approve").status_code == 403  # not their own
    assert call(hub, viewer, "POST", f"/v1/alerts/{alert_id}/approve").status_code == 403
    assert ("dir-ann", "forbidden") in outcomes(hub, "alert_approve")
    assert call(hub, ann, "GET", f"/v1/alerts/{alert_id}").status_code == 404  # not sent
    assert [p["id"] for p in call(hub, viewer, "GET", "/v1/approvals").json()["pending"]] == [alert_id]
    assert hub.settled_sms(since, 0, settle=1.5) == []
    approved = call(hub, bob, "POST", f"/v1/alerts/{alert_id}/approve")
    assert approved.status_code == 202 and approved.json()["id"] == alert_id
    again = call(hub, bob, "POST", f"/v1/alerts/{alert_id}/approve")
    assert again.status_code == 409
    sent = hub.settled_sms(since, len(mobiles), settle=1.5)
    assert sorted(m["to"] for m in sent) == mobiles  # each official once
    record = call(hub, ann, "GET", f"/v1/alerts/{alert_id}").json()
    assert record["alert"]["sender"] == "dir-ann"
    assert ("dir-bob", "approved") in outcomes(hub, "alert_approve")
    assert call(hub, viewer, "GET", "/v1/approvals").json()["pending"] == []


def test_a_rejected_alert_is_never_sent_and_small_or_drill_alerts_never_wait(
    hub: Stack, officials: list[Official]
) -> None:
    cy, dee = hub.add_sender("dir-cy", "director"), hub.add_sender("dir-dee", "director")
    since = time.time()
    held = call(hub, cy, "POST", "/v1/alerts", statewide()).json()
    rejected = call(hub, dee, "POST", f"/v1/alerts/{held['id']}/reject", {"reason": "wrong county"})
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    assert call(hub, dee, "POST", f"/v1/alerts/{held['id']}/approve").status_code == 409
    assert hub.settled_sms(since, 0, settle=1.5) == []
    drill = call(hub, cy, "POST", "/v1/alerts", statewide("Exercise"))
    assert drill.status_code == 202 and "verification_code" in drill.json()  # sent at once
    school = next(o for o in officials if o.school)
    small = statewide()
    small["audience"] = {"districts": [school.district], "roles": ["principal"]}
    few = [o for o in officials if o.district == school.district and o.role.value == "principal"]
    assert 0 < len(few) <= THRESHOLD
    assert "verification_code" in call(hub, cy, "POST", "/v1/alerts", small).json()
    answer = hub.cli("send", "--api", hub.api, "--token", cy, "--status", "Actual", "--statewide",
                     "--event", "Lockdown", "--headline", "CLI path", "--channels", "sms")  # fmt: skip
    assert answer.returncode == 0 and "held" in answer.stdout, answer.stdout + answer.stderr


@pytest.fixture(scope="module")
def fallback_hub(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = start(
        redis_server,
        tmp_path_factory.mktemp("approvals-fallback"),
        11,
        ALERTNET_APPROVAL_FALLBACK="send",
        ALERTNET_APPROVAL_FALLBACK_SECONDS="2",
    )
    yield started
    stop_stack(started)


def test_the_configured_fallback_sends_it_unapproved_and_says_so(fallback_hub: Stack) -> None:
    hub = fallback_hub
    eve = hub.add_sender("dir-eve", "director")
    since = time.time()
    held = call(hub, eve, "POST", "/v1/alerts", statewide()).json()
    deadline = time.monotonic() + 30
    while call(hub, eve, "GET", f"/v1/alerts/{held['id']}").status_code == 404:
        assert time.monotonic() < deadline, "the fallback never sent it"
        time.sleep(0.5)
    assert time.time() - since >= 2  # not before the configured wait
    view = call(hub, eve, "GET", f"/v1/approvals/{held['id']}").json()
    assert view["state"] == "sent_unapproved"
    assert ("fallback", "sent_unapproved") in outcomes(hub, "alert_fallback_send")
    mobiles = [o.mobile for o in parse_registry(generate_registry(30, seed=21)) if o.active and o.mobile]
    assert len(hub.settled_sms(since, len(mobiles), settle=1.5)) == len(mobiles)


def director_paged_at(hub: Stack, name: str, official: Official) -> str:
    added = hub.cli("senders", "add", name, "--role", "director", "--official", official.id)
    assert added.returncode == 0, added.stderr
    return next(line[7:] for line in added.stdout.splitlines() if line.startswith("token: "))


def test_a_held_alert_pages_every_other_director_once_by_sms_and_call(
    hub: Stack, officials: list[Official]
) -> None:
    phones = [o for o in officials if o.mobile and o.voice]
    author_entry, other_entry = phones[0], phones[1]
    fay = director_paged_at(hub, "dir-fay", author_entry)
    director_paged_at(hub, "dir-gus", other_entry)
    since = time.time()
    held = call(hub, fay, "POST", "/v1/alerts", statewide())
    assert held.status_code == 202 and held.json()["state"] == "pending_approval"
    deadline = time.monotonic() + 20
    while not hub.sim_messages("voice", since=since) and time.monotonic() < deadline:
        time.sleep(0.3)
    texts = hub.settled_sms(since, 1, settle=3.0)  # a few scheduler ticks: paged once, not once a tick
    assert [m["to"] for m in texts] == [other_entry.mobile]  # the other director only, never the author
    assert "dir-fay asks a second director to approve" in texts[0]["body"]
    assert [c["to"] for c in hub.sim_messages("voice", since=since)] == [other_entry.voice]
    pages = [
        (e["outcome"], json.loads(e["detail"])["directors"])
        for e in hub.audit_entries()
        if e.get("action") == "approval_page" and held.json()["id"] in e["detail"]
    ]
    assert pages == [("accepted", ["dir-gus"])]
    # The held alert itself is still waiting: only the page went out.
    assert call(hub, fay, "GET", f"/v1/alerts/{held.json()['id']}").status_code == 404
