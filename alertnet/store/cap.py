"""CAP 1.2 in Redis: which CAP messages were taken in (each sends once) and which alerts are public.

A CAP message is claimed ("pending", for `CLAIM_SECONDS`) before it is sent; the alert's fan-out
transaction then writes the alert id in its place (`stage_cap`), so a message is marked taken exactly when
its alert is stored and queued. A refusal releases the claim; a process that dies while sending leaves it
to expire.
"""

from __future__ import annotations

import redis
from redis.asyncio import Redis

from alertnet.store import keys as k

PENDING = "pending"
CLAIM_SECONDS = 120
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def stage_cap(
    pipe: redis.client.Pipeline, *, alert_id: str, created: float, public: bool, origin_key: str
) -> None:
    """Queue on the fan-out's transaction: the alert in the public index, the CAP message it came from."""
    if public:
        pipe.zadd(k.ALERTS_PUBLIC, {alert_id: created})
    if origin_key:
        pipe.set(k.CAP_TAKEN + origin_key, alert_id)


class CapStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._release = redis.register_script(RELEASE)

    async def claim(self, origin_key: str) -> str | None:
        """Claim a CAP message for sending: None if it is ours now, else the alert id it was sent as
        (or `PENDING` while another request sends it)."""
        key = k.CAP_TAKEN + origin_key
        if await self.redis.set(key, PENDING, nx=True, ex=CLAIM_SECONDS):
            return None
        found = await self.redis.get(key)
        return PENDING if found is None else found.decode()

    async def taken_as(self, origin_key: str) -> str | None:
        """The alert id a CAP message was sent as, or None (also while it is being sent)."""
        found = await self.redis.get(k.CAP_TAKEN + origin_key)
        value = None if found is None else found.decode()
        return None if value in (None, PENDING) else value

    async def settle(self, origin_key: str, alert_id: str) -> None:
        """Mark a claimed message taken as `alert_id` (an alert held for approval has its id already)."""
        await self.redis.set(k.CAP_TAKEN + origin_key, alert_id)

    async def release(self, origin_key: str) -> None:
        """Give a claim up (the message was refused): it may be posted again."""
        await self._release(keys=[k.CAP_TAKEN + origin_key], args=[PENDING])

    async def public_ids(self, limit: int) -> list[str]:
        """The newest public alerts' ids, newest first."""
        return [raw.decode() for raw in await self.redis.zrevrange(k.ALERTS_PUBLIC, 0, limit - 1)]
