"""The rq side of the fan-out: store an alert with its deliveries and enqueue its batch jobs in ONE
Redis transaction (nothing half-written), and put batches whose worker died back on their queue."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from alertnet import constants as k
from alertnet.deliveries import Delivery, DeliveryState

RUN_BATCH = "alertnet.worker.run_batch"
JOB_TIMEOUT = 6 * 3600  # a paced batch may legitimately take long; liveness comes from the lease
HSET_CHUNK = 2000
CHANNEL_ORDER = {"sms": 0, "email": 1, "voice": 2}


@dataclass(frozen=True)
class Batch:
    id: str
    alert_id: str
    channel: str
    official_ids: tuple[str, ...]
    queue: str
    requeues: int = 0
    job_id: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "alert_id": self.alert_id,
                "channel": self.channel,
                "ids": list(self.official_ids),
                "queue": self.queue,
                "requeues": self.requeues,
                "job_id": self.job_id or self.id,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, batch_id: str, raw: str | bytes) -> Batch:
        data = json.loads(raw)
        return cls(
            id=batch_id,
            alert_id=data["alert_id"],
            channel=data["channel"],
            official_ids=tuple(data["ids"]),
            queue=data["queue"],
            requeues=int(data.get("requeues", 0)),
            job_id=data.get("job_id", batch_id),
        )


def plan_batches(
    alert_id: str,
    recipients: Mapping[str, Sequence[str]],
    sizes: Mapping[str, int],
    queue: str,
    tag: str = "",
) -> list[Batch]:
    """Split each channel's recipients into batches: SMS first (read soonest), then email, then calls,
    which go to the calls queue unless the whole send is bulk (see `batch_queue`)."""
    order = sorted(recipients, key=lambda c: CHANNEL_ORDER.get(c.split("@")[0], 9))
    batches: list[Batch] = []
    for channel in order:
        ids = list(recipients[channel])
        size = max(1, sizes.get(channel, sizes.get(channel.split("@")[0], 500)))
        for n, start in enumerate(range(0, len(ids), size)):
            batches.append(
                Batch(
                    f"{alert_id}-{channel.replace('@', '_w')}-{tag}{n}",
                    alert_id,
                    channel,
                    tuple(ids[start : start + size]),
                    batch_queue(queue, channel),
                )
            )
    return batches


def batch_queue(queue: str, slot: str) -> str:
    """The queue of a batch of `slot` ("sms", "voice@2", ...) for a send on `queue`."""
    if slot.split("@")[0] == "voice" and queue != k.QUEUE_BULK:
        return k.QUEUE_CALLS
    return queue


class Dispatcher:
    """Sync (rq is sync): used from the API through a thread, and from the scheduler's sweep."""

    def __init__(self, connection: redis.Redis) -> None:
        self.redis = connection
        self.queues = {name: Queue(name, connection=connection) for name in k.QUEUES}

    def store_and_enqueue(
        self,
        alert_id: str,
        record_json: str,
        recipients: Mapping[str, Sequence[str]],
        batches: Sequence[Batch],
        *,
        created: float,
        code: str = "",
        wants_ack: bool = False,
        escalation: Sequence[tuple[str, float]] = (),
        plan_json: str = "",
    ) -> None:
        """Write the alert, a QUEUED delivery per (official, channel), counts, batch jobs, the ack index
        and the escalation timers in one transaction: all of it or none of it."""
        now = time.time()
        everyone = list(dict.fromkeys(i for ids in recipients.values() for i in ids))
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(k.ALERT_KEY + alert_id, record_json)
            pipe.zadd(k.ALERTS_INDEX, {alert_id: created})
            if code:
                pipe.set(k.CODE_KEY + code, alert_id)
            for start in range(0, len(everyone), HSET_CHUNK):
                pipe.sadd(k.RECIPIENTS_KEY + alert_id, *everyone[start : start + HSET_CHUNK])
            self._write_deliveries(pipe, alert_id, recipients, now)
            if wants_ack:
                pipe.zadd(k.ACK_OPEN, {alert_id: created})
            if escalation:
                pipe.zadd(k.ESCALATION_DUE, dict(escalation))
                pipe.set(k.ESCALATION_PLAN + alert_id, plan_json)
            self._enqueue(pipe, batches, now)
            pipe.execute()

    def store_wave_and_enqueue(
        self,
        alert_id: str,
        member: str,
        slots: Mapping[str, Sequence[str]],
        batches: Sequence[Batch],
    ) -> None:
        """Write one escalation wave's deliveries and jobs, and retire its timer (`member`, if any), in one
        transaction. Whoever the wave reaches may acknowledge the alert."""
        now = time.time()
        reached = list(dict.fromkeys(i for ids in slots.values() for i in ids))
        with self.redis.pipeline(transaction=True) as pipe:
            self._write_deliveries(pipe, alert_id, slots, now)
            for start in range(0, len(reached), HSET_CHUNK):
                pipe.sadd(k.REACHED_KEY + alert_id, *reached[start : start + HSET_CHUNK])
            self._enqueue(pipe, batches, now)
            if member:
                pipe.zrem(k.ESCALATION_FIRING, member)
            pipe.execute()

    @staticmethod
    def _write_deliveries(
        pipe: redis.client.Pipeline, alert_id: str, slots: Mapping[str, Sequence[str]], now: float
    ) -> None:
        queued = Delivery(DeliveryState.QUEUED, updated=now).to_json()
        totals: dict[str, int] = {}
        for slot, ids in slots.items():
            totals[slot] = len(ids)
            key = k.DELIVERY_KEY + f"{alert_id}:{slot}"
            for start in range(0, len(ids), HSET_CHUNK):
                pipe.hset(key, mapping=dict.fromkeys(ids[start : start + HSET_CHUNK], queued))
        for slot, n in totals.items():
            # Increments, not sets: a failover slot grows one official at a time.
            pipe.hincrby(k.TOTALS_KEY + alert_id, slot, n)
            if n:
                pipe.hincrby(k.COUNTS_KEY + alert_id, f"{slot}:queued", n)

    def _enqueue(self, pipe: redis.client.Pipeline, batches: Sequence[Batch], now: float) -> None:
        by_queue: dict[str, list[Batch]] = {}
        for batch in batches:
            by_queue.setdefault(batch.queue, []).append(batch)
            pipe.set(k.BATCH_KEY + batch.id, batch.to_json())
            pipe.zadd(k.BATCH_LEASES, {batch.id: now + k.BATCH_LEASE_SECONDS})
        for name, items in by_queue.items():
            datas = [
                Queue.prepare_data(
                    RUN_BATCH,
                    args=(b.id,),
                    job_id=b.job_id or b.id,
                    timeout=JOB_TIMEOUT,
                    result_ttl=60,
                    failure_ttl=7 * 24 * 3600,
                    description=f"send {b.channel} batch {b.id} ({len(b.official_ids)} deliveries)",
                )
                for b in items
            ]
            self.queues[name].enqueue_many(datas, pipeline=pipe)

    def sweep_stalled_batches(self, now: float | None = None) -> list[str]:
        """Re-enqueue batches whose lease expired while their job was not waiting in a queue.

        A live worker renews its batch's lease every few seconds; an expired lease on a started job means
        the worker died. Re-running a batch is safe: only deliveries without a provider id are sent again.
        Returns the ids of the batches put back.
        """
        now = time.time() if now is None else now
        requeued: list[str] = []
        for raw_id in self.redis.zrangebyscore(k.BATCH_LEASES, 0, now):
            batch_id = raw_id.decode()
            raw = self.redis.get(k.BATCH_KEY + batch_id)
            if raw is None:
                self.redis.zrem(k.BATCH_LEASES, batch_id)
                continue
            batch = Batch.from_json(batch_id, raw)
            status = self._job_status(batch.job_id)
            if status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
                # Still waiting its turn behind other work: not stalled.
                self.redis.zadd(k.BATCH_LEASES, {batch_id: now + k.BATCH_LEASE_SECONDS}, xx=True)
                continue
            if not self.redis.zrem(k.BATCH_LEASES, batch_id):
                continue  # another sweeper took it
            retry = Batch(
                batch.id,
                batch.alert_id,
                batch.channel,
                batch.official_ids,
                batch.queue,
                requeues=batch.requeues + 1,
                job_id=f"{batch.id}-r{batch.requeues + 1}",
            )
            with self.redis.pipeline(transaction=True) as pipe:
                self._enqueue(pipe, [retry], now)
                pipe.execute()
            requeued.append(batch_id)
        return requeued

    def _job_status(self, job_id: str) -> JobStatus | None:
        try:
            return Job.fetch(job_id, connection=self.redis).get_status(refresh=False)
        except NoSuchJobError:
            return None
