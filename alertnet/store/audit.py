"""The audit trail: an append-only Redis stream of every accepted or refused action, and a capped one
of requests refused for their credentials (anyone can send those, so they must not grow the trail)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from redis.asyncio import Redis

from alertnet.domain.audit_chain import GENESIS, entry_hash
from alertnet.store import keys as k
from alertnet.store.scripts import APPEND_CHAINED

REFUSALS_PER_MINUTE = 30
CHAIN_PAGE = 5000
REFUSALS_KEPT = 100_000
ENTRY_FIELD_MAX = 200


class AuditLog:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._append = redis.register_script(APPEND_CHAINED)
        # Group commit: entries recorded while an append is in flight go together in the next one, so
        # the chain keeps one order without one Redis round trip per entry in a row.
        self._appending = asyncio.Lock()
        self._pending: list[tuple[dict[str, str], asyncio.Future[str]]] = []
        self._head: str | None = None  # the chain's end after this process's last append

    async def record(self, *, actor: str, action: str, outcome: str, **detail: Any) -> str:
        """Append one entry to the hash chain; returns its stream id. Never trimmed: the trail is the
        evidence, and each entry carries the hash of the one before it (`alertnet audit verify`)."""
        entry = {
            "ts": f"{time.time():.3f}",
            "actor": actor,
            "action": action,
            "outcome": outcome,
            "detail": json.dumps(detail, sort_keys=True, default=str),
        }
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, done))
        async with self._appending:
            if not done.done():
                batch, self._pending = self._pending, []
                try:
                    await self._append_batch(batch)
                except BaseException as error:
                    for _, waiting in batch:
                        if not waiting.done():
                            waiting.set_exception(
                                error
                                if isinstance(error, Exception)
                                else RuntimeError("audit append stopped")
                            )
                    if not isinstance(error, Exception):
                        raise
        return await done

    async def _append_batch(self, batch: list[tuple[dict[str, str], asyncio.Future[str]]]) -> None:
        while True:
            prev = self._head
            if prev is None:
                head = await self.redis.get(k.AUDIT_HEAD)
                prev = GENESIS if head is None else head.decode()
            args: list[str] = [prev, str(2 * len(batch[0][0]))]
            last = prev
            for entry, _ in batch:
                last = entry_hash(last, entry)
                args += [last, *(part for item in entry.items() for part in item)]
            ids = await self._append(keys=[k.AUDIT_STREAM, k.AUDIT_HEAD], args=args)
            if ids:
                self._head = last
                for (_, waiting), entry_id in zip(batch, ids, strict=True):
                    waiting.set_result(entry_id.decode())
                return
            self._head = None  # another process appended since: read the chain's end again

    async def chain(self) -> tuple[list[tuple[str, dict[str, str]]], str | None]:
        """Every entry (id, fields), oldest first, and the chain's head."""
        entries: list[tuple[str, dict[str, str]]] = []
        start = "-"
        while True:
            rows = await self.redis.xrange(k.AUDIT_STREAM, min=start, max="+", count=CHAIN_PAGE)
            for entry_id, fields in rows:
                entries.append((entry_id.decode(), {key.decode(): v.decode() for key, v in fields.items()}))
            if len(rows) < CHAIN_PAGE:
                break
            start = "(" + rows[-1][0].decode()
        head = await self.redis.get(k.AUDIT_HEAD)
        return entries, None if head is None else head.decode()

    async def newest_entry(self) -> tuple[str, str] | None:
        """(id, hash) of the newest chained entry, or None."""
        rows = await self.redis.xrevrange(k.AUDIT_STREAM, count=1)
        if not rows or b"hash" not in rows[0][1]:
            return None
        return rows[0][0].decode(), rows[0][1][b"hash"].decode()

    async def save_checkpoint(self, entry_id: str, hash_: str, signature: str, key_id: str) -> None:
        value = json.dumps({"hash": hash_, "signature": signature, "key_id": key_id})
        await self.redis.hset(k.AUDIT_CHECKPOINTS, entry_id, value)

    async def checkpoints(self) -> dict[str, dict[str, str]]:
        """Signed checkpoints by entry id: {hash, signature, key_id}."""
        raw = await self.redis.hgetall(k.AUDIT_CHECKPOINTS)
        return {key.decode(): json.loads(value) for key, value in raw.items()}

    async def record_refusal(self, *, client: str, action: str, reason: str) -> bool:
        """Append one refused request to its own capped stream, at most `REFUSALS_PER_MINUTE` a minute
        per client address, each entry capped in size; returns whether it was written."""
        bucket = f"{k.AUDIT_REFUSED_RATE}{client[:64]}:{int(time.time() // 60)}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(bucket)
            pipe.expire(bucket, 120)
            count, _ = await pipe.execute()
        if int(count) > REFUSALS_PER_MINUTE:
            return False
        entry = {
            "ts": f"{time.time():.3f}",
            "actor": "unauthenticated",
            "client": client[:64],
            "action": action[:ENTRY_FIELD_MAX],
            "outcome": "unauthorized",
            "detail": json.dumps({"reason": reason[:ENTRY_FIELD_MAX]}),
        }
        await self.redis.xadd(k.AUDIT_REFUSED_STREAM, entry, maxlen=REFUSALS_KEPT, approximate=True)
        return True

    async def recent(self, count: int = 100, *, refused: bool = False) -> list[dict[str, Any]]:
        """The newest entries, newest first: of the trail, or (`refused`) of the refused requests."""
        rows = await self.redis.xrevrange(k.AUDIT_REFUSED_STREAM if refused else k.AUDIT_STREAM, count=count)
        out = []
        for entry_id, fields in rows:
            item = {key.decode(): value.decode() for key, value in fields.items()}
            out.append(
                {
                    "id": entry_id.decode(),
                    "ts": float(item["ts"]),
                    "actor": item["actor"],
                    "action": item["action"],
                    "outcome": item["outcome"],
                    "detail": json.loads(item["detail"]),
                    **({"client": item["client"]} if "client" in item else {}),
                }
            )
        return out
