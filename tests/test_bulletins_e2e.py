"""Cyber bulletins end to end: HTTP, real Redis, workers and the Twilio and SendGrid simulators. Who got
what is read at the simulators. The module's hub has its own database, registry and senders."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from stix2validator import ValidationOptions, validate_string
from ulid import ULID

from alertnet.domain.contacts import Official, Role, Subscription
from alertnet.domain.deliveries import Delivery, DeliveryState
from alertnet.domain.messages import Channel, Content, EmailContent, Message, MessageKind, Priority
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.domain.tlp import Marking, Tlp
from alertnet.pipeline.batches import QUEUE_FOR_PRIORITY, plan_batches
from alertnet.pipeline.enqueue import Dispatcher
from alertnet.store import keys as k
from alertnet.store.server import RedisProcess
from tests.conftest import Stack, start_stack, stop_stack

DB = 6
SIZE = 700
SEED = 23


@pytest.fixture(scope="module")
def hub(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # The digest cut-off is its send moment here (see tests/test_digest_e2e.py), whatever the hour.
    started = start_stack(
        redis_server,
        tmp_path_factory.mktemp("bulletin-data"),
        db=DB,
        ALERTNET_DIGEST_CUTOFF_DAY="friday",
        ALERTNET_DIGEST_CUTOFF_TIME="10:00",
    )
    yield started
    stop_stack(started)


@pytest.fixture(scope="module")
def registry_text() -> str:
    return generate_registry(SIZE, seed=SEED)


@pytest.fixture(scope="module")
def officials(hub: Stack, registry_text: str, tmp_path_factory: pytest.TempPathFactory) -> list[Official]:
    path = tmp_path_factory.mktemp("bulletin-registry") / "registry.csv"
    path.write_text(registry_text)
    result = hub.import_contacts(path)
    assert result.returncode == 0, result.stderr
    return [o for o in parse_registry(registry_text) if o.active]


class Client:
    def __init__(self, hub: Stack, name: str, role: str) -> None:
        self.hub, self.name, self.token = hub, name, hub.add_sender(name, role)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(method, f"{self.hub.api}{path}", headers=headers, timeout=60, **kwargs)


@pytest.fixture(scope="module")
def people(hub: Stack) -> dict[str, Client]:
    roles = {
        "pub-ann": "cyber_publisher", "pub-bob": "cyber_publisher", "dps-dir": "director",
        "ed-cat": "editor", "viewer-vi": "viewer",
    }  # fmt: skip
    return {name: Client(hub, name, role) for name, role in roles.items()}


def cyber(officials: list[Official]) -> list[Official]:
    return [o for o in officials if Subscription.CYBER in o.subscriptions]


def alone(officials: list[Official]) -> list[Official]:
    """Officials with a mailbox of their own (the registry has some shared ones)."""
    boxes = Counter((o.email or "").lower() for o in officials)
    return [o for o in officials if o.email and boxes[o.email.lower()] == 1]


def districts_with_takers(officials: list[Official]) -> list[str]:
    counts = Counter(o.district for o in cyber(officials) if o.email)
    return [d for d, n in counts.most_common() if n >= 2]


def request_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Phishing wave against district payroll",
        "summary": "Credential phishing aimed at payroll staff this week.",
        "body": "Block the domain and **reset** exposed passwords.",
        "tlp": "TLP:AMBER+STRICT",
        "severity": "high",
        "organizations": [],
        "officials": [],
        "indicators": [{"type": "domain-name", "value": "payro11-portal.example", "confidence": 80}],
        "actions": ["Block the domain at the mail gateway"],
        "references": ["https://www.first.org/tlp/"],
    }
    body.update(changes)
    return body


def publish(client: Client, **changes: Any) -> dict[str, Any]:
    response = client.call("POST", "/v1/bulletins", json=request_body(**changes))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def filled(mail: dict[str, Any], part: str) -> str:
    text = str(mail.get(part) or "")
    for tag, value in (mail.get("substitutions") or {}).items():
        text = text.replace(tag, value)
    return text


def mails(hub: Stack, since: float, marker: str) -> list[dict[str, Any]]:
    return [m for m in hub.sim_messages("email", since) if marker in str(m.get("subject"))]


def texts(hub: Stack, since: float, marker: str) -> list[dict[str, Any]]:
    return [m for m in hub.sim_messages("sms", since) if marker in str(m.get("body"))]


def settle(read: Any, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    """What `read()` returns once it has `count` entries, and a second later (so extras would show)."""
    deadline = time.monotonic() + timeout
    while len(read()) < count and time.monotonic() < deadline:
        time.sleep(0.3)
    time.sleep(1.0)
    found: list[dict[str, Any]] = read()
    return found


def test_amber_strict_reaches_only_the_named_district_on_every_channel_with_its_label(
    hub: Stack, officials: list[Official], people: dict[str, Client]
) -> None:
    district = districts_with_takers(officials)[0]
    title = "Payroll phishing for one district"
    since = time.time()
    bulletin = publish(people["pub-ann"], title=title, organizations=[district])
    assert bulletin["tlp"] == "TLP:AMBER+STRICT" and bulletin["route"] == "now"
    allowed = [o for o in cyber(officials) if o.district == district]
    emailed = sorted(o.email.lower() for o in allowed if o.email)
    got = settle(lambda: mails(hub, since, title), len(emailed))
    assert sorted(m["to"].lower() for m in got) == emailed
    for mail in got:
        assert mail["subject"].startswith("[TLP:AMBER+STRICT] ")
        text = [line for line in filled(mail, "text").splitlines() if line.strip()]
        assert text[0] == "TLP:AMBER+STRICT" and text[-1] == "TLP:AMBER+STRICT"
        assert "organization" in text[1]
        assert "#FFC000" in mail["html"].upper() and "#000000" in mail["html"]
        assert mail["params"]["headers"]["List-Unsubscribe"].startswith(f"<{hub.api}/u/")
    coordinators = sorted(o.mobile for o in allowed if o.role is Role.CYBERSECURITY_COORDINATOR and o.mobile)
    sms = settle(lambda: texts(hub, since, "TLP:AMBER+STRICT"), len(coordinators))
    assert sorted(m["to"] for m in sms) == coordinators
    assert all(m["body"].startswith("TLP:AMBER+STRICT") for m in sms)
    # Over the API only publishers and the director read it.
    assert people["viewer-vi"].call("GET", f"/v1/bulletins/{bulletin['id']}").status_code == 403
    assert people["ed-cat"].call("GET", f"/v1/bulletins/{bulletin['id']}/stix").status_code == 403
    assert people["dps-dir"].call("GET", f"/v1/bulletins/{bulletin['id']}").status_code == 200
    listed = people["viewer-vi"].call("GET", "/v1/bulletins").json()["bulletins"]
    assert bulletin["id"] not in [b["id"] for b in listed]


def test_red_reaches_exactly_the_named_people_and_its_sms_holds_no_content(
    hub: Stack, officials: list[Official], people: dict[str, Client]
) -> None:
    takers = [o for o in cyber(officials) if o.email]
    texted = next(o for o in takers if o.role is Role.CYBERSECURITY_COORDINATOR and o.mobile)
    other = next(o for o in takers if o.id != texted.id and o.email != texted.email)
    title, summary = "Named-only intrusion at a vendor", "A vendor account was used to reach two people."
    since = time.time()
    bulletin = publish(
        people["pub-bob"],
        tlp="RED",
        title=title,
        summary=summary,
        severity="critical",
        officials=[texted.id, other.id],
        indicators=[{"type": "ipv4-addr", "value": "203.0.113.7"}],
    )
    got = settle(lambda: mails(hub, since, title), 2)
    assert sorted(m["to"].lower() for m in got) == sorted([texted.email.lower(), other.email.lower()])  # type: ignore[union-attr]
    assert all(m["subject"].startswith("[TLP:RED] ") and summary in filled(m, "text") for m in got)
    sms = settle(lambda: texts(hub, since, "TLP:RED"), 1)
    assert [m["to"] for m in sms] == [texted.mobile]
    body = sms[0]["body"]
    assert (
        body.startswith("TLP:RED") and title not in body and "vendor" not in body and "203.0.113" not in body
    )
    link = re.search(r"https?://\S+/b/\S+", body)
    assert link is not None
    page = requests.get(link.group(0), timeout=10)
    assert page.status_code == 200 and title in page.text and "203.0.113.7" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    stix = requests.get(link.group(0) + "/stix", timeout=10)
    assert stix.status_code == 200
    assert validate_string(stix.text, ValidationOptions(version="2.1")).is_valid
    forged = requests.get(link.group(0)[:-4] + "AAAA", timeout=10)
    assert forged.status_code == 403 and title not in forged.text
    access = people["pub-ann"].call("GET", f"/v1/bulletins/{bulletin['id']}/access").json()
    assert access["opened_by"] == [texted.id] and access["downloaded_by"] == [texted.id]
    assert people["ed-cat"].call("GET", f"/v1/bulletins/{bulletin['id']}/access").status_code == 403


def test_recipients_outside_the_label_are_refused_with_422_and_nothing_is_written(
    hub: Stack, officials: list[Official], people: dict[str, Client]
) -> None:
    ann = people["pub-ann"]
    before = ann.call("GET", "/v1/bulletins").json()["bulletins"]
    someone = cyber(officials)[0]
    cases = {
        "organizations": request_body(organizations=[]),
        "officials": request_body(tlp="TLP:RED", organizations=[]),
        "tlp": {k: v for k, v in request_body(organizations=["x"]).items() if k != "tlp"},
        "organizations[0]": request_body(organizations=["No Such District R-99"]),
    }
    red_to_district = request_body(tlp="TLP:RED", officials=[someone.id], organizations=[someone.district])
    for field, body in [*cases.items(), ("organizations", red_to_district)]:
        response = ann.call("POST", "/v1/bulletins", json=body)
        assert response.status_code == 422, response.text
        assert field in [e["field"] for e in response.json()["errors"]], response.text
    assert people["ed-cat"].call("POST", "/v1/bulletins", json=request_body()).status_code == 403
    assert ann.call("GET", "/v1/bulletins").json()["bulletins"] == before


def test_a_wider_audience_needs_a_second_publisher_and_a_reason_and_nobody_gets_it_twice(
    hub: Stack, officials: list[Official], people: dict[str, Client]
) -> None:
    ann, bob = people["pub-ann"], people["pub-bob"]
    first, second = districts_with_takers(officials)[1:3]
    title = "Ransomware staging seen in two districts"
    since = time.time()
    bulletin = publish(ann, tlp="TLP:AMBER", severity="medium", title=title, organizations=[first])
    path = f"/v1/bulletins/{bulletin['id']}"
    wider = {"organizations": [first, second], "reason": f"{second} reported the same staging"}
    assert ann.call("PATCH", path, json=wider).status_code == 403  # the author may not widen it
    no_reason = bob.call("PATCH", path, json={"organizations": [first, second]})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    assert ann.call("PATCH", path, json={"tlp": "TLP:CLEAR"}).status_code == 403
    changed = bob.call("PATCH", path, json=wider)
    assert changed.status_code == 200, changed.text
    assert changed.json()["organizations"] == [first, second]
    stricter = ann.call("PATCH", path, json={"tlp": "AMBER+STRICT"})  # always allowed, even the author
    assert stricter.status_code == 200 and stricter.json()["tlp"] == "TLP:AMBER+STRICT"
    expected = sorted(o.email.lower() for o in cyber(officials) if o.district in (first, second) and o.email)
    got = settle(lambda: mails(hub, since, title), len(expected))
    assert sorted(m["to"].lower() for m in got) == expected  # each once, though sent in two steps
    audit = people["dps-dir"].call("GET", "/v1/audit", params={"limit": 200}).json()
    entries = audit.get("entries", audit) if isinstance(audit, dict) else audit
    changes = [e for e in entries if e.get("action") == "bulletin_change" and e.get("outcome") == "accepted"]
    assert any(second in json.dumps(e) and "reported the same staging" in json.dumps(e) for e in changes)


def test_retraction_stops_links_and_exports_and_sends_a_notice_with_the_same_label(
    hub: Stack, officials: list[Official], people: dict[str, Client]
) -> None:
    district = districts_with_takers(officials)[3]
    title = "Bulletin sent in error"
    since = time.time()
    bulletin = publish(
        people["pub-ann"], tlp="AMBER", severity="critical", title=title, organizations=[district]
    )
    expected = sorted(o.email.lower() for o in cyber(officials) if o.district == district and o.email)
    first = settle(lambda: mails(hub, since, title), len(expected))
    link = re.search(r"https?://\S+/b/[A-Za-z0-9_.-]+", filled(first[0], "text"))
    assert link is not None and requests.get(link.group(0), timeout=10).status_code == 200
    path = f"/v1/bulletins/{bulletin['id']}"
    retracted = people["pub-bob"].call("POST", f"{path}/retract", json={"reason": "wrong district"})
    assert retracted.status_code == 200 and retracted.json()["state"] == "retracted", retracted.text
    notices = settle(lambda: mails(hub, since, "Retracted"), len(expected))
    notices = [m for m in notices if title in m["subject"]]
    assert sorted(m["to"].lower() for m in notices) == expected
    assert all(m["subject"].startswith("[TLP:AMBER] Retracted") for m in notices)
    assert filled(notices[0], "text").lstrip().startswith("TLP:AMBER")
    assert requests.get(link.group(0), timeout=10).status_code == 410
    assert people["pub-ann"].call("GET", f"{path}/stix").status_code == 410
    assert people["pub-ann"].call("GET", f"{path}/indicators.csv").status_code == 410
    again = people["pub-bob"].call("POST", f"{path}/retract", json={})
    assert again.status_code == 200
    time.sleep(1.0)
    assert len([m for m in mails(hub, since, "Retracted") if title in m["subject"]]) == len(expected)


def test_the_fan_out_refuses_a_delivery_the_label_does_not_allow_whatever_queued_it(
    hub: Stack, officials: list[Official]
) -> None:
    inside_district, outside_district = districts_with_takers(officials)[4:6]
    inside = next(o for o in cyber(officials) if o.district == inside_district and o.email)
    outside = next(o for o in cyber(officials) if o.district == outside_district and o.email)
    subject = f"[TLP:AMBER] Injected {time.time()}"
    message = Message(
        id=str(ULID()),
        kind=MessageKind.BULLETIN,
        priority=Priority.NOTICE,
        acknowledgeable=False,
        escalatable=False,
        content=Content(email=EmailContent(subject, "<p>TLP:AMBER</p>", "TLP:AMBER")),
        created=time.time(),
        expires=time.time() + 3600,
        markings=(Marking(Tlp.AMBER, organizations=(inside_district,)),),
    )
    # A "bug upstream": the message queued straight to someone outside its organizations.
    conn = redis.Redis.from_url(hub.settings.redis_url)
    slots = {Channel.EMAIL.value: [inside.id, outside.id]}
    batches = plan_batches(message.id, slots, {}, QUEUE_FOR_PRIORITY[message.priority])
    since = time.time()
    Dispatcher(conn).fan_out(message, slots, batches)
    got = settle(lambda: mails(hub, since, subject), 1)
    assert [m["to"].lower() for m in got] == [inside.email.lower()]  # type: ignore[union-attr]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        raw = conn.hget(f"{k.DELIVERY_KEY}{message.id}:email", outside.id)
        if raw is not None and Delivery.from_json(raw).state is DeliveryState.PARKED:
            break
        time.sleep(0.2)
    assert raw is not None
    delivery = Delivery.from_json(raw)
    assert delivery.state is DeliveryState.PARKED and "refused by TLP:AMBER" in (delivery.reason or "")
    refused = [
        fields
        for _, fields in conn.xrange(k.AUDIT_STREAM)
        if fields.get(b"action") == b"bulletin_delivery_refused" and outside.id.encode() in fields[b"detail"]
    ]
    assert len(refused) == 1
    conn.close()


def test_clear_and_green_wait_for_the_digest_which_only_cyber_subscribers_see_and_green_stays_off_the_archive(
    hub: Stack, officials: list[Official], people: dict[str, Client]
) -> None:
    ann, cat, director = people["pub-ann"], people["ed-cat"], people["dps-dir"]
    clear = publish(ann, tlp="TLP:CLEAR", severity="low", title="Patch the door-controller firmware")
    green = publish(ann, tlp="WHITE", severity="medium", title="Clear via WHITE")
    assert green["tlp"] == "TLP:CLEAR"
    green = publish(ann, tlp="TLP:GREEN", severity="medium", title="Community-only scam warning")
    for b in (clear, green):
        assert b["state"] == "waiting" and b["route"] == "digest"
    items = cat.call("GET", "/v1/digest/items").json()
    carried = {i.get("bulletin"): i for i in items["items"] if i.get("bulletin")}
    assert carried[green["id"]]["title"].startswith("[TLP:GREEN] ")
    news = cat.call(
        "POST", "/v1/digest/items", json={"title": "Drill week", "body": "x", "category": "drills"}
    )
    assert news.status_code == 201
    approved = director.call("POST", "/v1/digest/issues/next/approve")
    assert approved.status_code == 200, approved.text
    view = cat.call("GET", "/v1/digest/issues/next").json()
    since = time.time()
    out = hub.cli("digest", "run-due", "--at", datetime.fromisoformat(view["send_time"]).isoformat())
    assert f"issue {view['number']}: sent" in out.stdout, out.stdout + out.stderr
    subscribers = [o for o in officials if Subscription.DIGEST in o.subscriptions and o.email]
    marker = f"issue {view['number']} ("
    got = settle(lambda: mails(hub, since, marker), len(subscribers))
    by_to: dict[str, list[str]] = {}
    for mail in got:
        by_to.setdefault(mail["to"].lower(), []).append(filled(mail, "text"))
    with_cyber = next(
        o for o in alone(officials) if o in subscribers and Subscription.CYBER in o.subscriptions
    )
    without = next(
        o for o in alone(officials) if o in subscribers and Subscription.CYBER not in o.subscriptions
    )
    assert "[TLP:GREEN] Community-only scam warning" in by_to[with_cyber.email.lower()][0]  # type: ignore[union-attr]
    for text in by_to[without.email.lower()]:  # type: ignore[union-attr]
        assert "TLP:" not in text and "Drill week" in text
    page = requests.get(f"{hub.api}/digest/{view['number']}", timeout=10).text
    assert "Patch the door-controller firmware" in page and "Community-only scam warning" not in page
    assert ann.call("GET", f"/v1/bulletins/{green['id']}").json()["state"] == "sent"
    # An AMBER bulletin never waits, whatever its severity.
    amber = publish(ann, tlp="TLP:AMBER", severity="low", organizations=[with_cyber.district])
    assert amber["route"] == "now"
    later = cat.call("GET", "/v1/digest/items").json()["items"]
    assert amber["id"] not in [i.get("bulletin") for i in later]


def test_an_official_who_moved_district_before_the_send_does_not_receive_it(
    hub: Stack, officials: list[Official], people: dict[str, Client], registry_text: str, tmp_path: Path
) -> None:
    district, elsewhere = districts_with_takers(officials)[6:8]
    mover = next(o for o in alone(cyber(officials)) if o.district == district)
    title = "Sent while workers were down"
    hub.stop("worker")
    try:
        since = time.time()
        publish(people["pub-ann"], tlp="TLP:AMBER", severity="medium", title=title, organizations=[district])
        rows = list(csv.reader(io.StringIO(registry_text)))
        for row in rows:
            if row[0] == mover.id:
                row[4] = elsewhere
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        path = tmp_path / "moved.csv"
        path.write_text(out.getvalue())
        assert hub.import_contacts(path).returncode == 0
    finally:
        hub.start("worker", 2)
    expected = sorted(
        o.email.lower() for o in cyber(officials) if o.district == district and o.email and o.id != mover.id
    )
    got = settle(lambda: mails(hub, since, title), len(expected))
    assert sorted(m["to"].lower() for m in got) == expected
    restore = tmp_path / "restore.csv"
    restore.write_text(registry_text)
    assert hub.import_contacts(restore).returncode == 0
