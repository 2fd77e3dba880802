"""Alerts as the Director's office uses them: send (admit, sign, fan out), all-clear, follow, verify.

Sending is two steps: admission (authorize, parse, resolve the audience; every refusal is audited and
nothing else is stored), then the shared fan-out (`alertnet.services.fanout`) with the alert's own
writes (signed record, verification code, escalation timers) in the same transaction.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from alertnet.content.alerts import alert_message
from alertnet.domain.alert_request import AlertValidationError, parse_alert_request
from alertnet.domain.alerts import Alert, AlertDraft, MsgType, canonical_bytes, new_alert
from alertnet.domain.audience import resolve_audience, unknown_selectors
from alertnet.domain.contacts import Official, address_for
from alertnet.domain.deliveries import AlertProgress
from alertnet.domain.errors import FieldError
from alertnet.domain.escalation import Policy, choose_policy, schedule
from alertnet.domain.links import Links
from alertnet.domain.messages import MessageKind
from alertnet.domain.senders import Sender, SendKind, may_send
from alertnet.domain.signing import AlertSigner, verification_code, verify_signature
from alertnet.services.errors import Forbidden, NotFound
from alertnet.services.fanout import FanOut
from alertnet.settings import Settings
from alertnet.store.acks import AckStore
from alertnet.store.alerts import AlertStore, stage_alert
from alertnet.store.audit import AuditLog
from alertnet.store.registry import OfficialStore

log = structlog.get_logger("alertnet.service")


@dataclass(frozen=True)
class AcceptedAlert:
    alert: Alert
    signature: str
    key_id: str
    code: str
    recipients: dict[str, int]


class AlertService:
    def __init__(
        self,
        settings: Settings,
        *,
        officials: OfficialStore,
        alerts: AlertStore,
        acks: AckStore,
        audit: AuditLog,
        fanout: FanOut,
        signer: AlertSigner,
        links: Links,
        policies: list[Policy],
    ) -> None:
        self.settings = settings
        self.officials = officials
        self.alerts = alerts
        self.acks = acks
        self.policies = policies
        self.audit = audit
        self.fanout = fanout
        self.signer = signer
        self.links = links

    async def submit_alert(self, sender: Sender, payload: object) -> AcceptedAlert:
        """Validate, authorize, sign, store and fan out an alert.

        Raises Forbidden (the sender's role may not send alerts) or AlertValidationError (every bad field).
        Either way nothing is stored but the audit entry.
        """
        now = datetime.now(UTC)
        draft, audience = await self._admit(sender, payload, now)
        return await self._send(sender, new_alert(draft, sender=sender.name, now=now), audience)

    async def _admit(
        self, sender: Sender, payload: object, now: datetime
    ) -> tuple[AlertDraft, list[Official]]:
        """Authorize the sender, parse the request and resolve whom it reaches; audit any refusal."""
        if not may_send(sender.role, SendKind.ALERT):
            await self.audit.record(actor=sender.name, action="send_alert", outcome="forbidden")
            raise Forbidden(sender, SendKind.ALERT)
        try:
            draft = parse_alert_request(payload, now=now)
            snapshot = await self.officials.snapshot()
            officials = list(snapshot.by_id.values())
            problems = await self._reference_errors(draft.references)
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
        return draft, audience

    async def _send(
        self, sender: Sender, alert: Alert, audience: list[Official], kind: MessageKind | None = None
    ) -> AcceptedAlert:
        """Sign the alert, render it, and fan it out with its record and escalation timers."""
        signature = self.signer.sign(canonical_bytes(alert))
        code = verification_code(signature)
        message = alert_message(alert, code=code, link=self.links.alert_page(alert.id))
        if kind is not None:
            message = message.with_kind(kind)
        recipients = {
            channel: [o.id for o in audience if address_for(channel, o)] for channel in alert.channels
        }
        counts = {channel.value: len(ids) for channel, ids in recipients.items()}
        record = {
            "alert": alert.to_dict(),
            "signature": signature,
            "key_id": self.signer.key_id,
            "code": code,
            "recipients": counts,
            "wants_ack": message.acknowledgeable,
        }
        escalation, plan_json = self._escalation_plan(alert) if message.escalatable else ([], "")
        stage = functools.partial(
            stage_alert,
            alert_id=alert.id,
            record_json=json.dumps(record, separators=(",", ":")),
            created=alert.sent.timestamp(),
            code=code,
            recipients=list(dict.fromkeys(i for ids in recipients.values() for i in ids)),
            wants_ack=message.acknowledgeable,
            escalation=escalation,
            plan_json=plan_json,
        )
        await self.fanout.send(message, recipients, also=[stage])
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
        await self.alerts.close(alert_id, reason)
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
        now = datetime.now(UTC)
        draft, audience = await self._admit(sender, payload, now)
        alert = new_alert(draft, sender=sender.name, now=now)
        accepted = await self._send(sender, alert, audience, kind=MessageKind.ALL_CLEAR)
        await self.close_alert(alert_id, f"all clear {accepted.alert.id}")
        return accepted

    async def _reference_errors(self, references: Iterable[str]) -> list[FieldError]:
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

    def public_key(self) -> dict[str, str]:
        """The hub's signing key as verifiers need it."""
        return {
            "key_id": self.signer.key_id,
            "algorithm": "Ed25519",
            "public_key": self.signer.public_key_b64,
            "encoding": "base64 of the 32-byte raw public key",
            "signed_data": "canonical JSON of the alert: sorted keys, no whitespace, UTF-8",
        }
