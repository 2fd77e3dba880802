"""Work queued by the version before the package's rooms still runs after the upgrade: rq jobs that name
the old function path (`alertnet.worker.run_batch`), for an alert stored without a message record."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import Job

from alertnet.domain.alert_request import example_alert_request
from alertnet.domain.registry_sample import generate_registry
from alertnet.pipeline.enqueue import RUN_BATCH
from alertnet.pipeline.upgrade import migrate_queued_jobs
from alertnet.store import keys as k
from alertnet.store.server import RedisProcess
from tests.conftest import Stack, start_stack, stop_stack

OLD_RUN_BATCH = "alertnet.worker.run_batch"


@pytest.fixture
def upgrade_stack(redis_server: RedisProcess, tmp_path: Path) -> Iterator[Stack]:
    stack = start_stack(redis_server, tmp_path / "data", db=6, ALERTNET_ESCALATION_TIME_SCALE="1000")
    yield stack
    stop_stack(stack)


def _as_before_the_upgrade(conn: redis.Redis, message_id: str) -> int:
    """Make the queued work look as the previous version left it: jobs naming the old path, and the
    alert's signed record without the message record this version adds. Returns the jobs rewritten."""
    rewritten = 0
    for name in k.QUEUES:
        for job in Job.fetch_many(Queue(name, connection=conn).get_job_ids(), connection=conn):
            if job is not None and job.func_name == RUN_BATCH:
                job.func_name = OLD_RUN_BATCH
                conn.hset(job.key, "data", job.data)
                rewritten += 1
    conn.delete(k.MESSAGE_KEY + message_id)
    return rewritten


def test_jobs_queued_under_the_old_path_still_send(upgrade_stack: Stack, tmp_path: Path) -> None:
    stack = upgrade_stack
    (tmp_path / "registry.csv").write_text(generate_registry(30, seed=11))
    assert stack.import_contacts(tmp_path / "registry.csv").returncode == 0
    director = stack.add_sender("upgrade-director", "director")
    stack.stop("worker")  # the old version's workers are gone; its queued work waits
    posted = time.time()
    answer = stack.post_alert(director, {**example_alert_request(), "channels": ["sms", "email"]}).json()
    conn = redis.Redis.from_url(stack.env["REDIS_URL"])
    try:
        assert _as_before_the_upgrade(conn, answer["id"]) >= 2
        stack.start("worker", 2)  # the new version's workers
        status = stack.wait_settled(director, answer["id"], timeout=60)
        assert status["channels"]["sms"]["states"] == {"delivered": answer["recipients"]["sms"]}
        # Each official's SMS went out exactly once, carrying the alert's code.
        sms = [m for m in stack.sim_messages("sms", posted) if answer["verification_code"] in m["body"]]
        assert len(sms) == answer["recipients"]["sms"] == len({m["to"] for m in sms})
        emails = [m for m in stack.sim_messages("email", posted) if answer["id"] in str(m)]
        assert len(emails) == answer["recipients"]["email"]
        # Nothing is left naming the old path, and no job failed on it.
        for name in k.QUEUES:
            assert Queue(name, connection=conn).failed_job_registry.count == 0
    finally:
        conn.close()


def test_migration_rewrites_only_moved_functions(fresh_redis_url: str) -> None:
    conn = redis.Redis.from_url(fresh_redis_url)
    try:
        queue = Queue(k.QUEUE_HIGH, connection=conn)
        old = queue.enqueue(OLD_RUN_BATCH, "B1", job_id="old-1")
        other = queue.enqueue("builtins.print", "x", job_id="other-1")
        assert migrate_queued_jobs(conn) == 1
        assert Job.fetch(old.id, connection=conn).func_name == RUN_BATCH
        assert list(Job.fetch(old.id, connection=conn).args) == ["B1"]
        assert Job.fetch(other.id, connection=conn).func_name == "builtins.print"
        assert queue.get_job_ids() == ["old-1", "other-1"]  # same jobs, same places
        assert migrate_queued_jobs(conn) == 0
    finally:
        conn.close()
