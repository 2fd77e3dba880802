"""The worker side of the fan-out: run one batch of deliveries to the end, exactly once per delivery.

A batch claims its deliveries (QUEUED/RETRYING -> SENDING) in one atomic step, sends through the channel
adapter with bounded concurrency, and records each outcome. A delivery that has a provider id is never
claimed again, so a retried job or a second worker cannot send it twice. Transient failures are retried
here with backoff; a send whose outcome is unknown (timeout, dead worker) waits `stale_claim_seconds` for
the provider's status callback before it is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from redis.asyncio import Redis

from alertnet import constants as k
from alertnet.alerts import Alert, Channel
from alertnet.channels.base import ChannelAdapter, Outcome, OutgoingAlert, SendResult
from alertnet.contacts import Official
from alertnet.deliveries import CLAIMABLE_STATES, DeliveryState, backoff_seconds
from alertnet.dispatch import Batch
from alertnet.escalation import is_covered
from alertnet.links import Links
from alertnet.settings import Settings
from alertnet.store.alerts import AlertStore, StateMove
from alertnet.store.registry import OfficialStore

log = structlog.get_logger("alertnet.pipeline")

SENDING = frozenset({DeliveryState.SENDING})
CLAIM_FROM = CLAIMABLE_STATES | SENDING
RECORD_EVERY = 100
LOOKUPS_IN_FLIGHT = 16
HEARTBEAT_SECONDS = 3.0


@dataclass
class WorkerContext:
    """Everything a worker process builds once and every batch job uses."""

    settings: Settings
    redis: Redis
    alerts: AlertStore
    officials: OfficialStore
    channels: dict[Channel, ChannelAdapter]
    links: Links
    ack_secret: bytes = b""
    _outgoing: dict[str, OutgoingAlert] = field(default_factory=dict)

    async def outgoing(self, alert_id: str) -> OutgoingAlert | None:
        cached = self._outgoing.get(alert_id)
        if cached is None:
            record = await self.alerts.get_record(alert_id)
            if record is None:
                return None
            alert = Alert.from_dict(record["alert"])
            cached = OutgoingAlert(
                alert,
                record["code"],
                self.links,
                ack_secret=self.ack_secret if record.get("wants_ack") else b"",
                ack_link_seconds=self.settings.escalation.ack_link_days * 86400,
            )
            self._outgoing[alert_id] = cached
        return cached

    async def close(self) -> None:
        for adapter in self.channels.values():
            await adapter.close()
        await self.redis.aclose()


async def process_batch(ctx: WorkerContext, batch_id: str) -> None:
    """Send every delivery of one batch to a final or handed-off state; safe to run more than once."""
    raw = await ctx.redis.get(k.BATCH_KEY + batch_id)
    if raw is None:
        return  # already finished by an earlier run
    batch = Batch.from_json(batch_id, raw)
    bound = log.bind(alert_id=batch.alert_id, batch_id=batch_id, channel=batch.channel)
    heartbeat = asyncio.create_task(_keep_lease(ctx.redis, batch_id))
    try:
        base = await ctx.outgoing(batch.alert_id)
        outgoing = None if base is None else replace(base, slot=batch.channel)
        channel = Channel(batch.channel.split("@")[0])
        if outgoing is None:
            bound.error("batch_without_alert")
        elif batch.requeues > k.BATCH_MAX_REQUEUES:
            await _park_all(ctx, batch, "batch failed on every retry; see the worker log")
            bound.error("batch_parked", requeues=batch.requeues)
        else:
            await _send_until_done(ctx, outgoing, ctx.channels[channel], batch, bound)
        async with ctx.redis.pipeline(transaction=True) as pipe:
            pipe.delete(k.BATCH_KEY + batch_id)
            pipe.zrem(k.BATCH_LEASES, batch_id)
            await pipe.execute()
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat


async def _keep_lease(redis: Redis, batch_id: str) -> None:
    while True:
        await redis.zadd(k.BATCH_LEASES, {batch_id: time.time() + k.BATCH_LEASE_SECONDS})
        await asyncio.sleep(HEARTBEAT_SECONDS)


async def _send_until_done(
    ctx: WorkerContext, outgoing: OutgoingAlert, adapter: ChannelAdapter, batch: Batch, bound: Any
) -> None:
    pipeline = ctx.settings.pipeline
    ids = list(batch.official_ids)
    # A fresh batch holds only queued deliveries; a requeued one, or a later round, may hold claims whose
    # outcome nobody knows, and those are checked with the provider before anything is sent again.
    may_hold_unknown = batch.requeues > 0
    while True:
        if await _skip_unneeded(ctx, outgoing.alert.id, batch, ids):
            return
        before = (
            await ctx.alerts.get_deliveries(outgoing.alert.id, batch.channel, ids) if may_hold_unknown else {}
        )
        cutoff = time.time() - pipeline.stale_claim_seconds
        moves = [StateMove(i, DeliveryState.SENDING, CLAIM_FROM) for i in ids]
        claimed_flags = await ctx.alerts.move(outgoing.alert.id, batch.channel, moves, claim_cutoff=cutoff)
        claimed = [i for i, ok in zip(ids, claimed_flags, strict=True) if ok]
        unknown = {
            i: d.unknown_since or d.claimed or d.updated
            for i in claimed
            if (d := before.get(i)) is not None and d.state is DeliveryState.SENDING
        }
        if claimed:
            await _send_claimed(ctx, outgoing, adapter, claimed, unknown, bound)
        wake = await _next_wake(ctx, outgoing.alert.id, batch.channel, ids)
        if wake is None:
            return
        may_hold_unknown = True
        await asyncio.sleep(max(0.0, wake - time.time()))


async def _skip_unneeded(ctx: WorkerContext, alert_id: str, batch: Batch, ids: list[str]) -> bool:
    """Cancel what is no longer needed: everything unsent of a closed (cancelled) alert, and escalation
    messages to officials who acknowledged meanwhile. Returns True when the alert is closed."""
    closed = await ctx.redis.get(k.CLOSED_KEY + alert_id)
    if closed is not None:
        reason = f"alert closed: {closed.decode()}"
        await ctx.alerts.move(
            alert_id,
            batch.channel,
            [StateMove(i, DeliveryState.CANCELED, CLAIMABLE_STATES, reason=reason) for i in ids],
        )
        return True
    if "@" in batch.channel:
        acked = {m.decode() for m in await ctx.redis.hkeys(k.ACKS_KEY + alert_id)}
        if acked:
            registry = await ctx.officials.get_many(ids)
            covered = [i for i in ids if is_covered(i, acked, registry)]
            moves = [
                StateMove(i, DeliveryState.CANCELED, CLAIMABLE_STATES, reason="acknowledged") for i in covered
            ]
            await ctx.alerts.move(alert_id, batch.channel, moves)
    return False


async def _send_claimed(
    ctx: WorkerContext,
    outgoing: OutgoingAlert,
    adapter: ChannelAdapter,
    claimed: list[str],
    unknown: dict[str, float],
    bound: Any,
) -> None:
    """Send the claimed deliveries. `unknown` maps those whose earlier attempt has no known outcome to
    when it was claimed: the provider is asked first, and only what it never accepted is sent again."""
    officials = await ctx.officials.get_many(claimed)
    reachable: list[Official] = []
    pending: list[SendResult] = []
    for official_id in claimed:
        official = officials.get(official_id)
        if official is None or not adapter.address(official):
            pending.append(SendResult(official_id, Outcome.PERMANENT, reason="no address on this channel"))
        else:
            reachable.append(official)
    receipts: list[StateMove] = []
    if unknown:
        to_check = [o for o in reachable if o.id in unknown]
        settled, receipts = await _already_accepted(outgoing, adapter, to_check, unknown)
        pending += settled.values()
        reachable = [o for o in reachable if o.id not in settled]
    attempts = await ctx.alerts.get_deliveries(outgoing.alert.id, outgoing.slot, claimed)
    # aclosing: if recording fails (Redis gone), the adapter's unsent requests are cancelled at once.
    async with contextlib.aclosing(adapter.send(outgoing, reachable)) as results:
        async for result in results:
            pending.append(result)
            if len(pending) >= RECORD_EVERY:
                await _record(ctx, outgoing.alert.id, outgoing.slot, pending, attempts, bound)
                pending = []
    await _record(ctx, outgoing.alert.id, outgoing.slot, pending, attempts, bound)
    if receipts:
        await ctx.alerts.move(outgoing.alert.id, outgoing.slot, receipts)


async def _already_accepted(
    outgoing: OutgoingAlert, adapter: ChannelAdapter, officials: list[Official], claimed_at: dict[str, float]
) -> tuple[dict[str, SendResult], list[StateMove]]:
    """Results for the officials whose earlier attempt the provider did accept (SENT with its id), or
    could not be asked about (AMBIGUOUS: still unknown, asked again later, since sending blind could
    double it); and the provider's final statuses of the accepted ones, whose callbacks may have been
    lost with whatever interrupted the attempt."""
    gate = asyncio.Semaphore(LOOKUPS_IN_FLIGHT)

    async def check(official: Official) -> tuple[SendResult, StateMove | None] | None:
        async with gate:
            try:
                found = await adapter.find_accepted(outgoing, official, claimed_at[official.id])
            except Exception as error:  # any provider or network failure: we still do not know
                reason = f"could not check the earlier attempt: {error.__class__.__name__}"
                return SendResult(official.id, Outcome.AMBIGUOUS, reason=reason), None
        if found is None:
            return None
        receipt = found.receipt
        later = None
        if receipt is not None and receipt.to is not DeliveryState.SENT:
            later = StateMove(
                official.id, receipt.to, receipt.allowed_from, found.provider_id, receipt.reason
            )
        return SendResult(official.id, Outcome.SENT, provider_id=found.provider_id), later

    checked = [c for c in await asyncio.gather(*(check(o) for o in officials)) if c is not None]
    return {r.official_id: r for r, _ in checked}, [m for _, m in checked if m is not None]


async def _record(
    ctx: WorkerContext,
    alert_id: str,
    slot: str,
    results: list[SendResult],
    attempts: dict[str, Any],
    bound: Any,
) -> None:
    max_attempts = ctx.settings.pipeline.max_attempts
    moves: list[StateMove] = []
    for r in results:
        if r.outcome is Outcome.SENT:
            moves.append(StateMove(r.official_id, DeliveryState.SENT, SENDING, provider_id=r.provider_id))
        elif r.outcome is Outcome.RETRY:
            tried = attempts[r.official_id].attempts if r.official_id in attempts else max_attempts
            to = DeliveryState.RETRYING if tried < max_attempts else DeliveryState.PARKED
            moves.append(StateMove(r.official_id, to, SENDING, reason=r.reason))
        elif r.outcome is Outcome.PERMANENT:
            moves.append(StateMove(r.official_id, DeliveryState.PARKED, SENDING, reason=r.reason))
        else:
            bound.warning("delivery_outcome_unknown", delivery_id=f"{alert_id}.{slot}.{r.official_id}")
        if r.outcome is not Outcome.SENT:
            bound.info(
                "delivery_not_sent", official_id=r.official_id, outcome=r.outcome.value, reason=r.reason
            )
    await ctx.alerts.move(alert_id, slot, moves)


async def _next_wake(ctx: WorkerContext, alert_id: str, channel: str, ids: Iterable[str]) -> float | None:
    """When this batch has work again (a retry's backoff or a stale claim), or None when it is done."""
    pipeline = ctx.settings.pipeline
    wake: float | None = None
    for delivery in (await ctx.alerts.get_deliveries(alert_id, channel, list(ids))).values():
        if delivery.state is DeliveryState.RETRYING:
            due = delivery.updated + backoff_seconds(delivery.attempts, pipeline.backoff_base_seconds)
        elif delivery.state in (DeliveryState.QUEUED,):
            due = time.time()
        elif delivery.state is DeliveryState.SENDING:
            due = (delivery.claimed or delivery.updated) + pipeline.stale_claim_seconds + 0.01
        else:
            continue
        wake = due if wake is None else min(wake, due)
    return wake


async def _park_all(ctx: WorkerContext, batch: Batch, reason: str) -> None:
    moves = [StateMove(i, DeliveryState.PARKED, CLAIM_FROM, reason=reason) for i in batch.official_ids]
    await ctx.alerts.move(batch.alert_id, batch.channel, moves)
