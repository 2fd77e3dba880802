"""Writes that must survive a failover wait for a replica before the hub acts on them or answers.

Redis replicates asynchronously: a primary that dies right after answering may take its last writes with
it, and the replica Sentinel promotes never saw them. An accepted alert and its deliveries, a delivery's
claim and its provider id, and an ack must not be lost that way (a lost claim would send an SMS twice).
With `[redis] min_replicas` > 0, `durable(conn)` is called after those writes: it writes a probe and
sends `WAIT min_replicas wait_timeout_ms` on the same connection. The replication stream is ordered, so
once a replica has the probe it has every write made before it. Fewer replicas than asked is a failure
to record (`NotDurable`, a `redis.ConnectionError`): the API answers 503 with Retry-After, a worker waits
and asks again (`patience_seconds`) and does not send meanwhile.

What is left: a failover that completes (and gives the new primary a synced replica) in the moments
between a write's answer and its WAIT is not noticed; `min-replicas-to-write` on the servers (ops/sentinel/)
bounds the other gap, an isolated primary that keeps taking writes nobody will see.
"""

from __future__ import annotations

import asyncio
import time

import redis
from redis.asyncio import Redis

from alertnet.store import keys as k

PUBLIC_MESSAGE = (
    "the hub could not confirm that this was copied to a Redis replica (failover in progress); it may "
    "still take effect: look before sending it again"
)


class NotDurable(redis.ConnectionError):  # type: ignore[misc]
    """Fewer replicas than `min_replicas` confirmed the writes before the timeout."""

    public_message = PUBLIC_MESSAGE


async def durable(conn: Redis) -> None:
    """Return once `min_replicas` replicas hold every write made so far (at once when it is 0, the single
    Redis default); raise NotDurable when they do not within the client's timeout and patience."""
    needed = int(getattr(conn, "min_replicas", 0))
    if needed <= 0:
        return
    timeout_ms = int(getattr(conn, "wait_timeout_ms", 1000))
    deadline = time.monotonic() + float(getattr(conn, "patience_seconds", 0.0))
    while True:
        async with conn.pipeline(transaction=False) as pipe:
            pipe.incr(k.DURABLE_PROBE)
            pipe.wait(needed, timeout_ms)
            _, acked = await pipe.execute()
        if int(acked) >= needed:
            return
        if time.monotonic() >= deadline:
            raise NotDurable(f"{acked} of {needed} replicas confirmed the write within {timeout_ms} ms")
        await asyncio.sleep(min(1.0, timeout_ms / 1000))
