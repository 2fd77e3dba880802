"""Escalation deliveries a school's acknowledgement made unneeded: a step with `until = "school"` stops for
the whole school once anyone there acknowledged, so its calls (and messages) still waiting in a batch to
officials of a school reached meanwhile are skipped. A call-out takes minutes (one call a second), so
this is checked just before each round of a batch is sent. First deliveries (slots without "@") and the
failover call ("voice@f") are never skipped here. A school whose latest answer to the alert's poll is
urgent ("need help") is not reached, whoever acknowledged there: its escalation goes on."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence

from redis.asyncio import Redis

from alertnet.domain.contacts import Official
from alertnet.domain.escalation import Until, step_from_dict
from alertnet.domain.schools import SchoolKey, decode_school, same_school, school_of
from alertnet.store import keys as k
from alertnet.store.polls import PollStore

GetOfficials = Callable[[list[str]], Awaitable[dict[str, Official]]]


async def school_stops(redis: Redis, message_id: str, slot: str) -> bool:
    """True if `slot` ("voice@3", ...) belongs to a wave whose step stops once the school answered."""
    _, _, wave = slot.partition("@")
    if not wave.isdigit():
        return False
    raw = await redis.get(k.ESCALATION_PLAN + message_id)
    if raw is None:
        return False
    plan = json.loads(raw)
    steps = plan.get("steps")
    info = next((w for w in plan.get("waves", []) if int(w["wave"]) == int(wave)), None)
    if not isinstance(steps, list) or info is None or int(info["step"]) >= len(steps):
        return False  # a plan written before steps were stored: its steps stop per official
    return step_from_dict(steps[int(info["step"])]).until is Until.SCHOOL


async def reached_at_school(
    redis: Redis,
    message_id: str,
    slot: str,
    ids: Sequence[str],
    acked: set[str],
    registry: Mapping[str, Official],
    get_officials: GetOfficials,
) -> set[str]:
    """Which of `ids` (a batch of `slot`) belong to a school one of whose officials acknowledged, when the
    slot's step stops per school; empty otherwise. `registry`: the batch's officials."""
    if not acked or not ids or not await school_stops(redis, message_id, slot):
        return set()
    ackers = sorted(acked)
    raws = await redis.hmget(k.ALERT_SCHOOLS + message_id, [*ackers, *ids])
    recorded = {i: decode_school(r) for i, r in zip([*ackers, *ids], raws, strict=True) if r is not None}
    unknown = [a for a in ackers if a not in recorded]
    others = await get_officials(unknown) if unknown else {}
    reached = set()
    for official_id in ackers:
        key = recorded.get(official_id) or school_of(others.get(official_id))
        if key is not None:
            reached.add(same_school(key))
    reached -= await PollStore(redis).urgent_schools(message_id)  # "need help": keep sending there
    if not reached:
        return set()
    found = set()
    for official_id in ids:
        school: SchoolKey | None = recorded.get(official_id) or school_of(registry.get(official_id))
        if school is not None and same_school(school) in reached:
            found.add(official_id)
    return found
