"""Console sign-in: each sender's password hash, and the sign-in failures that slow down further tries
(per account and per client address; they fade on their own, nothing locks an account for good)."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from alertnet.store import keys as k

FAILURES_KEPT_SECONDS = 24 * 3600


class AccountStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def password_hash(self, name: str) -> str | None:
        value = await self.redis.get(k.SENDER_PASSWORD + name)
        return None if value is None else value.decode()

    async def set_password_hash(self, name: str, hashed: str) -> None:
        await self.redis.set(k.SENDER_PASSWORD + name, hashed)

    async def failures(self, scope: str) -> tuple[int, float]:
        """(failures in a row, time of the last one) for "account:NAME" or "client:ADDRESS"."""
        data = await self.redis.hgetall(k.SIGNIN_FAILURES + scope)
        if not data:
            return 0, 0.0
        return int(data.get(b"n", b"0")), float(data.get(b"last", b"0"))

    async def fail(self, *scopes: str) -> None:
        now = time.time()
        async with self.redis.pipeline(transaction=True) as pipe:
            for scope in scopes:
                pipe.hincrby(k.SIGNIN_FAILURES + scope, "n", 1)
                pipe.hset(k.SIGNIN_FAILURES + scope, "last", str(now))
                pipe.expire(k.SIGNIN_FAILURES + scope, FAILURES_KEPT_SECONDS)
            await pipe.execute()

    async def clear(self, *scopes: str) -> None:
        await self.redis.delete(*(k.SIGNIN_FAILURES + scope for scope in scopes))
