"""Receipts that never came: a message the provider accepted but whose final status callback was lost
(the hub or its Redis was down when it arrived; Twilio does not send a status callback twice) is looked
up at the provider, so every delivery still reaches a final state and every alert settles.

Run by the scheduler. A look-up only ever adds what the provider reports, through the same receipts and
state moves as a callback, so a late callback and a look-up cannot contradict each other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

import structlog

from alertnet.channels.base import ChannelAdapter
from alertnet.domain.deliveries import DeliveryState, delivery_id
from alertnet.domain.messages import Channel
from alertnet.domain.receipts import Receipt
from alertnet.pipeline.receipts import ReceiptApplier
from alertnet.store import keys as k
from alertnet.store.alerts import AlertStore

log = structlog.get_logger("alertnet.reconcile")

# Alerts older than this are left as they are: their deliveries were reconciled long ago, or never can be.
WINDOW_SECONDS = 24 * 3600
LOOKUPS_IN_FLIGHT = 16


class ReceiptReconciler:
    def __init__(
        self,
        alerts: AlertStore,
        receipts: ReceiptApplier,
        channels: Mapping[Channel, ChannelAdapter],
        overdue_seconds: float,
    ) -> None:
        self.receipts = receipts
        self.alerts = alerts
        self.channels = channels
        self.overdue_seconds = overdue_seconds

    async def run_once(self, now: float | None = None) -> int:
        """Look up every overdue receipt of recent unsettled alerts; returns how many deliveries moved."""
        now = time.time() if now is None else now
        cutoff = now - self.overdue_seconds
        raw_ids = await self.alerts.redis.zrangebyscore(k.ALERTS_INDEX, now - WINDOW_SECONDS, cutoff)
        moved = 0
        for alert_id in (raw.decode() for raw in raw_ids):
            progress = await self.alerts.progress(alert_id)
            if progress.settled:
                continue
            for slot, states in progress.counts.items():
                adapter = self.channels[Channel(slot.split("@")[0])]
                if states.get(DeliveryState.SENT.value) and adapter.looks_up_status:
                    moved += await self._reconcile_slot(alert_id, slot, adapter, cutoff)
        return moved

    async def _reconcile_slot(self, alert_id: str, slot: str, adapter: ChannelAdapter, cutoff: float) -> int:
        overdue = {
            official_id: d.provider_id
            for official_id, d in (await self.alerts.deliveries(alert_id, slot)).items()
            if d.state is DeliveryState.SENT and d.provider_id and d.updated < cutoff
        }
        gate = asyncio.Semaphore(LOOKUPS_IN_FLIGHT)

        async def look_up(provider_id: str) -> Receipt | None:
            async with gate:
                try:
                    return await adapter.status(provider_id)
                except Exception as error:  # the provider is unreachable: try again next round
                    log.warning("receipt_lookup_failed", alert_id=alert_id, error=error.__class__.__name__)
                    return None

        found = await asyncio.gather(*(look_up(pid) for pid in overdue.values()))
        receipts = {
            delivery_id(alert_id, slot, official_id): (receipt, provider_id)
            for (official_id, provider_id), receipt in zip(overdue.items(), found, strict=True)
            if receipt is not None and receipt.to is not DeliveryState.SENT
        }
        moved = await self.receipts.apply(receipts.items()) if receipts else 0
        if moved:
            log.info("overdue_receipts_applied", alert_id=alert_id, slot=slot, moved=moved)
        return moved
