"""The audit trail: an append-only Redis stream of every accepted or refused action."""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis

from alertnet.store import keys as k


class AuditLog:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def record(self, *, actor: str, action: str, outcome: str, **detail: Any) -> str:
        """Append one entry; returns its stream id. Never trimmed: the trail is the evidence."""
        entry = {
            "ts": f"{time.time():.3f}",
            "actor": actor,
            "action": action,
            "outcome": outcome,
            "detail": json.dumps(detail, sort_keys=True, default=str),
        }
        entry_id: bytes = await self.redis.xadd(k.AUDIT_STREAM, entry)
        return entry_id.decode()

    async def recent(self, count: int = 100) -> list[dict[str, Any]]:
        rows = await self.redis.xrevrange(k.AUDIT_STREAM, count=count)
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
                }
            )
        return out
