"""Work queued by an earlier version still runs: rq jobs name their function by dotted path, and paths
that moved are rewritten in place (same job id, same place in its queue) when a worker starts."""

from __future__ import annotations

import redis
import structlog
from rq import Queue
from rq.job import Job

from alertnet.pipeline.enqueue import RUN_BATCH
from alertnet.store import keys as k

log = structlog.get_logger("alertnet.upgrade")

MOVED_JOB_FUNCTIONS = {
    "alertnet.worker.run_batch": RUN_BATCH,  # before 0.2 the worker was a top-level module
}


def migrate_queued_jobs(connection: redis.Redis) -> int:
    """Point every queued job whose function moved at its new path; returns how many were rewritten.

    Safe to run from several workers at once: a rewrite writes the same values.
    """
    moved = 0
    for name in k.QUEUES:
        queue = Queue(name, connection=connection)
        for job in Job.fetch_many(queue.get_job_ids(), connection=connection):
            if job is None:
                continue
            new_path = MOVED_JOB_FUNCTIONS.get(job.func_name or "")
            if new_path is None:
                continue
            job.func_name = new_path
            connection.hset(job.key, "data", job.data)
            moved += 1
    if moved:
        log.warning("queued_jobs_migrated", jobs=moved)
    return moved
