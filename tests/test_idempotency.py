"""POST /v1/alerts with an Idempotency-Key, as a director's script retries it after a lost answer: one
sender's requests with the same key send one alert (checked at the simulator), whether they come one
after another or at once; the key with another request is refused naming the header; a refused request
leaves its key unused; a held alert retried is the same held alert; without the header nothing changes; a
drill's alert retried is sent once and linked to its drill once."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
import requests

from alertnet.domain.alert_request import example_alert_request
from alertnet.store.drills import ALERTS as DRILL_ALERTS
from alertnet.store.server import RedisProcess
from tests.conftest import REPO, Stack, bearer, start_stack, stop_stack
from tests.test_escalation_e2e import slot_of

DB = 27
DISTRICT = "Columbia Public Schools"
ALERT: dict[str, Any] = {
    **example_alert_request(),
    "status": "Exercise",
    "audience": {"districts": [DISTRICT]},
    "channels": ["sms"],
}


@pytest.fixture(scope="module")
def once_stack(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(
        redis_server, tmp_path_factory.mktemp("once-data"), db=DB, ALERTNET_APPROVAL_THRESHOLD="10"
    )
    assert stack.import_contacts(REPO / "contacts" / "sample.csv").returncode == 0
    yield stack
    stop_stack(stack)


@pytest.fixture(scope="module")
def director(once_stack: Stack) -> str:
    return once_stack.add_sender("once-director", "director")


def _post(stack: Stack, token: str, body: dict[str, Any], key: str) -> requests.Response:
    headers = {**bearer(token), "Idempotency-Key": key}
    return requests.post(f"{stack.api}/v1/alerts", json=body, headers=headers, timeout=60)


def _sms_for(stack: Stack, since: float, alert_id: str, expected: int) -> tuple[int, int]:
    """(SMS the simulator received for `alert_id`, SMS it received in all) since `since`, once
    `expected` arrived and two more seconds brought nothing else."""
    messages = stack.settled_sms(since, expected, settle=2.0)
    return sum(1 for m in messages if slot_of(m, alert_id) == "sms"), len(messages)


def _audit(stack: Stack) -> list[dict[str, Any]]:
    return [json.loads(e.get("detail", "{}")) | e for e in stack.audit_entries()]


def _newest(stack: Stack, token: str) -> str:
    listed = requests.get(f"{stack.api}/v1/alerts", params={"limit": 1}, headers=bearer(token), timeout=30)
    return str(listed.json()["alerts"][0]["id"])


def test_a_retried_request_sends_one_alert(once_stack: Stack, director: str) -> None:
    since, key = time.time(), str(uuid.uuid4())
    first = _post(once_stack, director, ALERT, key)
    assert first.status_code == 202, first.text
    alert_id, officials = first.json()["id"], first.json()["recipients"]["sms"]
    again = _post(once_stack, director, ALERT, key)  # the script's retry: its first answer was lost
    assert again.status_code == 200, again.text
    assert again.json()["id"] == alert_id and again.json()["duplicate"] is True
    assert _sms_for(once_stack, since, alert_id, officials) == (officials, officials)
    outcomes = [e["outcome"] for e in _audit(once_stack) if e.get("alert_id") == alert_id]
    assert outcomes.count("duplicate") == 1 and outcomes.count("accepted") == 1, outcomes
    # Keys are each sender's own: another director's request with the same key is a new alert.
    other, since = once_stack.add_sender("once-other", "director"), time.time()
    theirs = _post(once_stack, other, ALERT, key)
    assert theirs.status_code == 202 and theirs.json()["id"] != alert_id
    assert _sms_for(once_stack, since, theirs.json()["id"], officials) == (officials, officials)


def test_eight_tries_at_once_send_one_alert(once_stack: Stack, director: str) -> None:
    since, key = time.time(), str(uuid.uuid4())
    answers: list[requests.Response] = []
    start = threading.Barrier(8)

    def post() -> None:
        start.wait()
        answers.append(_post(once_stack, director, ALERT, key))

    tries = [threading.Thread(target=post) for _ in range(8)]
    for t in tries:
        t.start()
    for t in tries:
        t.join(timeout=90)
    statuses = Counter(a.status_code for a in answers)
    assert statuses[202] == 1 and statuses[202] + statuses[200] + statuses[409] == 8, statuses
    accepted = next(a.json() for a in answers if a.status_code == 202)
    assert {a.json()["id"] for a in answers if a.status_code == 200} <= {accepted["id"]}
    officials = accepted["recipients"]["sms"]
    assert _sms_for(once_stack, since, accepted["id"], officials) == (officials, officials)


def test_the_key_with_another_request_is_refused_naming_the_header(once_stack: Stack, director: str) -> None:
    since, key = time.time(), str(uuid.uuid4())
    first = _post(once_stack, director, ALERT, key)
    assert first.status_code == 202, first.text
    other = _post(once_stack, director, {**ALERT, "headline": "Another lockdown"}, key)
    assert other.status_code == 422, other.text
    assert [e["field"] for e in other.json()["errors"]] == ["Idempotency-Key"]
    assert _newest(once_stack, director) == first.json()["id"]  # nothing else stored or sent
    for bad in ("", "x" * 256):
        refused = _post(once_stack, director, ALERT, bad)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "Idempotency-Key"
    officials = first.json()["recipients"]["sms"]
    assert _sms_for(once_stack, since, first.json()["id"], officials) == (officials, officials)


def test_a_refused_request_leaves_its_key_unused(once_stack: Stack, director: str) -> None:
    since, key = time.time(), str(uuid.uuid4())
    refused = _post(once_stack, director, {**ALERT, "headline": ""}, key)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "headline", refused.text
    sent = _post(once_stack, director, ALERT, key)  # corrected, with the same key
    assert sent.status_code == 202, sent.text
    officials = sent.json()["recipients"]["sms"]
    assert _sms_for(once_stack, since, sent.json()["id"], officials) == (officials, officials)


def test_a_held_alert_retried_is_the_same_held_alert(once_stack: Stack, director: str) -> None:
    statewide = {**ALERT, "status": "Actual", "audience": {"statewide": True}}  # 43 officials: held
    key = str(uuid.uuid4())
    held = _post(once_stack, director, statewide, key)
    assert held.status_code == 202 and held.json()["state"] == "pending_approval", held.text
    again = _post(once_stack, director, statewide, key)
    assert again.status_code == 200 and again.json()["id"] == held.json()["id"], again.text
    pending = [e for e in _audit(once_stack) if e.get("outcome") == "pending_approval"]
    assert [e["alert_id"] for e in pending] == [held.json()["id"]]  # held once


class _LosesTheFirstAnswer(http.server.BaseHTTPRequestHandler):
    """A proxy in front of the hub that forwards every POST but drops the connection instead of the first
    answer: what a script sees when the network fails after the hub took its request."""

    def do_POST(self) -> None:
        server: Any = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        kept = ("Authorization", "Content-Type", "Idempotency-Key")
        headers = {name: self.headers[name] for name in kept if self.headers[name]}
        answer = requests.post(server.hub + self.path, data=body, headers=headers, timeout=60)
        server.keys.append(self.headers["Idempotency-Key"])
        if len(server.keys) == 1:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(answer.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, *_: Any) -> None:
        pass


def test_the_cli_tries_again_with_the_same_key_when_the_answer_is_lost(
    once_stack: Stack, director: str
) -> None:
    proxy: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LosesTheFirstAnswer)
    proxy.hub, proxy.keys = once_stack.api, []
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    since = time.time()
    try:
        sent = once_stack.cli(
            "send", "--api", f"http://127.0.0.1:{proxy.server_address[1]}", "--token", director,
            "--status", "Exercise", "--district", DISTRICT, "--channels", "sms", "--event", "Lockdown",
            "--headline", "Lockdown drill", "--no-wait",
        )  # fmt: skip
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert sent.returncode == 0, sent.stderr
    assert "trying again with the same Idempotency-Key" in sent.stderr
    assert "was sent by an earlier try" in sent.stdout, sent.stdout
    assert len(proxy.keys) == 2 and proxy.keys[0] == proxy.keys[1] and proxy.keys[0], proxy.keys
    alert_id = _newest(once_stack, director)
    officials = once_stack.status(director, alert_id)["channels"]["sms"]["total"]
    assert _sms_for(once_stack, since, alert_id, officials) == (officials, officials)  # one alert


def test_a_retried_drill_alert_sends_one_alert_linked_to_its_drill(once_stack: Stack, director: str) -> None:
    """POST /v1/drills/{id}/alerts takes the header too; a retry after the first try sent the alert but
    stopped before linking it to the drill (a crash) links it and sends nothing again."""
    api, now = once_stack.api, time.time()
    window = {
        "start": datetime.fromtimestamp(now - 1, UTC).isoformat(),
        "end": datetime.fromtimestamp(now + 600, UTC).isoformat(),
    }
    plan = {
        "name": "Retried drill",
        "type": "lockdown",
        "window": window,
        "audience": {"districts": [DISTRICT]},
        "objectives": ["Every school acknowledges"],
    }
    planned = requests.post(f"{api}/v1/drills", json=plan, headers=bearer(director), timeout=30)
    assert planned.status_code == 201, planned.text
    drill_id = planned.json()["id"]
    body = {key: ALERT[key] for key in ("severity", "urgency", "certainty", "event", "headline", "channels")}
    url, since, key = f"{api}/v1/drills/{drill_id}/alerts", time.time(), str(uuid.uuid4())
    first = requests.post(url, json=body, headers={**bearer(director), "Idempotency-Key": key}, timeout=60)
    assert first.status_code == 202 and first.json()["status"] == "Exercise", first.text
    alert_id, officials = first.json()["id"], first.json()["recipients"]["sms"]
    assert redis.Redis.from_url(once_stack.env["REDIS_URL"]).zrem(DRILL_ALERTS + drill_id, alert_id) == 1
    again = requests.post(url, json=body, headers={**bearer(director), "Idempotency-Key": key}, timeout=60)
    assert again.status_code == 200 and again.json()["id"] == alert_id and again.json()["duplicate"], (
        again.text
    )
    report = requests.get(f"{api}/v1/drills/{drill_id}/report", headers=bearer(director), timeout=30).json()
    assert [a["id"] for a in report["drill"]["alerts"]] == [alert_id]
    other = requests.post(
        url,
        json={**body, "headline": "Another drill"},
        headers={**bearer(director), "Idempotency-Key": key},
        timeout=60,
    )
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key", other.text
    assert _post(once_stack, director, ALERT, key).status_code == 422  # another request under the same key
    assert _sms_for(once_stack, since, alert_id, officials) == (officials, officials)
