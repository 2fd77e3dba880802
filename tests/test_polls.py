"""Status checks (polls), the pure parts: parsing, what each channel says, what a reply means, the school
list's order and the escalation of a school that needs help (alertnet.domain.polls)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from alertnet.content.alerts import alert_content
from alertnet.domain.acks import Ack, AckChannel
from alertnet.domain.alert_request import AlertValidationError, example_alert_request, parse_alert_request
from alertnet.domain.alerts import Alert, Status, canonical_bytes, new_alert
from alertnet.domain.console import Draft, alert_request, form_fields, update_fields
from alertnet.domain.contacts import Official, Role
from alertnet.domain.escalation import Step, Until, Whom, waiting_for
from alertnet.domain.messages import Channel
from alertnet.domain.polls import (
    Poll,
    PollAnswer,
    PollOption,
    answer_digit,
    answer_reply,
    keypress_said,
    link_choices,
    poll_sms,
    sms_poll_lines,
    unknown_answer_reply,
    urgent_notice_request,
    voice_prompt,
)
from alertnet.domain.schools import SchoolState, school_rows
from alertnet.domain.sms import is_gsm7, sms_segments

NOW = datetime(2026, 9, 1, 14, 0, tzinfo=UTC)
POLL = {
    "question": "Is your school safe?",
    "answers": [{"text": "Safe"}, {"text": "Need help", "urgent": True}],
}
LINK = "https://alerts.dps.mo.gov/a/01J9Z8X7W6V5T4S3R2Q1P0NMKJ"


def _alert(**changes: Any) -> Alert:
    return new_alert(
        parse_alert_request({**example_alert_request(), **changes}, now=NOW), sender="d", now=NOW
    )


def _errors(poll: object, **changes: Any) -> list[tuple[str, str]]:
    with pytest.raises(AlertValidationError) as caught:
        parse_alert_request({**example_alert_request(), "poll": poll, **changes}, now=NOW)
    return [(e.field, e.reason) for e in caught.value.errors]


def test_a_poll_is_parsed_numbered_in_order_and_kept_on_the_signed_alert() -> None:
    alert = _alert(poll={**POLL, "question": "  Is your school safe? "})
    assert alert.poll == Poll("Is your school safe?", (PollOption("Safe"), PollOption("Need help", True)))
    assert alert.poll.option(2) == PollOption("Need help", True) and alert.poll.option(3) is None
    assert alert.to_dict()["poll"] == {
        "question": "Is your school safe?",
        "answers": [{"text": "Safe", "urgent": False}, {"text": "Need help", "urgent": True}],
    }
    assert Alert.from_dict(alert.to_dict()) == alert
    # An alert without a poll signs the same bytes as before polls existed (no "poll" key).
    assert b'"poll"' not in canonical_bytes(_alert())


SAFE = {"text": "Safe"}
TEN = [{"text": str(n)} for n in range(10)]


def _json(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _with(answer: dict[str, Any]) -> dict[str, Any]:
    return {**POLL, "answers": [SAFE, answer]}


@pytest.mark.parametrize(
    ("poll", "expected"),
    [
        ("Safe?", [("poll", 'must be an object with question and answers; got "Safe?"')]),
        ({"answers": POLL["answers"]}, [("poll.question", "is required")]),
        ({**POLL, "question": "x" * 121}, [("poll.question", "must be at most 120 characters; got 121")]),
        (
            {**POLL, "answers": [SAFE]},
            [("poll.answers", "must be a list of 2 to 9 answers; got " + _json([SAFE]))],
        ),
        ({**POLL, "answers": TEN}, [("poll.answers", "must be a list of 2 to 9 answers; got " + _json(TEN))]),
        (_with({"text": ""}), [("poll.answers[1].text", "must not be empty")]),
        (_with({"text": "y" * 31}), [("poll.answers[1].text", "must be at most 30 characters; got 31")]),
        (_with({"text": " safe"}), [("poll.answers[1].text", 'duplicate answer " safe"')]),
        (
            _with({"text": "Help", "urgent": "yes"}),
            [("poll.answers[1].urgent", 'must be true or false; got "yes"')],
        ),
        (
            _with({"txt": "Help"}),
            [
                ("poll.answers[1].txt", "unknown field; allowed: text, urgent"),
                ("poll.answers[1].text", "is required"),
            ],
        ),
        (
            _with({"text": "a\nb"}),
            [("poll.answers[1].text", "must not contain control characters or line breaks")],
        ),
        ({**POLL, "extra": 1}, [("poll.extra", "unknown field; allowed: question, answers")]),
    ],
)
def test_bad_polls_name_the_field(poll: object, expected: list[tuple[str, str]]) -> None:
    assert _errors(poll) == expected


def test_a_cancellation_asks_nothing() -> None:
    cancel = {"msgType": "Cancel", "references": ["01J9Z8X7W6V5T4S3R2Q1P0NMKJ"]}
    assert ("poll", "must be absent for msgType Cancel") in _errors(POLL, **cancel)


def test_the_sms_carries_the_answer_line_in_one_segment() -> None:
    content = alert_content(_alert(poll=POLL), code="K7Q-29D", link=LINK, acknowledgeable=True)
    assert content.sms is not None
    assert "Reply 1=Safe 2=Need help Code K7Q-29D " + LINK in content.sms
    assert sms_segments(content.sms) == 1
    # A long headline is shortened, an exercise keeps its marker, and the line still fits.
    long = _alert(poll=POLL, status="Exercise", headline="Lockdown: " + "armed intruder reported " * 6)
    sms = alert_content(long, code="K7Q-29D", link=LINK, acknowledgeable=True).sms
    assert sms is not None and sms.startswith("EXERCISE - ") and "Reply 1=Safe 2=Need help" in sms
    assert sms_segments(sms) == 1


def test_long_answers_get_a_shorter_line_and_the_shortest_is_the_numbers() -> None:
    nine = Poll("Status?", tuple(PollOption(f"Answer number {n} is long") for n in range(1, 10)))
    lines = sms_poll_lines(nine)
    assert lines[0].startswith("Reply 1=Answer number 1 is long 2=") and lines[-1] == "Reply 1-9"
    assert [len(line) for line in lines] == sorted((len(line) for line in lines), reverse=True)
    sms = poll_sms("", "Lockdown: intruder reported near the school", nine, f" Code K7Q-29D {LINK}")
    assert is_gsm7(sms) and sms_segments(sms) == 1 and "school Reply 1-9 Code K7Q-29D" in sms
    three = Poll(
        "Status?", (PollOption("All students safe"), PollOption("Need medical help"), PollOption("Evacuated"))
    )
    words = "Lockdown: intruder reported near the school " * 3
    sms = poll_sms("", words, three, " Code K7Q-29D https://a.example/a/01J9Z8X7W6")
    assert sms_segments(sms) == 1 and " Reply 1=All students safe 2=Need medical help 3=Evacuated Code" in sms
    # The answer line gets shorter before the alert's own words are cut below 40 characters.
    sms = poll_sms("EXERCISE - ", words, three, f" Code K7Q-29D {LINK}")
    assert sms_segments(sms) == 1 and "... Reply 1=All 2=Need 3=Evacuat. Code K7Q-29D" in sms, sms
    assert len(sms.split(" Reply")[0]) >= len("EXERCISE - ") + 40


def test_the_call_asks_the_question_and_says_each_key() -> None:
    alert = _alert(poll=POLL)
    voice = alert_content(alert, code="K7Q-29D", link=LINK, acknowledgeable=True).voice
    assert voice is not None and alert.poll is not None
    assert voice.ack_prompt == voice_prompt(alert.poll)
    assert voice.ack_prompt == "Is your school safe? Press 1 for Safe. Press 2 for Need help."
    assert keypress_said(PollOption("Need help", True)) == (
        "Thank you. Your answer, Need help, has been recorded. Goodbye."
    )
    assert "not one of the answers" in keypress_said(None)


def test_the_email_links_each_answer_to_the_ack_page() -> None:
    alert = _alert(poll=POLL)
    email = alert_content(alert, code="K7Q-29D", link=LINK, acknowledgeable=True).email
    assert email is not None
    assert "-ack_link-?answer=1" in email.html and "-ack_link-?answer=2" in email.html
    assert "Is your school safe?" in email.text and "2 - Need help: -ack_link-?answer=2" in email.text
    assert [c.url for c in link_choices(alert.poll, "-ack_link-")] == [
        "-ack_link-?answer=1",
        "-ack_link-?answer=2",
    ]
    assert link_choices(None, "-ack_link-") == [] and link_choices(alert.poll, "") == []


@pytest.mark.parametrize(
    ("body", "number"),
    [("2", 2), (" 1 ", 1), ("2.", 2), ("0", 0), ("12", None), ("1 yes", None), ("K7Q-29D", None), ("", None)],
)
def test_a_bare_digit_is_an_answer(body: str, number: int | None) -> None:
    assert answer_digit(body) == number


def test_replies_confirm_or_list_the_answers_in_one_segment() -> None:
    poll = Poll("Is your school safe?", (PollOption("Safe"), PollOption("Need help", True)))
    urgent = answer_reply("Lockdown", 2, PollOption("Need help", True), "K7Q-29D")
    assert (
        urgent == "Answer recorded: 2=Need help (Lockdown). Thank you. Code K7Q-29D. Help is being notified."
    )
    assert "Help" not in answer_reply("Lockdown", 1, PollOption("Safe"), "K7Q-29D").split("Thank you")[1]
    unknown = unknown_answer_reply("Lockdown", poll)
    assert unknown == "Not an answer to Lockdown: Is your school safe? Reply 1=Safe 2=Need help"
    long = answer_reply("L" * 80, 2, PollOption("N" * 30, True), "K7Q-29D")
    assert sms_segments(long) == 1 and long.endswith("Help is being notified.")


def _answer(official: str, number: int, at: float, school: str, urgent: bool = False) -> PollAnswer:
    text = {1: "Safe", 2: "Need help"}[number]
    return PollAnswer("A1", official, number, text, urgent, at, "sms", ("Columbia 93", school))


def test_the_school_list_puts_urgent_answers_first_and_shows_who_answered_what() -> None:
    states = [SchoolState("Columbia 93", f"School {n}", officials=2) for n in (3, 1, 2)]
    states[1].acks.append(Ack("A1", "c1", 10.0, AckChannel.SMS))
    states[2].acks.extend([Ack("A1", "c2", 11.0, AckChannel.SMS), Ack("A1", "d2", 12.0, AckChannel.VOICE)])
    latest = [
        _answer("c1", 1, 10.0, "school 1"),  # spelled otherwise: the same school
        _answer("c2", 1, 11.0, "School 2"),
        _answer("d2", 2, 12.0, "School 2", urgent=True),
    ]
    rows = school_rows(states, {"c2": "Ann", "d2": "Bo"}, latest)
    assert [(r["school"], r["state"], r.get("urgent")) for r in rows] == [
        ("School 2", "answered", True),
        ("School 3", "no_answer", None),
        ("School 1", "answered", False),
    ]
    top = rows[0]
    assert top["answer"] == {
        "official_id": "d2", "name": "Bo", "answer": 2, "text": "Need help", "urgent": True, "at": 12.0,
        "channel": "sms",
    }  # fmt: skip
    assert [(a["official_id"], a["answer"]) for a in top["answered_by"]] == [("c2", 1), ("d2", 2)]  # type: ignore[attr-defined]
    # A later "Safe" there ends the urgency: the school's answer is its latest.
    calmer = school_rows(states, {}, [*latest[:2], _answer("d2", 1, 13.0, "School 2")])
    assert [r["school"] for r in calmer] == ["School 3", "School 1", "School 2"]


def _official(oid: str, school: str) -> Official:
    return Official(
        oid,
        oid,
        Role.PRINCIPAL,
        school,
        "Columbia 93",
        "Boone",
        "Central",
        None,
        None,
        None,
        None,
        frozenset(),
    )


def test_a_school_that_needs_help_keeps_escalating_whoever_acknowledged_there() -> None:
    step = Step(after=120, channels=(Channel.SMS,), whom=(Whom.SCHOOL,), until=Until.SCHOOL)
    registry = {
        o.id: o
        for o in (_official("a1", "School 1"), _official("a2", "School 1"), _official("b1", "School 2"))
    }
    schools = {i: ("Columbia 93", o.school) for i, o in registry.items()}
    acked = {"a1", "b1"}
    assert waiting_for(step, list(registry), acked, registry, schools) == []
    help_there = {("columbia 93", "school 1")}
    assert waiting_for(step, list(registry), acked, registry, schools, help_there) == ["a1", "a2"]
    per_official = Step(after=120, channels=(Channel.SMS,), whom=(Whom.OFFICIAL,))
    assert waiting_for(per_official, list(registry), acked, registry, schools, help_there) == ["a2"]


def test_the_urgent_notice_keeps_the_alerts_status_and_names_the_school() -> None:
    alert = _alert(poll=POLL, status="Exercise").to_dict()
    official = _official("a1", "School 1")
    answer = _answer("a1", 2, 12.0, "School 1", urgent=True)
    notice = urgent_notice_request(alert, answer, official, ["sup", "me", "sup"], "https://hub.example/")
    assert notice["status"] == "Exercise" and notice["channels"] == ["sms", "voice"]
    assert notice["audience"] == {"officials": ["me", "sup"]}
    assert notice["headline"] == 'a1 (School 1, Columbia 93) answered "Need help" to: Is your school safe?'
    assert f"https://hub.example/console/alerts/{alert['identifier']}" in notice["instruction"]
    parse_alert_request(notice, now=NOW)  # a valid alert request


def test_the_console_form_asks_a_question_and_an_update_starts_from_it() -> None:
    fields = form_fields(
        {
            "event": "Lockdown", "headline": "Lockdown: intruder", "severity": "Extreme",
            "urgency": "Immediate", "certainty": "Observed", "audience_kind": "districts",
            "audience_values": "Columbia 93",
            "poll_question": " Is your school safe? ", "poll_answers": "Safe\n\nNeed help *\n",
        },
        ["sms", "voice"],
    )  # fmt: skip
    draft = Draft("d_0123456789abcdef", "director", Status.EXERCISE, 0.0, fields)
    request = alert_request(draft)
    assert request["poll"] == {
        "question": "Is your school safe?",
        "answers": [{"text": "Safe", "urgent": False}, {"text": "Need help", "urgent": True}],
    }
    alert = new_alert(parse_alert_request(request, now=NOW), sender="director", now=NOW)
    assert alert.poll == Poll("Is your school safe?", (PollOption("Safe"), PollOption("Need help", True)))
    again = update_fields(alert.to_dict())
    assert (again["poll_question"], again["poll_answers"]) == ("Is your school safe?", "Safe\nNeed help *")
    assert "poll" not in alert_request(
        replace(draft, fields={**fields, "poll_answers": "", "poll_question": ""})
    )
