"""CAP 1.2 against the real stack: an alert's signed CAP document (schema-valid, verified by xmlsec1 from the
document alone), who may read it, references of follow-ups, the public Atom feed, and CAP documents posted
as alerts: sent once to the officials of the mapped counties (checked at the SMS simulator), refused with
the schema's message, the unmapped geocode named, hostile XML refused without a 5xx."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree

from alertnet.services.cap_xml import schema
from alertnet.store.server import RedisProcess
from tests.conftest import REPO, Stack, start_stack, stop_stack
from tests.test_cap import CAP_NS, LAUGHS, XXE, cap_xml, xmlsec1

DB = 18
ATOM = "{http://www.w3.org/2005/Atom}"
DRILL = {
    "status": "Exercise",
    "msgType": "Alert",
    "severity": "Severe",
    "urgency": "Immediate",
    "certainty": "Observed",
    "event": "Lockdown",
    "headline": "CAP e2e lockdown drill",
    "audience": {"counties": ["Boone"]},
    "channels": ["sms"],
}


@pytest.fixture(scope="module")
def hub(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(redis_server, tmp_path_factory.mktemp("cap-data"), db=DB)
    assert stack.import_contacts(REPO / "contacts" / "sample.csv").returncode == 0
    yield stack
    stop_stack(stack)


@pytest.fixture(scope="module")
def director(hub: Stack) -> str:
    return hub.add_sender("cap-director", "director")


def post_cap(hub: Stack, token: str, body: bytes) -> requests.Response:
    return requests.post(
        f"{hub.api}/v1/alerts",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/cap+xml"},
        timeout=60,
    )


def get_cap(hub: Stack, alert_id: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{hub.api}/v1/alerts/{alert_id}/cap", headers=headers, timeout=30)


def sent(hub: Stack, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = hub.post_alert(token, body)
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


def test_an_alerts_cap_document_is_valid_signed_and_needs_a_token_unless_public(
    hub: Stack, director: str, tmp_path: Path
) -> None:
    private = sent(hub, director, DRILL)
    response = get_cap(hub, private["id"], director)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/cap+xml"
    root = etree.fromstring(response.content)
    assert schema().validate(root), schema().error_log
    assert root.findtext(f"{{{CAP_NS}}}sender") == "dps.mo.gov"
    assert (
        root.findtext(f"{{{CAP_NS}}}status") == "Exercise"
        and root.findtext(f"{{{CAP_NS}}}scope") == "Restricted"
    )
    codes = root.findall(f".//{{{CAP_NS}}}geocode")
    assert ("FIPS6", "029019") in {
        (c.findtext(f"{{{CAP_NS}}}valueName"), c.findtext(f"{{{CAP_NS}}}value")) for c in codes
    }
    path = tmp_path / "alert.xml"
    path.write_bytes(response.content)
    result = xmlsec1(path, "--insecure")
    assert result.returncode == 0, result.stderr
    path.write_bytes(response.content.replace(b"CAP e2e lockdown drill", b"CAP e2e lockdown over"))
    assert xmlsec1(path, "--insecure").returncode != 0
    # Without a token: a private alert and one that does not exist alike get 401; a public one is open.
    assert get_cap(hub, private["id"]).status_code == 401
    assert get_cap(hub, "01JNJ0000000000000000000AA").status_code == 401
    assert get_cap(hub, "01JNJ0000000000000000000AA", director).status_code == 404
    public = sent(hub, director, {**DRILL, "headline": "CAP e2e public drill", "public": True})
    open_doc = get_cap(hub, public["id"])
    assert open_doc.status_code == 200
    assert etree.fromstring(open_doc.content).findtext(f"{{{CAP_NS}}}scope") == "Public"
    assert hub.status(director, public["id"])["alert"]["public"] is True
    # The hub's own signed document posted back is that alert: nothing is sent again.
    back = post_cap(hub, director, response.content)
    assert back.status_code == 200 and back.json()["id"] == private["id"], back.text


def test_updates_and_cancels_reference_the_original_and_keep_its_status(hub: Stack, director: str) -> None:
    original = sent(hub, director, {**DRILL, "headline": "CAP e2e original"})
    cancel = sent(
        hub, director, {**DRILL, "msgType": "Cancel", "references": [original["id"]], "headline": "Cancelled"}
    )
    root = etree.fromstring(get_cap(hub, cancel["id"], director).content)
    assert root.findtext(f"{{{CAP_NS}}}msgType") == "Cancel"
    assert root.findtext(f"{{{CAP_NS}}}status") == "Exercise"
    first = hub.status(director, original["id"])["alert"]
    assert root.findtext(f"{{{CAP_NS}}}references") == f"dps.mo.gov,{original['id']},{first['sent']}"
    clear = requests.post(
        f"{hub.api}/v1/alerts/{sent(hub, director, {**DRILL, 'public': True})['id']}/all-clear",
        headers={"Authorization": f"Bearer {director}"},
        timeout=60,
    )
    assert clear.status_code == 202, clear.text
    update = etree.fromstring(get_cap(hub, clear.json()["id"]).content)  # public like its alert
    assert update.findtext(f"{{{CAP_NS}}}msgType") == "Update"


def test_the_feed_lists_only_public_alerts_and_their_cap_links_open_without_a_token(
    hub: Stack, director: str
) -> None:
    hidden = sent(hub, director, {**DRILL, "headline": "CAP e2e lockdown, not published"})
    shown = sent(hub, director, {**DRILL, "headline": "CAP e2e published drill", "public": True})
    response = requests.get(f"{hub.api}/v1/alerts.atom", timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/atom+xml"
    feed = etree.fromstring(response.content)
    entries = feed.findall(f"{ATOM}entry")
    ids = [e.findtext(f"{ATOM}id") or "" for e in entries]
    assert any(i.endswith(f"/v1/alerts/{shown['id']}/cap") for i in ids)
    assert not any(hidden["id"] in i for i in ids)
    for entry in entries:
        link = next(x for x in entry.findall(f"{ATOM}link") if x.get("type") == "application/cap+xml")
        document = requests.get(str(link.get("href")), timeout=30)
        assert document.status_code == 200, document.text
        assert etree.fromstring(document.content).findtext(f"{{{CAP_NS}}}scope") == "Public"


def test_a_cap_document_is_sent_once_to_the_mapped_county(hub: Stack, director: str) -> None:
    since = time.time()
    body = cap_xml(identifier="MO-EMA-E2E-1", headline="CAP import lockdown drill")
    first = post_cap(hub, director, body)
    assert first.status_code == 202, first.text
    accepted = first.json()
    reached = accepted["recipients"]["sms"]
    assert reached > 0
    sms = [m for m in hub.settled_sms(since, reached) if accepted["verification_code"] in m["body"]]
    assert len(sms) == reached and all("EXERCISE" in m["body"].upper() for m in sms)
    record = hub.status(director, accepted["id"])["alert"]
    assert record["cap"] == {
        "sender": "dps.mo.gov",
        "identifier": "MO-EMA-E2E-1",
        "sent": "2026-03-04T09:09:26-06:00",
    }
    assert record["audience"]["counties"] == ["Boone"] and record["status"] == "Exercise"
    again = post_cap(hub, director, body)
    assert again.status_code == 200 and again.json()["id"] == accepted["id"] and again.json()["duplicate"]
    # written with another offset, the same instant is the same message
    same = post_cap(hub, director, body.replace(b"2026-03-04T09:09:26-06:00", b"2026-03-04T15:09:26+00:00"))
    assert same.status_code == 200 and same.json()["id"] == accepted["id"]
    time.sleep(1.5)
    assert (
        len([m for m in hub.sim_messages("sms", since) if "CAP import lockdown drill" in m["body"]])
        == reached
    )
    # A Cancel that references the CAP message by its own sender, identifier and sent closes it.
    cancel = post_cap(
        hub,
        director,
        cap_xml(
            identifier="MO-EMA-E2E-1-C", msg_type="Cancel", geocodes=(),
            references="dps.mo.gov,MO-EMA-E2E-1,2026-03-04T09:09:26-06:00",
        ),
    )  # fmt: skip
    assert cancel.status_code == 202, cancel.text
    assert hub.status(director, cancel.json()["id"])["alert"]["references"] == [accepted["id"]]


def test_refusals_name_the_problem_and_send_nothing(hub: Stack, director: str) -> None:
    since = time.time()
    invalid = post_cap(
        hub, director, cap_xml(identifier="MO-EMA-E2E-2", status="Bogus", headline="CAP refused")
    )
    assert invalid.status_code == 422, invalid.text
    assert "schema" in invalid.json()["message"] and "Bogus" in invalid.json()["message"]
    unmapped = cap_xml(identifier="MO-EMA-E2E-3", geocodes=(("SAME", "048201"),), headline="CAP refused")
    response = post_cap(hub, director, unmapped)
    assert response.status_code == 422 and "SAME 048201" in response.json()["message"], response.text
    viewer = hub.add_sender("cap-viewer", "viewer")
    assert (
        post_cap(hub, viewer, cap_xml(identifier="MO-EMA-E2E-4", headline="CAP refused")).status_code == 403
    )
    # refused, the message may be corrected and posted again (same sender, identifier, sent)
    fixed = post_cap(hub, director, cap_xml(identifier="MO-EMA-E2E-3", headline="CAP corrected drill"))
    assert fixed.status_code == 202, fixed.text
    hub.settled_sms(since, fixed.json()["recipients"]["sms"])
    assert not [m for m in hub.sim_messages("sms", since) if "CAP refused" in m["body"]]
    outcomes = [(e["actor"], e["outcome"]) for e in hub.audit_entries()]
    assert ("cap-director", "invalid") in outcomes and ("cap-viewer", "forbidden") in outcomes


@pytest.mark.parametrize(
    "body",
    [XXE, LAUGHS, XXE.decode().encode("utf-16"), b"<alert", b"", b"\xff\xfe<", cap_xml()[:-10]],
    ids=["xxe", "billion-laughs", "xxe-utf16", "unclosed", "empty", "bom-garbage", "truncated"],
)
def test_hostile_and_broken_documents_get_a_4xx_and_leak_nothing(
    hub: Stack, director: str, body: bytes
) -> None:
    response = post_cap(hub, director, body)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert "root:" not in response.text  # nothing of /etc/passwd
    assert response.json()["errors"][0]["field"] == "body"
