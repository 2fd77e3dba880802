"""Figure 4: a critical alert's time to its first SMS while a statewide bulk-priority send is in flight.

The bulk send is a digest-kind message at bulk priority put through the shared fan-out step
(`alertnet.services.fanout.FanOut`) in this process: the path the weekly digest takes. Critical
alerts (Extreme / Immediate, SMS only, one school district each) are then posted through the API a
few seconds apart while the bulk SMS are still going out; each one's first SMS is read back from the
simulator afterwards.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ulid import ULID

from alertnet.bootstrap import Services, using_services
from alertnet.domain.messages import Channel, Content, Message, MessageKind, Priority
from alertnet.settings import Settings
from bench.fanout import wait_for_provider
from bench.payloads import DIGEST_SMS, Registry, critical_alert
from bench.stack import Stack
from bench.stats import median, rounded


async def _submit_bulk(settings: Settings) -> tuple[str, int]:
    """Fan out one SMS digest notice to every active official with a mobile, at bulk priority."""

    async def send(services: Services) -> tuple[str, int]:
        snapshot = await services.alerts.officials.snapshot()
        ids = [o.id for o in snapshot.active if o.mobile]
        message = Message(
            id=str(ULID()),
            kind=MessageKind.DIGEST,
            priority=Priority.BULK,
            acknowledgeable=False,
            escalatable=False,
            content=Content(sms=DIGEST_SMS),
            created=time.time(),
        )
        counts = await services.fanout.send(message, {Channel.SMS: ids})
        return message.id, sum(counts.values())

    return await using_services(settings, send)


def _sms_count(stack: Stack) -> int:
    return int(stack.sim_stats()["counts"]["sms"])


def first_sms(stack: Stack, mobiles: list[str], code: str, since: float) -> float | None:
    """When the simulator got the first SMS carrying `code` to any of `mobiles`."""
    times = [
        m["received_at"]
        for mobile in mobiles
        for m in stack.sim_messages("sms", since, to=mobile)
        if code in m["body"]
    ]
    return min(times) if times else None


def run_priority(
    stack: Stack,
    token: str,
    registry: Registry,
    *,
    criticals: int,
    gap_s: float,
    timeout: float,
) -> dict[str, Any]:
    """Start the bulk send, post `criticals` critical alerts `gap_s` apart into it, and time them."""
    stack.reset_sim()
    submit_start = time.time()
    bulk_id, bulk_total = asyncio.run(_submit_bulk(stack.settings))
    bulk_submit_s = time.time() - submit_start
    deadline = time.monotonic() + timeout
    while _sms_count(stack) < min(500, bulk_total // 10) and time.monotonic() < deadline:
        time.sleep(0.05)
    posted: list[dict[str, Any]] = []
    for district in registry.districts(criticals):
        in_flight = _sms_count(stack)
        if in_flight >= bulk_total:
            break  # the bulk send is over: a later critical would not measure what we want
        answer, sent, latency = stack.post_alert(token, critical_alert(district))
        posted.append(
            {
                "district": district,
                "sent": sent,
                "code": answer["verification_code"],
                "post_latency_s": round(latency, 3),
                "recipients": answer["recipients"]["sms"],
                "bulk_sms_before": in_flight,
            }
        )
        time.sleep(gap_s)
    expected = bulk_total + sum(p["recipients"] for p in posted)
    wait = wait_for_provider(stack, expected, submit_start, max(1.0, deadline - time.monotonic()))
    bulk_last = wait.stats["kinds"]["sms"]["last_request_at"]
    for p in posted:
        first = first_sms(stack, registry.district_mobiles[p["district"]], p["code"], p["sent"])
        p["first_sms_s"] = rounded(None if first is None else first - p["sent"])
        p["bulk_still_sending"] = bool(first and bulk_last and bulk_last > first)
    latencies = [p["first_sms_s"] for p in posted if p["first_sms_s"] is not None]
    return {
        "bulk_message_id": bulk_id,
        "bulk_deliveries": bulk_total,
        "bulk_submit_s": round(bulk_submit_s, 2),
        "bulk_sms_span_s": round(bulk_last - wait.stats["kinds"]["sms"]["first_request_at"], 1),
        "criticals": [{k: v for k, v in p.items() if k != "sent"} for p in posted],
        "first_sms_median_s": rounded(median(latencies)),
        "first_sms_max_s": rounded(max(latencies) if latencies else None),
        "all_during_bulk": all(p["bulk_still_sending"] for p in posted),
        "complete": wait.complete,
    }
