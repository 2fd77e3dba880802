"""Alerts and their deliveries in Redis: the signed record, escalation timers, reads, and state moves
(by Lua script). Writes made at fan-out are staged on the fan-out's transaction (`stage_alert`)."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.asyncio import Redis

from alertnet.domain.deliveries import AlertProgress, Delivery, DeliveryState, delivery_id
from alertnet.domain.messages import Channel
from alertnet.domain.schools import SchoolKey, decode_school
from alertnet.store import keys as k
from alertnet.store.durable import durable
from alertnet.store.scripts import TRANSITION

HSET_CHUNK = 2000
PROVIDER_ID_DAYS = 2  # how long the hub remembers whose a provider id is (`AlertStore.move`)
RECORDS_KEPT = 64  # signed records a process keeps (an alert's acks and answers each read it)


@dataclass(frozen=True)
class StateMove:
    """One requested delivery transition; applied only if the delivery is in one of `allowed_from`."""

    official_id: str
    to: DeliveryState
    allowed_from: frozenset[DeliveryState]
    provider_id: str = ""
    reason: str = ""


def stage_alert(
    pipe: redis.client.Pipeline,
    alert_id: str,
    record_json: str,
    *,
    created: float,
    code: str,
    recipients: Sequence[str],
    wants_ack: bool,
    escalation: Sequence[tuple[str, float]] = (),
    plan_json: str = "",
    schools: Mapping[str, str] | None = None,
    asks: bool = False,
) -> None:
    """Queue an alert's writes on the fan-out's transaction: the signed record, the index by time, the
    verification code, whom it went to (and the school of each who belongs to one: official id -> encoded
    (district, school)), whether a bare "1" may still acknowledge it, and its escalation timers (member
    "alert_id|wave" -> due time) with their plan."""
    pipe.set(k.ALERT_KEY + alert_id, record_json)
    pipe.zadd(k.ALERTS_INDEX, {alert_id: created})
    if code:
        pipe.set(k.CODE_KEY + code, alert_id)
    for start in range(0, len(recipients), HSET_CHUNK):
        pipe.sadd(k.RECIPIENTS_KEY + alert_id, *recipients[start : start + HSET_CHUNK])
    school_items = list((schools or {}).items())
    for start in range(0, len(school_items), HSET_CHUNK):
        pipe.hset(k.ALERT_SCHOOLS + alert_id, mapping=dict(school_items[start : start + HSET_CHUNK]))
    if wants_ack:
        pipe.zadd(k.ACK_OPEN, {alert_id: created})
    if asks:  # a status check: a bare digit looks among these only (`store.polls`)
        pipe.zadd(k.POLL_OPEN, {alert_id: created})
    if escalation:
        pipe.zadd(k.ESCALATION_DUE, dict(escalation))
        pipe.set(k.ESCALATION_PLAN + alert_id, plan_json)


class AlertStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._transition = redis.register_script(TRANSITION)
        self._records: OrderedDict[str, bytes] = OrderedDict()

    async def get_record(self, alert_id: str) -> dict[str, Any] | None:
        """The stored signed alert record, or None. A record is written once, with its fan-out, and never
        changed, so the newest few read are kept (as stored: each caller gets its own copy); an alert not
        found is asked for again next time."""
        raw = self._records.get(alert_id)
        if raw is None:
            raw = await self.redis.get(k.ALERT_KEY + alert_id)
            if raw is None:
                return None
            self._records[alert_id] = raw
            while len(self._records) > RECORDS_KEPT:
                self._records.popitem(last=False)
        else:
            self._records.move_to_end(alert_id)
        return dict(json.loads(raw))

    async def escalation_plan(self, alert_id: str) -> dict[str, Any] | None:
        """The alert's escalation plan ({policy, waves}), or None when it escalates no further."""
        raw = await self.redis.get(k.ESCALATION_PLAN + alert_id)
        return None if raw is None else dict(json.loads(raw))

    async def schools(self, alert_id: str) -> dict[str, SchoolKey]:
        """Official id -> (district, school) of the alert's first recipients who belong to a school."""
        raw = await self.redis.hgetall(k.ALERT_SCHOOLS + alert_id)
        return {key.decode(): decode_school(value) for key, value in raw.items()}

    async def schools_of(self, alert_id: str, official_ids: Sequence[str]) -> dict[str, SchoolKey]:
        """`schools`, for these officials only."""
        if not official_ids:
            return {}
        raws = await self.redis.hmget(k.ALERT_SCHOOLS + alert_id, list(official_ids))
        return {i: decode_school(r) for i, r in zip(official_ids, raws, strict=True) if r is not None}

    async def slot_ids(self, alert_id: str, slots: Sequence[str]) -> dict[str, set[str]]:
        """Official ids with a delivery in each of these slots."""
        if not slots:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for slot in slots:
                pipe.hkeys(k.DELIVERY_KEY + f"{alert_id}:{slot}")
            found = await pipe.execute()
        return {slot: {i.decode() for i in ids} for slot, ids in zip(slots, found, strict=True)}

    async def slots(self, alert_id: str) -> list[str]:
        """Every delivery slot of a message ("sms", "voice@2", ...)."""
        return [key.decode() for key in await self.redis.hkeys(k.TOTALS_KEY + alert_id)]

    async def escalation_waiting(self, alert_id: str, waves: Sequence[int]) -> tuple[set[int], set[int]]:
        """Which of the alert's escalation waves are still due, and which a scheduler is firing now."""
        if not waves:
            return set(), set()
        members = [f"{alert_id}|{wave}" for wave in waves]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zmscore(k.ESCALATION_DUE, members)
            pipe.zmscore(k.ESCALATION_FIRING, members)
            due, firing = await pipe.execute()
        return (
            {w for w, score in zip(waves, due, strict=True) if score is not None},
            {w for w, score in zip(waves, firing, strict=True) if score is not None},
        )

    async def all_deliveries(self, alert_id: str) -> dict[str, dict[str, Delivery]]:
        """Every delivery of a message, by slot ("sms", "voice@2", ...) then official id (for reports)."""
        slots = [key.decode() for key in await self.redis.hkeys(k.TOTALS_KEY + alert_id)]
        out: dict[str, dict[str, Delivery]] = {}
        for slot in slots:
            raw = await self.redis.hgetall(k.DELIVERY_KEY + f"{alert_id}:{slot}")
            out[slot] = {key.decode(): Delivery.from_json(value) for key, value in raw.items()}
        return out

    async def claim_once(self, key: str, seconds: float) -> bool:
        """True for the first caller within `seconds` (a double click does a thing once)."""
        return bool(await self.redis.set(key, "1", nx=True, ex=max(1, int(seconds))))

    async def closed_reason(self, alert_id: str) -> str | None:
        """Why the alert's escalation ended (cancelled, all clear), or None while it is open."""
        raw = await self.redis.get(k.CLOSED_KEY + alert_id)
        return None if raw is None else str(raw.decode())

    async def claim_close(self, alert_id: str, reason: str) -> bool:
        """Mark the alert closed unless it already is (atomic: of two closers, one wins)."""
        return bool(await self.redis.set(k.CLOSED_KEY + alert_id, reason, nx=True))

    async def release_close(self, alert_id: str) -> None:
        """Undo a `claim_close` whose closing message could not be sent."""
        await self.redis.delete(k.CLOSED_KEY + alert_id)

    async def statuses(self, alert_ids: Iterable[str]) -> dict[str, str | None]:
        """Each alert's CAP status (Actual, Exercise, Test), or None for an id that names no alert."""
        found: dict[str, str | None] = {}
        for alert_id in alert_ids:
            record = await self.get_record(alert_id)
            found[alert_id] = None if record is None else str(record["alert"]["status"])
        return found

    async def reached_by_escalation(self, alert_id: str) -> dict[str, set[Channel]]:
        """The officials escalation steps reached (slots "sms@2", "voice@f", ...), with their channels."""
        reached: dict[str, set[Channel]] = {}
        for slot in (key.decode() for key in await self.redis.hkeys(k.TOTALS_KEY + alert_id)):
            if "@" not in slot:
                continue
            channel = Channel(slot.split("@")[0])
            for official_id in await self.delivery_ids(alert_id, slot):
                reached.setdefault(official_id, set()).add(channel)
        return reached

    async def close(self, alert_id: str, reason: str) -> None:
        """End the alert's escalation: mark it closed with `reason` and drop its timers."""
        plan = await self.escalation_plan(alert_id)
        members = [f"{alert_id}|{w['wave']}" for w in plan["waves"]] if plan else []
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(k.CLOSED_KEY + alert_id, reason)
            if members:
                pipe.zrem(k.ESCALATION_DUE, *members)
            await pipe.execute()

    async def progress(self, alert_id: str) -> AlertProgress:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.TOTALS_KEY + alert_id)
            pipe.hgetall(k.COUNTS_KEY + alert_id)
            raw_totals, raw_counts = await pipe.execute()
        totals = {key.decode(): int(v) for key, v in raw_totals.items()}
        counts: dict[str, dict[str, int]] = {channel: {} for channel in totals}
        for key, value in raw_counts.items():
            channel, state = key.decode().split(":", 1)
            if int(value):
                counts.setdefault(channel, {})[state] = int(value)
        return AlertProgress(totals=totals, counts=counts)

    async def deliveries(self, alert_id: str, channel: str) -> dict[str, Delivery]:
        raw = await self.redis.hgetall(k.DELIVERY_KEY + f"{alert_id}:{channel}")
        return {key.decode(): Delivery.from_json(value) for key, value in raw.items()}

    async def delivery_ids(self, alert_id: str, channel: str) -> set[str]:
        """Ids of the officials with a delivery on this alert's `channel` slot."""
        return {key.decode() for key in await self.redis.hkeys(k.DELIVERY_KEY + f"{alert_id}:{channel}")}

    async def get_deliveries(self, alert_id: str, channel: str, ids: Sequence[str]) -> dict[str, Delivery]:
        if not ids:
            return {}
        raws = await self.redis.hmget(k.DELIVERY_KEY + f"{alert_id}:{channel}", list(ids))
        return {i: Delivery.from_json(r) for i, r in zip(ids, raws, strict=True) if r is not None}

    async def move(
        self,
        alert_id: str,
        channel: str,
        moves: Iterable[StateMove],
        *,
        claim_cutoff: float = 0.0,
        index_provider_ids: bool = False,
    ) -> list[bool]:
        """Apply transitions atomically; returns, per move, whether it was applied. With
        `index_provider_ids`, each applied move that carries a provider id also records whose that id is
        (provider id -> delivery id, kept `PROVIDER_ID_DAYS`) in the same step."""
        index = k.PROVIDER_INDEX if index_provider_ids else ""
        argv: list[str | float] = [
            channel,
            time.time(),
            claim_cutoff,
            index,
            PROVIDER_ID_DAYS * 86400,
            delivery_id(alert_id, channel, ""),
        ]
        count = 0
        for m in moves:
            argv += [
                m.official_id,
                m.to.value,
                ",".join(s.value for s in m.allowed_from),
                m.provider_id,
                m.reason,
            ]
            count += 1
        if not count:
            return []
        keys = [k.DELIVERY_KEY + f"{alert_id}:{channel}", k.COUNTS_KEY + alert_id, k.METRICS_DELIVERIES]
        result = await self._transition(keys=keys, args=argv)
        await durable(self.redis)  # a claim on a replica before anything is sent
        return [bool(x) for x in result]

    async def recent_alert_ids(self, limit: int = 50) -> list[str]:
        return [m.decode() for m in await self.redis.zrevrange(k.ALERTS_INDEX, 0, limit - 1)]
