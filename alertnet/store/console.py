"""The console's alert drafts in Redis: kept a day, each sent at most once (the send is claimed first)."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from alertnet.domain.console import Draft
from alertnet.store import keys as k

DRAFT_SECONDS = 24 * 3600
SENDING_SECONDS = 120  # a send that died mid-way frees its draft after this


class DraftStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def save(self, draft: Draft) -> None:
        await self.redis.set(k.CONSOLE_DRAFT + draft.id, json.dumps(draft.to_dict()), ex=DRAFT_SECONDS)

    async def get(self, draft_id: str) -> Draft | None:
        raw = await self.redis.get(k.CONSOLE_DRAFT + draft_id)
        return None if raw is None else Draft.from_dict(json.loads(raw))

    async def claim_send(self, draft_id: str) -> bool:
        """True if this request may send the draft now (no other send of it is running)."""
        key = k.CONSOLE_DRAFT + draft_id + ":sending"
        return bool(await self.redis.set(key, "1", nx=True, ex=SENDING_SECONDS))

    async def release_send(self, draft_id: str) -> None:
        await self.redis.delete(k.CONSOLE_DRAFT + draft_id + ":sending")
