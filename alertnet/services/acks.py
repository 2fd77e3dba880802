"""Acknowledgements as users make them: SMS reply, keypress, email link, web, operator."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from alertnet.domain.acks import (
    Ack,
    AckChannel,
    AckReport,
    ReplyKind,
    ack_report,
    make_ack_token,
    read_ack_token,
    read_reply,
)
from alertnet.domain.contacts import Official
from alertnet.domain.deliveries import split_delivery_id
from alertnet.domain.errors import FieldError, ValidationError
from alertnet.domain.senders import Sender, SenderRole
from alertnet.services.errors import NotPermitted
from alertnet.store.acks import AckStore
from alertnet.store.alerts import AlertStore
from alertnet.store.audit import AuditLog
from alertnet.store.registry import OfficialStore

log = structlog.get_logger("alertnet.acks")

REPLY_ACKED = "Acknowledged: {event}. Thank you. Code {code}."
REPLY_ALREADY = "Already acknowledged: {event}. Thank you."
REPLY_NOTHING_OPEN = "School Safety Alert Network: no open alert to acknowledge for this number."
REPLY_HELP = (
    "School Safety Alert Network (Dept. of Public Safety). Reply 1 to acknowledge the latest alert. "
    "Reply STOP to end newsletters. Msg&data rates may apply."
)
REPLY_STOP = (
    "You will not get School Safety newsletters by SMS. Critical safety alerts continue while you are a "
    "registered school official; ask your regional coordinator to be removed."
)
REPLY_START = "School Safety Alert Network: SMS newsletters resumed."
REPLY_OTHER = (
    "School Safety Alert Network: your message was passed to the operator. "
    "Reply 1 to acknowledge the latest alert."
)


class AckRefused(Exception):
    """An acknowledgement that cannot be recorded: the reason says why (not found, not a recipient)."""


@dataclass(frozen=True)
class AckResult:
    ack: Ack
    first: bool
    event: str
    code: str


class AckService:
    def __init__(
        self,
        *,
        alerts: AlertStore,
        acks: AckStore,
        officials: OfficialStore,
        audit: AuditLog,
        secret: bytes,
        number_secret: bytes,
        link_days: float,
    ) -> None:
        self.alerts = alerts
        self.acks = acks
        self.officials = officials
        self.audit = audit
        self.secret = secret
        self.number_secret = number_secret
        self.link_days = link_days

    async def acknowledge(
        self, alert_id: str, official_id: str, channel: AckChannel, *, recorded_by: str = ""
    ) -> AckResult:
        """Record an ack (idempotent: a second one changes nothing). Raises AckRefused."""
        record = await self.alerts.get_record(alert_id)
        if record is None:
            raise AckRefused(f"alert_id: no alert with id '{alert_id}'")
        registry = (await self.officials.snapshot()).by_id
        if official_id not in registry:
            raise AckRefused(f"official_id: no official with id '{official_id}'")
        if not await self.acks.was_contacted(alert_id, official_id):
            raise AckRefused(f"official_id: '{official_id}' was not sent this alert")
        return await self._record(alert_id, record, official_id, channel, recorded_by)

    async def record_for_official(
        self, sender: Sender, alert_id: str, read_body: Callable[[], Awaitable[object]]
    ) -> AckResult:
        """An operator records an ack taken by phone, or a web ack on an official's behalf.

        Only a director may (NotPermitted otherwise, audited, before the body is read); the body names
        ``official_id`` and an optional ``channel`` (operator or web; ValidationError naming each bad
        field); AckRefused when the alert or official is unknown or the alert did not reach them.
        """
        if sender.role is not SenderRole.DIRECTOR:
            await self.audit.record(
                actor=sender.name, action="acknowledge", outcome="forbidden", alert_id=alert_id
            )
            raise NotPermitted(f"sender role '{sender.role.value}' may not record acknowledgements")
        body = await read_body()
        if not isinstance(body, dict):
            raise ValidationError([FieldError("body", "must be an object")])
        errors = []
        official_id = body.get("official_id")
        if not isinstance(official_id, str) or not official_id:
            errors.append(FieldError("official_id", "required string"))
        channel = body.get("channel", "operator")
        if channel not in ("operator", "web"):
            errors.append(FieldError("channel", "must be 'operator' or 'web'"))
        if errors:
            raise ValidationError(errors)
        return await self.acknowledge(
            alert_id, str(official_id), AckChannel(channel), recorded_by=sender.name
        )

    async def record_reached(
        self,
        alert_id: str,
        record: dict[str, Any],
        official_id: str,
        channel: AckChannel,
        *,
        handled: str | None,
    ) -> AckResult:
        """The ack an answer to the alert's poll is, for an official the caller found the alert reached."""
        return await self._record(alert_id, record, official_id, channel, handled=handled)

    async def _record(
        self,
        alert_id: str,
        record: dict[str, Any],
        official_id: str,
        channel: AckChannel,
        recorded_by: str = "",
        handled: str | None = None,
    ) -> AckResult:
        """Store the ack of an official the alert (`record`) reached; audit it if it is the first.
        `handled`: the marker of the provider request that carried it, set done with the ack."""
        ack = Ack(alert_id, official_id, time.time(), channel, recorded_by)
        first = await self.acks.record(ack, handled=handled)
        if first:
            await self.audit.record(
                actor=recorded_by or official_id,
                action="acknowledge",
                outcome="accepted",
                alert_id=alert_id,
                official_id=official_id,
                channel=channel.value,
            )
            log.info("acknowledged", alert_id=alert_id, official_id=official_id, channel=channel.value)
        else:
            ack = (await self.acks.acks(alert_id))[official_id]
        return AckResult(ack, first, str(record["alert"]["event"]), str(record["code"]))

    async def sms_reply(
        self, from_number: str, body: str, *, handled: str | None = None, senders: list[str] | None = None
    ) -> str:
        """Act on an inbound SMS and return the reply text. `handled`: the request's marker
        (`store.webhooks`), set done in the same transaction as an ack. `senders`: the active officials
        with this mobile, when the caller has just looked them up."""
        reply = read_reply(body)
        if reply.kind is ReplyKind.HELP:
            return REPLY_HELP
        if reply.kind in (ReplyKind.STOP, ReplyKind.START):
            await self.acks.set_opt_out(from_number, reply.kind is ReplyKind.STOP)
            await self.audit.record(
                actor=self.number_ref(from_number), action=f"sms_{reply.kind.value}", outcome="accepted"
            )
            return REPLY_STOP if reply.kind is ReplyKind.STOP else REPLY_START
        if senders is None:
            senders = (await self.officials.snapshot()).active_by_mobile.get(from_number, [])
        if reply.kind is ReplyKind.ACK and senders:
            target = await self._alert_for_reply(senders, reply.code)
            record = None if target is None else await self.alerts.get_record(target[0])
            if target is None or record is None:
                return REPLY_NOTHING_OPEN
            # The lookup found that the alert reached this official: nothing left to check.
            result = await self._record(target[0], record, target[1], AckChannel.SMS, handled=handled)
            template = REPLY_ACKED if result.first else REPLY_ALREADY
            return template.format(event=result.event, code=result.code)
        await self.acks.keep_inbound(from_hash=self.number_ref(from_number), official_ids=senders, body=body)
        return REPLY_OTHER

    async def _alert_for_reply(self, official_ids: list[str], code: str) -> tuple[str, str] | None:
        if code:
            alert_id = await self.acks.alert_for_code(code)
            if alert_id is None:
                return None
            for official_id in official_ids:
                if await self.acks.was_contacted(alert_id, official_id):
                    return alert_id, official_id
            return None
        return await self.acks.newest_open_alert(official_ids)

    async def keypress(self, did: str, digits: str) -> AckResult | None:
        """A digit pressed during an alert call; '1' acknowledges. None for any other digit."""
        alert_id, _slot, official_id = split_delivery_id(did)
        if digits.strip() != "1":
            return None
        return await self.acknowledge(alert_id, official_id, AckChannel.VOICE)

    def number_ref(self, number: str) -> str:
        """A stable reference to a phone number that is not the number (for audit and the inbound log):
        keyed (HMAC-SHA256 with a secret of the hub's), so it cannot be reversed by trying every number."""
        return "tel:" + hmac.new(self.number_secret, number.encode(), hashlib.sha256).hexdigest()[:16]

    def ack_link_token(self, alert_id: str, official_id: str, sent: float) -> str:
        return make_ack_token(self.secret, alert_id, official_id, sent + self.link_days * 86400)

    def read_link(self, token: str) -> tuple[str, str]:
        """(alert id, official id) of an email ack link; raises TokenError."""
        return read_ack_token(self.secret, token, now=time.time())

    async def link_page(self, token: str) -> tuple[str, str, dict[str, Any]]:
        """(alert id, official id, the alert) behind an email ack link.

        Raises TokenError (a bad or expired link) or AckRefused (the alert is gone).
        """
        alert_id, official_id = self.read_link(token)
        record = await self.alerts.get_record(alert_id)
        if record is None:
            raise AckRefused(f"alert_id: no alert with id '{alert_id}'")
        return alert_id, official_id, dict(record["alert"])

    async def has_acknowledged(self, alert_id: str, official_id: str) -> bool:
        return official_id in await self.acks.acked_ids(alert_id)

    async def report(self, alert_id: str) -> AckReport:
        if await self.alerts.get_record(alert_id) is None:
            raise AckRefused(f"alert_id: no alert with id '{alert_id}'")
        registry = (await self.officials.snapshot()).by_id
        recipients: list[Official] = [
            registry[i] for i in await self.acks.recipients(alert_id) if i in registry
        ]
        return ack_report(recipients, await self.acks.acks(alert_id))
