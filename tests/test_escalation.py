"""Escalation policies (pure): parsing, choosing, scheduling, whom each step reaches."""

from __future__ import annotations

import pytest

from alertnet.domain.contacts import Role
from alertnet.domain.escalation import (
    PolicyError,
    Step,
    Whom,
    choose_policy,
    is_covered,
    parse_policies,
    schedule,
    step_targets,
    superseded,
)
from alertnet.domain.messages import Channel
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.settings import REPO_ROOT

POLICIES = parse_policies((REPO_ROOT / "config" / "escalation.toml").read_text())


def test_the_shipped_policy_for_extreme_alerts() -> None:
    policy = choose_policy(POLICIES, "Extreme", "Actual")
    assert policy is not None and policy.name == "extreme"
    waves = schedule(policy, 1000.0)
    assert [(w.due - 1000.0, w.step) for w in waves] == [
        (120.0, 0),
        (300.0, 1),
        (600.0, 2),
        (720.0, 0),
        (1320.0, 0),
        (1920.0, 0),
    ]
    assert [w.wave for w in waves] == [1, 2, 3, 4, 5, 6]
    assert choose_policy(POLICIES, "Extreme", "Exercise").name == "exercise"  # type: ignore[union-attr]


def test_time_scale_compresses_the_clock() -> None:
    policy = choose_policy(POLICIES, "Extreme", "Actual")
    assert policy is not None
    assert schedule(policy, 0.0, time_scale=0.01)[0].due == pytest.approx(1.2)


def test_bad_policy_files_name_every_field() -> None:
    text = """
[[policy]]
name = "x"
severities = ["Huge"]
statuses = ["Actual"]
  [[policy.step]]
  after = -1
  channels = ["pager"]
  whom = ["official"]
  repeat = 2
"""
    with pytest.raises(PolicyError) as caught:
        parse_policies(text)
    fields = {e.field for e in caught.value.errors}
    assert {
        "policy[0].severities[0]",
        "policy[0].step[0].after",
        "policy[0].step[0].channels[0]",
        "policy[0].step[0].every",
    } <= fields


def test_step_targets_reach_backups_and_superintendents() -> None:
    officials = {o.id: o for o in parse_registry(generate_registry(40, seed=9))}
    principal = next(o for o in officials.values() if o.role is Role.PRINCIPAL and o.backup_id)
    step = Step(after=0, channels=(Channel.SMS, Channel.VOICE), whom=(Whom.BACKUP, Whom.SUPERINTENDENT))
    targets = step_targets(step, [principal.id], officials)
    supers = {
        o.id for o in officials.values() if o.role is Role.SUPERINTENDENT and o.district == principal.district
    }
    reached = set(targets[Channel.SMS])
    assert principal.backup_id in reached and supers <= reached and principal.id not in reached
    assert is_covered(principal.id, {principal.backup_id}, officials)  # type: ignore[arg-type]
    assert not is_covered(principal.id, set(), officials)


def test_a_step_overtaken_by_its_own_later_repetition_is_skipped() -> None:
    policy = choose_policy(POLICIES, "Extreme", "Actual")
    assert policy is not None
    waves = schedule(policy, 0.0)
    calls = [w for w in waves if w.step == 0]  # the call at 2 min, repeated every 10 min
    assert [w.due for w in calls] == [120, 720, 1320, 1920]
    # On time, nothing is skipped.
    assert not any(superseded(waves, w.wave, w.due) for w in waves)
    # A scheduler back after 25 minutes sends the third repetition only, not three calls in a row...
    late = 1500.0
    assert [w.repetition for w in calls if not superseded(waves, w.wave, late)] == [2, 3]
    assert [w.due <= late for w in calls] == [True, True, True, False]
    # ...and other steps (backup, superintendent) are never skipped for being late.
    assert not any(superseded(waves, w.wave, late) for w in waves if w.step != 0)
