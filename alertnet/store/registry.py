"""Officials and authorized senders in Redis."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import redis
import structlog
from redis.asyncio import Redis

from alertnet.domain.contacts import Official
from alertnet.domain.senders import Sender, SenderRole
from alertnet.store import keys as k
from alertnet.store.registry_changes import MAX_RECORDED, changed_since, record_commands

CHUNK = 5000
# How often long-running processes reload the snapshot after an import (off their request path).
REFRESH_SECONDS = 2.0
# How long a caller waits for a reload in progress before it is served the previous snapshot.
RELOAD_WAIT_SECONDS = 0.25
log = structlog.get_logger("alertnet.registry")


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

    def __init__(self, redis: Redis, *, reload_wait: float = RELOAD_WAIT_SECONDS) -> None:
        self.redis = redis
        self.reload_wait = reload_wait
        self._cache: RegistrySnapshot | None = None
        self._reloading: asyncio.Task[RegistrySnapshot] | None = None
        # Observability for tests and the bench: awaited as a reload starts; how each reload went.
        self.before_reload: Callable[[], Awaitable[None]] | None = None
        self.reloads = 0
        self.last_reload = ""  # "full" or "incremental"

    async def import_officials(self, officials: list[Official], *, full: bool = True) -> ImportSummary:
        """Upsert `officials`; with `full`, officials missing from the list are deactivated, never deleted.

        Written in one MULTI/EXEC, sent a chunk at a time (Redis queues it; nothing applies before EXEC,
        and a connection lost before EXEC discards it all), so a large registry is never held as one
        request in memory; records are compared as stored, and parsed only when they differ."""
        existing = await self._load_raw()
        incoming: set[str] = set()
        writes: list[tuple[str, str]] = []
        changed: list[Official] = []
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
            changed.append(official)
        if full:
            for official_id, raw_before in existing.items():
                if official_id not in incoming:
                    before_official = Official.from_json(raw_before)
                    if before_official.active:
                        deactivated += 1
                        inactive = replace(before_official, active=False)
                        writes.append((k.OFFICIAL_KEY + official_id, inactive.to_json()))
                        changed.append(inactive)
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
            # A fresh random generation, not a counter: a counter could repeat after a database reset;
            # set with the record of what changed (`registry_changes`), so processes catch up on those.
            version = uuid.uuid4().hex
            commands += record_commands(version, [o.id for o in changed])
            del writes
            previous = (await self._transaction(commands))[-1]  # the script's reply: the version replaced
            self._apply_own(
                previous.decode() if isinstance(previous, bytes) else str(previous), version, changed
            )
        return summary

    def _apply_own(self, previous: str, version: str, changed: list[Official]) -> None:
        """This process's own import, applied to its snapshot at once when that is the version the import
        replaced (and no reload is running): whoever imported sees it without waiting for a reload."""
        cache, task = self._cache, self._reloading
        if cache is None or cache.version != previous or (task is not None and not task.done()):
            return
        if len(changed) > MAX_RECORDED or not cache.by_id:
            return  # the next snapshot reloads (a large import; the first one)
        by_id = dict(cache.by_id)
        by_id.update((o.id, o) for o in changed)
        self._cache = RegistrySnapshot(version, by_id)

    async def _transaction(self, commands: list[tuple[str, ...]]) -> list[Any]:
        """MULTI, each command (queued by Redis as it arrives), EXEC: all of them or none; their replies."""
        pool = self.redis.connection_pool
        connection = await pool.get_connection()
        try:
            await connection.send_command("MULTI")
            await connection.read_response()
            for command in commands:
                await connection.send_command(*command)
                await connection.read_response()  # QUEUED (or an error: nothing is applied)
            await connection.send_command("EXEC")
            replies: list[Any] = await connection.read_response()
            failed = [r for r in replies if isinstance(r, Exception)]
            if failed:
                raise failed[0]
            return replies
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
        """The registry, cached in this process until an import bumps the version.

        An alert does not wait for a reload: when the version has changed, one reload starts (never two
        at once; incremental, see `_reload`) and the caller waits for it at most `reload_wait` seconds,
        which covers an import of a few thousand changed officials; past that it is served the previous
        snapshot, which serves until the new one is ready. So an alert posted within a second or two of a
        large import may resolve its audience against the registry as it was before that import.
        Only a process with no snapshot yet waits for the whole load, and so does one whose snapshot is
        empty while the registry no longer is: the first import is never answered with nobody."""
        raw = await self.redis.get(k.REGISTRY_VERSION)
        version = raw.decode() if raw else ""
        cache = self._cache
        if cache is not None and cache.version == version:
            return cache
        task = self._reloading
        if task is None or task.done():
            task = self._reloading = asyncio.create_task(self._reload())
            task.add_done_callback(_log_failure)
        if cache is None or (not cache.by_id and version):
            return await asyncio.shield(task)
        done, _ = await asyncio.wait({task}, timeout=self.reload_wait)
        return task.result() if done else cache

    async def _reload(self) -> RegistrySnapshot:
        """Read the registry at its current version: only the officials changed since this process's
        version when the change record links the two (`registry_changes`), else all of them."""
        if self.before_reload is not None:
            await self.before_reload()
        raw = await self.redis.get(k.REGISTRY_VERSION)
        version = raw.decode() if raw else ""
        previous = self._cache
        changed: set[str] | None = None
        if previous is not None and previous.by_id and previous.version != version:
            changed = await changed_since(self.redis, previous.version, version)
        if previous is not None and changed is not None:
            by_id = dict(previous.by_id)
            ids = sorted(changed)
            for start in range(0, len(ids), CHUNK):
                by_id.update(await self.get_many(ids[start : start + CHUNK]))
            self.last_reload = "incremental"
        else:
            by_id = await self._load_all()
            self.last_reload = "full"
        self.reloads += 1
        self._cache = RegistrySnapshot(version, by_id)
        return self._cache

    async def keep_warm(self, interval: float = REFRESH_SECONDS) -> None:
        """Reload the snapshot soon after an import, so the first alert after it does not pay for that."""
        while True:
            # While Redis is away requests say so (503); the next round tries again.
            with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                await self.snapshot()  # starts the reload, which goes on without us
            await asyncio.sleep(interval)

    async def get_many(self, ids: list[str]) -> dict[str, Official]:
        if not ids:
            return {}
        raws = await self.redis.mget([k.OFFICIAL_KEY + i for i in ids])
        return {o.id: o for o in (Official.from_json(r) for r in raws if r is not None)}


def _log_failure(task: asyncio.Task[RegistrySnapshot]) -> None:
    """A reload nobody waited for that failed (Redis away): logged; the next call starts another."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("registry_reload_failed", error=repr(task.exception()))


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
