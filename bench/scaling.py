"""Scaling out: the statewide fan-out with 1, 2 and 4 worker processes (each on a stack of its own; on this
2-core machine the simulators, the API and Redis share the same cores, so the curve flattens early), and
on its own the Redis primary's rate for the hub's write pattern per delivery: the claim and the provider
id in batches (as a worker writes them), then one receipt per status callback (as the API applies them),
each through the hub's own `AlertStore.move` (the TRANSITION script). That rate bounds one deployment,
however many API and worker hosts it has."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from pathlib import Path
from typing import Any

import redis
from redis.asyncio import Redis

from alertnet.domain.deliveries import DeliveryState
from alertnet.pipeline.enqueue import Dispatcher
from alertnet.store.alerts import AlertStore, StateMove
from alertnet.store.server import start_redis
from bench.fanout import run_fanout, wait_drained
from bench.procs import CpuMeter
from bench.stack import open_stack

WORKER_COUNTS = (1, 2, 4)
BATCH = 100  # deliveries per claim and per provider-id write, as the pipeline's batches
CLIENTS = 8  # concurrent writers per client process (API and worker connections)
PROCESSES = 3  # client processes: one Python process cannot keep a Redis core busy
MESSAGE = "bench-redis-rate"
Q, SENDING, SENT = DeliveryState.QUEUED, DeliveryState.SENDING, DeliveryState.SENT


def worker_curve(workdir: Path, officials: int, log: Any) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    for workers in WORKER_COUNTS:
        with open_stack(workdir / f"workers-{workers}", workers=workers) as stack:
            stack.generate_and_import(officials)
            token = stack.add_sender("bench-director")
            run = run_fanout(stack, token, timeout=120 + 3 * officials / 300)
            wait_drained(stack, token, [run["alert_id"]], 300)
            runs[str(workers)] = {
                "deliveries": run["deliveries"],
                "post_to_last_request_s": run["post_to_last_request_s"],
                "deliveries_per_s": run["deliveries_per_s"],
            }
            log(f"  {workers} worker(s): {run['deliveries_per_s']:,.0f} deliveries/s")
    return {"officials": officials, "runs": runs}


def _client(url: str, ids: list[str], ready: Any, go: Any) -> None:
    ready.release()  # imported and connected: the clock starts when every client is
    go.wait()
    asyncio.run(_writes(url, ids))


async def _writes(url: str, ids: list[str]) -> float:
    conn = Redis.from_url(url)
    store = AlertStore(conn)
    chunks = [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]
    queue: asyncio.Queue[list[str]] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)

    async def writer() -> None:
        while not queue.empty():
            chunk = queue.get_nowait()
            claims = [StateMove(i, SENDING, frozenset({Q})) for i in chunk]
            await store.move(MESSAGE, "sms", claims, claim_cutoff=time.time() - 60)
            sent = [StateMove(i, SENT, frozenset({SENDING}), provider_id=f"SM{i}") for i in chunk]
            await store.move(MESSAGE, "sms", sent)
            for i in chunk:  # one status callback each
                await store.move(MESSAGE, "sms", [StateMove(i, DeliveryState.DELIVERED, frozenset({SENT}))])

    start = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(CLIENTS)))
    elapsed = time.perf_counter() - start
    await conn.aclose()
    return elapsed


def redis_rate(workdir: Path, deliveries: int) -> dict[str, Any]:
    """Deliveries per second the primary takes at the hub's write pattern (append-only file on, as in
    production), from `CLIENTS` connections of one process; Redis's own CPU use beside it."""
    server = start_redis(workdir / "redis-rate", persistent=True)
    try:
        ids = [f"mo-{n:07d}" for n in range(deliveries)]
        conn = redis.Redis.from_url(server.url)
        with conn.pipeline(transaction=False) as pipe:
            Dispatcher._write_deliveries(pipe, MESSAGE, {"sms": ids}, time.time())
            pipe.execute()
        conn.close()
        meter = CpuMeter({"redis": [server.process.pid]})
        shares = [ids[n::PROCESSES] for n in range(PROCESSES)]
        context = multiprocessing.get_context("spawn")
        ready, go = context.Semaphore(0), context.Event()
        clients = [context.Process(target=_client, args=(server.url, share, ready, go)) for share in shares]
        for client in clients:
            client.start()
        for _ in clients:
            ready.acquire()
        meter.start()
        start = time.perf_counter()
        go.set()
        for client in clients:
            client.join()
        elapsed = time.perf_counter() - start
        cpu = meter.stop()["redis"]
        moves = deliveries * (2 / BATCH + 1)
        busy = cpu / elapsed
        return {
            "deliveries": deliveries,
            "seconds": round(elapsed, 2),
            "deliveries_per_s": round(deliveries / elapsed),
            "script_calls_per_s": round(moves / elapsed),
            "redis_cpu_s": round(cpu, 2),
            "redis_core_busy": round(busy, 3),
            # Redis runs commands on one core: the rate it would take with that core fully busy.
            "at_one_full_core_per_s": round(deliveries / elapsed / busy) if busy else None,
        }
    finally:
        server.stop()


def scaling_rows(f: dict[str, Any], row: Any) -> list[Any]:
    s = f.get("scaling")
    if not s:
        return []
    out = []
    curve = s.get("workers")
    if curve:
        text = ", ".join(f"{w}: {r['deliveries_per_s']:,.0f}/s" for w, r in curve["runs"].items())
        out.append(
            row(
                "10. Fan-out deliveries/s by worker processes (this 2-core machine; simulators share it)",
                f"{text} ({curve['officials']:,} officials)",
                "",
                None,
            )
        )
    rate = s.get("redis")
    if rate:
        out.append(
            row(
                "10. Redis primary alone, the hub's writes per delivery (claim, provider id, receipt)",
                f"{rate['deliveries_per_s']:,}/s with its core {rate['redis_core_busy']:.0%} busy, so about "
                f"{rate['at_one_full_core_per_s']:,}/s at a full core ({rate['deliveries']:,} deliveries, "
                f"{PROCESSES} client processes, AOF on)",
                "",
                None,
            )
        )
    return out
