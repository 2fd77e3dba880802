"""Figure 6: how late escalation steps fire with every official still unacknowledged.

The API is restarted with ALERTNET_ESCALATION_TIME_SCALE compressing the policy clock (the "extreme" policy's
2, 5, 10, 12, 22 and 32 minute steps become seconds), several statewide alerts are posted, and the
scheduler's own record of each step's lateness (`an:esc:lateness`, seconds after the step was due when its
wave was written) is read back. Workers are stopped first: each step sends up to N calls and messages,
which is not what this figure measures and would not finish within the bench.
"""

from __future__ import annotations

import json
import time
from typing import Any

from alertnet.store import keys as k
from bench.payloads import LOCKDOWN
from bench.stack import Stack
from bench.stats import percentile, rounded

ESCALATING = {**LOCKDOWN, "event": "Shelter in place", "channels": ["email"]}


def _waves(stack: Stack, alert_ids: list[str]) -> int:
    conn = stack.redis()
    try:
        plans = [conn.get(k.ESCALATION_PLAN + a) for a in alert_ids]
        return sum(len(json.loads(p)["waves"]) for p in plans if p)
    finally:
        conn.close()


def run_escalation(
    stack: Stack, token: str, *, alerts: int, time_scale: float, spacing_s: float, timeout: float
) -> dict[str, Any]:
    """Post `alerts` escalating alerts `spacing_s` apart and collect the lateness of all their steps."""
    stack.stop("worker")
    stack.restart_api(ALERTNET_ESCALATION_TIME_SCALE=str(time_scale))
    conn = stack.redis()
    try:
        conn.delete(k.ESCALATION_LATENESS)
        alert_ids: list[str] = []
        post_latencies: list[float] = []
        pending: list[int] = []
        for _ in range(alerts):
            answer, _, latency = stack.post_alert(token, ESCALATING)
            alert_ids.append(answer["id"])
            post_latencies.append(round(latency, 2))
            pending.append(int(conn.scard(k.RECIPIENTS_KEY + answer["id"])))
            time.sleep(spacing_s)
        waves = _waves(stack, alert_ids)
        deadline = time.monotonic() + timeout
        while int(conn.llen(k.ESCALATION_LATENESS)) < waves and time.monotonic() < deadline:
            stack.check_alive()
            time.sleep(0.5)
        lateness = [float(x) for x in conn.lrange(k.ESCALATION_LATENESS, 0, -1)]
    finally:
        conn.close()
    return {
        "alerts": alerts,
        "pending_officials_per_alert": pending,
        "time_scale": time_scale,
        "steps_expected": waves,
        "steps_fired": len(lateness),
        "post_latency_s": post_latencies,
        "lateness_s": sorted(round(x, 3) for x in lateness),
        "p50_s": rounded(percentile(lateness, 50)),
        "p99_s": rounded(percentile(lateness, 99)),
        "max_s": rounded(max(lateness) if lateness else None),
    }
