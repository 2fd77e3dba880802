"""What every channel adapter takes and gives back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from alertnet.alerts import Alert, Channel
from alertnet.contacts import Official
from alertnet.deliveries import delivery_id
from alertnet.links import Links


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
class OutgoingAlert:
    """An accepted, signed alert with what every message of it carries."""

    alert: Alert
    code: str
    links: Links

    def delivery_id(self, channel: Channel, official_id: str) -> str:
        return delivery_id(self.alert.id, channel.value, official_id)


class ChannelAdapter(Protocol):
    channel: Channel

    def address(self, official: Official) -> str | None:
        """The official's address on this channel, or None if they have none."""

    def send(self, outgoing: OutgoingAlert, recipients: list[Official]) -> AsyncIterator[SendResult]:
        """Send to every recipient, yielding one result per recipient as it completes."""
        ...

    async def close(self) -> None: ...
