"""The service layer: each public method is one thing a user of the hub does. No HTTP here."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from alertnet import constants as k
from alertnet.alerts import (
    Alert,
    AlertValidationError,
    Channel,
    FieldError,
    MsgType,
    Priority,
    canonical_bytes,
    new_alert,
    parse_alert_request,
)
from alertnet.audience import resolve_audience, unknown_selectors
from alertnet.contacts import Official
from alertnet.deliveries import DeliveryState, split_delivery_id
from alertnet.dispatch import Dispatcher, plan_batches
from alertnet.escalation import Policy, choose_policy, schedule
from alertnet.links import Links
from alertnet.receipts import Receipt
from alertnet.senders import (
    AUDIT_READERS,
    Sender,
    SendKind,
    allowed_kinds,
    may_read_audit,
    may_send,
    token_hash,
)
from alertnet.settings import Settings
from alertnet.signing import AlertSigner, verification_code, verify_signature
from alertnet.store.acks import AckStore
from alertnet.store.alerts import AlertProgress, AlertStore, StateMove
from alertnet.store.audit import AuditLog
from alertnet.store.registry import OfficialStore, SenderStore

log = structlog.get_logger("alertnet.service")

# Calls placed at once because an alert SMS failed (delivery outcomes feed escalation).
FAILOVER_SLOT = "voice@f"
QUEUE_FOR_PRIORITY = {
    Priority.CRITICAL: k.QUEUE_CRITICAL,
    Priority.HIGH: k.QUEUE_HIGH,
    Priority.BULK: k.QUEUE_BULK,
}


class Forbidden(Exception):
    def __init__(self, sender: Sender, kind: SendKind) -> None:
        self.allowed = allowed_kinds(sender.role)
        allowed = ", ".join(self.allowed) or "nothing (read only)"
        super().__init__(
            f"sender role '{sender.role.value}' may not send {kind.value}; it may send: {allowed}"
        )


class NotFound(Exception):
    pass


class MayNotRead(Exception):
    """The sender's role may not read this (the message says which roles may)."""


@dataclass(frozen=True)
class AcceptedAlert:
    alert: Alert
    signature: str
    key_id: str
    code: str
    recipients: dict[str, int]


# A batch on a paced channel holds its worker for about this long at most, so a later alert's batches
# never wait long for a worker (a call-out at one call a second would otherwise hold one for minutes).
PACED_BATCH_SECONDS = 5.0


def batch_sizes(settings: Settings) -> dict[str, int]:
    """Deliveries per batch for each channel: the configured sizes, smaller where a rate paces them."""
    pipeline, twilio = settings.pipeline, settings.twilio
    sms, voice = pipeline.sms_batch, pipeline.voice_batch
    if twilio.sms_rate_per_sender > 0:
        per_second = twilio.sms_rate_per_sender * len(twilio.sms_from)
        sms = min(sms, max(1, int(per_second * PACED_BATCH_SECONDS)))
    if twilio.calls_per_second > 0:
        voice = min(voice, max(1, int(twilio.calls_per_second * PACED_BATCH_SECONDS)))
    return {Channel.SMS.value: sms, Channel.VOICE.value: voice, Channel.EMAIL.value: pipeline.email_batch}


def address_for(channel: Channel, official: Official) -> str | None:
    if channel is Channel.SMS:
        return official.mobile
    if channel is Channel.VOICE:
        return official.voice
    return official.email


