"""Faults, attacks and bad input against the real stack: replays change nothing, follow-ups keep their
alert's status and reach everyone it reached, closing what is closed sends nothing, no input gets a 5xx,
refusals are audited without growing the trail, and nothing reversible is kept of a phone number."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
import requests
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from alertnet.settings import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN
from alertnet.sim.twilio_common import inbound_sms_params
from alertnet.store import keys as k
from alertnet.store.server import RedisProcess
from tests.conftest import Stack, start_stack, stop_stack
from tests.test_escalation_e2e import AUDIENCE_ROLES, import_registry

SCALE = 0.02  # the extreme policy's backups' step (5 min) fires after 6 s
HUB_NUMBER = "+15735550190"


@pytest.fixture(scope="module")
def rel_stack(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(
        redis_server,
        tmp_path_factory.mktemp("reliability-data"),
        db=7,
        ALERTNET_ESCALATION_TIME_SCALE=str(SCALE),
        ALERTNET_ESCALATION_TICK_SECONDS="0.1",
    )
    yield stack
    stop_stack(stack)


@pytest.fixture(scope="module")
def rows(rel_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    return import_registry(rel_stack, tmp_path_factory.mktemp("reliability-registry"))


@pytest.fixture(scope="module")
def director(rel_stack: Stack) -> str:
    return rel_stack.add_sender("rel-director", "director")


def _alert(status: str = "Exercise", district: str = "Columbia 93", **changes: Any) -> dict[str, Any]:
    return {
        "status": status,
        "msgType": "Alert",
        "severity": "Extreme",
        "urgency": "Immediate",
        "certainty": "Observed",
        "event": "Lockdown",
        "headline": "Lockdown drill",
        "audience": {"districts": [district], "roles": AUDIENCE_ROLES},
        "channels": ["sms"],
        **changes,
    }


def _post(stack: Stack, token: str, path: str, body: Any = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.post(f"{stack.api}{path}", json=body, headers=headers, timeout=30)


def _signed_sms(stack: Stack, sid: str, sender: str, body: str) -> requests.Response:
    """The inbound-SMS webhook exactly as Twilio posts it, signed with the account's token."""
    url = f"{stack.api}/v1/webhooks/twilio/sms"
    params = inbound_sms_params(SIM_ACCOUNT_SID, sid, sender, HUB_NUMBER, body)
    signature = RequestValidator(SIM_AUTH_TOKEN).compute_signature(url, params)
    return requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)


def _sms_with(stack: Stack, code: str) -> list[dict[str, Any]]:
    return [m for m in stack.sim_messages("sms") if code in m["body"]]


