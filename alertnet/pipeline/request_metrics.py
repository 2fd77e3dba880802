"""The provider requests a process counted (`alertnet.channels.request_stats`), handed to Redis."""

from __future__ import annotations

from redis.asyncio import Redis

from alertnet.channels.request_stats import REQUESTS
from alertnet.store.metrics import MetricsStore


async def flush_request_counts(redis: Redis) -> None:
    """Add what this process's adapters counted since the last flush to the deployment-wide counters (one
    pipelined round trip; nothing when nothing was counted). Kept for the next flush if Redis fails."""
    counts = REQUESTS.drain()
    if not counts:
        return
    try:
        await MetricsStore(redis).add_requests(counts)
    except BaseException:
        REQUESTS.put_back(counts)
        raise
