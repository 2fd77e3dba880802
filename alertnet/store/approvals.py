"""Alerts held for a second director, in Redis. A decision is claimed once (SET NX), so two directors
approving at the same moment, or an approval racing the fallback, send the alert once."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from alertnet.domain.approvals import HeldAlert
from alertnet.store import keys as k

KEPT_SECONDS = 30 * 86400


class ApprovalStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def hold(self, held: HeldAlert) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(k.APPROVAL_KEY + held.alert.id, json.dumps(held.to_dict()), ex=KEPT_SECONDS)
            pipe.zadd(k.APPROVALS_PENDING, {held.alert.id: held.created})
            await pipe.execute()

    async def get(self, alert_id: str) -> HeldAlert | None:
        raw = await self.redis.get(k.APPROVAL_KEY + alert_id)
        return None if raw is None else HeldAlert.from_dict(json.loads(raw))

    async def pending(self, older_than: float | None = None) -> list[str]:
        """Ids of held alerts still undecided, oldest first (held before `older_than` if given)."""
        top = "+inf" if older_than is None else older_than
        return [m.decode() for m in await self.redis.zrangebyscore(k.APPROVALS_PENDING, "-inf", top)]

    async def claim(self, alert_id: str) -> bool:
        """True for the one request that may decide this alert."""
        return bool(
            await self.redis.set(k.APPROVAL_KEY + alert_id + ":decided", "1", nx=True, ex=KEPT_SECONDS)
        )

    async def claim_page(self, alert_id: str) -> bool:
        """True for the one scheduler tick that pages the other directors about this held alert."""
        return bool(
            await self.redis.set(k.APPROVAL_KEY + alert_id + ":paged", "[]", nx=True, ex=KEPT_SECONDS)
        )

    async def paged(self, alert_id: str, names: list[str] | None = None) -> list[str]:
        """Record (with `names`) or read whom the hub paged about this held alert."""
        key = k.APPROVAL_KEY + alert_id + ":paged"
        if names is not None:
            await self.redis.set(key, json.dumps(names), ex=KEPT_SECONDS)
            return names
        raw = await self.redis.get(key)
        return [str(n) for n in json.loads(raw)] if raw else []

    async def release(self, alert_id: str) -> None:
        """The decision failed before anything was sent: let it be decided again."""
        await self.redis.delete(k.APPROVAL_KEY + alert_id + ":decided")

    async def decided(self, held: HeldAlert) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(k.APPROVAL_KEY + held.alert.id, json.dumps(held.to_dict()), ex=KEPT_SECONDS)
            pipe.zrem(k.APPROVALS_PENDING, held.alert.id)
            await pipe.execute()
