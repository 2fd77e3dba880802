"""The scheduler process (APScheduler on asyncio): escalation timers and housekeeping.

Several scheduler processes may run at once: a due step is claimed by exactly one of them, and a stalled
batch is put back by exactly one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import UTC, datetime

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from alertnet.bootstrap import build_services
from alertnet.pipeline.context import build_channels
from alertnet.pipeline.enqueue import Dispatcher
from alertnet.pipeline.escalation_timers import Escalator
from alertnet.pipeline.reconcile import ReceiptReconciler
from alertnet.settings import Settings
from alertnet.store import registry

APPROVAL_TICK_SECONDS = 5.0
PAGE_TICK_SECONDS = 1.0
log = structlog.get_logger("alertnet.scheduler")
SWEEP_SECONDS = 2.0
RECONCILE_MAX_SECONDS = 30.0
AUDIT_CHECKPOINT_SECONDS = 300.0


def sweep_once(dispatcher: Dispatcher) -> list[str]:
    requeued = dispatcher.sweep_stalled_batches()
    if requeued:
        log.warning("stalled_batches_requeued", batches=requeued)
    return requeued


async def serve_scheduler(settings: Settings, stop: asyncio.Event) -> None:
    services = build_services(settings)
    # One pair of connections and one dispatcher for the whole process: the services' own.
    conn, dispatcher, policies = services.conn, services.fanout.dispatcher, services.alerts.policies
    # The services' registry snapshot, not a second copy of it in this process.
    escalator = Escalator(
        settings, conn, dispatcher, policies, services.messages, services.registry.officials
    )
    channels = build_channels(settings, conn)
    overdue = settings.pipeline.receipt_overdue_seconds
    reconciler = ReceiptReconciler(services.alerts.alerts, services.receipts, channels, overdue)

    async def sweep() -> None:
        await asyncio.to_thread(sweep_once, dispatcher)

    async def run_digest() -> None:
        for outcome in await services.digest.run_due():
            log.info("digest_due", issue=outcome.issue, state=outcome.state, detail=outcome.detail)

    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        escalator.fire_due,
        "interval",
        seconds=settings.escalation.tick_seconds,
        id="escalate",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
    scheduler.add_job(sweep, "interval", seconds=SWEEP_SECONDS, id="sweep", max_instances=1, coalesce=True)
    # A due step should not be the one that pays for loading the registry after an import.
    scheduler.add_job(
        escalator.officials.snapshot,
        "interval",
        seconds=registry.REFRESH_SECONDS,
        id="registry",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )
    scheduler.add_job(
        reconciler.run_once,
        "interval",
        seconds=min(RECONCILE_MAX_SECONDS, max(1.0, overdue / 3)),
        id="receipts",
        max_instances=1,
        coalesce=True,
    )
    # Signed checkpoints pin the audit trail's hash chain (`alertnet audit verify`).
    scheduler.add_job(
        services.audit.checkpoint,
        "interval",
        seconds=AUDIT_CHECKPOINT_SECONDS,
        id="audit-checkpoint",
        max_instances=1,
        coalesce=True,
    )
    # The weekly update: what is due comes from the schedule and the issue records in Redis, so a tick
    # missed (or two schedulers ticking) neither loses nor doubles a send.
    scheduler.add_job(
        run_digest,
        "interval",
        seconds=settings.digest.tick_seconds,
        id="digest",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )
    # The two-person rule's fallback, where a state configured one (a claimed decision: sent once).
    # Other directors are paged about an alert held for their approval (once per alert).
    scheduler.add_job(
        services.approvals.page_waiting,
        "interval",
        seconds=PAGE_TICK_SECONDS,
        id="approval-page",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        services.approvals.run_fallback,
        "interval",
        seconds=APPROVAL_TICK_SECONDS,
        id="approval-fallback",
        max_instances=1,
        coalesce=True,
    )
    # Urgent answers' notices still owed (their process died, or sending failed): sent once.
    scheduler.add_job(
        services.polls.send_due_notices,
        "interval",
        seconds=max(1.0, min(15.0, settings.escalation.help_notice_retry_seconds / 4)),
        id="poll-notices",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    log.info("scheduler_started", policies=[p.name for p in policies])
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        for adapter in channels.values():
            await adapter.close()
        await services.close()


def run_scheduler(settings: Settings) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_scheduler(settings, stop)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
