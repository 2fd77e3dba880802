"""Per-school accounting (pure): schools identified by (district, school), audience selectors, policies by
event with `until`, whom = school, the no-repeat rule between steps, call order, the school list."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alertnet.domain.acks import Ack, AckChannel
from alertnet.domain.alert_request import parse_alert_request, request_schema
from alertnet.domain.audience import Audience, resolve_audience, unknown_selectors
from alertnet.domain.contacts import Official, Role, Subscription
from alertnet.domain.escalation import (
    DueStep,
    PolicyError,
    Step,
    Until,
    Whom,
    choose_policy,
    drop_already_sent,
    earlier_step_slots,
    parse_policies,
    plan_steps,
    step_from_dict,
    step_targets,
    step_to_dict,
    waiting_for,
)
from alertnet.domain.messages import Channel
from alertnet.domain.schools import (
    decode_school,
    encode_school,
    order_calls,
    school_counts,
    school_map,
    school_of,
    school_states,
    schools_of_acks,
)
from alertnet.settings import REPO_ROOT

POLICIES = parse_policies((REPO_ROOT / "config" / "escalation.toml").read_text())


def official(
    oid: str, role: str, school: str, district: str, *, backup: str | None = None, region: str = "Central"
) -> Official:
    return Official(
        id=oid,
        name=f"Official {oid}",
        role=Role(role),
        school=school,
        district=district,
        county="Boone",
        region=region,
        mobile=f"+1573555{abs(hash(oid)) % 10000:04d}",
        voice=f"+1573666{abs(hash(oid)) % 10000:04d}",
        email=f"{oid}@example.org",
        backup_id=backup,
        subscriptions=frozenset({Subscription.ALERTS}),
    )


# Two districts, each with a "Lincoln Elementary"; a superintendent per district, one regional coordinator.
REGISTRY = {
    o.id: o
    for o in [
        official("a-pr", "principal", "Lincoln Elementary", "Columbia 93", backup="a-nu"),
        official("a-sc", "safety_coordinator", "Lincoln Elementary", "Columbia 93"),
        official("a-nu", "nurse", "Lincoln Elementary", "Columbia 93"),
        official("b-pr", "principal", "Lincoln Elementary", "Jefferson City"),
        official("b-nu", "nurse", "lincoln elementary ", "Jefferson City"),
        official("c-pr", "principal", "Rock Bridge High", "Columbia 93", backup="sup-a"),
        official("sup-a", "superintendent", "", "Columbia 93"),
        official("sup-b", "superintendent", "District Office", "Jefferson City"),
        official("rc", "regional_coordinator", "", "Columbia 93"),
    ]
}
SCHOOLS = {i: decode_school(v) for i, v in school_map(REGISTRY.values()).items()}


def test_a_school_is_its_district_and_name_and_officials_above_a_school_have_none() -> None:
    assert school_of(REGISTRY["a-pr"]) == ("Columbia 93", "Lincoln Elementary")
    assert school_of(REGISTRY["b-nu"]) == ("Jefferson City", "lincoln elementary")
    assert school_of(REGISTRY["sup-b"]) is None  # a superintendent counts for the district, not a school
    assert school_of(REGISTRY["rc"]) is None
    assert set(SCHOOLS) == {"a-pr", "a-sc", "a-nu", "b-pr", "b-nu", "c-pr"}
    assert decode_school(encode_school(("A|B", "C / D"))) == ("A|B", "C / D")


def test_the_schools_selector_takes_a_plain_name_or_a_district_qualified_one() -> None:
    everyone = list(REGISTRY.values())
    plain = resolve_audience(Audience(schools=("Lincoln Elementary",)), everyone)
    assert {o.id for o in plain} == {"a-pr", "a-sc", "a-nu", "b-pr", "b-nu"}  # as before: both schools
    qualified = resolve_audience(Audience(schools=("jefferson city / Lincoln Elementary",)), everyone)
    assert {o.id for o in qualified} == {"b-pr", "b-nu"}
    assert unknown_selectors(Audience(schools=("Columbia 93 / Lincoln Elementary",)), everyone) == []
    wrong = unknown_selectors(Audience(schools=("Cole / Lincoln Elementary",)), everyone)
    assert [(e.field, e.reason) for e in wrong] == [
        ("audience.schools[0]", "no official at school 'Cole / Lincoln Elementary'")
    ]
    now = datetime(2026, 1, 5, tzinfo=UTC)
    draft = parse_alert_request(
        {
            "status": "Exercise",
            "msgType": "Alert",
            "severity": "Extreme",
            "urgency": "Immediate",
            "certainty": "Observed",
            "event": "Lockdown",
            "headline": "Drill",
            "audience": {"schools": ["Columbia 93 / Lincoln Elementary", "Rock Bridge High"]},
            "channels": ["sms"],
        },
        now=now,
    )
    assert draft.audience.schools == ("Columbia 93 / Lincoln Elementary", "Rock Bridge High")
    assert (
        "Columbia 93 / Lincoln"
        in request_schema()["properties"]["audience"]["properties"]["schools"]["description"]
    )


def test_policies_match_on_the_event_and_lockdowns_stop_per_school() -> None:
    lockdown = choose_policy(POLICIES, "Extreme", "Actual", "  LOCKDOWN ")
    assert lockdown is not None and lockdown.name == "lockdown"
    assert all(step.until is Until.SCHOOL for step in lockdown.steps)
    assert [step.whom for step in lockdown.steps] == [
        (Whom.SCHOOL,),
        (Whom.SUPERINTENDENT,),
        (Whom.REGIONAL_COORDINATOR,),
    ]
    assert set(lockdown.steps[0].channels) == set(Channel)
    other = choose_policy(POLICIES, "Extreme", "Actual", "Armed intruder")
    assert other is not None and other.name == "extreme"
    assert all(step.until is Until.OFFICIAL for step in other.steps)
    assert choose_policy(POLICIES, "Extreme", "Actual").name == "extreme"  # type: ignore[union-attr]
    assert choose_policy(POLICIES, "Extreme", "Exercise", "Lockdown").name == "exercise"  # type: ignore[union-attr]
    bad = """
