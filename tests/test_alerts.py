"""The alert model, request validation, canonical bytes, and audience resolution."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from alertnet.domain.alert_request import AlertValidationError, example_alert_request, parse_alert_request
from alertnet.domain.alerts import (
    Alert,
    AlertDraft,
    Certainty,
    MsgType,
    Severity,
    Status,
    Urgency,
    canonical_bytes,
    new_alert,
)
from alertnet.domain.audience import Audience, audience_includes, resolve_audience, unknown_selectors
from alertnet.domain.contacts import Official, Role, Subscription
from alertnet.domain.errors import FieldError
from alertnet.domain.messages import Channel, Priority

NOW = datetime(2025, 5, 6, 14, 3, 7, 250_000, tzinfo=UTC)
REF = "01JTJYGKBRXCH0TTBZMX28XCP3"

LOCKDOWN: dict[str, Any] = example_alert_request()


def errors_of(payload: object) -> list[FieldError]:
    with pytest.raises(AlertValidationError) as caught:
        parse_alert_request(payload, now=NOW)
    return caught.value.errors


def error_map(payload: object) -> dict[str, str]:
    return {e.field: e.reason for e in errors_of(payload)}


def with_(**changes: Any) -> dict[str, Any]:
    return {**LOCKDOWN, **changes}


def without(*keys: str) -> dict[str, Any]:
    return {k: v for k, v in LOCKDOWN.items() if k not in keys}


def official(
    id: str,
    *,
    role: Role = Role.PRINCIPAL,
    school: str = "Rock Bridge High",
    district: str = "Columbia 93",
    county: str = "Boone",
    region: str = "Central",
    active: bool = True,
) -> Official:
    return Official(
        id=id,
        name=f"Official {id}",
        role=role,
        school=school,
        district=district,
        county=county,
        region=region,
        mobile="+15735550100",
        voice="+15735550100",
        email=f"{id}@example.org",
        backup_id=None,
        subscriptions=frozenset({Subscription.ALERTS}),
        active=active,
    )


# ------------------------------------------------------------------------------------ valid requests


def test_valid_lockdown_parses_into_a_draft() -> None:
    draft = parse_alert_request(LOCKDOWN, now=NOW)
    assert draft == AlertDraft(
        status=Status.ACTUAL,
        msg_type=MsgType.ALERT,
        references=(),
        severity=Severity.EXTREME,
        urgency=Urgency.IMMEDIATE,
        certainty=Certainty.OBSERVED,
        event="Lockdown",
        headline="Lockdown: armed intruder reported near campus",
        description=LOCKDOWN["description"],
        instruction=LOCKDOWN["instruction"],
        expires=None,
        audience=Audience(statewide=True),
        channels=(Channel.SMS, Channel.VOICE, Channel.EMAIL),
    )


def test_optional_fields_may_be_absent_or_null_and_strings_are_trimmed() -> None:
    draft = parse_alert_request(
        {**without("description", "instruction"), "instruction": None, "headline": "  Shelter now  "},
        now=NOW,
    )
    assert draft.description == ""
    assert draft.instruction == ""
    assert draft.headline == "Shelter now"


def test_update_with_references_and_expires_is_accepted() -> None:
    draft = parse_alert_request(
        with_(msgType="Update", references=[REF.lower()], expires="2025-05-06T10:00:00.9-05:00"),
        now=NOW,
    )
    assert draft.references == (REF,)
    assert draft.expires == datetime(2025, 5, 6, 15, 0, 0, tzinfo=UTC)
    assert draft.expires.tzinfo is UTC


def test_roles_alone_and_multiline_description_are_valid() -> None:
    draft = parse_alert_request(
        with_(audience={"roles": ["sro", "nurse"]}, description="Line one\nLine two"), now=NOW
    )
    assert draft.audience == Audience(roles=("sro", "nurse"))
    assert draft.description == "Line one\nLine two"


def test_statewide_with_roles_is_valid() -> None:
    draft = parse_alert_request(with_(audience={"statewide": True, "roles": ["superintendent"]}), now=NOW)
    assert draft.audience == Audience(statewide=True, roles=("superintendent",))


# --------------------------------------------------------------------------------- invalid requests


@pytest.mark.parametrize("payload", [None, [], "alert", 3])
def test_payload_must_be_an_object(payload: object) -> None:
    [error] = errors_of(payload)
    assert error.field == "body"
    assert "must be a JSON object" in error.reason


def test_unknown_top_level_fields_are_errors() -> None:
    errors = error_map(with_(area="Boone", Sender="me"))
    assert errors["area"].startswith("unknown field")
    assert errors["Sender"].startswith("unknown field")


def test_every_required_field_is_reported_at_once() -> None:
    errors = error_map({})
    required = ["status", "msgType", "severity", "urgency", "certainty", "event", "headline", "audience"]
    for field in [*required, "channels"]:
        assert errors[field] == "is required"


def test_null_required_field_counts_as_missing() -> None:
    assert error_map(with_(headline=None)) == {"headline": "is required"}


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("status", "actual", "Actual, Exercise, Test"),
        ("status", "Draft", "Actual, Exercise, Test"),
        ("msgType", "ALERT", "Alert, Update, Cancel"),
        ("severity", "extreme", "Extreme, Severe, Moderate, Minor, Unknown"),
        ("urgency", 1, "Immediate, Expected, Future, Past, Unknown"),
        ("certainty", "Sure", "Observed, Likely, Possible, Unlikely, Unknown"),
    ],
)
def test_enums_are_case_sensitive_and_name_the_allowed_values(
    field: str, value: object, allowed: str
) -> None:
    reason = error_map(with_(**{field: value}))[field]
    assert f"must be one of {allowed}" in reason
    assert json.dumps(value) in reason


def test_many_bad_fields_are_all_reported_together() -> None:
    errors = errors_of(
        with_(
            severity="Catastrophic",
            headline="x" * 161,
            channels=["sms", "fax"],
            audience={"counties": ["Boone", ""]},
            expires="yesterday",
        )
    )
    assert [e.field for e in errors] == [
        "severity",
        "headline",
        "expires",
        "audience.counties[1]",
        "channels[1]",
    ]


@pytest.mark.parametrize(
    ("field", "limit"), [("event", 80), ("headline", 160), ("description", 4000), ("instruction", 1000)]
)
def test_length_limits(field: str, limit: int) -> None:
    assert parse_alert_request(with_(**{field: "a" * limit}), now=NOW)
    assert error_map(with_(**{field: "a" * (limit + 1)})) == {
        field: f"must be at most {limit} characters; got {limit + 1}"
    }


@pytest.mark.parametrize("field", ["event", "headline"])
def test_event_and_headline_must_not_be_empty_or_non_strings(field: str) -> None:
    assert error_map(with_(**{field: "   "})) == {field: "must not be empty"}
    assert error_map(with_(**{field: 42}))[field] == "must be a string; got 42"


@pytest.mark.parametrize("field", ["event", "headline"])
def test_single_line_fields_reject_newlines_and_control_characters(field: str) -> None:
    for bad in ["two\nlines", "bell\x07", "nul\x00", "sep\u2028arator"]:
        assert error_map(with_(**{field: bad})) == {
            field: "must not contain control characters or line breaks"
        }


@pytest.mark.parametrize("field", ["description", "instruction"])
def test_multiline_fields_allow_only_newline(field: str) -> None:
    assert parse_alert_request(with_(**{field: "a\nb"}), now=NOW)
    for bad in ["a\r\nb", "tab\there", "esc\x1b[31m"]:
        assert error_map(with_(**{field: bad})) == {
            field: "must not contain control characters other than newline"
        }


def test_unpaired_surrogates_are_refused_because_they_cannot_be_signed() -> None:
    payload = json.loads('{"headline": "Lockdown \\ud83d", "audience": {"counties": ["Bo\\udc00one"]}}')
    errors = error_map(with_(**payload))
    assert errors == {
        "headline": "must be valid Unicode (has an unpaired surrogate)",
        "audience.counties[0]": "must be valid Unicode (has an unpaired surrogate)",
    }
    ok = json.loads('{"headline": "Lockdown \\ud83d\\udea8"}')["headline"]  # a proper pair: the emoji
    assert canonical_bytes(make_alert(headline=ok))


def test_update_and_cancel_require_references() -> None:
    for msg_type in ["Update", "Cancel"]:
        reason = error_map(with_(msgType=msg_type))["references"]
        assert reason.startswith(f"is required for msgType {msg_type}")
        assert error_map(with_(msgType=msg_type, references=[]))["references"].startswith("is required")


def test_alert_must_not_have_references() -> None:
    assert error_map(with_(references=[REF])) == {
        "references": "must be absent for msgType Alert (use Update or Cancel)"
    }


def test_references_must_be_unique_ulids() -> None:
    errors = error_map(
        with_(msgType="Cancel", references=[REF, "not-an-id", 7, REF, "81JTJYGKBRXCH0TTBZMX28XCP3"])
    )
    assert errors["references[1]"].startswith("must be an alert id")
    assert errors["references[2]"].startswith("must be an alert id")
    assert errors["references[3]"] == f"duplicate reference '{REF}'"
    assert errors["references[4]"].startswith("must be an alert id")  # first char > 7: overflows 128 bits
    assert error_map(with_(msgType="Update", references=REF)) == {
        "references": f'must be a list of alert ids; got "{REF}"'
    }


def test_expires_must_have_a_timezone_and_be_in_the_future() -> None:
    assert error_map(with_(expires="2025-05-07T12:00:00")) == {
        "expires": 'must include a timezone offset; got "2025-05-07T12:00:00"'
    }
    assert error_map(with_(expires="2025-05-06T14:00:00Z"))["expires"].startswith("must be in the future")
    assert error_map(with_(expires=NOW.isoformat()))["expires"].startswith("must be in the future")
    assert error_map(with_(expires="next tuesday"))["expires"].startswith("must be an ISO 8601 date-time")
    assert error_map(with_(expires=1746540000))["expires"].startswith("must be an ISO 8601 date-time")


def test_audience_must_be_an_object_with_known_keys() -> None:
    assert error_map(with_(audience=["Boone"])) == {"audience": 'must be an object; got ["Boone"]'}
    errors = error_map(with_(audience={"statewide": True, "county": ["Boone"]}))
    assert errors == {
        "audience.county": "unknown field; allowed: statewide, regions, counties, districts, schools, "
        "roles, officials"
    }


def test_audience_needs_statewide_or_a_selector() -> None:
    expected = (
        "must set statewide: true or at least one of regions, counties, districts, schools, roles, officials"
    )
    assert error_map(with_(audience={})) == {"audience": expected}
    assert error_map(with_(audience={"statewide": False, "counties": []})) == {"audience": expected}


def test_statewide_with_geographic_selectors_is_ambiguous() -> None:
    errors = error_map(
        with_(audience={"statewide": True, "counties": ["Boone"], "schools": ["Hickman High"]})
    )
    assert list(errors) == ["audience.statewide"]
    assert errors["audience.statewide"].startswith("cannot be combined with counties, schools (ambiguous)")


def test_audience_lists_hold_unique_non_empty_strings_and_known_roles() -> None:
    errors = error_map(
        with_(
            audience={
                "statewide": "yes",
                "counties": ["Boone", " boone ", "", 5],
                "districts": "Columbia 93",
                "roles": ["sro", "janitor", "SRO"],
            }
        )
    )
    assert errors == {
        "audience.statewide": 'must be true or false; got "yes"',
        "audience.counties[1]": 'duplicate " boone "',
        "audience.counties[2]": "must not be empty",
        "audience.counties[3]": "must be a string; got 5",
        "audience.districts": 'must be a list of strings; got "Columbia 93"',
        "audience.roles[1]": 'unknown role "janitor"; must be one of ' + ", ".join(r.value for r in Role),
        "audience.roles[2]": 'unknown role "SRO"; must be one of ' + ", ".join(r.value for r in Role),
    }


def test_channels_must_be_a_non_empty_list_of_unique_known_channels() -> None:
    assert error_map(with_(channels=[])) == {
        "channels": "must be a non-empty list of sms, voice, email; got []"
    }
    assert error_map(with_(channels="sms"))["channels"].startswith("must be a non-empty list")
    assert error_map(with_(channels=["sms", "SMS", "sms"])) == {
        "channels[1]": 'must be one of sms, voice, email (case-sensitive); got "SMS"',
        "channels[2]": "duplicate channel 'sms'",
    }


def test_validation_error_message_names_every_field() -> None:
    with pytest.raises(AlertValidationError) as caught:
        parse_alert_request(without("event", "headline"), now=NOW)
    assert str(caught.value) == "event: is required; headline: is required"


# --------------------------------------------------------------------------------- alert and bytes


def make_alert(**changes: Any) -> Alert:
    return new_alert(parse_alert_request(with_(**changes), now=NOW), sender="director", now=NOW)


def test_new_alert_assigns_a_ulid_and_second_precision_utc_sent() -> None:
    alert = make_alert()
    assert len(alert.id) == 26
    assert alert.sent == datetime(2025, 5, 6, 14, 3, 7, tzinfo=UTC)
    assert alert.sender == "director"
    assert alert.draft == parse_alert_request(LOCKDOWN, now=NOW)
    assert make_alert().id != alert.id


def test_to_dict_uses_cap_names_and_round_trips() -> None:
    alert = make_alert(msgType="Update", references=[REF], expires="2025-05-06T18:00:00+02:00")
    data = alert.to_dict()
    assert data["identifier"] == alert.id
    assert data["msgType"] == "Update"
    assert data["sent"] == "2025-05-06T14:03:07-00:00"
    assert data["expires"] == "2025-05-06T16:00:00-00:00"
    assert data["audience"]["statewide"] is True
    assert json.loads(json.dumps(data)) == data
    assert Alert.from_dict(data) == alert
    assert Alert.from_dict(json.loads(json.dumps(data))).to_dict() == data


def test_canonical_bytes_are_sorted_compact_utf8_and_stable() -> None:
    alert = make_alert(headline="Tornado warning — shelter in Joplin\u2019s schools")
    data = canonical_bytes(alert)
    assert data == canonical_bytes(Alert.from_dict(alert.to_dict()))
    shuffled = dict(reversed(list(alert.to_dict().items())))
    shuffled["audience"] = dict(reversed(list(shuffled["audience"].items())))
    assert canonical_bytes(Alert.from_dict(shuffled)) == data
    text = data.decode("utf-8")
    assert "—" in text and "\u2019" in text  # not \u escaped
    assert text.startswith('{"audience":{"counties":[],"districts":[],"officials":[],"regions":[]')
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_canonical_bytes_change_with_content() -> None:
    alert = make_alert()
    other = Alert.from_dict({**alert.to_dict(), "headline": "Lockdown lifted"})
    assert canonical_bytes(alert) != canonical_bytes(other)


@pytest.mark.parametrize(
    ("severity", "urgency", "status", "priority"),
    [
        ("Extreme", "Immediate", "Actual", Priority.CRITICAL),
        ("Severe", "Expected", "Actual", Priority.CRITICAL),
        ("Severe", "Expected", "Exercise", Priority.CRITICAL),
        ("Extreme", "Immediate", "Test", Priority.CRITICAL),
        ("Extreme", "Future", "Actual", Priority.HIGH),
        ("Moderate", "Immediate", "Actual", Priority.HIGH),
        ("Minor", "Past", "Actual", Priority.HIGH),
        ("Minor", "Past", "Exercise", Priority.HIGH),
    ],
)
def test_priority(severity: str, urgency: str, status: str, priority: Priority) -> None:
    assert make_alert(severity=severity, urgency=urgency, status=status).priority is priority


def test_parse_rejects_naive_now() -> None:
    with pytest.raises(ValueError):
        parse_alert_request(LOCKDOWN, now=datetime(2025, 5, 6))


def test_expires_in_another_zone_is_converted_to_utc() -> None:
    expires = datetime(2025, 5, 6, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert parse_alert_request(with_(expires=expires.isoformat()), now=NOW).expires == expires


# ----------------------------------------------------------------------------------------- audience

REGISTRY = [
    official("p-hickman", school="Hickman High"),
    official("s-rockbridge", role=Role.SRO),
    official("n-rockbridge", role=Role.NURSE),
    official("sup-columbia", role=Role.SUPERINTENDENT, school=""),
    official("p-jeff", school="Jefferson City High", district="Jefferson City", county="Cole"),
    official(
        "sro-jeff", role=Role.SRO, school="Jefferson City High", district="Jefferson City", county="Cole"
    ),
    official("p-joplin", school="Joplin High", district="Joplin", county="Jasper", region="Southwest"),
    official(
        "p-retired",
        school="Joplin High",
        district="Joplin",
        county="Jasper",
        region="Southwest",
        active=False,
    ),
]


def ids(audience: Audience) -> list[str]:
    return [o.id for o in resolve_audience(audience, REGISTRY)]


def test_statewide_is_every_active_official_sorted_by_id() -> None:
    assert ids(Audience(statewide=True)) == sorted(o.id for o in REGISTRY if o.active)


def test_selectors_are_a_union() -> None:
    assert ids(Audience(counties=("Cole",), schools=("Joplin High",), officials=("p-hickman",))) == [
        "p-hickman",
        "p-jeff",
        "p-joplin",
        "sro-jeff",
    ]
    assert ids(Audience(regions=("Southwest",))) == ["p-joplin"]
    assert ids(Audience(districts=("Columbia 93",))) == [
        "n-rockbridge",
        "p-hickman",
        "s-rockbridge",
        "sup-columbia",
    ]


def test_roles_narrow_and_roles_alone_mean_statewide() -> None:
    assert ids(Audience(districts=("Columbia 93", "Jefferson City"), roles=("sro",))) == [
        "s-rockbridge",
        "sro-jeff",
    ]
    assert ids(Audience(roles=("sro",))) == ["s-rockbridge", "sro-jeff"]
    assert ids(Audience(statewide=True, roles=("nurse", "superintendent"))) == [
        "n-rockbridge",
        "sup-columbia",
    ]


def test_inactive_officials_are_excluded() -> None:
    assert ids(Audience(schools=("Joplin High",))) == ["p-joplin"]
    assert audience_includes(Audience(schools=("Joplin High",)), REGISTRY[-1])  # membership ignores active


def test_matching_is_case_insensitive_and_trimmed() -> None:
    assert ids(Audience(counties=("  cOLE ",))) == ["p-jeff", "sro-jeff"]
    assert ids(Audience(schools=("JOPLIN HIGH",), roles=("principal",))) == ["p-joplin"]
    assert audience_includes(Audience(regions=("central",)), REGISTRY[0])
    assert not audience_includes(Audience(regions=("southwest",)), REGISTRY[0])


def test_empty_audience_matches_nobody() -> None:
    assert ids(Audience()) == []
    assert not audience_includes(Audience(), REGISTRY[0])


def test_resolve_accepts_any_iterable_once() -> None:
    assert [o.id for o in resolve_audience(Audience(counties=("Cole",)), iter(REGISTRY))] == [
        "p-jeff",
        "sro-jeff",
    ]


def test_unknown_selectors_name_the_typo() -> None:
    audience = Audience(
        counties=("Boone", "Boon"),
        schools=("hickman high", "Hickmann High"),
        regions=("Central", " Nowhere "),
        districts=("Joplin",),
        officials=("p-jeff", "nobody"),
        roles=("sro", "transportation_director"),
    )
    assert unknown_selectors(audience, REGISTRY) == [
        FieldError("audience.regions[1]", "no official in region 'Nowhere'"),
        FieldError("audience.counties[1]", "no official in county 'Boon'"),
        FieldError("audience.schools[1]", "no official at school 'Hickmann High'"),
        FieldError("audience.officials[1]", "no official with id 'nobody'"),
        FieldError("audience.roles[1]", "no official with role 'transportation_director'"),
    ]
    assert unknown_selectors(Audience(statewide=True), REGISTRY) == []
    assert unknown_selectors(Audience(counties=("Boone",)), iter(REGISTRY)) == []


@pytest.mark.parametrize("control", ["\u202e", "\u202a", "\u2066", "\u2069", "\u200f", "\u200e", "\u061c"])
def test_bidirectional_controls_are_refused_in_every_field_that_reaches_a_message(control: str) -> None:
    reason = "must not contain bidirectional control characters (they reorder how a message displays)"
    for field in ("event", "headline", "description", "instruction"):
        assert error_map(with_(**{field: f"Lockdown {control}D92-Q7K edoC"})) == {field: reason}
    assert error_map(with_(audience={"counties": [f"Bo{control}one"]})) == {"audience.counties[0]": reason}


@pytest.mark.parametrize(
    "expires", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "10000-01-01T00:00:00Z"]
)
def test_expiry_outside_what_utc_can_hold_is_a_field_error(expires: str) -> None:
    assert list(error_map(with_(expires=expires))) == ["expires"]
