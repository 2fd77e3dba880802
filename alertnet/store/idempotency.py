"""Alert requests sent with an Idempotency-Key: which alert each key was sent as, and the digest of the
request it came with, kept a day.

As for CAP messages taken in (`alertnet.store.cap`), a key is claimed ("pending", for `CLAIM_SECONDS`)
before its alert is sent, and the alert's fan-out transaction writes the alert id in its place
(`stage_idempotent`): a key is marked used exactly when its alert is stored and queued. A refusal releases
the claim; a process that dies while sending leaves it to expire.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import redis
from redis.asyncio import Redis

from alertnet.store import keys as k

PENDING = "pending"
CLAIM_SECONDS = 120
KEPT_SECONDS = 86400
RELEASE = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, #ARGV[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Used:
    """A key used before: the alert it was sent as ("pending" while it is being sent) and the request's
    digest then."""

    alert_id: str
    digest: str


def idempotency_key(sender: str, key: str) -> str:
    """The stored key of a sender's Idempotency-Key (each sender's keys are their own)."""
    return hashlib.sha256(f"{sender}\n{key}".encode()).hexdigest()


def _used(alert_id: str, digest: str) -> str:
    return f"{alert_id} {digest}"


def stage_idempotent(pipe: redis.client.Pipeline, *, key: str, alert_id: str, digest: str) -> None:
    """Queue on the fan-out's transaction: the key was used for `alert_id`."""
    pipe.set(k.IDEMPOTENCY + key, _used(alert_id, digest), ex=KEPT_SECONDS)


class IdempotencyStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._release = redis.register_script(RELEASE)

    async def claim(self, key: str, digest: str) -> Used | None:
        """Claim a key for a request whose body has `digest`: None if it is ours now, else its use."""
        stored = k.IDEMPOTENCY + key
        if await self.redis.set(stored, _used(PENDING, digest), nx=True, ex=CLAIM_SECONDS):
            return None
        found = await self.redis.get(stored)
        if found is None:
            return Used(PENDING, digest)  # released or expired this instant: the client may try again
        alert_id, _, used_digest = found.decode().partition(" ")
        return Used(alert_id, used_digest)

    async def settle(self, key: str, alert_id: str, digest: str) -> None:
        """Mark a claimed key used for `alert_id` (an alert held for approval has its id already)."""
        await self.redis.set(k.IDEMPOTENCY + key, _used(alert_id, digest), ex=KEPT_SECONDS)

    async def release(self, key: str) -> None:
        """Give a claim up (the request was refused): the key may be sent again."""
        await self._release(keys=[k.IDEMPOTENCY + key], args=[PENDING + " "])
