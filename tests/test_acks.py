"""Acknowledgement rules (pure)."""

from __future__ import annotations

import pytest

from alertnet.content.reports import csv_cell
from alertnet.domain.acks import (
    Ack,
    AckChannel,
    ReplyKind,
    TokenError,
    ack_report,
    make_ack_token,
    read_ack_token,
    read_reply,
)
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry


@pytest.mark.parametrize("body", ["1", "ack", "Yes", "OK!", " ok ", "Acknowledged."])
def test_ack_words(body: str) -> None:
    assert read_reply(body).kind is ReplyKind.ACK
    assert read_reply(body).code == ""


def test_a_verification_code_names_the_alert() -> None:
    assert read_reply("K7Q-29D").code == "K7Q-29D"
    assert read_reply("ack k7q29d please").code == "K7Q-29D"
    assert read_reply("ABC-DEF").code == "ABC-DEF"


@pytest.mark.parametrize(
    "body,kind",
    [
        ("STOP", ReplyKind.STOP),
        ("unsubscribe", ReplyKind.STOP),
        ("HELP", ReplyKind.HELP),
        ("start", ReplyKind.START),
        ("Is this real?", ReplyKind.OTHER),
        ("", ReplyKind.OTHER),
        ("stop sending me these things please", ReplyKind.OTHER),
    ],
)
def test_carrier_keywords_and_free_text(body: str, kind: ReplyKind) -> None:
    assert read_reply(body).kind is kind


def test_ack_tokens_are_signed_and_expire() -> None:
    secret = b"s" * 32
    token = make_ack_token(secret, "01ALERT", "o-1", expires=2000.0)
    assert read_ack_token(secret, token, now=1000.0) == ("01ALERT", "o-1")
    with pytest.raises(TokenError, match="expired"):
        read_ack_token(secret, token, now=2001.0)
    with pytest.raises(TokenError, match="not valid"):
        read_ack_token(b"x" * 32, token, now=1000.0)
    _payload, mac = token.split(".")
    forged = make_ack_token(secret, "01ALERT", "o-2", expires=2000.0).split(".")[0] + "." + mac
    with pytest.raises(TokenError):
        read_ack_token(secret, forged, now=1000.0)
    with pytest.raises(TokenError):
        read_ack_token(secret, "garbage", now=1000.0)


def test_ack_tokens_are_decoded_strictly() -> None:
    secret = b"s" * 32
    token = make_ack_token(secret, "01ALERT", "o-1", expires=2000.0)
    payload, mac = token.split(".")
    # A decoder that skips what is not in its alphabet would read each of these as the same token.
    for altered in (
        f"{payload}.{mac}!",
        f"{payload}.{mac[:3]}*{mac[3:]}",
        f"{payload}.{mac}==",
        f"{payload}.{mac.replace('-', '+').replace('_', '/')}"
        if set(mac) & {"-", "_"}
        else f"{payload}.{mac}%",
        f"{payload[:4]} {payload[4:]}.{mac}",
    ):
        with pytest.raises(TokenError):
            read_ack_token(secret, altered, now=1000.0)
    assert read_ack_token(secret, token, now=1000.0) == ("01ALERT", "o-1")


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_never_start_a_formula(cell: str) -> None:
    assert csv_cell(cell) == "'" + cell
    assert csv_cell("Plain") == "Plain" and csv_cell("") == ""


def test_ack_report_counts_rates_by_district_and_role() -> None:
    officials = parse_registry(generate_registry(20, seed=3))
    acked = {o.id: Ack("A", o.id, 1.0, AckChannel.SMS) for o in officials[:5]}
    report = ack_report(officials, acked)
    assert len(report.acknowledged) == 5 and len(report.pending) == 15
    assert sum(v["recipients"] for v in report.by_role.values()) == 20
    assert sum(v["acknowledged"] for v in report.by_district.values()) == 5
    for value in report.by_district.values():
        assert value["rate"] == round(value["acknowledged"] / value["recipients"], 4)