class AlertService:
    def __init__(
        self,
        settings: Settings,
        *,
        officials: OfficialStore,
        senders: SenderStore,
        alerts: AlertStore,
        acks: AckStore,
        audit: AuditLog,
        dispatcher: Dispatcher,
        signer: AlertSigner,
        links: Links,
        policies: list[Policy],
    ) -> None:
        self.settings = settings
        self.officials = officials
        self.senders = senders
        self.alerts = alerts
        self.acks = acks
        self.policies = policies
        self.audit = audit
        self.dispatcher = dispatcher
        self.signer = signer
        self.links = links

    async def authenticate(self, token: str) -> Sender | None:
        sender = await self.senders.by_token_hash(token_hash(token))
        return sender if sender and sender.active else None

    async def submit_alert(
        self, sender: Sender, payload: object, *, priority: Priority | None = None
    ) -> AcceptedAlert:
        """Validate, authorize, sign, store and fan out an alert.

        `priority` overrides the queue the alert's severity gives it (internal bulk sends use BULK).

        Raises Forbidden (the sender's role may not send alerts) or AlertValidationError (every bad field).
        Either way nothing is stored but the audit entry.
        """
        if not may_send(sender.role, SendKind.ALERT):
            await self.audit.record(actor=sender.name, action="send_alert", outcome="forbidden")
            raise Forbidden(sender, SendKind.ALERT)
        now = datetime.now(UTC)
        try:
            draft = parse_alert_request(payload, now=now)
            snapshot = await self.officials.snapshot()
            officials = list(snapshot.by_id.values())
            problems = await self._reference_errors(draft.msg_type, draft.references)
            if draft.msg_type is MsgType.ALERT:
                problems += unknown_selectors(draft.audience, officials)
                audience = resolve_audience(draft.audience, officials)
            else:
                # An Update or Cancel goes to the same officials as the alerts it references.
                earlier: set[str] = set()
                for ref in draft.references:
                    earlier |= await self.acks.recipients(ref)
                audience = [
                    snapshot.by_id[i]
                    for i in sorted(earlier)
                    if i in snapshot.by_id and snapshot.by_id[i].active
                ]
            if not problems and not audience:
                problems.append(FieldError("audience", "matches no active official"))
            if problems:
                raise AlertValidationError(problems)
        except AlertValidationError as error:
            await self.audit.record(
                actor=sender.name,
                action="send_alert",
                outcome="invalid",
                errors=[{"field": e.field, "reason": e.reason} for e in error.errors],
            )
            raise
        alert = new_alert(draft, sender=sender.name, now=now)
        signature = self.signer.sign(canonical_bytes(alert))
        code = verification_code(signature)
        recipients = {
            channel.value: [o.id for o in audience if address_for(channel, o)] for channel in alert.channels
        }
        counts = {channel: len(ids) for channel, ids in recipients.items()}
        wants_ack = alert.msg_type is not MsgType.CANCEL
        record = {
            "alert": alert.to_dict(),
            "signature": signature,
            "key_id": self.signer.key_id,
            "code": code,
            "recipients": counts,
            "wants_ack": wants_ack,
        }
        escalation, plan_json = self._escalation_plan(alert)
        queue = QUEUE_FOR_PRIORITY[priority or alert.priority]
        batches = plan_batches(alert.id, recipients, batch_sizes(self.settings), queue)
        await asyncio.to_thread(
            self.dispatcher.store_and_enqueue,
            alert.id,
            json.dumps(record, separators=(",", ":")),
            recipients,
            batches,
            created=alert.sent.timestamp(),
            code=code,
            wants_ack=wants_ack,
            escalation=escalation,
            plan_json=plan_json,
        )
        if alert.msg_type is MsgType.CANCEL:
            for ref in alert.references:
                await self.close_alert(ref, f"cancelled by {alert.id}")
        await self.audit.record(
            actor=sender.name,
            action="send_alert",
            outcome="accepted",
            alert_id=alert.id,
            status=alert.status.value,
            msg_type=alert.msg_type.value,
            event=alert.event,
            recipients=counts,
        )
        log.info("alert_accepted", alert_id=alert.id, sender=sender.name, recipients=counts)
        return AcceptedAlert(alert, signature, self.signer.key_id, code, counts)

    def _escalation_plan(self, alert: Alert) -> tuple[list[tuple[str, float]], str]:
        """The alert's escalation timers (member, due time) and its plan, from the matching policy."""
        if alert.msg_type is not MsgType.ALERT:
            return [], ""
        policy = choose_policy(self.policies, alert.severity.value, alert.status.value)
        if policy is None or not policy.steps:
            return [], ""
        waves = schedule(policy, alert.sent.timestamp(), time_scale=self.settings.escalation.time_scale)
        plan = {
            "policy": policy.name,
            "waves": [
                {"wave": w.wave, "step": w.step, "repetition": w.repetition, "due": w.due} for w in waves
            ],
        }
        return [(f"{alert.id}|{w.wave}", w.due) for w in waves], json.dumps(plan)

    async def close_alert(self, alert_id: str, reason: str) -> None:
        """End an alert's escalation: no further steps fire and unsent escalation messages are dropped."""
        redis = self.alerts.redis
        plan_raw = await redis.get(k.ESCALATION_PLAN + alert_id)
        members = [f"{alert_id}|{w['wave']}" for w in json.loads(plan_raw)["waves"]] if plan_raw else []
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(k.CLOSED_KEY + alert_id, reason, nx=True)
            if members:
                pipe.zrem(k.ESCALATION_DUE, *members)
            await pipe.execute()
        await self.acks.close(alert_id)
        log.info("alert_closed", alert_id=alert_id, reason=reason)

    async def all_clear(self, sender: Sender, alert_id: str) -> AcceptedAlert:
        """One call: an Update to the same officials saying the emergency is over; ends escalation."""
        record = await self.alerts.get_record(alert_id)
        if record is None:
            raise NotFound(alert_id)
        original = record["alert"]
        payload = {
            "status": original["status"],
            "msgType": "Update",
            "references": [alert_id],
            "severity": "Minor",
            "urgency": "Past",
            "certainty": "Observed",
            "event": "All Clear",
            "headline": f"ALL CLEAR: {original['event']} is over"[:160],
            "instruction": "Resume normal operations unless local authorities direct otherwise.",
            "audience": original["audience"],
            "channels": original["channels"],
        }
        accepted = await self.submit_alert(sender, payload)
        await self.close_alert(alert_id, f"all clear {accepted.alert.id}")
        return accepted

    async def _reference_errors(self, msg_type: MsgType, references: Iterable[str]) -> list[FieldError]:
        errors = []
        for n, ref in enumerate(references):
            if await self.alerts.get_record(ref) is None:
                errors.append(FieldError(f"references[{n}]", f"no alert with id '{ref}'"))
        return errors

    async def alert_status(self, alert_id: str) -> tuple[dict[str, Any], AlertProgress]:
        record = await self.alerts.get_record(alert_id)
        if record is None:
            raise NotFound(alert_id)
        return record, await self.alerts.progress(alert_id)

    async def recent_alerts(self, limit: int) -> list[tuple[dict[str, Any], AlertProgress]]:
        """The newest `limit` alerts, newest first, each with its delivery progress."""
        found = []
        for alert_id in await self.alerts.recent_alert_ids(limit):
            record = await self.alerts.get_record(alert_id)
            if record is not None:
                found.append((record, await self.alerts.progress(alert_id)))
        return found

    async def audit_trail(self, sender: Sender, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` audit entries, newest first. Raises MayNotRead for other roles."""
        if not may_read_audit(sender.role):
            readers = ", ".join(sorted(r.value for r in AUDIT_READERS))
            raise MayNotRead(
                f"sender role '{sender.role.value}' may not read the audit trail; roles that may: {readers}"
            )
        return await self.audit.recent(limit)

    async def verify_alert(self, alert_id: str) -> dict[str, Any]:
        """Re-create the signed bytes from the stored alert and check them against its signature."""
        record = await self.alerts.get_record(alert_id)
        if record is None:
            raise NotFound(alert_id)
        try:
            data = canonical_bytes(Alert.from_dict(record["alert"]))
        except (KeyError, ValueError, TypeError):
            data = b""
        valid = bool(data) and verify_signature(self.signer.public_key_b64, data, record["signature"])
        return {
            "id": alert_id,
            "valid": valid,
            "key_id": record["key_id"],
            "algorithm": "Ed25519",
            "signature": record["signature"],
            "verification_code": record["code"],
            "sender": record["alert"].get("sender"),
        }

    async def apply_receipts(self, receipts: Mapping[str, tuple[Receipt, str]]) -> int:
        """Apply provider receipts keyed by delivery id: (receipt, provider id). Returns how many moved."""
        grouped: dict[tuple[str, str], list[StateMove]] = defaultdict(list)
        for did, (receipt, provider_id) in receipts.items():
            try:
                alert_id, channel, official_id = split_delivery_id(did)
            except ValueError:
                continue
            grouped[(alert_id, channel)].append(
                StateMove(official_id, receipt.to, receipt.allowed_from, provider_id, receipt.reason)
            )
        moved = 0
        for (alert_id, channel), moves in grouped.items():
            applied = await self.alerts.move(alert_id, channel, moves)
            moved += sum(applied)
            failed = [
                m.official_id
                for m, ok in zip(moves, applied, strict=True)
                if ok and m.to is DeliveryState.FAILED
            ]
            if failed and channel == Channel.SMS.value:
                await self._fail_over_to_voice(alert_id, failed)
        return moved

    async def _fail_over_to_voice(self, alert_id: str, official_ids: list[str]) -> None:
        """An alert SMS that did not arrive moves its official to a call at once, instead of waiting for
        the policy's voice step (which then skips them: the call already came)."""
        redis = self.alerts.redis
        if not await redis.exists(k.ESCALATION_PLAN + alert_id) or await redis.exists(
            k.CLOSED_KEY + alert_id
        ):
            return
        record = await self.alerts.get_record(alert_id)
        if record is None:
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
        alert = Alert.from_dict(record["alert"])
        slots = {FAILOVER_SLOT: callable_ids}
        tag = f"{int(time.time() * 1000)}-"
        queue = QUEUE_FOR_PRIORITY[alert.priority]
        batches = plan_batches(alert_id, slots, batch_sizes(self.settings), queue, tag=tag)
        await asyncio.to_thread(
            self.dispatcher.store_wave_and_enqueue,
            alert_id,
            "",
            slots,
            batches,
        )
        log.info("sms_failed_over_to_voice", alert_id=alert_id, officials=len(callable_ids))

    async def outgoing_for_delivery(self, did: str) -> tuple[Alert, str] | None:
        """The alert and verification code behind a delivery id (for the call's TwiML)."""
        try:
            alert_id, _channel, _official = split_delivery_id(did)
        except ValueError:
            return None
        record = await self.alerts.get_record(alert_id)
        if record is None:
            return None
        return Alert.from_dict(record["alert"]), str(record["code"])
