"""Alerts as the Director's office uses them: send (admit, sign, fan out), all-clear, follow, verify.

Sending is two steps: admission (authorize, parse, resolve the audience; every refusal is audited and
nothing else is stored), then the shared fan-out (`alertnet.services.fanout`) with the alert's own
writes (signed record, verification code, escalation timers) in the same transaction.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import structlog

from alertnet.content.alerts import alert_message
from alertnet.domain.alert_request import AlertValidationError, parse_alert_request
from alertnet.domain.alerts import (
    Alert,
    AlertDraft,
    CapOrigin,
    MsgType,
    canonical_bytes,
    new_alert,
    utc_seconds,
)
from alertnet.domain.approvals import HeldAlert, needs_approval
from alertnet.domain.audience import resolve_audience, unknown_selectors
from alertnet.domain.cap_in import origin_key
from alertnet.domain.contacts import address_for
from alertnet.domain.deliveries import AlertProgress
from alertnet.domain.errors import FieldError
from alertnet.domain.escalation import Policy, choose_policy, schedule, step_to_dict
from alertnet.domain.followups import (
    follow_up_recipients,
    reference_problems,
    referenced_ids,
    with_inherited_status,
)
from alertnet.domain.links import Links
from alertnet.domain.messages import Channel, MessageKind
from alertnet.domain.senders import Sender, SenderRole, SendKind, may_send
from alertnet.domain.signing import AlertSigner, verification_code, verify_signature
from alertnet.services.errors import Conflict, Forbidden, NotFound
from alertnet.services.fanout import FanOut
from alertnet.services.schools import sending_extras
from alertnet.settings import Settings
from alertnet.store.acks import AckStore
from alertnet.store.alerts import AlertStore, stage_alert
from alertnet.store.approvals import ApprovalStore
from alertnet.store.audit import AuditLog
from alertnet.store.cap import stage_cap
from alertnet.store.durable import durable
from alertnet.store.idempotency import stage_idempotent
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
        approvals: ApprovalStore,
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
        self.approvals = approvals

    async def submit_alert(
        self,
        sender: Sender,
        payload: object,
        *,
        cap: CapOrigin | None = None,
        once: tuple[str, str] | None = None,
    ) -> AcceptedAlert | HeldAlert:
        """Validate, authorize, sign, store and fan out an alert.

        An Actual alert to more officials than the two-person rule allows is held (a `HeldAlert`) until a
        second director approves it. Raises Forbidden (the sender's role may not send alerts),
        AlertValidationError (every bad field) or Conflict (a Cancel of an alert already closed). Either
        way nothing is stored but the audit entry. ``cap``: the CAP message the request was taken from
        (kept with the alert; `alertnet.services.cap`). ``once``: the claimed Idempotency-Key (stored key,
        request digest) marked used in the alert's own transaction (`alertnet.services.once`).
        """
        now = datetime.now(UTC)
        draft, recipients = await self._admit(sender, payload, now)
        if cap is not None:
            draft = replace(draft, cap=cap)
        alert = new_alert(draft, sender=sender.name, now=now)
        if alert.msg_type is MsgType.CANCEL:
            return await self._send_closing(sender, alert, recipients, "cancelled by", once=once)
        officials = len({i for ids in recipients.values() for i in ids})
        if needs_approval(alert, officials, self.settings.approval.threshold):
            held = HeldAlert(alert, officials, now.timestamp())
            await self.approvals.hold(held)
            await self.audit.record(
                actor=sender.name, action="send_alert", outcome="pending_approval", alert_id=alert.id,
                status=alert.status.value, event=alert.event, officials=officials,
            )  # fmt: skip
            return held
        return await self._send(sender, alert, recipients, once=once)

    async def send_held(self, held: HeldAlert, decided_by: str) -> AcceptedAlert:
        """Send an alert that waited for approval, to whoever its audience holds now, signed now."""
        now = datetime.now(UTC)
        alert = replace(held.alert, sent=utc_seconds(now))
        registry = (await self.officials.snapshot()).active
        audience = resolve_audience(alert.audience, registry)
        recipients = {c: [o.id for o in audience if address_for(c, o)] for c in alert.channels}
        author = Sender(name=alert.sender, role=SenderRole.DIRECTOR, created="")
        return await self._send(author, alert, recipients, approved_by=decided_by)

    async def _admit(
        self, sender: Sender, payload: object, now: datetime
    ) -> tuple[AlertDraft, dict[Channel, list[str]]]:
        """Authorize the sender, parse the request and resolve whom it reaches on each channel; audit any
        refusal. A follow-up takes its original's status and reaches whoever the original reached."""
        if not may_send(sender.role, SendKind.ALERT):
            await self.audit.record(actor=sender.name, action="send_alert", outcome="forbidden")
            raise Forbidden(sender, SendKind.ALERT)
        try:
            statuses = await self.alerts.statuses(referenced_ids(payload))
            draft = parse_alert_request(with_inherited_status(payload, statuses), now=now)
            registry = (await self.officials.snapshot()).by_id
            if draft.msg_type is MsgType.ALERT:
                officials = list(registry.values())
                problems = unknown_selectors(draft.audience, officials)
                audience = resolve_audience(draft.audience, officials)
                recipients = {c: [o.id for o in audience if address_for(c, o)] for c in draft.channels}
                anyone = bool(audience)
            else:
                missing = [ref for ref in draft.references if ref not in statuses]
                statuses = {**statuses, **await self.alerts.statuses(missing)}
                problems = reference_problems(draft.references, draft.status.value, statuses)
                first: set[str] = set()
                reached: dict[str, set[Channel]] = {}
                for ref in draft.references:
                    first |= await self.acks.recipients(ref)
                    for official_id, channels in (await self.alerts.reached_by_escalation(ref)).items():
                        reached.setdefault(official_id, set()).update(channels)
                recipients = follow_up_recipients(draft.channels, sorted(first), reached, registry)
                anyone = any(i in registry and registry[i].active for i in first | set(reached))
            if not problems and not anyone:
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
        return draft, recipients

    async def _send_closing(
        self,
        sender: Sender,
        alert: Alert,
        recipients: dict[Channel, list[str]],
        reason: str,
        kind: MessageKind | None = None,
        once: tuple[str, str] | None = None,
    ) -> AcceptedAlert:
        """Send a message that closes the alerts it references (a Cancel, an all-clear), once: each is
        claimed closed first, so a second closing of the same alert is a Conflict and sends nothing."""
        claimed: list[str] = []
        for ref in alert.references:
            if not await self.alerts.claim_close(ref, f"{reason} {alert.id} (sending)"):
                for done in claimed:
                    await self.alerts.release_close(done)
                why = await self.alerts.closed_reason(ref)
                await self.audit.record(
                    actor=sender.name, action="send_alert", outcome="conflict", references=[ref], closed=why
                )
                raise Conflict(f"references: alert '{ref}' is already closed ({why})")
            claimed.append(ref)
        try:
            accepted = await self._send(sender, alert, recipients, kind, once=once)
        except BaseException:
            for done in claimed:
                await self.alerts.release_close(done)
            raise
        for ref in alert.references:
            await self.close_alert(ref, f"{reason} {alert.id}")
        return accepted

    async def _send(
        self,
        sender: Sender,
        alert: Alert,
        recipients: dict[Channel, list[str]],
        kind: MessageKind | None = None,
        approved_by: str = "",
        once: tuple[str, str] | None = None,
    ) -> AcceptedAlert:
        """Sign the alert, render it, and fan it out with its record and escalation timers."""
        signature = self.signer.sign(canonical_bytes(alert))
        code = verification_code(signature)
        message = alert_message(alert, code=code, link=self.links.alert_page(alert.id))
        if kind is not None:
            message = message.with_kind(kind)
        counts = {channel.value: len(ids) for channel, ids in recipients.items()}
        record = {
            "alert": alert.to_dict(),
            "signature": signature,
            "key_id": self.signer.key_id,
            "code": code,
            "recipients": counts,
            "wants_ack": message.acknowledgeable,
        }
        if approved_by:
            record["approved_by"] = approved_by
        escalation, plan_json = self._escalation_plan(alert) if message.escalatable else ([], "")
        recipients, schools = await sending_extras(self.officials, recipients, self.settings)
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
            schools=schools,
            asks=alert.poll is not None,
        )
        cap = functools.partial(
            stage_cap,
            alert_id=alert.id,
            created=alert.sent.timestamp(),
            public=alert.public,
            origin_key=origin_key(alert.cap.sender, alert.cap.identifier, alert.cap.sent)
            if alert.cap
            else "",
        )
        also = [stage, cap]
        if once is not None:
            also.append(functools.partial(stage_idempotent, key=once[0], alert_id=alert.id, digest=once[1]))
        await self.fanout.send(message, recipients, also=also)
        await self.audit.record(
            actor=sender.name,
            action="send_alert",
            outcome="accepted",
            alert_id=alert.id,
            status=alert.status.value,
            msg_type=alert.msg_type.value,
            event=alert.event,
            recipients=counts,
            **({"approved_by": approved_by} if approved_by else {}),
        )
        # The alert, its deliveries, jobs and audit entry on a replica before the sender hears "accepted".
        await durable(self.alerts.redis)
        log.info("alert_accepted", alert_id=alert.id, sender=sender.name, recipients=counts)
        return AcceptedAlert(alert, signature, self.signer.key_id, code, counts)

    def _escalation_plan(self, alert: Alert) -> tuple[list[tuple[str, float]], str]:
        """The alert's escalation timers (member, due time) and its plan, from the matching policy."""
        policy = choose_policy(self.policies, alert.severity.value, alert.status.value, alert.event)
        if policy is None or not policy.steps:
            return [], ""
        waves = schedule(policy, alert.sent.timestamp(), time_scale=self.settings.escalation.time_scale)
        plan = {
            "policy": policy.name,
            "steps": [step_to_dict(step) for step in policy.steps],  # this version, for the alert's life
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
        """One call: an Update to everyone the alert reached saying the emergency is over; ends escalation.

        Raises NotFound, Conflict (the alert is already closed: cancelled or cleared), or what sending
        any alert raises. A role that may not send alerts is refused (audited) before the alert is looked
        up, so it cannot tell which alerts exist.
        """
        if not may_send(sender.role, SendKind.ALERT):
            await self.audit.record(
                actor=sender.name, action="send_alert", outcome="forbidden", all_clear=True
            )
            raise Forbidden(sender, SendKind.ALERT)
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
            "public": original.get("public") is True,  # who saw the alert in the feed sees it end
        }
        now = datetime.now(UTC)
        draft, recipients = await self._admit(sender, payload, now)
        alert = new_alert(draft, sender=sender.name, now=now)
        return await self._send_closing(sender, alert, recipients, "all clear", kind=MessageKind.ALL_CLEAR)

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
