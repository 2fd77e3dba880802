"""Remind the silent only: the alert's own message again, to the officials who have not acknowledged it,
on the alert's channels, as one more wave of the alert (slots `sms@r1`, `voice@r1`, ...), so an answer to
the reminder acknowledges the alert itself. Linked to the alert in the audit trail."""

from __future__ import annotations

import asyncio

from alertnet.domain.alerts import Alert, MsgType
from alertnet.domain.contacts import address_for
from alertnet.domain.senders import Sender, SendKind, may_send
from alertnet.pipeline.batches import QUEUE_FOR_PRIORITY, batch_sizes, plan_batches
from alertnet.services.acks import AckService
from alertnet.services.errors import Conflict, Forbidden, NotFound
from alertnet.services.fanout import FanOut
from alertnet.store import keys as k
from alertnet.store.alerts import AlertStore
from alertnet.store.audit import AuditLog

DOUBLE_CLICK_SECONDS = 10


class ReminderService:
    def __init__(self, *, alerts: AlertStore, acks: AckService, fanout: FanOut, audit: AuditLog) -> None:
        self.alerts = alerts
        self.acks = acks
        self.fanout = fanout
        self.audit = audit

    async def remind_silent(self, sender: Sender, alert_id: str) -> dict[str, int]:
        """Queue the reminder; returns how many officials per channel. Raises Forbidden (audited),
        NotFound, or Conflict (the alert is closed, is not one that takes acknowledgements, or was
        reminded a moment ago: a double click reminds once)."""
        if not may_send(sender.role, SendKind.ALERT):
            await self.audit.record(actor=sender.name, action="alert_remind", outcome="forbidden")
            raise Forbidden(sender, SendKind.ALERT)
        record = await self.alerts.get_record(alert_id)
        if record is None:
            raise NotFound(f"alert_id: no alert '{alert_id}'")
        alert = Alert.from_dict(record["alert"])
        closed = await self.alerts.closed_reason(alert_id)
        if closed is not None or alert.msg_type is MsgType.CANCEL:
            raise Conflict(
                f"alert_id: '{alert_id}' is closed ({closed or 'a cancellation'}); nobody is reminded"
            )
        if not await self.alerts.redis.set(k.REMIND_LOCK + alert_id, "1", nx=True, ex=DOUBLE_CLICK_SECONDS):
            raise Conflict(f"alert_id: '{alert_id}' was reminded a moment ago")
        report = await self.acks.report(alert_id)
        totals = (await self.alerts.progress(alert_id)).totals
        wave = 1 + len({slot.split("@")[1] for slot in totals if "@r" in slot})
        slots = {
            f"{channel.value}@r{wave}": [o.id for o in report.pending if o.active and address_for(channel, o)]
            for channel in alert.channels
        }
        slots = {slot: ids for slot, ids in slots.items() if ids}
        settings = self.fanout.settings
        batches = plan_batches(alert_id, slots, batch_sizes(settings), QUEUE_FOR_PRIORITY[alert.priority])
        if slots:
            await asyncio.to_thread(
                self.fanout.dispatcher.store_wave_and_enqueue, alert_id, "", slots, batches
            )
        counts = {slot.split("@")[0]: len(ids) for slot, ids in slots.items()}
        await self.audit.record(
            actor=sender.name, action="alert_remind", outcome="accepted", alert_id=alert_id, recipients=counts
        )
        return counts
