"""The weekly update end to end: HTTP, `alertnet digest run-due` at a frozen clock (the step the scheduler
ticks), real Redis, workers and the SendGrid simulator. Outcomes are read at the simulator.

The module's hub has its own database, so its issues and subscriptions are its own. Each test works on the
next open issue: once an issue has gone out, the next items and approvals go to the one after it.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from alertnet.domain.alert_request import example_alert_request
from alertnet.domain.contacts import Official, Subscription
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.store.server import RedisProcess
from tests.conftest import Stack, start_stack, stop_stack

DB = 5


@pytest.fixture(scope="module")
def hub(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = start_stack(
        redis_server,
        tmp_path_factory.mktemp("digest-data"),
        db=DB,
        # The cut-off is the send moment here, so items added at any hour of the week land in the issue these
        # tests approve; between the shipped Thursday cut-off and the Friday send they would go to the issue
        # after it (tests/test_digest.py covers that window against a fixed clock).
        ALERTNET_DIGEST_CUTOFF_DAY="friday",
        ALERTNET_DIGEST_CUTOFF_TIME="10:00",
        # Small email requests, so a worker killed mid-send leaves work behind it.
        ALERTNET_PIPELINE_EMAIL_BATCH="50",
        ALERTNET_SENDGRID_BATCH_SIZE="50",
    )
    yield started
    stop_stack(started)


@pytest.fixture(scope="module")
def officials(hub: Stack, tmp_path_factory: pytest.TempPathFactory) -> list[Official]:
    text = generate_registry(400, seed=11)
    path = tmp_path_factory.mktemp("digest-registry") / "registry.csv"
    path.write_text(text)
    result = hub.import_contacts(path)
    assert result.returncode == 0, result.stderr
    return [o for o in parse_registry(text) if o.active]


def subscribers(officials: list[Official], *, leaving: frozenset[str] = frozenset()) -> list[Official]:
    return [
        o
        for o in officials
        if Subscription.DIGEST in o.subscriptions and o.email and o.id not in leaving and o.active
    ]


class Client:
    def __init__(self, hub: Stack, token: str) -> None:
        self.hub, self.token = hub, token

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(method, f"{self.hub.api}{path}", headers=headers, timeout=60, **kwargs)


@pytest.fixture(scope="module")
def editors(hub: Stack) -> tuple[Client, Client]:
    tokens = []
    for name in ("ed-ann", "ed-bob"):
        result = hub.cli("senders", "add", name, "--role", "editor", "--email", f"{name}@dps.example.gov")
        assert result.returncode == 0, result.stderr
        tokens.append(next(line[7:] for line in result.stdout.splitlines() if line.startswith("token: ")))
    return Client(hub, tokens[0]), Client(hub, tokens[1])


def run_due(hub: Stack, at: datetime) -> str:
    result = hub.cli("digest", "run-due", "--at", at.isoformat())
    assert result.returncode == 0, result.stderr
    return result.stdout


def digests_to(hub: Stack, since: float, number: int) -> list[dict[str, Any]]:
    return [m for m in hub.sim_messages("email", since) if f"issue {number} (" in str(m.get("subject"))]


def wait_for(hub: Stack, since: float, number: int, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = digests_to(hub, since, number)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def next_issue(client: Client) -> dict[str, Any]:
    response = client.call("GET", "/v1/digest/issues/next")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def add(client: Client, **item: Any) -> dict[str, Any]:
    body = {"title": "Item", "body": "Text", "category": "news", **item}
    response = client.call("POST", "/v1/digest/items", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_a_week_of_items_approved_by_the_second_editor_goes_out_once_per_subscriber(
    hub: Stack, officials: list[Official], editors: tuple[Client, Client]
) -> None:
    ann, bob = editors
    regions = sorted({o.region for o in officials})
    grant = add(
        ann,
        title="School safety grant applications open",
        body="Apply by **March 1** <script>x()</script>",
        link="https://dps.example.gov/grants",
        category="grants",
    )
    regional = add(
        bob, title=f"{regions[0]} drill workshop", category="drills", audience={"regions": [regions[0]]}
    )
    assert grant["issue"] == regional["issue"]
    number = grant["issue"]
    edited = bob.call("PATCH", f"/v1/digest/items/{grant['id']}", json={"position": 5})
    assert edited.status_code == 200, edited.text
    withdrawn = add(ann, title="Withdrawn before the send")
    assert ann.call("DELETE", f"/v1/digest/items/{withdrawn['id']}").status_code == 200
    listed = ann.call("GET", "/v1/digest/items").json()
    assert [i["id"] for i in listed["items"]] == [regional["id"], grant["id"]]

    # Ann made the last change: she may not approve it; Bob may.
    assert ann.call("POST", "/v1/digest/issues/next/approve").status_code == 409
    approved = bob.call("POST", "/v1/digest/issues/next/approve")
    assert approved.status_code == 200 and approved.json()["approved"] is True, approved.text
    view = next_issue(ann)
    assert view["number"] == number and view["approved"] is True

    # The preview is exactly what that official gets: the regional item only in their region.
    mailboxes = Counter(o.email for o in subscribers(officials))
    alone = [o for o in subscribers(officials) if mailboxes[o.email] == 1]
    inside = next(o for o in alone if o.region == regions[0])
    outside = next(o for o in alone if o.region != regions[0])
    preview_in = ann.call("GET", "/v1/digest/issues/next/preview", params={"official": inside.id}).json()
    preview_out = ann.call("GET", "/v1/digest/issues/next/preview", params={"official": outside.id}).json()
    assert preview_in["items"] == [regional["id"], grant["id"]] and preview_out["items"] == [grant["id"]]
    assert "<script" not in preview_in["html"] and "<strong>March 1</strong>" in preview_in["html"]

    send_at = datetime.fromisoformat(view["send_time"])
    since = time.time()
    assert "nothing due" in run_due(hub, send_at - timedelta(minutes=1))
    out = run_due(hub, send_at + timedelta(seconds=30))
    assert f"issue {number}: sent" in out
    # The same step again, and a second scheduler's step, send nothing more.
    assert "nothing due" in run_due(hub, send_at + timedelta(seconds=31))
    expected = subscribers(officials)
    got = wait_for(hub, since, number, len(expected))
    time.sleep(1.0)
    got = digests_to(hub, since, number)
    assert Counter(m["to"].lower() for m in got) == Counter(o.email.lower() for o in expected if o.email)

    by_address: dict[str, list[dict[str, Any]]] = {}
    for m in got:
        by_address.setdefault(m["to"].lower(), []).append(m)
    for official, titles in ((inside, 2), (outside, 1)):
        (mail,) = [m for m in by_address[official.email.lower()] if m["substitutions"]]  # type: ignore[union-attr]
        html = mail["html"]
        for tag, value in mail["substitutions"].items():
            html = html.replace(tag, value)
        assert html.count("<h2") == titles
        headers = mail["params"]["headers"]
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert headers["List-Unsubscribe"].startswith(f"<{hub.api}/u/")
    # At most (distinct item sets) requests beyond one per full batch.
    requests_used = len({m["message_id"] for m in got})
    assert requests_used <= 2 + len(expected) // 50 + 2

    # The public archive has the statewide item only, and nothing of any recipient.
    page = requests.get(f"{hub.api}/digest/{number}", timeout=10)
    assert page.status_code == 200
    assert "School safety grant applications open" in page.text and regions[0] + " drill" not in page.text
    assert "/u/" not in page.text
    assert f"/digest/{number}" in requests.get(f"{hub.api}/digest/", timeout=10).text
    # A sent issue's items no longer change; new items go to the next issue.
    assert bob.call("PATCH", f"/v1/digest/items/{grant['id']}", json={"title": "x"}).status_code == 409
    assert add(ann, title="Next week")["issue"] == number + 1


def test_one_click_unsubscribe_survives_a_later_import_and_spam_reports_suppress(
    hub: Stack, officials: list[Official], editors: tuple[Client, Client], tmp_path: Path
) -> None:
    ann, bob = editors
    leaver, complainer = subscribers(officials)[:2]
    # Last week's email carried the leaver's own link; one POST with the RFC 8058 body is enough.
    preview = ann.call("GET", "/v1/digest/issues/next/preview", params={"official": leaver.id}).json()
    link = next(part for part in preview["html"].split('"') if "/u/" in part)
    page = requests.get(link, timeout=10)
    assert page.status_code == 200 and "Unsubscribe" in page.text  # opening the page changes nothing
    assert ann.call("GET", "/v1/digest/issues/next/preview", params={"official": leaver.id}).json()[
        "would_receive"
    ]
    one_click = requests.post(
        link,
        data="List-Unsubscribe=One-Click",
        timeout=10,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200
    forged = requests.post(
        link[:-3] + "AAA",
        data="List-Unsubscribe=One-Click",
        timeout=10,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert forged.status_code == 404
    # The registry is imported again, subscriptions and all: the leaver stays out.
    again = tmp_path / "again.csv"
    again.write_text(generate_registry(400, seed=11))
    assert hub.import_contacts(again).returncode == 0

    # The complainer reports an alert email as spam: no digest for them either.
    hub.set_faults(spam_emails=[complainer.email])
    director = hub.add_sender("digest-director", "director")
    alert = hub.post_alert(
        director,
        {**example_alert_request(), "channels": ["email"], "audience": {"officials": [complainer.id]}},
    )
    assert alert.status_code == 202, alert.text
    hub.wait_settled(director, alert.json()["id"])
    deadline = time.monotonic() + 30
    viewer = Client(hub, hub.add_sender("digest-viewer", "viewer"))
    while True:
        problems = viewer.call("GET", "/v1/registry/email-problems").json()["addresses"]
        if (
            any(p["email"] == complainer.email.lower() and p["suppressed"] for p in problems)
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.3)
    hub.clear_faults()
    assert [p["spam_reports"] for p in problems if p["email"] == complainer.email.lower()] == [1]
    assert ann.call("GET", "/v1/registry/email-problems").status_code == 403

    add(ann, title="After they left")
    assert bob.call("POST", "/v1/digest/issues/next/approve").status_code == 200
    view = next_issue(ann)
    since = time.time()
    assert f"issue {view['number']}: sent" in run_due(hub, datetime.fromisoformat(view["send_time"]))
    expected = subscribers(officials, leaving=frozenset({leaver.id, complainer.id}))
    # Two officials who share the complainer's mailbox are suppressed with it.
    expected = [o for o in expected if o.email.lower() != complainer.email.lower()]  # type: ignore[union-attr]
    wait_for(hub, since, view["number"], len(expected))
    time.sleep(1.0)
    got = Counter(m["to"].lower() for m in digests_to(hub, since, view["number"]))
    assert got == Counter(o.email.lower() for o in expected if o.email)
    # The page lets the leaver come back.
    back = requests.post(link, data={"action": "subscribe"}, timeout=10)
    assert back.status_code == 200 and "Unsubscribe" in back.text


def test_unapproved_and_stale_issues_are_held_then_released_or_skipped(
    hub: Stack, officials: list[Official], editors: tuple[Client, Client]
) -> None:
    ann, bob = editors
    add(ann, title="Not yet approved")
    view = next_issue(ann)
    number = view["number"]
    send_at = datetime.fromisoformat(view["send_time"])
    since = time.time()
    assert f"issue {number}: held" in run_due(hub, send_at + timedelta(minutes=1))
    # The editors were told, by email.
    deadline = time.monotonic() + 20
    while not [m for m in hub.sim_messages("email", since) if f"issue {number} is held" in str(m["subject"])]:
        assert time.monotonic() < deadline, "no notice to the editors"
        time.sleep(0.3)
    assert bob.call("POST", f"/v1/digest/issues/{number}/approve").status_code == 200
    released = ann.call("POST", f"/v1/digest/issues/{number}/release")
    assert released.status_code == 202, released.text
    assert ann.call("POST", f"/v1/digest/issues/{number}/release").status_code == 409
    assert len(wait_for(hub, since, number, 1)) >= 1

    # The next issue is approved but the hub was down past max_lateness: held, never sent stale.
    add(ann, title="A week later")
    assert bob.call("POST", "/v1/digest/issues/next/approve").status_code == 200
    view = next_issue(ann)
    late = datetime.fromisoformat(view["send_time"]) + timedelta(hours=7)
    since = time.time()
    assert f"issue {view['number']}: held" in run_due(hub, late)
    assert bob.call("POST", f"/v1/digest/issues/{view['number']}/skip").status_code == 200
    time.sleep(1.0)
    assert digests_to(hub, since, view["number"]) == []

    # An empty week sends nothing and says so.
    empty = next_issue(ann)
    assert f"issue {empty['number']}: empty" in run_due(hub, datetime.fromisoformat(empty["send_time"]))


def test_test_sends_go_only_to_the_given_addresses_and_are_limited(
    hub: Stack, editors: tuple[Client, Client]
) -> None:
    ann, _ = editors
    add(ann, title="For the test send")
    since = time.time()
    sent = ann.call("POST", "/v1/digest/issues/next/test", json={"to": ["proof@press.example.com"]})
    assert sent.status_code == 202, sent.text
    deadline = time.monotonic() + 20
    while not (found := [m for m in hub.sim_messages("email", since) if "[TEST]" in str(m["subject"])]):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert [m["to"] for m in found] == ["proof@press.example.com"]
    assert (
        ann.call("POST", "/v1/digest/issues/next/test", json={"to": ["a@b.example.com"] * 2}).status_code
        == 422
    )
    for batch in ([f"p{n}@press.example.com" for n in range(5)],) * 3:
        assert ann.call("POST", "/v1/digest/issues/next/test", json={"to": batch}).status_code == 202
    last_four = [f"r{n}@press.example.com" for n in range(4)]  # 1 + 15 + 4: the day's 20
    assert ann.call("POST", "/v1/digest/issues/next/test", json={"to": last_four}).status_code == 202
    limited = ann.call("POST", "/v1/digest/issues/next/test", json={"to": ["late@press.example.com"]})
    assert limited.status_code == 409 and "20 test emails a day" in limited.text


@pytest.mark.timeout(300)
def test_worker_killed_mid_send_with_two_schedulers_sends_each_subscriber_once(
    hub: Stack, officials: list[Official], editors: tuple[Client, Client]
) -> None:
    ann, bob = editors
    add(ann, title="Sent while a worker dies")
    assert bob.call("POST", "/v1/digest/issues/next/approve").status_code == 200
    view = next_issue(ann)
    number, at = view["number"], datetime.fromisoformat(view["send_time"]).isoformat()
    director = hub.add_sender("digest-overtaker", "director")
    hub.set_faults(latency_ms=1000)
    since = time.time()
    try:
        # Two schedulers' digest steps at the same moment.
        both = [
            subprocess.Popen(
                [*hub.entry, "digest", "run-due", "--at", at], env=hub.env, stdout=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=120)[0] for p in both]
        assert sum(f"issue {number}: sent" in out for out in outputs) == 1, outputs
        # An alert posted meanwhile overtakes the digest on the bulk queue.
        posted = time.time()
        alert = hub.post_alert(
            director,
            {**example_alert_request(), "channels": ["sms"], "audience": {"officials": [officials[0].id]}},
        )
        assert alert.status_code == 202
        code = alert.json()["verification_code"]
        deadline = time.monotonic() + 10
        while not [m for m in hub.sim_messages("sms", posted) if code in m["body"]]:
            assert time.monotonic() < deadline, "the alert waited behind the digest"
            time.sleep(0.05)
        first_sms = min(m["received_at"] for m in hub.sim_messages("sms", posted) if code in m["body"])
        assert first_sms - posted < 2.0
        deadline = time.monotonic() + 20
        while not digests_to(hub, since, number):
            assert time.monotonic() < deadline, "the digest did not start"
            time.sleep(0.05)
        hub.stop("worker", signal.SIGKILL)
        in_flight_before = len(digests_to(hub, since, number))
    finally:
        hub.clear_faults()
        hub.start("worker", 2)
    # Earlier tests' spam report suppressed an address for good: it is nobody's digest now.
    problems = Client(hub, director).call("GET", "/v1/registry/email-problems").json()["addresses"]
    gone = {p["email"] for p in problems if p["suppressed"]}
    expected = [o for o in subscribers(officials) if (o.email or "").lower() not in gone]
    assert in_flight_before < len(expected), "the send finished before the kill"
    wanted = Counter(o.email.lower() for o in expected if o.email)
    deadline = time.monotonic() + 120
    while missing := set(wanted) - {m["to"].lower() for m in digests_to(hub, since, number)}:
        assert time.monotonic() < deadline, f"{len(missing)} of {len(wanted)} got no digest"
        time.sleep(0.5)
    time.sleep(4.0)  # past the stale-claim wait: anything resent would have arrived
    got = digests_to(hub, since, number)
    counts = Counter(m["to"].lower() for m in got)
    doubled = {a: n for a, n in counts.items() if n > wanted[a]}
    # Only a SendGrid request in flight at the kill may come twice: at most one request per killed worker.
    assert sum(counts[a] - wanted[a] for a in doubled) <= 2 * 50, doubled
    assert len(got) >= len(expected)
