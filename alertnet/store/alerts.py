"""Alerts and their deliveries in Redis (async side: reads, and state moves by Lua script)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from alertnet import constants as k
from alertnet.deliveries import FINAL_STATES, Delivery, DeliveryState
from alertnet.store.scripts import TRANSITION


@dataclass(frozen=True)
class StateMove:
    """One requested delivery transition; applied only if the delivery is in one of `allowed_from`."""

    official_id: str
    to: DeliveryState
    allowed_from: frozenset[DeliveryState]
    provider_id: str = ""
    reason: str = ""


@dataclass(frozen=True)
class AlertProgress:
    totals: dict[str, int]
    counts: dict[str, dict[str, int]]

    @property
    def settled(self) -> bool:
        """True once every delivery of every channel is in a final state."""
        for channel, total in self.totals.items():
            done = sum(n for state, n in self.counts.get(channel, {}).items() if state in FINAL_STATES)
            if done < total:
                return False
        return True


class AlertStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._transition = redis.register_script(TRANSITION)

    async def get_record(self, alert_id: str) -> dict[str, Any] | None:
        """The stored signed alert record, or None."""
        raw = await self.redis.get(k.ALERT_KEY + alert_id)
        return None if raw is None else dict(json.loads(raw))

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
        self, alert_id: str, channel: str, moves: Iterable[StateMove], *, claim_cutoff: float = 0.0
    ) -> list[bool]:
        """Apply transitions atomically; returns, per move, whether it was applied."""
        argv: list[str | float] = [channel, time.time(), claim_cutoff]
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
        keys = [k.DELIVERY_KEY + f"{alert_id}:{channel}", k.COUNTS_KEY + alert_id]
        result = await self._transition(keys=keys, args=argv)
        return [bool(x) for x in result]

    async def recent_alert_ids(self, limit: int = 50) -> list[str]:
        return [m.decode() for m in await self.redis.zrevrange(k.ALERTS_INDEX, 0, limit - 1)]
