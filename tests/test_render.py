"""Per-channel content: SMS (GSM-7 segments), voice TwiML, email subject and bodies."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from alertnet.channels.twilio_voice import voice_twiml as render_twiml
from alertnet.content.alerts import (
    ACK_PLACEHOLDER,
    email_bodies,
    email_shared_bodies,
    email_subject,
    sms_text,
    voice_script,
)
from alertnet.domain.alert_request import parse_alert_request
from alertnet.domain.alerts import Alert, new_alert
from alertnet.domain.sms import is_gsm7, sms_segments, to_gsm7

NOW = datetime(2025, 5, 6, 14, 3, 7, tzinfo=UTC)
CODE = "K7Q-29D"
REF = "01JTJYGKBRXCH0TTBZMX28XCP3"

LOCKDOWN: dict[str, Any] = {
    "status": "Actual",
    "msgType": "Alert",
    "severity": "Extreme",
    "urgency": "Immediate",
    "certainty": "Observed",
    "event": "Lockdown",
    "headline": "Lockdown: armed intruder reported near campus",
    "description": (
        "Police are responding to a report of an armed person near the school.\n\nStay away from windows."
    ),
    "instruction": "Lock all doors, keep students in rooms, await law enforcement.",
    "audience": {"counties": ["Boone"]},
    "channels": ["sms", "voice", "email"],
}


def voice_twiml(alert: Alert, *, code: str, gather_action: str | None) -> str:
    """The call's TwiML as the voice adapter renders the alert's script."""
    return render_twiml(voice_script(alert, code=code), gather_action=gather_action)


def make_alert(**changes: Any) -> Alert:
    return new_alert(parse_alert_request({**LOCKDOWN, **changes}, now=NOW), sender="director", now=NOW)


def link_for(alert: Alert) -> str:
    return f"http://127.0.0.1:8080/a/{alert.id}"


# --------------------------------------------------------------------------------------------- GSM-7


def test_is_gsm7() -> None:
    assert is_gsm7("Lockdown @ Hickman High: £5 é ü Ñ ¿¡ Δ\n")
    assert is_gsm7("brackets [x] {y} ~ ^ | \\ €")
    assert not is_gsm7("curly “quotes”")
    assert not is_gsm7("em — dash")
    assert not is_gsm7("emoji 🚨")
    assert not is_gsm7("ç")  # only upper-case Ç is in the GSM alphabet
    assert is_gsm7("")


def test_gsm7_segment_counting() -> None:
    assert sms_segments("") == 1
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("a" * 306) == 2
    assert sms_segments("a" * 307) == 3


def test_extended_characters_count_two_septets() -> None:
    assert sms_segments("€" * 80) == 1  # 160 septets
    assert sms_segments("€" * 81) == 2  # 162 septets
    assert sms_segments("a" * 159 + "[") == 2  # 161 septets
    assert sms_segments("a" * 158 + "{") == 1  # exactly 160
    # An escape pair never straddles two parts: 152 + "]" would need septets 153-154.
    assert sms_segments("a" * 152 + "]" + "a" * 152) == 3
    assert sms_segments("a" * 151 + "]" + "a" * 153) == 2


def test_ucs2_segment_counting() -> None:
    assert sms_segments("ł" * 70) == 1
    assert sms_segments("ł" * 71) == 2
    assert sms_segments("ł" * 134) == 2
    assert sms_segments("ł" * 135) == 3
    assert sms_segments("a" * 69 + "🚨") == 2  # the emoji is two UTF-16 units: 71
    assert sms_segments("🚨" * 35) == 1


def test_to_gsm7_replaces_typographic_characters() -> None:
    text = to_gsm7("“Shelter” — don\u2019t leave… \u2013 ok \u2018now\u2019\u00a0ô")
    assert text == "\"Shelter\" - don't leave... - ok 'now' o"
    assert is_gsm7(text)
    assert to_gsm7("🚨 alarm") == "🚨 alarm"  # nothing GSM-7 to map it to


# ----------------------------------------------------------------------------------------------- SMS


def test_typical_lockdown_sms_is_one_gsm7_segment() -> None:
    alert = make_alert()
    link = link_for(alert)
    text = sms_text(alert, code=CODE, link=link)
    assert text == f"Lockdown: armed intruder reported near campus Code {CODE} {link}"
    assert is_gsm7(text)
    assert sms_segments(text) == 1


def test_event_is_prepended_when_the_headline_does_not_start_with_it() -> None:
    alert = make_alert(event="Shelter in Place", headline="Chemical spill on Route 63")
    text = sms_text(alert, code=CODE, link=link_for(alert))
    assert text.startswith("Shelter in Place: Chemical spill on Route 63 Code ")


def test_long_headline_is_truncated_never_the_code_or_link() -> None:
    headline = "Tornado warning for Greene County until 4:45 PM; move every student and staff member " + (
        "to interior rooms on the lowest floor away from windows and doors now" * 2
    )
    alert = make_alert(event="Severe Weather", headline=headline[:160])
    link = "https://alerts.dps.mo.gov/a/" + alert.id
    text = sms_text(alert, code=CODE, link=link)
    assert sms_segments(text) == 1
    assert len(text) <= 160
    assert text.endswith(f"... Code {CODE} {link}")
    assert text.startswith("Severe Weather: Tornado warning for Greene County")


def test_curly_quotes_and_dashes_do_not_force_ucs2() -> None:
    alert = make_alert(headline="Lockdown — “armed person” near Hickman\u2019s gym…")
    text = sms_text(alert, code=CODE, link=link_for(alert))
    assert 'Lockdown - "armed person" near Hickman\'s gym... Code' in text
    assert is_gsm7(text)
    assert sms_segments(text) == 1


def test_exercise_test_update_and_cancel_are_marked() -> None:
    exercise = make_alert(status="Exercise")
    assert sms_text(exercise, code=CODE, link=link_for(exercise)).startswith("EXERCISE - Lockdown: armed")
    test = make_alert(status="Test", msgType="Update", references=[REF])
    assert sms_text(test, code=CODE, link=link_for(test)).startswith("TEST - UPDATE: Lockdown: armed")
    cancel = make_alert(msgType="Cancel", references=[REF], headline="All clear at Hickman High")
    assert sms_text(cancel, code=CODE, link=link_for(cancel)).startswith("CANCELLED: Lockdown: All clear")


def test_marker_survives_truncation() -> None:
    alert = make_alert(status="Exercise", headline="x" * 160)
    text = sms_text(alert, code=CODE, link=link_for(alert))
    assert text.startswith("EXERCISE - Lockdown: xxx")
    assert text.endswith(f"... Code {CODE} {link_for(alert)}")
    assert sms_segments(text) == 1


def test_very_long_link_takes_more_segments_rather_than_losing_the_headline() -> None:
    alert = make_alert()
    link = "https://alerts.example.org/" + "a" * 150
    text = sms_text(alert, code=CODE, link=link)
    assert text.endswith(f" Code {CODE} {link}")
    assert "armed intruder" in text
    assert sms_segments(text) == 2


def test_text_gsm7_cannot_carry_goes_as_ucs2_in_a_few_segments() -> None:
    alert = make_alert(headline="🚨 " + "Lockdown at Hickman High, armed intruder reported near the gym " * 2)
    text = sms_text(alert, code=CODE, link=link_for(alert))
    assert not is_gsm7(text)
    assert text.endswith(f" Code {CODE} {link_for(alert)}")
    assert sms_segments(text) <= 3
    assert "🚨 Lockdown at Hickman High" in text


# --------------------------------------------------------------------------------------------- voice


def says(twiml: str) -> list[ET.Element]:
    return list(ET.fromstring(twiml.split("?>", 1)[-1]).iter("Say"))


def test_twiml_gathers_one_digit_and_says_the_alert_twice() -> None:
    alert = make_alert()
    action = "http://127.0.0.1:8080/v1/webhooks/twilio/gather?d=01J.voice.p-1&x=1"
    twiml = voice_twiml(alert, code=CODE, gather_action=action)
    root = ET.fromstring(twiml.split("?>", 1)[-1])
    assert root.tag == "Response"
    [gather] = root.findall("Gather")
    assert gather.get("numDigits") == "1"
    assert gather.get("action") == action
    assert gather.get("method") == "POST"
    spoken = " ".join(say.text or "" for say in gather.iter("Say"))
    assert spoken.count("armed intruder reported near campus") == 2
    assert spoken.count(LOCKDOWN["instruction"]) == 2
    assert spoken.count("K, 7, Q, dash, 2, 9, D") == 2
    assert "Press 1 to acknowledge" in spoken
    children = list(root)
    assert children[-1].tag == "Say" and children.index(gather) < len(children) - 1


def test_twiml_without_gather_still_says_it_twice() -> None:
    alert = make_alert()
    twiml = voice_twiml(alert, code=CODE, gather_action=None)
    assert "<Gather" not in twiml
    spoken = " ".join(say.text or "" for say in says(twiml))
    assert spoken.count("armed intruder reported near campus") == 2
    assert "Press 1" not in spoken


def test_exercise_call_says_so_in_every_pass() -> None:
    alert = make_alert(status="Exercise")
    twiml = voice_twiml(alert, code=CODE, gather_action="http://h/g")
    passes = [s.text or "" for s in says(twiml) if "armed intruder" in (s.text or "")]
    assert len(passes) == 2
    assert all("This is an exercise" in text for text in passes)
    test = make_alert(status="Test")
    assert "This is a test. This is a test." in voice_twiml(test, code=CODE, gather_action=None)


def test_twiml_escapes_xml() -> None:
    alert = make_alert(headline="Lockdown <Hangup/> & stay put")
    twiml = voice_twiml(alert, code=CODE, gather_action=None)
    assert "<Hangup/>" not in twiml
    assert "&lt;Hangup/&gt; &amp; stay put" in twiml


# --------------------------------------------------------------------------------------------- email


def test_email_subject() -> None:
    assert email_subject(make_alert()) == "Lockdown: armed intruder reported near campus"
    assert email_subject(make_alert(status="Exercise")).startswith("EXERCISE - Lockdown")
    cancel = make_alert(
        status="Test", msgType="Cancel", references=[REF], event="All Clear", headline="Resume"
    )
    assert email_subject(cancel) == "TEST - CANCELLED: All Clear: Resume"


def test_email_bodies_show_the_whole_alert() -> None:
    alert = make_alert()
    link = link_for(alert)
    html, text = email_bodies(alert, code=CODE, link=link, ack_link="http://127.0.0.1:8080/ack/tok")
    for body in (html, text):
        assert "Extreme" in body and "Immediate" in body and "Observed" in body
        assert "Lockdown" in body
        assert "armed intruder reported near campus" in body
        assert "Police are responding" in body and "Stay away from windows." in body
        assert "Lock all doors" in body
        assert CODE in body
        assert link in body
        assert "http://127.0.0.1:8080/ack/tok" in body
        assert "14:03 UTC" in body
        assert "NOT A REAL EMERGENCY" not in body
    assert f'href="{link}"' in html
    assert "<h1" in html


def test_email_without_ack_link_has_no_ack_button() -> None:
    alert = make_alert()
    html, text = email_bodies(alert, code=CODE, link=link_for(alert), ack_link=None)
    assert "Acknowledge" not in html
    assert "Acknowledge" not in text


def test_exercise_email_is_marked() -> None:
    alert = make_alert(status="Exercise")
    html, text = email_bodies(alert, code=CODE, link=link_for(alert), ack_link=None)
    assert "EXERCISE - THIS IS NOT A REAL EMERGENCY" in html
    assert text.startswith("*** EXERCISE - THIS IS NOT A REAL EMERGENCY ***")
    assert email_subject(alert).startswith("EXERCISE - ")


def test_html_is_escaped() -> None:
    alert = make_alert(
        headline="<script>alert(1)</script> lockdown",
        description="<img src=x onerror=alert(2)>\nsecond line",
        event="Lockdown & Shelter",
    )
    link = f"{link_for(alert)}?a=1&b=2"
    html, text = email_bodies(alert, code=CODE, link=link, ack_link=None)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; lockdown" in html
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(2)&gt;<br>second line" in html
    assert "Lockdown &amp; Shelter" in html
    assert "?a=1&amp;b=2" in html
    assert "<script>alert(1)</script> lockdown" in text  # plain text is not HTML


@pytest.mark.parametrize("status", ["Actual", "Exercise"])
def test_shared_bodies_carry_the_sendgrid_ack_placeholder(status: str) -> None:
    alert = make_alert(status=status)
    link = link_for(alert)
    html, text = email_shared_bodies(alert, code=CODE, link=link)
    assert ACK_PLACEHOLDER == "-ack_link-"
    assert f'href="{ACK_PLACEHOLDER}"' in html
    assert ACK_PLACEHOLDER in text
    personal = email_bodies(alert, code=CODE, link=link, ack_link="https://x/ack/T1")
    assert (
        html.replace(ACK_PLACEHOLDER, "https://x/ack/T1"),
        text.replace(ACK_PLACEHOLDER, "https://x/ack/T1"),
    ) == personal


def test_sms_validity_is_bounded_by_the_alert_expiry() -> None:
    from datetime import UTC, datetime, timedelta

    from alertnet.channels.twilio_sms import sms_validity

    assert sms_validity(900, None) == 900
    assert 590 <= sms_validity(900, (datetime.now(UTC) + timedelta(minutes=10)).timestamp()) <= 600
    assert sms_validity(900, (datetime.now(UTC) - timedelta(minutes=1)).timestamp()) == 1
    assert sms_validity(99999, None) == 36000


@pytest.mark.parametrize("status", ["Actual", "Exercise"])
@pytest.mark.parametrize(
    "action",
    [
        "http://127.0.0.1:8080/v1/webhooks/twilio/gather?d=01JTJ%3Asms%3A42",
        'https://hub.example/g?d=a&x="b"<c>\tline\nbreak',
    ],
)
def test_a_batch_twiml_is_the_call_twiml_with_its_encoding(status: str, action: str) -> None:
    """The voice adapter builds and encodes a batch's TwiML once; each call's must be exactly what the
    script renders to for its own gather action, and its form encoding exactly quote_plus of it."""
    from urllib.parse import quote_plus

    from alertnet.channels.twilio_voice import CallTwiml

    script = voice_script(make_alert(status=status, event="Lockdown & Shelter"), code=CODE)
    call = CallTwiml(script).for_call(action)
    assert call == render_twiml(script, gather_action=action)
    assert call.form_encoded == quote_plus(call)
    silent = replace(script, ack_prompt="")  # no key asked for: no gather, one document for all
    assert CallTwiml(silent).for_call(action) == render_twiml(silent, gather_action=action)


def test_a_form_with_an_encoded_value_is_the_form_urlencode_spells() -> None:
    from urllib.parse import parse_qsl, quote_plus, urlencode

    from alertnet.channels.twilio_common import FormEncoded, form_body

    twiml = '<Response><Say>Lock all doors & wait; 100% "now"</Say></Response>'
    data: dict[str, object] = {
        "To": "+15735550100",
        "Twiml": FormEncoded(twiml, quote_plus(twiml)),
        "StatusCallbackEvent": ["completed", "answered"],
        "MachineDetection": "Enable",
    }
    plain = {**data, "Twiml": str(twiml)}
    assert sorted(parse_qsl(form_body(data).decode())) == sorted(parse_qsl(urlencode(plain, doseq=True)))
    assert form_body(plain) == urlencode(plain, doseq=True).encode()
    only = {"Twiml": FormEncoded(twiml, quote_plus(twiml))}
    assert parse_qsl(form_body(only).decode()) == [("Twiml", twiml)]


def test_a_batch_sms_body_goes_encoded_unless_made_personal() -> None:
    from urllib.parse import quote_plus

    from alertnet.channels.base import Envelope
    from alertnet.channels.twilio_common import FormEncoded, form_body
    from alertnet.channels.twilio_sms import personal_body

    text = "Vote: reply 1 for safe & 2 for help: -link-"
    body = FormEncoded(text, quote_plus(text))
    everyone = Envelope("o1", "+15735550100", "A", "m:sms:o1")
    assert personal_body(body, everyone) is body
    theirs = personal_body(
        body, Envelope("o2", "+15735550101", "B", "m:sms:o2", {"-link-": "https://x/p?t=1"})
    )
    assert type(theirs) is str and theirs == "Vote: reply 1 for safe & 2 for help: https://x/p?t=1"
    assert form_body({"Body": theirs}) == ("Body=" + quote_plus(theirs)).encode()


def test_the_prepared_cancel_says_cancelled_once_and_asks_for_no_key() -> None:
    from alertnet.domain.followups import cancel_in_error_request

    sent = make_alert()
    request = cancel_in_error_request(sent.id, {**LOCKDOWN, "audience": sent.audience.to_dict()})
    cancel = new_alert(parse_alert_request(request, now=NOW), sender="director", now=NOW)
    sms = sms_text(cancel, code=CODE, link=link_for(cancel))
    assert sms.startswith("CANCELLED: Lockdown alert was sent in error") and sms.count("CANCELLED") == 1
    assert email_subject(cancel) == "CANCELLED: Lockdown alert was sent in error"
    script = voice_script(cancel, code=CODE)
    assert script.ack_prompt == "" and script.closing == "Goodbye."
    twiml = voice_twiml(cancel, code=CODE, gather_action="http://127.0.0.1:8080/g?d=1")
    assert "<Gather" not in twiml and "acknowledg" not in twiml.lower()
    assert "This cancels an earlier alert. Lockdown alert was sent in error." in twiml
