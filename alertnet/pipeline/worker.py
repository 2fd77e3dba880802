"""The rq worker: a non-forking worker that builds its adapters once and keeps one event loop.

Run with `alertnet worker` (or `rq worker -w alertnet.pipeline.worker.AlertNetWorker alertnet-critical ...`).
Queues are listened to in priority order, so a critical alert's batches always go before bulk ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import redis
import structlog
from rq import Queue, SimpleWorker

from alertnet.pipeline.context import WorkerContext, build_worker_context, sync_redis
from alertnet.pipeline.sending import process_batch
from alertnet.pipeline.upgrade import migrate_queued_jobs
from alertnet.settings import Settings, load_settings
from alertnet.store import keys as k
from alertnet.store.redis_url import lost_primary
from alertnet.store.server import answers

log = structlog.get_logger("alertnet.worker")
REDIS_WAIT_MAX_SECONDS = 5.0


class _Runtime:
    """The worker process's event loop and context (arq's `ctx`), created on first use."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.context: WorkerContext | None = None

    def start(self, settings: Settings) -> WorkerContext:
        if self.context is None:
            self.loop = asyncio.new_event_loop()
            self.context = self.loop.run_until_complete(build_worker_context(settings))
        return self.context

    def run(self, coro: Any) -> Any:
        assert self.loop is not None
        return self.loop.run_until_complete(coro)

    def stop(self) -> None:
        if self.context is not None and self.loop is not None:
            self.loop.run_until_complete(_cancel_leftovers())
            self.loop.run_until_complete(self.context.close())
            self.loop.close()
        self.context = None
        self.loop = None


async def _cancel_leftovers() -> None:
    """Cancel whatever a failed job left running, and wait until it has stopped."""
    leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)


RUNTIME = _Runtime()


def run_batch(batch_id: str) -> None:
    """rq job: send one batch (jobs take ids, not objects)."""
    ctx = RUNTIME.start(load_settings()) if RUNTIME.context is None else RUNTIME.context
    RUNTIME.run(process_batch(ctx, batch_id))


class AlertNetWorker(SimpleWorker):
    """SimpleWorker: no fork per job, so adapters and connections live for the whole process."""

    def __init__(self, *args: Any, settings: Settings | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", 30)
        super().__init__(*args, **kwargs)
        RUNTIME.start(settings or load_settings())

    stopping = False  # a stop signal arrived (rq records it only when it comes mid-job)

    def request_stop(self, signum: Any, frame: Any) -> None:
        self.stopping = True
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def teardown(self) -> None:
        RUNTIME.stop()
        super().teardown()  # type: ignore[no-untyped-call]


def run_worker(settings: Settings, *, burst: bool = False, name: str | None = None) -> None:
    """Serve the alert queues until stopped (or until empty, with `burst`).

    rq quits when Redis goes away (it cannot even record a job's failure); this loop waits for Redis to
    come back and starts a fresh worker, so an outage costs time, never the worker. Batches interrupted
    by it are put back by the scheduler's sweep and resume without sending anything twice.
    """
    while True:
        connection = sync_redis(settings)
        # During an outage the worker below meets it too, and waits for Redis.
        with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
            migrate_queued_jobs(connection)
        queues = [Queue(name_, connection=connection) for name_ in k.QUEUES]
        worker = AlertNetWorker(queues, connection=connection, settings=settings, name=name)
        try:
            worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
        except redis.RedisError as error:
            if not lost_primary(error):
                raise
            log.warning("worker_lost_redis", error=error.__class__.__name__)
        finally:
            RUNTIME.stop()
            connection.close()
        if burst or worker.stopping:
            return
        _wait_for_redis(settings)


def _wait_for_redis(settings: Settings) -> None:
    delay = 0.5
    while not answers(settings.redis_url):
        time.sleep(delay)
        delay = min(delay * 2, REDIS_WAIT_MAX_SECONDS)
    log.warning("worker_redis_back")
