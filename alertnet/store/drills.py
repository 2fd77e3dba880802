"""Notification drills in Redis: the plan, its alerts (with each first recipient's district as recorded
when the alert was sent) and its improvement plan. Every key starts with `keys.DRILL`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from alertnet.store import keys as k
from alertnet.store.durable import durable

RECORD = k.DRILL + "rec:"  # + drill id -> JSON (the plan)
INDEX = k.DRILL + "index"  # zset drill id -> window start
ALERTS = k.DRILL + "alerts:"  # + drill id -> zset alert id -> sent time
DISTRICTS = k.DRILL + "districts:"  # + alert id -> hash official id -> district (at send time)
PLAN = k.DRILL + "plan:"  # + drill id -> hash row number -> JSON improvement row
PLAN_SEQ = k.DRILL + "plan-seq:"  # + drill id -> the last row number given


class DrillStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def create(self, drill: Mapping[str, Any]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(RECORD + drill["id"], json.dumps(drill, separators=(",", ":")))
            pipe.zadd(INDEX, {drill["id"]: float(drill["start"])})
            await pipe.execute()
        await durable(self.redis)

    async def get(self, drill_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(RECORD + drill_id)
        return None if raw is None else dict(json.loads(raw))

    async def starting_between(self, low: float, high: float) -> list[str]:
        """Ids of the drills whose window starts in [low, high), oldest first."""
        found = await self.redis.zrangebyscore(INDEX, low, f"({high}")
        return [m.decode() for m in found]

    async def link_alert(
        self, drill_id: str, alert_id: str, sent: float, districts: Mapping[str, str]
    ) -> None:
        """Record the alert as the drill's, with its first recipients' districts as they were at sending."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(ALERTS + drill_id, {alert_id: sent})
            if districts:
                pipe.hset(DISTRICTS + alert_id, mapping=dict(districts))
            await pipe.execute()
        await durable(self.redis)

    async def alerts(self, drill_id: str) -> list[tuple[str, float]]:
        """(alert id, sent time) of the drill's alerts, oldest first."""
        found = await self.redis.zrange(ALERTS + drill_id, 0, -1, withscores=True)
        return [(m.decode(), float(score)) for m, score in found]

    async def districts(self, alert_id: str) -> dict[str, str]:
        raw = await self.redis.hgetall(DISTRICTS + alert_id)
        return {key.decode(): value.decode() for key, value in raw.items()}

    async def improvements(self, drill_id: str) -> list[dict[str, Any]]:
        """The improvement plan's rows in the order they were added."""
        raw = await self.redis.hgetall(PLAN + drill_id)
        rows = [dict(json.loads(value)) for value in raw.values()]
        return sorted(rows, key=lambda r: int(r["n"]))

    async def add_improvement(self, drill_id: str, row: Mapping[str, str]) -> dict[str, Any]:
        n = int(await self.redis.incr(PLAN_SEQ + drill_id))
        stored = {"n": n, **row}
        await self.redis.hset(PLAN + drill_id, str(n), json.dumps(stored, separators=(",", ":")))
        await durable(self.redis)
        return stored

    async def improvement(self, drill_id: str, n: int) -> dict[str, Any] | None:
        raw = await self.redis.hget(PLAN + drill_id, str(n))
        return None if raw is None else dict(json.loads(raw))

    async def save_improvement(self, drill_id: str, row: Mapping[str, Any]) -> None:
        await self.redis.hset(PLAN + drill_id, str(row["n"]), json.dumps(dict(row), separators=(",", ":")))
        await durable(self.redis)

    async def alert_ids_between(self, low: float, high: float) -> list[str]:
        """Ids of every alert created in [low, high) (the hub's index of alerts), oldest first."""
        found = await self.redis.zrangebyscore(k.ALERTS_INDEX, low, f"({high}")
        return [m.decode() for m in found]
