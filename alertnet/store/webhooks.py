"""Provider requests the hub has handled, by the provider's own id: a retried or replayed webhook
changes nothing the second time. Kept a week (past Twilio's and SendGrid's retry windows), in Redis with
everything else, so a restart forgets nothing."""

from __future__ import annotations

from redis.asyncio import Redis

from alertnet.store import keys as k

HANDLING_SECONDS = 60  # a handler that died mid-way frees the id after this, so a retry is handled
KEPT_SECONDS = 7 * 86400


class HandledRequests:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def begin(self, kind: str, provider_id: str) -> bool:
        """True if this request is new and now ours to handle; False if handled or being handled."""
        return bool(
            await self.redis.set(f"{k.WEBHOOK_SEEN}{kind}:{provider_id}", "1", nx=True, ex=HANDLING_SECONDS)
        )

    async def done(self, kind: str, provider_id: str) -> None:
        await self.redis.set(f"{k.WEBHOOK_SEEN}{kind}:{provider_id}", "1", ex=KEPT_SECONDS)

    async def abandon(self, kind: str, provider_id: str) -> None:
        """The handler failed before anything was recorded: let a retry handle it."""
        await self.redis.delete(f"{k.WEBHOOK_SEEN}{kind}:{provider_id}")
