"""Runs every figure in order on one stack, then the provider-limit run on a stack of its own.

Order matters on a 2-core machine: the cheap probes (ceiling, naive baseline) run while the hub is idle,
each heavy phase waits for the previous one's provider callbacks to drain, and the escalation figure
(which stops the workers and restarts the API) comes last.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bench.acks import run_acks
from bench.ceiling import measure_ceiling
from bench.config import BenchConfig
from bench.console import run_console
from bench.digest import run_digest
from bench.escalation import run_escalation
from bench.fanout import run_fanout, wait_drained
from bench.machine import load_average, machine_info
from bench.memory import peak_rss, per_item, redis_used_bytes
from bench.naive import run_naive
from bench.paced import run_paced
from bench.payloads import Registry, critical_alert
from bench.priority import run_priority
from bench.profiling import Profiler, Recording
from bench.scaling import redis_rate, worker_curve
from bench.schools_view import run_schools_view
from bench.stack import Stack, open_stack
from bench.stats import median

SENDER = "bench-director"


class Log:
    """Progress lines on stdout and each phase's duration for results.json."""

    def __init__(self) -> None:
        self.durations: dict[str, float] = {}
        self.started = time.monotonic()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        print(
            f"[{time.monotonic() - self.started:6.1f}s] {name} ... (load average {load_average()[0]})",
            flush=True,
        )
        start = time.monotonic()
        yield
        self.durations[name] = round(time.monotonic() - start, 1)
        print(f"[{time.monotonic() - self.started:6.1f}s] {name}: {self.durations[name]} s", flush=True)


