"""Escalation policies (pure): which steps are due when, and whom each step reaches.

A policy is chosen by the alert's severity and status. The alert's own channels go out at once; each step
fires `after` seconds from the alert, for officials who have not acknowledged (an ack by the official or
by their backup counts), and again `repeat` times every `every` seconds.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from alertnet.domain.contacts import Official, Role
from alertnet.domain.errors import FieldError
from alertnet.domain.messages import Channel


class Whom(StrEnum):
    OFFICIAL = "official"
    BACKUP = "backup"
    SUPERINTENDENT = "superintendent"
    REGIONAL_COORDINATOR = "regional_coordinator"


@dataclass(frozen=True)
class Step:
    after: float
    channels: tuple[Channel, ...]
    whom: tuple[Whom, ...]
    repeat: int = 0
    every: float = 0.0


@dataclass(frozen=True)
class Policy:
    name: str
    severities: frozenset[str]
    statuses: frozenset[str]
    steps: tuple[Step, ...]


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
                )
            )
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
            )
        )
    if errors:
        raise PolicyError(errors)
    return policies


def choose_policy(policies: Iterable[Policy], severity: str, status: str) -> Policy | None:
    return next((p for p in policies if severity in p.severities and status in p.statuses), None)


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


def step_targets(
    step: Step, unacknowledged: Iterable[str], registry: Mapping[str, Official]
) -> dict[Channel, list[str]]:
    """Whom this step reaches on each channel: ids of active officials with an address on that channel."""
    leaders: dict[tuple[str, str], list[str]] = {}
    if Whom.SUPERINTENDENT in step.whom or Whom.REGIONAL_COORDINATOR in step.whom:
        for o in registry.values():
            if o.active and o.role is Role.SUPERINTENDENT:
                leaders.setdefault(("district", o.district.lower()), []).append(o.id)
            elif o.active and o.role is Role.REGIONAL_COORDINATOR:
                leaders.setdefault(("region", o.region.lower()), []).append(o.id)
    chosen: dict[str, None] = {}
    for official_id in unacknowledged:
        official = registry.get(official_id)
        if official is None:
            continue
        if Whom.OFFICIAL in step.whom:
            chosen[official_id] = None
        if Whom.BACKUP in step.whom and official.backup_id:
            chosen[official.backup_id] = None
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


def _has(official: Official, channel: Channel) -> bool:
    return bool(
        official.mobile
        if channel is Channel.SMS
        else official.voice
        if channel is Channel.VOICE
        else official.email
    )
