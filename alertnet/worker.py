"""The rq worker: a non-forking worker that builds its adapters once and keeps one event loop.

Run with `alertnet worker` (or `rq worker -w alertnet.worker.AlertNetWorker alertnet-critical ...`).
Queues are listened to in priority order, so a critical alert's batches always go before bulk ones.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rq import Queue, SimpleWorker

from alertnet import constants as k
from alertnet.bootstrap import build_worker_context, sync_redis
from alertnet.pipeline import WorkerContext, process_batch
from alertnet.settings import Settings, load_settings


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
            self.loop.run_until_complete(self.context.close())
            self.loop.close()
        self.context = None
        self.loop = None


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

    def teardown(self) -> None:
        RUNTIME.stop()
        super().teardown()  # type: ignore[no-untyped-call]


def run_worker(settings: Settings, *, burst: bool = False, name: str | None = None) -> None:
    """Serve the alert queues until stopped (or until empty, with `burst`)."""
    connection = sync_redis(settings)
    queues = [Queue(name_, connection=connection) for name_ in k.QUEUES]
    worker = AlertNetWorker(queues, connection=connection, settings=settings, name=name)
    worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
