"""Deployment-wide metrics in Redis: counters incremented where things happen, read when `/metrics` is
scraped.

The hub runs as many processes on many hosts against one Redis, so the counters live there, written in the
same atomic step as what they count (a delivery's state move by the TRANSITION script, a first ack by
RECORD_ACK, a fan-out in its MULTI): exact, deployment-wide and kept across restarts. Gauges (queue depths,
unfinished batches, escalation steps due) are read at scrape time. Keys are in `alertnet.store.keys`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.asyncio import Redis

from alertnet.domain.acks import Ack
from alertnet.domain.metrics import ACK_SECONDS, RequestCounts, bound_label, join
from alertnet.store import keys as k

COUNTER_HASHES = {
    "deliveries": k.METRICS_DELIVERIES,
    "messages": k.METRICS_MESSAGES,
    "recipients": k.METRICS_RECIPIENTS,
    "acks": k.METRICS_ACKS,
    "ack_seconds": k.METRICS_ACK_SECONDS,
    "requests": k.METRICS_REQUESTS,
    "request_errors": k.METRICS_REQUEST_ERRORS,
    "webhook_rejected": k.METRICS_WEBHOOK_REJECTED,
}


def channel_of(slot: str) -> str:
    """The channel of a delivery slot ("voice@2", an escalation wave's calls, is "voice")."""
    return slot.split("@", 1)[0]


def stage_queued(pipe: redis.client.Pipeline, slot: str, n: int) -> None:
    """Count `n` new queued deliveries on a fan-out's or a wave's transaction."""
    pipe.hincrby(k.METRICS_DELIVERIES, join(channel_of(slot), "queued"), n)


def stage_message(pipe: redis.client.Pipeline, kind: str, slots: Mapping[str, Sequence[str]]) -> None:
    """Count one message of `kind` (an alert, a digest edition, a bulletin, ...) and its deliveries per
    channel, on the transaction that fans it out."""
    pipe.hincrby(k.METRICS_MESSAGES, kind, 1)
    for slot, ids in slots.items():
        if ids:
            pipe.hincrby(k.METRICS_RECIPIENTS, join(kind, channel_of(slot)), len(ids))


def record_ack_call(ack: Ack) -> tuple[list[str], list[str | float]]:
    """The RECORD_ACK script's keys and arguments for `ack`."""
    keys = [k.ACKS_KEY + ack.alert_id, k.METRICS_ACKS, k.METRICS_ACK_SECONDS, k.ALERTS_INDEX]
    args: list[str | float] = [ack.official_id, ack.to_json(), ack.channel.value, ack.at, ack.alert_id]
    return keys, args + [bound_label(b) for b in ACK_SECONDS]


RQ_WORKERS = "rq:workers"  # rq's registry of worker keys (rq.worker_registration)


@dataclass
class MetricsSnapshot:
    """Every counter hash (field -> value), the rq queues' lengths and the other gauges, as read at once."""

    counters: dict[str, dict[str, float]] = field(default_factory=dict)
    queues: dict[str, int] = field(default_factory=dict)
    batches_unfinished: int = 0
    escalation_due: int = 0
    lateness: list[float] = field(default_factory=list)
    workers_alive: int = 0


def _decoded(raw: Mapping[bytes, bytes]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in raw.items():
        try:
            out[key.decode()] = float(value)
        except ValueError:
            continue
    return out


class MetricsStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def add_requests(self, counts: RequestCounts) -> None:
        """Add provider request counts (one pipelined round trip)."""
        if not counts:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for name, n in counts.buckets.items():
                pipe.hincrby(k.METRICS_REQUESTS, name, n)
            for name, seconds in counts.sums.items():
                pipe.hincrbyfloat(k.METRICS_REQUESTS, join(name, "sum"), seconds)
            for name, n in counts.counts.items():
                pipe.hincrby(k.METRICS_REQUESTS, join(name, "count"), n)
            for name, n in counts.errors.items():
                pipe.hincrby(k.METRICS_REQUEST_ERRORS, name, n)
            await pipe.execute()

    async def webhook_rejected(self, provider: str, reason: str) -> None:
        await self.redis.hincrby(k.METRICS_WEBHOOK_REJECTED, join(provider, reason), 1)

    async def snapshot(self, queue_keys: Mapping[str, str]) -> MetricsSnapshot:
        """Everything `/metrics` shows, in one round trip. `queue_keys`: rq queue name -> its list's key."""
        names = list(COUNTER_HASHES)
        queues = list(queue_keys)
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(COUNTER_HASHES[name])
            for queue in queues:
                pipe.llen(queue_keys[queue])
            pipe.zcard(k.BATCH_LEASES)
            pipe.zcard(k.ESCALATION_DUE)
            pipe.lrange(k.ESCALATION_LATENESS, 0, -1)
            pipe.smembers(RQ_WORKERS)
            replies: list[Any] = await pipe.execute()
        hashes, rest = replies[: len(names)], replies[len(names) :]
        lengths, (batches, due, lateness, workers) = rest[: len(queues)], rest[len(queues) :]
        # rq lists every worker ever started until one cleans up; a live worker's key has a heartbeat TTL.
        alive = int(await self.redis.exists(*workers)) if workers else 0
        return MetricsSnapshot(
            counters={name: _decoded(raw) for name, raw in zip(names, hashes, strict=True)},
            queues={queue: int(n) for queue, n in zip(queues, lengths, strict=True)},
            batches_unfinished=int(batches),
            escalation_due=int(due),
            lateness=[float(x) for x in lateness],
            workers_alive=alive,
        )