[[policy]]
name = "x"
events = []
severities = ["Extreme"]
statuses = ["Actual"]
  [[policy.step]]
  after = 1
  channels = ["sms"]
  whom = ["school"]
  until = "district"
"""
    with pytest.raises(PolicyError) as caught:
        parse_policies(bad)
    assert {e.field for e in caught.value.errors} == {"policy[0].events", "policy[0].step[0].until"}


def test_an_alert_keeps_the_steps_it_was_sent_with() -> None:
    policy = choose_policy(POLICIES, "Extreme", "Actual", "Lockdown")
    assert policy is not None
    stored = {"policy": "lockdown", "steps": [step_to_dict(s) for s in policy.steps], "waves": []}
    assert plan_steps(stored, {}) == policy.steps  # the policy may be gone or edited since
    assert step_from_dict(step_to_dict(policy.steps[1])) == policy.steps[1]
    older = {"policy": "lockdown", "waves": []}  # a plan written before steps were stored
    assert plan_steps(older, {"lockdown": policy}) == policy.steps
    assert plan_steps(older, {}) == ()


def test_until_school_stops_for_the_whole_school_and_schools_of_one_name_stay_apart() -> None:
    recipients = ["a-pr", "a-sc", "a-nu", "b-pr", "b-nu", "c-pr", "sup-a"]
    step = Step(after=0, channels=(Channel.SMS,), whom=(Whom.SCHOOL,), until=Until.SCHOOL)
    # The Columbia 93 nurse answered: her school is reached; Jefferson City's Lincoln Elementary is not.
    waiting = waiting_for(step, recipients, {"a-nu"}, REGISTRY, SCHOOLS)
    assert waiting == ["b-pr", "b-nu", "c-pr", "sup-a"]
    # Per official (today's behaviour): only the nurse and the principal whose backup she is stop.
    per_official = Step(after=0, channels=(Channel.SMS,), whom=(Whom.OFFICIAL,))
    assert waiting_for(per_official, recipients, {"a-nu"}, REGISTRY, SCHOOLS) == [
        "a-sc",
        "b-pr",
        "b-nu",
        "c-pr",
        "sup-a",
    ]
    # A superintendent's ack reaches no school; they count for themselves.
    assert waiting_for(step, recipients, {"sup-a"}, REGISTRY, SCHOOLS) == recipients[:-1]
    # Whom = school: everyone of the (district, school), the same-name school elsewhere not included.
    targets = step_targets(step, ["a-pr"], REGISTRY, SCHOOLS)
    assert targets == {Channel.SMS: ["a-nu", "a-pr", "a-sc"]}
    assert step_targets(step, ["sup-a"], REGISTRY, SCHOOLS) == {}


def test_a_later_step_does_not_send_again_on_a_channel_an_earlier_step_used() -> None:
    waves = [DueStep(10, 0, 0, 1), DueStep(20, 1, 0, 2), DueStep(30, 2, 0, 3), DueStep(40, 0, 1, 4)]
    slots = ["sms", "voice", "email", "voice@f", "voice@1", "sms@2", "voice@2", "sms@3", "voice@3"]
    assert earlier_step_slots(slots, waves, 2) == ["voice@1", "sms@2", "voice@2"]
    assert earlier_step_slots(slots, waves, 0) == ["sms@2", "voice@2", "sms@3", "voice@3"]  # not voice@1
    # c-pr's backup is the superintendent: the backups' step reached her by SMS; the superintendents'
    # step sends her nothing more by SMS (and still calls her, a channel it had not used).
    superintendents = Step(after=0, channels=(Channel.SMS, Channel.VOICE), whom=(Whom.SUPERINTENDENT,))
    targets = step_targets(superintendents, ["c-pr"], REGISTRY, SCHOOLS)
    assert targets == {Channel.SMS: ["sup-a"], Channel.VOICE: ["sup-a"]}
    assert drop_already_sent(targets, {Channel.SMS: {"sup-a"}}) == {Channel.VOICE: ["sup-a"]}


def test_calls_go_in_the_configured_order_of_roles() -> None:
    ids = ["a-nu", "a-pr", "a-sc", "b-nu", "b-pr", "rc", "sup-a", "unknown"]
    order = ("superintendent", "safety_coordinator", "principal")
    assert order_calls(ids, REGISTRY, order) == [
        "sup-a",
        "a-sc",
        "a-pr",
        "b-pr",
        "a-nu",
        "b-nu",
        "rc",
        "unknown",
    ]


def test_the_school_list_puts_schools_not_reached_first() -> None:
    acks = {
        "a-nu": Ack("A1", "a-nu", 105.0, AckChannel.SMS),
        "a-pr": Ack("A1", "a-pr", 101.0, AckChannel.VOICE),
        "sup-a": Ack("A1", "sup-a", 100.0, AckChannel.SMS),
    }
    ack_schools = schools_of_acks(acks, SCHOOLS, REGISTRY)
    assert set(ack_schools) == {"a-nu", "a-pr"}
    states = school_states(SCHOOLS, acks, ack_schools)
    assert [(s.district, s.school, s.reached) for s in states] == [
        ("Columbia 93", "Rock Bridge High", False),
        ("Jefferson City", "Lincoln Elementary", False),
        ("Columbia 93", "Lincoln Elementary", True),
    ]
    assert school_counts(states) == {"targeted": 3, "reached": 1, "not_reached": 2}
    view = states[-1].to_dict({"a-pr": "Pat"})
    assert view["state"] == "acknowledged" and view["officials"] == 3 and view["first_ack_at"] == 101.0
    assert [a["official_id"] for a in view["acknowledged_by"]] == ["a-pr", "a-nu"]  # type: ignore[union-attr]
    assert states[0].to_dict({})["state"] == "no_answer"
    # An official escalation reached beyond the recipients counts for the school the registry gives.
    extra = {"b-nu": Ack("A1", "b-nu", 110.0, AckChannel.EMAIL)}
    only_a = {i: s for i, s in SCHOOLS.items() if i.startswith("a-")}
    assert schools_of_acks(extra, only_a, REGISTRY) == {"b-nu": ("Jefferson City", "lincoln elementary")}
