"""Is the hub ready to send: Redis answers and at least one worker is registered and alive."""

from __future__ import annotations

import asyncio

import redis
from redis.asyncio import Redis
from rq import Worker


class HealthService:
    def __init__(self, conn: Redis, sync_conn: redis.Redis) -> None:
        self.conn = conn
        self.sync_conn = sync_conn

    async def readiness(self) -> tuple[bool, dict[str, object]]:
        """(ready, the checks and what each found)."""
        checks: dict[str, object] = {}
        try:
            await self.conn.ping()
            checks["redis"] = "ok"
        except Exception as error:
            checks["redis"] = f"unreachable: {error.__class__.__name__}"
        workers = 0
        if checks["redis"] == "ok":
            workers = await asyncio.to_thread(Worker.count, connection=self.sync_conn)
        checks["workers"] = workers
        return checks["redis"] == "ok" and workers > 0, checks
