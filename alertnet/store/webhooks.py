"""Provider requests the hub has handled, by the provider's own id: a retried or replayed webhook
changes nothing the second time. Kept a week (past Twilio's and SendGrid's retry windows), in Redis with
everything else, so a restart forgets nothing."""

from __future__ import annotations

import asyncio
import time

import redis
from redis.asyncio import Redis

from alertnet.store import keys as k

HANDLING_SECONDS = 60
KEPT_SECONDS = 7 * 86400
# A request seen "being handled" for this long was left by a handler that died (or lost Redis) before it
# recorded anything: a retry takes it over. One seen for less is waited for, not answered as handled.
TAKEOVER_SECONDS = 5.0
POLL_SECONDS = 0.05
DONE = "1"
HANDLING = "handling:"


class HandledRequests:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    @staticmethod
    def key(kind: str, provider_id: str) -> str:
        """The request's marker: set to DONE (kept a week) in the same transaction as what it records."""
        return f"{k.WEBHOOK_SEEN}{kind}:{provider_id}"

    async def begin(self, kind: str, provider_id: str) -> bool:
        """True if this request is new and now ours to handle; False if it was handled.

        One being handled is waited for: it is either done soon (False), or abandoned, or was left behind by
        a handler that died before recording anything (Redis went away mid-request: its marker outlived
        the request, which was answered 503): that one is taken over (True), never answered as handled.
        """
        key = self.key(kind, provider_id)
        while True:
            mine = f"{HANDLING}{time.time():.6f}"
            if await self.redis.set(key, mine, nx=True, ex=HANDLING_SECONDS):
                return True
            raw = await self.redis.get(key)
            if raw is None:
                continue  # abandoned meanwhile
            value = raw.decode()
            if not value.startswith(HANDLING):
                return False
            if time.time() - float(value[len(HANDLING) :]) >= TAKEOVER_SECONDS:
                # Whoever swaps out the marker they saw takes it over; anyone else looks again.
                if await self.redis.set(key, mine, xx=True, ex=HANDLING_SECONDS, get=True) == raw:
                    return True
                continue
            await asyncio.sleep(POLL_SECONDS)

    async def done(self, kind: str, provider_id: str) -> None:
        await self.redis.set(self.key(kind, provider_id), DONE, ex=KEPT_SECONDS)

    async def abandon(self, kind: str, provider_id: str) -> None:
        """The handler failed: let a retry handle it, unless what it recorded was marked done with it."""
        key = self.key(kind, provider_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                raw = await pipe.get(key)
                if raw is not None and raw.decode().startswith(HANDLING):
                    pipe.multi()
                    pipe.delete(key)
                    await pipe.execute()
            except redis.WatchError:
                pass  # changed meanwhile: taken over, or done
