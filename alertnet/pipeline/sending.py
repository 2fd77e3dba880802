"""The worker side of the fan-out: run one batch of a message's deliveries to the end, exactly once each.

A batch claims its deliveries (QUEUED/RETRYING -> SENDING) in one atomic step, sends through the channel
adapter with bounded concurrency, and records each outcome. A delivery that has a provider id is never
claimed again, so a retried job or a second worker cannot send it twice. Transient failures are retried
here with backoff; a send whose outcome is unknown (timeout, dead worker) waits `stale_claim_seconds` for
the provider's status callback before it is sent again: the provider is asked first, and only what it
never accepted is sent (a 5xx from Twilio is such an unknown outcome too: it may have been accepted).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis

from alertnet.channels.base import ChannelAdapter, Envelope, Outcome, Outgoing, SendResult
from alertnet.domain.acks import make_ack_token
from alertnet.domain.bulletin_links import make_read_token
from alertnet.domain.contacts import Official, address_for
from alertnet.domain.deliveries import (
    CLAIMABLE_STATES,
    DeliveryState,
    backoff_seconds,
    delivery_id,
    split_delivery_id,
)
from alertnet.domain.escalation import is_covered
from alertnet.domain.messages import ACK_LINK_TAG, READ_LINK_TAG, UNSUBSCRIBE_LINK_TAG, Channel, Message
from alertnet.domain.receipts import Receipt
from alertnet.domain.subscriptions import MailingList, make_list_token, unsubscribe_headers
from alertnet.pipeline.batches import Batch
from alertnet.pipeline.context import WorkerContext
from alertnet.pipeline.receipts import looked_up, provider_id_owners, whose_copy
from alertnet.pipeline.request_metrics import flush_request_counts
from alertnet.pipeline.school_skip import reached_at_school
from alertnet.store import keys as k
from alertnet.store.alerts import StateMove

log = structlog.get_logger("alertnet.pipeline")

SENDING = frozenset({DeliveryState.SENDING})
CLAIM_FROM = CLAIMABLE_STATES | SENDING
RECORD_EVERY = 100
LOOKUPS_IN_FLIGHT = 16
HEARTBEAT_SECONDS = 3.0
# An attempt the provider still cannot tell apart after this long is parked, not sent again: a call's own
# record at Twilio names its delivery some minutes after it ended, so this is well past any of those.
UNKNOWN_GIVE_UP_SECONDS = 3600.0


async def process_batch(ctx: WorkerContext, batch_id: str) -> None:
    """Send every delivery of one batch to a final or handed-off state; safe to run more than once."""
    raw = await ctx.redis.get(k.BATCH_KEY + batch_id)
    if raw is None:
        return  # already finished by an earlier run
    batch = Batch.from_json(batch_id, raw)
    bound = log.bind(alert_id=batch.message_id, batch_id=batch_id, channel=batch.channel)
    heartbeat = asyncio.create_task(_keep_lease(ctx.redis, batch_id))
    try:
        message = await ctx.messages.get(batch.message_id)
        channel = Channel(batch.channel.split("@")[0])
        if message is None:
            bound.error("batch_without_message")
        elif batch.requeues > k.BATCH_MAX_REQUEUES:
            await _park_all(ctx, batch, "batch failed on every retry; see the worker log")
            bound.error("batch_parked", requeues=batch.requeues)
        else:
            outgoing = Outgoing(message.id, batch.channel, message.content, message.critical, message.expires)
            sender = _Sender(ctx, message, outgoing, ctx.channels[channel], channel, bound)
            await _send_until_done(ctx, sender, batch)
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


@dataclass(frozen=True)
class _Sender:
    """One batch's message on its way through one adapter."""

    ctx: WorkerContext
    message: Message
    outgoing: Outgoing
    adapter: ChannelAdapter
    channel: Channel
    bound: Any

    @property
    def message_id(self) -> str:
        return self.message.id

    @property
    def slot(self) -> str:
        return self.outgoing.slot

    def envelope(self, official: Official) -> Envelope | None:
        """The official's copy, with their own parts filled in; None without an address on this channel."""
        address = address_for(self.channel, official)
        if not address:
            return None
        personal: dict[str, str] = {}
        if self.message.acknowledgeable and self.channel is Channel.EMAIL:
            ctx = self.ctx
            expires = self.message.created + ctx.settings.escalation.ack_link_days * 86400
            token = make_ack_token(ctx.ack_secret, self.message.id, official.id, expires)
            personal[ACK_LINK_TAG] = ctx.links.ack_page(token)
        if self.message.bulletin_id:
            expires = self.message.created + self.ctx.settings.bulletins.link_days * 86400
            token = make_read_token(self.ctx.ack_secret, self.message.bulletin_id, official.id, expires)
            personal[READ_LINK_TAG] = self.ctx.links.bulletin(token)
        headers: dict[str, str] = {}
        if self.message.mailing_list and self.channel is Channel.EMAIL:
            link = self.ctx.links.unsubscribe(
                make_list_token(self.ctx.ack_secret, MailingList(self.message.mailing_list), official.id)
            )
            personal[UNSUBSCRIBE_LINK_TAG] = link
            headers = unsubscribe_headers(link)
        did = delivery_id(self.message.id, self.slot, official.id)
        return Envelope(official.id, address, official.name, did, personal, headers)


