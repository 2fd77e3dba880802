"""Paces sends to each provider sender at its configured rate, with the backlog kept on our side."""

from __future__ import annotations

import asyncio
import itertools
import time

from redis.asyncio import Redis

from alertnet.store import keys as k
from alertnet.store.scripts import RESERVE_SLOT

# How far ahead a sender's slots may be booked. Bulk work books only the next moment, so an alert that
# arrives later finds the next slot free instead of queueing behind booked bulk sends.
CRITICAL_HORIZON = 5.0
BULK_HORIZON = 0.25


class Pacer:
    """Hands out sender identities (numbers) at `rate` sends per second each; rate 0 means unpaced.

    State lives in Redis so every worker process shares one budget per sender.
    """

    def __init__(self, redis: Redis, name: str, senders: tuple[str, ...], rate: float) -> None:
        if not senders:
            raise ValueError(f"pacer {name!r} needs at least one sender")
        self.senders = senders
        self.rate = rate
        self._keys = [f"{k.RATE_KEY}{name}:{s}" for s in senders]
        self._next = itertools.cycle(range(len(senders)))
        self._reserve = redis.register_script(RESERVE_SLOT)

    async def acquire(self, *, critical: bool) -> str:
        """Wait for the next free slot on some sender and return that sender."""
        if self.rate <= 0:
            return self.senders[next(self._next)]
        horizon = CRITICAL_HORIZON if critical else BULK_HORIZON
        interval = 1.0 / self.rate
        while True:
            start = next(self._next)
            shortest = float("inf")
            for offset in range(len(self.senders)):
                index = (start + offset) % len(self.senders)
                wait = float(
                    await self._reserve(keys=[self._keys[index]], args=[time.time(), interval, horizon])
                )
                if wait >= 0:
                    if wait > 0:
                        await asyncio.sleep(wait)
                    return self.senders[index]
                shortest = min(shortest, -wait)
            await asyncio.sleep(max(0.005, shortest - horizon))
