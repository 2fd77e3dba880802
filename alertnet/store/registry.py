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
        """Upsert `officials`; with `full`, officials missing from the list are deactivated, never deleted."""
        existing = await self._load_all()
        incoming = {o.id: o for o in officials}
        writes: dict[str, str] = {}
        added = updated = unchanged = deactivated = 0
        for official in officials:
            before = existing.get(official.id)
            if before is None:
                added += 1
            elif before == official:
                unchanged += 1
                continue
            else:
                updated += 1
            writes[k.OFFICIAL_KEY + official.id] = official.to_json()
        if full:
            for official_id, before in existing.items():
                if official_id not in incoming and before.active:
                    deactivated += 1
                    writes[k.OFFICIAL_KEY + official_id] = replace(before, active=False).to_json()
        summary = ImportSummary(added, updated, unchanged, deactivated)
        if writes:
            async with self.redis.pipeline(transaction=True) as pipe:
                items = list(writes.items())
                for start in range(0, len(items), CHUNK):
                    pipe.mset(dict(items[start : start + CHUNK]))
                new_ids = [o.id for o in officials if o.id not in existing]
                for start in range(0, len(new_ids), CHUNK):
                    pipe.sadd(k.OFFICIALS_ALL, *new_ids[start : start + CHUNK])
                # A fresh random generation, not a counter: a counter could repeat after a database reset.
                pipe.set(k.REGISTRY_VERSION, uuid.uuid4().hex)
                await pipe.execute()
        return summary

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

    async def add(self, name: str, role: SenderRole, token_hash: str, *, email: str = "") -> Sender:
        """Create or replace a sender; replacing revokes the old token."""
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        sender = Sender(name=name, role=role, created=created, email=email)
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
        )

    async def all(self) -> list[Sender]:
        """Every sender, by name."""
        names = sorted(m.decode() for m in await self.redis.smembers(k.SENDERS_ALL))
        found = [await self.get(name) for name in names]
        return [s for s in found if s is not None]

    async def revoke(self, name: str) -> bool:
        return bool(await self.redis.hset(k.SENDER_KEY + name, "active", "0") == 0)
