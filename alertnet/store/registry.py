"""Officials and authorized senders in Redis."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, replace
from functools import cached_property

import redis
from redis.asyncio import Redis

from alertnet.domain.contacts import Official
from alertnet.domain.senders import Sender, SenderRole
from alertnet.store import keys as k

CHUNK = 5000
# How often long-running processes reload the snapshot after an import (off their request path).
REFRESH_SECONDS = 2.0


@dataclass(frozen=True)
class ImportSummary:
    added: int
    updated: int
    unchanged: int
    deactivated: int

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.deactivated)


@dataclass(frozen=True)
class RegistrySnapshot:
    """Every official (active or not) at one registry version, indexed by id."""

    version: str
    by_id: dict[str, Official]

    @property
    def active(self) -> list[Official]:
        return [o for o in self.by_id.values() if o.active]

    @cached_property
    def active_by_mobile(self) -> dict[str, list[str]]:
        """Ids of the active officials with each mobile number (an inbound SMS names only its sender)."""
        index: dict[str, list[str]] = {}
        for o in self.by_id.values():
            if o.active and o.mobile:
                index.setdefault(o.mobile, []).append(o.id)
        return index


class OfficialStore:
    """The contact registry. Imports are all-or-nothing (one MULTI/EXEC) and idempotent (upsert by id)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._cache: RegistrySnapshot | None = None

    async def import_officials(self, officials: list[Official], *, full: bool = True) -> ImportSummary:
        """Upsert `officials`; with `full`, officials missing from the list are deactivated, never deleted.

        Written in one MULTI/EXEC, sent a chunk at a time (Redis queues it; nothing applies before EXEC,
        and a connection lost before EXEC discards it all), so a large registry is never held as one
        request in memory; records are compared as stored, and parsed only when they differ."""
        existing = await self._load_raw()
        incoming: set[str] = set()
        writes: list[tuple[str, str]] = []
        new_ids: list[str] = []
        added = updated = unchanged = deactivated = 0
        for official in officials:
            incoming.add(official.id)
            raw = official.to_json()
            before = existing.get(official.id)
            if before is None:
                added += 1
                new_ids.append(official.id)
            elif before == raw.encode() or Official.from_json(before) == official:
                unchanged += 1
                continue
            else:
                updated += 1
            writes.append((k.OFFICIAL_KEY + official.id, raw))
        if full:
            for official_id, raw_before in existing.items():
                if official_id not in incoming:
                    before_official = Official.from_json(raw_before)
                    if before_official.active:
                        deactivated += 1
                        inactive = replace(before_official, active=False).to_json()
                        writes.append((k.OFFICIAL_KEY + official_id, inactive))
        del existing
        summary = ImportSummary(added, updated, unchanged, deactivated)
        if writes:
            commands: list[tuple[str, ...]] = [
                ("MSET", *(part for pair in writes[start : start + CHUNK] for part in pair))
                for start in range(0, len(writes), CHUNK)
            ]
            commands += [
                ("SADD", k.OFFICIALS_ALL, *new_ids[start : start + CHUNK])
                for start in range(0, len(new_ids), CHUNK)
            ]
            # A fresh random generation, not a counter: a counter could repeat after a database reset.
            commands.append(("SET", k.REGISTRY_VERSION, uuid.uuid4().hex))
            del writes
            await self._transaction(commands)
        return summary

    async def _transaction(self, commands: list[tuple[str, ...]]) -> None:
        """MULTI, each command (queued by Redis as it arrives), EXEC: all of them or none."""
        pool = self.redis.connection_pool
        connection = await pool.get_connection()
        try:
            await connection.send_command("MULTI")
            await connection.read_response()
            for command in commands:
                await connection.send_command(*command)
                await connection.read_response()  # QUEUED (or an error: nothing is applied)
            await connection.send_command("EXEC")
            failed = [r for r in await connection.read_response() if isinstance(r, Exception)]
            if failed:
                raise failed[0]
        except BaseException:
            await connection.disconnect()  # Redis discards a transaction whose connection is gone
            raise
        finally:
            await pool.release(connection)

    async def _load_raw(self) -> dict[str, bytes]:
        """Every official's record as stored, by id."""
        ids = sorted(m.decode() for m in await self.redis.smembers(k.OFFICIALS_ALL))
        found: dict[str, bytes] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            for official_id, raw in zip(
                chunk, await self.redis.mget([k.OFFICIAL_KEY + i for i in chunk]), strict=True
            ):
                if raw is not None:
                    found[official_id] = raw
        return found

    async def _load_all(self) -> dict[str, Official]:
        ids = sorted(m.decode() for m in await self.redis.smembers(k.OFFICIALS_ALL))
        found: dict[str, Official] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            for raw in await self.redis.mget([k.OFFICIAL_KEY + i for i in chunk]):
                if raw is not None:
                    official = Official.from_json(raw)
                    found[official.id] = official
        return found

    async def snapshot(self) -> RegistrySnapshot:
        """The registry, cached in this process until an import bumps the version."""
        raw = await self.redis.get(k.REGISTRY_VERSION)
        version = raw.decode() if raw else ""
        if self._cache is None or self._cache.version != version:
            self._cache = RegistrySnapshot(version, await self._load_all())
        return self._cache

    async def keep_warm(self, interval: float = REFRESH_SECONDS) -> None:
        """Reload the snapshot soon after an import, so the first alert after it does not pay for that."""
        while True:
            # While Redis is away requests say so (503); the next round tries again.
            with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                await self.snapshot()
            await asyncio.sleep(interval)

    async def get_many(self, ids: list[str]) -> dict[str, Official]:
        if not ids:
            return {}
        raws = await self.redis.mget([k.OFFICIAL_KEY + i for i in ids])
        return {o.id: o for o in (Official.from_json(r) for r in raws if r is not None)}


class SenderStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def add(
        self, name: str, role: SenderRole, token_hash: str, *, email: str = "", official: str = ""
    ) -> Sender:
        """Create or replace a sender; replacing revokes the old token."""
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        sender = Sender(name=name, role=role, created=created, email=email, official=official)
        old_hash = await self.redis.hget(k.SENDER_KEY + name, "token_hash")
        async with self.redis.pipeline(transaction=True) as pipe:
            if old_hash:
                pipe.delete(k.SENDER_TOKEN_INDEX + old_hash.decode())
            pipe.hset(
                k.SENDER_KEY + name,
                mapping={
                    "role": role.value,
                    "token_hash": token_hash,
                    "created": sender.created,
                    "active": "1",
                    "email": email,
                    "official": official,
                },
            )
            pipe.sadd(k.SENDERS_ALL, name)
            pipe.set(k.SENDER_TOKEN_INDEX + token_hash, name)
            await pipe.execute()
        return sender

    async def by_token_hash(self, token_hash: str) -> Sender | None:
        name = await self.redis.get(k.SENDER_TOKEN_INDEX + token_hash)
        if name is None:
            return None
        return await self.get(name.decode())

    async def get(self, name: str) -> Sender | None:
        data = await self.redis.hgetall(k.SENDER_KEY + name)
        if not data:
            return None
        fields = {key.decode(): value.decode() for key, value in data.items()}
        return Sender(
            name=name,
            role=SenderRole(fields["role"]),
            created=fields["created"],
            active=fields.get("active") == "1",
            email=fields.get("email", ""),
            official=fields.get("official", ""),
        )

    async def all(self) -> list[Sender]:
        """Every sender, by name."""
        names = sorted(m.decode() for m in await self.redis.smembers(k.SENDERS_ALL))
        found = [await self.get(name) for name in names]
        return [s for s in found if s is not None]

    async def revoke(self, name: str) -> bool:
        return bool(await self.redis.hset(k.SENDER_KEY + name, "active", "0") == 0)
