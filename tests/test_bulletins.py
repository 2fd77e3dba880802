"""Cyber bulletins' pure rules: TLP 2.0 labels, who each admits, what a request must name, what counts as a
wider audience, which indicators each recipient sees, and personal links."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from alertnet.domain.bulletin_input import parse_bulletin, parse_change
from alertnet.domain.bulletin_links import LinkError, make_read_token, read_token
from alertnet.domain.bulletins import BulletinState, BulletinValidationError, bulletin_editions, new_bulletin
from alertnet.domain.contacts import Official, Role, Subscription
from alertnet.domain.messages import Content, Message, MessageKind, Priority
from alertnet.domain.tlp import CYBER_SUBSCRIPTION, Marking, Tlp, parse_tlp


def official(oid: str, district: str, *, cyber: bool = True, active: bool = True) -> Official:
    subs = {Subscription.ALERTS} | ({Subscription.CYBER} if cyber else set())
    return Official(
        id=oid, name=oid.upper(), role=Role.CYBERSECURITY_COORDINATOR, school="S", district=district,
        county="Boone", region="Central", mobile=None, voice=None, email=f"{oid}@example.org",
        backup_id=None, subscriptions=frozenset(subs), active=active,
    )  # fmt: skip


def payload(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Phishing wave against district payroll",
        "summary": "Credential phishing aimed at payroll staff.",
        "body": "Block the domain. **Reset** exposed passwords.",
        "tlp": "TLP:AMBER+STRICT",
        "severity": "high",
        "organizations": ["Columbia Public Schools"],
        "officials": [],
        "indicators": [{"type": "domain-name", "value": "payro11-portal.example", "confidence": 80}],
        "actions": ["Block the domain at the mail gateway"],
        "references": ["https://www.cisa.gov/tlp"],
    }
    body.update(changes)
    return body


def errors_of(body: object) -> dict[str, str]:
    with pytest.raises(BulletinValidationError) as caught:
        parse_bulletin(body)
    return {e.field: e.reason for e in caught.value.errors}


def test_labels_are_written_exactly_and_white_means_clear() -> None:
    assert parse_tlp("TLP:AMBER+STRICT") is Tlp.AMBER_STRICT
    assert parse_tlp("AMBER+STRICT") is Tlp.AMBER_STRICT
    assert parse_tlp("TLP:WHITE") is Tlp.CLEAR
    assert parse_tlp("WHITE") is Tlp.CLEAR
    for wrong in ("tlp:amber", "TLP: AMBER", "TLP:AMBER+ STRICT", "AMBER STRICT", "", None, 3):
        assert parse_tlp(wrong) is None, wrong
    assert [t.rank for t in (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)] == [0, 1, 2, 3, 4]
    assert Subscription.CYBER.value == CYBER_SUBSCRIPTION


def test_who_each_label_admits() -> None:
    a1, a2 = official("a1", "Columbia Public Schools"), official("a2", "columbia public schools ")
    b1, unsubscribed = official("b1", "Hallsville R-IV"), official("b2", "Hallsville R-IV", cyber=False)
    gone = official("b3", "Hallsville R-IV", active=False)
    for tlp in (Tlp.CLEAR, Tlp.GREEN):
        marking = Marking(tlp)
        assert [o.id for o in (a1, b1, unsubscribed, gone) if marking.allows(o)] == ["a1", "b1"]
    for tlp in (Tlp.AMBER, Tlp.AMBER_STRICT):
        marking = Marking(tlp, organizations=("Columbia Public Schools",))
        assert [o.id for o in (a1, a2, b1, unsubscribed) if marking.allows(o)] == ["a1", "a2"]
        assert "limited to Columbia Public Schools" in marking.why_not(b1)
    red = Marking(Tlp.RED, officials=("b1",))
    assert [o.id for o in (a1, a2, b1) if red.allows(o)] == ["b1"]
    assert "not subscribed" in red.why_not(unsubscribed)


def test_a_request_must_name_what_its_label_needs_and_nothing_outside_it() -> None:
    fields = parse_bulletin(payload())
    assert fields["tlp"] is Tlp.AMBER_STRICT and fields["organizations"] == ("Columbia Public Schools",)
    assert parse_bulletin(payload(tlp="AMBER+STRICT"))["tlp"] is Tlp.AMBER_STRICT
    assert "organizations" in errors_of(payload(organizations=[]))
    assert "at least one organization" in errors_of(payload(organizations=[]))["organizations"]
    red_to_district = errors_of(payload(tlp="TLP:RED", officials=["mo-000001"]))
    assert "cannot be addressed to an organization" in red_to_district["organizations"]
    assert "at least one official" in errors_of(payload(tlp="TLP:RED", organizations=[]))["officials"]
    assert "organizations are only for" in errors_of(payload(tlp="TLP:GREEN"))["organizations"]
    assert "only for TLP:RED" in errors_of(payload(officials=["mo-000001"]))["officials"]
    missing = errors_of({k: v for k, v in payload().items() if k != "tlp"})
    assert missing["tlp"].startswith("is required")
    assert "must be one of" in errors_of(payload(tlp="TLP:PURPLE"))["tlp"]
    assert "must be one of" in errors_of(payload(severity="urgent"))["severity"]
    assert "unknown field" in errors_of(payload(colour="red"))["colour"]


def test_indicators_are_checked_by_type_and_a_label_may_only_be_stricter() -> None:
    bad = errors_of(
        payload(
            indicators=[
                {"type": "domain-name", "value": "not a domain"},
                {"type": "ipv4-addr", "value": "2001:db8::1"},
                {"type": "file:hashes.SHA-256", "value": "abc"},
                {"type": "url", "value": "javascript:alert(1)"},
                {"type": "mutex", "value": "x"},
                {"type": "domain-name", "value": "ok.example", "confidence": 101},
                {"type": "domain-name", "value": "ok2.example", "tlp": "TLP:GREEN"},
                {"type": "domain-name", "value": "ok3.example", "first_seen": "yesterday"},
            ]
        )
    )
    assert set(bad) == {
        "indicators[0].value", "indicators[1].value", "indicators[2].value", "indicators[3].value",
        "indicators[4].type", "indicators[5].confidence", "indicators[6].tlp", "indicators[7].first_seen",
    }  # fmt: skip
    assert "only be stricter" in bad["indicators[6].tlp"]
    good = parse_bulletin(
        payload(
            tlp="TLP:AMBER",
            indicators=[
                {"type": "domain-name", "value": "Payro11-Portal.Example."},
                {"type": "ipv4-addr", "value": "203.0.113.0/24", "tlp": "TLP:AMBER+STRICT"},
                {"type": "file:hashes.SHA-256", "value": "A" * 64, "first_seen": "2026-12-01T10:00:00-06:00"},
            ],
        )
    )["indicators"]
    assert [i.value for i in good] == ["payro11-portal.example", "203.0.113.0/24", "a" * 64]
    assert good[1].tlp is Tlp.AMBER_STRICT and good[0].tlp is None
    assert good[2].first_seen == "2026-12-01T16:00:00.000Z"
    assert "needs officials named" in errors_of(
        payload(indicators=[{"type": "domain-name", "value": "x.example", "tlp": "RED"}])
    ).get("indicators[0].tlp", "")


def test_where_it_goes_depends_on_label_and_severity() -> None:
    def route(**changes: Any) -> BulletinState:
        return new_bulletin(parse_bulletin(payload(**changes)), author="pub", now=1.0).state

    assert route(tlp="TLP:CLEAR", organizations=[], severity="low") is BulletinState.WAITING
    assert route(tlp="TLP:GREEN", organizations=[], severity="medium") is BulletinState.WAITING
    assert route(tlp="TLP:GREEN", organizations=[], severity="high") is BulletinState.SENT
    assert route(tlp="TLP:AMBER", severity="low") is BulletinState.SENT
    assert route(tlp="TLP:RED", organizations=[], officials=["x"], severity="low") is BulletinState.SENT
    stricter_indicator = [{"type": "domain-name", "value": "x.example", "tlp": "TLP:AMBER"}]
    assert route(tlp="TLP:GREEN", severity="low", indicators=stricter_indicator) is BulletinState.SENT, (
        "an AMBER indicator never waits for the digest"
    )


def test_a_wider_audience_is_told_apart_from_a_stricter_one() -> None:
    a, b, c = official("a", "A"), official("b", "B"), official("c", "C")
    registry = [a, b, c]
    amber_a = Marking(Tlp.AMBER, organizations=("A",))
    assert amber_a.widened_by(Marking(Tlp.AMBER_STRICT, organizations=("A",)), registry) == []
    assert amber_a.widened_by(Marking(Tlp.RED, officials=("a",)), registry) == []
    to_green = amber_a.widened_by(Marking(Tlp.GREEN), registry)
    assert to_green[0].startswith("tlp: TLP:AMBER to the less restrictive TLP:GREEN")
    more = amber_a.widened_by(Marking(Tlp.AMBER, organizations=("A", "B")), registry)
    assert more == ["recipients: admits 1 officials it did not (b)"]
    # Stricter label, but naming someone the old one did not reach: still wider.
    assert amber_a.widened_by(Marking(Tlp.RED, officials=("c",)), registry) != []
    bulletin = new_bulletin(parse_bulletin(payload(tlp="TLP:AMBER", organizations=["A"])), author="p", now=1)
    change = parse_change({"organizations": ["A", "B"], "reason": "B was hit too"}, bulletin)
    assert change.tlp is Tlp.AMBER and change.organizations == ("A", "B") and change.reason == "B was hit too"
    with pytest.raises(BulletinValidationError):
        parse_change({"tlp": "TLP:RED"}, bulletin)  # RED needs officials, and may not name districts
    with pytest.raises(BulletinValidationError):
        parse_change({"title": "x"}, bulletin)


def test_recipients_are_grouped_by_the_indicators_their_labels_let_them_see() -> None:
    fields = parse_bulletin(
        payload(
            tlp="TLP:AMBER",
            organizations=["A"],
            officials=["a2"],
            indicators=[
                {"type": "domain-name", "value": "shared.example"},
                {"type": "domain-name", "value": "only-named.example", "tlp": "TLP:RED"},
            ],
        )
    )
    bulletin = new_bulletin(fields, author="p", now=1)
    a1, a2 = official("a1", "A"), official("a2", "A")
    groups = {e.indicators: e.official_ids for e in bulletin_editions(bulletin, [a1, a2])}
    assert groups == {(0,): ["a1"], (0, 1): ["a2"]}


def test_personal_links_are_signed_per_recipient_and_expire() -> None:
    secret = b"k" * 32
    token = make_read_token(secret, "bul_0123456789abcdef", "mo-000001", expires=2000)
    assert read_token(secret, token, now=1000) == ("bul_0123456789abcdef", "mo-000001")
    with pytest.raises(LinkError, match="expired"):
        read_token(secret, token, now=2001)
    payload_part, _, mac = token.partition(".")
    other = make_read_token(secret, "bul_0123456789abcdef", "mo-000002", expires=2000)
    for forged in (f"{other.partition('.')[0]}.{mac}", f"{payload_part}.{mac[:-2]}AA", token + "x", "x.y"):
        with pytest.raises(LinkError):
            read_token(secret, forged, now=1000)
    with pytest.raises(LinkError):
        read_token(b"j" * 32, token, now=1000)


def test_a_message_keeps_its_markings_through_the_queue() -> None:
    marking = Marking(Tlp.AMBER_STRICT, organizations=("A",))
    message = Message(
        id="M1", kind=MessageKind.BULLETIN, priority=Priority.NOTICE, acknowledgeable=False,
        escalatable=False, content=Content(sms="TLP:AMBER+STRICT x"), created=1.0,
        markings=(marking, Marking(Tlp.RED, officials=("a",))), bulletin_id="bul_0123456789abcdef",
    )  # fmt: skip
    again = Message.from_json(message.to_json())
    assert again == message
    assert replace(message, markings=()).to_json().find("markings") == -1
