"""Figure 1: a statewide alert to every official on three channels, timed by the simulators' clocks.

`/sim/stats` carries, per kind, the first and last request times (the `received_at` the simulators stamp
on each record) and the number of deliveries received (one per SMS, call or email personalization).
Polling it a few times a second gives the deliveries-over-time curve without moving 150,000 records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alertnet.domain.deliveries import AlertProgress
from alertnet.store import keys as k
from bench.machine import MachineCpu
from bench.payloads import LOCKDOWN
from bench.procs import CpuMeter
from bench.stack import Stack

POLL_SECONDS = 0.25


@dataclass
class ProviderWait:
    """What the simulators saw: the final /sim/stats, and samples of
    (seconds since start, SMS, calls, email personalizations received so far)."""

    stats: dict[str, Any]
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)
    complete: bool = False


def wait_for_provider(stack: Stack, expected: int, since: float, timeout: float) -> ProviderWait:
    """Poll /sim/stats until `expected` deliveries arrived (or `timeout` seconds passed)."""
    wait = ProviderWait(stats={})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = stack.sim_stats()
        counts = stats["counts"]
        received = counts["sms"] + counts["voice"] + counts["email"]
        wait.samples.append((time.time() - since, counts["sms"], counts["voice"], counts["email"]))
        wait.stats = stats
        if received >= expected:
            wait.complete = True
            break
        stack.check_alive()
        time.sleep(POLL_SECONDS)
    return wait


def message_settled(stack: Stack, message_id: str) -> bool:
    """Whether every delivery of a message that is not an alert (no API to follow it) is final."""
    conn = stack.redis()
    try:
        totals = {key.decode(): int(n) for key, n in conn.hgetall(k.TOTALS_KEY + message_id).items()}
        counts: dict[str, dict[str, int]] = {}
        for key, n in conn.hgetall(k.COUNTS_KEY + message_id).items():
            slot, state = key.decode().split(":", 1)
            counts.setdefault(slot, {})[state] = int(n)
    finally:
        conn.close()
    return AlertProgress(totals, counts).settled


def wait_drained(
    stack: Stack, token: str, alert_ids: list[str], timeout: float, message_ids: tuple[str, ...] = ()
) -> float | None:
    """Wait until the simulators have no callbacks left to post and every alert and message is settled.

    Returns the seconds waited, or None when `timeout` passed first.
    """
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        stats = stack.sim_stats()
        if (
            stats["callbacks"]["backlog"] == 0
            and all(stack.alert_status(token, a)["settled"] for a in alert_ids)
            and all(message_settled(stack, m) for m in message_ids)
        ):
            return time.monotonic() - start
        stack.check_alive()
        time.sleep(0.5)
    return None


def component_pids(stack: Stack) -> dict[str, list[int]]:
    pids = {kind: stack.pids(kind) for kind in ("sim", "api", "worker", "scheduler")}
    assert stack.redis_server is not None, "the bench's stacks start their own Redis"
    pids["redis"] = [stack.redis_server.process.pid]
    return pids


def _span(kinds: dict[str, Any], names: tuple[str, ...]) -> tuple[float, float] | None:
    firsts = [kinds[n]["first_request_at"] for n in names if kinds[n]["first_request_at"]]
    lasts = [kinds[n]["last_request_at"] for n in names if kinds[n]["last_request_at"]]
    return (min(firsts), max(lasts)) if firsts and lasts else None


def run_fanout(
    stack: Stack, token: str, *, timeout: float, on_posted: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Post the statewide lockdown and follow it until the simulators have every delivery."""
    stack.reset_sim()
    cpu = CpuMeter(component_pids(stack))
    machine = MachineCpu()
    cpu.start()
    machine.start()
    answer, sent, post_latency = stack.post_alert(token, LOCKDOWN)
    if on_posted is not None:
        on_posted()
    expected = sum(answer["recipients"].values())
    wait = wait_for_provider(stack, expected, sent, timeout)
    used = cpu.stop()
    busy, wall = machine.stop()
    kinds = wait.stats["kinds"]
    everything = _span(kinds, ("sms", "voice", "email"))
    twilio = _span(kinds, ("sms", "voice"))
    delivered = sum(wait.stats["counts"].values())
    if not wait.complete or everything is None:
        raise RuntimeError(f"fan-out incomplete after {timeout:.0f} s: {wait.stats['counts']} of {expected}")
    to_last = everything[1] - sent
    twilio_requests = kinds["sms"]["requests"] + kinds["voice"]["requests"]
    return {
        "alert_id": answer["id"],
        "posted_at": sent,
        "recipients": answer["recipients"],
        "deliveries": delivered,
        "post_latency_s": round(post_latency, 3),
        "first_sms_s": round(kinds["sms"]["first_request_at"] - sent, 3),
        "post_to_last_request_s": round(to_last, 2),
        "deliveries_per_s": round(delivered / to_last, 1),
        "twilio_requests": twilio_requests,
        "twilio_requests_per_s": round(twilio_requests / (twilio[1] - twilio[0]), 1) if twilio else None,
        "per_kind": {
            name: {
                "deliveries": wait.stats["counts"][name],
                "requests": kinds[name]["requests"],
                "first_s": round(kinds[name]["first_request_at"] - sent, 2),
                "last_s": round(kinds[name]["last_request_at"] - sent, 2),
                "status_codes": kinds[name]["status_codes"],
            }
            for name in ("sms", "voice", "email")
        },
        "cpu_seconds": {**used, "whole_machine": round(busy, 1), "wall": round(wall, 1)},
        "timeline": [(round(t, 2), *rest) for t, *rest in wait.samples],
        "callbacks_backlog_at_end": wait.stats["callbacks"]["backlog"],
    }
