"""Status checks (polls) end to end, on a compressed clock, checked at the simulators (issue #14, point 2).

A lockdown to a district's principals and safety coordinators asks "Is your school safe?": officials answer
by SMS digit, by keypress and on the email's page; the latest answer wins and every answer is kept; a
replayed SMS changes nothing; "Need help" pages the alert's sender and the district's superintendent once,
is audited, puts the school first in the school list and keeps it escalating. A bare digit answers the
newest open poll (even one answered already), and with none open "1" acknowledges as before; an Exercise
poll's urgent notice is an Exercise; a bad poll is refused naming its field.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
from redis.asyncio import Redis as AsyncRedis
from twilio.request_validator import RequestValidator

from alertnet.domain.alert_request import example_alert_request
from alertnet.domain.alerts import parse_datetime
from alertnet.domain.escalation import choose_policy, parse_policies, schedule
from alertnet.domain.polls import PollAnswer
from alertnet.domain.sms import sms_segments
from alertnet.settings import REPO_ROOT, SIM_ACCOUNT_SID, SIM_AUTH_TOKEN
from alertnet.sim.twilio_common import inbound_sms_params
from alertnet.store import keys as k
from alertnet.store.polls import PollStore
from alertnet.store.server import RedisProcess
from alertnet.store.webhooks import HANDLING, TAKEOVER_SECONDS, HandledRequests
from tests.conftest import Stack, bearer, start_stack, stop_stack, wait_until
from tests.test_escalation_e2e import slot_of

DB = 23
NOTICE_RETRY = 2.0  # an urgent answer's notice not sent by then is sent by the scheduler
HUB_NUMBER = "+15735550190"  # the hub's first SMS number (config/alertnet.toml)
SCALE = 0.06  # the lockdown policy's 2 minutes (inside the school) become 7.2 s, 5 minutes 18 s
HEADER = "id,name,role,school,district,county,region,mobile,voice,email,backup_id,subscriptions"
COLUMBIA = "Columbia 93"
POLL = {
    "question": "Is your school safe?",
    "answers": [{"text": "Safe"}, {"text": "Need help", "urgent": True}, {"text": "Evacuated"}],
}
LOCKDOWN: dict[str, Any] = {
    **example_alert_request(),
    "headline": "Lockdown: intruder reported",
    "audience": {"districts": [COLUMBIA], "roles": ["principal", "safety_coordinator"]},
    "poll": POLL,
}
CHECK: dict[str, Any] = {
    **example_alert_request(),
    "severity": "Minor",
    "urgency": "Expected",
    "event": "Status check",
    "headline": "Status check: storm damage",
    "channels": ["sms"],
    "poll": POLL,
}


def _row(oid: str, role: str, school: str, district: str, n: int, region: str = "Central") -> dict[str, str]:
    values = [oid, f"Official {oid}", role, school, district, "Boone", region, f"+1573430{n:04d}"]
    values += [f"+1573530{n:04d}", f"{oid}@schools.example.org", "", "alerts"]
    return dict(zip(HEADER.split(","), values, strict=True))


def build_rows() -> dict[str, dict[str, str]]:
    """Columbia 93: 4 schools of a principal, a safety coordinator and a nurse, and a superintendent;
    another district's superintendent; the director's own registry entry (where the hub pages them)."""
    rows = [
        _row("sup-c", "superintendent", "", COLUMBIA, 1),
        _row("sup-h", "superintendent", "", "Hallsville R-IV", 2),
        _row("dir-off", "regional_coordinator", "", "DPS", 3, region="State"),
    ]
    for s in range(1, 5):
        for r, role in enumerate(("principal", "safety_coordinator", "nurse")):
            rows.append(_row(f"c{s:02d}-{role[:2]}", role, f"School {s}", COLUMBIA, 100 + s * 10 + r))
    return {r["id"]: r for r in rows}


ROWS = build_rows()
BY_ADDRESS = {r[key]: oid for oid, r in ROWS.items() for key in ("mobile", "voice", "email")}


@pytest.fixture(scope="module")
def polls_stack(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(
        redis_server,
        tmp_path_factory.mktemp("polls-data"),
        db=DB,
        log_dir=tmp_path_factory.mktemp("polls-logs"),
        ALERTNET_ESCALATION_TIME_SCALE=str(SCALE),
        ALERTNET_ESCALATION_TICK_SECONDS="0.1",
        ALERTNET_TWILIO_CALLS_PER_SECOND="20",
        ALERTNET_ESCALATION_HELP_NOTICE_RETRY_SECONDS=str(NOTICE_RETRY),
    )
    redis.Redis.from_url(stack.env["REDIS_URL"]).flushdb()  # our own database of our own server
    path = tmp_path_factory.mktemp("polls-registry") / "registry.csv"
    path.write_text(
        HEADER + "\n" + "\n".join(",".join(r[c] for c in HEADER.split(",")) for r in ROWS.values())
    )
    assert stack.import_contacts(path).returncode == 0
    yield stack
    stop_stack(stack)


@pytest.fixture(scope="module")
def director(polls_stack: Stack) -> str:
    result = polls_stack.cli("senders", "add", "poll-director", "--role", "director", "--official", "dir-off")
    assert result.returncode == 0, result.stderr
    return next(line.split(": ", 1)[1] for line in result.stdout.splitlines() if line.startswith("token: "))


def _get(stack: Stack, token: str, path: str) -> dict[str, Any]:
    response = requests.get(f"{stack.api}{path}", headers=bearer(token), timeout=10)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _sms(stack: Stack, official: str, body: str, sid: str = "") -> str:
    """The inbound SMS exactly as Twilio posts it, signed (`sid`: its MessageSid, to replay it); the
    hub's reply text ("" for none)."""
    url = f"{stack.api}/v1/webhooks/twilio/sms"
    sid = sid or f"SM{time.time_ns():032x}"
    params = inbound_sms_params(SIM_ACCOUNT_SID, sid, ROWS[official]["mobile"], HUB_NUMBER, body)
    signature = RequestValidator(SIM_AUTH_TOKEN).compute_signature(url, params)
    response = requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)
    assert response.status_code == 200, response.text
    found = re.search(r"<Message>(.*)</Message>", response.text, re.S)
    return found.group(1).replace("&quot;", '"') if found else ""


