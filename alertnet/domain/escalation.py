"""Escalation policies (pure): which steps are due when, and whom each step reaches.

A policy is chosen by the alert's severity and status (and its event, for a policy that lists `events`).
The alert's own channels go out at once; each step fires `after` seconds from the alert, and again
`repeat` times every `every` seconds, for the recipients still waiting: with `until = "official"` (the
default) those who have not acknowledged (an ack by the official or by their backup counts); with
`until = "school"` those whose school nobody has acknowledged for yet (officials above a school: as with
"official"). A person reached by one step is not sent the alert again on the same channel by a later step;
only a step's own repeats send again. An alert keeps the steps of its policy as they were when it was sent
(`step_to_dict`, stored in its plan).
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from alertnet.domain.contacts import Official, Role
from alertnet.domain.errors import FieldError
from alertnet.domain.messages import Channel
from alertnet.domain.schools import SchoolKey, same_school, school_of


class Whom(StrEnum):
    OFFICIAL = "official"
    BACKUP = "backup"
    SCHOOL = "school"  # every official of the waiting official's (district, school)
    SUPERINTENDENT = "superintendent"
    REGIONAL_COORDINATOR = "regional_coordinator"


class Until(StrEnum):
    """When a step stops for a recipient: once they (or their backup) answered, or anyone at their school."""

    OFFICIAL = "official"
    SCHOOL = "school"


@dataclass(frozen=True)
class Step:
    after: float
    channels: tuple[Channel, ...]
    whom: tuple[Whom, ...]
    repeat: int = 0
    every: float = 0.0
    until: Until = Until.OFFICIAL


@dataclass(frozen=True)
class Policy:
    name: str
    severities: frozenset[str]
    statuses: frozenset[str]
    steps: tuple[Step, ...]
    events: frozenset[str] = frozenset()  # casefolded; empty: any event


def step_to_dict(step: Step) -> dict[str, Any]:
    """A step as stored in an alert's escalation plan (the policy's version the alert started with)."""
    return {
        "after": step.after,
        "channels": [c.value for c in step.channels],
        "whom": [w.value for w in step.whom],
        "repeat": step.repeat,
        "every": step.every,
        "until": step.until.value,
    }


def step_from_dict(data: Mapping[str, Any]) -> Step:
    return Step(
        after=float(data["after"]),
        channels=tuple(Channel(c) for c in data["channels"]),
        whom=tuple(Whom(w) for w in data["whom"]),
        repeat=int(data.get("repeat", 0)),
        every=float(data.get("every", 0.0)),
        until=Until(data.get("until", Until.OFFICIAL.value)),
    )


def plan_steps(plan: Mapping[str, Any], policies: Mapping[str, Policy]) -> tuple[Step, ...]:
    """The steps an alert's plan fires: those stored with it, or (a plan written before steps were stored)
    its policy's as loaded now."""
    stored = plan.get("steps")
    if isinstance(stored, list):
        return tuple(step_from_dict(s) for s in stored)
    policy = policies.get(str(plan.get("policy", "")))
    return policy.steps if policy is not None else ()


@dataclass(frozen=True)
class DueStep:
    """One firing of one step: `wave` numbers it uniquely within the alert (1, 2, ...)."""

    due: float
    step: int
    repetition: int
    wave: int


class PolicyError(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))


def _strings(value: Any, field: str, allowed: Iterable[str], errors: list[FieldError]) -> tuple[str, ...]:
    allowed = tuple(allowed)
    if not isinstance(value, list) or not value:
        errors.append(FieldError(field, "must be a non-empty list"))
        return ()
    for n, item in enumerate(value):
        if item not in allowed:
            errors.append(FieldError(f"{field}[{n}]", f"{item!r} is not one of {', '.join(allowed)}"))
    return tuple(v for v in value if v in allowed)