def _acked(stack: Stack, token: str, alert_id: str) -> set[str]:
    response = requests.get(
        f"{stack.api}/v1/alerts/{alert_id}/acks", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return {row["official_id"] for row in response.json()["acknowledged"]}


def test_a_replayed_inbound_sms_acknowledges_nothing_more(
    rel_stack: Stack, rows: dict[str, dict[str, str]], director: str
) -> None:
    stack = rel_stack
    older = _post(stack, director, "/v1/alerts", _alert(district="Jefferson City")).json()
    newer = _post(stack, director, "/v1/alerts", _alert(district="Jefferson City")).json()
    official = "of-050"  # in Jefferson City
    first = _signed_sms(stack, "SM" + "a1" * 16, rows[official]["mobile"], "1")
    assert first.status_code == 200 and "Acknowledged" in first.text
    again = _signed_sms(stack, "SM" + "a1" * 16, rows[official]["mobile"], "1")
    assert again.status_code == 200 and "<Message>" not in again.text
    assert official in _acked(stack, director, newer["id"])
    assert official not in _acked(stack, director, older["id"])  # the replay acknowledged nothing
    # A new message (another MessageSid) is a new reply: it answers the older alert.
    fresh = _signed_sms(stack, "SM" + "b2" * 16, rows[official]["mobile"], "1")
    assert "Acknowledged" in fresh.text and official in _acked(stack, director, older["id"])


def test_a_twilio_request_is_verified_over_every_pair_that_arrived(
    rel_stack: Stack, rows: dict[str, dict[str, str]], director: str
) -> None:
    """Twilio signs every parameter it sends, a name sent twice with both its values, and may sign the
    URL without its port: each such request is taken; one with a signed pair left out is not."""
    stack = rel_stack
    _post(stack, director, "/v1/alerts", _alert(district="Hallsville R-IV"))
    url = f"{stack.api}/v1/webhooks/twilio/sms"
    official = "of-040"  # in Hallsville R-IV
    pairs = [
        *inbound_sms_params(
            SIM_ACCOUNT_SID, "SM" + "c3" * 16, rows[official]["mobile"], HUB_NUMBER, "1"
        ).items(),
        ("AddOns", "first"),
        ("AddOns", "second"),
    ]
    validator = RequestValidator(SIM_AUTH_TOKEN)
    signed = validator.compute_signature(url, MultiDict(pairs))
    cut = requests.post(url, data=pairs[:-1], headers={"X-Twilio-Signature": signed}, timeout=10)
    assert cut.status_code == 403
    taken = requests.post(url, data=pairs, headers={"X-Twilio-Signature": signed}, timeout=10)
    assert taken.status_code == 200 and "Acknowledged" in taken.text
    portless = url.replace(f":{urlsplit(url).port}", "", 1)
    again = [(n, "SM" + "d4" * 16 if n in ("MessageSid", "SmsSid", "SmsMessageSid") else v) for n, v in pairs]
    signature = validator.compute_signature(portless, MultiDict(again))
    assert (
        requests.post(url, data=again, headers={"X-Twilio-Signature": signature}, timeout=10).status_code
        == 200
    )


def test_a_follow_up_keeps_its_alerts_status(rel_stack: Stack, rows: dict[str, Any], director: str) -> None:
    stack = rel_stack
    drill = _post(stack, director, "/v1/alerts", _alert(district="Hallsville R-IV")).json()
    update = {
        "msgType": "Update",
        "references": [drill["id"]],
        "severity": "Minor",
        "urgency": "Past",
        "certainty": "Observed",
        "event": "Lockdown",
        "headline": "Drill extended by ten minutes",
        "audience": {"districts": ["Hallsville R-IV"]},
        "channels": ["sms"],
    }
    actual = _post(stack, director, "/v1/alerts", {**update, "status": "Actual"})
    assert actual.status_code == 422
    assert [e["field"] for e in actual.json()["errors"]] == ["status"]
    assert "Exercise" in actual.json()["errors"][0]["reason"]
    inherited = _post(stack, director, "/v1/alerts", update)
    assert inherited.status_code == 202, inherited.text
    assert stack.status(director, inherited.json()["id"])["alert"]["status"] == "Exercise"
    stack.wait_settled(director, inherited.json()["id"])
    sms = _sms_with(stack, inherited.json()["verification_code"])
    assert len(sms) == 25 and all(m["body"].startswith("EXERCISE - UPDATE: ") for m in sms)
    assert _sms_with(stack, "Drill extended") == sms  # the refused Actual update sent nothing


def test_closing_what_is_closed_sends_nothing(rel_stack: Stack, rows: dict[str, Any], director: str) -> None:
    stack = rel_stack
    t0 = time.time()
    alert = _post(stack, director, "/v1/alerts", _alert(district="Blair Oaks R-II")).json()
    # Two all-clears at once: exactly one is sent.
    answers: list[requests.Response] = []
    threads = [
        threading.Thread(
            target=lambda: answers.append(_post(stack, director, f"/v1/alerts/{alert['id']}/all-clear"))
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [202, 409]
    cleared = next(a.json() for a in answers if a.status_code == 202)
    again = _post(stack, director, f"/v1/alerts/{alert['id']}/all-clear")
    assert again.status_code == 409 and "already closed" in again.json()["message"]
    cancel = {
        **_alert(district="Blair Oaks R-II"),
        "msgType": "Cancel",
        "references": [alert["id"]],
        "headline": "Sent in error",
    }
    assert _post(stack, director, "/v1/alerts", cancel).status_code == 409
    # An alert cancelled first cannot be cleared afterwards either.
    other = _post(stack, director, "/v1/alerts", _alert(district="Blair Oaks R-II")).json()
    cancelled = _post(stack, director, "/v1/alerts", {**cancel, "references": [other["id"]]})
    assert cancelled.status_code == 202, cancelled.text
    assert _post(stack, director, f"/v1/alerts/{other['id']}/all-clear").status_code == 409
    stack.wait_settled(director, cleared["id"])
    stack.wait_settled(director, cancelled.json()["id"])
    time.sleep(0.5)
    assert len(_sms_with(stack, cleared["verification_code"])) == 25
    # Of the five closings tried, one all-clear and one cancellation went out; nothing else did.
    clears = [m for m in stack.sim_messages("sms", t0) if "ALL CLEAR" in m["body"]]
    assert {m["body"].split(" Code ")[1].split()[0] for m in clears} == {cleared["verification_code"]}
    cancels = [m for m in stack.sim_messages("sms", t0) if "CANCELLED" in m["body"]]
    assert {m["body"].split(" Code ")[1].split()[0] for m in cancels} == {
        cancelled.json()["verification_code"]
    }


def test_an_all_clear_reaches_whoever_escalation_reached(
    rel_stack: Stack, rows: dict[str, dict[str, str]], director: str
) -> None:
    stack = rel_stack
    body = {
        # Not a lockdown: the shipped lockdown policy escalates to the whole school, this one to backups.
        **_alert(status="Actual", district="Columbia 93", event="Armed intruder"),
        "audience": {"officials": ["of-001", "of-002"]},
    }
    alert = _post(stack, director, "/v1/alerts", body).json()
    backups = {rows["of-001"]["backup_id"], rows["of-002"]["backup_id"]}
    backup_mobiles = {rows[b]["mobile"] for b in backups}
    deadline = time.time() + 40
    while time.time() < deadline:
        reached = {m["to"] for m in _sms_with(stack, alert["verification_code"])} & backup_mobiles
        if reached == backup_mobiles:
            break
        time.sleep(0.2)
    assert reached == backup_mobiles, "the backups' escalation step never reached them"
    clear = _post(stack, director, f"/v1/alerts/{alert['id']}/all-clear")
    assert clear.status_code == 202, clear.text
    assert clear.json()["recipients"]["sms"] == 4  # the two officials and their two backups
    stack.wait_settled(director, clear.json()["id"])
    got = {m["to"] for m in _sms_with(stack, clear.json()["verification_code"])}
    assert got == backup_mobiles | {rows["of-001"]["mobile"], rows["of-002"]["mobile"]}
    # Escalation also called the officials (at 2 minutes) and the backups (at 5): all four were reached
    # by call, so all four hear the all-clear by call as well.
    calls = [m for m in stack.sim_messages("voice") if clear.json()["id"] in json.dumps(m)]
    assert {m["to"] for m in calls} == {rows[i]["voice"] for i in (*backups, "of-001", "of-002")}


def test_bad_input_gets_a_4xx_never_a_5xx(rel_stack: Stack, rows: dict[str, Any], director: str) -> None:
    stack = rel_stack
    headers = {"Authorization": f"Bearer {director}", "Content-Type": "application/json"}
    nested = "[" * 100_000 + "]" * 100_000
    deep = requests.post(f"{stack.api}/v1/alerts", data=nested, headers=headers, timeout=30)
    assert deep.status_code == 400 and deep.json()["errors"][0]["field"] == "body"
    for expires in ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"):
        far = _post(stack, director, "/v1/alerts", _alert(expires=expires))
        assert far.status_code == 422 and far.json()["errors"][0]["field"] == "expires", far.text
    odd_charset = requests.post(
        f"{stack.api}/v1/alerts",
        data=b"{}",
        headers={**headers, "Content-Type": "application/json; charset=no-such-charset"},
        timeout=10,
    )
    assert odd_charset.status_code == 400
    for path in ("sms", "status?d=X", "call-status?d=X", "voice?d=X", "gather?d=X"):
        url = f"{stack.api}/v1/webhooks/twilio/{path}"
        no_boundary = requests.post(
            url, data=b"--x\r\n", headers={"Content-Type": "multipart/form-data"}, timeout=10
        )
        assert no_boundary.status_code == 400, (path, no_boundary.status_code, no_boundary.text)
        not_utf8 = requests.post(
            url,
            data=b"Body=\xff\xfe",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=10,
        )
        assert not_utf8.status_code in (400, 403), (path, not_utf8.status_code, not_utf8.text)


def test_the_acks_csv_never_carries_a_formula(rel_stack: Stack, tmp_path: Path, director: str) -> None:
    stack = rel_stack
    names = ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "Plain Name"]
    lines = ["id,name,role,school,district,county,region,mobile,voice,email,backup_id,subscriptions"]
    for n, name in enumerate(names):
        lines.append(
            f'fx-{n},"{name.replace(chr(34), chr(34) * 2)}",principal,Formula School,Formula District,'
            f"Boone,Central,+157343100{n:02d},,fx{n}@k12.example.org,,alerts"
        )
    (tmp_path / "formulas.csv").write_text("\n".join(lines) + "\n")
    assert stack.cli("contacts", "import", str(tmp_path / "formulas.csv"), "--partial").returncode == 0
    alert = _post(
        stack,
        director,
        "/v1/alerts",
        _alert(district="Formula District", audience={"districts": ["Formula District"]}),
    ).json()
    csv_text = requests.get(
        f"{stack.api}/v1/alerts/{alert['id']}/acks",
        params={"format": "csv"},
        headers={"Authorization": f"Bearer {director}"},
        timeout=10,
    ).text
    cells = sorted(row[1] for row in csv.reader(io.StringIO(csv_text)) if row[0].startswith("fx-"))
    assert cells == sorted(['\'=HYPERLINK("http://x")', "'+1+1", "'-2", "'@SUM(A1)", "Plain Name"])


def test_a_phone_number_reference_cannot_be_reversed_without_the_hubs_key(rel_stack: Stack) -> None:
    stack = rel_stack
    number = "+15732100477"
    requests.post(
        f"{stack.sim}/sim/reply", json={"from": number, "body": "STOP"}, timeout=10
    ).raise_for_status()
    trail = redis.Redis.from_url(stack.env["REDIS_URL"]).xrevrange(k.AUDIT_STREAM, count=5)
    actor = next(f[b"actor"].decode() for _id, f in trail if f[b"action"] == b"sms_stop")
    secret = (stack.settings.data_path / "number-ref.secret").read_bytes()
    assert actor == "tel:" + hmac.new(secret, number.encode(), hashlib.sha256).hexdigest()[:16]
    assert hashlib.sha256(number.encode()).hexdigest()[:12] not in actor  # not the unkeyed hash


def test_refused_requests_are_audited_apart_capped_and_rate_limited(rel_stack: Stack) -> None:
    stack = rel_stack
    conn = redis.Redis.from_url(stack.env["REDIS_URL"])
    trail_before = conn.xlen(k.AUDIT_STREAM)
    refused_before = conn.xlen(k.AUDIT_REFUSED_STREAM)
    long_path = "/v1/alerts/" + "x" * 5000 + "/all-clear"
    statuses = {requests.post(f"{stack.api}{long_path}", timeout=10).status_code for _ in range(60)}
    assert statuses == {401}  # every request is answered; only their audit is limited
    assert conn.xlen(k.AUDIT_STREAM) == trail_before  # the trail of accepted actions does not grow
    written = conn.xlen(k.AUDIT_REFUSED_STREAM) - refused_before
    assert 1 <= written <= 30 + 30  # at most 30 a minute for this client (the run may straddle a minute)
    newest = conn.xrevrange(k.AUDIT_REFUSED_STREAM, count=1)[0][1]
    assert newest[b"outcome"] == b"unauthorized" and len(newest[b"action"]) <= 200
    conn.close()


def test_a_refused_operator_ack_is_audited(rel_stack: Stack, rows: dict[str, Any], director: str) -> None:
    stack = rel_stack
    alert = _post(stack, director, "/v1/alerts", _alert(district="Hallsville R-IV")).json()
    viewer = stack.add_sender("rel-viewer", "viewer")
    refused = _post(stack, viewer, f"/v1/alerts/{alert['id']}/acks", {"official_id": "of-030"})
    assert refused.status_code == 403
    trail = redis.Redis.from_url(stack.env["REDIS_URL"]).xrevrange(k.AUDIT_STREAM, count=10)
    entries = [f for _id, f in trail if f[b"action"] == b"acknowledge" and f[b"actor"] == b"rel-viewer"]
    assert entries and entries[0][b"outcome"] == b"forbidden"
    assert json.loads(entries[0][b"detail"])["alert_id"] == alert["id"]
