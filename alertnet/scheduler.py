"""The scheduler process (APScheduler): periodic housekeeping that must survive any one worker.

Today: putting back batches whose worker died. Several scheduler processes may run; the sweep is safe to
run concurrently (a batch is taken back by exactly one of them).
"""

from __future__ import annotations

import contextlib

import structlog
from apscheduler.schedulers.blocking import BlockingScheduler

from alertnet.bootstrap import sync_redis
from alertnet.dispatch import Dispatcher
from alertnet.settings import Settings

log = structlog.get_logger("alertnet.scheduler")
SWEEP_SECONDS = 2.0


def sweep_once(dispatcher: Dispatcher) -> list[str]:
    requeued = dispatcher.sweep_stalled_batches()
    if requeued:
        log.warning("stalled_batches_requeued", batches=requeued)
    return requeued


def run_scheduler(settings: Settings) -> None:
    dispatcher = Dispatcher(sync_redis(settings))
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(
        sweep_once,
        "interval",
        seconds=SWEEP_SECONDS,
        args=[dispatcher],
        id="sweep",
        max_instances=1,
        coalesce=True,
    )
    log.info("scheduler_started")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