def _number(value: Any, field: str, errors: list[FieldError], minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        errors.append(FieldError(field, f"must be a number >= {minimum:g}"))
        return minimum
    return float(value)


def parse_policies(text: str) -> list[Policy]:
    """Parse `config/escalation.toml`; raises PolicyError naming every bad field."""
    from alertnet.domain.alerts import Severity, Status

    data = tomllib.loads(text)
    errors: list[FieldError] = []
    policies = []
    for p, raw in enumerate(data.get("policy", [])):
        where = f"policy[{p}]"
        steps = []
        for s, step in enumerate(raw.get("step", [])):
            at = f"{where}.step[{s}]"
            repeat = int(_number(step.get("repeat", 0), f"{at}.repeat", errors))
            every = _number(step.get("every", 0), f"{at}.every", errors)
            if repeat and every <= 0:
                errors.append(FieldError(f"{at}.every", "must be > 0 when repeat is set"))
            until = step.get("until", Until.OFFICIAL.value)
            if until not in [u.value for u in Until]:
                errors.append(FieldError(f"{at}.until", f"{until!r} is not one of official, school"))
                until = Until.OFFICIAL.value
            steps.append(
                Step(
                    after=_number(step.get("after"), f"{at}.after", errors),
                    channels=tuple(
                        Channel(c)
                        for c in _strings(
                            step.get("channels"), f"{at}.channels", [c.value for c in Channel], errors
                        )
                    ),
                    whom=tuple(
                        Whom(w)
                        for w in _strings(step.get("whom"), f"{at}.whom", [w.value for w in Whom], errors)
                    ),
                    repeat=repeat,
                    every=every,
                    until=Until(until),
                )
            )
        events = raw.get("events")
        if events is not None and (
            not isinstance(events, list)
            or not events
            or not all(isinstance(e, str) and e.strip() for e in events)
        ):
            errors.append(FieldError(f"{where}.events", "must be a non-empty list of event names"))
            events = None
        policies.append(
            Policy(
                name=str(raw.get("name", f"policy{p}")),
                severities=frozenset(
                    _strings(
                        raw.get("severities"), f"{where}.severities", [v.value for v in Severity], errors
                    )
                ),
                statuses=frozenset(
                    _strings(raw.get("statuses"), f"{where}.statuses", [v.value for v in Status], errors)
                ),
                steps=tuple(steps),
                events=frozenset(e.strip().casefold() for e in events or ()),
            )
        )
    if errors:
        raise PolicyError(errors)
    return policies


def choose_policy(policies: Iterable[Policy], severity: str, status: str, event: str = "") -> Policy | None:
    """The first policy whose severities and statuses hold the alert's, and whose events (if it lists any)
    hold the alert's event (case-insensitive)."""
    event = event.strip().casefold()
    return next(
        (
            p
            for p in policies
            if severity in p.severities and status in p.statuses and (not p.events or event in p.events)
        ),
        None,
    )


def schedule(policy: Policy, start: float, *, time_scale: float = 1.0) -> list[DueStep]:
    """Every firing of every step, in due order. `time_scale` < 1 compresses the clock (drills, tests)."""
    due: list[tuple[float, int, int]] = []
    for index, step in enumerate(policy.steps):
        for repetition in range(step.repeat + 1):
            due.append((start + (step.after + repetition * step.every) * time_scale, index, repetition))
    due.sort()
    return [DueStep(at, step, rep, wave) for wave, (at, step, rep) in enumerate(due, start=1)]


def superseded(waves: Iterable[DueStep], wave: int, now: float) -> bool:
    """True if a later repetition of `wave`'s step is also due by `now` (the scheduler was down past
    both): only the latest is sent, so nobody gets the same call several times in a row."""
    waves = list(waves)
    this = next(w for w in waves if w.wave == wave)
    return any(w.step == this.step and w.repetition > this.repetition and w.due <= now for w in waves)


def is_covered(official_id: str, acked: set[str], registry: Mapping[str, Official]) -> bool:
    """An official is covered once they, or their backup, acknowledged."""
    if official_id in acked:
        return True
    official = registry.get(official_id)
    return bool(official and official.backup_id and official.backup_id in acked)


def waiting_for(
    step: Step,
    recipients: Iterable[str],
    acked: set[str],
    registry: Mapping[str, Official],
    schools: Mapping[str, SchoolKey],
    needs_help: Collection[SchoolKey] = (),
) -> list[str]:
    """The recipients a step still fires for (see the module docstring). `schools`: official id -> school,
    as recorded when the alert was sent. `needs_help`: schools (`same_school` keys) whose latest answer to
    the alert's poll is urgent: not reached for a step that stops per school, whoever acknowledged there."""
    recipients = list(recipients)
    if not acked:
        return recipients
    if step.until is Until.OFFICIAL:
        return [r for r in recipients if not is_covered(r, acked, registry)]
    reached = set()
    for official_id in acked:
        key = schools.get(official_id) or school_of(registry.get(official_id))
        if key is not None:
            reached.add(same_school(key))
    reached -= set(needs_help)
    waiting = []
    for r in recipients:
        key = schools.get(r) or school_of(registry.get(r))
        if key is None:
            if not is_covered(r, acked, registry):
                waiting.append(r)
        elif same_school(key) not in reached:
            waiting.append(r)
    return waiting


def step_targets(
    step: Step,
    unacknowledged: Iterable[str],
    registry: Mapping[str, Official],
    schools: Mapping[str, SchoolKey] | None = None,
) -> dict[Channel, list[str]]:
    """Whom this step reaches on each channel: ids of active officials with an address on that channel.
    `schools`: official id -> school as recorded at send time (else the registry's)."""
    schools = schools or {}
    leaders: dict[tuple[str, str], list[str]] = {}
    if Whom.SUPERINTENDENT in step.whom or Whom.REGIONAL_COORDINATOR in step.whom:
        for o in registry.values():
            if o.active and o.role is Role.SUPERINTENDENT:
                leaders.setdefault(("district", o.district.lower()), []).append(o.id)
            elif o.active and o.role is Role.REGIONAL_COORDINATOR:
                leaders.setdefault(("region", o.region.lower()), []).append(o.id)
    staff: dict[SchoolKey, list[str]] = {}
    if Whom.SCHOOL in step.whom:
        for o in registry.values():
            if o.active and (key := school_of(o)) is not None:
                staff.setdefault(same_school(key), []).append(o.id)
    chosen: dict[str, None] = {}
    for official_id in unacknowledged:
        official = registry.get(official_id)
        if official is None:
            continue
        if Whom.OFFICIAL in step.whom:
            chosen[official_id] = None
        if Whom.BACKUP in step.whom and official.backup_id:
            chosen[official.backup_id] = None
        if Whom.SCHOOL in step.whom:
            school = schools.get(official_id) or school_of(official)
            if school is not None:
                chosen.update(dict.fromkeys(sorted(staff.get(same_school(school), []))))
        if Whom.SUPERINTENDENT in step.whom:
            chosen.update(dict.fromkeys(leaders.get(("district", official.district.lower()), [])))
        if Whom.REGIONAL_COORDINATOR in step.whom:
            chosen.update(dict.fromkeys(leaders.get(("region", official.region.lower()), [])))
    targets: dict[Channel, list[str]] = {}
    for channel in step.channels:
        ids = [i for i in chosen if (target := registry.get(i)) and target.active and _has(target, channel)]
        if ids:
            targets[channel] = ids
    return targets


def earlier_step_slots(slots: Iterable[str], waves: Iterable[DueStep], step: int) -> list[str]:
    """The delivery slots ("sms@2", ...) written by waves of steps other than `step` (the failover slot
    "voice@f" and the first fan-out's slots are not steps)."""
    step_of = {w.wave: w.step for w in waves}
    found = []
    for slot in slots:
        _, _, wave = slot.partition("@")
        if wave.isdigit() and int(wave) in step_of and step_of[int(wave)] != step:
            found.append(slot)
    return found


def drop_already_sent(
    targets: Mapping[Channel, list[str]], sent: Mapping[Channel, set[str]]
) -> dict[Channel, list[str]]:
    """A step's targets without whoever an earlier step already sent the alert to on that channel."""
    kept: dict[Channel, list[str]] = {}
    for channel, ids in targets.items():
        left = [i for i in ids if i not in sent.get(channel, set())]
        if left:
            kept[channel] = left
    return kept


def _has(official: Official, channel: Channel) -> bool:
    return bool(
        official.mobile
        if channel is Channel.SMS
        else official.voice
        if channel is Channel.VOICE
        else official.email
    )