def run_bench(config: BenchConfig) -> dict[str, Any]:
    """Run everything; returns the results (also on a partial run, with `error` set)."""
    log = Log()
    results: dict[str, Any] = {"machine": machine_info(), "parameters": config.parameters(), "figures": {}}
    workdir = Path(tempfile.mkdtemp(prefix="alertnet-bench-"))
    try:
        with log.phase("start stack"):
            stack = open_stack(workdir / "main", workers=config.workers)
        with stack:
            main_figures(stack, config, results, log)
        if config.paced_officials:
            with log.phase("provider limits (own stack)"):
                results["figures"]["paced"] = run_paced(
                    workdir / "paced",
                    config.paced_officials,
                    sms_rate_per_sender=config.sms_rate_per_sender,
                    calls_per_second=config.calls_per_second,
                    workers=config.workers,
                )
        if config.scaling_officials:
            with log.phase("worker processes 1, 2, 4 and the Redis primary's rate (own stacks)"):
                results["figures"]["scaling"] = {
                    "workers": worker_curve(workdir / "scaling", config.scaling_officials, print),
                    "redis": redis_rate(workdir / "scaling", config.redis_rate_deliveries),
                }
    except Exception as error:  # report what was measured before it; the stacks are already stopped
        traceback.print_exc()
        results["error"] = f"{type(error).__name__}: {error}"
    finally:
        results["durations_s"] = {**log.durations, "total": round(time.monotonic() - log.started, 1)}
        if config.keep_workdir:
            print(f"kept {workdir} (Redis data and process logs)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


@dataclass
class Bench:
    """What every phase of the main stack uses."""

    stack: Stack
    config: BenchConfig
    profiler: Profiler
    figures: dict[str, Any]
    token: str = ""
    registry: Registry | None = None

    def pids(self, *kinds: str) -> dict[str, int]:
        """The first process of each kind (the one profiled)."""
        return {kind: self.stack.pids(kind)[0] for kind in kinds}


def main_figures(stack: Stack, config: BenchConfig, results: dict[str, Any], log: Log) -> None:
    bench = Bench(stack, config, Profiler(config.out_dir, enabled=config.profile), results["figures"])
    try:
        with log.phase(f"import {config.officials} officials"):
            import_registry(bench)
        with log.phase("first alert after the import (warms the API's registry cache)"):
            warm_up(bench)
        with log.phase("simulator ceiling"):
            bench.figures["ceiling"] = ceiling(bench)
        with log.phase("naive baseline"):
            bench.figures["naive"] = naive(bench)
        with log.phase("statewide fan-out"):
            bench.figures["fanout"] = fanouts(bench)
        with log.phase("priority during a bulk send"):
            bench.figures["priority"] = priority(bench)
        with log.phase("weekly digest with an alert during it"):
            bench.figures["digest"] = digest(bench)
        with log.phase("acknowledgements"):
            bench.figures["acks"] = acks(bench)
        if config.schools_view_seconds:
            with log.phase("per-school view of a statewide alert while acks arrive"):
                bench.figures["schools_view"] = schools_view(bench)
        if config.console_repeats:
            with log.phase("live views during the fan-out, and the correction"):
                bench.figures["console"] = run_console(
                    stack,
                    bench.token,
                    repeats=config.console_repeats,
                    timeout=120 + 3 * config.officials / 300,
                    drain=config.drain_timeout_s,
                    log=print,
                )
        bench.figures["memory"]["peak_rss_mib"] = peak_rss(stack)
        with log.phase("escalation lateness"):
            bench.figures["escalation"] = escalation(bench)
    finally:
        bench.profiler.close()
        results["profiles"] = bench.profiler.summaries


def import_registry(bench: Bench) -> None:
    before = redis_used_bytes(bench.stack)
    started = time.monotonic()
    bench.registry = Registry.read(bench.stack.generate_and_import(bench.config.officials))
    import_s = time.monotonic() - started
    per_official = per_item(before, redis_used_bytes(bench.stack), bench.config.officials)
    bench.figures["memory"] = {"redis_per_official": {**per_official, "import_s": round(import_s, 1)}}
    bench.token = bench.stack.add_sender(SENDER)


def warm_up(bench: Bench) -> None:
    """A one-district alert: the first alert after an import loads the registry into the API's cache,
    which would otherwise land on the statewide POST. Its latency is kept as the cold-cache figure."""
    assert bench.registry is not None
    district = bench.registry.districts(1)[0]
    answer, _, latency = bench.stack.post_alert(bench.token, critical_alert(district))
    bench.figures["cold_post"] = {"post_latency_s": round(latency, 3), "recipients": answer["recipients"]}
    wait_drained(bench.stack, bench.token, [answer["id"]], bench.config.drain_timeout_s)


def ceiling(bench: Bench) -> dict[str, Any]:
    config = bench.config
    runs = []
    for _ in range(config.repeats):
        runs.append(
            measure_ceiling(
                bench.stack.sim, max_requests=config.ceiling_requests, max_seconds=config.ceiling_seconds
            )
        )
        bench.stack.reset_sim()
    return {"runs": runs, "requests_per_s": median([r["requests_per_s"] for r in runs])}


def naive(bench: Bench) -> dict[str, Any]:
    """Both variants, `repeats` runs each, on db 1 of the bench's own server."""
    assert bench.registry is not None
    stack, config = bench.stack, bench.config
    url = stack.redis_url.rsplit("/", 1)[0] + "/1"
    numbers = bench.registry.mobiles[: config.naive_messages]
    result: dict[str, Any] = {}
    for variant, preload in (("out_of_the_box", False), ("sdk_preloaded", True)):
        runs = []
        for _ in range(config.repeats):
            logs = stack.workdir / "logs"
            runs.append(
                run_naive(
                    url,
                    stack.sim,
                    stack.sim_messages,
                    numbers,
                    workers=config.naive_workers,
                    logs=logs,
                    preload=preload,
                )
            )
            stack.reset_sim()
        result[variant] = {"runs": runs, "messages_per_s": median([r["messages_per_s"] for r in runs])}
    conn = redis.Redis.from_url(url)
    conn.flushdb()  # our own server's db 1: job records would expire later and skew the memory figures
    conn.close()
    return result


def fanouts(bench: Bench) -> dict[str, Any]:
    """The statewide fan-out `fanout_repeats` times (median). The last run is profiled: the API while it
    takes the POST, then worker, API and simulator for `profile_seconds` of the sending."""
    stack, config, profiler = bench.stack, bench.config, bench.profiler
    runs: list[dict[str, Any]] = []
    timeout = 120 + 3 * config.officials / 300
    for n in range(config.fanout_repeats):
        profiled = config.profile and n == config.fanout_repeats - 1
        post = profiler.start("post", bench.pids("api"), 30) if profiled else []
        sending: list[Recording] = []
        if post:
            time.sleep(1.0)  # py-spy needs a moment to attach

        def on_posted(post: list[Recording] = post, sending: list[Recording] = sending) -> None:
            if post:
                profiler.interrupt(post)
                sending += profiler.start(
                    "fanout", bench.pids("worker", "api", "sim"), config.profile_seconds
                )

        before = redis_used_bytes(stack)
        run = run_fanout(stack, bench.token, timeout=timeout, on_posted=on_posted)
        profiler.finish(post + sending)
        run["profiled"] = bool(sending)
        drained = wait_drained(stack, bench.token, [run["alert_id"]], config.drain_timeout_s)
        run["settled_after_post_s"] = None if drained is None else round(time.time() - run["posted_at"], 1)
        run["webhooks_to_hub"] = stack.sim_stats()["callbacks"]  # what the API had to take in
        if n == 0:
            delivery = per_item(before, redis_used_bytes(stack), run["deliveries"])
            bench.figures["memory"]["redis_per_delivery"] = {**delivery, "settled": drained is not None}
        runs.append(run)
    keys = (
        "post_to_last_request_s",
        "deliveries_per_s",
        "twilio_requests_per_s",
        "post_latency_s",
        "first_sms_s",
    )
    settled = [r["settled_after_post_s"] for r in runs if r["settled_after_post_s"] is not None]
    summary = {key: median([r[key] for r in runs]) for key in keys}
    summary["settled_after_post_s"] = median(settled)
    return {"runs": runs, "median": summary, "deliveries": runs[0]["deliveries"]}


def priority(bench: Bench) -> dict[str, Any]:
    assert bench.registry is not None
    result = run_priority(
        bench.stack,
        bench.token,
        bench.registry,
        criticals=bench.config.criticals,
        gap_s=bench.config.critical_gap_s,
        timeout=120 + bench.config.officials / 200,
    )
    result["drained_after_s"] = wait_drained(
        bench.stack, bench.token, [], bench.config.drain_timeout_s, message_ids=(result["bulk_message_id"],)
    )
    return result


def digest(bench: Bench) -> dict[str, Any]:
    assert bench.registry is not None
    result = run_digest(bench.stack, bench.token, bench.registry, timeout=120 + bench.config.officials / 200)
    wait_drained(bench.stack, bench.token, [], bench.config.drain_timeout_s)
    return result


def acks(bench: Bench) -> dict[str, Any]:
    assert bench.registry is not None
    config = bench.config
    recording = bench.profiler.start("acks", bench.pids("api"), config.ack_seconds + 30)
    try:
        mobiles = bench.registry.mobiles[: config.ack_max]
        return run_acks(bench.stack, mobiles, in_flight=config.ack_in_flight, max_seconds=config.ack_seconds)
    finally:
        bench.profiler.finish(recording)


def schools_view(bench: Bench) -> dict[str, Any]:
    assert bench.registry is not None
    config = bench.config
    return run_schools_view(
        bench.stack,
        bench.token,
        bench.registry.mobiles,
        seconds=config.schools_view_seconds,
        timeout=120 + config.officials / 200,
        drain=config.drain_timeout_s,
    )


def escalation(bench: Bench) -> dict[str, Any]:
    config = bench.config
    last_step = 1920 * config.escalation_time_scale  # the "extreme" policy's last step, 32 minutes
    recording = bench.profiler.start("escalation", bench.pids("scheduler"), last_step + 60)
    try:
        return run_escalation(
            bench.stack,
            bench.token,
            alerts=config.escalation_alerts,
            time_scale=config.escalation_time_scale,
            spacing_s=config.escalation_spacing_s,
            timeout=60 + last_step,
        )
    finally:
        bench.profiler.finish(recording)