async def _send_until_done(ctx: WorkerContext, sender: _Sender, batch: Batch) -> None:
    pipeline = ctx.settings.pipeline
    message_id = sender.message_id
    ids = list(batch.official_ids)
    # A fresh batch holds only queued deliveries; a requeued one, or a later round, may hold claims whose
    # outcome nobody knows, and those are checked with the provider before anything is sent again.
    may_hold_unknown = batch.requeues > 0
    while True:
        if await _skip_unneeded(ctx, message_id, batch, ids):
            return
        before = await ctx.alerts.get_deliveries(message_id, batch.channel, ids) if may_hold_unknown else {}
        cutoff = time.time() - pipeline.stale_claim_seconds
        moves = [StateMove(i, DeliveryState.SENDING, CLAIM_FROM) for i in ids]
        claimed_flags = await ctx.alerts.move(message_id, batch.channel, moves, claim_cutoff=cutoff)
        claimed = [i for i, ok in zip(ids, claimed_flags, strict=True) if ok]
        unknown = {
            i: d.unknown_since or d.claimed or d.updated
            for i in claimed
            if (d := before.get(i)) is not None and d.state is DeliveryState.SENDING
        }
        if claimed:
            await _send_claimed(sender, claimed, unknown)
        wake = await _next_wake(ctx, message_id, batch.channel, ids)
        if wake is None:
            return
        may_hold_unknown = True
        await asyncio.sleep(max(0.0, wake - time.time()))


async def _skip_unneeded(ctx: WorkerContext, message_id: str, batch: Batch, ids: list[str]) -> bool:
    """Cancel what is no longer needed: everything unsent of a closed (cancelled) alert, and escalation
    messages to officials who acknowledged meanwhile. Returns True when the alert is closed."""
    closed = await ctx.redis.get(k.CLOSED_KEY + message_id)
    if closed is not None:
        reason = f"alert closed: {closed.decode()}"
        await ctx.alerts.move(
            message_id,
            batch.channel,
            [StateMove(i, DeliveryState.CANCELED, CLAIMABLE_STATES, reason=reason) for i in ids],
        )
        return True
    if "@" in batch.channel:
        acked = {m.decode() for m in await ctx.redis.hkeys(k.ACKS_KEY + message_id)}
        if acked:
            registry = await ctx.officials.get_many(ids)
            school = await reached_at_school(  # a step that stops once the school answered
                ctx.redis, message_id, batch.channel, ids, acked, registry, ctx.officials.get_many
            )
            covered = [i for i in ids if is_covered(i, acked, registry) or i in school]
            moves = [
                StateMove(i, DeliveryState.CANCELED, CLAIMABLE_STATES, reason="acknowledged") for i in covered
            ]
            await ctx.alerts.move(message_id, batch.channel, moves)
    return False