def _press(stack: Stack, official: str, digits: str) -> str:
    """Press keys on the newest call to the official (waiting for the call to be placed)."""
    deadline = time.monotonic() + 20
    while True:
        answer = requests.post(
            f"{stack.sim}/sim/press", json={"to": ROWS[official]["voice"], "digits": digits}, timeout=10
        ).json()
        if answer.get("status") == 200 or time.monotonic() > deadline:
            assert answer.get("status") == 200, answer
            return str(answer["body"])
        time.sleep(0.1)


def _wait_for(stack: Stack, kind: str, alert_id: str, since: float, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        found = [m for m in stack.sim_messages(kind, since) if slot_of(m, alert_id) == kind]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, found
            return found
        time.sleep(0.2)


def _escalated(stack: Stack, alert_id: str, since: float) -> Counter[tuple[str, str]]:
    found: Counter[tuple[str, str]] = Counter()
    for kind in ("sms", "voice", "email"):
        for message in stack.sim_messages(kind, since):
            slot = slot_of(message, alert_id)
            if slot and "@" in slot:
                found[(slot, BY_ADDRESS[str(message["to"])])] += 1
    return found


def _notices(stack: Stack, since: float, about: str) -> Counter[str]:
    """Who got an urgent notice SMS about official `about`, and how many."""
    return Counter(
        BY_ADDRESS[str(m["to"])]
        for m in stack.sim_messages("sms", since)
        if "Help requested" in m["body"] and f"Official {about} " in m["body"]
    )


def _notices_once_in(stack: Stack, since: float, about: str, seconds: float) -> Counter[str]:
    """Who got an urgent notice about `about`, once two have come (the superintendent's and the
    sender's) or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while sum(_notices(stack, since, about).values()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    return _notices(stack, since, about)


def test_answers_by_sms_keypress_and_email_with_an_urgent_school_first_and_escalating(
    polls_stack: Stack, director: str
) -> None:
    stack = polls_stack
    t0 = time.time()
    alert_id = stack.send(director, LOCKDOWN)
    sent = parse_datetime(_get(stack, director, f"/v1/alerts/{alert_id}")["alert"]["sent"]).timestamp()
    policy = choose_policy(
        parse_policies(REPO_ROOT.joinpath("config/escalation.toml").read_text()),
        "Extreme",
        "Actual",
        "Lockdown",
    )
    assert policy is not None
    waves = schedule(policy, sent, time_scale=SCALE)
    # Every first SMS carries the answer line and stays one segment.
    for message in _wait_for(stack, "sms", alert_id, t0, 8):
        assert "Reply 1=Safe 2=Need help 3=Evacuated Code " in message["body"], message["body"]
        assert sms_segments(message["body"]) == 1

    # School 1's principal needs help (SMS); Twilio's retry of that request changes nothing.
    reply = _sms(stack, "c01-pr", "2", sid="SM" + "a1" * 16)
    assert reply.startswith("Answer recorded: 2=Need help (Lockdown).") and "Help is being notified" in reply
    assert sms_segments(reply) == 1
    assert _sms(stack, "c01-pr", "2", sid="SM" + "a1" * 16) == ""
    # School 2 answers by keypress; a key that is no answer is said so, and a digit that is none by SMS.
    assert "Your answer, Safe, has been recorded" in _press(stack, "c02-pr", "1")
    assert "not one of the answers" in _press(stack, "c02-sa", "4")
    out_of_range = _sms(stack, "c02-sa", "7")
    assert (
        out_of_range == "Not an answer to Lockdown: Is your school safe? Reply 1=Safe 2=Need help 3=Evacuated"
    )
    # School 3's safety coordinator picks "Evacuated" on the email's page, then texts "1": the latest wins.
    (email,) = [m for m in _wait_for(stack, "email", alert_id, t0, 8) if m["to"] == ROWS["c03-sa"]["email"]]
    link = re.search(r'href="([^"]*/ack/[^"?]+)\?answer=3"', email["html"])
    assert link, email["html"]
    page = requests.get(f"{link.group(1)}?answer=3", timeout=10)
    assert page.status_code == 200 and "Is your school safe?" in page.text and 'value="3"' in page.text
    assert (
        _get(stack, director, f"/v1/alerts/{alert_id}/answers")["counts"]["3"] == 0
    )  # a GET records nothing
    picked = requests.post(link.group(1), data={"answer": "3"}, timeout=10)
    assert picked.status_code == 200 and "Your answer: 3 - Evacuated" in picked.text
    assert _sms(stack, "c03-sa", "1").startswith("Answer recorded: 1=Safe")
    # School 1's principal presses "Need help" on the call as well: no second notice.
    assert "Need help" in _press(stack, "c01-pr", "2")
    assert time.time() < waves[0].due, "the answers took longer than the first step; the test cannot judge it"

    wait_until(waves[1].due + 3.0)  # after the superintendents' step
    # School 1 (need help, though its principal acknowledged) and School 4 (no answer) escalate inside the
    # school (not to the principal who answered), then to the superintendent; Schools 2 and 3 do not.
    expected: Counter[tuple[str, str]] = Counter()
    for who in ("c01-sa", "c01-nu", "c04-pr", "c04-sa", "c04-nu"):
        for channel in ("sms", "voice", "email"):
            expected[(f"{channel}@1", who)] += 1
    expected.update({("sms@2", "sup-c"): 1, ("voice@2", "sup-c"): 1})
    assert _escalated(stack, alert_id, t0) == expected
    # The sender (their registry entry) and the district's superintendent were paged once, SMS and call.
    assert _notices(stack, t0, "c01-pr") == Counter({"sup-c": 1, "dir-off": 1})
    notice = next(m for m in stack.sim_messages("sms", t0) if "Help requested" in m["body"])
    assert notice["body"].startswith(
        'Help requested: Official c01-pr (School 1, Columbia 93) answered "Need help"'
    )
    urgent = [json.loads(e["detail"]) | e for e in stack.audit_entries() if e.get("action") == "poll_urgent"]
    assert [(e["outcome"], e["official_id"], e["answer"]) for e in urgent] == [("accepted", "c01-pr", 2)]
    assert sorted(urgent[0]["notified"]) == ["dir-off", "sup-c"]
    notice_id = urgent[0]["notice_alert"]
    called = Counter(
        BY_ADDRESS[str(c["to"])] for c in stack.sim_messages("voice", t0) if slot_of(c, notice_id) == "voice"
    )
    assert called == Counter({"sup-c": 1, "dir-off": 1})

    listing = _get(stack, director, f"/v1/alerts/{alert_id}/schools")
    rows = [(r["school"], r["state"], r.get("answer", {}).get("text")) for r in listing["schools"]]
    assert rows[0] == ("School 1", "answered", "Need help") and listing["schools"][0]["urgent"] is True
    assert rows[1] == ("School 4", "no_answer", None)
    assert sorted(rows[2:]) == [("School 2", "answered", "Safe"), ("School 3", "answered", "Safe")]
    assert [a["official_id"] for a in listing["schools"][0]["answered_by"]] == ["c01-pr"]
    assert (listing["reached"], listing["not_reached"]) == (3, 1)

    answers = _get(stack, director, f"/v1/alerts/{alert_id}/answers")
    assert answers["poll"]["question"] == "Is your school safe?"
    assert answers["counts"] == {"1": 2, "2": 1, "3": 0}
    history = [(a["official_id"], a["answer"], a["channel"]) for a in answers["history"]]
    assert history == [
        ("c01-pr", 2, "sms"),
        ("c02-pr", 1, "voice"),
        ("c03-sa", 3, "email"),
        ("c03-sa", 1, "sms"),
        ("c01-pr", 2, "voice"),
    ]
    acks = _get(stack, director, f"/v1/alerts/{alert_id}/acks")
    assert sorted(a["official_id"] for a in acks["acknowledged"]) == ["c01-pr", "c02-pr", "c03-sa"]
    assert _get(stack, director, f"/v1/alerts/{alert_id}")["alert"]["poll"]["answers"][1]["urgent"] is True
    stack.all_clear(director, alert_id)


def test_a_bare_digit_answers_the_newest_open_poll_and_exercise_notices_stay_exercises(
    polls_stack: Stack, director: str
) -> None:
    stack = polls_stack
    t0 = time.time()
    older = stack.send(director, {**CHECK, "audience": {"officials": ["c02-pr"]}})
    newer = stack.send(director, {**CHECK, "audience": {"officials": ["c02-pr", "c03-pr"]}})
    assert _sms(stack, "c02-pr", "1").startswith("Answer recorded: 1=Safe (Status check).")
    assert _sms(stack, "c02-pr", "3").startswith("Answer recorded: 3=Evacuated")  # answered already: again
    latest = _get(stack, director, f"/v1/alerts/{newer}/answers")["latest"]
    assert [(a["official_id"], a["answer"]) for a in latest] == [("c02-pr", 3)]
    assert _get(stack, director, f"/v1/alerts/{older}/answers")["history"] == []
    stack.all_clear(director, newer)
    assert _sms(stack, "c02-pr", "1").startswith("Answer recorded: 1=Safe")  # the older one, still open
    assert [a["answer"] for a in _get(stack, director, f"/v1/alerts/{older}/answers")["latest"]] == [1]
    stack.all_clear(director, older)
    # No open poll: "1" acknowledges the newest open alert, as before polls.
    plain = stack.send(director, {**CHECK, "poll": None, "audience": {"officials": ["c02-pr"]}})
    assert _sms(stack, "c02-pr", "1").startswith("Acknowledged: Status check.")
    stack.all_clear(director, plain)

    drill = stack.send(director, {**CHECK, "status": "Exercise", "audience": {"officials": ["c04-pr"]}})
    assert "Help is being notified" in _sms(stack, "c04-pr", "2")
    assert _notices_once_in(stack, t0, "c04-pr", 20) == Counter({"sup-c": 1, "dir-off": 1})
    notices = [m for m in stack.sim_messages("sms", t0) if "Official c04-pr " in m["body"]]
    assert all(m["body"].startswith("EXERCISE - Help requested: ") for m in notices), notices
    stack.all_clear(director, drill)


async def _died_before_the_notice(url: str, answer: PollAnswer) -> None:
    """What a process that dies between keeping an urgent answer and sending its notice leaves behind:
    the answer (its notice owed, one transaction) and its claim on the notice, which lapses."""
    conn = AsyncRedis.from_url(url)
    try:
        store = PollStore(conn)
        await store.record(answer)
        assert await store.claim_notice(answer.alert_id, answer.official_id, 2, lease=NOTICE_RETRY)
    finally:
        await conn.aclose()


def test_an_urgent_answer_whose_process_died_before_its_notice_is_notified_once(
    polls_stack: Stack, director: str
) -> None:
    stack = polls_stack
    t0 = time.time()
    alert_id = stack.send(director, {**CHECK, "audience": {"officials": ["c03-pr"]}})
    _wait_for(stack, "sms", alert_id, t0, 1)
    answer = PollAnswer(alert_id, "c03-pr", 2, "Need help", True, time.time(), "sms", (COLUMBIA, "School 3"))
    asyncio.run(_died_before_the_notice(stack.env["REDIS_URL"], answer))
    # The scheduler's sweep took the lapsed claim over and paged the superintendent and the sender...
    assert _notices_once_in(stack, t0, "c03-pr", NOTICE_RETRY + 20) == Counter({"sup-c": 1, "dir-off": 1})
    # ...once: later sweeps and the same answer given again (now by SMS) page nobody again.
    assert "Help is being notified" in _sms(stack, "c03-pr", "2")
    time.sleep(3 * NOTICE_RETRY)
    assert _notices(stack, t0, "c03-pr") == Counter({"sup-c": 1, "dir-off": 1})
    # A sender that paged them but died before marking the notice sent leaves it owed (claim gone, due
    # again): the sweep finds the page it was sent as, by its idempotency key, and pages nobody again.
    conn = redis.Redis.from_url(stack.env["REDIS_URL"])
    assert conn.delete(f"{k.POLL_NOTIFIED}{alert_id}:c03-pr:2") == 1
    conn.zadd(k.POLL_NOTICES_DUE, {json.dumps([alert_id, "c03-pr", 2], separators=(",", ":")): answer.at})
    time.sleep(3 * NOTICE_RETRY)
    assert conn.zcard(k.POLL_NOTICES_DUE) == 0 and _notices(stack, t0, "c03-pr") == Counter(
        {"sup-c": 1, "dir-off": 1}
    )
    urgent = [json.loads(e["detail"]) | e for e in stack.audit_entries() if e.get("action") == "poll_urgent"]
    assert [e["outcome"] for e in urgent if e["official_id"] == "c03-pr"] == ["accepted", "sent_before"]
    stack.all_clear(director, alert_id)


async def _died_before_the_ack(url: str, answer: PollAnswer, sid: str) -> None:
    """What dying between keeping an SMS's answer and its ack leaves: the answer, the request held."""
    conn = AsyncRedis.from_url(url)
    try:
        marker = HandledRequests.key("twilio-sms", sid)
        assert await PollStore(conn).record(answer, handled=marker)
        await conn.set(marker, f"{HANDLING}{time.time() - 2 * TAKEOVER_SECONDS:.6f}")
    finally:
        await conn.aclose()


def test_an_sms_retried_after_a_crash_keeps_its_answer_once(polls_stack: Stack, director: str) -> None:
    stack, t0, sid = polls_stack, time.time(), f"SM{time.time_ns():032x}"
    alert_id = stack.send(director, {**CHECK, "audience": {"officials": ["c04-sa"]}})
    _wait_for(stack, "sms", alert_id, t0, 1)
    answer = PollAnswer(alert_id, "c04-sa", 3, "Evacuated", False, time.time(), "sms", (COLUMBIA, "School 4"))
    asyncio.run(_died_before_the_ack(stack.env["REDIS_URL"], answer, sid))
    assert _sms(stack, "c04-sa", "3", sid=sid).startswith("Answer recorded: 3=Evacuated")  # Twilio's retry
    assert _sms(stack, "c04-sa", "3", sid=sid) == ""  # and a replay of it: handled
    answers = _get(stack, director, f"/v1/alerts/{alert_id}/answers")
    assert [(a["official_id"], a["answer"]) for a in answers["history"]] == [("c04-sa", 3)]  # kept once
    acked = _get(stack, director, f"/v1/alerts/{alert_id}/acks")["acknowledged"]
    assert [a["official_id"] for a in acked] == ["c04-sa"]  # and the ack the crash lost is recorded
    stack.all_clear(director, alert_id)


@pytest.mark.parametrize(
    ("poll", "field"),
    [
        ({**POLL, "answers": [{"text": "Safe"}, {"text": "x" * 31}]}, "poll.answers[1].text"),
        ({**POLL, "answers": [{"text": "Safe"}]}, "poll.answers"),
        ({"answers": POLL["answers"]}, "poll.question"),
    ],
)
def test_a_bad_poll_is_refused_naming_its_field(
    polls_stack: Stack, director: str, poll: dict[str, Any], field: str
) -> None:
    before = [a["id"] for a in _get(polls_stack, director, "/v1/alerts")["alerts"]]
    refused = polls_stack.post_alert(director, {**CHECK, "poll": poll, "audience": {"officials": ["c02-pr"]}})
    assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == [field]
    assert [a["id"] for a in _get(polls_stack, director, "/v1/alerts")["alerts"]] == before  # nothing written
