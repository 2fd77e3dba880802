"""Acknowledgements, open alerts per official, and inbound messages in Redis."""

from __future__ import annotations

import json
import time

from redis.asyncio import Redis

from alertnet.domain.acks import Ack
from alertnet.store import keys as k
from alertnet.store.durable import durable
from alertnet.store.metrics import record_ack_call
from alertnet.store.scripts import NEWEST_OPEN_ALERT, RECORD_ACK
from alertnet.store.webhooks import DONE as HANDLED_DONE
from alertnet.store.webhooks import KEPT_SECONDS as HANDLED_KEPT_SECONDS

OPEN_ALERT_MAX_AGE_SECONDS = 7 * 86400


class AckStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._newest_open = redis.register_script(NEWEST_OPEN_ALERT)
        self._record = redis.register_script(RECORD_ACK)

    async def record(self, ack: Ack, *, handled: str | None = None) -> bool:
        """Store the first ack of an official for an alert; a second one changes nothing (returns False).
        `handled`: the marker of the provider request that carried it, set done in the same transaction."""
        keys, args = record_ack_call(ack)  # HSETNX, and the ack metrics when it is the first
        if handled is None:
            first = await self._record(keys=keys, args=args)
            await durable(self.redis)
            return bool(first)
        async with self.redis.pipeline(transaction=True) as pipe:
            await self._record(keys=keys, args=args, client=pipe)
            pipe.set(handled, HANDLED_DONE, ex=HANDLED_KEPT_SECONDS)
            first, _ = await pipe.execute()
        await durable(self.redis)
        return bool(first)

    async def acks(self, alert_id: str) -> dict[str, Ack]:
        raw = await self.redis.hgetall(k.ACKS_KEY + alert_id)
        return {key.decode(): Ack.from_json(value) for key, value in raw.items()}

    async def counts(self, alert_id: str) -> tuple[int, int]:
        """(acknowledged, recipients) of an alert: two O(1) reads, for live views."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hlen(k.ACKS_KEY + alert_id)
            pipe.scard(k.RECIPIENTS_KEY + alert_id)
            acked, recipients = await pipe.execute()
        return int(acked), int(recipients)

    async def acked_ids(self, alert_id: str) -> set[str]:
        return {key.decode() for key in await self.redis.hkeys(k.ACKS_KEY + alert_id)}

    async def recipients(self, alert_id: str) -> set[str]:
        return {m.decode() for m in await self.redis.smembers(k.RECIPIENTS_KEY + alert_id)}

    async def newest_open_alert(self, official_ids: list[str]) -> tuple[str, str] | None:
        """(alert id, official id) of the newest open alert that reached one of these officials and that
        they have not acknowledged."""
        if not official_ids:
            return None
        # An alert left unanswered for a week is not what a bare "1" today means.
        oldest = time.time() - OPEN_ALERT_MAX_AGE_SECONDS
        found = await self._newest_open(
            keys=[k.ACK_OPEN],
            args=[oldest, k.RECIPIENTS_KEY, k.REACHED_KEY, k.ACKS_KEY, *official_ids],
        )
        return (found[0].decode(), found[1].decode()) if found else None

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

    async def inbound_since(self, since: float, limit: int) -> list[tuple[float, list[str], str]]:
        """The newest inbound SMS (not acknowledgements) received since `since`, newest first: (time,
        ids of the officials with the sending number, text)."""
        entries = await self.redis.xrevrange(k.INBOUND_STREAM, min=f"{int(since * 1000)}-0", count=limit)
        out = []
        for _, fields in entries:
            data = {key.decode(): value.decode() for key, value in fields.items()}
            officials = [str(i) for i in json.loads(data.get("officials", "[]"))]
            out.append((float(data.get("ts", 0)), officials, data.get("body", "")))
        return out

    async def contacted(self, alert_id: str, official_ids: list[str]) -> set[str]:
        """Which of these officials the alert went to, first or by escalation."""
        if not official_ids:
            return set()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.smismember(k.RECIPIENTS_KEY + alert_id, official_ids)
            pipe.smismember(k.REACHED_KEY + alert_id, official_ids)
            first, escalated = await pipe.execute()
        return {i for i, a, b in zip(official_ids, first, escalated, strict=True) if a or b}

    async def set_opt_out(self, number: str, opted_out: bool) -> None:
        if opted_out:
            await self.redis.sadd(k.SMS_OPT_OUT, number)
        else:
            await self.redis.srem(k.SMS_OPT_OUT, number)

    async def was_contacted(self, alert_id: str, official_id: str) -> bool:
        """True if the alert went to this official, first or by escalation."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.sismember(k.RECIPIENTS_KEY + alert_id, official_id)
            pipe.sismember(k.REACHED_KEY + alert_id, official_id)
            first, escalated = await pipe.execute()
        return bool(first or escalated)

    async def close(self, alert_id: str) -> None:
        """A closed alert (cancelled, all clear) is no longer what a bare "1" acknowledges."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(k.ACK_OPEN, alert_id)
            pipe.zrem(k.POLL_OPEN, alert_id)
            await pipe.execute()
