"""The rq side of the fan-out: store a message with its deliveries and enqueue its batch jobs in ONE
Redis transaction (nothing half-written), and put batches whose worker died back on their queue."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from alertnet.domain.deliveries import Delivery, DeliveryState
from alertnet.domain.messages import Message
from alertnet.pipeline.batches import Batch
from alertnet.store import keys as k
from alertnet.store import metrics
from alertnet.store.messages import stage_message

RUN_BATCH = "alertnet.pipeline.worker.run_batch"
JOB_TIMEOUT = 6 * 3600  # a paced batch may legitimately take long; liveness comes from the lease
HSET_CHUNK = 2000

Stage = Callable[[redis.client.Pipeline], None]
"""More writes for the fan-out's transaction (an alert's record, its escalation timers, ...)."""
Guard = tuple[str, Mapping[str, str]]
"""(hash key, {field: expected value, "" for absent}): the fan-out is written only while it holds."""


class Dispatcher:
    """Sync (rq is sync): used from the API and the scheduler through a thread."""

    def __init__(self, connection: redis.Redis) -> None:
        self.redis = connection
        self.queues = {name: Queue(name, connection=connection) for name in k.QUEUES}

    def fan_out(
        self,
        message: Message,
        slots: Mapping[str, Sequence[str]],
        batches: Sequence[Batch],
        *,
        also: Sequence[Stage] = (),
    ) -> None:
        """Write the message, a QUEUED delivery per (official, slot), counts, batch jobs and whatever
        `also` stages, in one transaction: all of it or none of it."""
        now = time.time()
        with self.redis.pipeline(transaction=True) as pipe:
            stage_message(pipe, message)
            for stage in also:
                stage(pipe)
            self._write_deliveries(pipe, message.id, slots, now)
            metrics.stage_message(pipe, message.kind.value, slots)
            self._enqueue(pipe, batches, now)
            pipe.execute()

    def fan_out_guarded(
        self,
        parts: Sequence[tuple[Message, Mapping[str, Sequence[str]], Sequence[Batch]]],
        *,
        guard: Guard,
        also: Sequence[Stage] = (),
    ) -> bool:
        """Like `fan_out`, for several messages in one transaction, written only if `guard`'s hash field
        still holds its expected value (WATCHed: a change by anyone before EXEC aborts it all). Returns
        False, having written nothing, when the guard did not hold: someone else sent it, or changed it."""
        now = time.time()
        key, expected = guard
        fields = list(expected)
        with self.redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)
                current = pipe.hmget(key, fields)
                seen = {f: ("" if v is None else v.decode()) for f, v in zip(fields, current, strict=True)}
                if seen != dict(expected):
                    return False
                pipe.multi()
                for message, slots, batches in parts:
                    stage_message(pipe, message)
                    self._write_deliveries(pipe, message.id, slots, now)
                    metrics.stage_message(pipe, message.kind.value, slots)
                    self._enqueue(pipe, batches, now)
                for stage in also:
                    stage(pipe)
                pipe.execute()
            except redis.WatchError:
                return False
        return True

    def store_wave_and_enqueue(
        self,
        message_id: str,
        member: str,
        slots: Mapping[str, Sequence[str]],
        batches: Sequence[Batch],
    ) -> None:
        """Write one escalation wave's deliveries and jobs, and retire its timer (`member`, if any), in one
        transaction. Whoever the wave reaches may acknowledge the alert."""
        now = time.time()
        reached = list(dict.fromkeys(i for ids in slots.values() for i in ids))
        with self.redis.pipeline(transaction=True) as pipe:
            self._write_deliveries(pipe, message_id, slots, now)
            for start in range(0, len(reached), HSET_CHUNK):
                pipe.sadd(k.REACHED_KEY + message_id, *reached[start : start + HSET_CHUNK])
            self._enqueue(pipe, batches, now)
            if member:
                pipe.zrem(k.ESCALATION_FIRING, member)
            pipe.execute()

    @staticmethod
    def _write_deliveries(
        pipe: redis.client.Pipeline, message_id: str, slots: Mapping[str, Sequence[str]], now: float
    ) -> None:
        queued = Delivery(DeliveryState.QUEUED, updated=now).to_json()
        totals: dict[str, int] = {}
        for slot, ids in slots.items():
            totals[slot] = len(ids)
            key = k.DELIVERY_KEY + f"{message_id}:{slot}"
            for start in range(0, len(ids), HSET_CHUNK):
                pipe.hset(key, mapping=dict.fromkeys(ids[start : start + HSET_CHUNK], queued))
        for slot, n in totals.items():
            # Increments, not sets: a failover slot grows one official at a time.
            pipe.hincrby(k.TOTALS_KEY + message_id, slot, n)
            if n:
                pipe.hincrby(k.COUNTS_KEY + message_id, f"{slot}:queued", n)
                metrics.stage_queued(pipe, slot, n)

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
            waiting = status in (JobStatus.DEFERRED, JobStatus.SCHEDULED) or (
                # A job still marked queued may have been taken off its queue by a worker that died (or
                # lost Redis) before it could mark it started: only one still in the queue is waiting.
                status is JobStatus.QUEUED
                and self.redis.lpos(self.queues[batch.queue].key, batch.job_id or batch.id) is not None
            )
            if waiting:
                # Still waiting its turn behind other work: not stalled.
                self.redis.zadd(k.BATCH_LEASES, {batch_id: now + k.BATCH_LEASE_SECONDS}, xx=True)
                continue
            if not self.redis.zrem(k.BATCH_LEASES, batch_id):
                continue  # another sweeper took it
            retry = Batch(
                batch.id,
                batch.message_id,
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
