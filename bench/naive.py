"""Figure 3: the naive baseline, i.e. the same SMS sent the way the packages' quick starts suggest.

One rq job per message, run by the default forking `rq.Worker` (`rq worker` on the command line), each
job calling the synchronous `twilio.rest.Client(...).messages.create` pointed at the simulator with
`client.api.base_url`. It runs on its own database (db 1) of the bench's Redis and queue. Two variants:
`rq worker` as installed, and the same with the SDK imported before the fork (`bench.naive_rq_config`).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
from rq import Queue
from twilio.rest import Client

from alertnet.settings import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN
from bench.stack import REPO

QUEUE = "bench-naive"
NAIVE_FROM = "+15735550177"  # no hub sender uses it, so its messages are easy to pick out
BODY = "Lockdown: armed intruder reported near campus. Lock all doors. (naive baseline)"


def send_sms(sim_url: str, to: str, body: str) -> str:
    """The rq job: one message, a fresh client, the blocking SDK call, as in Twilio's quick start."""
    client = Client(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN)
    client.api.base_url = sim_url
    message = client.messages.create(to=to, from_=NAIVE_FROM, body=body)
    return str(message.sid)


def _enqueue(connection: redis.Redis, sim_url: str, numbers: list[str]) -> None:
    queue = Queue(QUEUE, connection=connection)
    jobs = [Queue.prepare_data(send_sms, args=(sim_url, to, BODY), result_ttl=60) for to in numbers]
    with connection.pipeline() as pipe:
        queue.enqueue_many(jobs, pipeline=pipe)
        pipe.execute()


def _run_workers(redis_url: str, workers: int, logs: Path, timeout: float, *, preload: bool) -> None:
    command = [str(Path(sys.executable).parent / "rq"), "worker", "--burst", "--url", redis_url]
    if preload:
        command += ["-c", "bench.naive_rq_config"]  # import the SDK before the fork (see that module)
    command += ["--logging_level", "WARNING", QUEUE]
    procs = []
    for n in range(workers):
        with (logs / f"naive-worker-{n}.log").open("ab") as out:
            procs.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO))
    deadline = time.monotonic() + timeout
    try:
        for proc in procs:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def run_naive(
    redis_url: str,
    sim_url: str,
    sim_messages: Any,
    numbers: list[str],
    *,
    workers: int,
    logs: Path,
    preload: bool,
) -> dict[str, Any]:
    """Send one SMS to each of `numbers` the naive way; the rate comes from the simulator's clock.

    `sim_messages(kind, since)` lists what the simulator received. With `preload`, the workers import the
    SDK before forking (the naive design at its best); without, they are `rq worker` exactly as installed.
    """
    connection = redis.Redis.from_url(redis_url)
    try:
        connection.delete(f"rq:queue:{QUEUE}")
        since = time.time()
        _enqueue(connection, sim_url, numbers)
        started = time.monotonic()
        _run_workers(redis_url, workers, logs, timeout=60 + len(numbers) / 5, preload=preload)
        wall = time.monotonic() - started
    finally:
        connection.close()
    times = sorted(m["received_at"] for m in sim_messages("sms", since) if m["from"] == NAIVE_FROM)
    if len(times) < 2:
        raise RuntimeError(f"naive baseline: only {len(times)} of {len(numbers)} messages arrived")
    span = times[-1] - times[0]
    return {
        "messages": len(times),
        "workers": workers,
        "span_s": round(span, 2),
        "messages_per_s": round((len(times) - 1) / span, 1),
        "wall_s_including_worker_start": round(wall, 2),
    }
