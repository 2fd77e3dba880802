"""Provider receipts applied to deliveries, and what an undelivered alert SMS sets off at once: a call.

Used for status callbacks and events (through the webhook service) and for receipts looked up by the
scheduler (`alertnet.pipeline.reconcile`): the same state moves either way, so they cannot contradict.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping

import structlog
from redis.asyncio import Redis

from alertnet.channels.base import Match, ProviderRecord
from alertnet.domain.deliveries import DeliveryState, split_delivery_id
from alertnet.domain.messages import Channel
from alertnet.domain.receipts import Receipt
from alertnet.pipeline.batches import QUEUE_FOR_PRIORITY, batch_sizes, plan_batches
from alertnet.pipeline.enqueue import Dispatcher
from alertnet.pipeline.messages import MessageLoader
from alertnet.settings import Settings
from alertnet.store import keys as k
from alertnet.store.acks import AckStore
from alertnet.store.alerts import AlertStore, StateMove
from alertnet.store.registry import OfficialStore

log = structlog.get_logger("alertnet.receipts")

# Calls placed at once because an alert SMS failed (delivery outcomes feed escalation).
FAILOVER_SLOT = "voice@f"
# Channels whose messages are looked up at the provider by address (Twilio's SMS and calls): the ids the
# hub has attributed to deliveries are kept, so a look-up never takes another delivery's copy for one
# whose outcome was lost.
LOOKED_UP = frozenset({Channel.SMS.value, Channel.VOICE.value})


def looked_up(slot: str) -> bool:
    """Whether a slot's channel (a slot is "channel" or "channel@wave") is looked up at the provider, so
    its moves index their provider ids (`AlertStore.move`)."""
    return slot.split("@")[0] in LOOKED_UP


async def provider_id_owners(redis: Redis, provider_ids: list[str]) -> dict[str, str]:
    """The delivery each provider id was attributed to, for those the hub knows."""
    if not provider_ids:
        return {}
    raws = await redis.mget([k.PROVIDER_INDEX + p for p in provider_ids])
    return {p: raw.decode() for p, raw in zip(provider_ids, raws, strict=True) if raw is not None}


class ReceiptApplier:
    def __init__(
        self,
        settings: Settings,
        *,
        alerts: AlertStore,
        acks: AckStore,
        officials: OfficialStore,
        messages: MessageLoader,
        dispatcher: Dispatcher,
    ) -> None:
        self.settings = settings
        self.alerts = alerts
        self.acks = acks
        self.officials = officials
        self.messages = messages
        self.dispatcher = dispatcher

    async def apply(self, receipts: Iterable[tuple[str, tuple[Receipt, str]]]) -> int:
        """Apply provider receipts, each (delivery id, (receipt, provider id)), in their order (one
        delivery may come twice: sent, then delivered). Returns how many moved."""
        grouped: dict[tuple[str, str], list[StateMove]] = defaultdict(list)
        for did, (receipt, provider_id) in receipts:
            try:
                message_id, channel, official_id = split_delivery_id(did)
            except ValueError:
                continue
            grouped[(message_id, channel)].append(
                StateMove(official_id, receipt.to, receipt.allowed_from, provider_id, receipt.reason)
            )
        moved = 0
        for (message_id, channel), moves in grouped.items():
            applied = await self.alerts.move(
                message_id, channel, moves, index_provider_ids=looked_up(channel)
            )
            moved += sum(applied)
            failed = [
                m.official_id
                for m, ok in zip(moves, applied, strict=True)
                if ok and m.to is DeliveryState.FAILED
            ]
            if failed and channel == Channel.SMS.value:
                await self._fail_over_to_voice(message_id, failed)
        return moved

    async def _fail_over_to_voice(self, alert_id: str, official_ids: list[str]) -> None:
        """An alert SMS that did not arrive moves its official to a call at once, instead of waiting for
        the policy's voice step (which then skips them: the call already came)."""
        if await self.alerts.escalation_plan(alert_id) is None or await self.alerts.closed_reason(alert_id):
            return
        message = await self.messages.get(alert_id)
        if message is None or not message.escalatable:
            return
        registry = await self.officials.get_many(official_ids)
        already = await self.alerts.get_deliveries(alert_id, FAILOVER_SLOT, official_ids)
        acked = await self.acks.acked_ids(alert_id)
        callable_ids = [
            i
            for i in official_ids
            if i in registry and registry[i].voice and i not in already and i not in acked
        ]
        if not callable_ids:
            return
        slots = {FAILOVER_SLOT: callable_ids}
        tag = f"{int(time.time() * 1000)}-"
        queue = QUEUE_FOR_PRIORITY[message.priority]
        batches = plan_batches(alert_id, slots, batch_sizes(self.settings), queue, tag=tag)
        await asyncio.to_thread(self.dispatcher.store_wave_and_enqueue, alert_id, "", slots, batches)
        log.info("sms_failed_over_to_voice", alert_id=alert_id, officials=len(callable_ids))


class GroupCommit:
    """Receipts from requests that arrive together, applied in one step (a group commit).

    While one step is in flight, the receipts that arrive meanwhile wait and go together in the next: on
    a statewide fan-out, with thousands of status callbacks a second, each costs a share of a Redis round
    trip (and of a replica's WAIT) instead of one of its own, and a lone callback waits for nothing. A
    caller returns only once its receipt is applied (or gets the step's error), so a 204 to the provider
    still means recorded.
    """

    def __init__(self, receipts: ReceiptApplier, *, most: int = 500) -> None:
        self.receipts = receipts
        self.most = most
        self._waiting: list[tuple[str, tuple[Receipt, str], asyncio.Future[None]]] = []
        self._applying: asyncio.Task[None] | None = None

    async def apply(self, did: str, receipt: Receipt, provider_id: str) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((did, (receipt, provider_id), done))
        if self._applying is None:
            self._applying = asyncio.create_task(self._apply_waiting())
        await done

    async def _apply_waiting(self) -> None:
        try:
            while self._waiting:
                step, self._waiting = self._waiting[: self.most], self._waiting[self.most :]
                try:
                    await self.receipts.apply((did, receipt) for did, receipt, _ in step)
                except Exception as error:  # Redis gone, a replica late: each request answers with it
                    for *_, done in step:
                        if not done.done():
                            done.set_exception(error)
                except BaseException:  # cancelled (shutting down): so are the requests waiting on it
                    for *_, done in step + self._waiting:
                        done.cancel()
                    raise
                else:
                    for *_, done in step:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._applying = None


def whose_copy(
    found: list[ProviderRecord], owners: Mapping[str, str], delivery: str
) -> tuple[ProviderRecord | None, int]:
    """This delivery's copy among what the provider holds (newest first), and how many records could be
    it or another delivery's, when none is known to be.

    A record is this delivery's when the provider names it (OURS) or the hub attributed its id to it; a
    record named or attributed to another delivery is left out. Of the rest, a content match (the same
    SMS body to the same number) is taken, as before; a record that matches only the address (a call)
    cannot be told apart, and is never taken: the caller asks again later, and calls nobody meanwhile.
    """
    for record in found:
        if record.match is Match.OURS or owners.get(record.provider_id) == delivery:
            return record, 0
    free = [r for r in found if r.match is not Match.OTHER and r.provider_id not in owners]
    if free and all(r.match is Match.CONTENT for r in free):
        return free[0], 0
    return None, len(free)