async def _send_claimed(sender: _Sender, claimed: list[str], unknown: dict[str, float]) -> None:
    """Send the claimed deliveries. `unknown` maps those whose earlier attempt has no known outcome to
    when it was claimed: the provider is asked first, and only what it never accepted is sent again."""
    ctx, message_id, slot = sender.ctx, sender.message_id, sender.slot
    officials = await ctx.officials.get_many(claimed)
    reachable: list[Envelope] = []
    pending: list[SendResult] = []
    refused = await _refused_by_marking(sender, officials, claimed) if sender.message.markings else {}
    for official_id in claimed:
        official = officials.get(official_id)
        envelope = None if official is None or official_id in refused else sender.envelope(official)
        if official_id in refused:
            pending.append(SendResult(official_id, Outcome.PERMANENT, reason=refused[official_id]))
        elif envelope is None:
            pending.append(SendResult(official_id, Outcome.PERMANENT, reason="no address on this channel"))
        else:
            reachable.append(envelope)
    receipts: dict[str, tuple[Receipt, str]] = {}
    if unknown:
        to_check = [e for e in reachable if e.official_id in unknown]
        settled, receipts = await _already_accepted(sender, to_check, unknown)
        pending += settled.values()
        reachable = [e for e in reachable if e.official_id not in settled]
    # aclosing: if recording fails (Redis gone), the adapter's unsent requests are cancelled at once.
    async with contextlib.aclosing(sender.adapter.send(sender.outgoing, reachable)) as results:
        async for result in results:
            pending.append(result)
            if len(pending) >= RECORD_EVERY:
                await _record(ctx, message_id, slot, pending, sender.bound)
                pending = []
    await _record(ctx, message_id, slot, pending, sender.bound)
    if receipts and ctx.receipts is not None:
        # As a status callback's: an alert SMS found undelivered places its call at once.
        await ctx.receipts.apply(receipts.items())
    elif receipts:
        await ctx.alerts.move(
            message_id,
            slot,
            [
                StateMove(split_delivery_id(did)[2], r.to, r.allowed_from, pid, r.reason)
                for did, (r, pid) in receipts.items()
            ],
        )


async def _refused_by_marking(
    sender: _Sender, officials: dict[str, Official], claimed: list[str]
) -> dict[str, str]:
    """The deliveries a cyber bulletin's TLP markings do not allow, checked against the registry and the
    cyber list of this moment, with the reason: whatever queued them, they are not sent, and each
    refusal goes into the audit trail."""
    ctx, message = sender.ctx, sender.message
    left = await ctx.redis.smismember(k.UNSUBSCRIBED + MailingList.CYBER.value, claimed)
    refused: dict[str, str] = {}
    for official_id, gone in zip(claimed, left, strict=True):
        official = officials.get(official_id)
        if official is None:
            continue  # parked as unknown below
        if gone:
            refused[official_id] = "refused: the official left the cyber bulletin list"
            continue
        for marking in message.markings:
            if not marking.allows(official):
                refused[official_id] = f"refused by {marking.tlp.value}: {marking.why_not(official)}"
                break
    for official_id, reason in refused.items():
        sender.bound.warning("delivery_refused_by_marking", official_id=official_id, reason=reason)
        if ctx.audit is not None:
            await ctx.audit.record(
                actor="pipeline",
                action="bulletin_delivery_refused",
                outcome="refused",
                message=message.id,
                bulletin=message.bulletin_id,
                channel=sender.slot,
                official=official_id,
                reason=reason,
            )
    return refused


