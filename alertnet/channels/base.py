"""What every channel adapter takes and gives back."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from alertnet.acks import make_ack_token
from alertnet.alerts import Alert, Channel
from alertnet.contacts import Official
from alertnet.deliveries import delivery_id
from alertnet.links import Links
from alertnet.receipts import Receipt


class Outcome(StrEnum):
    SENT = "sent"  # the provider accepted it and gave an id
    RETRY = "retry"  # certainly not accepted (429, 5xx, refused connection): safe to send again
    PERMANENT = "permanent"  # the provider refused it for good (bad number, bad address)
    AMBIGUOUS = "ambiguous"  # may or may not have been accepted (timeout): wait for a callback first


@dataclass(frozen=True)
class SendResult:
    official_id: str
    outcome: Outcome
    provider_id: str = ""
    reason: str = ""


@dataclass(frozen=True)
class ProviderRecord:
    """What the provider itself holds about one message: its id and, if it has news, its status."""

    provider_id: str
    receipt: Receipt | None = None


@dataclass(frozen=True)
class OutgoingAlert:
    """An accepted, signed alert with what every message of it carries."""

    alert: Alert
    code: str
    links: Links
    slot: str = ""  # the delivery slot being sent: "sms", or "voice@2" for escalation wave 2
    ack_secret: bytes = b""
    ack_link_seconds: float = 7 * 86400.0

    def delivery_id(self, official_id: str) -> str:
        return delivery_id(self.alert.id, self.slot, official_id)

    def ack_link(self, official_id: str) -> str:
        """The official's own acknowledgement link (email), or the alert page when acks are not asked."""
        if not self.ack_secret:
            return self.links.alert_page(self.alert.id)
        expires = self.alert.sent.timestamp() + self.ack_link_seconds
        return self.links.ack_page(make_ack_token(self.ack_secret, self.alert.id, official_id, expires))


class ChannelAdapter(Protocol):
    channel: Channel
    # Whether `status` can ask the provider about one message (SendGrid's v3 Mail Send cannot).
    looks_up_status: bool

    def address(self, official: Official) -> str | None:
        """The official's address on this channel, or None if they have none."""

    def send(self, outgoing: OutgoingAlert, recipients: list[Official]) -> AsyncGenerator[SendResult, None]:
        """Send to every recipient, yielding one result per recipient as it completes."""
        ...

    async def find_accepted(
        self, outgoing: OutgoingAlert, official: Official, since: float
    ) -> ProviderRecord | None:
        """This alert's message to `official` that the provider accepted at or after `since` (unix
        seconds), or None if it has none. Asked before sending again after an attempt whose
        outcome was never known (a timeout, a worker or Redis that died): the provider, not our record, says
        whether it went out. Raises on a provider error: then nobody knows, and nothing is sent yet."""
        ...

    async def status(self, provider_id: str) -> Receipt | None:
        """The provider's current status of a message it accepted, as a receipt (None: nothing to add, or
        the provider cannot be asked). For a status callback that never arrived."""
        ...

    async def close(self) -> None: ...
