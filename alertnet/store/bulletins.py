"""Cyber bulletins in Redis: each bulletin's record, who it was sent to on each channel, the messages that
carried it, and who opened or downloaded it.

A bulletin's hash holds its JSON and, as fields of their own, its state, version and ``sent_gen``. Every
write that sends it to someone (its first fan-out, a widened marking's new recipients, the digest issue
that carried it) adds those recipients to its sent sets and bumps ``sent_gen`` in the same transaction,
guarded on the version and ``sent_gen`` that were read: nobody is sent a bulletin twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import redis
from redis.asyncio import Redis

from alertnet.domain.bulletins import Bulletin, BulletinState
from alertnet.domain.messages import Channel
from alertnet.store import keys as k

ACCESS_KEPT = 10_000
SADD_CHUNK = 5000

Pipe = Any  # redis.client.Pipeline (the dispatcher's sync transaction) or its asyncio twin


def bulletin_key(bulletin_id: str) -> str:
    return k.BULLETIN_KEY + bulletin_id


def sent_key(bulletin_id: str, channel: Channel) -> str:
    return f"{k.BULLETIN_SENT}{bulletin_id}:{channel.value}"


def guard_of(record: Mapping[str, str]) -> dict[str, str]:
    """The fields a send is guarded on: the version and sent generation that were read."""
    return {"version": record.get("version", ""), "sent_gen": record.get("sent_gen", "")}


def stage_record(pipe: Pipe, bulletin: Bulletin, *, first: bool = False) -> None:
    """Write the bulletin's record (its JSON, state and version); `first` also indexes it."""
    key = bulletin_key(bulletin.id)
    pipe.hset(
        key,
        mapping={"json": bulletin.to_json(), "state": bulletin.state.value, "version": bulletin.version},
    )
    if first:
        pipe.hsetnx(key, "sent_gen", 0)
        pipe.zadd(k.BULLETINS_INDEX, {bulletin.id: bulletin.created})


def stage_sent(
    pipe: Pipe, bulletin_id: str, recipients: Mapping[Channel, Sequence[str]], message_ids: Sequence[str]
) -> None:
    """Record who was sent the bulletin on which channel (for the transaction that sends it)."""
    for channel, ids in recipients.items():
        for start in range(0, len(ids), SADD_CHUNK):
            chunk = ids[start : start + SADD_CHUNK]
            if chunk:
                pipe.sadd(sent_key(bulletin_id, channel), *chunk)
    if message_ids:
        pipe.rpush(k.BULLETIN_MESSAGES + bulletin_id, *message_ids)
    pipe.hincrby(bulletin_key(bulletin_id), "sent_gen", 1)


def stage_sent_in_digest(pipe: Pipe, bulletin_id: str, official_ids: Sequence[str], issue: int) -> None:
    """A digest issue carried the bulletin to these officials (in the digest's own transaction)."""
    stage_sent(pipe, bulletin_id, {Channel.EMAIL: official_ids}, ())
    pipe.hset(bulletin_key(bulletin_id), mapping={"state": BulletinState.SENT.value, "digest_sent": issue})


class BulletinStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def record(self, bulletin_id: str) -> tuple[Bulletin, dict[str, str]] | None:
        """The bulletin and its hash's fields (for a guard), or None."""
        raw = await self.redis.hgetall(bulletin_key(bulletin_id))
        if not raw or b"json" not in raw:
            return None
        fields = {key.decode(): value.decode() for key, value in raw.items()}
        bulletin = Bulletin.from_json(fields["json"])
        return replace(bulletin, state=BulletinState(fields.get("state", bulletin.state.value))), fields

    async def get(self, bulletin_id: str) -> Bulletin | None:
        found = await self.record(bulletin_id)
        return None if found is None else found[0]

    async def ids(self, *, newest_first: bool = True, limit: int = 200) -> list[str]:
        if newest_first:
            members = await self.redis.zrevrange(k.BULLETINS_INDEX, 0, limit - 1)
        else:
            members = await self.redis.zrange(k.BULLETINS_INDEX, 0, limit - 1)
        return [m.decode() for m in members]

    async def sent_to(self, bulletin_id: str, channel: Channel) -> frozenset[str]:
        return frozenset(m.decode() for m in await self.redis.smembers(sent_key(bulletin_id, channel)))

    async def message_ids(self, bulletin_id: str) -> list[str]:
        return [m.decode() for m in await self.redis.lrange(k.BULLETIN_MESSAGES + bulletin_id, 0, -1)]

    async def save_waiting(self, bulletin: Bulletin, stage_item: Any) -> None:
        """Create a bulletin that waits for the digest, with its digest item, in one transaction."""
        async with self.redis.pipeline(transaction=True) as pipe:
            stage_record(pipe, bulletin, first=True)
            stage_item(pipe)
            await pipe.execute()

    async def retract(self, bulletin: Bulletin, *, expected_version: int, also: Any = None) -> bool:
        """Mark the bulletin retracted if it is still at `expected_version` and not retracted (the links
        and exports stop at once). `also(pipe)` adds writes to the same transaction."""
        key = bulletin_key(bulletin.id)
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                state, version = await pipe.hmget(key, ["state", "version"])
                if state is None or state.decode() == BulletinState.RETRACTED.value:
                    return False
                if int(version or 0) != expected_version:
                    return False
                pipe.multi()
                stage_record(pipe, replace(bulletin, state=BulletinState.RETRACTED))
                if also is not None:
                    also(pipe)
                await pipe.execute()
            except redis.WatchError:
                return False
        return True

    async def log_access(self, bulletin_id: str, *, who: str, kind: str, what: str) -> None:
        """One view or download (`kind` "official" or "sender"; `what` page, stix, csv or api)."""
        await self.redis.xadd(
            k.BULLETIN_ACCESS + bulletin_id,
            {"who": who, "kind": kind, "what": what, "at": f"{time.time():.3f}"},
            maxlen=ACCESS_KEPT,
            approximate=True,
        )

    async def access(self, bulletin_id: str) -> list[dict[str, Any]]:
        rows = await self.redis.xrange(k.BULLETIN_ACCESS + bulletin_id)
        out = []
        for _, fields in rows:
            entry = {key.decode(): value.decode() for key, value in fields.items()}
            out.append({**entry, "at": float(entry.get("at", 0))})
        return out

    async def notice_sent(self, bulletin_id: str) -> bool:
        return bool(await self.redis.hget(bulletin_key(bulletin_id), "notice_sent"))


def stage_notice_sent(pipe: Pipe, bulletin_id: str, message_ids: Sequence[str]) -> None:
    pipe.hset(bulletin_key(bulletin_id), "notice_sent", json.dumps(list(message_ids)))
