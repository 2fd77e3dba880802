"""The service layer: each public method is one thing a user of the hub does. No HTTP here."""

from __future__ import annotations

import asyncio
import json
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
from alertnet.deliveries import split_delivery_id
from alertnet.dispatch import Dispatcher, plan_batches
from alertnet.links import Links
from alertnet.receipts import Receipt
from alertnet.senders import Sender, SendKind, allowed_kinds, may_send, token_hash
from alertnet.settings import Settings
from alertnet.signing import AlertSigner, verification_code, verify_signature
from alertnet.store.alerts import AlertProgress, AlertStore, StateMove
from alertnet.store.audit import AuditLog
from alertnet.store.registry import OfficialStore, SenderStore

log = structlog.get_logger("alertnet.service")

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


@dataclass(frozen=True)
class AcceptedAlert:
    alert: Alert
    signature: str
    key_id: str
    code: str
    recipients: dict[str, int]


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
        audit: AuditLog,
        dispatcher: Dispatcher,
        signer: AlertSigner,
        links: Links,
    ) -> None:
        self.settings = settings
        self.officials = officials
        self.senders = senders
        self.alerts = alerts
        self.audit = audit
        self.dispatcher = dispatcher
        self.signer = signer
        self.links = links

    async def authenticate(self, token: str) -> Sender | None:
        sender = await self.senders.by_token_hash(token_hash(token))
        return sender if sender and sender.active else None

    async def submit_alert(self, sender: Sender, payload: object) -> AcceptedAlert:
        """Validate, authorize, sign, store and fan out an alert.

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
            problems += unknown_selectors(draft.audience, officials)
            audience = resolve_audience(draft.audience, officials)
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
        record = {
            "alert": alert.to_dict(),
            "signature": signature,
            "key_id": self.signer.key_id,
            "code": code,
            "recipients": counts,
        }
        sizes = {
            Channel.SMS.value: self.settings.pipeline.sms_batch,
            Channel.VOICE.value: self.settings.pipeline.voice_batch,
            Channel.EMAIL.value: self.settings.pipeline.email_batch,
        }
        batches = plan_batches(alert.id, recipients, sizes, QUEUE_FOR_PRIORITY[alert.priority])
        await asyncio.to_thread(
            self.dispatcher.store_and_enqueue,
            alert.id,
            json.dumps(record, separators=(",", ":")),
            recipients,
            batches,
            created=alert.sent.timestamp(),
        )
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
            moved += sum(await self.alerts.move(alert_id, channel, moves))
        return moved

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
