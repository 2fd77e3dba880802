"""Messages in Redis: what the pipeline sends, kept beside its deliveries."""

from __future__ import annotations

import redis
from redis.asyncio import Redis

from alertnet.domain.messages import Message
from alertnet.store import keys as k


def stage_message(pipe: redis.client.Pipeline, message: Message) -> None:
    """Queue the write of `message` on a transaction (the fan-out's)."""
    pipe.set(k.MESSAGE_KEY + message.id, message.to_json())


class MessageStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def get(self, message_id: str) -> Message | None:
        raw = await self.redis.get(k.MESSAGE_KEY + message_id)
        return None if raw is None else Message.from_json(raw)
