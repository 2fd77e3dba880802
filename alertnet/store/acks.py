"""Acknowledgements, open alerts per official, and inbound messages in Redis."""

from __future__ import annotations

import json
import time

from redis.asyncio import Redis

from alertnet import constants as k
from alertnet.acks import Ack

OPEN_ALERT_MAX_AGE_SECONDS = 7 * 86400


class AckStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def record(self, ack: Ack) -> bool:
        """Store the first ack of an official for an alert; a second one changes nothing (returns False)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(k.ACKS_KEY + ack.alert_id, ack.official_id, ack.to_json())
            pipe.zrem(k.OPEN_ALERTS_KEY + ack.official_id, ack.alert_id)
            first, _ = await pipe.execute()
        return bool(first)

    async def acks(self, alert_id: str) -> dict[str, Ack]:
        raw = await self.redis.hgetall(k.ACKS_KEY + alert_id)
        return {key.decode(): Ack.from_json(value) for key, value in raw.items()}

    async def acked_ids(self, alert_id: str) -> set[str]:
        return {key.decode() for key in await self.redis.hkeys(k.ACKS_KEY + alert_id)}

    async def recipients(self, alert_id: str) -> set[str]:
        return {m.decode() for m in await self.redis.smembers(k.RECIPIENTS_KEY + alert_id)}

    async def newest_open_alert(self, official_ids: list[str]) -> tuple[str, str] | None:
        """(alert id, official id) of the newest unacknowledged alert of any of these officials."""
        best: tuple[float, str, str] | None = None
        for official_id in official_ids:
            key = k.OPEN_ALERTS_KEY + official_id
            # An alert left unanswered for a week is not what a bare "1" today means.
            await self.redis.zremrangebyscore(key, 0, time.time() - OPEN_ALERT_MAX_AGE_SECONDS)
            found = await self.redis.zrevrange(key, 0, 0, withscores=True)
            if found:
                alert_id, score = found[0]
                if best is None or score > best[0]:
                    best = (score, alert_id.decode(), official_id)
        return None if best is None else (best[1], best[2])

    async def alert_for_code(self, code: str) -> str | None:
        raw = await self.redis.get(k.CODE_KEY + code)
        return raw.decode() if raw else None

    async def keep_inbound(self, *, from_hash: str, official_ids: list[str], body: str) -> None:
        await self.redis.xadd(
            k.INBOUND_STREAM,
            {
                "ts": f"{time.time():.3f}",
                "from": from_hash,
                "officials": json.dumps(official_ids),
                "body": body[:1600],
            },
            maxlen=100_000,
            approximate=True,
        )

    async def set_opt_out(self, number: str, opted_out: bool) -> None:
        if opted_out:
            await self.redis.sadd(k.SMS_OPT_OUT, number)
        else:
            await self.redis.srem(k.SMS_OPT_OUT, number)

    async def was_contacted(self, alert_id: str, official_id: str) -> bool:
        """True if the alert went to this official, first or by escalation (an open-alert entry exists or
        existed: acked officials keep their ack)."""
        if await self.redis.sismember(k.RECIPIENTS_KEY + alert_id, official_id):
            return True
        if await self.redis.zscore(k.OPEN_ALERTS_KEY + official_id, alert_id) is not None:
            return True
        return bool(await self.redis.hexists(k.ACKS_KEY + alert_id, official_id))