async def _already_accepted(
    sender: _Sender, envelopes: list[Envelope], claimed_at: dict[str, float]
) -> tuple[dict[str, SendResult], dict[str, tuple[Receipt, str]]]:
    """Results for the officials whose earlier attempt the provider did accept (SENT with its id), or
    could not be told (AMBIGUOUS: still unknown, asked again later, since sending blind could double it);
    and the provider's final statuses of the accepted ones by delivery id, whose callbacks may have been
    lost with whatever interrupted the attempt."""
    gate = asyncio.Semaphore(LOOKUPS_IN_FLIGHT)
    redis = sender.ctx.redis

    async def check(envelope: Envelope) -> tuple[SendResult, Receipt | None] | None:
        official_id = envelope.official_id
        async with gate:
            try:
                found = await sender.adapter.find_accepted(sender.outgoing, envelope, claimed_at[official_id])
            except Exception as error:  # any provider or network failure: we still do not know
                reason = f"could not check the earlier attempt: {error.__class__.__name__}"
                return SendResult(official_id, Outcome.AMBIGUOUS, reason=reason), None
        owners = await provider_id_owners(redis, [f.provider_id for f in found])
        copy, unclear = whose_copy(found, owners, envelope.delivery_id)
        if copy is None and unclear:
            reason = f"outcome unknown: {unclear} provider record(s) to the address not yet told apart"
            if time.time() - claimed_at[official_id] > UNKNOWN_GIVE_UP_SECONDS:
                reason += "; not sent again, since it may have gone out"
                return SendResult(official_id, Outcome.PERMANENT, reason=reason), None
            return SendResult(official_id, Outcome.AMBIGUOUS, reason=reason), None
        if copy is None:
            return None
        receipt = copy.receipt
        later = receipt if receipt is not None and receipt.to is not DeliveryState.SENT else None
        return SendResult(official_id, Outcome.SENT, provider_id=copy.provider_id), later

    results = await asyncio.gather(*(check(e) for e in envelopes))
    settled: dict[str, SendResult] = {}
    receipts: dict[str, tuple[Receipt, str]] = {}
    for envelope, checked in zip(envelopes, results, strict=True):
        if checked is not None:
            result, receipt = checked
            settled[envelope.official_id] = result
            if receipt is not None:
                receipts[envelope.delivery_id] = (receipt, result.provider_id)
    return settled, receipts


async def _record(
    ctx: WorkerContext,
    message_id: str,
    slot: str,
    results: list[SendResult],
    bound: Any,
) -> None:
    max_attempts = ctx.settings.pipeline.max_attempts
    # The attempts so far, for those to try again (their claim counted this one; nothing else moves a
    # claimed delivery the provider refused, so reading them now or at the claim is the same).
    retries = [r.official_id for r in results if r.outcome is Outcome.RETRY]
    attempts = await ctx.alerts.get_deliveries(message_id, slot, retries) if retries else {}
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
            bound.warning(
                "delivery_outcome_unknown", delivery_id=delivery_id(message_id, slot, r.official_id)
            )
        if r.outcome is not Outcome.SENT:
            bound.info(
                "delivery_not_sent", official_id=r.official_id, outcome=r.outcome.value, reason=r.reason
            )
    await ctx.alerts.move(message_id, slot, moves, index_provider_ids=looked_up(slot))
    await flush_request_counts(ctx.redis)  # the provider requests' times and failures, for the metrics


async def _next_wake(ctx: WorkerContext, message_id: str, channel: str, ids: Iterable[str]) -> float | None:
    """When this batch has work again (a retry's backoff or a stale claim), or None when it is done."""
    pipeline = ctx.settings.pipeline
    wake: float | None = None
    for delivery in (await ctx.alerts.get_deliveries(message_id, channel, list(ids))).values():
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
    await ctx.alerts.move(batch.message_id, batch.channel, moves)
